/**
 * `effnet export --int8`: the file and data side of int8 export. Calibration images are a seeded sample of a data
 * spec's training images (never its hold-out), prepared with the model card's eval transform exactly as inference
 * prepares them; the check compares the int8 model with the float one on a seeded sample of the same spec's
 * hold-out (the images `effnet train` validated on), so the numbers printed are hold-out numbers.
 */
import { openData } from '../data/spec.js';
import type { ImageDataset } from '../data/dataset.js';
import { permutation, Rng } from '../data/rng.js';
import { Preprocessor } from '../infer/preprocess.js';
import { modelInfoFromCard } from '../infer/model-info.js';
import type { OrtModuleLike } from '../infer/classifier.js';
import type { ModelCard } from '../card/model-card.js';
import { compareClasses, groupSensitivity, quantizeInt8, topClasses, type GroupSensitivity, type Int8Check, type Int8Model, type InputBatch } from '../export/quantize/int8.js';
import { QUANTIZATION_GROUPS, type QuantizationGroup } from '../export/quantize/qdq.js';
import type { CalibrationMethod } from '../export/quantize/ranges.js';
import { UsageError } from './options.js';
import { checkLimit } from '../limits.js';
import { requireOptional } from '../optional-package.js';

/** Calibration images when `--calibrate` says no `n=`. */
export const DEFAULT_CALIBRATION_IMAGES = 256;
/** Images per calibration and check batch. */
const BATCH = 16;

/** `--calibrate SPEC[,n=N]` split into the data spec and the image count. */
export function parseCalibrateFlag(text: string): { spec: string; images: number } {
  const counts = [...text.matchAll(/,\s*n\s*=\s*([^,]*)/g)];
  if (counts.length === 0) return { spec: text, images: DEFAULT_CALIBRATION_IMAGES };
  if (counts.length > 1) throw new UsageError(`--calibrate: n is given ${counts.length} times in '${text}'`);
  const raw = counts[0]![1]!.trim();
  const images = Number(raw);
  if (raw === '' || !Number.isInteger(images) || images < 1) throw new UsageError(`--calibrate: n must be an integer >= 1 (calibration images), got '${raw}'`);
  return { spec: text.replace(counts[0]![0], ''), images };
}

/** `--calibration minmax|percentile[:P]|entropy`. */
export function parseCalibrationMethod(text: string): CalibrationMethod {
  if (text === 'minmax' || text === 'entropy') return { kind: text };
  const match = /^percentile(?::(.+))?$/.exec(text);
  if (match !== null) {
    const percentile = match[1] === undefined ? 99.999 : Number(match[1]);
    if (!Number.isFinite(percentile) || percentile <= 50 || percentile > 100) throw new UsageError(`--calibration percentile:P takes P in (50, 100], e.g. percentile:99.99, got '${match[1]}'`);
    return { kind: 'percentile', percentile };
  }
  throw new UsageError(`--calibration must be minmax, percentile[:P] or entropy, got '${text}'`);
}

/** Top-1 agreement with float on the calibration images that `--keep-float auto` aims for. */
export const DEFAULT_AUTO_AGREEMENT = 0.998;

/** What `--keep-float` says: groups left in float, and the target of the automatic per-tensor choice (null: off). */
export interface KeepFloatFlag {
  groups: QuantizationGroup[];
  autoAgreement: number | null;
}

/** `--keep-float none | auto[:A] | GROUP,...[,auto[:A]]`. */
export function parseKeepFloat(text: string): KeepFloatFlag {
  if (text.trim() === 'none') return { groups: [], autoAgreement: null };
  const groups = new Set<QuantizationGroup>();
  let autoAgreement: number | null = null;
  for (const item of text.split(',').map((g) => g.trim())) {
    const auto = /^auto(?::(.*))?$/.exec(item);
    if (auto !== null) {
      autoAgreement = auto[1] === undefined ? DEFAULT_AUTO_AGREEMENT : Number(auto[1]);
      if (!Number.isFinite(autoAgreement) || autoAgreement <= 0 || autoAgreement > 1) throw new UsageError(`--keep-float auto:A takes an agreement A in (0, 1], e.g. auto:0.998, got '${auto[1]}'`);
    } else if ((QUANTIZATION_GROUPS as readonly string[]).includes(item)) {
      groups.add(item as QuantizationGroup);
    } else {
      throw new UsageError(`--keep-float takes none, auto[:A], or comma-separated ${QUANTIZATION_GROUPS.join(', ')} (with auto if wanted), got '${item}'`);
    }
  }
  return { groups: [...groups], autoAgreement };
}

