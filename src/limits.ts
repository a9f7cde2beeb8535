/**
 * The bounds effnet puts on everything it reads from outside (model files, cards, images, archives, requests,
 * flags), in one table, so that a forged or careless input is refused with a clear message before it can allocate
 * gigabytes, loop or run for minutes. Each bound is generous for every real EfficientNet (L2 at 800px, ImageNet-21k's
 * 21,843 classes, a 50-megapixel photo) and can be raised for one process with an environment variable
 * (`EFFNET_LIMIT_<NAME>`, e.g. EFFNET_LIMIT_IMAGE_PIXELS=400000000); docs/security.md lists them all.
 *
 * Browser-safe: no Node built-in is imported (the page parses model cards, which read these bounds); in a browser
 * there is no environment and the defaults hold.
 */
import { BadFileError } from './errors.js';

/** Each bound: its default, its unit and what it protects; the environment variable is EFFNET_LIMIT_ + the key in upper snake case. */
export const LIMIT_DEFAULTS = {
  /** Decoded pixels of one image (width × height) before any pixel is allocated. */
  imagePixels: 100_000_000,
  /** Bytes of one encoded image file read by predict, eval or a dataset. */
  imageFileBytes: 256 * 2 ** 20,
  /** Side in pixels of a model's input (architecture.resolution, eval.size) and of the eval resize before its crop. */
  imageSide: 2048,
  /** Trainable parameters of a network a card describes (EfficientNet-L2 has 480 M). */
  modelParameters: 1_000_000_000,
  /** MBConv blocks of a network after depth scaling (L2 has 87). */
  modelBlocks: 512,
  /** Classifier outputs (ImageNet-21k has 21,843). */
  classes: 100_000,
  /** Characters of one class name. */
  classNameChars: 1_000,
  /** Input channels of the stem. */
  inChannels: 64,
  /** Width and depth multipliers (L2: 4.3 and 5.3). */
  scaleMultiplier: 16,
  /** Bytes of a weight file's JSON header (safetensors) or pickle. */
  headerBytes: 64 * 2 ** 20,
  /** Tensors in one weight file (B7 has ~ 700). */
  tensors: 100_000,
  /** Bytes of tensor data a weight file may expand to (its storages, its zip members inflated, its views copied). */
  weightBytes: 8 * 2 ** 30,
  /** Nesting depth of a pickle (containers inside containers). */
  pickleDepth: 1_000,
  /** Bytes of a dataset archive (.tar, or a .tar.gz once decompressed), held in memory while training. */
  archiveBytes: 4 * 2 ** 30,
  /** Bytes of a pax extended header or GNU long name in a tar. */
  tarHeaderBytes: 1 * 2 ** 20,
  /** Bytes of an ONNX model file. */
  onnxBytes: 4 * 2 ** 30,
  /** Bytes of prepared images int8 export holds (calibration and check images, float32 at the model's input size). */
  quantizationImageBytes: 4 * 2 ** 30,
} as const;

/** The name of one bound. */
export type LimitName = keyof typeof LIMIT_DEFAULTS;

/** Raised when an input is over a bound (a user error: exit code 2); the message names the bound and how to raise it. */
export class LimitError extends BadFileError {
  override name = 'LimitError';
}

/** The environment variable that raises (or lowers) a bound: imagePixels → EFFNET_LIMIT_IMAGE_PIXELS. */
export function limitVariable(name: LimitName): string {
  return `EFFNET_LIMIT_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

function environment(): Record<string, string | undefined> {
  const process = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return process?.env ?? {};
}

/**
 * The value of a bound: the environment's EFFNET_LIMIT_… when set (a positive number), else the default.
 * @throws LimitError when the variable is set to something that is not a positive number
 */
export function limit(name: LimitName): number {
  const variable = limitVariable(name);
  const text = environment()[variable];
  if (text === undefined || text.trim() === '') return LIMIT_DEFAULTS[name];
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new LimitError(`${variable} must be a positive number, got '${text}'`);
  return value;
}

/**
 * Throws a {@link LimitError} when `value` is over the bound: "<what> is <value> <unit>, over effnet's limit of
 * <limit> (<why>); raise it with EFFNET_LIMIT_…=N if the input is trusted".
 */
export function checkLimit(name: LimitName, value: number, what: string, unit = ''): void {
  const bound = limit(name);
  if (value <= bound) return;
  const u = unit === '' ? '' : ` ${unit}`;
  throw new LimitError(`${what} is ${formatCount(value)}${u}, over effnet's limit of ${formatCount(bound)}${u}; if the input is trusted, raise the limit with ${limitVariable(name)}=N (docs/security.md)`);
}

function formatCount(value: number): string {
  return Number.isInteger(value) ? value.toLocaleString('en-US') : String(value);
}
