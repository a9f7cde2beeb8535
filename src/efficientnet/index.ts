/**
 * EfficientNet's engine-independent half: the block-spec grammar, compound scaling, the variant registry, the
 * analytic profiler and the MAC-budget solver. The model module builds on the {@link NetworkSpec} these produce.
 */
export * from './block-spec.js';
export * from './scaling.js';
export * from './variants.js';
export * from './profile.js';
export * from './solver.js';
export * from './batch-norm.js';
export * from './model.js';
export * from './layers.js';
