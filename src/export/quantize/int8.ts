/**
 * int8 export of an effnet ONNX model: calibration (the float graph, extended to output every tensor that gets a
 * range, run over preprocessed calibration batches in ONNX Runtime), the QDQ graph (./qdq.ts), the card updated
 * with the method, and a check of the result against the float model on labelled images: top-1 agreement,
 * accuracy of both, and per group the agreement when only that group is quantized (the sensitivity report that
 * says which parts to keep in float).
 *
 * Nothing here reads files or opens data sets: the caller passes ONNX bytes, preprocessed batches and a runtime
 * module (onnxruntime-node or onnxruntime-web), so the same code runs wherever a session does.
 */
import type { OrtModuleLike, OrtSessionLike } from '../../infer/classifier.js';
import { cardFromOnnxMetadata, readOnnxMetadata } from '../../infer/model-info.js';
import { MODEL_CARD_KEY, serializeModelCard, type ModelCard, type QuantizationCard } from '../../card/model-card.js';
import { calibratedRange, TensorStatistics, type CalibrationMethod } from './ranges.js';
import { calibrationModel, decodeModel, encodeModel, planQuantization, QUANTIZATION_GROUPS, tensorProducers, writeQdqModel, type QdqSummary, type QuantizationGroup } from './qdq.js';

/** A preprocessed NCHW batch. */
export interface InputBatch {
  /** count × 3 × size × size floats. */
  data: Float32Array;
  /** Images in the batch. */
  count: number;
}

/** Options of {@link quantizeInt8}; each default is stated. */
export interface Int8Options {
  /** The runtime that runs calibration (onnxruntime-node in the CLI). */
  runtime: OrtModuleLike;
  /** Calibration batches (their images count as the card's calibration images). */
  calibration: readonly InputBatch[];
  /** How ranges are chosen; default min-max. */
  method?: CalibrationMethod;
  /** Groups left in float; default none. */
  keepFloat?: readonly QuantizationGroup[];
  /**
   * Leave in float, after the groups, the fewest most sensitive activation tensors that bring the top-1
   * agreement with the float model on the calibration images to this fraction (see {@link autoFloatTensors});
   * default null: none.
   */
  autoFloatAgreement?: number | null;
  /** Calibration images the per-tensor sensitivity runs on (the first ones); default 32. */
  sensitivityImages?: number;
  /** Names the calibration data in the card (a data spec); default 'unknown'. */
  calibrationData?: string;
  /** Session options for calibration runs; default onnxruntime's. */
  sessionOptions?: Record<string, unknown>;
}

/** An int8 model and what went into it. */
export interface Int8Model {
  /** The QDQ ModelProto bytes, its card saying how it was made. */
  bytes: Uint8Array;
  /** The card written into it. */
  card: ModelCard;
  /** What was quantized. */
  summary: QdqSummary;
  /** The calibrated range of every tensor of the full plan (all groups quantized), for sensitivity checks. */
  ranges: Map<string, [number, number]>;
  /** Per-tensor sensitivity, most sensitive first, when the automatic float choice ran; else null. */
  tensorSensitivity: TensorSensitivity[] | null;
  /** Top-1 agreement with float on the calibration images of the model written. */
  calibrationAgreement: number;
  /** The float model's bytes it came from. */
  floatBytes: Uint8Array;
}

function inputDims(card: ModelCard, count: number): number[] {
  return [count, 3, card.eval.size, card.eval.size];
}

async function openSession(runtime: OrtModuleLike, bytes: Uint8Array, sessionOptions: Record<string, unknown> = {}): Promise<OrtSessionLike> {
  return runtime.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', ...sessionOptions });
}

/**
 * The activation range of every tensor in `tensors` over the calibration batches: one pass for min/max, and for
 * the percentile and entropy methods a second pass that fills each tensor's histogram over the first pass's range.
 */
