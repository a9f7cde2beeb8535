/**
 * Data specs: the one `--data SPEC` syntax of every command (`effnet train`, `effnet eval`, `effnet scale-search`,
 * `effnet scaling-study`), resolved to training and validation data sets. A spec is a source followed by optional
 * `,key=value` options:
 *
 *   fashion-mnist | fashion-mnist:DIR      Debian's IDX files (or DIR): 60,000 training images, its 10,000 test images validate
 *   PATH                                   an image folder `root/<class>/<image>`; a folder with train/ and val/ (or
 *                                          validation/, test/) sub-folders; a .tar/.tar.gz/.tgz of a class folder; or a
 *                                          CIFAR binary folder (data_batch_1.bin... / train.bin, test split when present)
 *   tar:PATH | folder:PATH                 the search commands' older spellings: that format, with defaults val=5000, cache=memory
 *   synthetic:train=N,val=N,classes=C,size=S[,seed=S]   seeded coloured patterns (tests, smoke runs)
 *
 * Options (source specs):
 *   val=N or val=F   hold out N images (an integer ≥ 1) or the fraction F in (0, 1) of the training images, stratified
 *                    and seeded (trainValSplit); given explicitly it replaces the data's own validation split too.
 *                    Default: the data's own split, else the caller's fraction (`--val-split`, default 0.1).
 *   train=N          keep a seeded random N of the training images (all of them when N is not smaller)
 *   seed=S           seed of the hold-out and of the train=N subset (default: the caller's split seed, 0)
 *   cache=memory     decode the images read (training images and hold-out) once into one raw-pixel buffer, so that
 *                    epochs decode no JPEG/PNG again (all images must have one size); cache=none (the default for
 *                    PATH) decodes on every read
 *
 * The hold-out depends on the data, the fraction and the split seed only (never on the training seed, nor on
 * cache=), so `effnet eval` with the same spec scores the images the run validated on. `val=N` is the fraction
 * N / (number of training images), so `val=5000` of CIFAR-10's 50,000 is exactly `val=0.1`.
 */
import { UserError } from '../errors.js';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ArrayImageDataset, type ArraySource } from './array-dataset.js';
import { openCifarBinary } from './cifar-binary.js';
import type { ImageDataset } from './dataset.js';
import { toShared } from './dataset.js';
import { openFashionMnist } from './fashion-mnist.js';
import { FASHION_MNIST_DIR } from './idx.js';
import { EncodedImageDataset } from './encoded-dataset.js';
import { ImageFolderDataset } from './image-folder.js';
import { deriveSeed, permutation, Rng } from './rng.js';
import { SubsetDataset, trainValSplit } from './split.js';
import { TarImageDataset } from './tar-dataset.js';

/** Raised for a data spec that cannot be parsed or names nothing usable; the commands turn it into exit code 2. */
export class DataSpecError extends UserError {
  override name = 'DataSpecError';
}

/** A parsed data spec (see the module comment). */
export type DataSpec = SourceSpec | SyntheticSpec;

/** A spec naming data on disk. */
export interface SourceSpec {
  /** 'path' is detected when opened (folder, split folders, archive, CIFAR binary); 'tar' and 'folder' are forced. */
  kind: 'path' | 'tar' | 'folder' | 'fashion-mnist';
  /** File or folder (Fashion-MNIST: the IDX folder). */
  path: string;
  /** Images held out: a count (integer ≥ 1) or a fraction in (0, 1); null: the data's own split or the caller's fraction. */
  val: number | null;
  /** Training-subset size, or null for all training images. */
  train: number | null;
  /** Split seed, or null for the caller's (default 0). */
  seed: number | null;
  /** Whether images are decoded once into memory. */
  cache: 'memory' | 'none';
}

/** Seeded synthetic images. */
export interface SyntheticSpec {
  /** Always 'synthetic'. */
  kind: 'synthetic';
  /** Training images. */
  train: number;
  /** Validation images. */
  val: number;
  /** Number of classes (≥ 2). */
  classes: number;
  /** Image side, pixels. */
  size: number;
  /** Seed of the pixels. */
  seed: number;
}

/** Defaults a command supplies; options written in the spec take precedence over them. */
export interface DataSpecOptions {
  /** Fraction held out when the data has no split of its own and the spec has no val=; default 0.1. */
  valSplit?: number;
  /** Seed of that hold-out when the spec has no seed=; default 0. */
  splitSeed?: number;
}

