/**
 * Reports of a search from the store: the grid search's table with the best (α, β, γ), and the scaling study's
 * markdown table plus an SVG chart of validation accuracy against MACs per strategy.
 */
import { writeFileSync } from 'node:fs';
import { makeDirectory } from '../directories.js';
import { join } from 'node:path';
import { formatDuration } from './progress.js';
import type { Json, SearchRow, TrialRow } from './store.js';
import { lineChartSvg, stackedChartsSvg, type ChartSeries } from '../chart.js';
import { validateScaledConfig } from '../card/config-file.js';
import { profileConfig } from './match.js';
import { groupTrials, type TrialGroup } from './groups.js';
import { LEARNING_CURVES_FILE, endGains, learningCurveCharts, seriesName, type CurvePoint } from './curves.js';
import { CONVERGENCE_MIN_GAIN, CONVERGENCE_MIN_WINDOW } from './budget.js';

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

export { groupTrials, type TrialGroup } from './groups.js';

/** MACs of a group's configuration (the same for every repeat). */
function groupMacs(group: TrialGroup): number {
  const first = group.trials[0]!;
  return first.macs ?? num(first.config.macs);
}

/**
 * The best configuration among finished ones: highest mean validation top-1 over its repeats (the single trial's
 * top-1 without repeats); fewer MACs break ties. Null when no trial has finished.
 */
export function bestGroup(trials: readonly TrialRow[]): TrialGroup | null {
  return bestOf(groupTrials(trials));
}

/** {@link bestGroup} over groups already formed. */
function bestOf(groups: readonly TrialGroup[]): TrialGroup | null {
  let best: TrialGroup | null = null;
  for (const g of groups) {
    if (g.meanTop1 === null) continue;
    if (best === null || g.meanTop1 > best.meanTop1! || (g.meanTop1 === best.meanTop1 && groupMacs(g) < groupMacs(best))) best = g;
  }
  return best;
}

/** A group's validation cell: the top-1, or with repeats the mean ± sd and each run's figure. */
function top1Cell(group: TrialGroup): string {
  if (group.trials.length === 1) return pct(group.meanTop1);
  if (group.meanTop1 === null) return '–';
  const runs = group.top1.map((v) => (v * 100).toFixed(2)).join(', ');
  return `${pct(group.meanTop1)}${group.sdTop1 === null ? '' : ` ± ${(group.sdTop1 * 100).toFixed(2)}`} (${runs})`;
}

/** A group's status: the trial's, or with repeats how many finished, failed and are still to run. */
function groupStatusCell(group: TrialGroup): string {
  if (group.trials.length === 1) return statusCell(group.trials[0]!);
  const done = group.trials.filter((t) => t.status === 'done').length;
  const failed = group.trials.filter((t) => t.status === 'failed');
  const left = group.trials.length - done - failed.length;
  const parts = [`${done}/${group.trials.length} done`];
  if (left > 0) parts.push(`${left} to run`);
  if (failed.length > 0) parts.push(`${failed.length} ${statusCell(failed[0]!)}`);
  return parts.join(', ');
}

/** The summed wall time of a group's trials. */
function groupWallCell(group: TrialGroup): string {
  const timed = group.trials.filter((t) => t.wallSeconds !== null);
  return timed.length === 0 ? '–' : formatDuration(timed.reduce((sum, t) => sum + t.wallSeconds!, 0));
}

function header(search: SearchRow, trials: readonly TrialRow[]): string[] {
  const spec = search.spec;
  const wall = trials.reduce((sum, t) => sum + (t.wallSeconds ?? 0), 0);
  return [
    `- search \`${search.name}\` (${search.kind}), base ${JSON.stringify(spec.base)}`,
    `- data \`${String(spec.data)}\`, budget ${String(spec.budget)} per trial, batch ${String(spec.batchSize)}, ` +
      (num(spec.repeats) > 1
        ? `${num(spec.repeats)} repeats per configuration (seeds ${num(spec.seed)}-${num(spec.seed) + num(spec.repeats) - 1}), ranked by their mean top-1`
        : `seed ${String(spec.seed)}`),
    `- recipe ${JSON.stringify(spec.recipe)}`,
    `- trials: ${trials.filter((t) => t.status === 'done').length} done, ${trials.filter((t) => t.status === 'failed').length} failed, ` +
      `${trials.filter((t) => t.status === 'running' || t.status === 'pending').length} not finished; summed trial wall time ${formatDuration(wall)}`,
  ];
}

