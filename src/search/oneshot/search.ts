/**
 * The one-shot search: thousands of candidates of a trained supernet ranked by their shared-weight accuracy (rank.ts:
 * BN recalibration on the same calibration batches for every candidate, top-1 on the same validation subset) and
 * their MACs, through the same strategies and rewards as `effnet nas` (SPOS: evolution with the shared weights).
 * Each ranked candidate is appended to `ranking.jsonl` in the supernet's run directory as soon as it is measured; a
 * killed search resumes by replaying the file into a fresh strategy (ask/tell are deterministic for a seed, and the
 * replay checks that every candidate it asks is the one recorded), so nothing measured is lost.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openData } from '../../data/spec.js';
import { keep } from '../../torch/index.js';
import { buildLoaders } from '../../train/run-builder.js';
import { SPLIT_SEED } from '../../train/split-file.js';
import { batchTensors } from '../../train/trainer.js';
import { resolveModelCard } from '../../card/resolve.js';
import { writeFileAtomic } from '../../io/safetensors.js';
import { paretoFront } from '../nas/pareto.js';
import { computeReward, resolveRewardSpec, type RewardName } from '../nas/reward.js';
import { candidateConfig, candidateCost, derivedMacsTarget } from '../nas/search.js';
import { flatSearchSpace, resolveSearchSpace } from '../nas/space.js';
import { createSearchStrategy, SearchSpaceError, type Candidate } from '../nas/strategy.js';
import { sharedWeightAccuracy, type LabelledBatch } from './rank.js';
import { openSupernet, readSupernetDescription, SUPERNET_FILE, type SupernetDescription } from './train.js';

/** The file of ranked candidates in a supernet run directory (one JSON object per line). */
export const RANKING_FILE = 'ranking.jsonl';

/** The summary file a finished one-shot search writes beside it. */
export const RANKING_SUMMARY_FILE = 'ranking.json';

/** One ranked candidate (a line of ranking.jsonl). */
export interface RankedCandidate {
  /** Order of evaluation, from 0. */
  index: number;
  candidate: Candidate;
  /** Shared-weight top-1 on the validation subset (0..1). */
  accuracy: number;
  /** Multiply-adds and parameters of the candidate's standalone network at the proxy. */
  macs: number;
  params: number;
  /** The reward of (accuracy, MACs). */
  reward: number;
  /** Seconds its ranking took (BN recalibration + validation). */
  seconds: number;
}

/** Options of {@link oneShotSearch}; each default is stated. */
export interface OneShotSearchOptions {
  /** The supernet's run directory (effnet oneshot train --out). */
  dir: string;
  /** Candidates to rank in all (including those ranked before a resume). */
  candidates: number;
  /** Strategy; default 'evolution' (SPOS). */
  strategy?: string;
  /** Evolution's population and tournament; defaults the strategy's (20, 5). */
  population?: number;
  sampleSize?: number;
  /** Reward; default 'soft' (ACC·(MACs/T)^w). */
  reward?: RewardName;
  /** Target MACs; default derived from the proxy as `effnet nas` derives it. */
  target?: number;
  /** soft reward's exponent, abs reward's β; defaults the reward's. */
  exponent?: number;
  beta?: number;
  /** Training batches that recalibrate every candidate's batch norms; default 8. */
  calibrationBatches?: number;
  /** Images per calibration batch; default 64. */
  calibrationBatchSize?: number;
  /** Validation images each candidate is measured on (the first ones of the hold-out); default 1000. */
  validationImages?: number;
  /** Seed of the strategy and of the calibration batches; default 0. */
  seed?: number;
  /** Log lines; default none. */
  log?: (line: string) => void;
  /** Called after each ranked candidate. */
  onRanked?: (ranked: RankedCandidate, done: number, total: number) => void;
}

/** What a one-shot search returns and writes to ranking.json. */
export interface OneShotSearchResult {
  /** Every ranked candidate, in order. */
  ranked: RankedCandidate[];
  /** The reward-best. */
  best: RankedCandidate;
  /** The accuracy/MACs Pareto front (indices into `ranked`). */
  front: number[];
  /** The target MACs and the reward's name. */
  target: number;
  reward: RewardName;
}

/** The batches every candidate of a search is recalibrated and measured on. */
export interface CalibrationData {
  /** Training batches (training transform of the proxy) for BN recalibration. */
  calibration: LabelledBatch[];
  /** The first hold-out images (eval transform), in batches of 250. */
  validation: LabelledBatch[];
  /** Images in `validation`. */
  images: number;
}

