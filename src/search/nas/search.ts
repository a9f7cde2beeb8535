/**
 * The architecture search (`effnet nas`): a search space, a strategy and a reward, run through the same experiment
 * store, worker processes and trial runner as the scale search. Three stages:
 *
 * 1. screen (optional): `screen` candidates drawn uniformly, each scored untrained with NASWOT on one minibatch of
 *    training images (< 1 s each) and stored in the store's `scores` table; the best by the zero-cost reward (the
 *    reward with the score's rank in place of accuracy) are the first candidates trained (`warm`).
 * 2. search: `trials` candidates trained at low fidelity (the search's budget at the proxy resolution), proposed by
 *    the strategy (after the warm ones) and told their reward as each finishes; at most `parallel` outstanding.
 * 3. promote (successive halving, optional): `rungs` rounds, each training the best 1/η of the previous rung again
 *    with η times the budget.
 *
 * The coordinator keeps the strategy's whole state in the store (`search_state`), written in the same transaction as
 * the trial it proposed, together with which results it was told; a killed search resumes from it (trials left
 * running are re-queued and their results told when they come) and, with one worker, proposes exactly the sequence
 * an uninterrupted run would. A failing candidate is recorded with its error and not told (no reward exists for it).
 */
import { decodeArchitecture, encodeArchitecture } from '../../efficientnet/block-spec.js';
import { networkSpec } from '../../efficientnet/variants.js';
import { profileNetwork } from '../../efficientnet/profile.js';
import { createEfficientNet } from '../../efficientnet/model.js';
import { customConfig } from '../../efficientnet/variants.js';
import { isSmallImage, smallImageStages } from '../../card/small-images.js';
import type { ScaledConfigJson } from '../../card/config-file.js';
import { Rng } from '../../data/rng.js';
import { manualSeed, type Tensor } from '../../torch/index.js';
import { convergeWindowField, formatBudget, parseBudget, type Budget } from '../budget.js';
import { formatDuration } from '../progress.js';
import { profileConfig } from '../match.js';
import type { ExperimentStore, Json, TrialRow } from '../store.js';
import { DEFAULT_CROP_SCALE, DEFAULT_TRIAL_BATCH_SIZE, DEFAULT_TRIAL_RECIPE, checkTrialRecipeBudget } from '../trial.js';
import { computeReward, proxyTarget, resolveRewardSpec, type RewardName } from './reward.js';
import { candidateOf, decodeCandidate, flatSearchSpace, resolveSearchSpace, type ResolvedSearchSpace, type SearchSpaceDocument } from './space.js';
import {
  createSearchStrategy,
  randomCandidate,
  restoreSearchStrategy,
  SearchSpaceError,
  STRATEGY_NAMES,
  type Candidate,
  type SearchStrategy,
  type StrategyState,
} from './strategy.js';
import { naswotScore } from './zero-cost.js';

/** The store's kind of an architecture search of standalone trials. */
export const NAS_KIND = 'nas';

/**
 * The store's kind of a one-shot architecture search (`effnet nas --supernet`): the same coordinator, trials and
 * report, with the shared-weight ranking stored in the search's scores first. A kind of its own, so that a store's
 * list of searches says which is which and one name cannot switch between the two.
 */
export const ONESHOT_KIND = 'oneshot';

/** Whether a stored search's kind is an architecture search's (its coordinator closes it when done). */
export function isArchitectureSearchKind(kind: string): boolean {
  return kind === NAS_KIND || kind === ONESHOT_KIND;
}

/** The classifier dropout of every candidate (B0's). */
export const CANDIDATE_DROPOUT = 0.2;