export async function calibrate(
  runtime: OrtModuleLike,
  floatBytes: Uint8Array,
  tensors: readonly string[],
  batches: readonly InputBatch[],
  method: CalibrationMethod,
  sessionOptions: Record<string, unknown> = {},
): Promise<Map<string, [number, number]>> {
  if (batches.length === 0) throw new Error('int8 export: calibration needs at least one batch of images');
  const card = cardFromOnnxMetadata(readOnnxMetadata(floatBytes));
  const session = await openSession(runtime, calibrationModel(floatBytes, tensors), sessionOptions);
  const inputName = session.inputNames[0]!;
  const stats = new Map(tensors.map((t) => [t, new TensorStatistics()]));
  const passes = method.kind === 'minmax' ? 1 : 2;
  for (let pass = 0; pass < passes; pass++) {
    for (const batch of batches) {
      const feed = new runtime.Tensor('float32', batch.data, inputDims(card, batch.count));
      const result = await session.run({ [inputName]: feed });
      for (const [t, s] of stats) {
        const values = t === inputName ? batch.data : (result[t]?.data as Float32Array | undefined);
        if (values === undefined) throw new Error(`int8 export: the calibration run did not return tensor '${t}'`);
        if (pass === 0) s.observeRange(values);
        else s.observeHistogram(values, method);
      }
      for (const value of Object.values(result)) value.dispose?.();
    }
  }
  await session.release();
  return new Map([...stats].map(([t, s]) => [t, calibratedRange(s, method)]));
}

/** The card field an int8 model carries. */
export function quantizationCard(method: CalibrationMethod, images: number, data: string, keepFloat: readonly QuantizationGroup[], floatTensors: readonly string[] = []): QuantizationCard {
  return {
    format: 'int8-qdq',
    calibration: { method: method.kind, ...(method.kind === 'percentile' ? { percentile: method.percentile } : {}), images, data },
    float: QUANTIZATION_GROUPS.filter((g) => keepFloat.includes(g)),
    ...(floatTensors.length > 0 ? { floatTensors: [...floatTensors] } : {}),
  };
}

function withMetadataCard(model: ReturnType<typeof decodeModel>, card: ModelCard): void {
  const props = model.metadataProps ?? [];
  const entry = props.find((p) => p.key === MODEL_CARD_KEY);
  if (entry === undefined) throw new Error('int8 export: the model has no effnet.card metadata entry');
  entry.value = serializeModelCard(card);
}

/**
 * Quantizes an effnet ONNX model (float, as `effnet export` writes it) to int8 QDQ.
 * @throws when the bytes are not an effnet export, are already quantized, or there are no calibration images
 */
export async function quantizeInt8(floatBytes: Uint8Array, options: Int8Options): Promise<Int8Model> {
  const card = cardFromOnnxMetadata(readOnnxMetadata(floatBytes));
  if (card.quantization !== undefined) throw new Error('int8 export: the model is already quantized; export the float model again and quantize that');
  const method = options.method ?? { kind: 'minmax' };
  const keepFloat = options.keepFloat ?? [];
  const { runtime, sessionOptions } = options;
  const full = planQuantization(decodeModel(floatBytes));
  const ranges = await calibrate(runtime, floatBytes, full.calibrated, options.calibration, method, sessionOptions);
  const images = options.calibration.reduce((n, b) => n + b.count, 0);
  const floatClasses = await topClasses(runtime, floatBytes, options.calibration, sessionOptions);
  const agreementOf = async (floatTensors: readonly string[]): Promise<{ bytes: Uint8Array; card: ModelCard; summary: QdqSummary; agreement: number }> => {
    const card0 = quantizationCard(method, images, options.calibrationData ?? 'unknown', keepFloat, floatTensors);
    const written = writeInt8(floatBytes, ranges, keepFloat, card0, card, new Set(floatTensors));
    return { ...written, agreement: agreement(floatClasses, await topClasses(runtime, written.bytes, options.calibration, sessionOptions)) };
  };
  let chosen = await agreementOf([]);
  let sensitivity: TensorSensitivity[] | null = null;
  const target = options.autoFloatAgreement ?? null;
  if (target !== null && chosen.agreement < target) {
    const probe = firstImages(options.calibration, options.sensitivityImages ?? 32);
    sensitivity = await tensorSensitivity(runtime, floatBytes, ranges, planQuantization(decodeModel(floatBytes), keepFloat).tensors, probe, sessionOptions);
    // Doubling: 1, 2, 4, ... of the most sensitive tensors left in float, until the agreement reaches the target,
    // up to a quarter of the tensors (beyond that the model is no longer an int8 model); if the target is out of
    // reach, the best agreement tried (the fewer float tensors on a tie).
    const limit = Math.max(1, Math.floor(sensitivity.length / 4));
    let best = chosen;
    for (let k = 1; k <= limit; k *= 2) {
      const tried = await agreementOf(sensitivity.slice(0, k).map((row) => row.tensor));
      if (tried.agreement > best.agreement) best = tried;
      if (tried.agreement >= target) break;
    }
    chosen = best;
  }
  return { bytes: chosen.bytes, card: chosen.card, summary: chosen.summary, ranges, floatBytes, tensorSensitivity: sensitivity, calibrationAgreement: chosen.agreement };
}