/**
 * The calibration and validation batches of a supernet's data (its description's data spec, hold-out and proxy
 * transforms): the first `calibrationBatches` training batches of epoch 0 under `seed`, and at least
 * `validationImages` hold-out images. The tensors are kept: free them with {@link disposeBatches}.
 */
export async function calibrationData(
  description: SupernetDescription,
  options: { calibrationBatches: number; calibrationBatchSize: number; validationImages: number; seed: number },
): Promise<CalibrationData> {
  const space = resolveSearchSpace(description.space);
  const data = await openData(description.data, { valSplit: description.valSplit ?? 0.1, splitSeed: SPLIT_SEED });
  const card = resolveModelCard({
    source: { kind: 'search-trial', config: candidateConfig(space, description.reference, description.resolution), detail: 'the reference candidate' },
    classes: description.classes,
  });
  const loaders = buildLoaders({ card, data, batchSize: options.calibrationBatchSize, evalBatchSize: 250, seed: options.seed, workers: 0 });
  const calibration: LabelledBatch[] = [];
  const validation: LabelledBatch[] = [];
  let images = 0;
  try {
    for await (const batch of loaders.train.epoch(0, 0)) {
      if (calibration.length >= options.calibrationBatches) break;
      const t = batchTensors(batch);
      calibration.push({ images: keep(t.images), labels: keep(t.labels) });
    }
    for await (const batch of loaders.val.epoch(0, 0)) {
      if (images >= options.validationImages) break;
      const t = batchTensors(batch);
      validation.push({ images: keep(t.images), labels: keep(t.labels) });
      images += batch.labels.length;
    }
  } catch (error) {
    disposeBatches([...calibration, ...validation]);
    throw error;
  } finally {
    await loaders.close();
  }
  return { calibration, validation, images };
}

/** Frees the tensors of `batches`. */
export function disposeBatches(batches: readonly LabelledBatch[]): void {
  for (const b of batches) {
    b.images.dispose();
    b.labels.dispose();
  }
}

function readRanking(path: string): RankedCandidate[] {
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, 'utf8').split('\n');
  const out: RankedCandidate[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      out.push(JSON.parse(line) as RankedCandidate);
    } catch {
      // A line cut by a kill in the middle of a write is the last one: drop it (it is measured again).
      if (i < lines.length - 1 && lines.slice(i + 1).some((l) => l.trim() !== '')) throw new SearchSpaceError(`${path}: line ${i + 1} is not JSON; the file was edited or corrupted`);
    }
  });
  return out;
}

/** Where a ranking keeps its records: those measured before (replayed, in order) and a sink for each new one. */
export interface RankingLog {
  /** Candidates ranked before (a resumed ranking), in order of evaluation. */
  recorded: readonly RankedCandidate[];
  /** Stores one newly ranked candidate durably before the next is measured. */
  append: (record: RankedCandidate) => void;
  /** Names the log in errors ("runs/sn/ranking.jsonl", "search 'nas' in runs/nas.sqlite"). */
  where: string;
}

/**
 * Ranks `options.candidates` candidates of the supernet in `options.dir` (see the module comment), replaying the
 * candidates `log` recorded before into the strategy and appending each new one to it. The shared core of
 * {@link oneShotSearch} (ranking.jsonl) and of `effnet nas --supernet` (the experiment store's scores).
 * @throws SearchSpaceError for bad counts, an unknown strategy or reward, or a log of another search
 */