/** Markdown report of a grid search: every trial sorted by accuracy, and the best (α, β, γ). */
export function gridReportMarkdown(search: SearchRow, trials: readonly TrialRow[], curves?: ReadonlyMap<number, readonly CurvePoint[]>): string {
  const lines = [`# Compound-scaling grid search: ${search.name}`, '', ...header(search, trials), ''];
  const best = bestGroup(trials);
  const bestTrial = best?.trials[0];
  lines.push(
    best === null || bestTrial === undefined
      ? '**No trial has finished yet.**'
      : `**Best: α = ${num(bestTrial.config.alpha).toFixed(2)}, β = ${num(bestTrial.config.beta).toFixed(2)}, γ = ${num(bestTrial.config.gamma).toFixed(2)}** ` +
          `(α·β²·γ² = ${num(bestTrial.config.flopsGrowth).toFixed(3)}${aliasCell(bestTrial) ? `; the same network as ${aliasCell(bestTrial)}` : ''}), ` +
          `validation top-1 ${best.trials.length > 1 ? `${top1Cell(best)} over ${best.top1.length} seeds` : pct(best.meanTop1)}, ${millions(bestTrial.macs ?? num(bestTrial.config.macs))} MACs, ${millions(bestTrial.params ?? num(bestTrial.config.params))} params.` +
          singleDimensionNote(num(bestTrial.config.alpha), num(bestTrial.config.beta), num(bestTrial.config.gamma)),
    '',
    '| rank | α | β | γ | α·β²·γ² | configuration | params | MACs | activations | val top-1 | train top-1 (gap) | img/s | epochs | wall | status | same network as |',
    '|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---|---|',
  );
  const numClasses = num(search.spec.numClasses);
  const sorted = groupTrials(trials).sort((a, b) => (b.meanTop1 ?? -1) - (a.meanTop1 ?? -1) || a.trials[0]!.seq - b.trials[0]!.seq);
  sorted.forEach((g, i) => {
    const t = g.trials[0]!;
    lines.push(
      `| ${g.meanTop1 !== null ? i + 1 : '–'} | ${num(t.config.alpha).toFixed(2)} | ${num(t.config.beta).toFixed(2)} | ${num(t.config.gamma).toFixed(2)} | ${num(t.config.flopsGrowth).toFixed(3)} | ` +
        `${configCell(t)} | ${millions(t.params ?? num(t.config.params))} | ${millions(t.macs ?? num(t.config.macs))} | ${activationsCell(t, numClasses)} | ${top1Cell(g)} | ` +
        `${trainGapCell(g)} | ${imagesPerSecondCell(g)} | ${epochsCell(g)} | ${groupWallCell(g)} | ${groupStatusCell(g)} | ${aliasCell(t)} |`,
    );
  });
  const grid = search.spec.grid as { gridPoints?: number; macTolerance?: number; outsideMacWindow?: number } | undefined;
  if (grid?.gridPoints !== undefined) {
    const outside = grid.outsideMacWindow ?? 0;
    const window = grid.macTolerance === undefined
      ? ''
      : `; ${outside} of them, with profiled MACs more than ${(grid.macTolerance * 100).toFixed(0)}% away from ${String(search.spec.grid && (search.spec.grid as { target?: number }).target)} x the base's, were left out (--mac-tolerance), so ${sorted.length} are trained`;
    lines.push('', `${grid.gridPoints} grid points meet the constraint; they build ${sorted.length + outside} distinct networks (points whose rounded network is identical share one trial, listed in the last column)${window}.`);
  }
  if (curves !== undefined) lines.push(...endOfTrainingLines(sorted, curves));
  return lines.join('\n') + '\n';
}

/**
 * When the best point scales one dimension only, what that means for the next step: compound scaling with these
 * coefficients is single-dimension scaling (a scaling study's "compound" series becomes that dimension's).
 */
export function singleDimensionNote(alpha: number, beta: number, gamma: number): string {
  const grown = (['depth', 'width', 'resolution'] as const).filter((_, i) => [alpha, beta, gamma][i]! !== 1);
  return grown.length === 1 ? ` It scales ${grown[0]} only: compound scaling with these coefficients is ${grown[0]}-only scaling.` : '';
}

