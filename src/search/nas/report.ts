/**
 * The architecture search's report: every trained candidate with its reward, accuracy, MACs, parameters, latency and
 * zero-cost score; the Pareto fronts (accuracy vs MACs, and vs latency when measured) with their hypervolumes; the
 * Spearman rank correlation of each cheap fidelity (zero-cost score, parameter count, MACs, the low-fidelity
 * accuracy) with the highest fidelity trained; an SVG chart of all candidates with the front; and the reward-best
 * baseline written as a configuration file (`best.json`) that `effnet train --config`, `effnet scale-search --base`
 * and `effnet scale` take, beside the path of its trained model (which `effnet export` takes).
 */
import { writeFileSync } from 'node:fs';
import { shellArgument } from '../../printable.js';
import { makeDirectory } from '../../directories.js';
import { join } from 'node:path';
import { writeScaledConfig, type ScaledConfigJson } from '../../card/config-file.js';
import type { SearchRow, TrialRow } from '../store.js';
import { lineChartSvg } from '../../chart.js';
import { hypervolume, paretoFront, type TradeOffPoint } from './pareto.js';
import { resolveSearchSpace } from './space.js';
import { compareGroups, type TrialGroup } from '../report.js';
import type { Candidate } from './strategy.js';
import { bestDistinctNetworks, bestTrial, candidateConfig, trialReward, type NasSpec, type NasTrialConfig, type ScreenRecord } from './search.js';

/** One candidate of a one-shot search's shared-weight ranking (the fields of the report; oneshot/search.ts writes them). */
export interface SharedWeightRanking {
  index: number;
  candidate: Candidate;
  /** Shared-weight top-1 (0..1). */
  accuracy: number;
  macs: number;
  params: number;
  reward: number;
  /** Seconds its ranking took. */
  seconds: number;
}

/** Ranks with ties averaged (1-based), as Spearman's ρ needs. */
export function averageRanks(values: readonly number[]): number[] {
  const order = values.map((v, i) => ({ v, i })).sort((a, b) => a.v - b.v);
  const ranks = new Array<number>(values.length);
  for (let start = 0; start < order.length; ) {
    let end = start;
    while (end + 1 < order.length && order[end + 1]!.v === order[start]!.v) end += 1;
    const rank = (start + end) / 2 + 1;
    for (let k = start; k <= end; k++) ranks[order[k]!.i] = rank;
    start = end + 1;
  }
  return ranks;
}

/** Spearman's rank correlation ρ of two equally long series (Pearson's r of their average ranks); NaN below 3 pairs. */
export function spearman(x: readonly number[], y: readonly number[]): number {
  if (x.length !== y.length) throw new Error(`spearman: ${x.length} vs ${y.length} values`);
  if (x.length < 3) return NaN;
  const rx = averageRanks(x);
  const ry = averageRanks(y);
  const mean = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;
  const mx = mean(rx);
  const my = mean(ry);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < rx.length; i++) {
    sxy += (rx[i]! - mx) * (ry[i]! - my);
    sxx += (rx[i]! - mx) ** 2;
    syy += (ry[i]! - my) ** 2;
  }
  return sxx === 0 || syy === 0 ? NaN : sxy / Math.sqrt(sxx * syy);
}

/** One fidelity correlation of the report. */
export interface FidelityCorrelation {
  /** The cheap signal. */
  signal: string;
  /** The fidelity it is compared with. */
  against: string;
  /** Spearman's ρ. */
  rho: number;
  /** Candidates with both. */
  count: number;
}

/** The candidate's root search trial: promotions point to their parent's sequence number. */
function rootSeq(trial: TrialRow, bySeq: Map<number, TrialRow>): number {
  let current = trial;
  for (;;) {
    const parent = (current.config as NasTrialConfig).parent;
    if (parent === null || parent === undefined) return current.seq;
    current = bySeq.get(parent) ?? current;
    if (current === trial) return trial.seq;
  }
}

/**
 * The fidelity correlations of a search: per rung r ≥ 1, the accuracy at rung r against the zero-cost score, the
 * parameter count, the MACs and the accuracy at every lower rung, over the candidates that reached rung r; and the
 * same cheap signals against the search stage's accuracy (rung 0) over every trained candidate.
 */
