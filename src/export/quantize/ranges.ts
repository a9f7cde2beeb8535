/**
 * The arithmetic of int8 post-training quantization, free of any graph or runtime: activation statistics gathered
 * over calibration batches (min/max, then a histogram), the clipping range each calibration method chooses from
 * them, the uint8 affine parameters of an activation range, and the symmetric per-channel int8 form of a weight.
 *
 * Conventions (those of ONNX QuantizeLinear/DequantizeLinear and onnxruntime's QDQ kernels): activations are uint8,
 * real = (q - zeroPoint) × scale, the range always contains 0 so that zero (padding, ReLU) is exact; weights are
 * int8 with zero point 0 and scale max|w| / 127 per output channel (the range ±127, not -128, keeps it symmetric);
 * biases are int32 with scale = input scale × weight scale, as the integer convolution accumulates.
 */

/** How activation ranges are chosen from the calibration statistics. */
export type CalibrationMethod =
  | { kind: 'minmax' }
  /** Clip at the given percentile of the values on each side (e.g. 99.999 keeps all but 0.001% at each tail). */
  | { kind: 'percentile'; percentile: number }
  /** TensorRT's entropy calibration: the magnitude threshold that minimises KL(P || Q) over a 2048-bin histogram. */
  | { kind: 'entropy' };

/** Bins of the calibration histograms (TensorRT and onnxruntime use 2048). */
export const HISTOGRAM_BINS = 2048;

/** Quantized levels of the magnitude that the entropy method compares against (int8: 128). */
const ENTROPY_TARGET_BINS = 128;

/** The running statistics of one tensor over the calibration batches. */
export class TensorStatistics {
  min = Infinity;
  max = -Infinity;
  /** Values seen. */
  count = 0;
  /** Histogram of the values over [histogramLow, histogramHigh] (percentile), or of |value| over [0, histogramHigh] (entropy). */
  histogram: Float64Array | null = null;
  histogramLow = 0;
  histogramHigh = 0;
  /** Whether {@link histogram} counts magnitudes. */
  magnitudes = false;

  /** First pass: the range of `values`. */
  observeRange(values: Float32Array): void {
    let lo = this.min;
    let hi = this.max;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    this.min = lo;
    this.max = hi;
    this.count += values.length;
  }

  /**
   * Second pass: counts `values` into the histogram that `method` needs, over the range of the first pass (values
   * outside it, possible only if the data changed between passes, go to the end bins).
   */
  observeHistogram(values: Float32Array, method: CalibrationMethod): void {
    if (method.kind === 'minmax') return;
    if (this.histogram === null) {
      this.histogram = new Float64Array(HISTOGRAM_BINS);
      this.magnitudes = method.kind === 'entropy';
      this.histogramLow = this.magnitudes ? 0 : this.min;
      this.histogramHigh = this.magnitudes ? Math.max(Math.abs(this.min), Math.abs(this.max)) : this.max;
    }
    const histogram = this.histogram;
    const low = this.histogramLow;
    const width = this.histogramHigh - low;
    if (!(width > 0)) {
      histogram[0]! += values.length;
      return;
    }
    const perUnit = HISTOGRAM_BINS / width;
    const last = HISTOGRAM_BINS - 1;
    for (let i = 0; i < values.length; i++) {
      const v = this.magnitudes ? Math.abs(values[i]!) : values[i]!;
      let bin = Math.floor((v - low) * perUnit);
      if (bin > last) bin = last;
      else if (bin < 0) bin = 0;
      histogram[bin]!++;
    }
  }
}

/**
 * The clipping range [low, high] that `method` chooses for a tensor (before it is widened to contain 0).
 * @throws when the statistics saw no values, or a histogram method has no histogram
 */
export function calibratedRange(stats: TensorStatistics, method: CalibrationMethod): [number, number] {
  if (stats.count === 0 || !Number.isFinite(stats.min) || !Number.isFinite(stats.max)) {
    throw new Error('calibratedRange: the tensor saw no finite values during calibration');
  }
  if (method.kind === 'minmax') return [stats.min, stats.max];
  const histogram = stats.histogram;
  if (histogram === null) throw new Error(`calibratedRange: the ${method.kind} method needs the histogram pass`);
  const binWidth = (stats.histogramHigh - stats.histogramLow) / HISTOGRAM_BINS;
  if (!(binWidth > 0)) return [stats.min, stats.max];
  if (method.kind === 'percentile') {
    const tail = ((100 - method.percentile) / 100 / 2) * total(histogram);
    let below = 0;
    let lowBin = 0;
    while (lowBin < HISTOGRAM_BINS - 1 && below + histogram[lowBin]! <= tail) below += histogram[lowBin++]!;
    let above = 0;
    let highBin = HISTOGRAM_BINS - 1;
    while (highBin > lowBin && above + histogram[highBin]! <= tail) above += histogram[highBin--]!;
    return [Math.max(stats.min, stats.histogramLow + lowBin * binWidth), Math.min(stats.max, stats.histogramLow + (highBin + 1) * binWidth)];
  }
  // A non-negative tensor (after ReLU6) spends all 256 uint8 levels on [0, T]; a signed one 128 on each side.
  const threshold = (entropyThresholdBin(histogram, stats.min >= 0 ? 2 * ENTROPY_TARGET_BINS : ENTROPY_TARGET_BINS) + 1) * binWidth;
  return [Math.max(stats.min, -threshold), Math.min(stats.max, threshold)];
}

function total(values: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]!;
  return sum;
}

