/**
 * `effnet train`: trains an EfficientNet (registered variant or custom width/depth) on a data spec with the paper's
 * recipe as defaults, a progress bar, per-epoch metrics files, checkpoints, a final summary and the final model
 * written with saveModel. SIGINT/SIGTERM stop after the current step with a checkpoint (exit 130/143); `--resume`
 * continues from DIR/last.safetensors. `--config FILE` reads the model from an `effnet scale --write` file;
 * `--write-split FILE` only writes the hold-out's split file (see src/train/split-file.ts) and exits. `--nproc-per-node N`
 * starts N data-parallel workers of this command (train-launch.ts); a process started with torchrun's environment
 * (RANK, WORLD_SIZE, ...) trains as one rank.
 */
import { parseArgs } from 'node:util';
import { parseFreeze, runTraining, writeSplitForSpec, type ModelRequest, type TrainRunOptions } from '../../train/run.js';
import { readModelCard } from '../../model-file/open.js';
import { definingFlags, isRunControlFlag, mergeResumeFlags, readRunDescription } from '../../train/run-description.js';
import { parseProgressive, progressivePreset } from '../../train/progressive.js';
import type { AugmentChoice } from '../../train/small-images.js';
import type { Recipe } from '../../train/trainer.js';
import { choiceFlag, intFlag, numberFlag, parseStrides, SIGNAL_EXIT, threadCountFlag, UsageError } from '../options.js';
import { TTA_MODES } from '../../card/tta.js';
import { distributedRunOptionsFrom, isLaunch, launchTraining, workerFlags } from './train-launch.js';

/** One line for `effnet --help`. */
export const summary = 'train an EfficientNet on images (fashion-mnist, a folder, a tar) with checkpoints and metrics';

