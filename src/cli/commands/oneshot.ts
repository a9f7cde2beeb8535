/**
 * `effnet oneshot`: weight-sharing architecture search over an `effnet nas` space (docs/nas.md, "One-shot search").
 *   train    trains the space's supernet (uniform single-path SPOS, progressive or sandwich sampling) into a run directory
 *   search   ranks candidates with the shared weights (BN recalibrated per candidate) by a strategy and reward
 *   extract  writes one candidate as a standalone model file with its card and its shared weights
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { distributedRunOptionsFrom, isLaunch, launchTraining, workerFlags } from './train-launch.js';
import { saveModel } from '../../model-file/weights.js';
import { REWARD_NAMES, type RewardName } from '../../search/nas/reward.js';
import { STRATEGY_NAMES, SearchSpaceError, type Candidate } from '../../search/nas/strategy.js';
import { extractCandidate } from '../../search/oneshot/extract.js';
import { calibrationData, disposeBatches, oneShotSearch, RANKING_FILE, RANKING_SUMMARY_FILE } from '../../search/oneshot/search.js';
import { recalibrateBatchNorm } from '../../search/oneshot/rank.js';
import { KERNEL_SHARING_MODES } from '../../search/oneshot/supernet.js';
import { PATH_SAMPLINGS } from '../../search/oneshot/sampling.js';
import { openSupernet, trainSupernet, SUPERNET_FILE } from '../../search/oneshot/train.js';
import { RL_WARMUPS, type ReinforceOptions } from '../../search/oneshot/controller-training.js';
import { fidelityTable, measureFidelity } from '../../search/oneshot/fidelity.js';
import { setNumThreads } from '../../torch/index.js';
import type { Recipe } from '../../train/trainer.js';
import { choiceFlag, intFlag, numberFlag, renamedFlag, SIGNAL_EXIT, threadCountFlag, UsageError } from '../options.js';
import { readSpaceDocument } from './nas.js';
import { shellArgument } from '../../printable.js';

export const summary = 'one-shot architecture search: train a weight-sharing supernet, rank candidates with it, extract one';

const USAGE = `usage: effnet oneshot train --data SPEC --out DIR [--space b0] [--image-size 32] [--epochs 10] [--resume] ...
       effnet oneshot search --supernet DIR [--candidates 1000] [--strategy evolution] [--reward soft] ...
       effnet oneshot extract --supernet DIR (--best | --candidate JSON|FILE) --out MODEL.safetensors
       effnet oneshot fidelity --supernet DIR --out DIR [--candidates 20] [--epochs 15] ...

train (paths drawn from (seed, step); Ctrl-C saves, --resume continues):
  --data SPEC          training data, as effnet train --data (hold-out: --val-split, default 0.1)
  --out DIR            the supernet's run directory (supernet.json, checkpoints, metrics)
  --space S            built-in space (b0, mobilenetv2) or a space JSON file (default b0)
  --image-size PX      the proxy training size (default 32; the small-image strides follow it)
  --kernels K          ${KERNEL_SHARING_MODES.join(' | ')}: a smaller kernel as the centre of the largest (default centre) or one weight per size
  --epochs N           epochs (default 10); recipe flags as effnet train: --lr, --weight-decay, --warmup-epochs,
                       --label-smoothing; unset ones follow the fast recipe (SGD 0.2 per 256, cosine, wd 5e-4)
  --batch-size B       images per step (default 128 up to 64px)
  --drop-path P        largest drop-path rate along a path (default 0); --dropout P: the classifier's (default 0.2)
  --sampling S         ${PATH_SAMPLINGS.join(' | ')} (default uniform): one uniform path per step (SPOS); the
                       reference alone first, then kernel, layers, filters, SE+skip, op freed phase by phase (after
                       OFA); or the reference on the labels plus --students N uniform paths distilled from it (BigNAS)
  --students N         paths distilled per step with --sampling sandwich (default 2; a step costs about 1 + N paths)
  --sampling reinforce TuNAS: paths drawn from a per-dimension policy that learns, after each step, from the path's
                       reward on a batch of held-out images (BN from the batch itself); writes policy.json and
                       most-likely.json (the policy's answer) after every epoch. Its options (defaults TuNAS's):
    --rl-delay F       fraction of the steps with the controller frozen (default 0.25; > 0)
    --rl-warmup W      the paths of the delay: progressive (default: progressive sampling's phases over the delay)
                       or uniform (TuNAS's, with --filter-warmup F: "largest filters" fading from probability 1 to
                       0 over that fraction of the steps, default 0.25, <= delay)
    --rl-lr R          the controller's Adam rate after the delay, x10 by the end (default 0.0048, TuNAS's)
    --reward R         ${REWARD_NAMES.join(' | ')} (default abs: ACC + beta·|MACs/T - 1|); --target-macs T (default derived
                       from the proxy, as effnet nas), --beta B (default -0.1), --exponent W
    --reward-batch N   held-out images per reward (default the batch size); --reward-images N: the first N of the
                       hold-out they are drawn from (default 2000); --entropy C: entropy bonus (default 0)
  --seed S, --threads T, --workers W (loader threads, default 1), --resume
  --nproc-per-node N   data-parallel: N worker processes on this host, --batch-size the global batch; every rank
                       trains the same path per step (drawn from (seed, step)), gradients averaged over its parameters;
                       --sync-bn (the global batch's BN statistics: ends at the one-process supernet), --dist-bn,
                       --dist-timeout and --max-restarts as effnet train's

search (ranks with the shared weights; resumable: ranking.jsonl in the supernet directory):
  --supernet DIR       a directory effnet oneshot train wrote
  --candidates N       candidates to rank in all (default 1000)
  --strategy S         ${STRATEGY_NAMES.join(' | ')} (default evolution); --population, --sample-size for evolution
  --reward R           ${REWARD_NAMES.join(' | ')} (default soft: ACC·(MACs/T)^w); --target-macs T (default derived
                       from the proxy, as effnet nas); --exponent W, --beta B
  --calibration N      training batches that recalibrate each candidate's BN statistics (default 8, of 64 images)
  --val-images N       hold-out images each candidate is measured on (default 1000)
  --seed S, --threads T, --top K (rows printed, default 10)

extract:
  --supernet DIR, --best (the reward-best of the search) or --candidate JSON|FILE, --out MODEL.safetensors
  --calibration N, --seed S: the candidate's BN statistics are recalibrated first, as search does (default 8, 0)
  The model file trains (effnet train --from), exports, evaluates and predicts like any other.

fidelity (which cheap signal ranks candidates as converged standalone training does; resumable: fidelity.jsonl):
  --supernet DIR[,DIR] a directory effnet oneshot train wrote (its space, proxy, data and hold-out are used); several
                       of one space and proxy (e.g. other --sampling) each get a shared-weight row on the same candidates
  --out DIR            the harness's directory: candidates.json, fidelity.jsonl, fidelity.json, fidelity.md, trials/
  --candidates N       candidates, stratified by MACs (default 20)
  --epochs E           epochs of the converged standalone training (default 15; batch --batch-size, default 128,
                       the trials' recipe with weight decay 5e-4)
  --short-epochs S     the short standalone training, a cheap signal (default 1; effnet nas's trial recipe, batch 32)
  --seed-repeats K     candidates trained again with seed+1: the seed-to-seed ceiling (default 5)
  --calibration N, --val-images N (the shared-weight signal, as search), --seed S, --threads T, --workers W
`;

const OPTIONS = {
  data: { type: 'string' }, out: { type: 'string' }, space: { type: 'string' }, 'image-size': { type: 'string' }, resolution: { type: 'string' }, kernels: { type: 'string' },
  epochs: { type: 'string' }, lr: { type: 'string' }, 'weight-decay': { type: 'string' }, 'warmup-epochs': { type: 'string' }, 'label-smoothing': { type: 'string' },
  'batch-size': { type: 'string' }, 'drop-path': { type: 'string' }, dropout: { type: 'string' }, 'val-split': { type: 'string' }, seed: { type: 'string' }, threads: { type: 'string' },
  workers: { type: 'string' }, resume: { type: 'boolean' }, supernet: { type: 'string' }, candidates: { type: 'string' }, strategy: { type: 'string' },
  population: { type: 'string' }, 'sample-size': { type: 'string' }, reward: { type: 'string' }, 'target-macs': { type: 'string' }, exponent: { type: 'string' },
  beta: { type: 'string' }, calibration: { type: 'string' }, 'val-images': { type: 'string' }, top: { type: 'string' }, best: { type: 'boolean' },
  candidate: { type: 'string' }, quiet: { type: 'boolean' }, sampling: { type: 'string' }, students: { type: 'string' },
  'short-epochs': { type: 'string' }, 'seed-repeats': { type: 'string' },
  'rl-delay': { type: 'string' }, 'filter-warmup': { type: 'string' }, 'rl-lr': { type: 'string' }, 'reward-batch': { type: 'string' },
  'reward-images': { type: 'string' }, entropy: { type: 'string' }, 'rl-warmup': { type: 'string' },
  'nproc-per-node': { type: 'string' }, 'max-restarts': { type: 'string' }, 'sync-bn': { type: 'boolean' }, 'dist-bn': { type: 'string' }, 'dist-timeout': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; strict: true; allowPositionals: true }>>['values'];

const ONLY: Record<string, readonly string[]> = {
  train: ['data', 'out', 'space', 'image-size', 'kernels', 'epochs', 'lr', 'weight-decay', 'warmup-epochs', 'label-smoothing', 'batch-size', 'drop-path', 'dropout', 'val-split', 'seed', 'threads', 'workers', 'resume', 'quiet', 'sampling', 'students',
    'rl-delay', 'rl-warmup', 'filter-warmup', 'rl-lr', 'reward', 'target-macs', 'beta', 'exponent', 'reward-batch', 'reward-images', 'entropy',
    'nproc-per-node', 'max-restarts', 'sync-bn', 'dist-bn', 'dist-timeout'],
  search: ['supernet', 'candidates', 'strategy', 'population', 'sample-size', 'reward', 'target-macs', 'exponent', 'beta', 'calibration', 'val-images', 'seed', 'threads', 'top', 'quiet'],
  extract: ['supernet', 'best', 'candidate', 'out', 'calibration', 'seed'],
  fidelity: ['supernet', 'out', 'candidates', 'epochs', 'short-epochs', 'seed-repeats', 'batch-size', 'calibration', 'val-images', 'seed', 'threads', 'workers'],
};

function checkFlags(subcommand: string, values: Values): void {
  renamedFlag(values, 'resolution', 'image-size', "one name for a network's input size in every command, effnet train's");
  const allowed = ONLY[subcommand]!;
  for (const flag of Object.keys(values)) {
    if (!allowed.includes(flag)) throw new UsageError(`--${flag} is not an option of effnet oneshot ${subcommand} (its options: ${allowed.map((f) => `--${f}`).join(', ')})`);
  }
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

const REINFORCE_FLAGS = ['rl-delay', 'rl-warmup', 'filter-warmup', 'rl-lr', 'reward', 'target-macs', 'beta', 'exponent', 'reward-batch', 'reward-images', 'entropy'] as const;

/** The controller options of `train --sampling reinforce`; undefined when none is given. */
function reinforceFlags(values: Values): ReinforceOptions | undefined {
  const given = REINFORCE_FLAGS.filter((flag) => values[flag] !== undefined);
  if (given.length === 0) return values.sampling === 'reinforce' ? {} : undefined;
  if (values.sampling !== 'reinforce') throw new UsageError(`${given.map((f) => `--${f}`).join(', ')} set the controller of --sampling reinforce; add --sampling reinforce or drop them`);
  const options: ReinforceOptions = {};
  const delay = numberFlag('rl-delay', values['rl-delay'], 0, 1, true);
  if (delay !== undefined) options.delay = delay;
  const warmup = choiceFlag('rl-warmup', values['rl-warmup'], RL_WARMUPS);
  if (warmup !== undefined) options.warmup = warmup;
  const filterWarmup = numberFlag('filter-warmup', values['filter-warmup'], 0, 1, true);
  if (filterWarmup !== undefined) options.filterWarmup = filterWarmup;
  const lr = numberFlag('rl-lr', values['rl-lr'], Number.MIN_VALUE);
  if (lr !== undefined) options.lr = lr;
  const reward = choiceFlag('reward', values.reward, REWARD_NAMES);
  if (reward !== undefined) options.reward = reward;
  const target = numberFlag('target-macs', values['target-macs'], Number.MIN_VALUE);
  if (target !== undefined) options.target = target;
  const beta = numberFlag('beta', values.beta);
  if (beta !== undefined) options.beta = beta;
  const exponent = numberFlag('exponent', values.exponent);
  if (exponent !== undefined) options.exponent = exponent;
  const rewardBatch = intFlag('reward-batch', values['reward-batch'], 1);
  if (rewardBatch !== undefined) options.rewardBatch = rewardBatch;
  const rewardImages = intFlag('reward-images', values['reward-images'], 1);
  if (rewardImages !== undefined) options.rewardImages = rewardImages;
  const entropy = numberFlag('entropy', values.entropy, 0);
  if (entropy !== undefined) options.entropyWeight = entropy;
  return options;
}

