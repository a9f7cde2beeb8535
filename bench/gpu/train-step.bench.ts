/**
 * Training-step benchmark for GPUs (issue 15): EfficientNet-B0 (224 px, batch 64) or the small-image network (32-64 px,
 * the CIFAR recipe's), channels_last, optionally under bfloat16 autocast, forward + cross entropy + backward + SGD
 * with momentum, each step ending with the loss read on the host; ours against torchvision's in eager PyTorch in the
 * same run on the same device (bench/gpu/train_step_reference.py; its Python is `--python`, by default the first
 * python3 on the PATH, which on the device machine holds its CUDA torch). Prints the medians and ours/PyTorch, and
 * images per second. Runs on the CPU too (`--device cpu`), which is how its steps are checked without a GPU.
 *
 * usage: node dist/bench/gpu/train-step.bench.js [--device cuda:0] [--model b0|small] [--batch 64] [--size 224]
 *        [--amp bf16|none] [--steps 20] [--warmup 5] [--rounds 2] [--threads 2] [--python python3] [--json]
 * (--threads: CPU threads on both sides; on a GPU they only run the host side.)
 */
import { spawnSync } from 'node:child_process';
import { createEfficientNet, customConfig } from '../../src/efficientnet/index.js';
import { smallImageStages } from '../../src/card/small-images.js';
import { toChannelsLast } from '../../src/nn/index.js';
import { SGD } from '../../src/optim/index.js';
import { autocast, backendFlags, contiguous, crossEntropy, libtorchVersion, manualSeed, randint, randn, resolveDevice, setBackendFlags, setNumThreads, tidy } from '../../src/torch/index.js';
import { benchSource, integerOptions, listOption, median, parseBenchArgs } from '../common.js';

const BENCH = 'gpu/train-step.bench';
const USAGE = `usage: node dist/bench/gpu/train-step.bench.js [--device cuda:0] [--model b0|small] [--batch 64] [--size 224]
       [--amp bf16|none] [--steps 20] [--warmup 5] [--rounds 2] [--threads 2] [--python python3] [--json]`;
const values = parseBenchArgs(BENCH, USAGE, {
  device: { type: 'string', default: 'auto' },
  model: { type: 'string', default: 'b0' },
  batch: { type: 'string', default: '64' },
  size: { type: 'string' },
  amp: { type: 'string', default: 'bf16' },
  steps: { type: 'string', default: '20' },
  warmup: { type: 'string', default: '5' },
  rounds: { type: 'string', default: '2' },
  python: { type: 'string', default: 'python3' },
  threads: { type: 'string', default: '2' },
  json: { type: 'boolean', default: false },
});
const [modelName] = listOption<'b0' | 'small'>(BENCH, 'model', values.model, ['b0', 'small']) as ['b0' | 'small'];
const [amp] = listOption<'bf16' | 'none'>(BENCH, 'amp', values.amp, ['bf16', 'none']) as ['bf16' | 'none'];
values.size ??= modelName === 'b0' ? '224' : '32';
const { batch, size, steps, warmup, rounds, threads } = integerOptions(BENCH, values, ['batch', 'size', 'steps', 'warmup', 'rounds', 'threads'], { warmup: 0 });
const device = resolveDevice(values.device);
const SMALL = { width: 0.25, depth: 0.7, classes: 10 };
const classes = modelName === 'b0' ? 1000 : SMALL.classes;

function ours(): number[] {
  manualSeed(0);
  const model =
    modelName === 'b0'
      ? createEfficientNet('b0')
      : createEfficientNet(customConfig({ width: SMALL.width, depth: SMALL.depth, resolution: size }), { numClasses: SMALL.classes, stages: smallImageStages(size) });
  model.to({ device }).train();
  toChannelsLast(model);
  const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const x = contiguous(randn([batch, 3, size, size], { device }), 'channels_last').keep();
  const y = randint(0, classes, [batch], { dtype: 'int64', device }).keep();
  const autocastOptions = { device: device === 'cpu' ? ('cpu' as const) : ('cuda' as const), dtype: 'bfloat16' as const, enabled: amp === 'bf16' };
  const times: number[] = [];
  try {
    for (let i = 0; i < warmup + steps; i++) {
      const start = performance.now();
      tidy(() => {
        const loss = autocast(autocastOptions, () => crossEntropy(model.forward(x), y));
        optimizer.zeroGrad();
        loss.backward();
        optimizer.step();
        loss.item();
      });
      if (i >= warmup) times.push(performance.now() - start);
    }
  } finally {
    optimizer.dispose();
    model.dispose();
    x.dispose();
    y.dispose();
  }
  return times;
}

function reference(): { torch: string; ms: number[] } {
  const args = [benchSource(import.meta.url, 'train_step_reference.py'), '--device', device, '--batch', String(batch), '--size', String(size), '--amp', amp, '--steps', String(steps), '--warmup', String(warmup)];
  args.push('--threads', String(threads));
  if (modelName === 'small') args.push('--width', String(SMALL.width), '--depth', String(SMALL.depth), '--strides', smallImageStages(size).map((s) => s.stride).join(','), '--classes', String(SMALL.classes));
  const run = spawnSync(values.python, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (run.status !== 0) throw new Error(`${BENCH}: the PyTorch reference failed (${values.python}): ${run.stderr.slice(-2000)}`);
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { torch: string; ms: number[] };
}

setNumThreads(threads);
if (device !== 'cpu') setBackendFlags({ cudnnBenchmark: true, allowTF32: backendFlags().allowTF32CuDNN });
const oursMs: number[] = [];
const torchMs: number[] = [];
let torchVersion = '';
for (let round = 1; round <= rounds; round++) {
  oursMs.push(...ours());
  const r = reference();
  torchVersion = r.torch;
  torchMs.push(...r.ms);
  process.stderr.write(`  round ${round}: ours ${median(oursMs).toFixed(2)} ms, PyTorch ${median(torchMs).toFixed(2)} ms\n`);
}
const result = {
  model: modelName, device, amp, batch, size, libtorch: libtorchVersion(), torch: torchVersion,
  oursMs: median(oursMs), torchMs: median(torchMs), ratio: median(oursMs) / median(torchMs),
  oursImagesPerSecond: (batch * 1000) / median(oursMs), torchImagesPerSecond: (batch * 1000) / median(torchMs),
};
if (values.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
else {
  process.stdout.write(
    `${modelName} ${size}px batch ${batch} channels_last${amp === 'bf16' ? ' bf16 autocast' : ''} on ${device}: ours ${result.oursMs.toFixed(2)} ms ` +
      `(${result.oursImagesPerSecond.toFixed(0)} img/s, libtorch ${result.libtorch}), PyTorch ${result.torchMs.toFixed(2)} ms (${result.torchImagesPerSecond.toFixed(0)} img/s, ${torchVersion}), ours/PyTorch ${result.ratio.toFixed(3)}\n`,
  );
}