/** Training and validation data sets of a spec. */
export interface ResolvedData {
  /** Training images. */
  train: ImageDataset;
  /** Validation images. */
  val: ImageDataset;
  /** Class names (label order). */
  classes: string[];
  /** What kind of data the spec named. */
  kind: 'fashion-mnist' | 'folder' | 'tar' | 'cifar-binary' | 'synthetic';
  /** Where the validation images come from, for messages and the run configuration. */
  validation: string;
  /** Longest side of the stored images when every image has the same size (IDX, CIFAR, synthetic, cached), else null. */
  nativeSize: number | null;
  /** The seeded hold-out that made {@link val} (fraction and seed), or null when the data brought its own split. */
  holdOut: { valSplit: number; seed: number } | null;
  /** Whether the images were (or, from {@link resolveData}, are to be) decoded into memory. */
  cache: 'memory' | 'none';
  /** Files with an image extension effnet cannot decode (.bmp, ...), left out of both sets: commands name them. */
  ignored: string[];
}

const FORMS =
  'fashion-mnist[:DIR], PATH (image folder, .tar/.tar.gz/.tgz, CIFAR binary folder), tar:PATH or folder:PATH, each with optional ' +
  ',val=N|F,train=N,seed=S,cache=memory|none; or synthetic:train=N,val=N,classes=C,size=S[,seed=S]';
const SOURCE_KEYS = ['val', 'train', 'seed', 'cache'];
const SYNTHETIC_KEYS = ['train', 'val', 'classes', 'size', 'seed'];
const OPTION = /^\s*[A-Za-z][\w-]*\s*=/;
const TAR_PATTERN = /\.(tar|tar\.gz|tgz)$/i;

function integerOption(spec: string, key: string, raw: string | undefined, min: number): number {
  const value = Number(raw);
  if (raw === undefined || raw.trim() === '' || !Number.isInteger(value) || value < min) {
    throw new DataSpecError(`data spec '${spec}': ${key} must be an integer ≥ ${min}, got '${raw ?? ''}'`);
  }
  return value;
}

function valOption(spec: string, raw: string): number {
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || !((value > 0 && value < 1) || (Number.isInteger(value) && value >= 1))) {
    throw new DataSpecError(`data spec '${spec}': val must be an image count (an integer ≥ 1, e.g. val=5000) or a fraction in (0, 1) (e.g. val=0.1), got '${raw}'`);
  }
  return value;
}

function readOptions(spec: string, parts: string[], allowed: readonly string[], what: string): Map<string, string> {
  const options = new Map<string, string>();
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq < 0) throw new DataSpecError(`data spec '${spec}': '${part}' is not key=value; expected ${FORMS}`);
    const key = part.slice(0, eq).trim();
    if (!allowed.includes(key)) throw new DataSpecError(`data spec '${spec}': unknown option '${key}' for ${what}; allowed: ${allowed.join(', ')}`);
    if (options.has(key)) throw new DataSpecError(`data spec '${spec}': option '${key}' is given twice`);
    options.set(key, part.slice(eq + 1).trim());
  }
  return options;
}

/**
 * Parses a data spec (see the module comment) without touching the file system. The path is everything up to the
 * first `,key=value`, so a path may itself contain commas that are not followed by `word=`.
 */
