/**
 * The fidelity harness (issue 23, item 4): how well each cheap signal of a search ranks candidates as standalone
 * training at a converged budget does, on the user's own space and proxy.
 *
 * From a trained supernet (its space, proxy size, data and hold-out), `count` candidates are drawn stratified by
 * MACs (a seeded pool of uniform draws sorted by MACs and cut into `count` equal strata, one candidate drawn from
 * each), and for each one:
 * - the cheap signals: shared-weight accuracy (BN recalibrated on the path, hold-out subset; as `effnet oneshot
 *   search` measures it), NASWOT (Mellor et al. 2021; as `effnet nas` screens), parameters, MACs, and the accuracy
 *   of a short standalone training (`shortEpochs`, the recipe `effnet nas` trials use);
 * - the reference: the hold-out accuracy of a standalone training at `epochs` (the converged budget), and for the
 *   first `seedRepeats` candidates a second training with another seed, whose Kendall τ against the first is the
 *   ceiling any signal can reach (two trainings of the same networks disagree that much already).
 *
 * Every measurement is appended to `fidelity.jsonl` in the output directory as it finishes, so an interrupted run
 * resumes where it stopped (the candidate list is fixed in `candidates.json` on the first run); `fidelity.json` and
 * `fidelity.md` hold the table: per signal, Kendall's τ-b and Spearman's ρ against the converged accuracy.
 */
import { existsSync, appendFileSync, writeFileSync } from 'node:fs';
import { readInputFile } from '../../input-file.js';
import { join } from 'node:path';
import { makeDirectory } from '../../directories.js';
import { openData } from '../../data/spec.js';
import { deriveSeed, Rng } from '../../data/rng.js';
import { setNumThreads } from '../../torch/index.js';
import { SPLIT_SEED } from '../../train/split-file.js';
import { profileConfig } from '../match.js';
import { DEFAULT_TRIAL_BATCH_SIZE, DEFAULT_TRIAL_RECIPE, runTrial, type TrialRecipe } from '../trial.js';
import { spearman } from '../nas/report.js';
import { candidateConfig, scoreCandidate } from '../nas/search.js';
import { flatSearchSpace, resolveSearchSpace, type ResolvedSearchSpace } from '../nas/space.js';
import { randomCandidate, type Candidate } from '../nas/strategy.js';
import { sharedWeightAccuracy } from './rank.js';
import { calibrationData, disposeBatches } from './search.js';
import { SupernetError } from './supernet.js';
import { openSupernet } from './train.js';

/** Kendall's τ-b of two equally long series (ties in either handled as τ-b does); NaN below 3 pairs or with a constant series. */
export function kendallTau(x: readonly number[], y: readonly number[]): number {
  if (x.length !== y.length) throw new Error(`kendallTau: ${x.length} vs ${y.length} values`);
  if (x.length < 3) return NaN;
  let concordant = 0;
  let discordant = 0;
  let tiesX = 0;
  let tiesY = 0;
  for (let i = 0; i < x.length; i++) {
    for (let j = i + 1; j < x.length; j++) {
      const dx = Math.sign(x[i]! - x[j]!);
      const dy = Math.sign(y[i]! - y[j]!);
      if (dx === 0 && dy === 0) continue;
      if (dx === 0) tiesX += 1;
      else if (dy === 0) tiesY += 1;
      else if (dx === dy) concordant += 1;
      else discordant += 1;
    }
  }
  const denominator = Math.sqrt((concordant + discordant + tiesX) * (concordant + discordant + tiesY));
  return denominator === 0 ? NaN : (concordant - discordant) / denominator;
}

/**
 * `count` candidates stratified by MACs: `pool` uniform draws (seeded) sorted by MACs at `resolution`, cut into
 * `count` strata of equal size, one draw taken from each stratum (seeded). Returned from the fewest MACs up.
 */
export function stratifiedCandidates(space: ResolvedSearchSpace, resolution: number, numClasses: number, count: number, seed: number, pool = 50 * count): Candidate[] {
  if (!Number.isInteger(count) || count < 3) throw new SupernetError(`the fidelity harness needs at least 3 candidates to rank, got ${count}`);
  if (!Number.isInteger(pool) || pool < count) throw new SupernetError(`the candidate pool (${pool}) must hold at least the ${count} candidates drawn from it`);
  const rng = new Rng(deriveSeed(seed, 0xf1de));
  const flat = flatSearchSpace(space);
  const drawn = Array.from({ length: pool }, () => randomCandidate(flat, rng)).map((candidate) => ({
    candidate,
    macs: profileConfig(candidateConfig(space, candidate, resolution), { numClasses }).macs,
  }));
  drawn.sort((a, b) => a.macs - b.macs);
  return Array.from({ length: count }, (_, k) => {
    const from = Math.floor((k * pool) / count);
    const to = Math.floor(((k + 1) * pool) / count);
    return drawn[from + rng.int(to - from)]!.candidate;
  });
}

