/**
 * The small-image rule of the model card (Fashion-MNIST's 28px, CIFAR's 32px), where B0's total stride of 32 would
 * leave 1x1 feature maps for every late block and the network underfits. It decides two fields of a card built
 * for a training size of at most {@link SMALL_IMAGE_MAX_SIZE} pixels:
 *
 * - Architecture: B0's stem keeps its stride 2, and the EARLIEST stride-2 stages become stride 1 until the last
 *   feature map is at least {@link SMALL_IMAGE_MIN_FEATURE} pixels wide: at 32px the total stride drops from 32 to
 *   16 (stem 16x16; the 16- and 24-channel stages at 16x16, the 40-channel stage at 8x8, the 80-channel at 4x4, the
 *   rest at 2x2) instead of B0's 1x1 maps from the 80-channel stage on. Dropping the early strides rather than the
 *   late ones keeps resolution where the features are simple. A last map of 4x4 (total stride 8) costs 2.6x the
 *   compute per image (measured: width 0.5, depth 0.5, batch 128, 2 threads: 344 vs 141 ms per step).
 *   Up-sampling to 40px keeps these strides and gives a 3x3 last map for about 1.56x the compute of 32px
 *   (Fashion-MNIST, 5 epochs: 91.58% vs 91.00% test top-1; BENCHMARKS.md "Training").
 * - Evaluation: the whole image resized to the training size (crop_pct 1), since small data sets are not
 *   photographed with a margin around the object as ImageNet is. Larger sizes get the reference's
 *   crop_pct = size / (size + 32) (224 → resize 256, crop 224).
 *
 * The training augmentation of small images (gentler crops) is the trainer's: src/train/small-images.ts.
 * See docs/training.md.
 */
import { efficientNetB0Stages, type StageArgs } from '../efficientnet/block-spec.js';
import { totalStrideOf } from './model-card.js';

/** Training sizes up to this many pixels get the small-image rule. */
export const SMALL_IMAGE_MAX_SIZE = 64;

/** The smallest last feature map the small-image stages allow, in pixels. */
export const SMALL_IMAGE_MIN_FEATURE = 2;

/** Whether `imageSize` gets the small-image rule. */
export function isSmallImage(imageSize: number): boolean {
  return imageSize <= SMALL_IMAGE_MAX_SIZE;
}

/**
 * `stages` (B0's by default) with the earliest stride-2 stages set to stride 1 until `imageSize / totalStride` is at
 * least {@link SMALL_IMAGE_MIN_FEATURE}; the stem's stride 2 always stays. Unchanged stages when none need it.
 */
export function smallImageStages(imageSize: number, stages: readonly StageArgs[] = efficientNetB0Stages()): StageArgs[] {
  const result = stages.map((stage) => ({ ...stage }));
  for (const stage of result) {
    if (imageSize / totalStrideOf(result) >= SMALL_IMAGE_MIN_FEATURE) break;
    if (stage.stride > 1) stage.stride = 1;
  }
  return result;
}

/** The eval crop fraction of a card for training size `imageSize`: 1 for small images, else size / (size + 32). */
export function defaultCropPct(imageSize: number): number {
  return isSmallImage(imageSize) ? 1 : imageSize / (imageSize + 32);
}
