/**
 * Test-time augmentation of a model card: which views of an image are scored and averaged. One definition for every
 * consumer (validation during training, `effnet eval`, predict, the exported ONNX graph), so a run's reported
 * accuracy is the accuracy of the model a user deploys.
 *
 * - 'hflip': the image and its mirror image (2 forward passes).
 * - 'hflip-shift': each of those also translated by (+s, +s) and (−s, −s) pixels with reflected borders, s =
 *   {@link ttaShift} of the eval size (6 forward passes): the translate-and-mirror TTA of fast CIFAR training
 *   (airbench, Jordan 2024), with the shift a fixed fraction of the side so one rule serves every size.
 */

/** The test-time augmentations a card may carry. */
export const TTA_MODES = ['hflip', 'hflip-shift'] as const;

/** A test-time augmentation of {@link TTA_MODES}. */
export type Tta = (typeof TTA_MODES)[number];

/**
 * The translation of 'hflip-shift' at eval size `size`, in pixels: size / 24 rounded, at least 1 (2 px at 48 px,
 * 1 px at 32, 9 px at 224).
 */
export function ttaShift(size: number): number {
  return Math.max(1, Math.round(size / 24));
}

/**
 * One scored view: the image mirrored along its width (first) when `mirror`, then its content moved down by `dy`
 * and right by `dx` pixels, the uncovered border filled by reflection (pixel −k is pixel k; pixel n−1+k is n−1−k).
 */
export interface TtaView {
  mirror: boolean;
  dy: number;
  dx: number;
}

/** The views of `tta` at eval size `size`, in the order every consumer sums their logits (the first is the image). */
export function ttaViews(tta: Tta, size: number): TtaView[] {
  const mirrors = [false, true];
  if (tta === 'hflip') return mirrors.map((mirror) => ({ mirror, dy: 0, dx: 0 }));
  const s = ttaShift(size);
  if (2 * s >= size) throw new Error(`test-time augmentation 'hflip-shift' needs an eval size of at least ${2 * s + 1} pixels, got ${size}`);
  return [0, s, -s].flatMap((d) => mirrors.map((mirror) => ({ mirror, dy: d, dx: d })));
}

/** Index `k` of a side of `n` pixels with reflected borders (no edge repeat, as torch's reflection padding). */
export function reflectIndex(k: number, n: number): number {
  if (k < 0) return -k;
  if (k >= n) return 2 * (n - 1) - k;
  return k;
}