/** Options of {@link measureFidelity}; each default is stated. */
export interface FidelityOptions {
  /**
   * A supernet run directory (effnet oneshot train), or several trained on the same space, proxy size and data (e.g.
   * with different path sampling): each gets its own shared-weight row on the same candidates and trainings.
   */
  supernet: string | readonly string[];
  /** The harness's directory (candidates.json, fidelity.jsonl, fidelity.json, fidelity.md, trials/). */
  out: string;
  /** Candidates, stratified by MACs; default 20. */
  candidates?: number;
  /** Epochs of the converged standalone training; default 15. */
  epochs?: number;
  /** Epochs of the short standalone training (a cheap signal); default 1. */
  shortEpochs?: number;
  /** Candidates trained a second time with another seed (the ceiling); default 5. */
  seedRepeats?: number;
  /** Batch size of the converged trainings; default 128 (the fast recipe's; the short ones use effnet nas's 32). */
  batchSize?: number;
  /** Recipe of the converged trainings; default the trials' recipe with weight decay 5e-4 (the fast recipe's). */
  recipe?: TrialRecipe;
  /** Hold-out images of the shared-weight signal; default 1000. */
  validationImages?: number;
  /** Training batches (of 64) recalibrating each path's BN statistics; default 8. */
  calibrationBatches?: number;
  /** Seed of the candidate draw and of the first trainings; default 0. */
  seed?: number;
  /** libtorch threads; default libtorch's. */
  threads?: number;
  /** Loader worker threads of the trainings; default 1. */
  workers?: number;
  /** Log lines; default none. */
  log?: (line: string) => void;
}

/** One line of fidelity.jsonl. */
export type FidelityRecord =
  | { kind: 'signals'; candidate: number; naswot: number; params: number; macs: number }
  | { kind: 'shared'; candidate: number; supernet: string; top1: number }
  | { kind: 'standalone'; candidate: number; epochs: number; seed: number; top1: number; seconds: number };

/** One signal's agreement with the converged standalone accuracy. */
export interface SignalAgreement {
  signal: string;
  /** Kendall's τ-b against the converged accuracy (seed 0). */
  tau: number;
  /** Spearman's ρ against it. */
  rho: number;
  /** Candidates measured. */
  n: number;
}

/** What {@link measureFidelity} found (also in fidelity.json). */
export interface FidelityReport {
  candidates: number;
  epochs: number;
  shortEpochs: number;
  signals: SignalAgreement[];
  /** τ and ρ of the converged accuracies of two seeds on the repeated candidates: the ceiling. */
  seedCeiling: SignalAgreement | null;
  /** Wall seconds of every measurement recorded so far, all invocations. */
  seconds: number;
}

/** A JSON file or line the harness wrote itself, parsed; damage (an edit, a crash mid-write) is named with the file. */
function parseOwn<T>(text: string, path: string, line?: number): T {
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    const where = line === undefined ? path : `${path} line ${line}`;
    throw new SupernetError(`${where} is not valid JSON (${error instanceof Error ? error.message : String(error)}); the fidelity harness wrote it: remove the damaged line, or use another --out`);
  }
}

function readRecords(path: string): FidelityRecord[] {
  if (!existsSync(path)) return [];
  return readInputFile(path, 'headerBytes', 'fidelity records')
    .toString('utf8')
    .split('\n')
    .map((line, index) => ({ line, index }))
    .filter(({ line }) => line.trim() !== '')
    .map(({ line, index }) => parseOwn<FidelityRecord>(line, path, index + 1));
}

/** The table of a report, as markdown. */
export function fidelityTable(report: FidelityReport): string {
  const f = (v: number): string => (Number.isNaN(v) ? 'n/a' : v.toFixed(2));
  const rows = report.signals.map((s) => `| ${s.signal} | ${f(s.tau)} | ${f(s.rho)} | ${s.n} |`);
  if (report.seedCeiling !== null) rows.push(`| another seed's converged accuracy (the ceiling) | ${f(report.seedCeiling.tau)} | ${f(report.seedCeiling.rho)} | ${report.seedCeiling.n} |`);
  return [`| signal vs standalone accuracy at ${report.epochs} epochs | Kendall τ | Spearman ρ | candidates |`, '|---|---:|---:|---:|', ...rows].join('\n') + '\n';
}

/**
 * The report of the records measured so far (signals with fewer than 3 candidates read n/a): converged trainings are
 * those of `epochs` with `seed`, their repeats those with `seed + 1`, short ones those of `shortEpochs`.
 */