export function fidelityCorrelations(trials: readonly TrialRow[]): FidelityCorrelation[] {
  const bySeq = new Map(trials.map((t) => [t.seq, t]));
  const done = trials.filter((t) => t.status === 'done' && t.valTop1 !== null && (t.config as NasTrialConfig).rung >= 0);
  const byRoot = new Map<number, Map<number, TrialRow>>();
  for (const t of done) {
    const root = rootSeq(t, bySeq);
    if (!byRoot.has(root)) byRoot.set(root, new Map());
    byRoot.get(root)!.set((t.config as NasTrialConfig).rung, t);
  }
  const rungs = [...new Set(done.map((t) => (t.config as NasTrialConfig).rung))].sort((a, b) => a - b);
  const out: FidelityCorrelation[] = [];
  for (const rung of rungs) {
    const reached = [...byRoot.values()].filter((m) => m.has(rung));
    const final = reached.map((m) => m.get(rung)!.valTop1!);
    const against = rung === 0 ? 'accuracy (search budget)' : `accuracy at rung ${rung}`;
    const add = (signal: string, values: (number | null)[]): void => {
      const pairs = values.map((v, i) => [v, final[i]!] as const).filter(([v]) => v !== null && Number.isFinite(v)) as [number, number][];
      out.push({ signal, against, rho: spearman(pairs.map((p) => p[0]), pairs.map((p) => p[1])), count: pairs.length });
    };
    const root = (m: Map<number, TrialRow>): NasTrialConfig => m.get(0)?.config as NasTrialConfig ?? (m.get(rung)!.config as NasTrialConfig);
    add('NASWOT score', reached.map((m) => root(m).naswot));
    add('shared-weight accuracy', reached.map((m) => root(m).shared ?? null));
    add('parameters', reached.map((m) => root(m).params));
    add('MACs', reached.map((m) => root(m).macs));
    for (let lower = 0; lower < rung; lower++) add(lower === 0 ? 'accuracy (search budget)' : `accuracy at rung ${lower}`, reached.map((m) => m.get(lower)?.valTop1 ?? null));
  }
  return out;
}

/** The same correlations for the screened candidates: NASWOT against parameters and MACs (no training involved). */
export function screenCorrelations(records: readonly ScreenRecord[]): FidelityCorrelation[] {
  const scores = records.map((r) => r.naswot);
  return [
    { signal: 'NASWOT score', against: 'parameters', rho: spearman(scores, records.map((r) => r.params)), count: records.length },
    { signal: 'NASWOT score', against: 'MACs', rho: spearman(scores, records.map((r) => r.macs)), count: records.length },
  ];
}

