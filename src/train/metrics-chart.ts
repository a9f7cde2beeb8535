/**
 * The chart of a run: loss, top-1 and learning rate per epoch (SVG, beside metrics.csv as metrics.svg), rewritten
 * after every epoch from the same records, so a user opens one file to see whether the run is learning,
 * overfitting or diverging. The same chart writer as the searches' charts (src/chart.ts); each marker carries its
 * exact value, so the chart can be checked against metrics.csv.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stackedChartsSvg, type ChartSeries } from '../chart.js';
import type { MetricsRecord } from './metrics.js';
import { RUN_FILES } from '../model-file/run-files.js';

/** The chart's file name inside a run directory. */
export const METRICS_CHART_FILE = 'metrics.svg';

/** The chart's series: the metrics.jsonl key each one plots, by panel. */
export const CHART_PANELS = [
  { title: 'loss', yLabel: 'cross entropy', keys: { 'train loss': 'trainLoss', 'val loss': 'valLoss', 'EMA val loss': 'emaLoss' } },
  { title: 'top-1 accuracy', yLabel: 'top-1', keys: { 'train top-1': 'trainTop1', 'val top-1': 'valTop1', 'EMA val top-1': 'emaTop1' } },
  { title: 'learning rate (at the epoch\'s last step)', yLabel: 'lr', keys: { lr: 'lr' } },
] as const;

/** The SVG of a run's epoch records (what metrics.jsonl holds, in order). */
export function metricsChartSvg(records: readonly MetricsRecord[], title = 'training run'): string {
  return stackedChartsSvg(
    CHART_PANELS.map((panel) => {
      const series: ChartSeries[] = [];
      for (const [name, key] of Object.entries(panel.keys)) {
        const points = records.filter((r) => typeof r[key] === 'number' && Number.isFinite(r[key])).map((r) => ({ x: r.epoch as number, y: r[key] as number }));
        if (points.length > 0) series.push({ name, points });
      }
      return { title: `${title}: ${panel.title}`, xLabel: 'epoch', yLabel: panel.yLabel, series, height: 300 };
    }),
  );
}

/** Writes DIR/metrics.svg for `records`. */
export function writeMetricsChart(runDir: string, records: readonly MetricsRecord[]): void {
  writeFileSync(join(runDir, METRICS_CHART_FILE), metricsChartSvg(records, runDir));
}

/** Rewrites DIR/metrics.svg from DIR/metrics.jsonl (every epoch of the run, earlier invocations included). */
export function updateMetricsChart(runDir: string): void {
  const path = join(runDir, RUN_FILES.metricsJsonl);
  if (!existsSync(path)) return;
  const records = readFileSync(path, 'utf8').split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line) as MetricsRecord);
  writeMetricsChart(runDir, records);
}