export function summariseFidelity(records: readonly FidelityRecord[], settings: { epochs: number; shortEpochs: number; candidates: number; seed: number }): FidelityReport {
  const { epochs, shortEpochs, candidates, seed } = settings;
  const converged = new Map<number, number>();
  const repeated = new Map<number, number>();
  const short = new Map<number, number>();
  const signals = new Map<number, Extract<FidelityRecord, { kind: 'signals' }>>();
  const shared = new Map<string, Map<number, number>>();
  let seconds = 0;
  for (const record of records) {
    if (record.kind === 'signals') {
      signals.set(record.candidate, record);
      continue;
    }
    if (record.kind === 'shared') {
      if (!shared.has(record.supernet)) shared.set(record.supernet, new Map());
      shared.get(record.supernet)!.set(record.candidate, record.top1);
      continue;
    }
    seconds += record.seconds;
    if (record.epochs === shortEpochs && record.seed === seed) short.set(record.candidate, record.top1);
    else if (record.epochs === epochs && record.seed === seed) converged.set(record.candidate, record.top1);
    else if (record.epochs === epochs && record.seed === seed + 1) repeated.set(record.candidate, record.top1);
  }
  const agreement = (signal: string, values: Map<number, number>): SignalAgreement => {
    const keys = [...values.keys()].filter((k) => converged.has(k));
    const x = keys.map((k) => values.get(k)!);
    const y = keys.map((k) => converged.get(k)!);
    return { signal, tau: kendallTau(x, y), rho: spearman(x, y), n: keys.length };
  };
  const of = (pick: (s: Extract<FidelityRecord, { kind: 'signals' }>) => number): Map<number, number> => new Map([...signals].map(([k, s]) => [k, pick(s)]));
  return {
    candidates,
    epochs,
    shortEpochs,
    signals: [
      ...[...shared].map(([supernet, values]) => agreement(shared.size === 1 ? 'shared-weight accuracy' : `shared-weight accuracy (${supernet})`, values)),
      agreement(`standalone accuracy at ${shortEpochs} epoch${shortEpochs === 1 ? '' : 's'}`, short),
      agreement('NASWOT score', of((s) => s.naswot)),
      agreement('parameters', of((s) => s.params)),
      agreement('MACs', of((s) => s.macs)),
    ],
    seedCeiling: repeated.size >= 3 ? agreement("another seed's converged accuracy", repeated) : null,
    seconds,
  };
}

/**
 * Runs (or resumes) the harness (see the module comment) and writes its table.
 * @throws SupernetError (a user error) for a directory without a supernet, bad counts, or another run's directory
 */
