/**
 * `effnet demo`: a preset of `effnet train` for a quick smoke test of the whole stack (data, model card, run
 * builder, engine, trainer, checkpoints, evaluation): a width 0.25 / depth 0.25 EfficientNet at 32px trained for
 * `--steps` steps (one epoch over a seeded subset of Fashion-MNIST's training images) with SGD and a cosine
 * schedule, then evaluated on the 10,000 test images. The run goes to `--out` (kept) or a temporary folder
 * (removed). The same run is `effnet train` with the flags printed at the start.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FASHION_MNIST_DIR } from '../../data/idx.js';
import { runTraining, type TrainRunOptions } from '../../train/run.js';
import { intFlag, numberFlag, threadCountFlag, UsageError } from '../options.js';

/** One line for `effnet --help`. */
export const summary = 'a preset of effnet train: a small EfficientNet on Fashion-MNIST for a few hundred steps, then test accuracy';

const USAGE = `usage: effnet demo [--steps N] [--batch-size B] [--seed S] [--threads T] [--lr LR] [--data DIR] [--out DIR] [--json]

  --steps N        training steps (default 400): one epoch over a seeded N x B of the training images
  --batch-size B   images per step (default 64)
  --seed S         seed of the initialisation, the subset, the data order and augmentation (default 0)
  --threads T      libtorch threads (default: libtorch's own setting)
  --lr LR          peak learning rate of SGD with Nesterov momentum, cosine schedule (default 0.1)
  --data DIR       folder with the Fashion-MNIST IDX files (default ${FASHION_MNIST_DIR})
  --out DIR        keep the run there (model.safetensors, checkpoints, metrics); default a temporary folder
  --json           print {"testTop1", "testTop5", "steps", "batchSize", "seconds", "imagesPerSecond", "out"} on stdout
`;

/** The `effnet train` options of the preset (what the flags above change). */
export function demoTrainOptions(options: { steps: number; batchSize: number; seed: number; lr: number; dataDir: string | null; out: string; threads?: number }): TrainRunOptions {
  const source = options.dataDir === null ? 'fashion-mnist' : `fashion-mnist:${options.dataDir}`;
  return {
    model: { source: { kind: 'custom', width: 0.25, depth: 0.25 }, resolution: 32, dropout: 0, stochasticDepth: 0 },
    data: `${source},train=${options.steps * options.batchSize}`,
    out: options.out,
    batchSize: options.batchSize,
    recipe: { epochs: 1, optimizer: 'sgd', lr: options.lr, schedule: 'cosine', warmupEpochs: 0.1, weightDecay: 5e-5, labelSmoothing: 0, emaDecay: null },
    cropScale: [1, 1],
    seed: options.seed,
    workers: 2,
    ...(options.threads === undefined ? {} : { threads: options.threads }),
  };
}

/** Runs the command; returns the exit code (user errors are thrown: exit 2 from main). */
export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      steps: { type: 'string' },
      'batch-size': { type: 'string' },
      seed: { type: 'string' },
      threads: { type: 'string' },
      lr: { type: 'string' },
      data: { type: 'string' },
      out: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const steps = intFlag('steps', values.steps, 1) ?? 400;
  const batchSize = intFlag('batch-size', values['batch-size'], 1) ?? 64;
  if (steps * batchSize > 60_000) throw new UsageError(`--steps ${steps} x --batch-size ${batchSize} = ${steps * batchSize} images, more than Fashion-MNIST's 60,000 training images; use fewer steps`);
  const temporary = values.out === undefined;
  const out = values.out ?? join(mkdtempSync(join(tmpdir(), 'effnet-demo-')), 'run');
  const threads = threadCountFlag('threads', values.threads, 1);
  const options = demoTrainOptions({
    steps,
    batchSize,
    seed: intFlag('seed', values.seed, 0) ?? 0,
    lr: numberFlag('lr', values.lr, Number.MIN_VALUE) ?? 0.1,
    dataDir: values.data ?? null,
    out,
    ...(threads === undefined ? {} : { threads }),
  });
  const log = values.json ? (): void => undefined : (line: string): void => void process.stdout.write(`${line}\n`);
  log(`effnet demo: the same as effnet train --model custom --width 0.25 --depth 0.25 --image-size 32 --dropout 0 --drop-path 0 --data ${options.data} --epochs 1 --batch-size ${batchSize} --optimizer sgd --lr ${options.recipe.lr} --schedule cosine --warmup-epochs 0.1 --weight-decay 5e-5 --label-smoothing 0 --no-ema --crop-scale 1,1 --seed ${options.seed} --out ${out}`);
  try {
    const result = await runTraining({ ...options, progress: values.json ? null : process.stderr, log });
    const epoch = result.epochs[result.epochs.length - 1]!;
    const seconds = result.summary.wallSeconds;
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ testTop1: epoch.valTop1, testTop5: epoch.valTop5, steps: epoch.step, batchSize, seconds, imagesPerSecond: epoch.imagesPerSecond, out: temporary ? null : out })}\n`);
    } else {
      process.stdout.write(`test accuracy ${((epoch.valTop1 ?? 0) * 100).toFixed(2)}% on the 10,000 Fashion-MNIST test images after ${epoch.step} steps of ${batchSize} images${temporary ? '' : `; the run is in ${out}`}\n`);
    }
    return 0;
  } finally {
    if (temporary) rmSync(join(out, '..'), { recursive: true, force: true });
  }
}

/** The usage text (main.ts reads its flags to suggest the nearest one for a mistyped flag). */
export { USAGE as usage };
