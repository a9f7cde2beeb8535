/**
 * The CUDA paths, run where the linked libtorch sees a CUDA device (a build against a CUDA libtorch: docs/engine.md)
 * and skipped with the reason elsewhere: EfficientNet forward and backward on cuda:0 against the same network on the
 * CPU in float32 (logits and gradients within 1e-4 relative to their scale); bfloat16 and float16 autocast on CUDA
 * (convolutions in the low precision, cross entropy in float32); the GradScaler's fused unscale-and-check against
 * its composite; a checkpoint written from a GPU model loading on the CPU and back (its optimizer state too).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEfficientNet, customConfig } from '../../src/efficientnet/index.js';
import { smallImageStages } from '../../src/card/small-images.js';
import { GradScaler, SGD } from '../../src/optim/index.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/model-file/checkpoint.js';
import { autocast, backendFlags, conv2d, crossEntropy, cudaDeviceCount, linear, manualSeed, randn, setBackendFlags, tensor, tidy, type Tensor } from '../../src/torch/index.js';

const skip = cudaDeviceCount() === 0 ? 'no CUDA device: the linked libtorch is a CPU build or sees no GPU' : false;

function smallNet(): ReturnType<typeof createEfficientNet> {
  manualSeed(5);
  return createEfficientNet(customConfig({ width: 0.25, depth: 0.25, resolution: 32, dropout: 0 }), { numClasses: 4, stages: smallImageStages(32), stochasticDepth: 0 });
}

function maxRelative(a: number[], b: number[]): number {
  const scale = b.reduce((max, v) => Math.max(max, Math.abs(v)), 1e-12);
  return a.reduce((worst, v, i) => Math.max(worst, Math.abs(v - b[i]!) / scale), 0);
}

for (const [name, build, shape] of [
  ['a small EfficientNet at 32 px', smallNet, [8, 3, 32, 32]],
  ['EfficientNet-B0 at 224 px', () => (manualSeed(5), createEfficientNet(customConfig({ width: 1, depth: 1, resolution: 224, dropout: 0 }), { numClasses: 4, stochasticDepth: 0 })), [2, 3, 224, 224]],
] as const) test(`${name} on cuda:0 equals the CPU in float32: logits and every gradient within 1e-4 of their scale`, { skip }, () => {
  // TF32 convolutions (libtorch's default on Ampere and later) round inputs to 10-bit mantissas: off for the comparison.
  const flags = backendFlags();
  setBackendFlags({ cudnnBenchmark: false, allowTF32: false });
  const cpu = build();
  const gpu = build().to({ device: 'cuda:0' });
  assert.equal(gpu.device, 'cuda:0');
  tidy(() => {
    manualSeed(6);
    const x = randn([...shape]);
    const y = tensor(Array.from({ length: shape[0] }, (_, i) => i % 4), [shape[0]], { dtype: 'int64' });
    cpu.train();
    gpu.train();
    const cpuLogits = cpu.forward(x);
    const gpuLogits = gpu.forward(x.toDevice('cuda:0'));
    assert.ok(maxRelative(gpuLogits.toArray(), cpuLogits.toArray()) < 1e-4, 'logits');
    crossEntropy(cpuLogits, y).backward();
    crossEntropy(gpuLogits, y.toDevice('cuda:0')).backward();
    const cpuParams = cpu.namedParameters();
    const gpuParams = gpu.namedParameters();
    for (const [i, [param, p]] of cpuParams.entries()) {
      const g = gpuParams[i]![1].grad!;
      assert.equal(g.device, 'cuda:0');
      assert.ok(maxRelative(g.toArray(), p.grad!.toArray()) < 1e-4, `gradient of ${param}`);
    }
  });
  cpu.dispose();
  gpu.dispose();
  setBackendFlags({ cudnnBenchmark: flags.cudnnBenchmark, allowTF32: flags.allowTF32CuDNN });
});

test('autocast on CUDA: conv2d and linear in bfloat16 / float16, cross entropy in float32', { skip }, () => {
  tidy(() => {
    const x = randn([2, 3, 8, 8], { device: 'cuda:0' });
    const w = randn([4, 3, 3, 3], { device: 'cuda:0' });
    const lw = randn([3, 5], { device: 'cuda:0' });
    for (const dtype of ['bfloat16', 'float16'] as const) {
      autocast({ device: 'cuda', dtype }, () => {
        assert.equal(conv2d(x, w).dtype, dtype);
        const logits = linear(randn([2, 5], { device: 'cuda:0' }), lw);
        assert.equal(logits.dtype, dtype);
        assert.equal(crossEntropy(logits, tensor([0, 2], [2], { dtype: 'int64', device: 'cuda:0' })).dtype, 'float32');
      });
    }
  });
});

test("GradScaler's fused CUDA unscale-and-check agrees with the composite: the same unscaled gradients and inf decisions", { skip }, () => {
  for (const values of [[1024, -512, 256], [1024, Infinity, 2], [NaN, 1, 1]]) {
    const runs = ['cpu', 'cuda:0'].map((device) => {
      const p = tensor([1, 2, 3], [3], { device }).keep();
      p.requiresGrad = true;
      p.grad = tensor(values, [3], { device });
      const optimizer = new SGD([p], { lr: 1 });
      const scaler = new GradScaler({ initScale: 1024 });
      const stepped = scaler.step(optimizer);
      return { stepped, params: p.toArray() };
    });
    assert.deepEqual(runs[1], runs[0], `gradients ${values.join(', ')}`);
  }
});

test('a checkpoint written from a model on cuda:0 loads on the CPU and back onto the GPU, values unchanged', { skip }, () => {
  const model = smallNet().to({ device: 'cuda:0' });
  const optimizer = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
  tidy(() => crossEntropy(model.forward(randn([2, 3, 32, 32], { device: 'cuda:0' })), tensor([0, 1], [2], { dtype: 'int64', device: 'cuda:0' })).backward());
  optimizer.step();
  const path = join(mkdtempSync(join(tmpdir(), 'effnet-cuda-ckpt-')), 'last.safetensors');
  saveCheckpoint(path, {
    model: model.stateDict(), optimizer: optimizer.stateDict(), ema: null,
    progress: { epoch: 0, step: 1, position: { epoch: 0, batch: 1 }, best: { top1: -1, epoch: -1 }, rng: { seed: 0, torchSeeding: 'test' } }, config: {},
  });
  const loaded = loadCheckpoint(path);
  try {
    const onCpu = smallNet();
    onCpu.loadStateDict(loaded.model);
    const cpuOptimizer = new SGD(onCpu.parameters(), { lr: 0.1, momentum: 0.9 });
    cpuOptimizer.loadStateDict(loaded.optimizer);
    const back = smallNet().to({ device: 'cuda:0' });
    back.loadStateDict(onCpu.stateDict());
    const backOptimizer = new SGD(back.parameters(), { lr: 0.1, momentum: 0.9 });
    backOptimizer.loadStateDict(cpuOptimizer.stateDict());
    for (const [name, t] of model.stateDict()) {
      assert.deepEqual(back.stateDict().get(name)!.toArray(), t.toArray(), name);
      assert.equal(back.stateDict().get(name)!.device, 'cuda:0');
    }
    for (const [name, t] of backOptimizer.stateDict().tensors) assert.equal((t as Tensor).device, 'cuda:0', `optimizer state ${name} lives on the GPU`);
  } finally {
    loaded.dispose();
  }
});