/** Options of {@link nasDefinition}; each default is stated. */
export interface NasOptions {
  /** The space document. */
  space: SearchSpaceDocument;
  /** The strategy's name. */
  strategy: string;
  /** Strategy options (population, sampleSize, learningRate, baselineMomentum). */
  strategyOptions?: { population?: number; sampleSize?: number; learningRate?: number; baselineMomentum?: number };
  /** Candidates trained in the search stage. */
  trials: number;
  /** The proxy resolution (training size) of every candidate. */
  resolution: number;
  /** The reward. */
  reward: string;
  /** The target cost: MACs, or milliseconds with `latency`; default derived from the proxy (reward.ts). */
  target?: number;
  /** soft reward exponent; abs reward β. */
  exponent?: number;
  beta?: number;
  /** Cost = measured batch-1 ONNX latency instead of MACs; default false. */
  latency?: boolean;
  /** Timed latency runs per candidate; default 30. */
  latencyRuns?: number;
  /** Candidates screened with the zero-cost score; default 0 (no screening). */
  screen?: number;
  /** Screened candidates trained first; default the evolution population (20), else `parallel`. */
  warm?: number;
  /** Successive-halving rungs after the search; default 0. */
  rungs?: number;
  /**
   * After the search: train the reward-best candidate and the space's base network (B0 in the default space) this
   * many times each, with seeds seed + 1000, seed + 1001, ..., at `compareBudget`; default 0 (no comparison).
   */
  compareRepeats?: number;
  /** The comparison's budget; default the last rung's. */
  compareBudget?: string;
  /** η of successive halving: keep the best 1/η, train η times longer; default 3. */
  eta?: number;
  /** Outstanding trials at a time (the worker count); default 1. */
  parallel?: number;
  /** Seed of the strategy, the screening draws and every trial; default 0. */
  seed?: number;
  /** The data spec. */
  data: string;
  /** Classes of the data. */
  numClasses: number;
  /** Per-trial budget of the search stage ('1ep', '5min', '20steps'). */
  budget: string;
  /** Training batch size; default 32. */
  batchSize?: number;
  /** Recipe fields over the default trial recipe. */
  recipe?: { [key: string]: Json };
  /** Loader threads per trial; default 0. */
  loaderWorkers?: number;
  /** Where trials write their run directories. */
  runDir: string;
  /** Validate after every epoch; default false. */
  evalEveryEpoch?: boolean;
  /**
   * A one-shot search (`effnet nas --supernet DIR`): the candidates are first ranked with the shared weights of a
   * trained supernet (its space, proxy size and data are the search's), and the search stage trains the top
   * `trials` of that ranking standalone (the confirmation); absent: the candidates are proposed by the strategy.
   */
  oneshot?: OneShotStageOptions;
}

/** The shared-weight ranking stage of a one-shot search; each default is stated. */
export interface OneShotStageOptions {
  /** The supernet's run directory (effnet oneshot train --out). */
  supernet: string;
  /** Candidates ranked with the shared weights; default 1000. */
  candidates?: number;
  /** Training batches (of 64 images) that recalibrate each candidate's BN statistics; default 8. */
  calibration?: number;
  /** Hold-out images each candidate is measured on; default 1000. */
  valImages?: number;
}

/** The stored form of {@link OneShotStageOptions}, every default resolved. */
export interface OneShotStage {
  [key: string]: Json;
  supernet: string;
  candidates: number;
  calibration: number;
  valImages: number;
}

/** The stored spec of an architecture search: everything the coordinator and the workers need. */
export interface NasSpec {
  space: SearchSpaceDocument;
  strategy: string;
  strategyOptions: { [key: string]: Json };
  trials: number;
  resolution: number;
  reward: { kind: RewardName; target: number; exponent: number; beta: number; targetDerived: boolean };
  cost: 'macs' | 'latency';
  latency: boolean;
  latencyRuns: number;
  screen: number;
  warm: number;
  rungs: number;
  eta: number;
  compareRepeats: number;
  compareBudget: string;
  parallel: number;
  seed: number;
  data: string;
  numClasses: number;
  budget: string;
  batchSize: number;
  recipe: { [key: string]: Json };
  loaderWorkers: number;
  cropScale: number[];
  runDir: string;
  evalEveryEpoch: boolean;
  /** The converge stop rule's smallest window in epochs; absent without a converge budget and in searches stored before it. */
  convergeMinWindow?: number;
  /** The shared-weight ranking stage of a one-shot search; null for a search of standalone trials only. */
  oneshot: OneShotStage | null;
}

function positiveInteger(value: number | undefined, fallback: number, what: string, min = 1): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min) throw new SearchSpaceError(`${what} must be an integer ≥ ${min}, got ${String(value)}`);
  return v;
}

/** The unscaled stages of a candidate at the proxy: its stages, with the small-image strides up to 64 px. */
export function candidateConfig(space: ResolvedSearchSpace, candidate: Candidate, resolution: number): ScaledConfigJson {
  const stages = decodeCandidate(space, candidate);
  const proxy = isSmallImage(resolution) ? smallImageStages(resolution, stages) : stages;
  return { width: 1, depth: 1, resolution, dropout: CANDIDATE_DROPOUT, stages: encodeArchitecture(proxy) };
}