async function batchesOf(dataset: ImageDataset, indices: readonly number[], preprocessor: Preprocessor): Promise<{ batches: InputBatch[]; labels: Int32Array }> {
  const batches: InputBatch[] = [];
  const labels = new Int32Array(indices.length);
  for (let start = 0; start < indices.length; start += BATCH) {
    const chunk = indices.slice(start, start + BATCH);
    const data = new Float32Array(chunk.length * preprocessor.imageLength);
    for (let k = 0; k < chunk.length; k++) {
      const sample = await dataset.read(chunk[k]!);
      if (!sample.ok) throw new UsageError(`cannot read ${sample.source}: ${sample.error}`);
      preprocessor.into(sample.image, data, k);
      labels[start + k] = sample.label;
    }
    batches.push({ data, count: chunk.length });
  }
  return { batches, labels };
}

/** Options of {@link exportInt8}. */
export interface ExportInt8Options {
  /** The `--calibrate` text. */
  calibrate: string;
  method: CalibrationMethod;
  keepFloat: KeepFloatFlag;
  /** Hold-out images to check on (0: no check). */
  check: number;
  /** Also the per-group sensitivity report (on the check images). */
  sensitivity: boolean;
  /** Session threads; default onnxruntime's. */
  threads?: number;
  /** Progress lines. */
  log: (line: string) => void;
}

/** What {@link exportInt8} made and measured. */
export interface ExportInt8Result extends Int8Model {
  check: Int8Check | null;
  sensitivity: GroupSensitivity[] | null;
}

/**
 * Calibrates and quantizes the float model `floatBytes` (card included) on images of `options.calibrate`, then
 * checks it on a seeded sample of the spec's hold-out.
 */
export async function exportInt8(floatBytes: Uint8Array, card: ModelCard, options: ExportInt8Options): Promise<ExportInt8Result> {
  // Loaded here: the flag parsers above serve `effnet export --help` without the runtime.
  const runtime = requireOptional<OrtModuleLike>('onnxruntime-node', 'int8 export (calibration runs the model)');
  const { spec, images } = parseCalibrateFlag(options.calibrate);
  const data = await openData(spec);
  const preprocessor = new Preprocessor(modelInfoFromCard(card));
  const order = permutation(data.train.length, new Rng(0));
  const chosen = Array.from(order.subarray(0, Math.min(images, data.train.length)));
  const checked = Math.min(options.check, data.val.length);
  // Both sets stay in memory (calibration runs them twice or more, the sensitivity report reruns the check images).
  checkLimit('quantizationImageBytes', (chosen.length + checked) * preprocessor.imageLength * 4, `${chosen.length} calibration and ${checked} check images at ${card.eval.size}px`, 'bytes');
  if (chosen.length < images) options.log(`only ${chosen.length} training images in ${spec}; calibrating on all of them`);
  const sessionOptions = options.threads === undefined ? {} : { intraOpNumThreads: options.threads };
  const started = performance.now();
  const calibration = await batchesOf(data.train, chosen, preprocessor);
  const int8 = await quantizeInt8(floatBytes, {
    runtime,
    calibration: calibration.batches,
    method: options.method,
    keepFloat: options.keepFloat.groups,
    autoFloatAgreement: options.keepFloat.autoAgreement,
    calibrationData: options.calibrate,
    sessionOptions,
  });
  options.log(`calibrated on ${chosen.length} images of ${spec} (${options.method.kind}) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (options.check === 0) return { ...int8, check: null, sensitivity: null };
  // A seeded sample, not the first N: hold-outs are stored class by class.
  const checkIndices = Array.from(permutation(data.val.length, new Rng(1)).subarray(0, checked));
  const held = await batchesOf(data.val, checkIndices, preprocessor);
  const floatClasses = await topClasses(runtime, floatBytes, held.batches, sessionOptions);
  const check = compareClasses(floatClasses, await topClasses(runtime, int8.bytes, held.batches, sessionOptions), held.labels);
  const sensitivity = options.sensitivity ? await groupSensitivity(runtime, int8, held.batches, held.labels, floatClasses, sessionOptions) : null;
  return { ...int8, check, sensitivity };
}