function aliasCell(trial: TrialRow): string {
  const aliases = trial.config.aliases;
  return Array.isArray(aliases) && aliases.length > 0 ? aliases.map((a) => String((a as { label?: string }).label)).join(', ') : '';
}

/**
 * A study's configurations with every alias (a series whose network another series already trains at that factor,
 * see scalingStudyDefinition) as a group of its own: the same trials and results under the alias's strategy, marked
 * with `aliasOf` (the trained configuration's label), so tables, winners and charts list every series.
 */
export function studyGroups(trials: readonly TrialRow[]): TrialGroup[] {
  return groupTrials(trials).flatMap((g) => {
    const aliases = g.trials[0]!.config.aliases;
    if (!Array.isArray(aliases)) return [g];
    const copies = aliases.map((a) => {
      const { label: aliasLabel, ...fields } = a as { [key: string]: Json };
      const label = String(aliasLabel);
      return { ...g, label, trials: g.trials.map((t) => ({ ...t, config: { ...t.config, ...fields, aliases: [], aliasOf: g.label } })) };
    });
    return [g, ...copies];
  });
}

/** The trained configuration an alias group shares, or null for a trained one. */
function aliasOf(group: TrialGroup): string | null {
  const of = group.trials[0]!.config.aliasOf;
  return typeof of === 'string' ? of : null;
}

/** The chart series of a study: one per strategy (its mean top-1 over repeats), the base point (factor 1) starting every line. */
export function studySeries(trials: readonly TrialRow[]): ChartSeries[] {
  const finished = studyGroups(trials).filter((g) => g.meanTop1 !== null);
  const strategy = (g: TrialGroup): string => String(g.trials[0]!.config.strategy);
  const base = finished.find((g) => strategy(g) === 'base');
  const strategies = [...new Set(studyGroups(trials).map((g) => String(g.trials[0]!.config.strategy)).filter((s) => s !== 'base'))];
  return strategies.map((name) => ({
    name,
    points: [...(base ? [base] : []), ...finished.filter((g) => strategy(g) === name)].map((g) => ({ x: groupMacs(g), y: g.meanTop1! })),
  }));
}

