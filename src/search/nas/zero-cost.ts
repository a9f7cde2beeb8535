/**
 * A zero-cost score for screening many candidates without training them: NASWOT (Mellor et al. 2021, "Neural
 * Architecture Search without Training"). One untrained forward pass of a minibatch gives each image a binary code,
 * which units of the network are active; a network whose codes tell the images apart (many differing linear regions)
 * tends to train to a higher accuracy. The score is log |det K| with K_ij = the number of units on which images i and
 * j agree (N_A minus their Hamming distance).
 *
 * Mellor et al. code ReLU units by x > 0; EfficientNet's units are SiLU, coded here the same way by the sign of
 * the SiLU's input (the batch norm's output), so the code says on which side of SiLU's bend each unit is. The
 * squeeze-excite gates are not coded. Whether the score ranks candidates of *this* space is measured, not assumed
 * (docs/nas.md): published correlations are on other spaces.
 */
import { observeActivations } from '../../efficientnet/layers.js';
import type { EfficientNet } from '../../efficientnet/model.js';
import { gt, linear, noGrad, sum, tidy, type Tensor } from '../../torch/index.js';

/**
 * Adds to `kernel` the agreements of `codes` (N × M, 0/1 values, row-major) on the host: for 0/1 codes
 * [c_i = c_j] summed over units is 2·(c_i·c_j) + M − s_i − s_j. For tests and small inputs; the engine path below
 * computes the same from c·cᵀ.
 */
export function addCodeAgreements(kernel: Float64Array, codes: ArrayLike<number>, n: number, m: number): void {
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let agree = 0;
      for (let u = 0; u < m; u++) if (codes[i * m + u] === codes[j * m + u]) agree += 1;
      kernel[i * n + j]! += agree;
    }
  }
}

/**
 * log |det K| of a square matrix (float64, row-major) by LU decomposition with partial pivoting; −Infinity when K is
 * singular (two images with identical codes, for instance).
 */
export function logAbsDeterminant(matrix: Float64Array, n: number): number {
  const a = Float64Array.from(matrix);
  let logDet = 0;
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let row = col + 1; row < n; row++) if (Math.abs(a[row * n + col]!) > Math.abs(a[pivot * n + col]!)) pivot = row;
    const value = a[pivot * n + col]!;
    if (value === 0) return -Infinity;
    if (pivot !== col) {
      for (let k = 0; k < n; k++) {
        const t = a[col * n + k]!;
        a[col * n + k] = a[pivot * n + k]!;
        a[pivot * n + k] = t;
      }
    }
    logDet += Math.log(Math.abs(value));
    for (let row = col + 1; row < n; row++) {
      const factor = a[row * n + col]! / value;
      if (factor === 0) continue;
      for (let k = col; k < n; k++) a[row * n + k]! -= factor * a[col * n + k]!;
    }
  }
  return logDet;
}

/** What {@link naswotScore} measured. */
export interface NaswotResult {
  /** log |det K|: higher is better (−Infinity when two images share a code). */
  score: number;
  /** Units coded per image (N_A). */
  units: number;
  /** The kernel K (N × N, float64). */
  kernel: Float64Array;
}

/**
 * The NASWOT score of `model` (untrained; its weights as initialised) on a minibatch `images` [N, C, H, W]: one
 * forward pass in training mode (batch statistics, as Mellor et al.'s code runs it), every conv → BN → SiLU unit
 * coded by the sign of its input. The model's running statistics move by one step; score a fresh model.
 */
export function naswotScore(model: EfficientNet, images: Tensor): NaswotResult {
  const n = images.shape[0]!;
  if (!(n >= 2)) throw new Error(`naswotScore: needs a minibatch of at least 2 images, got ${n}`);
  const kernel = new Float64Array(n * n);
  let units = 0;
  const wasTraining = model.training;
  model.train();
  try {
    tidy(() =>
      noGrad(() =>
        observeActivations(
          (preActivation) => {
            const m = preActivation.numel / n;
            units += m;
            tidy(() => {
              const codes = gt(preActivation, 0).to('float32').reshape([n, m]);
              // c·cᵀ: one BLAS call (linear computes x·Wᵀ with W = x), no transposed copy of the codes.
              const agreeing = linear(codes, codes).toFloat32Array();
              const active = sum(codes, [1]).toFloat32Array();
              for (let i = 0; i < n; i++) {
                for (let j = 0; j < n; j++) kernel[i * n + j]! += 2 * agreeing[i * n + j]! + m - active[i]! - active[j]!;
              }
            });
          },
          () => {
            model.forward(images);
          },
        ),
      ),
    );
  } finally {
    model.train(wasTraining);
  }
  return { score: logAbsDeterminant(kernel, n), units, kernel };
}
