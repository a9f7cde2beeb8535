/**
 * RandAugment (Cubuk et al., 2020) and AutoAugment's ImageNet policy (Cubuk et al., 2019) as torchvision 0.14
 * implements them: the same op set, magnitude bins (torch.linspace in float32), sign draws and probabilities, and
 * ops from ./ops.ts that match torchvision's PIL backend. Random choices come from an explicit {@link Rng}.
 */
import type { RgbImage } from '../image.js';
import type { Rng } from '../rng.js';
import * as ops from './ops.js';

/** Names of the augmentation ops (torchvision's). */
export type AugmentOp =
  | 'Identity' | 'ShearX' | 'ShearY' | 'TranslateX' | 'TranslateY' | 'Rotate' | 'Brightness' | 'Color' | 'Contrast'
  | 'Sharpness' | 'Posterize' | 'Solarize' | 'AutoContrast' | 'Equalize' | 'Invert';

/** `torch.linspace(start, end, steps)` for float32 (value i is start + i·step rounded to float32). */
export function linspaceF32(start: number, end: number, steps: number): Float64Array {
  const out = new Float64Array(steps);
  if (steps === 1) {
    out[0] = Math.fround(start);
    return out;
  }
  const f = Math.fround;
  const s = f(start);
  const e = f(end);
  const step = f(f(e - s) / (steps - 1));
  const half = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) out[i] = i < half ? f(s + f(step * i)) : f(e - f(step * (steps - i - 1)));
  return out;
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** One op's magnitude bins and whether its sign is drawn at random. */
export interface OpMeta {
  /** Magnitudes by bin; empty for ops without a magnitude. */
  magnitudes: Float64Array;
  /** True when the magnitude is negated with probability 1/2. */
  signed: boolean;
}

/**
 * torchvision's `_augmentation_space(num_bins, (height, width))`. RandAugment's space has 'Identity' first and no
 * 'Invert'; AutoAugment's has 'Invert' and no 'Identity'. Map iteration order is torchvision's dict order.
 */
export function augmentationSpace(kind: 'randaugment' | 'autoaugment', bins: number, height: number, width: number): Map<AugmentOp, OpMeta> {
  const none: OpMeta = { magnitudes: new Float64Array(0), signed: false };
  const lin = (end: number): OpMeta => ({ magnitudes: linspaceF32(0, end, bins), signed: true });
  const space = new Map<AugmentOp, OpMeta>();
  if (kind === 'randaugment') space.set('Identity', none);
  space.set('ShearX', lin(0.3));
  space.set('ShearY', lin(0.3));
  space.set('TranslateX', lin((150 / 331) * width));
  space.set('TranslateY', lin((150 / 331) * height));
  space.set('Rotate', lin(30));
  space.set('Brightness', lin(0.9));
  space.set('Color', lin(0.9));
  space.set('Contrast', lin(0.9));
  space.set('Sharpness', lin(0.9));
  space.set('Posterize', {
    magnitudes: Float64Array.from({ length: bins }, (_, i) => 8 - roundHalfEven(Math.fround(i / Math.fround((bins - 1) / 4)))),
    signed: false,
  });
  space.set('Solarize', { magnitudes: linspaceF32(255, 0, bins), signed: false });
  space.set('AutoContrast', none);
  space.set('Equalize', none);
  if (kind === 'autoaugment') space.set('Invert', none);
  return space;
}

/** torchvision's `_apply_op` (nearest interpolation, black fill). */
export function applyOp(image: RgbImage, op: AugmentOp, magnitude: number): RgbImage {
  const deg = (m: number): number => (Math.atan(m) * 180) / Math.PI;
  switch (op) {
    case 'Identity':
      return image;
    case 'ShearX':
      return ops.affine(image, 0, [0, 0], 1, [deg(magnitude), 0], [0, 0]);
    case 'ShearY':
      return ops.affine(image, 0, [0, 0], 1, [0, deg(magnitude)], [0, 0]);
    case 'TranslateX':
      return ops.affine(image, 0, [Math.trunc(magnitude), 0], 1, [0, 0]);
    case 'TranslateY':
      return ops.affine(image, 0, [0, Math.trunc(magnitude)], 1, [0, 0]);
    case 'Rotate':
      return ops.rotate(image, magnitude);
    case 'Brightness':
      return ops.adjustBrightness(image, 1 + magnitude);
    case 'Color':
      return ops.adjustSaturation(image, 1 + magnitude);
    case 'Contrast':
      return ops.adjustContrast(image, 1 + magnitude);
    case 'Sharpness':
      return ops.adjustSharpness(image, 1 + magnitude);
    case 'Posterize':
      return ops.posterize(image, Math.trunc(magnitude));
    case 'Solarize':
      return ops.solarize(image, magnitude);
    case 'AutoContrast':
      return ops.autocontrast(image);
    case 'Equalize':
      return ops.equalize(image);
    case 'Invert':
      return ops.invert(image);
    default:
      throw new Error(`applyOp: unknown op "${String(op)}"`);
  }
}

/** One op drawn by an augmentation policy: which op and its signed magnitude. */
export interface OpDraw {
  /** The op. */
  op: AugmentOp;
  /** Its magnitude after the sign draw (0 for ops without one). */
  magnitude: number;
}