const pct = (v: number | null | undefined): string => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(2)}%`);
const mega = (v: number): string => `${(v / 1e6).toFixed(2)}M`;

function front(trials: readonly TrialRow[], cost: (t: TrialRow) => number): { points: TradeOffPoint[]; front: TradeOffPoint[]; volume: number } {
  const points = trials.map((t) => ({ accuracy: t.valTop1!, cost: cost(t), id: t.seq })).filter((p) => Number.isFinite(p.cost) && p.cost > 0);
  const reference = { accuracy: 0, cost: Math.max(...points.map((p) => p.cost)) * 1.1 };
  return { points, front: paretoFront(points), volume: points.length === 0 ? 0 : hypervolume(points, reference) };
}

/** The trial directory of a trial (its trained model, which `effnet export --checkpoint` takes). */
function trialDirectory(spec: NasSpec, trial: TrialRow): string {
  return join(spec.runDir, `trial-${String(trial.seq).padStart(3, '0')}-attempt${trial.attempts}`);
}

/**
 * The commands a user runs after an architecture search, on its reward-best trial `best` with the report in `dir`:
 * `effnet scale-search` around best.json (the method's step 2, at the search's own per-trial budget), `effnet train
 * --config best.json` (the baseline at a full budget), `effnet export` of the trial's trained model. Paths and the
 * data spec are quoted for a POSIX shell where they need it.
 */
export function nasNextCommands(dir: string, spec: NasSpec, best: TrialRow): string[] {
  const q = shellArgument;
  const bestPath = q(join(dir, 'best.json'));
  const data = q(spec.data);
  return [
    `npx effnet scale-search --base ${bestPath} --data ${data} --budget ${q(spec.budget)}`,
    `npx effnet train --config ${bestPath} --data ${data} --out ${q(join(dir, 'best-run'))}`,
    `npx effnet export --checkpoint ${q(trialDirectory(spec, best))} --out ${q(join(dir, 'best.onnx'))}`,
  ];
}

/**
 * Writes report.md, candidates.svg (accuracy vs MACs, every candidate of the search stage, the front highlighted),
 * latency.svg when latency was measured, and best.json; returns the files written.
 */
export function writeNasReport(
  dir: string,
  search: SearchRow,
  spec: NasSpec,
  trials: readonly TrialRow[],
  screened: readonly ScreenRecord[],
  extra: { machineryMsPerTrial?: number; ranked?: readonly SharedWeightRanking[] } = {},
): string[] {
  makeDirectory(dir);
  const files: string[] = [];
  const stage0 = trials.filter((t) => t.status === 'done' && (t.config as NasTrialConfig).rung === 0 && t.valTop1 !== null);
  const failed = trials.filter((t) => t.status === 'failed');
  const macsFront = front(stage0, (t) => Number((t.config as NasTrialConfig).macs));
  const latencyMeasured = stage0.some((t) => typeof t.metrics?.latencyMs === 'number');
  const latencyFront = latencyMeasured ? front(stage0, (t) => Number(t.metrics?.latencyMs)) : null;
  const best = bestTrial(spec, trials);
  const lines: string[] = [
    `# Architecture search '${search.name}'`,
    '',
    `Space \`${spec.space.name}\`, strategy \`${spec.strategy}\`, reward \`${spec.reward.kind}\` (target ${spec.cost === 'macs' ? `${mega(spec.reward.target)} MACs` : `${spec.reward.target} ms`}${spec.reward.targetDerived ? ', derived from the proxy' : ''}${spec.reward.kind === 'soft' ? `, w = ${spec.reward.exponent}` : spec.reward.kind === 'abs' ? `, β = ${spec.reward.beta}` : ''}), ` +
      `${spec.resolution}px proxy, budget ${spec.budget} per trial, ${spec.oneshot !== null ? `${spec.oneshot.candidates} candidates ranked with the shared weights of the supernet \`${spec.oneshot.supernet}\` (BN recalibrated on ${spec.oneshot.calibration} batches of 64 training images, top-1 on ${spec.oneshot.valImages} hold-out images), the best ${spec.trials} trained standalone` : `${spec.trials} trials`}${spec.screen > 0 ? `, ${spec.screen} screened (NASWOT), ${spec.warm} of them trained first` : ''}${spec.rungs > 0 ? `, ${spec.rungs} successive-halving rung(s) with η = ${spec.eta}` : ''}.`,
    '',
    `Trained: ${trials.filter((t) => t.status === 'done').length}, failed: ${failed.length}.${extra.machineryMsPerTrial === undefined ? '' : ` Machinery (asking, telling, storing) per trial: ${extra.machineryMsPerTrial.toFixed(1)} ms.`}`,
    '',
  ];
  if (best !== null) {
    const config = best.config as NasTrialConfig;
    lines.push(
      '## Best baseline',
      '',
      `\`${best.label}\`: reward ${trialReward(spec, best).toFixed(4)}, top-1 ${pct(best.valTop1)}, ${mega(config.macs)} MACs, ${mega(config.params)} params. Written to \`best.json\`; its trained model: \`${trialDirectory(spec, best)}\`.`,
      '',
      '```',
      ...(config.config.stages as string[]),
      '```',
      '',
    );
    const bestPath = join(dir, 'best.json');
    writeScaledConfig(bestPath, config.config as unknown as ScaledConfigJson);
    files.push(bestPath);
    lines.push('## Next', '', 'The method\'s next steps from this baseline (the grid search of α, β, γ at φ = 1, a full training, an ONNX file of the trial\'s model):', '', '```sh', ...nasNextCommands(dir, spec, best), '```', '');
  }
  const compared = trials.filter((t) => (t.config as NasTrialConfig).stage === 'compare');
  if (compared.length > 0) {
    const summary = (role: string): string => {
      const runs = compared.filter((t) => (t.config as NasTrialConfig).role === role && t.status === 'done' && t.valTop1 !== null);
      if (runs.length === 0) return `| ${role} | – | – | 0 |`;
      const values = runs.map((t) => t.valTop1!);
      const mean = values.reduce((s, v) => s + v, 0) / values.length;
      const sd = values.length > 1 ? Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (values.length - 1)) : NaN;
      const config = runs[0]!.config as NasTrialConfig;
      const rewards = runs.map((t) => trialReward(spec, t));
      const meanReward = rewards.reduce((s, v) => s + v, 0) / rewards.length;
      return `| ${role === 'best' ? 'found (reward-best)' : `base (${spec.space.name})`} | ${(mean * 100).toFixed(2)}% ± ${Number.isNaN(sd) ? '–' : (sd * 100).toFixed(2)} | ${meanReward.toFixed(4)} | ${mega(config.macs)} | ${mega(config.params)} | ${values.map((v) => (v * 100).toFixed(2)).join(', ')} |`;
    };
    const group = (role: string): TrialGroup => {
      const runs = compared.filter((t) => (t.config as NasTrialConfig).role === role && t.status === 'done' && t.valTop1 !== null);
      const top1 = runs.map((t) => t.valTop1!);
      const mean = top1.length === 0 ? null : top1.reduce((s, v) => s + v, 0) / top1.length;
      const sd = mean === null || top1.length < 2 ? null : Math.sqrt(top1.reduce((s, v) => s + (v - mean) ** 2, 0) / (top1.length - 1));
      return { label: role, trials: runs, top1, meanTop1: mean, sdTop1: sd };
    };
    const versus = compareGroups(group('best'), group('base'));
    lines.push(
      `## Comparison with the base network (${spec.compareBudget}, seeds ${spec.seed + 1000}..${spec.seed + 999 + spec.compareRepeats})`,
      '',
      '| network | top-1 mean ± sd | reward (mean) | MACs | params | runs |',
      '|---|---|---|---|---|---|',
      summary('best'),
      summary('base'),
      '',
      versus === null
        ? 'Found minus base: – (a side has no finished run).'
        : `Found minus base: ${(versus.difference * 100).toFixed(2)} points, Welch standard error ${versus.standardError === null ? '–' : (versus.standardError * 100).toFixed(2)}, ` +
          `t = ${versus.z === null ? '–' : versus.z.toFixed(2)}: ${versus.verdict} (the goal: better by more than 2 standard errors at no more MACs).`,
      '',
    );
  }
  lines.push(
    '## Pareto front (accuracy vs MACs, search stage)',
    '',
    `Hypervolume ${macsFront.volume.toExponential(4)} (reference: accuracy 0, 1.1 × the largest MACs).`,
    '',
    '| trial | top-1 | MACs |',
    '|---|---|---|',
    ...macsFront.front.map((p) => `| t${p.id} | ${pct(p.accuracy)} | ${mega(p.cost)} |`),
    '',
  );
  if (latencyFront !== null) {
    lines.push('## Pareto front (accuracy vs latency)', '', `Hypervolume ${latencyFront.volume.toExponential(4)}.`, '', '| trial | top-1 | latency |', '|---|---|---|', ...latencyFront.front.map((p) => `| t${p.id} | ${pct(p.accuracy)} | ${p.cost.toFixed(2)} ms |`), '');
  }
  const ranked = extra.ranked ?? [];
  if (ranked.length > 0) {
    const rankedFront = paretoFront(ranked.map((r) => ({ accuracy: r.accuracy, cost: r.macs, id: r.index })));
    const space = resolveSearchSpace(spec.space);
    const top = bestDistinctNetworks(spec, ranked);
    const distinct = top.length;
    const seconds = ranked.reduce((sum, r) => sum + r.seconds, 0);
    const confirmed = trials.filter((t) => t.status === 'done' && t.valTop1 !== null && (t.config as NasTrialConfig).rung === 0 && typeof (t.config as NasTrialConfig).shared === 'number');
    const rho = confirmed.length >= 3 ? spearman(confirmed.map((t) => Number((t.config as NasTrialConfig).shared)), confirmed.map((t) => t.valTop1!)) : NaN;
    lines.push(
      '## Shared-weight ranking (one-shot)',
      '',
      `${ranked.length} candidates ranked (${distinct} distinct networks) in ${seconds.toFixed(0)} s of ranking (${((seconds / ranked.length) * 1000).toFixed(0)} ms each). ` +
        `Confirmed standalone: ${confirmed.length}; there the shared-weight accuracy ranks as the standalone accuracy with Spearman ρ ${Number.isNaN(rho) ? `– (${confirmed.length < 3 ? 'fewer than 3' : 'one of the two has no spread'})` : rho.toFixed(3)} (the fidelity table below has it too).`,
      '',
      `The best distinct networks by reward (the first ${spec.trials} were trained standalone, as \`t0\`..\`t${spec.trials - 1}\`):`,
      '',
      '| rank | shared-weight top-1 | reward | MACs | params | stages at the proxy |',
      '|---|---|---|---|---|---|',
      ...top.slice(0, 10).map((r, i) => `| ${i + 1} | ${pct(r.accuracy)} | ${r.reward.toFixed(4)} | ${mega(r.macs)} | ${mega(r.params)} | \`${(candidateConfig(space, r.candidate, spec.resolution).stages ?? []).join(' ')}\` |`),
      '',
      `Pareto front of the ranking (shared-weight accuracy vs MACs): ${rankedFront.length} candidates, from ${mega(rankedFront[0]!.cost)} MACs at ${pct(rankedFront[0]!.accuracy)} to ${mega(rankedFront[rankedFront.length - 1]!.cost)} at ${pct(rankedFront[rankedFront.length - 1]!.accuracy)}; chart \`ranking.svg\`.`,
      '',
    );
  }
  const correlations = [...fidelityCorrelations(trials), ...(screened.length >= 3 ? screenCorrelations(screened) : [])];
  lines.push('## Fidelity correlations (Spearman ρ)', '', '| signal | against | ρ | candidates |', '|---|---|---|---|', ...correlations.map((c) => `| ${c.signal} | ${c.against} | ${Number.isNaN(c.rho) ? '–' : c.rho.toFixed(3)} | ${c.count} |`), '');
  lines.push(
    '## Candidates',
    '',
    '| trial | stage | budget | reward | top-1 | MACs | params | latency | NASWOT | status |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...trials.map((t) => {
      const c = t.config as NasTrialConfig;
      const reward = t.status === 'done' && t.valTop1 !== null ? trialReward(spec, t).toFixed(4) : '–';
      const latency = typeof t.metrics?.latencyMs === 'number' ? `${t.metrics.latencyMs.toFixed(2)} ms` : '–';
      return `| ${t.label} | ${c.stage}${c.rung > 0 ? ` ${c.rung}` : ''} | ${c.budget ?? spec.budget} | ${reward} | ${pct(t.valTop1)} | ${mega(c.macs)} | ${mega(c.params)} | ${latency} | ${c.naswot === null ? '–' : c.naswot.toFixed(1)} | ${t.status}${t.error ? `: ${t.error.slice(0, 80)}` : ''} |`;
    }),
    '',
  );
  const reportPath = join(dir, 'report.md');
  writeFileSync(reportPath, lines.join('\n'));
  files.unshift(reportPath);
  const chart = (name: string, data: ReturnType<typeof front>, xLabel: string): void => {
    const path = join(dir, name);
    writeFileSync(
      path,
      lineChartSvg({
        title: `${search.name}: candidates and Pareto front`,
        xLabel,
        yLabel: 'validation top-1',
        series: [
          { name: 'candidates', points: data.points.map((p) => ({ x: p.cost, y: p.accuracy })), connect: false },
          { name: 'Pareto front', points: data.front.map((p) => ({ x: p.cost, y: p.accuracy })) },
        ],
      }),
    );
    files.push(path);
  };
  if (macsFront.points.length > 0) chart('candidates.svg', macsFront, 'MACs per image');
  if (ranked.length > 0) {
    const points = ranked.map((r) => ({ accuracy: r.accuracy, cost: r.macs, id: r.index }));
    chart('ranking.svg', { points, front: paretoFront(points), volume: 0 }, 'MACs per image (shared-weight top-1 on the y axis)');
  }
  if (latencyFront !== null && latencyFront.points.length > 0) chart('latency.svg', latencyFront, 'batch-1 ONNX latency (ms)');
  return files;
}
