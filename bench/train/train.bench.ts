/**
 * Training benchmark: images/s of a full training step with its data loader (decode, augment, batch in worker
 * threads; forward, label-smoothed cross entropy, backward, RMSprop-TF step, EMA update: the Trainer's own step),
 * EfficientNet-B0 (10 classes, channels_last) at 32px and 128px, ours against PyTorch (torchvision's
 * efficientnet_b0 with a DataLoader over the same JPEG tar.gz, bench/train/train_reference.py) in the same run with
 * the same thread and worker counts; and the loader alone, which must deliver at least 3x the training throughput.
With --rounds R, each size is measured R times, ours and PyTorch alternating which goes first, so that load from
other work on a shared machine hits both alike; the table gives the medians (the time ratio is the median of the
per-round ratios, each printed to stderr as it is measured).
 *
 * Progress goes to stderr as it happens; each table row is printed as soon as its size is measured. With more than
 * one thread, run under OMP_WAIT_POLICY=passive on a shared machine (see the warning below). Each side also reports the
 * CPU time its process used per trained image over the timed steps (ours: every thread of the process, loader
 * workers included; PyTorch: its process and its DataLoader worker processes), which load from other work on the
 * machine changes much less than images/s.
 *
 * usage: node dist/bench/train/train.bench.js [--data ../shared/data/cifar10-train.tar.gz] [--sizes 32,128]
 *        [--batch 32] [--steps 20] [--warmup 3] [--threads 2] [--workers 2] [--rounds 1] [--json]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PYTHON, benchSource, integerOptions, median, parseBenchArgs } from '../common.js';
import { DataLoader } from '../../src/data/loader.js';
import { TarImageDataset } from '../../src/data/tar-dataset.js';
import { createEfficientNet } from '../../src/efficientnet/index.js';
import { manualSeed, setNumThreads } from '../../src/torch/index.js';
import { Trainer } from '../../src/train/trainer.js';

const REFERENCE = benchSource(import.meta.url, 'train_reference.py');
const USAGE = `usage: node dist/bench/train/train.bench.js [--data ../shared/data/cifar10-train.tar.gz] [--sizes 32,128]
       [--batch 32] [--steps 20] [--warmup 3] [--threads 2] [--workers 2] [--rounds 1] [--json]`;

const values = parseBenchArgs('train.bench', USAGE, {
  data: { type: 'string', default: benchSource(import.meta.url, '../../../shared/data/cifar10-train.tar.gz') },
  sizes: { type: 'string', default: '32,128' },
  batch: { type: 'string', default: '32' },
  steps: { type: 'string', default: '20' },
  warmup: { type: 'string', default: '3' },
  threads: { type: 'string', default: '2' },
  workers: { type: 'string', default: '2' },
  rounds: { type: 'string', default: '1' },
  json: { type: 'boolean', default: false },
});
const { batch, steps, warmup, threads, workers, rounds } = integerOptions('train.bench', values, ['batch', 'steps', 'warmup', 'threads', 'workers', 'rounds'], { workers: 0 });
const sizes = values.sizes.split(',').map((text) => {
  const size = Number(text);
  if (text.trim() === '' || !Number.isInteger(size) || size < 32) throw new Error(`train.bench: --sizes takes image sizes >= 32 separated by commas, got '${values.sizes}'`);
  return size;
});
const t0 = performance.now();
/** Progress on stderr with the elapsed time, so a slow phase shows where it is. */
function log(message: string): void {
  process.stderr.write(`[train.bench ${((performance.now() - t0) / 1000).toFixed(1)}s] ${message}\n`);
}

/** Throughput of our loader alone and of a full Trainer step with it, in images/s. */
async function ours(dataset: TarImageDataset, size: number): Promise<{ train: number; loader: number; cpuMsPerImage: number }> {
  const transform = { kind: 'train', size } as const;
  const loaderOnly = new DataLoader(dataset, { batchSize: batch, transform, seed: 1, workers, dropLast: true });
  let loader = 0;
  try {
    let n = 0;
    let start = 0;
    for await (const b of loaderOnly.epoch(0)) {
      n += 1;
      log(`size ${size}: loader batch ${n}`);
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
  const cpu: number[] = [];
  let trainer: Trainer | null = null;
  trainer = new Trainer({
    model, train, val: null, runDir, channelsLast: true,
    recipe: { epochs: 1, lr: 0.002, emaDecay: 0.999 },
    onStep: (step) => {
      times.push(performance.now());
      // CPU time of the whole process: the training thread, the loader's worker threads and sharp's decoding threads.
      if (step === warmup || step === warmup + steps) {
        const usage = process.cpuUsage();
        cpu.push((usage.user + usage.system) / 1000);
      }
      log(`size ${size}: train step ${step}`);
      if (step === warmup + steps) trainer!.stop();
    },
  });
  try {
    log(`size ${size}: training`);
    await trainer.fit();
    log(`size ${size}: fit returned`);
  } finally {
    trainer.dispose();
    model.dispose();
    await train.close();
    rmSync(runDir, { recursive: true, force: true });
  }
  const trainIps = (steps * batch) / ((times[warmup + steps - 1]! - times[warmup - 1]!) / 1000);
  return { train: trainIps, loader, cpuMsPerImage: (cpu[1]! - cpu[0]!) / (steps * batch) };
}

type ReferenceResult = { trainImagesPerSecond: number; loaderImagesPerSecond: number; trainCpuMsPerImage: number; torch: string };
function reference(size: number): ReferenceResult {
  const args = [REFERENCE, '--data', values.data, '--size', String(size), '--batch', String(batch), '--steps', String(steps), '--warmup', String(warmup), '--threads', String(threads), '--workers', String(workers)];
  // stderr passes through: the reference reports its progress there as it goes.
  const result = spawnSync(PYTHON, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, OMP_NUM_THREADS: String(threads) } });
  if (result.status !== 0) throw new Error(`train_reference.py failed (exit ${result.status}, signal ${result.signal}); its error is printed above; run it alone with the same arguments to debug: ${PYTHON} ${args.join(' ')}`);
  return JSON.parse(result.stdout.trim().split('\n').pop()!) as ReferenceResult;
}