/**
 * What a candidate builds, as a string equal for two candidates exactly when they build the same network at the
 * proxy: every block's kernel, stride, channels, expansion, SE size, fused-ness and whether its skip is used. The
 * stage strings are not that: a skip asked of a block that changes stride or channels is never used, and a stage
 * of one layer with layers -1 or 0 keeps its one block.
 */
export function candidateNetworkKey(space: ResolvedSearchSpace, candidate: Candidate, resolution: number): string {
  const config = candidateConfig(space, candidate, resolution);
  const network = networkSpec({ width: 1, depth: 1 }, decodeArchitecture(config.stages!));
  return JSON.stringify([network.stemChannels, network.headChannels, ...network.stages.flatMap((stage) => stage.blocks).map((b) => [b.kernel, b.stride, b.inChannels, b.midChannels, b.outChannels, b.hasExpansion, b.seChannels, b.hasResidual, b.fused])]);
}

/**
 * The best of `ranked` by reward (ties: the lower index first), one per network ({@link candidateNetworkKey}), at
 * most `count`: a ranking proposes a good network again and again, under several candidates.
 */
export function bestDistinctNetworks<T extends { index: number; candidate: Candidate; reward: number }>(
  spec: Pick<NasSpec, 'space' | 'resolution'>,
  ranked: readonly T[],
  count = Infinity,
): T[] {
  const space = resolveSearchSpace(spec.space);
  const seen = new Set<string>();
  const out: T[] = [];
  for (const r of [...ranked].sort((a, b) => b.reward - a.reward || a.index - b.index)) {
    if (out.length >= count) break;
    const key = candidateNetworkKey(space, r.candidate, spec.resolution);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(r);
  }
  return out;
}

/** Multiply-adds and parameters of a candidate's standalone network at the proxy size (the profiler's count). */
export function candidateCost(space: ResolvedSearchSpace, candidate: Candidate, resolution: number, numClasses: number): { macs: number; params: number } {
  const config = candidateConfig(space, candidate, resolution);
  const profile = profileNetwork(networkSpec({ width: 1, depth: 1 }, decodeArchitecture(config.stages!)), { imageSize: resolution, numClasses });
  return { macs: profile.macs, params: profile.params };
}

/**
 * The target of a search without `--target-macs`: the paper's 400M scaled by the base's MACs at the proxy over its
 * MACs at 224 px with 1000 classes (reward.ts).
 */
export function derivedMacsTarget(space: ResolvedSearchSpace, resolution: number, numClasses: number): number {
  const atProxy = isSmallImage(resolution) ? smallImageStages(resolution, space.base) : space.base;
  const proxy = profileNetwork(networkSpec({ width: 1, depth: 1 }, atProxy), { imageSize: resolution, numClasses }).macs;
  const imageNet = profileNetwork(networkSpec({ width: 1, depth: 1 }, space.base), { imageSize: 224, numClasses: 1000 }).macs;
  return proxyTarget(proxy, imageNet);
}

/**
 * Checks the options and returns the spec to store.
 * @throws SearchSpaceError (exit 2) for an invalid space, strategy, reward, target or count
 */
