/**
 * Training benchmark: images/s of a full training step with its data loader (decode, augment, batch in worker
 * threads; forward, label-smoothed cross entropy, backward, RMSprop-TF step, EMA update: the Trainer's own step),
 * EfficientNet-B0 (10 classes, channels_last) at 32px and 128px, ours against PyTorch (torchvision's
 * efficientnet_b0 with a DataLoader over the same JPEG tar.gz, bench/train/train_reference.py) in the same run with
 * the same thread and worker counts; and the loader alone, which must deliver at least 3x the training throughput.
 *
 * usage: node dist/bench/train/train.bench.js [--data ../shared/data/cifar10-train.tar.gz] [--sizes 32,128]
 *        [--batch 32] [--steps 20] [--warmup 3] [--threads 2] [--workers 2] [--json]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DataLoader } from '../../src/data/loader.js';
import { TarImageDataset } from '../../src/data/tar-dataset.js';
import { createEfficientNet } from '../../src/efficientnet/index.js';
import { manualSeed, setNumThreads } from '../../src/torch/index.js';
import { Trainer } from '../../src/train/trainer.js';

const here = dirname(fileURLToPath(import.meta.url));
const REFERENCE = join(here, '../../../bench/train/train_reference.py');

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: join(here, '../../../../shared/data/cifar10-train.tar.gz') },
    sizes: { type: 'string', default: '32,128' },
    batch: { type: 'string', default: '32' },
    steps: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    threads: { type: 'string', default: '2' },
    workers: { type: 'string', default: '2' },
    json: { type: 'boolean', default: false },
  },
});
const batch = Number(values.batch);
const steps = Number(values.steps);
const warmup = Number(values.warmup);
const threads = Number(values.threads);
const workers = Number(values.workers);
const sizes = values.sizes.split(',').map(Number);
for (const [name, value] of Object.entries({ batch, steps, warmup, threads, workers })) {
  if (!Number.isInteger(value) || value < (name === 'workers' ? 0 : 1)) throw new Error(`train.bench: --${name} must be a positive integer, got ${value}`);
}

/** Throughput of our loader alone and of a full Trainer step with it, in images/s. */
async function ours(dataset: TarImageDataset, size: number): Promise<{ train: number; loader: number }> {
  const transform = { kind: 'train', size } as const;
  const loaderOnly = new DataLoader(dataset, { batchSize: batch, transform, seed: 1, workers, dropLast: true });
  let loader = 0;
  try {
    let n = 0;
    let start = 0;
    for await (const b of loaderOnly.epoch(0)) {
      n += 1;
      if (n === warmup) start = performance.now();
      if (n === warmup + steps) {
        loader = (steps * b.labels.length) / ((performance.now() - start) / 1000);
        break;
      }
    }
  } finally {
    await loaderOnly.close();
  }
  manualSeed(0);
  const model = createEfficientNet('b0', { numClasses: 10 });
  const train = new DataLoader(dataset, { batchSize: batch, transform, seed: 0, workers, dropLast: true });
  const runDir = mkdtempSync(join(tmpdir(), 'effnet-train-bench-'));
  const times: number[] = [];
  let trainer: Trainer | null = null;
  trainer = new Trainer({
    model, train, val: null, runDir, channelsLast: true,
    recipe: { epochs: 1, lr: 0.002, emaDecay: 0.999 },
    onStep: (step) => {
      times.push(performance.now());
      if (step === warmup + steps) trainer!.stop();
    },
  });
  try {
    await trainer.fit();
  } finally {
    trainer.dispose();
    model.dispose();
    await train.close();
    rmSync(runDir, { recursive: true, force: true });
  }
  const trainIps = (steps * batch) / ((times[warmup + steps - 1]! - times[warmup - 1]!) / 1000);
  return { train: trainIps, loader };
}

function reference(size: number): { trainImagesPerSecond: number; loaderImagesPerSecond: number; torch: string } {
  const args = [REFERENCE, '--data', values.data, '--size', String(size), '--batch', String(batch), '--steps', String(steps), '--warmup', String(warmup), '--threads', String(threads), '--workers', String(workers)];
  const result = spawnSync('/usr/bin/python3', args, { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads) } });
  if (result.status !== 0) throw new Error(`train_reference.py failed (${result.status}): ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').pop()!) as { trainImagesPerSecond: number; loaderImagesPerSecond: number; torch: string };
}

setNumThreads(threads);
const dataset = TarImageDataset.open(values.data);
const rows: Record<string, number>[] = [];
for (const size of sizes) {
  const mine = await ours(dataset, size);
  const ref = reference(size);
  rows.push({
    size, batch, oursTrain: mine.train, torchTrain: ref.trainImagesPerSecond, timeRatio: ref.trainImagesPerSecond / mine.train,
    oursLoader: mine.loader, torchLoader: ref.loaderImagesPerSecond, loaderOverTrain: mine.loader / mine.train,
  });
}
if (values.json) {
  process.stdout.write(`${JSON.stringify(rows)}\n`);
} else {
  process.stdout.write(`b0, ${dataset.length} JPEGs from ${values.data}, batch ${batch}, ${threads} threads, ${workers} loader workers, ${steps} timed steps after ${warmup}\n`);
  process.stdout.write('| size | ours train img/s | PyTorch train img/s | time ours/PyTorch | ours loader img/s | PyTorch loader img/s | our loader / our train |\n|---|---|---|---|---|---|---|\n');
  for (const r of rows) {
    process.stdout.write(`| ${r.size} | ${r.oursTrain!.toFixed(1)} | ${r.torchTrain!.toFixed(1)} | ${r.timeRatio!.toFixed(3)} | ${r.oursLoader!.toFixed(0)} | ${r.torchLoader!.toFixed(0)} | ${r.loaderOverTrain!.toFixed(1)}x |\n`);
  }
}
