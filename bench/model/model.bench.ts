/**
 * Model benchmark: EfficientNet-B0 at 224px, batch 8 (`--model b0`), or the small-image network `effnet train`
 * builds for CIFAR-sized input (`--model small`: width 0.25, depth 0.7, B0's stages with the small-image strides of
 * src/train/small-images.ts, 10 classes, 32px, batch 64), ours against torchvision's (eager PyTorch, Debian's
 * libtorch 1.13, the same library under both) in one run, with the same thread count on both sides:
 *  forward: eval mode, no grad, one forward pass;  train: train mode, forward + cross entropy + backward.
 * Both memory formats (contiguous NCHW and channels_last). With `--amp bf16` both sides run under bfloat16 autocast
 * on the CPU (ours through src/torch/autocast.ts, PyTorch's torch.autocast('cpu', torch.bfloat16)): the same
 * operators in bfloat16, so the ratio still compares the two callers of one library. Rounds alternate ours / PyTorch so that load from other
 * work on the shared machine hits both alike; each figure is the median of all timed iterations (after warm-up).
 * The reference runs twice per round, with glibc's default malloc and with the mmap threshold raised (see
 * bench/engine: PyTorch at its best), and the faster of the two is the one we compare against.
 *
 * usage: see USAGE below (--help prints it)
 */