export function parseDataSpec(spec: string): DataSpec {
  const text = String(spec ?? '').trim();
  if (text === '') throw new DataSpecError(`the data spec is empty; expected ${FORMS}`);
  if (text.startsWith('synthetic:')) {
    const body = text.slice('synthetic:'.length);
    const options = readOptions(text, body.trim() === '' ? [] : body.split(','), SYNTHETIC_KEYS, 'synthetic');
    return {
      kind: 'synthetic',
      train: integerOption(text, 'train', options.get('train'), 1),
      val: integerOption(text, 'val', options.get('val'), 1),
      classes: integerOption(text, 'classes', options.get('classes'), 2),
      size: integerOption(text, 'size', options.get('size'), 1),
      seed: options.has('seed') ? integerOption(text, 'seed', options.get('seed'), 0) : 0,
    };
  }
  let kind: SourceSpec['kind'] = 'path';
  let body = text;
  for (const prefix of ['tar', 'folder', 'fashion-mnist'] as const) {
    if (text.startsWith(`${prefix}:`)) {
      kind = prefix;
      body = text.slice(prefix.length + 1);
      break;
    }
  }
  const parts = body.split(',');
  let first = parts.findIndex((part, i) => i > 0 && OPTION.test(part));
  if (first < 0) first = parts.length;
  let path = parts.slice(0, first).join(',').trim();
  if (kind === 'path' && path === 'fashion-mnist') {
    kind = 'fashion-mnist';
    path = '';
  }
  if (kind === 'fashion-mnist' && path === '') path = FASHION_MNIST_DIR;
  if (path === '') {
    const example = kind === 'tar' ? 'tar:/data/set.tar.gz,val=5000' : kind === 'folder' ? 'folder:/data/set,val=5000' : 'path/to/images,val=0.1';
    throw new DataSpecError(`data spec '${spec}' needs a path, e.g. ${example} (forms: ${FORMS})`);
  }
  const options = readOptions(text, parts.slice(first), SOURCE_KEYS, kind === 'path' ? 'a path' : kind);
  const legacy = kind === 'tar' || kind === 'folder';
  const cache = options.get('cache') ?? (legacy ? 'memory' : 'none');
  if (cache !== 'memory' && cache !== 'none') throw new DataSpecError(`data spec '${spec}': cache must be 'memory' or 'none', got '${cache}'`);
  const val = options.get('val');
  return {
    kind,
    path,
    val: val !== undefined ? valOption(text, val) : legacy ? 5000 : null,
    train: options.has('train') ? integerOption(text, 'train', options.get('train'), 1) : null,
    seed: options.has('seed') ? integerOption(text, 'seed', options.get('seed'), 0) : legacy ? 0 : null,
    cache,
  };
}

/** The spec written back as text (options only where they differ from the parse defaults). */
export function formatDataSpec(spec: DataSpec): string {
  if (spec.kind === 'synthetic') return `synthetic:train=${spec.train},val=${spec.val},classes=${spec.classes},size=${spec.size},seed=${spec.seed}`;
  const legacy = spec.kind === 'tar' || spec.kind === 'folder';
  const head = spec.kind === 'path' ? spec.path : spec.kind === 'fashion-mnist' && spec.path === FASHION_MNIST_DIR ? 'fashion-mnist' : `${spec.kind}:${spec.path}`;
  const options: string[] = [];
  if (spec.val !== null && !(legacy && spec.val === 5000)) options.push(`val=${spec.val}`);
  if (spec.train !== null) options.push(`train=${spec.train}`);
  if (spec.seed !== null && !(legacy && spec.seed === 0)) options.push(`seed=${spec.seed}`);
  if (spec.cache !== (legacy ? 'memory' : 'none')) options.push(`cache=${spec.cache}`);
  return [head, ...options].join(',');
}

/**
 * Seeded synthetic images: class c has its own mean colour and a stripe orientation, plus per-pixel noise, so a
 * small network learns it in a few steps.
 */
export function syntheticDataset(count: number, classes: number, size: number, seed: number, name = 'synthetic'): ArrayImageDataset {
  const pixels = new Uint8Array(count * size * size * 3);
  const labels = new Uint8Array(count);
  const rng = new Rng(deriveSeed(seed, 0x5e));
  for (let i = 0; i < count; i++) {
    const label = i % classes;
    labels[i] = label;
    const hue = [Math.sin(label * 2.1) * 80 + 128, Math.sin(label * 2.1 + 2.1) * 80 + 128, Math.sin(label * 2.1 + 4.2) * 80 + 128];
    const vertical = label % 2 === 0;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const stripe = ((vertical ? x : y) >> 2) % 2 === 0 ? 30 : -30;
        for (let c = 0; c < 3; c++) {
          const value = hue[c]! + stripe + (rng.next() - 0.5) * 60;
          pixels[((i * size + y) * size + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(value)));
        }
      }
    }
  }
  return new ArrayImageDataset({
    kind: 'array', pixels: toShared(pixels), width: size, height: size, channels: 3, layout: 'hwc', labels: toShared(labels),
    classes: Array.from({ length: classes }, (_, c) => `class${c}`), name,
  });
}