const USAGE = `usage: effnet train --data SPEC --out DIR [options]
       effnet train --data SPEC [--val-split F] --write-split FILE   (write the hold-out's split file, then exit)

model
  --model NAME            b0..b8, l2, v2-s/m/l/xl, lite0..lite4, v2-b0..v2-b3 or custom (default b0)
  --config FILE           the model of a configuration file (effnet scale --write): width, depth, resolution,
                          dropout, stages; the flags below override it (--model, if given, must be custom)
  --width W --depth D     width/depth multipliers (required for custom; override a variant's)
  --image-size R          training resolution, >= 32 (default the variant's; up to 64 px uses the small-image
                          recipe: early stride-2 stages at stride 1, gentle crops, whole-image evaluation)
  --strides S1,...,S7     first-block stride of each stage after the stride-2 stem, each 1 or 2 (overrides the
                          small-image rule; e.g. 1,1,1,2,1,2,1 leaves a 4x4 last map at 32 px); kept in the model
  --dropout P             classifier dropout (default the variant's)
  --drop-path P           largest stochastic-depth rate (default 0.2)
  --eval-size E           eval input size in the model card, independent of --image-size (default the image size;
                          FixRes: testing larger than training often scores better); validation, predict and the
                          page use it
  --eval-crop-pct P       center-crop fraction of the eval transform in the model card (default 1 up to 64 px,
                          else size / (size + 32)); validation uses it, and so do predict and the browser page
  --tta hflip|hflip-shift|none  test-time augmentation in the model card (default none): hflip averages each
                          image's logits with its mirror image's (one more forward pass); hflip-shift also with both
                          moved by ±size/24 px diagonally (six passes); validation, eval, predict and the exported
                          ONNX graph apply it
data
  --data SPEC             fashion-mnist[:DIR], an image folder <root>/<class>/<img> (or with train/ and val/),
                          a .tar/.tar.gz of one, or a CIFAR binary folder
  --val-split F           fraction held out for validation when the data has no split (default 0.1, split seed 0);
                          the held-out images are listed in DIR/split.json
  --write-split FILE      write that list (spec, fraction, seed, validation names and labels, training count) to
                          FILE for --data and --val-split, then exit without training
  --crop-scale LO,HI      random-resized-crop area range (default 0.08,1; 0.64,1 up to 64 px; 1,1 = flip only)
  --randaugment N,M       RandAugment with N ops of magnitude M      --autoaugment   ImageNet AutoAugment policy
  --workers W             loader worker threads (default 2)
recipe (defaults: the paper's, or [in brackets] the fast recipe: training from scratch on images of at most 64px
        or on fewer than 100,000 training images; flags given always win; docs/training.md)
  --epochs N              epochs (default 10)
  --batch-size B          images per step (default 32 [128])
  --optimizer O           rmsproptf (default; decay 0.9, momentum 0.9, eps 1e-3), sgd [default] or adamw
  --lr LR                 peak learning rate (default 0.016 [0.2] x batch / 256)
  --schedule S            step (default: x0.97 every 2.4 epochs) or cosine [default]
  --decay-epochs E --decay-rate R   step schedule (default 2.4, 0.97)
  --warmup-epochs E       linear warm-up (default 0 [1])
  --weight-decay W        on non-BN, non-bias weights (default 1e-5 [5e-4])
  --label-smoothing S     (default 0.1)
  --mixup A               mixup with Beta(A, A) blends of each batch (default 0: off)
  --eval-every N          validate every N epochs and after the last (default 1)
  --fix-res STEPS         after training, STEPS steps at the eval size adapting only the batch norms and the
                          classifier (FixRes); the final model is the adapted one (DIR/fixres.json: before/after)
  --fix-res-lr LR         its peak learning rate (cosine to 0; default a tenth of the run's)
  --progressive stages=S,size=PX[,dropout=P][,drop-path=P][,magnitude=M][,mixup=A]
                          progressive learning (EfficientNetV2): S equal stages from PX pixels to --image-size, each
                          regularizer growing linearly from the value given here to the run's own (--dropout,
                          --drop-path, --randaugment's M, --mixup); evaluation stays at the card's eval size
  --progressive v2-s|v2-m|v2-l   EfficientNetV2's progressive learning as its released code runs it: 4 stages from
                          128/300 (S) or 128/384 (M, L) of the final size, RandAugment magnitude from 5 and mixup
                          from 0 up to the network's own, which become the defaults of --randaugment (2,10 | 2,15 |
                          2,20), --mixup (0 | 0.2 | 0.5) and --dropout (0.2 | 0.3 | 0.4); flags given still win
  --ema-decay D | --no-ema   EMA of weights (default 0.9999, adapted to short runs)
  --ema-buffers M         BN running statistics of the EMA: copy (default, as TF) or average (as timm's ModelEmaV2)
                          [average]
run
  --out DIR               run directory: last/best.safetensors, metrics.jsonl/csv, model.safetensors, summary.json
  --resume                continue from DIR/last.safetensors: with only --out DIR, the run's flags come from
                          DIR/run.json (given again, they must agree; --threads, --workers, --device may change,
                          and --epochs may extend the run)
  --from PATH             start from effnet weights (a model file, checkpoint or run directory); the network is
                          theirs unless --model/--config name one (it must match); a new classifier when the
                          classes differ
  --freeze LIST           freeze features, e.g. 0-3 (0 the stem, 1..7 the stages) with their batch norms
  --threads T             libtorch threads (default libtorch's)
  --profile               after each epoch, where its time went: data loading, forward, backward, all-reduce,
                          optimizer, EMA, evaluation, checkpoints (also DIR/profile.jsonl)
  --seed S                initialisation, data order, augmentation and dropout (default 0)
  --channels-last | --contiguous   memory format of the batches (default channels_last, faster on CPU)
  --device D              auto (default: the first CUDA device when the linked libtorch has CUDA, else the CPU),
                          cpu, cuda or cuda:N; data-parallel ranks on CUDA take device LOCAL_RANK
  --amp P                 mixed precision of the forward pass and loss: bf16, or fp16 with dynamic loss scaling
                          (default: none, float32); weights, optimizer and EMA stay float32
data-parallel (docs/distributed.md; --batch-size is then the global batch, split evenly over the ranks)
  --nproc-per-node N      start N worker processes on this host (torchrun's environment: RANK, WORLD_SIZE,
                          LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT); threads each: cores / N
  --nnodes M --node-rank K   M hosts, this one K (run the same command on each, with its own K)
  --rdzv HOST:PORT        rank 0's host and a free port, the same on every node (default with one node:
                          127.0.0.1 and a free port)
  --max-restarts K        restart the whole group up to K times after a failure, from the last checkpoint
  --sync-bn               batch norm with the global batch's statistics (else each rank's own)
  --dist-bn M             without --sync-bn, make the ranks' running statistics equal before each evaluation:
                          reduce (mean over ranks, default), broadcast (rank 0's) or none
  --dist-timeout S        seconds the rendezvous and each collective wait for the other ranks (default 300)
`;

