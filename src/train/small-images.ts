/**
 * The training augmentation of the small-image recipe (Fashion-MNIST's 28px, CIFAR's 32px): random-resized-crop
 * with a gentler area range [0.64, 1] (0.08 removes most of a 28px garment) and aspect ratio [3/4, 4/3], bicubic
 * up-sampling to the training size, horizontal flip. The architecture and evaluation halves of the recipe are the
 * model card's (src/card/small-images.ts), so that what training validates with is what inference serves.
 * See docs/training.md.
 */
import { isSmallImage } from '../card/small-images.js';
import type { TrainTransformSpec } from '../data/transforms/pipeline.js';

/** The RRC area range of the small-image recipe. */
export const SMALL_IMAGE_RRC_SCALE: [number, number] = [0.64, 1];

/** Augmentation choices of the command line. */
export type AugmentChoice = { kind: 'randaugment'; n: number; m: number } | { kind: 'autoaugment'; policy: 'imagenet' } | null;

/**
 * The training transform for `imageSize`: the paper's RRC (scale 0.08-1) for large images, the gentler one for small;
 * `cropScale` overrides the RRC area range ([1, 1]: the whole image, resized, i.e. flip-only augmentation).
 */
export function trainTransform(imageSize: number, augment: AugmentChoice = null, cropScale?: [number, number]): TrainTransformSpec {
  const scale = cropScale ?? (isSmallImage(imageSize) ? SMALL_IMAGE_RRC_SCALE : undefined);
  return { kind: 'train', size: imageSize, ...(scale === undefined ? {} : { scale }), hflip: 0.5, augment };
}
