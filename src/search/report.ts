/**
 * Reports of a search from the store: the grid search's table with the best (α, β, γ), and the scaling study's
 * markdown table plus an SVG chart of validation accuracy against MACs per strategy.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatDuration } from './progress.js';
import type { SearchRow, TrialRow } from './store.js';
import { lineChartSvg, type ChartSeries } from './svg.js';

function num(value: unknown): number {
  return typeof value === 'number' ? value : NaN;
}

function pct(value: number | null): string {
  return value === null || !Number.isFinite(value) ? '–' : `${(value * 100).toFixed(2)}%`;
}

function millions(value: number | null): string {
  return value === null ? '–' : `${(value / 1e6).toFixed(3)}M`;
}

function configCell(trial: TrialRow): string {
  const c = trial.config.config as { width?: number; depth?: number; resolution?: number } | undefined;
  return c ? `w ${num(c.width).toFixed(3)}, d ${num(c.depth).toFixed(3)}, ${c.resolution}px` : '?';
}

function statusCell(trial: TrialRow): string {
  return trial.status === 'failed' ? `failed: ${(trial.error ?? '').replace(/\|/g, '\\|').replace(/\s+/g, ' ').slice(0, 160)}` : trial.status;
}

/** The best finished grid trial (highest validation top-1; fewer MACs break ties), or null. */
export function bestTrial(trials: readonly TrialRow[]): TrialRow | null {
  let best: TrialRow | null = null;
  for (const t of trials) {
    if (t.status !== 'done' || t.valTop1 === null) continue;
    if (best === null || t.valTop1 > best.valTop1! || (t.valTop1 === best.valTop1 && (t.macs ?? Infinity) < (best.macs ?? Infinity))) best = t;
  }
  return best;
}

function header(search: SearchRow, trials: readonly TrialRow[]): string[] {
  const spec = search.spec;
  const wall = trials.reduce((sum, t) => sum + (t.wallSeconds ?? 0), 0);
  return [
    `- search \`${search.name}\` (${search.kind}), base ${JSON.stringify(spec.base)}`,
    `- data \`${String(spec.data)}\`, budget ${String(spec.budget)} per trial, batch ${String(spec.batchSize)}, seed ${String(spec.seed)}`,
    `- recipe ${JSON.stringify(spec.recipe)}`,
    `- trials: ${trials.filter((t) => t.status === 'done').length} done, ${trials.filter((t) => t.status === 'failed').length} failed, ` +
      `${trials.filter((t) => t.status === 'running' || t.status === 'pending').length} not finished; summed trial wall time ${formatDuration(wall)}`,
  ];
}

/** Markdown report of a grid search: every trial sorted by accuracy, and the best (α, β, γ). */
export function gridReportMarkdown(search: SearchRow, trials: readonly TrialRow[]): string {
  const lines = [`# Compound-scaling grid search: ${search.name}`, '', ...header(search, trials), ''];
  const best = bestTrial(trials);
  lines.push(
    best === null
      ? '**No trial has finished yet.**'
      : `**Best: α = ${num(best.config.alpha).toFixed(2)}, β = ${num(best.config.beta).toFixed(2)}, γ = ${num(best.config.gamma).toFixed(2)}** ` +
          `(α·β²·γ² = ${num(best.config.flopsGrowth).toFixed(3)}${aliasCell(best) ? `; the same network as ${aliasCell(best)}` : ''}), validation top-1 ${pct(best.valTop1)}, ${millions(best.macs)} MACs, ${millions(best.params)} params.`,
    '',
    '| rank | α | β | γ | α·β²·γ² | configuration | params | MACs | val top-1 | wall | status | same network as |',
    '|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|---|',
  );
  const sorted = [...trials].sort((a, b) => (b.valTop1 ?? -1) - (a.valTop1 ?? -1) || a.seq - b.seq);
  sorted.forEach((t, i) => {
    lines.push(
      `| ${t.status === 'done' ? i + 1 : '–'} | ${num(t.config.alpha).toFixed(2)} | ${num(t.config.beta).toFixed(2)} | ${num(t.config.gamma).toFixed(2)} | ${num(t.config.flopsGrowth).toFixed(3)} | ` +
        `${configCell(t)} | ${millions(t.params ?? num(t.config.params))} | ${millions(t.macs ?? num(t.config.macs))} | ${pct(t.valTop1)} | ${t.wallSeconds === null ? '–' : formatDuration(t.wallSeconds)} | ${statusCell(t)} | ${aliasCell(t)} |`,
    );
  });
  const grid = search.spec.grid as { gridPoints?: number } | undefined;
  if (grid?.gridPoints !== undefined) {
    lines.push('', `${grid.gridPoints} grid points meet the constraint; they build ${trials.length} distinct networks (points whose rounded network is identical share one trial, listed in the last column).`);
  }
  return lines.join('\n') + '\n';
}