/** Markdown report of a scaling study: one row per factor, one column per strategy. */
export function studyReportMarkdown(search: SearchRow, trials: readonly TrialRow[], chartFile = 'accuracy-vs-macs.svg', curves?: ReadonlyMap<number, readonly CurvePoint[]>): string {
  const lines = [`# Scaling study: ${search.name}`, '', ...header(search, trials), ''];
  type Abg = { alpha: number; beta: number; gamma: number };
  const study = search.spec.study as { coefficients?: Abg; extraCompound?: { name: string; coefficients: Abg }[] } | undefined;
  if (study?.coefficients) lines.push(`Compound scaling with α = ${study.coefficients.alpha}, β = ${study.coefficients.beta}, γ = ${study.coefficients.gamma}.`, '');
  for (const series of study?.extraCompound ?? []) {
    lines.push(`\`${series.name}\`: compound scaling with α = ${series.coefficients.alpha}, β = ${series.coefficients.beta}, γ = ${series.coefficients.gamma}.`, '');
  }
  lines.push(
    `![validation top-1 vs MACs](${chartFile})`,
    '',
    '| factor | strategy | configuration | params | MACs (vs target) | activations | val top-1 | train top-1 (gap) | img/s | epochs | wall | status |',
    '|---:|---|---|---:|---:|---:|---:|---:|---:|---|---:|---|',
  );
  const numClasses = num(search.spec.numClasses);
  const groups = studyGroups(trials);
  const factorOf = (g: TrialGroup): number => num(g.trials[0]!.config.factor);
  const strategyOf = (g: TrialGroup): string => String(g.trials[0]!.config.strategy);
  for (const g of [...groups].sort((a, b) => factorOf(a) - factorOf(b) || a.trials[0]!.seq - b.trials[0]!.seq)) {
    const t = g.trials[0]!;
    const error = num(t.config.relativeError);
    lines.push(
      `| ${num(t.config.factor)} | ${String(t.config.strategy)} | ${configCell(t)} | ${millions(t.params ?? num(t.config.params))} | ` +
        `${millions(t.macs ?? num(t.config.macs))}${Number.isFinite(error) ? ` (${error >= 0 ? '+' : ''}${(error * 100).toFixed(1)}%)` : ''} | ${activationsCell(t, numClasses)} | ${top1Cell(g)} | ` +
        `${trainGapCell(g)} | ${imagesPerSecondCell(g)} | ${epochsCell(g)} | ${aliasOf(g) === null ? groupWallCell(g) : '–'} | ${aliasOf(g) === null ? groupStatusCell(g) : `same network as ${aliasOf(g)} (trained once)`} |`,
    );
  }
  lines.push('', `Best strategy per factor (validation top-1${groups.some((g) => g.trials.length > 1) ? ', mean over the seeds' : ''}):`, '');
  const factors = [...new Set(groups.map(factorOf).filter((f) => f !== 1))].sort((a, b) => a - b);
  for (const factor of factors) {
    const cell = groups.filter((g) => factorOf(g) === factor);
    const best = bestOf(cell);
    const tied = best === null ? [] : cell.filter((g) => g.meanTop1 === best.meanTop1).map(strategyOf);
    lines.push(`- x${factor}: ${best === null ? 'no finished trial' : `${tied.length > 1 ? `tie between ${tied.join(', ')}` : strategyOf(best)} (${pct(best.meanTop1)})`}`);
  }
  const compoundNames = [...new Set(groups.map(strategyOf).filter((name) => name === 'compound' || groups.some((g) => strategyOf(g) === name && g.trials[0]!.config.scaling === 'compound')))];
  const comparisons = factors.flatMap((factor) =>
    compoundNames.flatMap((compound) => {
      const c = groups.find((g) => factorOf(g) === factor && strategyOf(g) === compound);
      return ['depth', 'width', 'resolution'].map((single) => {
        const s = groups.find((g) => factorOf(g) === factor && strategyOf(g) === single);
        const sameNetwork = c !== undefined && s !== undefined && (aliasOf(c) === s.label || aliasOf(s) === c.label || (aliasOf(c) !== null && aliasOf(c) === aliasOf(s)));
        const result = c === undefined ? null : sameNetwork ? sameNetworkComparison(c) : compareGroups(c, s);
        const unfinished = [c, s].some((g) => g?.trials.some((t) => t.status === 'pending' || t.status === 'running'));
        return { factor, compound, single, result, sameNetwork, unfinished };
      });
    }),
  );
  if (comparisons.some((row) => row.result !== null)) {
    lines.push(
      '',
      'Compound against each single dimension (difference of mean top-1; standard error sqrt(sd₁²/n₁ + sd₂²/n₂) from the seeds of each; z = difference / standard error):',
      '',
      '| factor | compound | vs | difference | standard error | z | verdict |',
      '|---:|---|---|---:|---:|---:|---|',
    );
    for (const { factor, compound, single, result } of comparisons) {
      if (result === null) continue;
      const points = (v: number): string => `${v >= 0 ? '+' : ''}${(v * 100).toFixed(2)}`;
      lines.push(
        `| ${factor} | ${compound} | ${single} | ${points(result.difference)} | ${result.standardError === null ? '–' : (result.standardError * 100).toFixed(2)} | ` +
          `${result.z === null ? '–' : result.z.toFixed(2)} | ${result.verdict} |`,
      );
    }
    lines.push('', ...claimLines(comparisons));
  }
  if (curves !== undefined) lines.push(...endOfTrainingLines(groupTrials(trials), curves));
  return lines.join('\n') + '\n';
}

/**
 * The paper's claim read off the comparisons, one line per compound series and factor: it holds there only when the
 * series is more than two standard errors ahead of every single dimension (the reading the converged study fixed in
 * advance, docs/scaling.md, item 2). A series that is one single dimension's network at that factor (searched
 * coefficients that scale one dimension) cannot beat it and has no claim of its own to test there. While a trial
 * of the groups compared is still to run, the line is marked interim. The line names which dimensions the series
 * beats, which beat it, which are not separated and which have no standard error yet.
 */
