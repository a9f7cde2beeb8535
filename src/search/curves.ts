/**
 * Learning curves of a search's configurations: hold-out and training top-1 per epoch, from the epoch metrics the
 * store keeps for every trial. The final-accuracy tables say which configuration won; the curves say whether the
 * comparison was made at convergence (flat at the end) or while some networks were still learning (rising at the
 * cap), which is what decides whether a scaling result is about the network or about the training budget.
 */
import type { ChartSeries, LineChartOptions } from '../chart.js';
import type { Json, SearchRow, TrialRow } from './store.js';
import { groupTrials, type TrialGroup } from './groups.js';

/** The file beside a search's report that holds its learning curves. */
export const LEARNING_CURVES_FILE = 'curves.svg';

/** One epoch of a trial: its hold-out and training top-1 (null where the epoch did not record one). */
export interface CurvePoint {
  /** Epoch, from 1. */
  epoch: number;
  /** Hold-out top-1 after the epoch. */
  valTop1: number | null;
  /** Training top-1 over the epoch. */
  trainTop1: number | null;
}

/** A trial's curve from its stored epoch metrics (the rows of ExperimentStore.epochMetrics). */
export function curveFromEpochMetrics(rows: readonly { epoch: number; metrics: { [key: string]: Json } }[]): CurvePoint[] {
  const num = (value: Json | undefined): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null);
  return rows.map((row) => ({ epoch: row.epoch, valTop1: num(row.metrics.valTop1), trainTop1: num(row.metrics.trainTop1) }));
}

/**
 * One series per configuration: at each epoch, the mean of `key` over the group's finished trials that recorded it
 * (a trial the stop rule ended early stops contributing after its last epoch).
 */
function meanSeries(group: TrialGroup, name: string, curves: ReadonlyMap<number, readonly CurvePoint[]>, key: 'valTop1' | 'trainTop1'): ChartSeries {
  const sums = new Map<number, { sum: number; count: number }>();
  for (const trial of group.trials) {
    if (trial.status !== 'done') continue;
    for (const point of curves.get(trial.id) ?? []) {
      const value = point[key];
      if (value === null) continue;
      const entry = sums.get(point.epoch) ?? { sum: 0, count: 0 };
      entry.sum += value;
      entry.count += 1;
      sums.set(point.epoch, entry);
    }
  }
  return { name, points: [...sums].sort(([a], [b]) => a - b).map(([epoch, { sum, count }]) => ({ x: epoch, y: sum / count })) };
}

/** The legend name of a group: its label, with the configurations that share its network (a study's aliases). */
export function seriesName(group: TrialGroup): string {
  const aliases = group.trials[0]!.config.aliases;
  const names = Array.isArray(aliases) ? aliases.map((a) => String((a as { [key: string]: Json }).label)) : [];
  return names.length === 0 ? group.label : `${group.label} = ${names.join(' = ')}`;
}

/** A pair of charts (hold-out, then training top-1 per epoch) for the groups given. */
function chartPair(title: string, groups: readonly TrialGroup[], curves: ReadonlyMap<number, readonly CurvePoint[]>): LineChartOptions[] {
  const withData = groups.filter((g) => g.trials.some((t) => t.status === 'done' && (curves.get(t.id)?.length ?? 0) > 0));
  // About 7 px per character of the legend's 12 px sans-serif, after the 46 px of its line sample.
  const legendWidth = Math.max(160, 60 + 7 * Math.max(0, ...withData.map((g) => seriesName(g).length)));
  const make = (key: 'valTop1' | 'trainTop1', what: string): LineChartOptions => ({
    title: `${title}: ${what} per epoch (mean over seeds)`,
    xLabel: 'epoch',
    yLabel: what,
    series: withData.map((g) => meanSeries(g, seriesName(g), curves, key)),
    width: 600 + legendWidth,
    legendWidth,
  });
  return [make('valTop1', 'hold-out top-1'), make('trainTop1', 'training top-1')];
}

/**
 * The learning-curve charts of a search, to be stacked into one SVG: a grid search's configurations in one pair
 * of charts (hold-out and training top-1 per epoch); a study's in one pair per factor, each with the base (factor 1)
 * and the strategies trained at that factor. Returns [] when no finished trial has a stored curve.
 */
export function learningCurveCharts(search: SearchRow, trials: readonly TrialRow[], curves: ReadonlyMap<number, readonly CurvePoint[]>): LineChartOptions[] {
  const groups = groupTrials(trials);
  if (!groups.some((g) => g.trials.some((t) => t.status === 'done' && (curves.get(t.id)?.length ?? 0) > 0))) return [];
  if (search.kind !== 'study') return chartPair(`${search.name}`, groups, curves);
  const factorOf = (g: TrialGroup): number => Number(g.trials[0]!.config.factor ?? 1);
  const base = groups.filter((g) => String(g.trials[0]!.config.strategy) === 'base');
  const factors = [...new Set(groups.map(factorOf).filter((f) => f !== 1))].sort((a, b) => a - b);
  return factors.flatMap((factor) => chartPair(`${search.name}, x${factor}`, [...base, ...groups.filter((g) => factorOf(g) === factor && !base.includes(g))], curves));
}

/** What a configuration's trials still gained at the end of their training ({@link endGains}). */
export interface EndGains {
  /** Epochs the gains are measured over. */
  window: number;
  /** Finished trials whose curve has their last epoch and the one `window` before it, over which the gains are averaged. */
  trials: number;
  /** Mean over those trials of the hold-out top-1 at their last epoch minus `window` epochs before; null without one. */
  valGain: number | null;
  /** The same for the training top-1. */
  trainGain: number | null;
}

/**
 * How much a configuration was still learning when its training ended: per finished trial, its last epoch's top-1
 * minus its top-1 `window` epochs before (a trial the stop rule ended is measured at its own last epoch), averaged
 * over the trials. A final-accuracy comparison at a fixed budget is about the networks only where these are small.
 */
export function endGains(group: TrialGroup, curves: ReadonlyMap<number, readonly CurvePoint[]>, window: number): EndGains {
  const val: number[] = [];
  const train: number[] = [];
  let trials = 0;
  for (const trial of group.trials) {
    const curve = trial.status === 'done' ? curves.get(trial.id) : undefined;
    const last = curve?.[curve.length - 1];
    const before = last === undefined ? undefined : curve!.find((point) => point.epoch === last.epoch - window);
    if (last === undefined || before === undefined) continue;
    trials += 1;
    if (last.valTop1 !== null && before.valTop1 !== null) val.push(last.valTop1 - before.valTop1);
    if (last.trainTop1 !== null && before.trainTop1 !== null) train.push(last.trainTop1 - before.trainTop1);
  }
  const mean = (values: number[]): number | null => (values.length === 0 ? null : values.reduce((sum, v) => sum + v, 0) / values.length);
  return { window, trials, valGain: mean(val), trainGain: mean(train) };
}
