/**
 * The `--data SPEC` of scale-search and scaling-study: one string naming a labelled image set and its held-out
 * validation split, so that every worker process opens exactly the same data.
 *
 *   tar:PATH[,val=N][,train=N][,seed=S][,cache=memory|none]     image-folder tar(.gz), e.g. the shared CIFAR-10
 *   folder:PATH[,val=N][,train=N][,seed=S][,cache=memory|none]  <root>/<class>/<image> folder
 *   synthetic:train=N,val=N,classes=C,size=S[,seed=S]           seeded coloured patterns (tests, smoke runs)
 *
 * `val=N` holds out N images, stratified and seeded (trainValSplit), e.g. 5,000 of CIFAR-10's 50,000 training
 * images; `train=N` keeps a seeded random N of the remaining training images. `cache=memory` (the default for
 * tar and folder) decodes every image once into one raw-pixel buffer, so epochs do not decode JPEGs again; it needs
 * all images to have one size.
 */
import { ArrayImageDataset } from '../data/array-dataset.js';
import type { ImageDataset } from '../data/dataset.js';
import { toShared } from '../data/dataset.js';
import { ImageFolderDataset } from '../data/image-folder.js';
import { deriveSeed, permutation, Rng } from '../data/rng.js';
import { SubsetDataset, trainValSplit } from '../data/split.js';
import { TarImageDataset } from '../data/tar-dataset.js';

/** Thrown for a data spec that cannot be parsed or opened. */
export class DataSpecError extends Error {
  override name = 'DataSpecError';
}

/** A parsed data spec. */
export type DataSpec =
  | { kind: 'tar' | 'folder'; path: string; val: number; train: number | null; seed: number; cache: 'memory' | 'none' }
  | { kind: 'synthetic'; train: number; val: number; classes: number; size: number; seed: number };

/** The opened train and validation sets. */
export interface OpenedData {
  /** Training images. */
  train: ImageDataset;
  /** Held-out validation images. */
  val: ImageDataset;
  /** Class names. */
  classes: readonly string[];
}

const FORMS = "tar:PATH[,val=N,train=N,seed=S,cache=memory|none], folder:PATH[,...] or synthetic:train=N,val=N,classes=C,size=S[,seed=S]";

function integerOption(spec: string, key: string, raw: string | undefined, min: number): number {
  const value = Number(raw);
  if (raw === undefined || raw.trim() === '' || !Number.isInteger(value) || value < min) {
    throw new DataSpecError(`data spec '${spec}': ${key} must be an integer ≥ ${min}, got '${raw ?? ''}'`);
  }
  return value;
}