/** RandAugment's parameters: `n` ops per image at magnitude bin `m` of `bins` (torchvision's defaults 2, 9, 31). */
export interface RandAugmentOptions {
  /** Ops per image. */
  n: number;
  /** Magnitude bin, 0..bins-1. */
  m: number;
  /** Number of magnitude bins (default 31). */
  bins?: number;
}

/** Draws RandAugment's ops for a height × width image: each op uniform over the space, then a fair sign draw if signed. */
export function sampleRandAugment(rng: Rng, options: RandAugmentOptions, height: number, width: number): OpDraw[] {
  const bins = options.bins ?? 31;
  if (!Number.isInteger(options.n) || options.n < 0) throw new Error(`RandAugment: n must be a non-negative integer, got ${options.n}`);
  if (!Number.isInteger(options.m) || options.m < 0 || options.m >= bins) throw new Error(`RandAugment: m must be an integer in 0..${bins - 1}, got ${options.m}`);
  const space = augmentationSpace('randaugment', bins, height, width);
  const names = [...space.keys()];
  const draws: OpDraw[] = [];
  for (let k = 0; k < options.n; k++) {
    const op = names[rng.int(names.length)]!;
    const meta = space.get(op)!;
    let magnitude = meta.magnitudes.length > 0 ? meta.magnitudes[options.m]! : 0;
    if (meta.signed && rng.int(2)) magnitude = -magnitude;
    draws.push({ op, magnitude });
  }
  return draws;
}

/** RandAugment on one image. */
export function randAugment(image: RgbImage, rng: Rng, options: RandAugmentOptions): RgbImage {
  for (const { op, magnitude } of sampleRandAugment(rng, options, image.height, image.width)) image = applyOp(image, op, magnitude);
  return image;
}

/** One sub-policy step: op, probability, magnitude bin (null for ops without magnitude). */
export type PolicyStep = readonly [AugmentOp, number, number | null];

/** AutoAugment's ImageNet policy: 25 sub-policies of two steps (torchvision's AutoAugmentPolicy.IMAGENET). */
export const IMAGENET_POLICY: readonly (readonly [PolicyStep, PolicyStep])[] = [
  [['Posterize', 0.4, 8], ['Rotate', 0.6, 9]],
  [['Solarize', 0.6, 5], ['AutoContrast', 0.6, null]],
  [['Equalize', 0.8, null], ['Equalize', 0.6, null]],
  [['Posterize', 0.6, 7], ['Posterize', 0.6, 6]],
  [['Equalize', 0.4, null], ['Solarize', 0.2, 4]],
  [['Equalize', 0.4, null], ['Rotate', 0.8, 8]],
  [['Solarize', 0.6, 3], ['Equalize', 0.6, null]],
  [['Posterize', 0.8, 5], ['Equalize', 1.0, null]],
  [['Rotate', 0.2, 3], ['Solarize', 0.6, 8]],
  [['Equalize', 0.6, null], ['Posterize', 0.4, 6]],
  [['Rotate', 0.8, 8], ['Color', 0.4, 0]],
  [['Rotate', 0.4, 9], ['Equalize', 0.6, null]],
  [['Equalize', 0.0, null], ['Equalize', 0.8, null]],
  [['Invert', 0.6, null], ['Equalize', 1.0, null]],
  [['Color', 0.6, 4], ['Contrast', 1.0, 8]],
  [['Rotate', 0.8, 8], ['Color', 1.0, 2]],
  [['Color', 0.8, 8], ['Solarize', 0.8, 7]],
  [['Sharpness', 0.4, 7], ['Invert', 0.6, null]],
  [['ShearX', 0.6, 5], ['Equalize', 1.0, null]],
  [['Color', 0.4, 0], ['Equalize', 0.6, null]],
  [['Equalize', 0.4, null], ['Solarize', 0.2, 4]],
  [['Solarize', 0.6, 5], ['AutoContrast', 0.6, null]],
  [['Invert', 0.6, null], ['Equalize', 1.0, null]],
  [['Color', 0.6, 4], ['Contrast', 1.0, 8]],
  [['Equalize', 0.8, null], ['Equalize', 0.6, null]],
];

/**
 * Draws AutoAugment's ops as torchvision does: a sub-policy uniformly, then per step a probability u ~ U[0,1) and
 * a sign bit; the step applies when u <= p, negated when its sign bit is 0.
 */
export function sampleAutoAugment(rng: Rng, height: number, width: number): OpDraw[] {
  const policy = IMAGENET_POLICY[rng.int(IMAGENET_POLICY.length)]!;
  const probs = [rng.next(), rng.next()];
  const signs = [rng.int(2), rng.int(2)];
  const space = augmentationSpace('autoaugment', 10, height, width);
  const draws: OpDraw[] = [];
  policy.forEach(([op, p, bin], i) => {
    if (probs[i]! <= p) {
      const meta = space.get(op)!;
      let magnitude = bin !== null ? meta.magnitudes[bin]! : 0;
      if (meta.signed && signs[i] === 0) magnitude = -magnitude;
      draws.push({ op, magnitude });
    }
  });
  return draws;
}

/** AutoAugment (ImageNet policy) on one image. */
export function autoAugment(image: RgbImage, rng: Rng): RgbImage {
  for (const { op, magnitude } of sampleAutoAugment(rng, image.height, image.width)) image = applyOp(image, op, magnitude);
  return image;
}