import { createEfficientNet, customConfig, type EfficientNet } from '../../src/efficientnet/index.js';
import { smallImageStages } from '../../src/card/small-images.js';
import { toChannelsLast } from '../../src/nn/index.js';
import {
  autocast,
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
import { benchSource, integerOptions, listOption, loadAverage, median, parseBenchArgs, runPython, TUNED_MALLOC } from '../common.js';

const BENCH = 'model.bench';
const REFERENCE = benchSource(import.meta.url, 'model_reference.py');
const USAGE = `usage: node dist/bench/model/model.bench.js [--model b0|small] [--threads T] [--rounds R] [--iters N] [--warmup W]
       [--batch B] [--size S] [--formats contiguous,channels_last] [--modes forward,train] [--amp none|bf16] [--json]
  --model b0 (default: 224px, batch 8) or small (width 0.25, depth 0.7, small-image strides, 10 classes: 32px, batch 64)`;

const values = parseBenchArgs(BENCH, USAGE, {
  threads: { type: 'string', default: '1' },
  rounds: { type: 'string', default: '2' },
  iters: { type: 'string', default: '5' },
  warmup: { type: 'string', default: '2' },
  model: { type: 'string', default: 'b0' },
  batch: { type: 'string' },
  size: { type: 'string' },
  formats: { type: 'string', default: 'contiguous,channels_last' },
  modes: { type: 'string', default: 'forward,train' },
  amp: { type: 'string', default: 'none' },
  json: { type: 'boolean', default: false },
});
type ModelName = 'b0' | 'small';
const [modelName] = listOption<ModelName>(BENCH, 'model', values.model, ['b0', 'small']) as [ModelName];
values.batch ??= modelName === 'b0' ? '8' : '64';
values.size ??= modelName === 'b0' ? '224' : '32';
const { threads, rounds, iters, warmup, batch, size } = integerOptions(BENCH, values, ['threads', 'rounds', 'iters', 'warmup', 'batch', 'size'], { warmup: 0 });
/** The small network: effnet train --model custom --width 0.25 --depth 0.7 --image-size SIZE on 10 classes. */
const SMALL = { width: 0.25, depth: 0.7, classes: 10, strides: smallImageStages(size).map((stage) => stage.stride) };
const classes = modelName === 'b0' ? 1000 : SMALL.classes;
const title = modelName === 'b0' ? 'EfficientNet-B0' : `EfficientNet width ${SMALL.width} depth ${SMALL.depth} strides ${SMALL.strides.join(',')}`;
type Format = 'contiguous' | 'channels_last';
type Mode = 'forward' | 'train';
const formats = listOption<Format>(BENCH, 'formats', values.formats, ['contiguous', 'channels_last']);
const modes = listOption<Mode>(BENCH, 'modes', values.modes, ['forward', 'train']);
const [amp] = listOption<'none' | 'bf16'>(BENCH, 'amp', values.amp, ['none', 'bf16']) as ['none' | 'bf16'];
const autocastOptions = { device: 'cpu' as const, dtype: 'bfloat16' as const, enabled: amp === 'bf16' };

type Times = Record<string, Record<string, number[]>>;

function push(into: Times, format: string, mode: string, times: number[]): void {
  ((into[format] ??= {})[mode] ??= []).push(...times);
}

/** The PyTorch reference; `tunedMalloc` runs it with {@link TUNED_MALLOC} (see bench/common.ts). */
function reference(tunedMalloc: boolean): { torch: string; threads: number; results: Times } {
  const args = ['--threads', String(threads), '--batch', String(batch), '--size', String(size), '--iters', String(iters),
    '--warmup', String(warmup), '--formats', formats.join(','), '--modes', modes.join(','), '--amp', amp];
  if (modelName === 'small') {
    args.push('--width', String(SMALL.width), '--depth', String(SMALL.depth), '--strides', SMALL.strides.join(','), '--classes', String(SMALL.classes));
  }
  return runPython(BENCH, REFERENCE, args, { threads, env: tunedMalloc ? TUNED_MALLOC : {}, needs: "Debian's python3-torch and python3-torchvision" });
}

function timeOurs(model: EfficientNet, format: Format, mode: Mode, x: Tensor, y: Tensor): number[] {
  const times: number[] = [];
  for (let i = 0; i < warmup + iters; i++) {
    let elapsed: number;
    if (mode === 'forward') {
      model.eval();
      const start = performance.now();
      tidy(() => noGrad(() => autocast(autocastOptions, () => model.forward(x))));
      elapsed = performance.now() - start;
    } else {
      model.train();
      for (const p of model.parameters()) p.grad = null;
      const start = performance.now();
      tidy(() => autocast(autocastOptions, () => crossEntropy(model.forward(x), y)).backward());
      elapsed = performance.now() - start;
    }
    if (i >= warmup) times.push(elapsed);
  }
  void format;
  return times;
}

function ours(): Times {
  manualSeed(0);
  const model =
    modelName === 'b0'
      ? createEfficientNet('b0')
      : createEfficientNet(customConfig({ width: SMALL.width, depth: SMALL.depth, resolution: size }), { numClasses: SMALL.classes, stages: smallImageStages(size) });
  const out: Times = {};
  try {
    tidy(() => {
      const x0 = randn([batch, 3, size, size]);
      const y = randint(0, classes, [batch], { dtype: 'int64' });
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
if (getNumThreads() !== threads) throw new Error(`${BENCH}: asked libtorch for ${threads} threads, it runs ${getNumThreads()}`);
if (formats.indexOf('channels_last') >= 0 && formats.indexOf('contiguous') > formats.indexOf('channels_last')) {
  throw new Error('model.bench: list contiguous before channels_last (the model is converted to channels_last once)');
}

const log = (line: string): void => void process.stderr.write(line + '\n');
const load = loadAverage();
log(`model.bench: ${title} ${size}px batch ${batch}${amp === 'bf16' ? ', bfloat16 autocast' : ''}, ${threads} thread(s) on both sides, ${rounds} round(s) of ${warmup} warm-up + ${iters} timed iterations; load average ${load}`);

const oursTimes: Times = {};
const refTimes: Record<'default' | 'tuned', Times> = { default: {}, tuned: {} };
let refVersion = '';
for (let round = 1; round <= rounds; round++) {
  const o = ours();
  for (const [f, byMode] of Object.entries(o)) for (const [m, t] of Object.entries(byMode)) push(oursTimes, f, m, t);
  for (const tuned of [false, true]) {
    const r = reference(tuned);
    refVersion = r.torch;
    if (r.threads !== threads) throw new Error(`${BENCH}: the reference ran ${r.threads} threads, ours ${threads}`);
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
  process.stdout.write(JSON.stringify({ model: modelName, amp, libtorch: libtorchVersion(), torch: refVersion, threads, batch, size, rows }, null, 2) + '\n');
} else {
  const lines = [
    `${title} ${size}px batch ${batch}${amp === 'bf16' ? ', bfloat16 autocast' : ''}, ${threads} thread(s); ours on libtorch ${libtorchVersion()}, PyTorch ${refVersion} (torchvision eager)`,
    `${'format'.padEnd(14)}${'mode'.padEnd(9)}${'ours ms'.padStart(10)}${'torch ms'.padStart(10)}${'(default'.padStart(10)}${'tuned)'.padStart(9)}${'ours/torch'.padStart(12)}`,
    ...rows.map((r) =>
      `${r.format.padEnd(14)}${r.mode.padEnd(9)}${r.oursMs.toFixed(1).padStart(10)}${r.torchMs.toFixed(1).padStart(10)}` +
      `${r.torchDefaultMs.toFixed(1).padStart(10)}${r.torchTunedMs.toFixed(1).padStart(9)}${r.ratio.toFixed(3).padStart(12)}`,
    ),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}