function aliasCell(trial: TrialRow): string {
  const aliases = trial.config.aliases;
  return Array.isArray(aliases) && aliases.length > 0 ? aliases.map((a) => String((a as { label?: string }).label)).join(', ') : '';
}

/** The chart series of a study: one per strategy, the base point (factor 1) starting every line. */
export function studySeries(trials: readonly TrialRow[]): ChartSeries[] {
  const done = trials.filter((t) => t.status === 'done' && t.valTop1 !== null && t.macs !== null);
  const base = done.find((t) => t.config.strategy === 'base');
  const strategies = [...new Set(trials.map((t) => String(t.config.strategy)).filter((s) => s !== 'base'))];
  return strategies.map((name) => ({
    name,
    points: [...(base ? [base] : []), ...done.filter((t) => t.config.strategy === name)].map((t) => ({ x: t.macs!, y: t.valTop1! })),
  }));
}

/** Markdown report of a scaling study: one row per factor, one column per strategy. */
export function studyReportMarkdown(search: SearchRow, trials: readonly TrialRow[], chartFile = 'accuracy-vs-macs.svg'): string {
  const lines = [`# Scaling study: ${search.name}`, '', ...header(search, trials), ''];
  type Abg = { alpha: number; beta: number; gamma: number };
  const study = search.spec.study as { coefficients?: Abg; extraCompound?: { name: string; coefficients: Abg }[] } | undefined;
  if (study?.coefficients) lines.push(`Compound scaling with α = ${study.coefficients.alpha}, β = ${study.coefficients.beta}, γ = ${study.coefficients.gamma}.`, '');
  for (const series of study?.extraCompound ?? []) {
    lines.push(`\`${series.name}\`: compound scaling with α = ${series.coefficients.alpha}, β = ${series.coefficients.beta}, γ = ${series.coefficients.gamma}.`, '');
  }
  lines.push(`![validation top-1 vs MACs](${chartFile})`, '', '| factor | strategy | configuration | params | MACs (vs target) | val top-1 | wall | status |', '|---:|---|---|---:|---:|---:|---:|---|');
  for (const t of [...trials].sort((a, b) => num(a.config.factor) - num(b.config.factor) || a.seq - b.seq)) {
    const error = num(t.config.relativeError);
    lines.push(
      `| ${num(t.config.factor)} | ${String(t.config.strategy)} | ${configCell(t)} | ${millions(t.params ?? num(t.config.params))} | ` +
        `${millions(t.macs ?? num(t.config.macs))}${Number.isFinite(error) ? ` (${error >= 0 ? '+' : ''}${(error * 100).toFixed(1)}%)` : ''} | ${pct(t.valTop1)} | ` +
        `${t.wallSeconds === null ? '–' : formatDuration(t.wallSeconds)} | ${statusCell(t)} |`,
    );
  }
  lines.push('', 'Best strategy per factor (validation top-1):', '');
  const factors = [...new Set(trials.map((t) => num(t.config.factor)).filter((f) => f !== 1))].sort((a, b) => a - b);
  for (const factor of factors) {
    const cell = trials.filter((t) => num(t.config.factor) === factor);
    const best = bestTrial(cell);
    const tied = best === null ? [] : cell.filter((t) => t.status === 'done' && t.valTop1 === best.valTop1).map((t) => String(t.config.strategy));
    lines.push(`- x${factor}: ${best === null ? 'no finished trial' : `${tied.length > 1 ? `tie between ${tied.join(', ')}` : String(best.config.strategy)} (${pct(best.valTop1)})`}`);
  }
  return lines.join('\n') + '\n';
}

/** Writes report.md (and, for a study, accuracy-vs-macs.svg) into `dir`; returns the files written. */
export function writeReport(dir: string, search: SearchRow, trials: readonly TrialRow[]): string[] {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  if (search.kind === 'study') {
    const svg = lineChartSvg({ title: `Validation top-1 vs MACs (${search.name})`, xLabel: 'MACs per image (log scale)', yLabel: 'validation top-1', series: studySeries(trials), logX: true });
    writeFileSync(join(dir, 'accuracy-vs-macs.svg'), svg);
    files.push(join(dir, 'accuracy-vs-macs.svg'));
    writeFileSync(join(dir, 'report.md'), studyReportMarkdown(search, trials));
  } else {
    writeFileSync(join(dir, 'report.md'), gridReportMarkdown(search, trials));
  }
  files.push(join(dir, 'report.md'));
  return files;
}
