/**
 * Model benchmark: EfficientNet-B0 at 224px, batch 8, ours against torchvision's (eager PyTorch, Debian's
 * libtorch 1.13, the same library under both) in one run, with the same thread count on both sides:
 *  forward: eval mode, no grad, one forward pass;  train: train mode, forward + cross entropy + backward.
 * Both memory formats (contiguous NCHW and channels_last). Rounds alternate ours / PyTorch so that load from other
 * work on the shared machine hits both alike; each figure is the median of all timed iterations (after warm-up).
 * The reference runs twice per round, with glibc's default malloc and with the mmap threshold raised (see
 * bench/engine: PyTorch at its best), and the faster of the two is the one we compare against.
 *
 * usage: node dist/bench/model/model.bench.js [--threads T] [--rounds R] [--iters N] [--warmup W] [--batch B]
 *        [--size S] [--formats contiguous,channels_last] [--modes forward,train] [--json]
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createEfficientNet, type EfficientNet } from '../../src/efficientnet/index.js';
import { toChannelsLast } from '../../src/demo/convnet.js';
import {
  contiguous,
  crossEntropy,
  getNumThreads,
  libtorchVersion,
  manualSeed,
  noGrad,
  randint,
  randn,
  setNumThreads,
  tidy,
  type Tensor,
} from '../../src/torch/index.js';

const PYTHON = '/usr/bin/python3';
const here = dirname(fileURLToPath(import.meta.url));
const REFERENCE = join(here, '../../../bench/model/model_reference.py');

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '2' },
    iters: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    batch: { type: 'string', default: '8' },
    size: { type: 'string', default: '224' },
    formats: { type: 'string', default: 'contiguous,channels_last' },
    modes: { type: 'string', default: 'forward,train' },
    json: { type: 'boolean', default: false },
  },
});
const threads = Number(values.threads);
const rounds = Number(values.rounds);
const iters = Number(values.iters);
const warmup = Number(values.warmup);
const batch = Number(values.batch);
const size = Number(values.size);
for (const [name, value] of Object.entries({ threads, rounds, iters, warmup, batch, size })) {
  if (!Number.isInteger(value) || value < (name === 'warmup' ? 0 : 1)) throw new Error(`model.bench: --${name} must be a positive integer, got ${value}`);
}
type Format = 'contiguous' | 'channels_last';
type Mode = 'forward' | 'train';
const formats = values.formats.split(',') as Format[];
const modes = values.modes.split(',') as Mode[];
for (const f of formats) if (f !== 'contiguous' && f !== 'channels_last') throw new Error(`model.bench: unknown format '${f}'; use contiguous, channels_last`);
for (const m of modes) if (m !== 'forward' && m !== 'train') throw new Error(`model.bench: unknown mode '${m}'; use forward, train`);

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

type Times = Record<string, Record<string, number[]>>;

function push(into: Times, format: string, mode: string, times: number[]): void {
  ((into[format] ??= {})[mode] ??= []).push(...times);
}

const TUNED_MALLOC = { MALLOC_MMAP_THRESHOLD_: '4294967296', MALLOC_TRIM_THRESHOLD_: '4294967296' };

function reference(tunedMalloc: boolean): { torch: string; threads: number; results: Times } {
  const args = [REFERENCE, '--threads', String(threads), '--batch', String(batch), '--size', String(size), '--iters', String(iters),
    '--warmup', String(warmup), '--formats', formats.join(','), '--modes', modes.join(',')];
  const run = spawnSync(PYTHON, args, {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: String(threads), ...(tunedMalloc ? TUNED_MALLOC : {}) },
  });
  if (run.error || run.status !== 0) {
    throw new Error(`model.bench: ${PYTHON} ${args.join(' ')} failed (${run.error?.message ?? `exit ${run.status}`}): ${run.stderr.slice(-2000)}; ` +
      "it needs Debian's python3-torch and python3-torchvision");
  }
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { torch: string; threads: number; results: Times };
}

function timeOurs(model: EfficientNet, format: Format, mode: Mode, x: Tensor, y: Tensor): number[] {
  const times: number[] = [];
  for (let i = 0; i < warmup + iters; i++) {
    let elapsed: number;
    if (mode === 'forward') {
      model.eval();
      const start = performance.now();
      tidy(() => noGrad(() => model.forward(x)));
      elapsed = performance.now() - start;
    } else {
      model.train();
      for (const p of model.parameters()) p.grad = null;
      const start = performance.now();
      tidy(() => crossEntropy(model.forward(x), y).backward());
      elapsed = performance.now() - start;
    }
    if (i >= warmup) times.push(elapsed);
  }
  void format;
  return times;
}

function ours(): Times {
  manualSeed(0);
  const model = createEfficientNet('b0');
  const out: Times = {};
  try {
    tidy(() => {
      const x0 = randn([batch, 3, size, size]);
      const y = randint(0, 1000, [batch], { dtype: 'int64' });
      for (const format of formats) {
        // contiguous first: the kernels are re-laid out once for channels_last and stay so.
        if (format === 'channels_last') toChannelsLast(model);
        const x = format === 'channels_last' ? contiguous(x0, 'channels_last') : x0;
        for (const mode of modes) push(out, format, mode, timeOurs(model, format, mode, x, y));
      }
    });
  } finally {
    model.dispose();
  }
  return out;
}

setNumThreads(threads);
if (getNumThreads() !== threads) throw new Error(`model.bench: asked libtorch for ${threads} threads, it runs ${getNumThreads()}`);
if (formats.indexOf('channels_last') >= 0 && formats.indexOf('contiguous') > formats.indexOf('channels_last')) {
  throw new Error('model.bench: list contiguous before channels_last (the model is converted to channels_last once)');
}

const log = (line: string): void => void process.stderr.write(line + '\n');
let load = '?';
try {
  load = spawnSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).stdout.split(' ').slice(0, 3).join(' ');
} catch {
  // no /proc: leave '?'
}
log(`model.bench: EfficientNet-B0 ${size}px batch ${batch}, ${threads} thread(s) on both sides, ${rounds} round(s) of ${warmup} warm-up + ${iters} timed iterations; load average ${load}`);

const oursTimes: Times = {};
const refTimes: Record<'default' | 'tuned', Times> = { default: {}, tuned: {} };
let refVersion = '';
for (let round = 1; round <= rounds; round++) {
  const o = ours();
  for (const [f, byMode] of Object.entries(o)) for (const [m, t] of Object.entries(byMode)) push(oursTimes, f, m, t);
  for (const tuned of [false, true]) {
    const r = reference(tuned);
    refVersion = r.torch;
    if (r.threads !== threads) throw new Error(`model.bench: the reference ran ${r.threads} threads, ours ${threads}`);
    for (const [f, byMode] of Object.entries(r.results)) for (const [m, t] of Object.entries(byMode)) push(refTimes[tuned ? 'tuned' : 'default'], f, m, t);
  }
  log(`  round ${round} done`);
}

const rows: { format: string; mode: string; oursMs: number; torchMs: number; torchDefaultMs: number; torchTunedMs: number; ratio: number }[] = [];
for (const format of formats) {
  for (const mode of modes) {
    const oursMs = median(oursTimes[format]![mode]!);
    const torchDefaultMs = median(refTimes.default[format]![mode]!);
    const torchTunedMs = median(refTimes.tuned[format]![mode]!);
    const torchMs = Math.min(torchDefaultMs, torchTunedMs);
    rows.push({ format, mode, oursMs, torchMs, torchDefaultMs, torchTunedMs, ratio: oursMs / torchMs });
  }
}
if (values.json) {
  process.stdout.write(JSON.stringify({ libtorch: libtorchVersion, torch: refVersion, threads, batch, size, rows }, null, 2) + '\n');
} else {
  const lines = [
    `EfficientNet-B0 ${size}px batch ${batch}, ${threads} thread(s); ours on libtorch ${libtorchVersion}, PyTorch ${refVersion} (torchvision eager)`,
    `${'format'.padEnd(14)}${'mode'.padEnd(9)}${'ours ms'.padStart(10)}${'torch ms'.padStart(10)}${'(default'.padStart(10)}${'tuned)'.padStart(9)}${'ours/torch'.padStart(12)}`,
    ...rows.map((r) =>
      `${r.format.padEnd(14)}${r.mode.padEnd(9)}${r.oursMs.toFixed(1).padStart(10)}${r.torchMs.toFixed(1).padStart(10)}` +
      `${r.torchDefaultMs.toFixed(1).padStart(10)}${r.torchTunedMs.toFixed(1).padStart(9)}${r.ratio.toFixed(3).padStart(12)}`,
    ),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}