/**
 * The number of leading bins of a magnitude histogram to keep (TensorRT's entropy calibration, as described in
 * Migacz, "8-bit Inference with TensorRT", 2017): for each candidate length i ≥ `levels`, P is the histogram cut at
 * i with the clipped tail added to its last bin, Q is P's first i bins merged into `levels` levels and spread back
 * evenly over the bins that were non-zero; the i of the smallest KL(P || Q) wins. Candidates are tried every 4 bins.
 * The first bin counts as the second (as NVIDIA's pytorch-quantization calibrator does): after ReLU6 it holds every
 * exact zero, a spike that otherwise pulls the threshold down until most of the range is clipped (a Lite network
 * kept 10% top-1 agreement).
 * @param levels quantized levels over the magnitude: 128 (int8, signed tensors; the default) or 256 (non-negative)
 */
export function entropyThresholdBin(input: Float64Array, levels = ENTROPY_TARGET_BINS): number {
  const histogram = Float64Array.from(input);
  if (histogram.length > 1) histogram[0] = histogram[1]!;
  const n = histogram.length;
  if (n <= levels) return n - 1;
  const suffix = new Float64Array(n + 1);
  for (let i = n - 1; i >= 0; i--) suffix[i] = suffix[i + 1]! + histogram[i]!;
  let best = n;
  let bestDivergence = Infinity;
  const p = new Float64Array(n);
  const q = new Float64Array(n);
  const candidates: number[] = [];
  for (let length = levels; length < n; length += 4) candidates.push(length);
  candidates.push(n);
  for (const length of candidates) {
    for (let j = 0; j < length; j++) p[j] = histogram[j]!;
    p[length - 1]! += suffix[length]!;
    // Q: the first `length` bins (without the tail) merged into the levels, each level spread over its non-zero bins.
    const perLevel = length / levels;
    for (let level = 0; level < levels; level++) {
      const start = Math.floor(level * perLevel);
      const end = level === levels - 1 ? length : Math.floor((level + 1) * perLevel);
      let mass = 0;
      let nonZero = 0;
      for (let j = start; j < end; j++) {
        mass += histogram[j]!;
        if (histogram[j]! > 0) nonZero++;
      }
      for (let j = start; j < end; j++) q[j] = histogram[j]! > 0 ? mass / nonZero : 0;
    }
    const divergence = klDivergence(p, q, length);
    if (divergence < bestDivergence) {
      bestDivergence = divergence;
      best = length;
    }
  }
  return best - 1;
}

/** KL(P || Q) of the first `length` entries, both normalised; Q is floored at 1e-7 where P has mass (smoothing). */
function klDivergence(p: Float64Array, q: Float64Array, length: number): number {
  let pSum = 0;
  let qSum = 0;
  for (let j = 0; j < length; j++) {
    pSum += p[j]!;
    qSum += q[j]!;
  }
  if (pSum === 0 || qSum === 0) return Infinity;
  let divergence = 0;
  for (let j = 0; j < length; j++) {
    if (p[j]! === 0) continue;
    const pj = p[j]! / pSum;
    const qj = q[j]! / qSum;
    divergence += pj * Math.log(pj / Math.max(qj, 1e-7));
  }
  return divergence;
}

/** The uint8 affine parameters of an activation range. */
export interface ActivationQuantization {
  /** real = (q - zeroPoint) × scale. */
  scale: number;
  /** In [0, 255]. */
  zeroPoint: number;
}

/**
 * uint8 parameters for the range [low, high], widened to contain 0 (so zero padding and zero activations are
 * exact): scale = (high - low) / 255, zeroPoint = round(-low / scale). A range of width 0 gets scale 1.
 */
export function uint8Quantization(low: number, high: number): ActivationQuantization {
  const lo = Math.min(low, 0);
  const hi = Math.max(high, 0);
  const scale = hi > lo ? (hi - lo) / 255 : 1;
  const zeroPoint = Math.min(255, Math.max(0, Math.round(-lo / scale)));
  return { scale: Math.fround(scale), zeroPoint };
}

/** A weight tensor quantized per output channel (axis 0), symmetric int8. */
export interface QuantizedWeight {
  /** int8 values, the weight's layout. */
  values: Int8Array;
  /** One float32 scale per output channel (max |w| / 127; 1 for an all-zero channel). */
  scales: Float32Array;
}

/** Symmetric int8 per-channel quantization of a weight whose first dimension is the output channel. */
export function quantizeWeightPerChannel(weight: Float32Array, channels: number): QuantizedWeight {
  if (channels < 1 || weight.length % channels !== 0) {
    throw new Error(`quantizeWeightPerChannel: ${weight.length} values do not split into ${channels} channels`);
  }
  const per = weight.length / channels;
  const values = new Int8Array(weight.length);
  const scales = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    let largest = 0;
    for (let i = c * per; i < (c + 1) * per; i++) largest = Math.max(largest, Math.abs(weight[i]!));
    const scale = largest > 0 ? Math.fround(largest / 127) : 1;
    scales[c] = scale;
    for (let i = c * per; i < (c + 1) * per; i++) values[i] = Math.max(-127, Math.min(127, Math.round(weight[i]! / scale)));
  }
  return { values, scales };
}

/** A bias as int32 with scale inputScale × weightScale[c] per channel, as the integer convolution accumulates it. */
export function quantizeBias(bias: Float32Array, inputScale: number, weightScales: Float32Array): { values: Int32Array; scales: Float32Array } {
  if (bias.length !== weightScales.length) throw new Error(`quantizeBias: ${bias.length} biases for ${weightScales.length} weight scales`);
  const values = new Int32Array(bias.length);
  const scales = new Float32Array(bias.length);
  for (let c = 0; c < bias.length; c++) {
    const scale = Math.fround(inputScale * weightScales[c]!);
    scales[c] = scale;
    values[c] = Math.max(-2147483647, Math.min(2147483647, Math.round(bias[c]! / scale)));
  }
  return { values, scales };
}