function claimLines(comparisons: readonly { factor: number; compound: string; single: string; result: GroupComparison | null; sameNetwork: boolean; unfinished: boolean }[]): string[] {
  const lines = ['The claim, "compound beats every single dimension by more than 2 standard errors", per compound series and factor:', ''];
  const seen = new Set<string>();
  for (const { factor, compound } of comparisons) {
    if (seen.has(`${factor} ${compound}`)) continue;
    seen.add(`${factor} ${compound}`);
    const all = comparisons.filter((c) => c.factor === factor && c.compound === compound);
    const rows = all.filter((c) => c.result !== null);
    const same = rows.filter((c) => c.sameNetwork).map((c) => c.single);
    const z = new Map(rows.filter((c) => !c.sameNetwork).map((c) => [c.single, c.result!.z]));
    const named = (keep: (value: number | null) => boolean): string[] => [...z].filter(([, value]) => keep(value)).map(([single]) => single);
    const open = [...named((value) => value === null), ...all.filter((c) => c.result === null).map((c) => c.single)];
    const beats = named((value) => value !== null && value > 2);
    const beaten = named((value) => value !== null && value < -2);
    const level = named((value) => value !== null && Math.abs(value) <= 2);
    const parts = [
      beats.length > 0 ? `beats ${beats.join(', ')}` : '',
      level.length > 0 ? `not separated from ${level.join(', ')}` : '',
      beaten.length > 0 ? `beaten by ${beaten.join(', ')}` : '',
      open.length > 0 ? `no standard error yet against ${open.join(', ')}` : '',
    ].filter((part) => part !== '');
    const verdict =
      same.length > 0
        ? `the same network as ${same.join(', ')} here: no claim of its own to test`
        : open.length > 0 || rows.length === 0
          ? 'not decided yet'
          : beats.length === rows.length
            ? '**holds**'
            : '**does not hold**';
    const interim = all.some((c) => c.unfinished) && beats.length + level.length + beaten.length > 0 ? ' (interim: trials of these groups are still to run)' : '';
    lines.push(`- x${factor}, ${compound}: ${verdict}${interim}${parts.length > 0 ? `; ${parts.join('; ')}` : ''}.`);
  }
  return lines;
}

/** The comparison row of two series that are one trained network: no difference to test. */
function sameNetworkComparison(group: TrialGroup): GroupComparison | null {
  return group.meanTop1 === null ? null : { difference: 0, standardError: null, z: null, verdict: 'the same network (trained once): no comparison' };
}

/** The comparison of two configurations' mean top-1 over their seeds. */
export interface GroupComparison {
  /** Mean top-1 of the first minus the second's. */
  difference: number;
  /** sqrt(sd₁²/n₁ + sd₂²/n₂), or null when either has fewer than two finished seeds. */
  standardError: number | null;
  /** difference / standardError, or null without a standard error (or with a zero one). */
  z: number | null;
  /** 'better by > 2 SE', 'within 2 SE', 'worse by > 2 SE', or why there is no verdict. */
  verdict: string;
}

/**
 * Compares configuration `a` with `b` by the difference of their mean top-1 and its standard error from the seeds
 * of each (unequal variances: the Welch form); null when either has no finished trial. The paper's claim is
 * "compound beats each single dimension", so the verdict names the side that is more than two standard errors ahead.
 */
export function compareGroups(a: TrialGroup, b: TrialGroup | undefined): GroupComparison | null {
  if (b === undefined || a.meanTop1 === null || b.meanTop1 === null) return null;
  const difference = a.meanTop1 - b.meanTop1;
  if (a.sdTop1 === null || b.sdTop1 === null) return { difference, standardError: null, z: null, verdict: 'one seed: no standard error (use --repeats)' };
  const standardError = Math.sqrt(a.sdTop1 ** 2 / a.top1.length + b.sdTop1 ** 2 / b.top1.length);
  if (standardError === 0) return { difference, standardError, z: null, verdict: difference === 0 ? 'equal' : 'no spread over the seeds' };
  const z = difference / standardError;
  return { difference, standardError, z, verdict: z > 2 ? 'better by > 2 SE' : z < -2 ? 'worse by > 2 SE' : 'within 2 SE' };
}

/** A trial's activations per image, from its configuration (the profiler; trials stored before the column existed too). */
function activationsCell(trial: TrialRow, numClasses: number): string {
  const config = trial.config.config;
  if (config === null || typeof config !== 'object' || Array.isArray(config)) return '–';
  try {
    return millions(profileConfig(validateScaledConfig(config, 'trial configuration'), { numClasses: Number.isFinite(numClasses) ? numClasses : 1000 }).activations);
  } catch {
    return '–';
  }
}

