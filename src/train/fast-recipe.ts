/**
 * The fast recipe: what `effnet train` uses by default for small images or small data sets, where the paper's
 * ImageNet recipe (RMSprop-TF at 0.016 per 256 images, a step decay of 0.97 every 2.4 epochs over 350 epochs, weight
 * decay 1e-5, batch 32) is both slow and poorly regularized: on CIFAR-10 it was never competitive, and the quick
 * start already spelled the SGD recipe out flag by flag. Every value here was chosen by the time-to-accuracy ablation
 * on CIFAR-10 (BENCHMARKS.md "Time to accuracy"); flags the user gives always win, field by field.
 *
 * The rule ({@link fastRecipeApplies}): a run trained from scratch whose training size is at most
 * 64 pixels (`isSmallImage`, the small-image rule of the model card) or whose training set has fewer than
 * {@link FAST_RECIPE_MAX_IMAGES} images. Fine-tuning (`--from`) keeps the paper's defaults: its learning rate was not
 * part of the ablation, and a fine-tune at the fast recipe's peak rate would wash out pretrained features.
 */
import { isSmallImage } from '../card/small-images.js';
import type { Recipe } from './trainer.js';

/** Training sets with fewer images than this get the fast recipe at any image size. */
export const FAST_RECIPE_MAX_IMAGES = 100_000;

/** The recipe fields the fast recipe sets where the user did not (see BENCHMARKS.md for the ablation). */
export const FAST_RECIPE: Readonly<Required<Pick<Recipe, 'optimizer' | 'lrPer256' | 'schedule' | 'warmupEpochs' | 'weightDecay' | 'labelSmoothing' | 'emaBuffers'>>> = {
  optimizer: 'sgd',
  lrPer256: 0.2,
  schedule: 'cosine',
  warmupEpochs: 1,
  weightDecay: 5e-4,
  labelSmoothing: 0.1,
  emaBuffers: 'average',
};

/** The fast recipe's batch size (images per step). */
export const FAST_RECIPE_BATCH_SIZE = 128;

/** The batch size of runs outside the fast recipe (the paper's recipe as timm runs it on one device). */
export const PAPER_BATCH_SIZE = 32;

/** What decides whether the fast recipe applies. */
export interface FastRecipeContext {
  /** The model's training resolution in pixels. */
  imageSize: number;
  /** Images in the training set (after the hold-out). */
  trainImages: number;
  /** Whether the run starts from pretrained weights (`--from`). */
  fineTune: boolean;
}

/** Whether `effnet train` uses the fast recipe's defaults for this run (the rule of the module comment). */
export function fastRecipeApplies(context: FastRecipeContext): boolean {
  if (context.fineTune) return false;
  return isSmallImage(context.imageSize) || context.trainImages < FAST_RECIPE_MAX_IMAGES;
}

/** The line `effnet train` logs when the fast recipe applies: why, and that given flags still win. */
export function describeFastRecipe(context: FastRecipeContext): string {
  const why = isSmallImage(context.imageSize)
    ? `images of ${context.imageSize}px (at most 64)`
    : `${context.trainImages} training images (fewer than ${FAST_RECIPE_MAX_IMAGES})`;
  return `fast recipe for ${why}: SGD, ${FAST_RECIPE.lrPer256} per 256 images, cosine after a warm-up of ${FAST_RECIPE.warmupEpochs} epoch (at most a tenth of the run), weight decay ${FAST_RECIPE.weightDecay}, batch ${FAST_RECIPE_BATCH_SIZE} wherever no flag says otherwise (docs/training.md)`;
}

/**
 * `recipe` with every fast-recipe field it leaves unset filled in. The learning rate only where neither `lr` nor
 * `lrPer256` is given and the optimizer is the fast recipe's (0.2 per 256 images is an SGD rate; RMSprop or AdamW
 * keep the Trainer's default).
 */
export function withFastRecipe(recipe: Recipe): Recipe {
  const optimizer = recipe.optimizer ?? FAST_RECIPE.optimizer;
  // The peak rate belongs to the optimizer it was tuned with: another optimizer keeps its own default.
  const lr = recipe.lr === undefined && recipe.lrPer256 === undefined && optimizer === FAST_RECIPE.optimizer ? { lrPer256: FAST_RECIPE.lrPer256 } : {};
  return {
    ...recipe,
    optimizer,
    ...lr,
    schedule: recipe.schedule ?? FAST_RECIPE.schedule,
    // One warm-up epoch, but never more than a tenth of the run (a 5-epoch run warms up for half an epoch).
    warmupEpochs: recipe.warmupEpochs ?? Math.min(FAST_RECIPE.warmupEpochs, recipe.epochs / 10),
    weightDecay: recipe.weightDecay ?? FAST_RECIPE.weightDecay,
    labelSmoothing: recipe.labelSmoothing ?? FAST_RECIPE.labelSmoothing,
    // An EMA turned off (null) stays off; its buffers only matter with one.
    ...(recipe.emaDecay === null ? {} : { emaBuffers: recipe.emaBuffers ?? FAST_RECIPE.emaBuffers }),
  };
}
