/**
 * Data-parallel scaling on this machine: EfficientNet-B0 training steps at 64 px, one process with T threads on the
 * global batch against R ranks (one process each, T/R threads) on their shards with bucketed gradient averaging over
 * Gloo on loopback, in the same run. Reports images/s of each, the ratio, the allreduce time per step and the
 * bandwidth it reached (algorithm bandwidth = gradient bytes / time; bus bandwidth ×2(R−1)/R, as nccl-tests define
 * them), then a model of N real hosts from the measured per-image compute and a ring allreduce at given link speeds.
 * The reference here is the single process (PyTorch's DDP would run the same Gloo allreduce; not run here).
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { integerOptions, loadAverage, median, parseBenchArgs } from '../common.js';
import { createEfficientNet } from '../../src/efficientnet/index.js';
import { SGD } from '../../src/optim/index.js';
import { ProcessGroup, crossEntropy, manualSeed, randint, randn, setNumThreads, tidy, zeros } from '../../src/torch/index.js';
import { averageGradients, gradientBuckets } from '../../src/distributed/index.js';

const USAGE = `usage: node dist/bench/dist/data-parallel.bench.js [--batch 32] [--size 64] [--steps 8] [--warmup 2] [--threads 2] [--ranks 2] [--json]
  (internal: --role rank --rank R --port P)`;

const values = parseBenchArgs('data-parallel', USAGE, {
  batch: { type: 'string', default: '32' },
  size: { type: 'string', default: '64' },
  steps: { type: 'string', default: '8' },
  warmup: { type: 'string', default: '2' },
  threads: { type: 'string', default: '2' },
  ranks: { type: 'string', default: '2' },
  role: { type: 'string', default: 'main' },
  rank: { type: 'string', default: '0' },
  port: { type: 'string', default: '0' },
  json: { type: 'boolean', default: false },
});
const options = integerOptions('data-parallel', values, ['batch', 'size', 'steps', 'warmup', 'threads', 'ranks', 'port'], { warmup: 0, port: 0 });

/** What one process measured. */
interface Measured {
  stepMs: number;
  /** averageGradients per step: flattening into buckets, the allreduces, the division and the copies back. */
  allreduceMs: number;
  /** The Trainer's per-step stop agreement: a one-value max allreduce (ranks only; 0 for the single process). */
  agreementMs: number;
  /** One bare allreduce of a flat tensor of the gradients' size (ranks only; 0 for the single process). */
  rawAllreduceMs: number;
  gradientBytes: number;
  imagesPerStep: number;
}

/** Trains `steps` steps (after `warmup`) on `batch` images of its own; with a group, averages gradients after each. */
async function measure(batch: number, threads: number, group: ProcessGroup | null): Promise<Measured> {
  setNumThreads(threads);
  manualSeed(0);
  const model = createEfficientNet('b0');
  model.train();
  const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const buckets = gradientBuckets(model.parameters());
  const images = randn([batch, 3, options.size, options.size]);
  const labels = randint(0, 1000, [batch]);
  const steps: number[] = [];
  const reduces: number[] = [];
  for (let i = 0; i < options.warmup + options.steps; i++) {
    const started = performance.now();
    optimizer.zeroGrad();
    tidy(() => crossEntropy(model.forward(images), labels).backward());
    const reduceStarted = performance.now();
    if (group !== null) await averageGradients(group, buckets);
    const reduceMs = performance.now() - reduceStarted;
    optimizer.step();
    if (i >= options.warmup) {
      steps.push(performance.now() - started);
      reduces.push(reduceMs);
    }
  }
  const raw: number[] = [];
  if (group !== null) {
    const flat = zeros([model.parameters().reduce((t, p) => t + p.numel, 0)]);
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      await group.allreduce(flat);
      raw.push(performance.now() - started);
    }
    flat.dispose();
  }
  const agreements: number[] = [];
  if (group !== null) {
    const flag = zeros([1]);
    await group.barrier();
    for (let i = 0; i < 50; i++) {
      const started = performance.now();
      await group.allreduce(flag, 'max');
      agreements.push(performance.now() - started);
    }
    flag.dispose();
  }
  return { stepMs: median(steps), allreduceMs: median(reduces), agreementMs: agreements.length > 0 ? median(agreements) : 0, rawAllreduceMs: raw.length > 0 ? median(raw) : 0, gradientBytes: model.parameters().reduce((t, p) => t + p.numel * 4, 0), imagesPerStep: batch };
}

function child(args: string[], threads: number): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, OMP_NUM_THREADS: String(threads), OMP_WAIT_POLICY: 'passive' };
    const proc = spawn(process.execPath, [fileURLToPath(import.meta.url), ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
    proc.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1)!) as Measured) : reject(new Error(`data-parallel: ${args.join(' ')} exited ${code}`))));
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

