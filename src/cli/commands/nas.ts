/**
 * `effnet nas`: the architecture search that finds a baseline (MnasNet's space, ACC·[MACs/T]^w). Candidates of a
 * search space are proposed by a strategy, trained at low fidelity by P worker processes through the experiment
 * store, and told their reward; optional zero-cost screening first and successive halving after; the report names
 * the reward-best baseline and writes it as a configuration file. See docs/nas.md.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { UsageError, parseCount, parseLeaseFlag, parseRecipe, resolveStoreLocation } from '../search-options.js';
import { intFlag, numberFlag, renamedFlag, threadCountFlag } from '../options.js';
import { resolveData, openData } from '../../data/spec.js';
import { resolveThreads, runSearch } from '../../search/runner.js';
import { ExperimentStore, type Json } from '../../search/store.js';
import { DEFAULT_TRIAL_BATCH_SIZE, trialCard } from '../../search/trial.js';
import { formatDuration } from '../../search/progress.js';
import { buildLoaders } from '../../train/run-builder.js';
import { manualSeed, resolveDevice, tensor } from '../../torch/index.js';
import { profileConfig } from '../../search/match.js';
import { EFFICIENTNET_B0_BLOCK_STRINGS } from '../../efficientnet/block-spec.js';
import { builtInSpace, builtInSpaceNames } from '../../search/nas/spaces.js';
import { candidateOf, resolveSearchSpace, flatSearchSpace, spaceSize, type SearchSpaceDocument } from '../../search/nas/space.js';
import { SearchSpaceError, STRATEGY_NAMES, createSearchStrategy, type Candidate } from '../../search/nas/strategy.js';
import { computeReward, REWARD_NAMES } from '../../search/nas/reward.js';
import {
  NAS_KIND,
  ONESHOT_KIND,
  NasCoordinator,
  bestTrial,
  candidateConfig,
  nasDefinition,
  nasSpecOf,
  rankScreened,
  screenCandidates,
  scoreCandidate,
  type NasSpec,
  type ScreenRecord,
  type WarmCandidate,
} from '../../search/nas/search.js';
import { nasNextCommands, writeNasReport } from '../../search/nas/report.js';
import { storeHelp } from '../search-command.js';
import { confirmationCandidates, rankIntoStore, supernetProxy, type SupernetProxy } from '../../search/oneshot/nas-stage.js';
import type { RankedCandidate } from '../../search/oneshot/search.js';

/** One line for `effnet --help`. */
export const summary = 'architecture search for a baseline: MnasNet space, reward ACC·(MACs/T)^w, strategies, store';