/** The first `count` images of `batches`, as batches. */
function firstImages(batches: readonly InputBatch[], count: number): InputBatch[] {
  const out: InputBatch[] = [];
  let left = count;
  for (const batch of batches) {
    if (left <= 0) break;
    const n = Math.min(left, batch.count);
    out.push({ data: batch.data.subarray(0, (batch.data.length / batch.count) * n), count: n });
    left -= n;
  }
  return out;
}

/** How much quantizing one activation tensor alone moves the logits. */
export interface TensorSensitivity {
  /** The tensor's name in the graph. */
  tensor: string;
  /** The operator that produces it ('input' for the graph input). */
  op: string;
  /** The group of that operator. */
  group: QuantizationGroup | 'input';
  /**
   * Mean squared change of the logits over their mean square in the float model, with only this tensor's
   * activations quantized (every weight int8): 0 is harmless, 0.01 is a 1% noise power.
   */
  error: number;
}

/**
 * Per activation tensor, the relative logit error of the model with every weight in int8 and only that tensor's
 * activations quantized, on `batches`; most sensitive first. One session per tensor: run it on few images.
 */
export async function tensorSensitivity(
  runtime: OrtModuleLike,
  floatBytes: Uint8Array,
  ranges: ReadonlyMap<string, [number, number]>,
  tensors: readonly string[],
  batches: readonly InputBatch[],
  sessionOptions: Record<string, unknown> = {},
): Promise<TensorSensitivity[]> {
  const reference = await modelLogits(runtime, floatBytes, batches, sessionOptions);
  let power = 0;
  for (const v of reference) power += v * v;
  power = Math.max(power, 1e-30);
  const model = decodeModel(floatBytes);
  const producers = tensorProducers(model);
  const allNodes = planQuantization(model);
  const rows: TensorSensitivity[] = [];
  for (const tensor of tensors) {
    const bytes = encodeModel(writeQdqModel(floatBytes, { ...allNodes, tensors: [tensor] }, ranges).model);
    const logits = await modelLogits(runtime, bytes, batches, sessionOptions);
    let noise = 0;
    for (let i = 0; i < logits.length; i++) noise += (logits[i]! - reference[i]!) ** 2;
    const producer = producers.get(tensor) ?? { op: '?', group: 'blocks' as const };
    rows.push({ tensor, op: producer.op, group: producer.group, error: noise / power });
  }
  return rows.sort((a, b) => b.error - a.error);
}

/**
 * The QDQ model for `keepFloat`, from ranges already calibrated on the full plan (every tensor of a smaller plan is
 * one of the full plan's, so calibration runs once for all the variants a sensitivity report tries).
 */
export function writeInt8(
  floatBytes: Uint8Array,
  ranges: ReadonlyMap<string, [number, number]>,
  keepFloat: readonly QuantizationGroup[],
  quantization: QuantizationCard,
  floatCard: ModelCard,
  floatTensors: ReadonlySet<string> = new Set(),
): { bytes: Uint8Array; card: ModelCard; summary: QdqSummary } {
  const plan = planQuantization(decodeModel(floatBytes), keepFloat, floatTensors);
  const { model, summary } = writeQdqModel(floatBytes, plan, ranges);
  const card: ModelCard = { ...floatCard, quantization };
  withMetadataCard(model, card);
  return { bytes: encodeModel(model), card, summary };
}

/** How an int8 model compares with its float model on labelled images. */
export interface Int8Check {
  /** Images compared. */
  images: number;
  /** Fraction of images where both models give the same top-1 class. */
  agreement: number;
  /** Top-1 accuracy of the float model. */
  floatTop1: number;
  /** Top-1 accuracy of the int8 model. */
  int8Top1: number;
}