const common = ['--batch', String(options.batch), '--size', String(options.size), '--steps', String(options.steps), '--warmup', String(options.warmup), '--ranks', String(options.ranks)];
if (values.role === 'single') {
  process.stdout.write(`${JSON.stringify(await measure(options.batch, options.threads, null))}\n`);
} else if (values.role === 'rank') {
  const rank = Number(values.rank);
  const group = await ProcessGroup.create({ host: '127.0.0.1', port: options.port, rank, worldSize: options.ranks, hostname: '127.0.0.1' });
  const result = await measure(options.batch / options.ranks, options.threads, group);
  await group.barrier();
  group.destroy();
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
  if (options.batch % options.ranks !== 0) throw new Error(`data-parallel: --batch ${options.batch} must divide by --ranks ${options.ranks}`);
  const perRankThreads = Math.max(1, Math.floor(options.threads / options.ranks));
  process.stderr.write(`data-parallel: b0 at ${options.size} px, global batch ${options.batch}, ${options.steps} steps after ${options.warmup}; load average ${loadAverage()}\n`);
  const single = await child(['--role', 'single', '--threads', String(options.threads), ...common], options.threads);
  const port = await freePort();
  const ranks = await Promise.all(Array.from({ length: options.ranks }, (_, r) => child(['--role', 'rank', '--rank', String(r), '--port', String(port), '--threads', String(perRankThreads), ...common], perRankThreads)));
  const slowest = ranks.reduce((a, b) => (a.stepMs > b.stepMs ? a : b));
  const singleImages = (options.batch / single.stepMs) * 1000;
  const parallelImages = (options.batch / slowest.stepMs) * 1000;
  const gb = slowest.gradientBytes / 1e9;
  const algorithm = gb / (slowest.allreduceMs / 1000);
  const bus = (algorithm * 2 * (options.ranks - 1)) / options.ranks;
  // A model of N hosts at this per-rank batch: compute per step as measured per rank, plus a ring allreduce of the
  // gradient bytes at the link's bandwidth (2(N−1)/N of the bytes cross each link), no overlap with backward.
  const computeMs = slowest.stepMs - slowest.allreduceMs;
  const links = [1, 10, 25];
  const model = [2, 4, 8, 16].map((n) => ({
    hosts: n,
    speedup: Object.fromEntries(links.map((gbit) => [`${gbit}Gb/s`, (n * computeMs) / (computeMs + ((2 * (n - 1)) / n) * ((slowest.gradientBytes * 8) / (gbit * 1e9)) * 1000)])),
  }));
  const result = { single, ranks, singleImagesPerSecond: singleImages, parallelImagesPerSecond: parallelImages, ratio: parallelImages / singleImages, allreduceMs: slowest.allreduceMs, algorithmGBps: algorithm, busGBps: bus, model };
  if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    process.stdout.write(`| setup | step ms | images/s |\n|---|---|---|\n`);
    process.stdout.write(`| 1 process × ${options.threads} threads, batch ${options.batch} | ${single.stepMs.toFixed(1)} | ${singleImages.toFixed(1)} |\n`);
    process.stdout.write(`| ${options.ranks} ranks × ${perRankThreads} thread, batch ${options.batch / options.ranks} each | ${slowest.stepMs.toFixed(1)} | ${parallelImages.toFixed(1)} |\n`);
    process.stdout.write(`\nranks/single: ${(parallelImages / singleImages).toFixed(3)}; gradient averaging of ${(slowest.gradientBytes / 1e6).toFixed(1)} MB per step: ${slowest.allreduceMs.toFixed(1)} ms (algorithm ${algorithm.toFixed(2)} GB/s, bus ${bus.toFixed(2)} GB/s on loopback); one bare allreduce of the same bytes: ${slowest.rawAllreduceMs.toFixed(1)} ms; the per-step stop agreement (one value): ${slowest.agreementMs.toFixed(3)} ms\n`);
    process.stdout.write(`\nmodel of N hosts (per-rank compute ${computeMs.toFixed(0)} ms/step as measured, ring allreduce at the link speed, no overlap): speedup over one host\n`);
    process.stdout.write(`| hosts | ${links.map((l) => `${l} Gb/s`).join(' | ')} |\n|---|${links.map(() => '---').join('|')}|\n`);
    for (const row of model) process.stdout.write(`| ${row.hosts} | ${links.map((l) => row.speedup[`${l}Gb/s`]!.toFixed(2)).join(' | ')} |\n`);
  }
}