const USAGE = `usage: effnet nas --data SPEC --budget 1ep|5min|20steps [--strategy evolution] [--trials 60] [--reward soft] [--space b0] [--parallel P]

  --data SPEC          the training data, as effnet train's (e.g. tar:../shared/data/cifar10-train.tar.gz,val=5000)
  --budget B           per trial of the search stage: epochs (1ep), minutes (5min) or steps (20steps)
  --strategy S         ${STRATEGY_NAMES.join(' | ')} (default evolution; ppo: MnasNet's LSTM controller, defaults
                       hidden 100, 20 rewards per update, 4 epochs, clip 0.2, Adam lr 0.00035)
  --trials N           candidates trained in the search stage (default 60)
  --image-size R       the proxy's training size in pixels (default 32)
  --space NAME|FILE    built-in space (${builtInSpaceNames().join(', ')}; default b0) or a JSON space file (--print-space b0 shows one)
  --reward R           ${REWARD_NAMES.join(' | ')} (default soft: ACC·(c/T)^w; hard: ACC, ×T/c above T; abs: ACC + β·|c/T − 1|)
  --target-macs T      target MACs per image (400M, 25.6M); default the paper's 400M × (the space's base at the proxy /
                       the base at 224 px, 1000 classes)
  --exponent W         soft reward's w (default -0.07); --beta B: abs reward's β (default -0.1)
  --latency            cost = median batch-1 ONNX latency in onnxruntime-node (measured per candidate); needs
                       --target-latency MS; --latency-runs N timed runs (default 30)
  --screen K           score K random candidates untrained (NASWOT, one batch of 64 training images) first
  --warm W             train the W best screened candidates first (default: the population, 20, for evolution; else P)
  --rungs R            successive halving after the search: R rounds of the best 1/η trained η times longer (default 0)
  --eta E              η of successive halving (default 3)
  --compare R          then train the reward-best candidate and the space's base (B0 in b0) R times each, seeds
                       seed+1000.., at --compare-budget B (default the last rung's budget); the report gives mean ± sd
                       and Welch's t; a resumed search may raise R (the missing seeds are trained)
  --population P       evolution: population (default 20); --sample-size S: tournament size (default 5)
  --learning-rate L    reinforce: logits' learning rate (default 0.1); --baseline-momentum M (default 0.9)
  --parallel P         worker processes (default 1); --threads T engine threads each (default cores / P)
${storeHelp('runs/nas.sqlite')}  --name NAME          search name inside the store (default nas)
  --seed S             seed of the strategy, the screening and every trial (default 0)
  --batch-size N       training batch size (default ${DEFAULT_TRIAL_BATCH_SIZE}); --recipe JSON: recipe fields over the trial default
  --loader-workers N   data-loader threads per worker (default 0); --eval-every-epoch: validate after every epoch
  --report-dir DIR     where report.md, candidates.svg and best.json go (default <db folder>/<name>)
  --dry-run            sample --trials candidates from the strategy and profile them (MACs, params, cost factor); no
                       training, nothing stored
  --print-space NAME   print a built-in space's JSON document and exit
  --quiet              no progress lines

one-shot (weight-sharing) search: candidates ranked with a trained supernet's shared weights, the top trained
standalone (docs/nas.md; the supernet's space, proxy size, data and hold-out are the search's):
  --supernet DIR       a directory effnet oneshot train wrote; --data, --space and --image-size then come from it
  --candidates N       candidates ranked with the shared weights by --strategy (default 1000; stored as they are
                       measured, a killed search resumes)
  --calibration N      training batches of 64 images that recalibrate each candidate's BN statistics (default 8)
  --val-images N       hold-out images each candidate is measured on (default 1000)
  --confirm K          the K best distinct candidates of the ranking trained standalone at --budget (default 5);
                       then --compare R trains the best of them and the space's base R times each
`;

const OPTIONS = {
  data: { type: 'string' }, budget: { type: 'string' }, strategy: { type: 'string' }, trials: { type: 'string' }, 'image-size': { type: 'string' }, resolution: { type: 'string' },
  space: { type: 'string' }, reward: { type: 'string' }, 'target-macs': { type: 'string' }, 'target-latency': { type: 'string' }, exponent: { type: 'string' },
  beta: { type: 'string' }, latency: { type: 'boolean' }, 'latency-runs': { type: 'string' }, screen: { type: 'string' }, warm: { type: 'string' },
  rungs: { type: 'string' }, eta: { type: 'string' }, compare: { type: 'string' }, 'compare-budget': { type: 'string' }, population: { type: 'string' }, 'sample-size': { type: 'string' }, 'learning-rate': { type: 'string' },
  'baseline-momentum': { type: 'string' }, parallel: { type: 'string' }, threads: { type: 'string' }, db: { type: 'string' }, lease: { type: 'string' }, device: { type: 'string' }, name: { type: 'string' },
  seed: { type: 'string' }, 'batch-size': { type: 'string' }, recipe: { type: 'string' }, 'loader-workers': { type: 'string' }, 'eval-every-epoch': { type: 'boolean' },
  supernet: { type: 'string' }, candidates: { type: 'string' }, calibration: { type: 'string' }, 'val-images': { type: 'string' }, confirm: { type: 'string' },
  'report-dir': { type: 'string' }, 'dry-run': { type: 'boolean' }, 'print-space': { type: 'string' }, quiet: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
} as const;