async function train(values: Values, args: readonly string[]): Promise<number> {
  if (values.data === undefined) throw new UsageError('--data is required (e.g. --data tar:../shared/data/cifar10-train.tar.gz,val=5000)');
  if (values.out === undefined) throw new UsageError('--out is required: the supernet run directory');
  if (isLaunch(values)) {
    workerFlags(values);
    reinforceFlags(values);
    const launched = await launchTraining(values, args, (line) => process.stderr.write(`${line}\n`), ['oneshot']);
    return launched.code;
  }
  const distributed = distributedRunOptionsFrom(values);
  const recipe: Recipe = { epochs: intFlag('epochs', values.epochs, 1) ?? 10 };
  const lr = numberFlag('lr', values.lr, Number.MIN_VALUE);
  if (lr !== undefined) recipe.lr = lr;
  const wd = numberFlag('weight-decay', values['weight-decay'], 0);
  if (wd !== undefined) recipe.weightDecay = wd;
  const warmup = numberFlag('warmup-epochs', values['warmup-epochs'], 0);
  if (warmup !== undefined) recipe.warmupEpochs = warmup;
  const smoothing = numberFlag('label-smoothing', values['label-smoothing'], 0, 1, true);
  if (smoothing !== undefined) recipe.labelSmoothing = smoothing;
  const batchSize = intFlag('batch-size', values['batch-size'], 1);
  const threads = threadCountFlag('threads', values.threads, 1);
  const controller = new AbortController();
  let received: string | null = null;
  let receivedAt = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    // A worker gets a terminal's Ctrl-C twice (from the terminal and passed on by the launcher): one request.
    if (received !== null && distributed !== null && performance.now() - receivedAt < 1000) return;
    if (received !== null) process.exit(SIGNAL_EXIT[signal] ?? 1);
    received = signal;
    receivedAt = performance.now();
    process.stderr.write(`\neffnet oneshot: ${signal} received; stopping after the current step and saving a checkpoint (send it again to quit at once)\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const valSplit = numberFlag('val-split', values['val-split'], 0, 1, true);
    const dropPath = numberFlag('drop-path', values['drop-path'], 0, 1, true);
    const dropout = numberFlag('dropout', values.dropout, 0, 1, true);
    const students = intFlag('students', values.students, 0);
    if (students !== undefined && values.sampling !== 'sandwich') throw new UsageError('--students is the number of distilled paths of --sampling sandwich; add --sampling sandwich or drop it');
    const reinforce = reinforceFlags(values);
    const result = await trainSupernet({
      space: readSpaceDocument(values.space ?? 'b0'),
      data: values.data,
      ...(valSplit === undefined ? {} : { valSplit }),
      resolution: intFlag('image-size', values['image-size'], 32) ?? 32,
      out: values.out,
      recipe,
      ...(batchSize === undefined ? {} : { batchSize }),
      seed: intFlag('seed', values.seed, 0) ?? 0,
      ...(threads === undefined ? {} : { threads }),
      workers: threadCountFlag('workers', values.workers, 0) ?? 1,
      kernelSharing: choiceFlag('kernels', values.kernels, KERNEL_SHARING_MODES) ?? 'centre',
      sampling: choiceFlag('sampling', values.sampling, PATH_SAMPLINGS) ?? 'uniform',
      ...(students === undefined ? {} : { students }),
      ...(reinforce === undefined ? {} : { reinforce }),
      ...(dropPath === undefined ? {} : { dropPath }),
      ...(dropout === undefined ? {} : { dropout }),
      resume: values.resume ?? false,
      progress: values.quiet || (distributed !== null && distributed.worker.rank !== 0) ? null : process.stderr,
      log: out,
      signal: controller.signal,
      distributed,
    });
    if (distributed !== null && distributed.worker.rank !== 0) return result.stopped ? (SIGNAL_EXIT[received ?? ''] ?? 130) : 0;
    if (result.stopped) {
      out(`interrupted: checkpoint saved in ${values.out}; continue with the same command plus --resume`);
      return SIGNAL_EXIT[received ?? ''] ?? 130;
    }
    out(
      `supernet trained in ${(result.seconds / 60).toFixed(1)} min (all parts); next: effnet oneshot search --supernet ${shellArgument(values.out)}` +
        ` (or, through the experiment store with standalone confirmation: effnet nas --supernet ${shellArgument(values.out)} --budget converge)`,
    );
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function search(values: Values): Promise<number> {
  if (values.supernet === undefined) throw new UsageError('--supernet DIR is required (a directory effnet oneshot train wrote)');
  const threads = threadCountFlag('threads', values.threads, 1);
  if (threads !== undefined) setNumThreads(threads);
  const targetText = values['target-macs'];
  const target = targetText === undefined ? undefined : Number(targetText);
  if (target !== undefined && !(target > 0)) throw new UsageError(`--target-macs must be a number > 0 (e.g. 25e6), got '${targetText}'`);
  const total = intFlag('candidates', values.candidates, 1) ?? 1000;
  const top = intFlag('top', values.top, 1) ?? 10;
  const started = performance.now();
  const population = intFlag('population', values.population, 2);
  const sampleSize = intFlag('sample-size', values['sample-size'], 1);
  const exponent = numberFlag('exponent', values.exponent, -Infinity);
  const beta = numberFlag('beta', values.beta, -Infinity);
  const calibration = intFlag('calibration', values.calibration, 1);
  const validationImages = intFlag('val-images', values['val-images'], 1);
  const result = await oneShotSearch({
    dir: values.supernet,
    candidates: total,
    strategy: values.strategy ?? 'evolution',
    ...(population === undefined ? {} : { population }),
    ...(sampleSize === undefined ? {} : { sampleSize }),
    reward: (choiceFlag('reward', values.reward, REWARD_NAMES) ?? 'soft') as RewardName,
    ...(target === undefined ? {} : { target }),
    ...(exponent === undefined ? {} : { exponent }),
    ...(beta === undefined ? {} : { beta }),
    ...(calibration === undefined ? {} : { calibrationBatches: calibration }),
    ...(validationImages === undefined ? {} : { validationImages }),
    seed: intFlag('seed', values.seed, 0) ?? 0,
    log: out,
    onRanked: (ranked, done, all) => {
      if (!values.quiet && (done % 50 === 0 || done === all)) {
        const rate = (performance.now() - started) / 1000 / done;
        process.stderr.write(`  ranked ${done}/${all} (last: top-1 ${(ranked.accuracy * 100).toFixed(2)}% at ${(ranked.macs / 1e6).toFixed(1)}M MACs, ${ranked.seconds.toFixed(2)} s; about ${Math.round(rate * (all - done))} s left)\n`);
      }
    },
  });
  const rows = [...result.ranked].sort((a, b) => b.reward - a.reward).slice(0, top);
  out(`top ${rows.length} of ${result.ranked.length} by ${result.reward} reward (target ${(result.target / 1e6).toFixed(2)}M MACs):`);
  out('  rank  index  shared top-1  MACs (M)  params (M)  reward');
  rows.forEach((r, i) => out(`  ${String(i + 1).padStart(4)}  ${String(r.index).padStart(5)}  ${(r.accuracy * 100).toFixed(2).padStart(11)}%  ${(r.macs / 1e6).toFixed(1).padStart(8)}  ${(r.params / 1e6).toFixed(2).padStart(10)}  ${r.reward.toFixed(4)}`));
  out(`Pareto front (shared top-1 vs MACs): ${result.front.length} candidates; all in ${join(values.supernet, RANKING_FILE)}, summary in ${join(values.supernet, RANKING_SUMMARY_FILE)}`);
  out(`next: effnet oneshot extract --supernet ${shellArgument(values.supernet)} --best --out best.safetensors, then train it standalone (effnet train --from best.safetensors ...) to confirm`);
  return 0;
}

function candidateFrom(values: Values, dir: string): Candidate {
  if (values.best && values.candidate !== undefined) throw new UsageError('--best and --candidate exclude each other');
  if (values.best) {
    let text: string;
    try {
      text = readFileSync(join(dir, RANKING_SUMMARY_FILE), 'utf8');
    } catch {
      throw new UsageError(`--best: ${join(dir, RANKING_SUMMARY_FILE)} does not exist; run effnet oneshot search --supernet ${dir} first`);
    }
    return (JSON.parse(text) as { best: { candidate: Candidate } }).best.candidate;
  }
  if (values.candidate === undefined) throw new UsageError('give --best or --candidate JSON|FILE (a candidate object as ranking.jsonl holds them)');
  const text = values.candidate.trim().startsWith('{') ? values.candidate : readFileSync(values.candidate, 'utf8');
  try {
    const parsed = JSON.parse(text) as unknown;
    const record = parsed as { candidate?: Candidate };
    return (record.candidate ?? parsed) as Candidate;
  } catch (error) {
    throw new SearchSpaceError(`--candidate is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
}

async function extract(values: Values): Promise<number> {
  if (values.supernet === undefined) throw new UsageError('--supernet DIR is required');
  if (values.out === undefined) throw new UsageError('--out MODEL.safetensors is required');
  const candidate = candidateFrom(values, values.supernet);
  const calibrationBatches = intFlag('calibration', values.calibration, 1) ?? 8;
  const seed = intFlag('seed', values.seed, 0) ?? 0;
  const { supernet, description } = openSupernet(values.supernet);
  try {
    // The shared running statistics mix every path's: the candidate's own come from its training images first.
    const data = await calibrationData(description, { calibrationBatches, calibrationBatchSize: 64, validationImages: 1, seed });
    try {
      recalibrateBatchNorm(supernet, supernet.pathOf(candidate), data.calibration);
    } finally {
      disposeBatches([...data.calibration, ...data.validation]);
    }
    const { model, card } = extractCandidate(supernet, candidate, description.classes);
    let params: number;
    try {
      saveModel(values.out, model, { card });
      params = model.parameterCount();
    } finally {
      model.dispose();
    }
    out(`wrote ${values.out}: ${card.architecture.stages.length} stages, ${params.toLocaleString('en-US')} parameters, ${description.classes.length} classes (weights from the supernet in ${values.supernet}, ${SUPERNET_FILE})`);
    return 0;
  } finally {
    supernet.dispose();
  }
}

async function fidelity(values: Values): Promise<number> {
  if (values.supernet === undefined) throw new UsageError('--supernet DIR is required (a directory effnet oneshot train wrote)');
  if (values.out === undefined) throw new UsageError('--out DIR is required (where the harness keeps its measurements)');
  const opt = <T>(key: string, value: T | undefined): Record<string, T> => (value === undefined ? {} : { [key]: value });
  const threads = threadCountFlag('threads', values.threads, 1);
  const report = await measureFidelity({
    supernet: values.supernet.split(',').map((dir) => dir.trim()),
    out: values.out,
    ...opt('candidates', intFlag('candidates', values.candidates, 3)),
    ...opt('epochs', intFlag('epochs', values.epochs, 1)),
    ...opt('shortEpochs', intFlag('short-epochs', values['short-epochs'], 1)),
    ...opt('seedRepeats', intFlag('seed-repeats', values['seed-repeats'], 0)),
    ...opt('batchSize', intFlag('batch-size', values['batch-size'], 1)),
    ...opt('calibrationBatches', intFlag('calibration', values.calibration, 1)),
    ...opt('validationImages', intFlag('val-images', values['val-images'], 1)),
    ...opt('seed', intFlag('seed', values.seed, 0)),
    ...opt('threads', threads),
    ...opt('workers', threadCountFlag('workers', values.workers, 0)),
    log: out,
  });
  out(fidelityTable(report).trimEnd());
  out(`wall time of the measurements ${(report.seconds / 60).toFixed(1)} min; the table is in ${join(values.out, 'fidelity.md')}`);
  return 0;
}

export async function run(args: string[]): Promise<number> {
  const parsed = parseArgs({ args, options: OPTIONS, strict: true, allowPositionals: true });
  const [subcommand, ...rest] = parsed.positionals;
  if (parsed.values.help || subcommand === undefined) {
    process.stdout.write(USAGE);
    return subcommand === undefined && !parsed.values.help ? 2 : 0;
  }
  if (rest.length > 0) throw new UsageError(`unexpected arguments: ${rest.join(' ')}`);
  if (!(subcommand in ONLY)) throw new UsageError(`unknown subcommand '${subcommand}'; use train, search, extract or fidelity`);
  checkFlags(subcommand, parsed.values);
  if (subcommand === 'train') return train(parsed.values, args);
  if (subcommand === 'search') return search(parsed.values);
  if (subcommand === 'fidelity') return fidelity(parsed.values);
  return await extract(parsed.values);
}

/** The usage text (main.ts reads its flags to suggest the nearest one for a mistyped flag). */
export { USAGE as usage };
