/**
 * The recipe for small images (Fashion-MNIST's 28px, CIFAR's 32px), where B0's total stride of 32 would leave
 * 1x1 feature maps for every late block and the network underfits.
 *
 * - Architecture: B0's stem keeps its stride 2, and the EARLIEST stride-2 stages become stride 1 until the last
 *   feature map is at least {@link SMALL_IMAGE_MIN_FEATURE} pixels wide: at 32px the total stride drops from 32 to
 *   16 (stem 16x16; the 16- and 24-channel stages at 16x16, the 40-channel stage at 8x8, the 80-channel at 4x4, the
 *   rest at 2x2) instead of B0's 1x1 maps from the 80-channel stage on. Dropping the early strides rather than the
 *   late ones keeps resolution where the features are simple. A last map of 4x4 (total stride 8) costs 2.6x the
 *   compute per image (measured: width 0.5, depth 0.5, batch 128, 2 threads: 344 vs 141 ms per step).
 *   Up-sampling to 40px keeps these strides and gives a 3x3 last map for about 1.56x the compute of 32px
 *   (Fashion-MNIST, 5 epochs: 91.58% vs 91.00% test top-1; BENCHMARKS.md "Training").
 * - Training augmentation: random-resized-crop with a gentler area range [0.64, 1] (0.08 removes most of a 28px
 *   garment) and aspect ratio [3/4, 4/3], bicubic up-sampling to the training size, horizontal flip.
 * - Evaluation: the whole image resized to the training size (crop_pct 1), since small data sets are not
 *   photographed with a margin around the object as ImageNet is.
 *
 * Images count as small when the training size is at most {@link SMALL_IMAGE_MAX_SIZE}. See docs/training.md.
 */
import type { StageArgs } from '../efficientnet/block-spec.js';
import { efficientNetB0Stages } from '../efficientnet/block-spec.js';
import type { EvalTransformSpec, TrainTransformSpec } from '../data/transforms/pipeline.js';

/** Training sizes up to this many pixels get the small-image recipe. */
export const SMALL_IMAGE_MAX_SIZE = 64;

/** The smallest last feature map the small-image stages allow, in pixels. */
export const SMALL_IMAGE_MIN_FEATURE = 2;

/** The RRC area range of the small-image recipe. */
export const SMALL_IMAGE_RRC_SCALE: [number, number] = [0.64, 1];

/** Whether `imageSize` gets the small-image recipe. */
export function isSmallImage(imageSize: number): boolean {
  return imageSize <= SMALL_IMAGE_MAX_SIZE;
}

/**
 * `stages` (B0's by default) with the earliest stride-2 stages set to stride 1 until `imageSize / totalStride` is at
 * least {@link SMALL_IMAGE_MIN_FEATURE}; the stem's stride 2 always stays. Unchanged stages when none need it.
 */
export function smallImageStages(imageSize: number, stages: readonly StageArgs[] = efficientNetB0Stages()): StageArgs[] {
  const result = stages.map((stage) => ({ ...stage }));
  const totalStride = (): number => 2 * result.reduce((product, stage) => product * stage.stride, 1);
  for (const stage of result) {
    if (imageSize / totalStride() >= SMALL_IMAGE_MIN_FEATURE) break;
    if (stage.stride > 1) stage.stride = 1;
  }
  return result;
}

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

/** The evaluation transform for `imageSize`: resize + center crop (crop_pct size/(size+32)), or the whole image for small ones. */
export function evalTransform(imageSize: number): EvalTransformSpec {
  return isSmallImage(imageSize) ? { kind: 'eval', size: imageSize, cropPct: 1 } : { kind: 'eval', size: imageSize };
}