export function nasDefinition(options: NasOptions): NasSpec {
  const space = resolveSearchSpace(options.space, `space '${String(options.space?.name)}'`);
  if (!(STRATEGY_NAMES as readonly string[]).includes(options.strategy)) {
    throw new SearchSpaceError(`unknown search strategy '${options.strategy}'; choose one of ${STRATEGY_NAMES.join(', ')}`);
  }
  const seed = positiveInteger(options.seed, 0, 'the seed', 0);
  checkTrialRecipeBudget(options.recipe ?? {}, parseBudget(options.budget));
  const strategyOptions = Object.fromEntries(Object.entries(options.strategyOptions ?? {}).filter(([, v]) => v !== undefined)) as { [key: string]: Json };
  // Validates the options (sample size vs population, learning rate) before anything is stored.
  createSearchStrategy(options.strategy, { space: flatSearchSpace(space), seed, ...(strategyOptions as object) });
  const latency = options.latency ?? false;
  if (latency && options.target === undefined) {
    throw new SearchSpaceError('--latency needs --target-latency MS (the latency target T in milliseconds); there is no paper target to derive it from');
  }
  const target = options.target ?? derivedMacsTarget(space, options.resolution, options.numClasses);
  const reward = resolveRewardSpec({ kind: options.reward, target, ...(options.exponent === undefined ? {} : { exponent: options.exponent }), ...(options.beta === undefined ? {} : { beta: options.beta }) });
  const parallel = positiveInteger(options.parallel, 1, '--parallel');
  const population = Number(strategyOptions.population ?? 20);
  let oneshot: OneShotStage | null = null;
  if (options.oneshot !== undefined) {
    if (latency) throw new SearchSpaceError('a one-shot search (--supernet) ranks by MACs: its shared-weight ranking does not measure latency; drop --latency or search with standalone trials');
    if ((options.screen ?? 0) > 0) throw new SearchSpaceError('--screen and --supernet are both a first, cheap ranking of the candidates: give one of them');
    oneshot = {
      supernet: options.oneshot.supernet,
      candidates: positiveInteger(options.oneshot.candidates, 1000, '--candidates'),
      calibration: positiveInteger(options.oneshot.calibration, 8, '--calibration'),
      valImages: positiveInteger(options.oneshot.valImages, 1000, '--val-images'),
    };
  }
  const trials = positiveInteger(options.trials, 0, '--trials');
  // Successive halving trains the best again η times longer; "until converged" has no longer (η x its cap would only
  // stretch the cosine, a different schedule, not more training of the same one).
  if (positiveInteger(options.rungs, 0, '--rungs', 0) > 0 && parseBudget(options.budget).kind === 'converge') {
    throw new SearchSpaceError('--rungs (successive halving) needs a budget that can be made eta times longer (epochs, steps or minutes); a converge budget already trains each trial until it stops improving: drop --rungs or give an epoch budget');
  }
  return {
    space: space.document,
    strategy: options.strategy,
    strategyOptions,
    trials,
    resolution: options.resolution,
    reward: { ...reward, targetDerived: options.target === undefined },
    cost: latency ? 'latency' : 'macs',
    latency,
    latencyRuns: positiveInteger(options.latencyRuns, 30, '--latency-runs'),
    screen: positiveInteger(options.screen, 0, '--screen', 0),
    // A one-shot search trains exactly the top of its shared-weight ranking: every search-stage trial is a warm one.
    warm: oneshot !== null ? trials : options.screen ? positiveInteger(options.warm, options.strategy === 'evolution' ? population : parallel, '--warm', 0) : 0,
    rungs: positiveInteger(options.rungs, 0, '--rungs', 0),
    eta: positiveInteger(options.eta, 3, '--eta', 2),
    compareRepeats: positiveInteger(options.compareRepeats, 0, '--compare', 0),
    compareBudget: formatBudget(options.compareBudget === undefined ? rungBudget(parseBudget(options.budget), positiveInteger(options.eta, 3, '--eta', 2), positiveInteger(options.rungs, 0, '--rungs', 0)) : parseBudget(options.compareBudget)),
    parallel,
    seed,
    data: options.data,
    numClasses: options.numClasses,
    budget: formatBudget(parseBudget(options.budget)),
    batchSize: options.batchSize ?? DEFAULT_TRIAL_BATCH_SIZE,
    recipe: { ...(DEFAULT_TRIAL_RECIPE as unknown as { [key: string]: Json }), ...(options.recipe ?? {}) },
    loaderWorkers: options.loaderWorkers ?? 0,
    cropScale: [...DEFAULT_CROP_SCALE],
    runDir: options.runDir,
    evalEveryEpoch: options.evalEveryEpoch ?? false,
    ...convergeWindowField(options.budget, options.compareBudget),
    oneshot,
  };
}

/** The stored spec of a search row, checked to be an architecture search's. */
export function nasSpecOf(kind: string, spec: { [key: string]: Json }, where: string): NasSpec {
  if (!isArchitectureSearchKind(kind)) throw new SearchSpaceError(`${where} is a '${kind}' search, not an architecture search ('${NAS_KIND}' or '${ONESHOT_KIND}'); give effnet nas another --name or --db`);
  return spec as unknown as NasSpec;
}

/** What the coordinator keeps in the store between polls and across restarts. */
export interface NasState {
  [key: string]: Json;
  format: 'nas-1';
  strategy: Json;
  /** Trial ids whose results the strategy was told (or that were judged, for failures and promotions). */
  judged: number[];
  /** Candidates of the search stage issued (warm ones included). */
  issued: number;
  /** Warm candidates issued. */
  warmIssued: number;
  /** Promotion rungs issued. */
  rungsIssued: number;
  /** Whether the comparison trials were issued. */
  compareIssued: boolean;
  /** No more trials will be added (waiting workers exit). */
  closed: boolean;
}

