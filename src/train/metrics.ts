/**
 * Classification metrics (top-1 / top-5 counts) and the per-epoch metrics log of a run directory: one JSON object
 * per line in metrics.jsonl and one row per epoch in metrics.csv (header written with the first row).
 */
import { appendFileSync, existsSync } from 'node:fs';
import { makeDirectory } from '../directories.js';
import { join } from 'node:path';
import { eq, noGrad, select, sum, tidy, topk, unsqueeze, type Tensor } from '../torch/index.js';
import { RUN_FILES } from '../model-file/run-files.js';

/** How many of a batch's samples have their label among the top 1 and the top k logits. */
export function countCorrect(logits: Tensor, labels: Tensor, k = 5): { top1: number; topk: number } {
  return noGrad(() =>
    tidy(() => {
      const classes = logits.shape[1]!;
      const kk = Math.min(k, classes);
      const { indices } = topk(logits, kk, { dim: 1 });
      const hits = eq(indices, unsqueeze(labels, 1));
      const top1 = Number(sum(select(hits, 1, 0)).item());
      const topK = Number(sum(hits).item());
      return { top1, topk: topK };
    }),
  );
}

/** One epoch's record in the metrics log. Values are numbers or null (not measured). */
export type MetricsRecord = Record<string, number | null>;

/** File names of the metrics log inside a run directory. */

/**
 * Appends `record` to runDir/metrics.jsonl and runDir/metrics.csv. The CSV's columns are the record's keys; the
 * header is written when the file is new. Records of one run must have the same keys in the same order.
 */
export function appendMetrics(runDir: string, record: MetricsRecord): void {
  makeDirectory(runDir);
  appendFileSync(join(runDir, RUN_FILES.metricsJsonl), `${JSON.stringify(record)}\n`);
  const csv = join(runDir, RUN_FILES.metricsCsv);
  const keys = Object.keys(record);
  const row = keys.map((key) => (record[key] === null ? '' : String(record[key]))).join(',');
  appendFileSync(csv, existsSync(csv) ? `${row}\n` : `${keys.join(',')}\n${row}\n`);
}