/** The space a --space value names: a built-in name or a JSON file. */
export function readSpaceDocument(value: string): SearchSpaceDocument {
  if (builtInSpaceNames().includes(value)) return builtInSpace(value);
  let text: string;
  try {
    text = readFileSync(value, 'utf8');
  } catch (error) {
    throw new SearchSpaceError(`--space '${value}' is neither a built-in space (${builtInSpaceNames().join(', ')}) nor a readable file: ${error instanceof Error ? error.message : String(error)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new SearchSpaceError(`--space ${value} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  resolveSearchSpace(parsed, value);
  return parsed as SearchSpaceDocument;
}

function dryRun(spec: NasSpec, out: (line: string) => void): number {
  const space = resolveSearchSpace(spec.space);
  const strategy = createSearchStrategy(spec.strategy, { space: flatSearchSpace(space), seed: spec.seed, ...(spec.strategyOptions as object) });
  const unit = spec.cost === 'macs' ? 'MACs' : 'ms';
  out(`dry run: space '${spec.space.name}' (${spaceSize(space).toExponential(3)} candidates), strategy ${spec.strategy}, reward ${spec.reward.kind}, target ${spec.cost === 'macs' ? `${(spec.reward.target / 1e6).toFixed(2)}M MACs` : `${spec.reward.target} ms`}${spec.reward.targetDerived ? ' (derived from the proxy)' : ''}, ${spec.resolution}px`);
  try {
    const b0 = profileConfig(candidateConfig(space, candidateOf(space, EFFICIENTNET_B0_BLOCK_STRINGS), spec.resolution), { numClasses: spec.numClasses });
    out(`  B0 at this proxy: ${(b0.macs / 1e6).toFixed(2)}M MACs, ${(b0.params / 1e6).toFixed(2)}M params`);
  } catch {
    // B0 is not a point of this space
  }
  const macs: number[] = [];
  for (let i = 0; i < spec.trials; i++) {
    const candidate = strategy.ask();
    const config = candidateConfig(space, candidate, spec.resolution);
    const cost = profileConfig(config, { numClasses: spec.numClasses });
    macs.push(cost.macs);
    const factor = spec.cost === 'macs' ? computeReward(spec.reward, 1, cost.macs) : NaN;
    out(`  #${i} ${(cost.macs / 1e6).toFixed(2)}M MACs ${(cost.params / 1e6).toFixed(2)}M params  reward at 100% top-1: ${Number.isNaN(factor) ? `– (${unit} measured when trained)` : factor.toFixed(4)}  ${(config.stages ?? []).join(' ')}`);
  }
  const sorted = [...macs].sort((a, b) => a - b);
  const near = macs.filter((m) => Math.abs(m / spec.reward.target - 1) <= 0.1).length;
  out(`  MACs: min ${(sorted[0]! / 1e6).toFixed(2)}M, median ${(sorted[Math.floor(sorted.length / 2)]! / 1e6).toFixed(2)}M, max ${(sorted[sorted.length - 1]! / 1e6).toFixed(2)}M; ${near}/${macs.length} within ±10% of the target`);
  return 0;
}

/**
 * The supernet of a one-shot search (`--supernet`), with the flags it replaces checked: --space and --image-size
 * are the supernet's, --data must name its data when given, and --trials, --screen and --warm belong to the search
 * of standalone trials; the one-shot flags without --supernet are refused too.
 */
function oneShotProxy(values: { [key: string]: string | boolean | undefined }): SupernetProxy | null {
  const oneShotFlags = ['candidates', 'calibration', 'val-images', 'confirm'].filter((f) => values[f] !== undefined);
  if (values.supernet === undefined) {
    if (oneShotFlags.length > 0) throw new UsageError(`--${oneShotFlags[0]} is an option of a one-shot search: add --supernet DIR (a directory effnet oneshot train wrote)`);
    return null;
  }
  for (const [flag, why] of [
    ['space', 'the space is the supernet\'s'],
    ['image-size', 'the proxy size is the supernet\'s'],
    ['trials', 'a one-shot search trains the top --confirm K of its ranking'],
    ['screen', 'the shared-weight ranking replaces the zero-cost screening'],
    ['warm', 'a one-shot search trains the top --confirm K of its ranking'],
  ] as const) {
    if (values[flag] !== undefined) throw new UsageError(`--${flag} does not apply with --supernet: ${why}`);
  }
  const proxy = supernetProxy(String(values.supernet));
  if (values.data !== undefined && values.data !== proxy.description.data && values.data !== proxy.data) {
    throw new UsageError(`--data ${String(values.data)} is not the data the supernet was trained on (${proxy.description.data}); leave --data out with --supernet`);
  }
  return proxy;
}

/** Runs the command; returns the exit code (user errors are thrown: exit 2 from main). */
export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: OPTIONS, strict: true });
  const out = (line: string): void => void process.stderr.write(line + '\n');
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values['print-space'] !== undefined) {
    process.stdout.write(JSON.stringify(builtInSpace(values['print-space']), null, 2) + '\n');
    return 0;
  }
  renamedFlag(values, 'resolution', 'image-size', "one name for a network's input size in every command, effnet train's");
  const proxy = oneShotProxy(values);
  if (proxy !== null) values.data = proxy.data;
  if (values.data === undefined) throw new UsageError('--data is required, e.g. tar:../shared/data/cifar10-train.tar.gz,val=5000');
  if (values.budget === undefined) throw new UsageError("--budget is required: epochs ('1ep'), minutes ('5min') or steps ('20steps') per trial");
  const parallel = threadCountFlag('parallel', values.parallel, 1) ?? 1;
  const threads = resolveThreads(parallel, threadCountFlag('threads', values.threads, 1));
  const name = values.name ?? 'nas';
  const { db, runDir } = resolveStoreLocation(values.db, 'runs/nas.sqlite', name);
  const leaseMs = parseLeaseFlag(values.lease);
  if (values.device !== undefined) resolveDevice(values.device); // a bad or unavailable device fails here, not in each worker
  const latency = values.latency ?? false;
  if (values['target-latency'] !== undefined && !latency) throw new UsageError('--target-latency is the target of a --latency search; add --latency or give --target-macs');
  if (latency && values['target-macs'] !== undefined) throw new UsageError('--latency searches trade accuracy against milliseconds: give --target-latency MS instead of --target-macs');
  const targetText = latency ? values['target-latency'] : values['target-macs'];
  const target = targetText === undefined ? undefined : parseCount(latency ? 'target-latency' : 'target-macs', targetText);
  const numClasses = resolveData(values.data).classes.length; // a bad spec fails here, not in a worker
  const strategyOptions = {
    population: intFlag('population', values.population, 1),
    sampleSize: intFlag('sample-size', values['sample-size'], 1),
    learningRate: numberFlag('learning-rate', values['learning-rate']),
    baselineMomentum: numberFlag('baseline-momentum', values['baseline-momentum']),
  };
  const spec = nasDefinition({
    space: proxy?.description.space ?? readSpaceDocument(values.space ?? 'b0'),
    strategy: values.strategy ?? 'evolution',
    strategyOptions,
    trials: proxy !== null ? (intFlag('confirm', values.confirm, 1) ?? 5) : (intFlag('trials', values.trials, 1) ?? 60),
    resolution: proxy?.description.resolution ?? intFlag('image-size', values['image-size'], 32) ?? 32,
    reward: values.reward ?? 'soft',
    ...(target === undefined ? {} : { target }),
    ...(values.exponent === undefined ? {} : { exponent: numberFlag('exponent', values.exponent)! }),
    ...(values.beta === undefined ? {} : { beta: numberFlag('beta', values.beta)! }),
    latency,
    ...(values['latency-runs'] === undefined ? {} : { latencyRuns: intFlag('latency-runs', values['latency-runs'], 1)! }),
    ...(values.screen === undefined ? {} : { screen: intFlag('screen', values.screen, 0)! }),
    ...(values.warm === undefined ? {} : { warm: intFlag('warm', values.warm, 0)! }),
    ...(values.rungs === undefined ? {} : { rungs: intFlag('rungs', values.rungs, 0)! }),
    ...(values.eta === undefined ? {} : { eta: intFlag('eta', values.eta, 2)! }),
    ...(values.compare === undefined ? {} : { compareRepeats: intFlag('compare', values.compare, 0)! }),
    ...(values['compare-budget'] === undefined ? {} : { compareBudget: values['compare-budget'] }),
    parallel,
    seed: intFlag('seed', values.seed, 0) ?? 0,
    data: values.data,
    numClasses,
    budget: values.budget,
    batchSize: intFlag('batch-size', values['batch-size'], 1) ?? DEFAULT_TRIAL_BATCH_SIZE,
    recipe: parseRecipe(values.recipe),
    loaderWorkers: threadCountFlag('loader-workers', values['loader-workers'], 0) ?? 0,
    runDir,
    evalEveryEpoch: values['eval-every-epoch'] ?? false,
    ...(proxy === null
      ? {}
      : {
          oneshot: {
            supernet: proxy.dir,
            ...(values.candidates === undefined ? {} : { candidates: intFlag('candidates', values.candidates, 1)! }),
            ...(values.calibration === undefined ? {} : { calibration: intFlag('calibration', values.calibration, 1)! }),
            ...(values['val-images'] === undefined ? {} : { valImages: intFlag('val-images', values['val-images'], 1)! }),
          },
        }),
  });
  if (values['dry-run']) return dryRun(spec, out);

  const store = ExperimentStore.open(db);
  const started = performance.now();
  let coordinator: NasCoordinator;
  let searchId: number;
  let screened: ScreenRecord[] = [];
  let scorer: ((candidate: Candidate) => number) | null = null;
  let ranked: RankedCandidate[] = [];
  try {
    const existing = store.findSearch(name);
    if (existing !== null) {
      const stored = nasSpecOf(existing.kind, existing.spec, `search '${name}' in ${store.location}`);
      // More comparison seeds are the one setting a resume may raise: what ran stays valid, the missing seeds are added.
      const others = (s: NasSpec): string => JSON.stringify({ ...s, compareRepeats: 0 });
      if (spec.compareRepeats > stored.compareRepeats && others(stored) === others(spec)) {
        store.updateSearchSpec(existing.id, spec as unknown as { [key: string]: Json });
        out(`raising the comparison of search '${name}' from ${stored.compareRepeats} to ${spec.compareRepeats} seed(s) each: the missing ones are trained`);
      }
    }
    const { search, created } = store.createOrResumeSearch(name, spec.oneshot === null ? NAS_KIND : ONESHOT_KIND, spec as unknown as { [key: string]: Json }, []);
    searchId = search.id;
    const counts = store.counts(search.id);
    out(`${created ? 'created' : 'resuming'} architecture search '${name}' in ${store.location}: ${counts.done} trained, ${counts.failed} failed, ${counts.pending + counts.running} to run; ${parallel} worker(s) x ${threads} thread(s)`);
    if (spec.screen > 0) {
      const data = await openData(spec.data);
      // The loader only needs the proxy's size and transforms; the base network's card gives them.
      const card = trialCard({ width: 1, depth: 1, resolution: spec.resolution, dropout: 0.2, stages: [...spec.space.base] }, data.classes, 0, 'screening input');
      const loaders = buildLoaders({ card, data, batchSize: 64, seed: spec.seed, workers: 0 });
      try {
        let batch: { images: Float32Array; shape: [number, number, number, number] } | null = null;
        for await (const b of loaders.train.epoch(0)) {
          batch = b;
          break;
        }
        const images = tensor(batch!.images, batch!.shape);
        const screenStarted = performance.now();
        screened = screenCandidates(store, search.id, spec, images, (done, total) => {
          if (!values.quiet && (done % 100 === 0 || done === total)) out(`  screened ${done}/${total} (${((performance.now() - screenStarted) / done).toFixed(0)} ms each)`);
        });
        const space = resolveSearchSpace(spec.space);
        let scored = 0;
        scorer = (candidate) => {
          manualSeed(spec.seed + 100_000 + scored++);
          return scoreCandidate(space, spec, candidate, images);
        };
      } finally {
        await loaders.close();
      }
    }
    let warm: WarmCandidate[] = rankScreened(spec, screened);
    if (spec.oneshot !== null) {
      const rankStarted = performance.now();
      ranked = await rankIntoStore(store, search.id, spec, {
        log: values.quiet ? (): void => undefined : out,
        onRanked: (_, done, total) => {
          if (values.quiet || (done % 100 !== 0 && done !== total)) return;
          const seconds = (performance.now() - rankStarted) / 1000;
          out(`  ranked ${done}/${total} with the shared weights, elapsed ${formatDuration(seconds)}`);
        },
      });
      warm = confirmationCandidates(spec, ranked, spec.trials);
      out(`confirmation: the ${warm.length} best distinct networks of ${ranked.length} ranked are trained standalone at ${spec.budget}`);
    }
    coordinator = new NasCoordinator(store, search.id, spec, warm, scorer);
    coordinator.poll();
  } catch (error) {
    store.close();
    throw error;
  }
  let lastLine = 0;
  try {
    for (let round = 0; !coordinator.closed && round < 3; round++) {
      await runSearch({
        db,
        runDir,
        searchId,
        ...(leaseMs === undefined ? {} : { leaseMs }),
        ...(values.device === undefined ? {} : { device: values.device }),
        parallel,
        threads,
        pollMs: 500,
        onPoll: () => {
          coordinator.poll();
          if (!values.quiet && performance.now() - lastLine > 30_000) {
            lastLine = performance.now();
            out(coordinator.progressLine((performance.now() - started) / 1000));
          }
        },
        onRequeued: (trials) => out(`re-queued ${trials.length} trial(s) left running by an interrupted run: ${trials.map((t) => t.label).join(', ')}`),
        onEvent: (m) => {
          if (values.quiet) return;
          if (m.type === 'done') out(`  ${m.label}: val top-1 ${(m.valTop1 * 100).toFixed(2)}% in ${m.wallSeconds.toFixed(1)}s`);
          else if (m.type === 'failed') out(`  ${m.label} FAILED: ${m.error}`);
        },
      });
      coordinator.poll();
      if (store.counts(searchId).pending === 0 && !coordinator.closed) coordinator.poll();
    }
    const search = store.getSearch(searchId);
    const trials = store.trials(searchId);
    const machineryMsPerTrial = trials.length === 0 ? 0 : coordinator.machineryMs / trials.length;
    const stored = spec.oneshot === null && screened.length === 0 ? (store.scores(searchId).map((s) => s.record) as ScreenRecord[]) : screened;
    const files = writeNasReport(values['report-dir'] ?? runDir, search, spec, trials, stored, { machineryMsPerTrial, ...(spec.oneshot === null ? {} : { ranked }) });
    out(coordinator.progressLine((performance.now() - started) / 1000));
    out(`machinery: ${machineryMsPerTrial.toFixed(1)} ms per trial; elapsed ${formatDuration((performance.now() - started) / 1000)}`);
    out(`report: ${files.join(', ')}`);
    const best = bestTrial(spec, trials);
    if (best !== null) for (const command of nasNextCommands(values['report-dir'] ?? runDir, spec, best)) out(`next: ${command}`);
    return store.counts(searchId).failed > 0 ? 1 : 0;
  } finally {
    store.close();
  }
}

/** The usage text (main.ts reads its flags to suggest the nearest one for a mistyped flag). */
export { USAGE as usage };