/** The configuration stored with each trial of an architecture search. */
export interface NasTrialConfig {
  [key: string]: Json;
  /** search: proposed by the strategy; promote: successive halving; compare: the best and the base, seeds repeated. */
  stage: 'search' | 'promote' | 'compare';
  rung: number;
  candidate: Candidate;
  config: { [key: string]: Json };
  macs: number;
  params: number;
  /** The trial's budget when it is not the search's (promotions). */
  budget: string | null;
  /** The trial this one promotes. */
  parent: number | null;
  /** The zero-cost score, when the candidate was screened. */
  naswot: number | null;
  /** The shared-weight accuracy (0..1) of a one-shot search's ranking; null otherwise (absent in older stores). */
  shared: number | null;
  /** compare: which network ('best' or 'base'); the trial's own seed. */
  role: string | null;
  seed: number | null;
  /** Measure latency in the worker. */
  latency: boolean;
  latencyRuns: number;
}

/** The budget of successive-halving rung `rung`: the search's × η^rung (whole epochs and steps rounded). */
export function rungBudget(budget: Budget, eta: number, rung: number): Budget {
  const value = budget.value * eta ** rung;
  return { ...budget, value: budget.kind === 'minutes' ? value : Math.round(value) };
}

/** The trial a search names best: the reward-best of its highest successive-halving rung (comparisons aside). */
export function bestTrial(spec: NasSpec, trials: readonly TrialRow[]): TrialRow | null {
  const done = trials.filter((t) => t.status === 'done' && t.valTop1 !== null && (t.config as NasTrialConfig).rung >= 0);
  if (done.length === 0) return null;
  const top = Math.max(...done.map((t) => (t.config as NasTrialConfig).rung));
  return done.filter((t) => (t.config as NasTrialConfig).rung === top).sort((a, b) => trialReward(spec, b) - trialReward(spec, a) || a.seq - b.seq)[0]!;
}

/** The cost of a finished trial in the search's cost unit (MACs, or its measured latency in ms). */
export function trialCost(spec: NasSpec, trial: TrialRow): number {
  if (spec.cost === 'latency') return Number(trial.metrics?.latencyMs);
  return Number((trial.config as NasTrialConfig).macs);
}

/** The reward of a finished trial. */
export function trialReward(spec: NasSpec, trial: TrialRow): number {
  return computeReward(spec.reward, trial.valTop1 ?? 0, trialCost(spec, trial));
}

function trialOf(spec: NasSpec, space: ResolvedSearchSpace, candidate: Candidate, extra: Partial<NasTrialConfig>): NasTrialConfig {
  const config = candidateConfig(space, candidate, spec.resolution);
  const cost = profileConfig(config, { numClasses: spec.numClasses });
  return {
    stage: 'search',
    rung: 0,
    candidate,
    config: config as unknown as { [key: string]: Json },
    macs: cost.macs,
    params: cost.params,
    budget: null,
    parent: null,
    naswot: null,
    shared: null,
    role: null,
    seed: null,
    latency: spec.latency,
    latencyRuns: spec.latencyRuns,
    ...extra,
  };
}

/** A candidate the search stage trains first, with the cheap signal that put it there. */
export interface WarmCandidate {
  candidate: Candidate;
  /** Its zero-cost score (screening). */
  naswot?: number | null;
  /** Its shared-weight accuracy (one-shot ranking). */
  shared?: number | null;
}

/** One screened candidate. */
export interface ScreenRecord {
  [key: string]: Json;
  candidate: Candidate;
  macs: number;
  params: number;
  naswot: number;
  seconds: number;
}

/**
 * Screens the search's candidates not screened yet (the same `spec.screen` draws on every run, so a resumed screening
 * continues), storing each record as it is computed.
 * @param images one minibatch of training images at the proxy resolution
 */
