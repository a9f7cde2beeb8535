/** Training: the Trainer (recipe, epoch loop, evaluation), checkpoints, fine-tuning helpers, metrics log, progress bar, and whole runs as `effnet train` performs them (data specs, the small-image recipe, the summary). */
export * from '../model-file/checkpoint.js';
export * from './finetune.js';
export * from './metrics.js';
export * from './progress.js';
export * from './trainer.js';
export * from './tta-compare.js';
export * from '../data/spec.js';
export * from './run.js';
export * from './small-images.js';
export * from './summary.js';