function isCifarBinaryDir(dir: string): boolean {
  return existsSync(join(dir, 'data_batch_1.bin')) || existsSync(join(dir, 'train.bin'));
}

function splitFolders(dir: string): { train: string; val: string } | null {
  const train = join(dir, 'train');
  if (!existsSync(train) || !statSync(train).isDirectory()) return null;
  for (const name of ['val', 'validation', 'test']) {
    const val = join(dir, name);
    if (existsSync(val) && statSync(val).isDirectory()) return { train, val };
  }
  return null;
}

function sameClasses(a: readonly string[], b: readonly string[], where: string): void {
  if (a.length !== b.length || a.some((name, i) => name !== b[i])) {
    throw new DataSpecError(`${where}: the training and validation folders have different classes ([${a.join(', ')}] vs [${b.join(', ')}]); give both the same class sub-folders`);
  }
}

/** Where the data of a source spec come from before any hold-out: the training images and, maybe, their own validation split. */
interface Source {
  kind: Exclude<ResolvedData['kind'], 'synthetic'>;
  train: ImageDataset;
  own: { val: ImageDataset; validation: string } | null;
  nativeSize: number | null;
}

function openFormat(kind: 'tar' | 'folder', path: string): ImageDataset {
  try {
    return kind === 'tar' ? TarImageDataset.open(path) : ImageFolderDataset.open(path);
  } catch (error) {
    throw new DataSpecError(`cannot open the ${kind} data set ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function openSource(spec: SourceSpec): Source {
  const { path } = spec;
  if (spec.kind === 'fashion-mnist') {
    if (!existsSync(path)) {
      throw new DataSpecError(`Fashion-MNIST folder ${path} does not exist; install Debian's dataset-fashion-mnist package or pass --data fashion-mnist:DIR with the IDX files`);
    }
    const val = openFashionMnist('test', path);
    return { kind: 'fashion-mnist', train: openFashionMnist('train', path), own: { val, validation: `Fashion-MNIST test split (${val.length} images)` }, nativeSize: 28 };
  }
  if (spec.kind === 'tar' || spec.kind === 'folder') return { kind: spec.kind, train: openFormat(spec.kind, path), own: null, nativeSize: null };
  if (!existsSync(path)) {
    const prefix = /^([A-Za-z][\w-]*):/.exec(path);
    const hint = prefix ? ` ('${prefix[1]}:' is not a data kind: use fashion-mnist:, tar:, folder: or synthetic:)` : '';
    throw new DataSpecError(`data path ${path} does not exist${hint}; expected ${FORMS}`);
  }
  if (statSync(path).isFile()) {
    if (!TAR_PATTERN.test(path)) throw new DataSpecError(`data file ${path} is not a .tar, .tar.gz or .tgz archive; pass an archive of <class>/<image> folders or a folder`);
    return { kind: 'tar', train: openFormat('tar', path), own: null, nativeSize: null };
  }
  if (isCifarBinaryDir(path)) {
    const train = openCifarBinary(path, { split: 'train' });
    const hasTest = existsSync(join(path, 'test_batch.bin')) || existsSync(join(path, 'test.bin'));
    const own = hasTest ? openCifarBinary(path, { split: 'test' }) : null;
    return { kind: 'cifar-binary', train, own: own && { val: own, validation: `CIFAR test split (${own.length} images)` }, nativeSize: 32 };
  }
  const split = splitFolders(path);
  if (split !== null) {
    const train = openFormat('folder', split.train);
    const val = openFormat('folder', split.val);
    sameClasses(train.classes, val.classes, path);
    return { kind: 'folder', train, own: { val, validation: `folder ${split.val} (${val.length} images)` }, nativeSize: null };
  }
  return { kind: 'folder', train: openFormat('folder', path), own: null, nativeSize: null };
}

function checkValSplit(valSplit: number): void {
  if (!(Number.isFinite(valSplit) && valSplit > 0 && valSplit < 1)) {
    throw new DataSpecError(`--val-split must be a fraction in (0, 1), got ${valSplit}; e.g. 0.1 holds out 10% for validation`);
  }
}