export function screenCandidates(store: ExperimentStore, searchId: number, spec: NasSpec, images: Tensor, onProgress?: (done: number, total: number) => void): ScreenRecord[] {
  const space = resolveSearchSpace(spec.space);
  const flat = flatSearchSpace(space);
  const rng = new Rng(spec.seed + 7919);
  const existing = new Map(store.scores(searchId).map((s) => [s.seq, s.record as ScreenRecord]));
  const records: ScreenRecord[] = [];
  for (let seq = 0; seq < spec.screen; seq++) {
    const candidate = randomCandidate(flat, rng);
    const known = existing.get(seq);
    if (known !== undefined) {
      records.push(known);
      continue;
    }
    const started = performance.now();
    const cost = profileConfig(candidateConfig(space, candidate, spec.resolution), { numClasses: spec.numClasses });
    manualSeed(spec.seed + seq);
    const naswot = scoreCandidate(space, spec, candidate, images);
    const record: ScreenRecord = { candidate, macs: cost.macs, params: cost.params, naswot, seconds: (performance.now() - started) / 1000 };
    store.recordScores(searchId, [{ seq, record }]);
    records.push(record);
    onProgress?.(seq + 1, spec.screen);
  }
  return records;
}

/**
 * The NASWOT score of a candidate at the proxy, freshly initialised from the libtorch generator as it stands (seed
 * it first for a reproducible score); a singular kernel (−∞) is stored as −1e300 so that it stays JSON.
 */
export function scoreCandidate(space: ResolvedSearchSpace, spec: Pick<NasSpec, 'resolution' | 'numClasses'>, candidate: Candidate, images: Tensor): number {
  const config = candidateConfig(space, candidate, spec.resolution);
  const model = createEfficientNet(customConfig({ width: 1, depth: 1, resolution: spec.resolution }), { numClasses: spec.numClasses, stages: decodeArchitecture(config.stages!) });
  try {
    const score = naswotScore(model, images).score;
    return Number.isFinite(score) ? score : -1e300;
  } finally {
    model.dispose();
  }
}

/**
 * Ranks screened candidates by the zero-cost reward: the reward with the NASWOT score's rank (in (0, 1], 1 for the
 * best score) in place of accuracy, so that MACs enter as in the real reward. A latency search (whose target is in
 * milliseconds, and whose candidates are not measured while screening) ranks by the score alone. Best first, ties
 * in draw order.
 */
export function rankScreened(spec: NasSpec, records: readonly ScreenRecord[]): ScreenRecord[] {
  const order = records.map((r, i) => ({ r, i })).sort((a, b) => a.r.naswot - b.r.naswot || a.i - b.i);
  const rank = new Map(order.map(({ i }, position) => [i, (position + 1) / records.length]));
  const value = (r: ScreenRecord, i: number): number => (spec.cost === 'macs' ? computeReward(spec.reward, rank.get(i)!, r.macs) : rank.get(i)!);
  return records
    .map((r, i) => ({ r, i, reward: value(r, i) }))
    .sort((a, b) => b.reward - a.reward || a.i - b.i)
    .map(({ r }) => r);
}

/** The architecture search's coordinator over one stored search (see the module comment). */
export class NasCoordinator {
  private readonly space: ResolvedSearchSpace;
  private strategy: SearchStrategy;
  private state: NasState;
  /** Milliseconds spent in polls (asking, telling, storing), for the machinery's cost per trial; scoring aside. */
  private pollMs = 0;
  /** Milliseconds spent scoring issued candidates with the zero-cost score. */
  scoringMs = 0;

  /** The machinery's own time so far (polls minus zero-cost scoring), ms. */
  get machineryMs(): number {
    return this.pollMs - this.scoringMs;
  }

  constructor(
    private readonly store: ExperimentStore,
    private readonly searchId: number,
    private readonly spec: NasSpec,
    private readonly warmCandidates: readonly WarmCandidate[] = [],
    /** Scores a candidate untrained (NASWOT) so that every trained candidate has a score for the correlations. */
    private readonly scorer: ((candidate: Candidate) => number) | null = null,
  ) {
    this.space = resolveSearchSpace(spec.space);
    const stored = store.searchState(searchId) as NasState | null;
    if (stored !== null && stored.format === 'nas-1') {
      this.state = stored;
      this.strategy = restoreSearchStrategy(stored.strategy as unknown as StrategyState);
    } else {
      this.strategy = createSearchStrategy(spec.strategy, { space: flatSearchSpace(this.space), seed: spec.seed, ...(spec.strategyOptions as object) });
      this.state = { format: 'nas-1', strategy: this.strategy.state() as unknown as Json, judged: [], issued: 0, warmIssued: 0, rungsIssued: 0, compareIssued: false, closed: false };
    }
  }

  /** Whether every trial that will ever be added has been added and judged. */
  get closed(): boolean {
    return this.state.closed;
  }

  /** The strategy (for reports and tests). */
  get currentStrategy(): SearchStrategy {
    return this.strategy;
  }