export async function rankWithSharedWeights(options: OneShotSearchOptions, log: RankingLog): Promise<{ ranked: RankedCandidate[]; target: number; reward: RewardName }> {
  const say = options.log ?? ((): void => undefined);
  const total = options.candidates;
  if (!Number.isInteger(total) || total < 1) throw new SearchSpaceError(`the number of candidates must be an integer >= 1, got ${total}`);
  const calibrationCount = options.calibrationBatches ?? 8;
  const calibrationSize = options.calibrationBatchSize ?? 64;
  const validationImages = options.validationImages ?? 1000;
  for (const [what, value] of [['calibration batches', calibrationCount], ['calibration batch size', calibrationSize], ['validation images', validationImages]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new SearchSpaceError(`${what} must be an integer >= 1, got ${value}`);
  }
  const seed = options.seed ?? 0;
  // The strategy and the replay need the space only: the weights are loaded when there is something left to rank.
  const description = readSupernetDescription(options.dir);
  const space = resolveSearchSpace(description.space, join(options.dir, SUPERNET_FILE));
  const numClasses = description.classes.length;
  const target = options.target ?? derivedMacsTarget(space, description.resolution, numClasses);
  const reward = resolveRewardSpec({ kind: options.reward ?? 'soft', target, ...(options.exponent === undefined ? {} : { exponent: options.exponent }), ...(options.beta === undefined ? {} : { beta: options.beta }) });
  const strategy = createSearchStrategy(options.strategy ?? 'evolution', {
    space: flatSearchSpace(space),
    seed,
    ...(options.population === undefined ? {} : { population: options.population }),
    ...(options.sampleSize === undefined ? {} : { sampleSize: options.sampleSize }),
  });
  const ranked: RankedCandidate[] = [];
  // Replay: the strategy must ask exactly what was recorded, in order.
  for (const record of log.recorded) {
    const asked = strategy.ask();
    if (JSON.stringify(asked) !== JSON.stringify(record.candidate)) {
      throw new SearchSpaceError(`${log.where} was written by another search (strategy, seed or population differ: candidate ${record.index} is not what this search proposes); use the same options or move it away`);
    }
    strategy.tell(record.candidate, record.reward);
    ranked.push(record);
  }
  if (ranked.length > 0) say(`resuming: ${ranked.length} candidates ranked before`);
  if (ranked.length >= total) return { ranked, target, reward: reward.kind };
  const { supernet } = openSupernet(options.dir);
  let calibration: LabelledBatch[] = [];
  let validation: LabelledBatch[] = [];
  try {
    let images: number;
    ({ calibration, validation, images } = await calibrationData(description, { calibrationBatches: calibrationCount, calibrationBatchSize: calibrationSize, validationImages, seed }));
    say(
      `ranking ${total} candidates of space '${space.document.name}' with shared weights: strategy ${strategy.name}, reward ${reward.kind} (target ${(target / 1e6).toFixed(2)}M MACs), ` +
        `BN recalibrated on ${calibration.length} x ${calibrationSize} training images, top-1 on ${images} hold-out images`,
    );
    while (ranked.length < total) {
      const candidate = strategy.ask();
      const started = performance.now();
      const path = supernet.pathOf(candidate);
      const accuracy = sharedWeightAccuracy(supernet, path, calibration, validation);
      const seconds = (performance.now() - started) / 1000;
      const cost = candidateCost(space, candidate, description.resolution, numClasses);
      const record: RankedCandidate = { index: ranked.length, candidate, accuracy, macs: cost.macs, params: cost.params, reward: computeReward(reward, accuracy, cost.macs), seconds };
      log.append(record);
      strategy.tell(candidate, record.reward);
      ranked.push(record);
      options.onRanked?.(record, ranked.length, total);
    }
    return { ranked, target, reward: reward.kind };
  } finally {
    disposeBatches([...calibration, ...validation]);
    supernet.dispose();
  }
}

/**
 * Ranks `options.candidates` candidates of the supernet in `options.dir` (see the module comment), resuming from its
 * ranking.jsonl, and writes ranking.json.
 * @throws SearchSpaceError for bad counts, an unknown strategy or reward, or a ranking file of another search
 */
export async function oneShotSearch(options: OneShotSearchOptions): Promise<OneShotSearchResult> {
  const rankingPath = join(options.dir, RANKING_FILE);
  const { ranked, target, reward } = await rankWithSharedWeights(options, {
    recorded: readRanking(rankingPath),
    append: (record) => appendFileSync(rankingPath, JSON.stringify(record) + '\n'),
    where: rankingPath,
  });
  const best = ranked.reduce((a, b) => (b.reward > a.reward ? b : a));
  const front = paretoFront(ranked.map((r) => ({ accuracy: r.accuracy, cost: r.macs, id: r.index }))).map((p) => p.id);
  const result: OneShotSearchResult = { ranked, best, front, target, reward };
  writeFileAtomic(join(options.dir, RANKING_SUMMARY_FILE), Buffer.from(JSON.stringify({ best, front: front.map((i) => ranked[i]), target, reward, candidates: ranked.length }, null, 2) + '\n'));
  return result;
}
