/**
 * The model card (one description of a model, from training to the browser) and its resolver. The browser page
 * imports ./model-card.js alone, which needs neither the engine nor the file system.
 */
export * from './model-card.js';
export * from './resolve.js';
export * from './build.js';
export * from './legacy.js';
export * from './small-images.js';
export * from './config-file.js';
export * from './published.js';
export * from './tta.js';