/** Parses a data spec (see the module comment). */
export function parseDataSpec(spec: string): DataSpec {
  const text = String(spec ?? '').trim();
  const colon = text.indexOf(':');
  if (colon < 0) throw new DataSpecError(`data spec '${spec}' has no kind; expected ${FORMS}`);
  const kind = text.slice(0, colon);
  if (kind !== 'tar' && kind !== 'folder' && kind !== 'synthetic') throw new DataSpecError(`data spec '${spec}': unknown kind '${kind}'; expected ${FORMS}`);
  const parts = text.slice(colon + 1).split(',');
  const options = new Map<string, string>();
  let path: string | null = null;
  parts.forEach((part, i) => {
    const eq = part.indexOf('=');
    if (eq < 0) {
      if (i === 0 && (kind === 'tar' || kind === 'folder')) path = part;
      else throw new DataSpecError(`data spec '${spec}': '${part}' is not key=value; expected ${FORMS}`);
      return;
    }
    options.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  });
  const allowed = kind === 'synthetic' ? ['train', 'val', 'classes', 'size', 'seed'] : ['val', 'train', 'seed', 'cache'];
  for (const key of options.keys()) {
    if (!allowed.includes(key)) throw new DataSpecError(`data spec '${spec}': unknown option '${key}' for ${kind}; allowed: ${allowed.join(', ')}`);
  }
  if (kind === 'synthetic') {
    return {
      kind,
      train: integerOption(spec, 'train', options.get('train'), 1),
      val: integerOption(spec, 'val', options.get('val'), 1),
      classes: integerOption(spec, 'classes', options.get('classes'), 2),
      size: integerOption(spec, 'size', options.get('size'), 1),
      seed: options.has('seed') ? integerOption(spec, 'seed', options.get('seed'), 0) : 0,
    };
  }
  if (kind === 'tar' || kind === 'folder') {
    if (path === null || (path as string).trim() === '') throw new DataSpecError(`data spec '${spec}': ${kind} needs a path, e.g. ${kind}:/data/set${kind === 'tar' ? '.tar.gz' : ''},val=5000`);
    const cache = options.get('cache') ?? 'memory';
    if (cache !== 'memory' && cache !== 'none') throw new DataSpecError(`data spec '${spec}': cache must be 'memory' or 'none', got '${cache}'`);
    return {
      kind,
      path: path as string,
      val: options.has('val') ? integerOption(spec, 'val', options.get('val'), 1) : 5000,
      train: options.has('train') ? integerOption(spec, 'train', options.get('train'), 1) : null,
      seed: options.has('seed') ? integerOption(spec, 'seed', options.get('seed'), 0) : 0,
      cache,
    };
  }
  throw new DataSpecError(`data spec '${spec}': unknown kind '${kind}'; expected ${FORMS}`);
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

/** Decodes every image of `dataset` once into one raw-pixel data set (all images must have one size). */
async function decodeToMemory(dataset: ImageDataset, where: string): Promise<ImageDataset> {
  if (dataset.classes.length > 256) return dataset; // labels are stored as bytes
  let width = 0;
  let height = 0;
  let pixels: Uint8Array | null = null;
  const labels = new Uint8Array(dataset.length);
  for (let i = 0; i < dataset.length; i++) {
    const sample = await dataset.read(i);
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
  }
  return new ArrayImageDataset({ kind: 'array', pixels: toShared(pixels!), width, height, channels: 3, layout: 'hwc', labels: toShared(labels), classes: [...dataset.classes], name: where });
}

/** Opens the train and validation sets a spec describes (the same ones in every process). */
export async function openData(spec: DataSpec): Promise<OpenedData> {
  if (spec.kind === 'synthetic') {
    const all = syntheticDataset(spec.train + spec.val, spec.classes, spec.size, spec.seed);
    const train = new SubsetDataset(all, Int32Array.from({ length: spec.train }, (_, i) => i));
    const val = new SubsetDataset(all, Int32Array.from({ length: spec.val }, (_, i) => spec.train + i));
    return { train, val, classes: all.classes };
  }
  let dataset: ImageDataset;
  try {
    dataset = spec.kind === 'tar' ? TarImageDataset.open(spec.path) : ImageFolderDataset.open(spec.path);
  } catch (error) {
    throw new DataSpecError(`cannot open the ${spec.kind} data set ${spec.path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (spec.val >= dataset.length) throw new DataSpecError(`val=${spec.val} holds out every one of the ${dataset.length} images of ${spec.path}; use fewer`);
  if (spec.cache === 'memory') dataset = await decodeToMemory(dataset, spec.path);
  const split = trainValSplit(dataset, { valSplit: spec.val / dataset.length, seed: spec.seed });
  let train: ImageDataset = split.train;
  if (spec.train !== null && spec.train < split.train.length) {
    const order = permutation(split.train.length, new Rng(deriveSeed(spec.seed, 0x7a)));
    const chosen = Int32Array.from(order.subarray(0, spec.train)).sort();
    train = new SubsetDataset(dataset, Int32Array.from(chosen, (i) => split.train.indices[i]!));
  }
  return { train, val: split.val, classes: dataset.classes };
}