/** `train` (all of `base` or a subset of it) narrowed to a seeded random `count` of its images. */
function trainSubset(base: ImageDataset, train: ImageDataset, count: number | null, seed: number): ImageDataset {
  if (count === null || count >= train.length) return train;
  const positions = train instanceof SubsetDataset && train.base === base ? train.indices : Int32Array.from({ length: train.length }, (_, i) => i);
  const order = permutation(positions.length, new Rng(deriveSeed(seed, 0x7a)));
  const chosen = Int32Array.from(order.subarray(0, count)).sort();
  return new SubsetDataset(base, Int32Array.from(chosen, (i) => positions[i]!));
}

/**
 * Resolves a data spec (text or parsed) to its training and validation data sets, without decoding any image: a
 * `cache=memory` spec comes back with `cache: 'memory'` and undecoded data; {@link openData} also decodes.
 */
export function resolveData(spec: string | DataSpec, options: DataSpecOptions = {}): ResolvedData {
  const parsed = typeof spec === 'string' ? parseDataSpec(spec) : spec;
  if (parsed.kind === 'synthetic') {
    const all = syntheticDataset(parsed.train + parsed.val, parsed.classes, parsed.size, parsed.seed);
    const train = new SubsetDataset(all, Int32Array.from({ length: parsed.train }, (_, i) => i));
    const val = new SubsetDataset(all, Int32Array.from({ length: parsed.val }, (_, i) => parsed.train + i));
    return { train, val, classes: [...all.classes], kind: 'synthetic', validation: `synthetic images (${val.length})`, nativeSize: parsed.size, holdOut: null, cache: 'memory', ignored: [] };
  }
  const source = openSource(parsed);
  const base = source.train;
  const seed = parsed.seed ?? options.splitSeed ?? 0;
  const ignoredOf = (dataset: ImageDataset | undefined): readonly string[] => (dataset instanceof EncodedImageDataset ? dataset.ignoredFiles : []);
  const ignored = [...ignoredOf(base), ...ignoredOf(source.own?.val)];
  const common = { classes: [...base.classes], kind: source.kind, nativeSize: source.nativeSize, cache: parsed.cache, ignored };
  if (parsed.val === null && source.own !== null) {
    return { ...common, train: trainSubset(base, base, parsed.train, seed), val: source.own.val, validation: source.own.validation, holdOut: null };
  }
  let valSplit: number;
  if (parsed.val === null) {
    valSplit = options.valSplit ?? 0.1;
    checkValSplit(valSplit);
  } else if (parsed.val < 1) {
    valSplit = parsed.val;
  } else {
    if (parsed.val >= base.length) throw new DataSpecError(`val=${parsed.val} holds out every one of the ${base.length} images of ${parsed.path}; use fewer`);
    valSplit = parsed.val / base.length;
  }
  let split;
  try {
    split = trainValSplit(base, { valSplit, seed });
  } catch (error) {
    throw new DataSpecError(`${parsed.path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const train = trainSubset(base, split.train, parsed.train, seed);
  return { ...common, train, val: split.val, validation: `seeded hold-out of ${valSplit} (split seed ${seed}, ${split.val.length} images)`, holdOut: { valSplit, seed } };
}

/**
 * A data set decoded into one raw-pixel buffer (cache=memory); {@link original} is the data set it was decoded from,
 * and {@link describe} names its images as that one does.
 */
export class DecodedImageDataset extends ArrayImageDataset {
  /** The encoded data set these pixels came from. */
  readonly original: ImageDataset;

  /** @param original the data set decoded; @param src its pixels */
  constructor(original: ImageDataset, src: ArraySource) {
    super(src);
    this.original = original;
  }

  /** The original data set's name of image `index`. */
  override describe(index: number): string {
    return this.original.describe(index);
  }
}

/** How many images {@link decodeToMemory} decodes at once. */
const DECODE_WINDOW = 16;

/** Decodes every image of `dataset` once into one raw-pixel data set (all images must have one size). */
async function decodeToMemory(dataset: ImageDataset, where: string): Promise<ImageDataset> {
  if (dataset instanceof ArrayImageDataset || dataset.classes.length > 256 || dataset.length === 0) return dataset; // raw already; labels are stored as bytes
  let width = 0;
  let height = 0;
  let pixels: Uint8Array | null = null;
  const labels = new Uint8Array(dataset.length);
  for (let start = 0; start < dataset.length; start += DECODE_WINDOW) {
    const samples = await Promise.all(Array.from({ length: Math.min(DECODE_WINDOW, dataset.length - start) }, (_, k) => dataset.read(start + k)));
    samples.forEach((sample, k) => {
      const i = start + k;
      if (!sample.ok) throw new DataSpecError(`${where}: ${sample.source} cannot be decoded (${sample.error}); remove it or use cache=none to skip bad images`);
      if (pixels === null) {
        width = sample.image.width;
        height = sample.image.height;
        pixels = new Uint8Array(dataset.length * width * height * 3);
      } else if (sample.image.width !== width || sample.image.height !== height) {
        throw new DataSpecError(`${where}: cache=memory needs one image size, but ${dataset.describe(i)} is ${sample.image.width}x${sample.image.height} and the first is ${width}x${height}; use cache=none`);
      }
      pixels.set(sample.image.data, i * width * height * 3);
      labels[i] = sample.label;
    });
  }
  return new DecodedImageDataset(dataset, {
    kind: 'array', pixels: toShared(pixels!), width, height, channels: 3, layout: 'hwc', labels: toShared(labels), classes: [...dataset.classes], name: where,
  });
}

/**
 * The images of each underlying data set that `parts` read: 'all' when a part is the whole data set or the parts
 * cover every image, else the sorted base indices they use (a `train=N` subset of a large archive reads few).
 */
function imagesRead(parts: ImageDataset[]): Map<ImageDataset, Int32Array | 'all'> {
  const used = new Map<ImageDataset, Uint8Array | 'all'>();
  for (const part of parts) {
    const base = part instanceof SubsetDataset ? part.base : part;
    const seen = used.get(base);
    if (!(part instanceof SubsetDataset) || base instanceof ArrayImageDataset || seen === 'all') {
      used.set(base, 'all');
      continue;
    }
    const marks = seen ?? new Uint8Array(base.length);
    for (const i of part.indices) marks[i] = 1;
    used.set(base, marks);
  }
  const read = new Map<ImageDataset, Int32Array | 'all'>();
  for (const [base, marks] of used) {
    if (marks === 'all') {
      read.set(base, 'all');
      continue;
    }
    const indices = Int32Array.from(marks.keys()).filter((i) => marks[i] === 1);
    read.set(base, indices.length === base.length ? 'all' : indices);
  }
  return read;
}

/**
 * Opens the training and validation sets a spec describes (the same images in every process): {@link resolveData},
 * then, for `cache=memory`, the images the two parts read decoded once into one buffer per underlying data set
 * (only those: a `train=N` subset decodes N plus the hold-out, not the whole archive). Decoded images keep their
 * names (`describe`, split files), so the hold-out is the same images.
 */
export async function openData(spec: string | DataSpec, options: DataSpecOptions = {}): Promise<ResolvedData> {
  const parsed = typeof spec === 'string' ? parseDataSpec(spec) : spec;
  const data = resolveData(parsed, options);
  if (data.cache !== 'memory' || parsed.kind === 'synthetic') return data;
  const decoded = new Map<ImageDataset, Promise<{ dataset: ImageDataset; position: Int32Array | null }>>();
  for (const [base, read] of imagesRead([data.train, data.val])) {
    if (read === 'all') {
      decoded.set(base, decodeToMemory(base, parsed.path).then((dataset) => ({ dataset, position: null })));
    } else {
      const position = new Int32Array(base.length).fill(-1);
      read.forEach((baseIndex, k) => { position[baseIndex] = k; });
      decoded.set(base, decodeToMemory(new SubsetDataset(base, read), parsed.path).then((dataset) => ({ dataset, position })));
    }
  }
  const cached = async (part: ImageDataset): Promise<ImageDataset> => {
    const { dataset, position } = await decoded.get(part instanceof SubsetDataset ? part.base : part)!;
    if (!(part instanceof SubsetDataset)) return dataset;
    return new SubsetDataset(dataset, position === null ? part.indices : Int32Array.from(part.indices, (i) => position[i]!));
  };
  const train = await cached(data.train);
  const val = await cached(data.val);
  const first = train.length > 0 ? await train.read(0) : null;
  const nativeSize = data.nativeSize ?? (first?.ok ? Math.max(first.image.width, first.image.height) : null);
  return { ...data, train, val, nativeSize };
}