const OPTIONS = {
  model: { type: 'string' },
  config: { type: 'string' },
  strides: { type: 'string' },
  'write-split': { type: 'string' },
  width: { type: 'string' },
  depth: { type: 'string' },
  'image-size': { type: 'string' },
  dropout: { type: 'string' },
  'drop-path': { type: 'string' },
  'eval-crop-pct': { type: 'string' },
  'eval-size': { type: 'string' },
  tta: { type: 'string' },
  progressive: { type: 'string' },
  mixup: { type: 'string' },
  'eval-every': { type: 'string' },
  'fix-res': { type: 'string' },
  'fix-res-lr': { type: 'string' },
  data: { type: 'string' },
  'val-split': { type: 'string' },
  randaugment: { type: 'string' },
  'crop-scale': { type: 'string' },
  autoaugment: { type: 'boolean' },
  workers: { type: 'string' },
  epochs: { type: 'string' },
  'batch-size': { type: 'string' },
  optimizer: { type: 'string' },
  lr: { type: 'string' },
  schedule: { type: 'string' },
  'decay-epochs': { type: 'string' },
  'decay-rate': { type: 'string' },
  'warmup-epochs': { type: 'string' },
  'weight-decay': { type: 'string' },
  'label-smoothing': { type: 'string' },
  'ema-decay': { type: 'string' },
  'ema-buffers': { type: 'string' },
  'no-ema': { type: 'boolean' },
  out: { type: 'string' },
  resume: { type: 'boolean' },
  from: { type: 'string' },
  freeze: { type: 'string' },
  threads: { type: 'string' },
  seed: { type: 'string' },
  'channels-last': { type: 'boolean' },
  contiguous: { type: 'boolean' },
  device: { type: 'string' },
  amp: { type: 'string' },
  'nproc-per-node': { type: 'string' },
  nnodes: { type: 'string' },
  'node-rank': { type: 'string' },
  rdzv: { type: 'string' },
  'max-restarts': { type: 'string' },
  'sync-bn': { type: 'boolean' },
  'dist-bn': { type: 'string' },
  'dist-timeout': { type: 'string' },
  profile: { type: 'boolean' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; strict: true }>>['values'];

function augmentFrom(values: Values): AugmentChoice {
  if (values.randaugment !== undefined && values.autoaugment) throw new UsageError('--randaugment and --autoaugment exclude each other; pick one');
  if (values.autoaugment) return { kind: 'autoaugment', policy: 'imagenet' };
  if (values.randaugment === undefined) return null;
  const match = /^(\d+),(\d+(?:\.\d+)?)$/.exec(values.randaugment);
  if (!match) throw new UsageError(`--randaugment takes N,M (ops per image, magnitude), e.g. 2,9; got '${values.randaugment}'`);
  return { kind: 'randaugment', n: Number(match[1]), m: Number(match[2]) };
}

/**
 * The network the flags name, as a card request (src/card/resolve.ts applies the rules): --config FILE, --model NAME
 * (custom needs --width and --depth) or, with neither, b0 — or, with --from and nothing naming a network,
 * undefined: the network of --from's card. --width, --depth, --image-size, --dropout, --drop-path, --strides and
 * --eval-crop-pct override the source's values.
 */
export function modelRequestFrom(values: Values): ModelRequest | undefined {
  const width = numberFlag('width', values.width, Number.MIN_VALUE);
  const depth = numberFlag('depth', values.depth, Number.MIN_VALUE);
  const overrides: Omit<ModelRequest, 'source'> = {};
  const resolution = intFlag('image-size', values['image-size'], 1);
  const dropout = numberFlag('dropout', values.dropout, 0, 1, true);
  const dropPath = numberFlag('drop-path', values['drop-path'], 0, 1, true);
  const cropPct = numberFlag('eval-crop-pct', values['eval-crop-pct'], Number.MIN_VALUE, 1);
  const evalSize = intFlag('eval-size', values['eval-size'], 8);
  const tta = choiceFlag('tta', values.tta, [...TTA_MODES, 'none'] as const);
  if (resolution !== undefined) overrides.resolution = resolution;
  if (dropout !== undefined) overrides.dropout = dropout;
  if (dropPath !== undefined) overrides.stochasticDepth = dropPath;
  if (values.strides !== undefined) overrides.strides = parseStrides(values.strides);
  if (cropPct !== undefined || evalSize !== undefined || tta !== undefined) {
    overrides.eval = { ...(cropPct === undefined ? {} : { cropPct }), ...(evalSize === undefined ? {} : { size: evalSize }), ...(tta === undefined ? {} : { tta }) };
  }
  const name = values.model?.toLowerCase();
  if (values.config !== undefined) {
    if (name !== undefined && name !== 'custom') {
      throw new UsageError(`--config ${values.config} describes a custom model; drop --model ${values.model} (or write --model custom)`);
    }
    return { source: { kind: 'config-file', path: values.config }, ...overrides, ...(width === undefined ? {} : { width }), ...(depth === undefined ? {} : { depth }) };
  }
  if (name === 'custom') {
    if (width === undefined || depth === undefined) throw new UsageError('--model custom needs --width and --depth (e.g. --width 0.5 --depth 0.5)');
    return { source: { kind: 'custom', width, depth }, ...overrides };
  }
  const scaling = { ...(width === undefined ? {} : { width }), ...(depth === undefined ? {} : { depth }) };
  if (name === undefined && values.from !== undefined) {
    if (width !== undefined || depth !== undefined) throw new UsageError('--from trains the network of its weights; --width and --depth would change its shapes (drop them, or name the model with --model)');
    return Object.keys(overrides).length === 0 ? undefined : { source: { kind: 'card', card: readModelCard(values.from).card }, ...overrides };
  }
  return { source: { kind: 'variant', name: name ?? 'b0' }, ...overrides, ...scaling };
}

/**
 * The flags with a progressive preset's final values (dropout, RandAugment, mixup) filled in where the user gave
 * none; other flags unchanged. run.json keeps the flags as given, so a resumed run expands the preset the same way.
 */
function withPresetDefaults(values: Values): Values {
  const preset = values.progressive === undefined ? null : progressivePreset(values.progressive);
  if (preset === null) return values;
  if (values.autoaugment) throw new UsageError(`--progressive ${values.progressive} grows RandAugment's magnitude (EfficientNetV2's recipe); drop --autoaugment, or give --progressive stages=S,size=PX instead`);
  return {
    ...values,
    dropout: values.dropout ?? String(preset.dropout),
    randaugment: values.randaugment ?? `${preset.randaugmentOps},${preset.magnitude[1]}`,
    mixup: values.mixup ?? String(preset.mixup[1]),
  };
}

/** Turns parsed flags into run options; throws UsageError for bad values. */
export function trainOptionsFrom(given: Values): Omit<TrainRunOptions, 'progress' | 'log' | 'signal'> {
  const values = withPresetDefaults(given);
  if (values.data === undefined) throw new UsageError('--data is required (e.g. --data fashion-mnist or --data path/to/images)');
  if (values.out === undefined) throw new UsageError('--out is required: the run directory for checkpoints, metrics and the final model');
  if (values['channels-last'] && values.contiguous) throw new UsageError('--channels-last and --contiguous exclude each other');
  if (values['no-ema'] && values['ema-decay'] !== undefined) throw new UsageError('--no-ema and --ema-decay exclude each other');
  const recipe: Recipe = { epochs: intFlag('epochs', values.epochs, 1) ?? 10 };
  const set = <K extends keyof Recipe>(key: K, value: Recipe[K] | undefined): void => {
    if (value !== undefined) recipe[key] = value;
  };
  set('optimizer', choiceFlag('optimizer', values.optimizer, ['rmsproptf', 'sgd', 'adamw'] as const));
  set('lr', numberFlag('lr', values.lr, Number.MIN_VALUE));
  set('schedule', choiceFlag('schedule', values.schedule, ['step', 'cosine'] as const));
  set('decayEpochs', numberFlag('decay-epochs', values['decay-epochs'], Number.MIN_VALUE));
  set('decayRate', numberFlag('decay-rate', values['decay-rate'], Number.MIN_VALUE, 1));
  set('warmupEpochs', numberFlag('warmup-epochs', values['warmup-epochs'], 0));
  set('weightDecay', numberFlag('weight-decay', values['weight-decay'], 0));
  set('labelSmoothing', numberFlag('label-smoothing', values['label-smoothing'], 0, 1, true));
  set('emaDecay', numberFlag('ema-decay', values['ema-decay'], 0, 1));
  if (values['no-ema']) recipe.emaDecay = null;
  set('emaBuffers', choiceFlag('ema-buffers', values['ema-buffers'], ['copy', 'average'] as const));
  set('mixup', numberFlag('mixup', values.mixup, 0));
  set('evalEvery', intFlag('eval-every', values['eval-every'], 1));
  if (values['no-ema'] && values['ema-buffers'] !== undefined) throw new UsageError('--no-ema and --ema-buffers exclude each other');
  const model = modelRequestFrom(values);
  const batchSize = intFlag('batch-size', values['batch-size'], 1);
  const options: Omit<TrainRunOptions, 'progress' | 'log' | 'signal'> = {
    ...(model === undefined ? {} : { model }),
    data: values.data,
    out: values.out,
    ...(batchSize === undefined ? {} : { batchSize }),
    strictBatchSize: values['batch-size'] !== undefined,
    recipe,
    augment: augmentFrom(values),
    resume: values.resume ?? false,
    seed: intFlag('seed', values.seed, 0) ?? 0,
    workers: threadCountFlag('workers', values.workers, 0) ?? 2,
    channelsLast: !values.contiguous,
    profile: values.profile ?? false,
    progressive: values.progressive === undefined ? null : parseProgressive(values.progressive),
  };
  const fixResSteps = intFlag('fix-res', values['fix-res'], 1);
  const fixResLr = numberFlag('fix-res-lr', values['fix-res-lr'], Number.MIN_VALUE);
  if (fixResLr !== undefined && fixResSteps === undefined) throw new UsageError('--fix-res-lr is the learning rate of --fix-res STEPS; add --fix-res');
  if (fixResSteps !== undefined) options.fixRes = { steps: fixResSteps, ...(fixResLr === undefined ? {} : { lr: fixResLr }) };
  if (values.device !== undefined) options.device = values.device;
  const amp = choiceFlag('amp', values.amp, ['bf16', 'fp16'] as const);
  if (amp !== undefined) options.amp = amp;
  if (values['crop-scale'] !== undefined) {
    const parts = values['crop-scale'].split(',').map(Number);
    if (parts.length !== 2 || !(parts[0]! > 0 && parts[0]! <= parts[1]! && parts[1]! <= 1)) {
      throw new UsageError(`--crop-scale takes LO,HI with 0 < LO <= HI <= 1 (e.g. 0.64,1), got '${values['crop-scale']}'`);
    }
    options.cropScale = [parts[0]!, parts[1]!];
  }
  const valSplit = numberFlag('val-split', values['val-split'], 0, 1, true);
  if (valSplit !== undefined) {
    if (valSplit === 0) throw new UsageError('--val-split must be a fraction in (0, 1), got 0');
    options.valSplit = valSplit;
  }
  const threads = threadCountFlag('threads', values.threads, 1);
  if (threads !== undefined) options.threads = threads;
  if (values.from !== undefined) options.from = values.from;
  if (values.freeze !== undefined) options.freeze = parseFreeze(values.freeze);
  return options;
}

/** `--write-split FILE`: writes the split file of --data / --val-split and returns 0. */
function writeSplit(values: Values): number {
  if (values.data === undefined) throw new UsageError('--write-split needs --data (the spec whose hold-out to write, e.g. --data images.tar.gz)');
  const path = values['write-split']!;
  const valSplit = numberFlag('val-split', values['val-split'], Number.MIN_VALUE, 1, true) ?? 0.1;
  const split = writeSplitForSpec(values.data, path, valSplit);
  process.stdout.write(`wrote ${path}: ${split.valCount} validation and ${split.trainCount} training images of ${split.classes.length} classes (val-split ${split.valSplit}, split seed ${split.splitSeed})\n`);
  return 0;
}


/** Runs the command; returns the exit code (0 done, 130/143 interrupted with a checkpoint); user errors are thrown (exit 2 from main). */
export async function run(args: string[]): Promise<number> {
  const parsed = parseArgs({ args, options: OPTIONS, strict: true, allowPositionals: false });
  let values = parsed.values;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  // --resume --out DIR: the run's own flags come from DIR/run.json; flags given again must agree with them.
  const stored = values.resume && values.out !== undefined ? readRunDescription(values.out) : null;
  if (stored !== null) {
    const control = Object.fromEntries(Object.entries(values).filter(([flag]) => isRunControlFlag(flag)));
    values = { ...control, ...mergeResumeFlags(stored.flags, values, values.out!) } as Values;
  }
  if (values['write-split'] !== undefined) return writeSplit(values);
  const options = trainOptionsFrom(values);
  if (isLaunch(values)) {
    workerFlags(values);
    const launched = await launchTraining(values, args, (line) => process.stderr.write(`${line}\n`));
    return launched.code;
  }
  const distributed = distributedRunOptionsFrom(values);
  const controller = new AbortController();
  let received: string | null = null;
  let receivedAt = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    // A worker gets a terminal's Ctrl-C twice (from the terminal and passed on by the launcher): one request.
    if (received !== null && distributed !== null && performance.now() - receivedAt < 1000) return;
    if (received !== null) {
      process.stderr.write(`\neffnet train: second ${signal}; exiting without waiting for the checkpoint\n`);
      process.exit(SIGNAL_EXIT[signal] ?? 1);
    }
    received = signal;
    receivedAt = performance.now();
    process.stderr.write(`\neffnet train: ${signal} received; stopping after the current step and saving a checkpoint (send it again to quit at once)\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const result = await runTraining({
      ...options,
      description: { command: ['effnet', 'train', ...args], flags: definingFlags(values) },
      progress: process.stderr,
      log: (line) => process.stdout.write(`${line}\n`),
      signal: controller.signal,
      distributed,
    });
    const quiet = distributed !== null && distributed.worker.rank !== 0;
    if (result.stopped) {
      if (quiet) return SIGNAL_EXIT[received ?? ''] ?? 130;
      process.stdout.write(`interrupted by ${received ?? 'a stop request'}: checkpoint saved to ${result.checkpointPath}; continue with the same command plus --resume\n`);
      return SIGNAL_EXIT[received ?? ''] ?? 130;
    }
    if (quiet) return 0;
    process.stdout.write(`final model: ${result.modelPath}${result.emaModelPath ? ` (EMA weights: ${result.emaModelPath})` : ''}\n`);
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** The usage text (main.ts reads its flags to suggest the nearest one for a mistyped flag). */
export { USAGE as usage };