if (threads > 1 && process.env.OMP_WAIT_POLICY === undefined) {
  // Measured on the 2-core dev machine with another training running: libgomp's busy-waiting threads made a b0
  // 32px step take ~8 s instead of ~0.3 s, on both sides. The variable must be set before libtorch loads.
  log(`warning: --threads ${threads} without OMP_WAIT_POLICY=passive; on a machine busy with other processes OpenMP's spinning threads can slow each step tens of times (set it on the command line; the reference inherits it)`);
}
setNumThreads(threads);
const dataset = TarImageDataset.open(values.data);
log(`opened ${dataset.length} JPEGs (read ${dataset.timings.readMs.toFixed(0)} ms, gunzip ${dataset.timings.gunzipMs.toFixed(0)} ms, index ${dataset.timings.indexMs.toFixed(0)} ms)`);
const loadBefore = loadavg()[0]!;
const rows: Record<string, number | number[]>[] = [];
if (!values.json) {
  // Rows are printed as soon as each size is measured, so a run cut short still leaves its figures.
  process.stdout.write(`b0, ${dataset.length} JPEGs from ${values.data}, batch ${batch}, ${threads} threads, ${workers} loader workers, ${steps} timed steps after ${warmup}, ${rounds} round(s) (medians), load average ${loadBefore.toFixed(2)} at start\n`);
  process.stdout.write('| size | ours train img/s | PyTorch train img/s | time ours/PyTorch | ours loader img/s | PyTorch loader img/s | our loader / our train | CPU ms/img ours | CPU ms/img PyTorch | CPU ours/PyTorch |\n|---|---|---|---|---|---|---|---|---|---|\n');
}
for (const size of sizes) {
  const measured: { oursTrain: number; torchTrain: number; oursLoader: number; torchLoader: number; timeRatio: number; oursCpu: number; torchCpu: number; cpuRatio: number }[] = [];
  for (let round = 0; round < rounds; round++) {
    let mine: Awaited<ReturnType<typeof ours>> | null = null;
    let ref: ReturnType<typeof reference> | null = null;
    for (const side of round % 2 === 0 ? ['ours', 'torch'] : ['torch', 'ours']) {
      if (side === 'ours') {
        mine = await ours(dataset, size);
      } else {
        log(`size ${size}: PyTorch reference`);
        ref = reference(size);
        log(`size ${size}: PyTorch reference done`);
      }
    }
    const m = { oursTrain: mine!.train, torchTrain: ref!.trainImagesPerSecond, oursLoader: mine!.loader, torchLoader: ref!.loaderImagesPerSecond, timeRatio: ref!.trainImagesPerSecond / mine!.train,
      oursCpu: mine!.cpuMsPerImage, torchCpu: ref!.trainCpuMsPerImage, cpuRatio: mine!.cpuMsPerImage / ref!.trainCpuMsPerImage };
    measured.push(m);
    log(`size ${size}: round ${round + 1}/${rounds}: ours ${m.oursTrain.toFixed(1)} img/s, PyTorch ${m.torchTrain.toFixed(1)} img/s, time ours/PyTorch ${m.timeRatio.toFixed(3)}, CPU ms/img ${m.oursCpu.toFixed(2)} vs ${m.torchCpu.toFixed(2)} (${m.cpuRatio.toFixed(3)}), load average ${loadavg()[0]!.toFixed(2)}`);
  }
  const pick = (key: keyof (typeof measured)[number]): number => median(measured.map((m) => m[key]));
  const r = {
    size, batch, rounds, oursTrain: pick('oursTrain'), torchTrain: pick('torchTrain'), timeRatio: pick('timeRatio'),
    oursLoader: pick('oursLoader'), torchLoader: pick('torchLoader'), loaderOverTrain: pick('oursLoader') / pick('oursTrain'),
    timeRatios: measured.map((m) => m.timeRatio),
    oursCpuMsPerImage: pick('oursCpu'), torchCpuMsPerImage: pick('torchCpu'), cpuRatio: pick('cpuRatio'),
  };
  rows.push(r);
  if (!values.json) {
    process.stdout.write(`| ${r.size} | ${r.oursTrain.toFixed(1)} | ${r.torchTrain.toFixed(1)} | ${r.timeRatio.toFixed(3)} | ${r.oursLoader.toFixed(0)} | ${r.torchLoader.toFixed(0)} | ${r.loaderOverTrain.toFixed(1)}x | ${r.oursCpuMsPerImage.toFixed(2)} | ${r.torchCpuMsPerImage.toFixed(2)} | ${r.cpuRatio.toFixed(3)} |\n`);
  }
}
if (values.json) process.stdout.write(`${JSON.stringify(rows)}\n`);
else process.stdout.write(`load average ${loadavg()[0]!.toFixed(2)} at the end (other processes on the machine slow both sides alike only if the load stays level)\n`);