function argmax(values: Float32Array, offset: number, length: number): number {
  let best = 0;
  for (let k = 1; k < length; k++) if (values[offset + k]! > values[offset + best]!) best = k;
  return best;
}

/** The logits of `bytes` on the batches, concatenated ([images, classes] row-major). */
export async function modelLogits(runtime: OrtModuleLike, bytes: Uint8Array, batches: readonly InputBatch[], sessionOptions: Record<string, unknown> = {}): Promise<Float32Array> {
  const card = cardFromOnnxMetadata(readOnnxMetadata(bytes));
  const session = await openSession(runtime, bytes, sessionOptions);
  const inputName = session.inputNames[0]!;
  const outputName = session.outputNames[0]!;
  const total = batches.reduce((n, b) => n + b.count, 0);
  const out = new Float32Array(total * card.classes.count);
  let at = 0;
  for (const batch of batches) {
    const result = await session.run({ [inputName]: new runtime.Tensor('float32', batch.data, inputDims(card, batch.count)) });
    const logits = result[outputName]!.data as Float32Array;
    out.set(logits, at);
    at += logits.length;
    for (const value of Object.values(result)) value.dispose?.();
  }
  await session.release();
  return out;
}

/** Top-1 classes of `bytes` on the batches. */
export async function topClasses(runtime: OrtModuleLike, bytes: Uint8Array, batches: readonly InputBatch[], sessionOptions: Record<string, unknown> = {}): Promise<Int32Array> {
  const logits = await modelLogits(runtime, bytes, batches, sessionOptions);
  const count = batches.reduce((n, b) => n + b.count, 0);
  const classes = logits.length / Math.max(1, count);
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) out[i] = argmax(logits, i * classes, classes);
  return out;
}

/** The fraction of positions where two class lists agree (no labels needed). */
function agreement(a: Int32Array, b: Int32Array): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / Math.max(1, a.length);
}

/** Agreement and accuracy of `int8Classes` against `floatClasses` and the labels (same order). */
export function compareClasses(floatClasses: Int32Array, int8Classes: Int32Array, labels: Int32Array): Int8Check {
  if (floatClasses.length !== int8Classes.length || labels.length !== floatClasses.length) {
    throw new Error(`compareClasses: ${floatClasses.length} float, ${int8Classes.length} int8 predictions and ${labels.length} labels`);
  }
  return { images: labels.length, agreement: agreement(floatClasses, int8Classes), floatTop1: agreement(floatClasses, labels), int8Top1: agreement(int8Classes, labels) };
}

/** One row of the sensitivity report. */
export interface GroupSensitivity {
  /** The only group quantized in this variant. */
  group: QuantizationGroup;
  /** Its nodes that run quantized (0: the model has none of this group). */
  nodes: number;
  /** Top-1 agreement with the float model when only this group is quantized. */
  agreement: number;
  /** Top-1 accuracy then. */
  top1: number;
}

/**
 * Per group, the model with only that group quantized against the float model (the calibrated ranges reused):
 * the groups whose agreement falls are the ones to keep in float (`keepFloat`).
 */
export async function groupSensitivity(runtime: OrtModuleLike, int8: Int8Model, batches: readonly InputBatch[], labels: Int32Array, floatClasses: Int32Array, sessionOptions: Record<string, unknown> = {}): Promise<GroupSensitivity[]> {
  const rows: GroupSensitivity[] = [];
  for (const group of QUANTIZATION_GROUPS) {
    const others = QUANTIZATION_GROUPS.filter((g) => g !== group);
    const floatCard = { ...int8.card };
    delete floatCard.quantization;
    const variant = writeInt8(int8.floatBytes, int8.ranges, others, { ...int8.card.quantization!, float: others }, floatCard, new Set(int8.card.quantization?.floatTensors ?? []));
    const nodes = variant.summary.quantizedPerGroup.get(group) ?? 0;
    if (nodes === 0) {
      rows.push({ group, nodes, agreement: 1, top1: agreement(floatClasses, labels) });
      continue;
    }
    const check = compareClasses(floatClasses, await topClasses(runtime, variant.bytes, batches, sessionOptions), labels);
    rows.push({ group, nodes, agreement: check.agreement, top1: check.int8Top1 });
  }
  return rows;
}
