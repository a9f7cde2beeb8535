/** Training: the Trainer (recipe, epoch loop, evaluation), checkpoints, fine-tuning helpers, metrics log and the progress bar. */
export * from './checkpoint.js';
export * from './finetune.js';
export * from './metrics.js';
export * from './progress.js';
export * from './trainer.js';
