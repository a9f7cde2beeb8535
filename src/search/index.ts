/**
 * Compound-scaling search: the (α, β, γ) grid, MAC matching of the scaling strategies, the SQLite experiment store,
 * the trial runner with its parallel workers, and the reports. The commands are `effnet scale`, `effnet
 * scale-search` and `effnet scaling-study` (docs/scaling.md).
 */
export * from './budget.js';
export * from '../data/spec.js';
export * from './definitions.js';
export * from './grid.js';
export * from './lock-holder.js';
export * from './match.js';
export * from './progress.js';
export * from './report.js';
export { LEARNING_CURVES_FILE, curveFromEpochMetrics, learningCurveCharts, type CurvePoint } from './curves.js';
export * from './runner.js';
export * from './store.js';
export * from '../chart.js';
export * from './trial.js';