  private save(): void {
    this.state.strategy = this.strategy.state() as unknown as Json;
    this.store.setSearchState(this.searchId, this.state);
  }

  private issue(trial: NasTrialConfig, label: string): void {
    this.state.strategy = this.strategy.state() as unknown as Json;
    this.store.addTrials(this.searchId, [{ label, config: trial }], this.state);
  }

  /**
   * One coordination step: tells the strategy every newly finished search trial (in the order they finished),
   * proposes new trials up to `parallel` outstanding, issues the next promotion rung when the previous one is
   * finished, and closes the search when everything is judged. Cheap: a few store queries.
   */
  poll(): void {
    const started = performance.now();
    try {
      const trials = this.store.trials(this.searchId);
      const judged = new Set(this.state.judged);
      const finished = trials
        .filter((t) => (t.status === 'done' || t.status === 'failed') && !judged.has(t.id))
        .sort((a, b) => (a.finishedAt ?? 0) - (b.finishedAt ?? 0) || a.seq - b.seq);
      for (const trial of finished) {
        const config = trial.config as NasTrialConfig;
        if (trial.status === 'done' && config.stage === 'search') this.strategy.tell(config.candidate, trialReward(this.spec, trial));
        this.state.judged.push(trial.id);
      }
      if (finished.length > 0) this.save();
      const outstanding = (): number => {
        const counts = this.store.counts(this.searchId);
        return counts.pending + counts.running;
      };
      while (this.state.issued < this.spec.trials && outstanding() < this.spec.parallel) {
        const warm = this.state.warmIssued < Math.min(this.spec.warm, this.warmCandidates.length) ? this.warmCandidates[this.state.warmIssued]! : null;
        const candidate = warm?.candidate ?? this.strategy.ask();
        if (warm !== null) this.state.warmIssued += 1;
        this.state.issued += 1;
        let naswot = warm?.naswot ?? null;
        if (naswot === null && this.scorer !== null) {
          const scoring = performance.now();
          naswot = this.scorer(candidate);
          this.scoringMs += performance.now() - scoring;
        }
        this.issue(trialOf(this.spec, this.space, candidate, { naswot, shared: warm?.shared ?? null }), `t${this.state.issued - 1}`);
      }
      if (this.state.issued < this.spec.trials || outstanding() > 0) return;
      if (this.state.rungsIssued < this.spec.rungs) {
        this.promote(this.store.trials(this.searchId));
        return;
      }
      const all = this.store.trials(this.searchId);
      if (this.missingComparisons(all).length > 0) {
        // A resume may raise --compare: the missing seeds are issued, and a closed search opens again for them.
        this.state.closed = false;
        this.compare(all);
        return;
      }
      if (!this.state.closed) {
        this.state.closed = true;
        this.save();
      }
    } finally {
      this.pollMs += performance.now() - started;
    }
  }

  /**
   * One progress line: trials trained per stage, the best reward so far, and an ETA from the mean wall time per unit
   * of budget (a rung-r trial costs η^r units) times the units left, over the workers.
   */
  progressLine(elapsedSeconds: number): string {
    const trials = this.store.trials(this.searchId);
    const finished = trials.filter((t) => t.status === 'done' || t.status === 'failed');
    const units = (t: TrialRow): number => this.spec.eta ** Math.max(0, (t.config as NasTrialConfig).rung === -1 ? this.spec.rungs : (t.config as NasTrialConfig).rung);
    let expected = this.spec.trials;
    let totalUnits = expected;
    for (let r = 1; r <= this.spec.rungs; r++) {
      expected = Math.ceil(expected / this.spec.eta);
      totalUnits += expected * this.spec.eta ** r;
    }
    totalUnits += 2 * this.spec.compareRepeats * this.spec.eta ** this.spec.rungs;
    const doneUnits = finished.reduce((sum, t) => sum + units(t), 0);
    const seconds = finished.reduce((sum, t) => sum + (t.wallSeconds ?? 0), 0);
    const eta = doneUnits === 0 ? NaN : ((seconds / doneUnits) * Math.max(0, totalUnits - doneUnits)) / this.spec.parallel;
    const done = trials.filter((t) => t.status === 'done' && t.valTop1 !== null && (t.config as NasTrialConfig).rung >= 0);
    const best = done.length === 0 ? null : done.reduce((a, b) => (trialReward(this.spec, b) > trialReward(this.spec, a) ? b : a));
    const search = trials.filter((t) => (t.config as NasTrialConfig).rung === 0);
    const running = trials.filter((t) => t.status === 'running').length;
    const failed = trials.filter((t) => t.status === 'failed').length;
    const rung = this.state.rungsIssued > 0 ? `, rung ${this.state.rungsIssued}/${this.spec.rungs}: ${trials.filter((t) => (t.config as NasTrialConfig).rung === this.state.rungsIssued && t.status === 'done').length} done` : '';
    return (
      `nas: ${search.filter((t) => t.status === 'done').length}/${this.spec.trials} trained${rung}, ${running} running, ${failed} failed` +
      `${best === null ? '' : `, best ${best.label} reward ${trialReward(this.spec, best).toFixed(4)} (top-1 ${((best.valTop1 ?? 0) * 100).toFixed(2)}%)`}` +
      `, elapsed ${formatDuration(elapsedSeconds)}, ETA ${this.state.closed ? '0s' : formatDuration(eta)}`
    );
  }