/** Mean of a metric over a group's finished trials, or null when none recorded it. */
function groupMetricMean(group: TrialGroup, key: string): number | null {
  const values = group.trials.filter((t) => t.status === 'done').map((t) => t.metrics?.[key]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  return values.length === 0 ? null : values.reduce((sum, v) => sum + v, 0) / values.length;
}

/**
 * The section that says which configurations were still learning when their training ended, so that a comparison at
 * a fixed budget is not read as one of what the networks can represent: per trained configuration, the hold-out and
 * training top-1 gained over its last {@link CONVERGENCE_MIN_WINDOW} epochs (mean over its seeds) and the training
 * minus hold-out gap. "under-trained" when the gap is at most 0 (the network does not yet fit its own training data
 * better than unseen data) and both curves still gained at least {@link CONVERGENCE_MIN_GAIN}: the criterion the
 * converged scaling study fixed before its results (docs/scaling.md, "How the study will be read", item 3), with the
 * stop rule's own window and gain as "still rising". Empty when no trial has a long enough curve.
 */
function endOfTrainingLines(groups: readonly TrialGroup[], curves: ReadonlyMap<number, readonly CurvePoint[]>): string[] {
  const points = (v: number | null): string => (v === null ? '–' : `${v >= 0 ? '+' : ''}${(v * 100).toFixed(2)}`);
  const rows = groups.flatMap((g) => {
    const gains = endGains(g, curves, CONVERGENCE_MIN_WINDOW);
    if (gains.trials === 0) return [];
    const train = groupMetricMean(g, 'trainTop1');
    const gap = train === null || g.meanTop1 === null ? null : train - g.meanTop1;
    const rising = gains.valGain !== null && gains.trainGain !== null && gains.valGain >= CONVERGENCE_MIN_GAIN && gains.trainGain >= CONVERGENCE_MIN_GAIN;
    const verdict = gap === null ? '–' : gap <= 0 && rising ? '**under-trained**' : rising ? 'still rising' : 'levelled off';
    return [`| ${seriesName(g)} | ${gains.trials} | ${points(gains.valGain)} | ${points(gains.trainGain)} | ${points(gap)} | ${verdict} |`];
  });
  if (rows.length === 0) return [];
  return [
    '',
    `Still learning at the end? Top-1 gained over each trial's last ${CONVERGENCE_MIN_WINDOW} epochs (points, mean over the seeds), and the last epoch's training top-1 minus the hold-out's; ` +
      `under-trained: a gap of at most 0 with both curves still gaining at least ${(CONVERGENCE_MIN_GAIN * 100).toFixed(1)} points.`,
    '',
    '| configuration | trials | hold-out gain | training gain | train − hold-out | at the end |',
    '|---|---:|---:|---:|---:|---|',
    ...rows,
  ];
}

/** Training-batch top-1 of the last epoch (mean over seeds) and its gap to the hold-out's: over- or under-fitting. */
function trainGapCell(group: TrialGroup): string {
  const train = groupMetricMean(group, 'trainTop1');
  if (train === null || group.meanTop1 === null) return '–';
  const gap = train - group.meanTop1;
  return `${pct(train)} (${gap >= 0 ? '+' : ''}${(gap * 100).toFixed(2)})`;
}

/**
 * How each finished trial of a group ended, in the store's order: with a converge budget, "rule N+A" when the
 * stop rule fired after epoch N and the schedule was annealed over A more epochs, "cap N" when the cap ended it
 * first (the rule never fired: the trial may not have converged), "cap N (rule met)" when the rule was first met at
 * the cap's epoch itself (nothing ended early); otherwise the epochs it trained. A reader of a
 * study "at convergence" needs to see which of its numbers are converged.
 */
function epochsCell(group: TrialGroup): string {
  const cells = group.trials
    .filter((t) => t.status === 'done')
    .map((t) => {
      const m = t.metrics ?? {};
      const epochs = typeof m.epochsCompleted === 'number' ? m.epochsCompleted : null;
      if (!('convergedAtEpoch' in m)) return epochs === null ? '?' : String(epochs);
      const at = m.convergedAtEpoch;
      // The rule first met at the cap's own epoch ended nothing early: the trial ran its full schedule.
      if (typeof at === 'number' && at === epochs && m.annealEpochs === 0) return `cap ${epochs} (rule met)`;
      if (typeof at === 'number') return `rule ${at}+${typeof m.annealEpochs === 'number' ? m.annealEpochs : '?'}`;
      return `cap ${epochs ?? '?'}`;
    });
  return cells.length === 0 ? '–' : cells.join(', ');
}

/** Training images per second of the last epoch, mean over seeds. */
function imagesPerSecondCell(group: TrialGroup): string {
  const rate = groupMetricMean(group, 'trainImagesPerSecond');
  return rate === null ? '–' : String(Math.round(rate));
}

/**
 * What a grid search hands to the next step of the method (best.json, `effnet scale --from-search`, `effnet
 * scaling-study --from-search`): the α, β, γ of its best configuration (mean over its repeats), with the evidence.
 */
export interface GridBest {
  /** The search's name. */
  search: string;
  /** The best grid point's coefficients. */
  alpha: number;
  beta: number;
  gamma: number;
  /** The configuration's label, e.g. 'a1.20_b1.10_g1.15'. */
  label: string;
  /** Mean validation top-1 over its finished repeats, their sample sd (null with one) and each value. */
  meanTop1: number;
  sdTop1: number | null;
  top1: number[];
  /** The training seed of each of those finished repeats, in the same order as top1. */
  seeds: number[];
  /** The scaled configuration, its params and MACs. */
  config: { [key: string]: Json };
  params: number;
  macs: number;
  /** Finished and all trials of the search when this was taken (a best of a search still running may change). */
  finishedTrials: number;
  totalTrials: number;
}

/** The best configuration of a grid search as {@link GridBest}, or null when no trial has finished. */
export function gridBest(search: SearchRow, trials: readonly TrialRow[]): GridBest | null {
  const best = bestGroup(trials);
  const first = best?.trials[0];
  if (best === null || best.meanTop1 === null || first === undefined) return null;
  return {
    search: search.name,
    alpha: num(first.config.alpha),
    beta: num(first.config.beta),
    gamma: num(first.config.gamma),
    label: best.label,
    meanTop1: best.meanTop1,
    sdTop1: best.sdTop1,
    top1: best.top1,
    seeds: best.trials.filter((t) => t.status === 'done' && t.valTop1 !== null).map((t) => num(t.config.seed ?? search.spec.seed)),
    config: first.config.config as { [key: string]: Json },
    params: first.params ?? num(first.config.params),
    macs: first.macs ?? num(first.config.macs),
    finishedTrials: trials.filter((t) => t.status === 'done').length,
    totalTrials: trials.length,
  };
}

/** The file beside a grid search's report that holds its {@link GridBest}. */
export const GRID_BEST_FILE = 'best.json';

/**
 * Writes report.md (and, for a study, accuracy-vs-macs.svg; for a grid search with a finished trial, best.json) into
 * `dir`; with `curves` (trial id to its per-epoch top-1, from the store's epoch metrics) also curves.svg, the
 * configurations' learning curves, linked from the report. Returns the files written.
 */
export function writeReport(dir: string, search: SearchRow, trials: readonly TrialRow[], curves?: ReadonlyMap<number, readonly CurvePoint[]>): string[] {
  makeDirectory(dir);
  const files: string[] = [];
  const curveCharts = curves === undefined ? [] : learningCurveCharts(search, trials, curves);
  const curvesLink =
    curveCharts.length === 0
      ? ''
      : `\n## Learning curves\n\nHold-out and training top-1 per epoch, the mean over each configuration's seeds (a trial the stop rule ended contributes up to its last epoch): rising at the end means the trial had not converged.\n\n![learning curves](${LEARNING_CURVES_FILE})\n`;
  if (curveCharts.length > 0) {
    writeFileSync(join(dir, LEARNING_CURVES_FILE), stackedChartsSvg(curveCharts));
    files.push(join(dir, LEARNING_CURVES_FILE));
  }
  if (search.kind === 'study') {
    const svg = lineChartSvg({ title: `Validation top-1 vs MACs (${search.name})`, xLabel: 'MACs per image (log scale)', yLabel: 'validation top-1', series: studySeries(trials), logX: true });
    writeFileSync(join(dir, 'accuracy-vs-macs.svg'), svg);
    files.push(join(dir, 'accuracy-vs-macs.svg'));
    writeFileSync(join(dir, 'report.md'), studyReportMarkdown(search, trials, 'accuracy-vs-macs.svg', curves) + curvesLink);
  } else {
    writeFileSync(join(dir, 'report.md'), gridReportMarkdown(search, trials, curves) + curvesLink);
    const best = gridBest(search, trials);
    if (best !== null) {
      writeFileSync(join(dir, GRID_BEST_FILE), `${JSON.stringify(best, null, 2)}\n`);
      files.push(join(dir, GRID_BEST_FILE));
    }
  }
  files.push(join(dir, 'report.md'));
  return files;
}