export async function measureFidelity(options: FidelityOptions): Promise<FidelityReport> {
  const log = options.log ?? ((): void => undefined);
  const count = options.candidates ?? 20;
  const epochs = options.epochs ?? 15;
  const shortEpochs = options.shortEpochs ?? 1;
  const seedRepeats = options.seedRepeats ?? 5;
  const seed = options.seed ?? 0;
  for (const [name, value, least] of [['epochs', epochs, 1], ['short epochs', shortEpochs, 1], ['seed repeats', seedRepeats, 0]] as const) {
    if (!Number.isInteger(value) || value < least) throw new SupernetError(`the fidelity harness's ${name} must be an integer >= ${least}, got ${value}`);
  }
  if (shortEpochs >= epochs) throw new SupernetError(`the short training (${shortEpochs} epochs) must be shorter than the converged one (${epochs})`);
  if (options.threads !== undefined) setNumThreads(options.threads);
  const supernetDirs = typeof options.supernet === 'string' ? [options.supernet] : [...options.supernet];
  if (supernetDirs.length === 0) throw new SupernetError('the fidelity harness needs at least one supernet directory');
  const { supernet: first, description } = openSupernet(supernetDirs[0]!);
  first.dispose();
  const space = resolveSearchSpace(description.space);
  const numClasses = description.classes.length;
  makeDirectory(options.out);
  const candidatesPath = join(options.out, 'candidates.json');
  const header = { supernet: supernetDirs[0]!, count, seed, epochs, shortEpochs, seedRepeats };
  let candidates: Candidate[];
  if (existsSync(candidatesPath)) {
    const saved = parseOwn<{ header: typeof header; candidates: Candidate[] }>(readInputFile(candidatesPath, 'headerBytes', 'fidelity candidates').toString('utf8'), candidatesPath);
    if (JSON.stringify(saved.header) !== JSON.stringify(header)) {
      throw new SupernetError(`${options.out} holds a fidelity run of other settings (${JSON.stringify(saved.header)}); give the same settings to resume it, or another --out`);
    }
    candidates = saved.candidates;
    log(`resuming the fidelity run in ${options.out}`);
  } else {
    candidates = stratifiedCandidates(space, description.resolution, numClasses, count, seed);
    writeFileSync(candidatesPath, JSON.stringify({ header, candidates }, null, 1) + '\n');
  }
  const recordsPath = join(options.out, 'fidelity.jsonl');
  const records = readRecords(recordsPath);
  const record = (r: FidelityRecord): void => {
    records.push(r);
    appendFileSync(recordsPath, JSON.stringify(r) + '\n');
  };
  const has = (predicate: (r: FidelityRecord) => boolean): boolean => records.some(predicate);

  // The cheap signals: one calibration and hold-out subset for every supernet.
  const data = await calibrationData(description, { calibrationBatches: options.calibrationBatches ?? 8, calibrationBatchSize: 64, validationImages: options.validationImages ?? 1000, seed });
  try {
    candidates.forEach((candidate, index) => {
      if (has((r) => r.kind === 'signals' && r.candidate === index)) return;
      const cost = profileConfig(candidateConfig(space, candidate, description.resolution), { numClasses });
      const naswot = scoreCandidate(space, { resolution: description.resolution, numClasses }, candidate, data.calibration[0]!.images);
      record({ kind: 'signals', candidate: index, naswot, params: cost.params, macs: cost.macs });
      log(`candidate ${index + 1}/${count}: ${(cost.macs / 1e6).toFixed(1)}M MACs, ${cost.params.toLocaleString('en-US')} parameters, NASWOT ${naswot.toFixed(1)}`);
    });
    for (const dir of supernetDirs) {
      const opened = openSupernet(dir);
      try {
        const other = opened.description;
        if (JSON.stringify(other.space) !== JSON.stringify(description.space) || other.resolution !== description.resolution || other.data !== description.data) {
          throw new SupernetError(`${dir} was trained on another space, size or data than ${supernetDirs[0]}; compare supernets of one space and proxy`);
        }
        candidates.forEach((candidate, index) => {
          if (has((r) => r.kind === 'shared' && r.candidate === index && r.supernet === dir)) return;
          const top1 = sharedWeightAccuracy(opened.supernet, opened.supernet.pathOf(candidate), data.calibration, data.validation);
          record({ kind: 'shared', candidate: index, supernet: dir, top1 });
          log(`candidate ${index + 1}/${count}: shared-weight top-1 ${(top1 * 100).toFixed(2)}% in ${dir}`);
        });
      } finally {
        opened.supernet.dispose();
      }
    }
  } finally {
    disposeBatches(data.calibration);
    disposeBatches(data.validation);
  }

  // Standalone trainings: short, converged, then the seed repeats.
  const trainData = await openData(description.data, { valSplit: description.valSplit ?? 0.1, splitSeed: SPLIT_SEED });
  const converged: TrialRecipe = options.recipe ?? { ...DEFAULT_TRIAL_RECIPE, weightDecay: 5e-4 };
  const plans: { index: number; epochs: number; seed: number; batchSize: number; recipe: TrialRecipe }[] = [];
  candidates.forEach((_, index) => plans.push({ index, epochs: shortEpochs, seed, batchSize: DEFAULT_TRIAL_BATCH_SIZE, recipe: DEFAULT_TRIAL_RECIPE }));
  candidates.forEach((_, index) => plans.push({ index, epochs, seed, batchSize: options.batchSize ?? 128, recipe: converged }));
  for (let index = 0; index < Math.min(seedRepeats, count); index++) plans.push({ index, epochs, seed: seed + 1, batchSize: options.batchSize ?? 128, recipe: converged });
  for (const plan of plans) {
    if (has((r) => r.kind === 'standalone' && r.candidate === plan.index && r.epochs === plan.epochs && r.seed === plan.seed)) continue;
    const config = candidateConfig(space, candidates[plan.index]!, description.resolution);
    const runDir = join(options.out, 'trials', `c${plan.index}-e${plan.epochs}-s${plan.seed}`);
    const result = await runTrial(
      config,
      trainData,
      { budget: { kind: 'epochs', value: plan.epochs }, recipe: plan.recipe, batchSize: plan.batchSize, seed: plan.seed, loaderWorkers: options.workers ?? 1 },
      runDir,
      { detail: `fidelity harness, candidate ${plan.index}` },
    );
    record({ kind: 'standalone', candidate: plan.index, epochs: plan.epochs, seed: plan.seed, top1: result.valTop1, seconds: result.wallSeconds });
    log(`candidate ${plan.index + 1}/${count}, ${plan.epochs} epoch(s), seed ${plan.seed}: top-1 ${(result.valTop1 * 100).toFixed(2)}% in ${result.wallSeconds.toFixed(0)} s`);
  }

  const report = summariseFidelity(records, { epochs, shortEpochs, candidates: count, seed });
  writeFileSync(join(options.out, 'fidelity.json'), JSON.stringify(report, null, 1) + '\n');
  writeFileSync(join(options.out, 'fidelity.md'), fidelityTable(report));
  return report;
}