  /** The comparison trials (role, seed) the spec asks for that the store does not hold yet (none before the search's end). */
  private missingComparisons(trials: readonly TrialRow[]): { role: 'best' | 'base'; seed: number }[] {
    if (this.spec.compareRepeats === 0 || bestTrial(this.spec, trials) === null) return [];
    const present = new Set(trials.filter((t) => (t.config as NasTrialConfig).stage === 'compare').map((t) => `${(t.config as NasTrialConfig).role}/${(t.config as NasTrialConfig).seed}`));
    const missing: { role: 'best' | 'base'; seed: number }[] = [];
    for (let r = 0; r < this.spec.compareRepeats; r++) {
      for (const role of ['best', 'base'] as const) {
        const seed = this.spec.seed + 1000 + r;
        if (!present.has(`${role}/${seed}`)) missing.push({ role, seed });
      }
    }
    return missing;
  }

  /**
   * Issues the comparison trials still missing: the reward-best candidate (the one the first comparison trials
   * compared, when there are some) and the space's base, seeds seed+1000 .. seed+999+compareRepeats.
   */
  private compare(trials: readonly TrialRow[]): void {
    this.state.compareIssued = true;
    const best = bestTrial(this.spec, trials);
    const added: { label: string; config: NasTrialConfig }[] = [];
    if (best !== null) {
      const earlier = trials.find((t) => (t.config as NasTrialConfig).stage === 'compare' && (t.config as NasTrialConfig).role === 'best');
      const bestCandidate = earlier === undefined ? (best.config as NasTrialConfig).candidate : (earlier.config as NasTrialConfig).candidate;
      const parent = earlier === undefined ? best.seq : (earlier.config as NasTrialConfig).parent;
      const baseCandidate = candidateOf(this.space, this.spec.space.base);
      for (const { role, seed } of this.missingComparisons(trials)) {
        const candidate = role === 'best' ? bestCandidate : baseCandidate;
        added.push({ label: `${role}-seed${seed}`, config: trialOf(this.spec, this.space, candidate, { stage: 'compare', rung: -1, budget: this.spec.compareBudget, role, seed, parent: role === 'best' ? parent : null }) });
      }
    }
    this.state.strategy = this.strategy.state() as unknown as Json;
    if (added.length === 0) this.save();
    else this.store.addTrials(this.searchId, added, this.state);
  }

  /** Issues the next successive-halving rung: the best ⌈n / η⌉ of the previous rung, η times its budget. */
  private promote(trials: readonly TrialRow[]): void {
    const rung = this.state.rungsIssued + 1;
    const previous = trials.filter((t) => t.status === 'done' && (t.config as NasTrialConfig).rung === rung - 1);
    const keep = Math.ceil(previous.length / this.spec.eta);
    const best = [...previous].sort((a, b) => trialReward(this.spec, b) - trialReward(this.spec, a) || a.seq - b.seq).slice(0, keep);
    const scaled = rungBudget(parseBudget(this.spec.budget), this.spec.eta, rung);
    this.state.rungsIssued = rung;
    const added = best.map((parent) => {
      const config = parent.config as NasTrialConfig;
      return {
        label: `${parent.label.split('@')[0]}@r${rung}`,
        config: { ...config, stage: 'promote' as const, rung, budget: formatBudget(scaled), parent: parent.seq } as NasTrialConfig,
      };
    });
    this.state.strategy = this.strategy.state() as unknown as Json;
    if (added.length === 0) {
      this.save();
      return;
    }
    this.store.addTrials(this.searchId, added, this.state);
  }
}
