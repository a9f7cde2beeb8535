/**
 * The files of a run directory, by role: the one set of names that `effnet train` writes, resume, eval, export,
 * predict and the searches read, and the model-file layer locates (a run directory passed where a model is expected).
 */
export const RUN_FILES = {
  /** The finished run's weights with its card. */
  model: 'model.safetensors',
  /** The finished run's EMA weights, when the run kept an EMA. */
  emaModel: 'model_ema.safetensors',
  /** The training checkpoint of the last epoch (resume reads it). */
  last: 'last.safetensors',
  /** The training checkpoint of the best validation epoch. */
  best: 'best.safetensors',
  /** The run's final figures. */
  summary: 'summary.json',
  /** The flags and data the run started with (resume checks them). */
  description: 'run.json',
  /** The images held out for validation. */
  split: 'split.json',
  /** One JSON record per epoch. */
  metricsJsonl: 'metrics.jsonl',
  /** The same records as CSV. */
  metricsCsv: 'metrics.csv',
} as const;
