/**
 * Train and eval preprocessing as plain-data specs (they cross to worker threads) and their application to one
 * image, writing normalised CHW floats into a batch slot.
 *
 * Train: random-resized-crop → horizontal flip → RandAugment or AutoAugment (optional) → normalise (timm/torchvision
 * order). Eval: resize the short side to floor(size / cropPct) → center-crop size → normalise, with
 * cropPct = size / (size + 32) by default (224 → resize 256, crop 224). For small-image data sets (CIFAR 32px,
 * Fashion-MNIST 28px) use the same recipe at the model's training size: RRC upsamples the crop, eval resizes the
 * whole image; e.g. `size: 128` trains at 128px with scale [0.35, 1] being a gentler choice than 0.08 for tiny images.
 */
import type { RgbImage } from '../image.js';
import type { Rng } from '../rng.js';
import { autoAugment, randAugment, type RandAugmentOptions } from './augment.js';
import { boxInside, centerCrop, DEFAULT_RRC, hflip, randomResizedCropBox, resizedCrop, resizeShortSide } from './geometry.js';
import { IMAGENET_MEAN, IMAGENET_STD, normalizationTables, normalizedRowSink, normalizeInto } from './normalize.js';
import { resizeRegionRows, type ResampleFilter } from './resample.js';

/** Training-time preprocessing. */
export interface TrainTransformSpec {
  /** Discriminator. */
  kind: 'train';
  /** Output side in pixels (square). */
  size: number;
  /** RRC area range (default [0.08, 1]). */
  scale?: [number, number];
  /** RRC aspect-ratio range (default [3/4, 4/3]). */
  ratio?: [number, number];
  /** Probability of a horizontal flip (default 0.5). */
  hflip?: number;
  /** Optional automatic augmentation after the flip (default none). */
  augment?: { kind: 'randaugment'; n: number; m: number; bins?: number } | { kind: 'autoaugment'; policy: 'imagenet' } | null;
  /** Normalisation mean (default ImageNet's). */
  mean?: [number, number, number];
  /** Normalisation std (default ImageNet's). */
  std?: [number, number, number];
}

/** Evaluation-time preprocessing. */
export interface EvalTransformSpec {
  /** Discriminator. */
  kind: 'eval';
  /** Output side in pixels (square). */
  size: number;
  /** Fraction of the resized image kept by the center crop (default size / (size + 32)). */
  cropPct?: number;
  /** Pillow filter of the resize (default 'bicubic'; torchvision's b1 weights are evaluated with 'bilinear'). */
  interpolation?: ResampleFilter;
  /** Normalisation mean (default ImageNet's). */
  mean?: [number, number, number];
  /** Normalisation std (default ImageNet's). */
  std?: [number, number, number];
}

/** Either preprocessing spec. */
export type TransformSpec = TrainTransformSpec | EvalTransformSpec;

/** The eval transform's resize target: floor(size / cropPct), as timm computes it. */
export function evalResizeSize(size: number, cropPct: number = size / (size + 32)): number {
  return Math.floor(size / cropPct);
}

/** A compiled spec: maps a decoded image (and a per-sample generator) to normalised floats in `out` at `offset`. */
export type CompiledTransform = (image: RgbImage, rng: Rng, out: Float32Array, offset: number) => void;

/** Checks a spec and compiles it into a function. */
export function compileTransform(spec: TransformSpec): CompiledTransform {
  if (!Number.isInteger(spec.size) || spec.size <= 0) throw new Error(`transform size must be a positive integer, got ${spec.size}`);
  const tables = normalizationTables(spec.mean ?? IMAGENET_MEAN, spec.std ?? IMAGENET_STD);
  const size = spec.size;
  if (spec.kind === 'eval') {
    const cropPct = spec.cropPct ?? size / (size + 32);
    if (!(cropPct > 0 && cropPct <= 1)) throw new Error(`eval cropPct must be in (0, 1], got ${cropPct}`);
    const resizeTo = evalResizeSize(size, cropPct);
    const filter = spec.interpolation ?? 'bicubic';
    if (filter !== 'bicubic' && filter !== 'bilinear') throw new Error(`eval interpolation must be 'bicubic' or 'bilinear', got '${String(filter)}'`);
    return (image, _rng, out, offset) => normalizeInto(centerCrop(resizeShortSide(image, resizeTo, filter), size), tables, out, offset);
  }
  if (spec.kind !== 'train') throw new Error(`transform kind must be 'train' or 'eval', got ${(spec as { kind: string }).kind}`);
  const rrc = { scale: spec.scale ?? DEFAULT_RRC.scale, ratio: spec.ratio ?? DEFAULT_RRC.ratio };
  if (!(rrc.scale[0] > 0 && rrc.scale[0] <= rrc.scale[1] && rrc.scale[1] <= 1)) throw new Error(`RRC scale must satisfy 0 < lo <= hi <= 1, got [${rrc.scale.join(', ')}]`);
  if (!(rrc.ratio[0] > 0 && rrc.ratio[0] <= rrc.ratio[1])) throw new Error(`RRC ratio must satisfy 0 < lo <= hi, got [${rrc.ratio.join(', ')}]`);
  const flipP = spec.hflip ?? 0.5;
  const aug = spec.augment ?? null;
  let augment: ((img: RgbImage, rng: Rng) => RgbImage) | null = null;
  if (aug?.kind === 'randaugment') {
    const options: RandAugmentOptions = { n: aug.n, m: aug.m, bins: aug.bins ?? 31 };
    augment = (img, rng) => randAugment(img, rng, options);
  } else if (aug?.kind === 'autoaugment') {
    if (aug.policy !== 'imagenet') throw new Error(`AutoAugment policy "${aug.policy}" is not available; use 'imagenet'`);
    augment = (img, rng) => autoAugment(img, rng);
  } else if (aug !== null) {
    throw new Error(`unknown augment kind ${(aug as { kind: string }).kind}; expected 'randaugment' or 'autoaugment'`);
  }
  return (image, rng, out, offset) => {
    const box = randomResizedCropBox(image.width, image.height, rng, rrc);
    const flip = rng.next() < flipP;
    if (!augment && boxInside(box, image.width, image.height)) {
      // Fused: resize the box in place and write each row flipped and normalised straight into the batch slot.
      resizeRegionRows(image, box.left, box.top, box.width, box.height, size, size, 'bicubic', normalizedRowSink(tables, out, offset, size, size, flip));
      return;
    }
    let img = resizedCrop(image, box, size, size);
    if (flip) img = hflip(img);
    if (augment) img = augment(img, rng);
    normalizeInto(img, tables, out, offset);
  };
}
