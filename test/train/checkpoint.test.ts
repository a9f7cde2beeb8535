import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BatchNorm2d, Conv2d, Flatten, Linear, Sequential, AdaptiveAvgPool2d } from '../../src/nn/index.js';
import { crossEntropy, full, manualSeed, randint, randn, tidy } from '../../src/torch/index.js';
import { SGD } from '../../src/optim/index.js';
import { ModelEma } from '../../src/optim/ema.js';
import { loadCheckpoint, saveCheckpoint, type CheckpointState } from '../../src/model-file/checkpoint.js';
import { saveSafetensors } from '../../src/io/safetensors.js';

function tinyModel() {
  return new Sequential(new Conv2d(3, 4, 3, { padding: 1 }), new BatchNorm2d(4), new AdaptiveAvgPool2d(1), new Flatten(), new Linear(4, 3));
}

function bytesOf(t: { toFloat32Array(): Float32Array; dtype: string; data(): unknown }): string {
  return t.dtype === 'int64' ? String(t.data()) : Buffer.from(t.toFloat32Array().buffer).toString('hex');
}

test('a checkpoint round-trips model, optimizer, EMA, progress and config exactly', () => {
  manualSeed(1);
  const model = tinyModel();
  const optimizer = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
  const ema = new ModelEma(model, { decay: 0.99 });
  for (let i = 0; i < 2; i++) {
    tidy(() => {
      const loss = crossEntropy(model.forward(randn([4, 3, 8, 8])), randint(0, 3, [4]));
      optimizer.zeroGrad();
      loss.backward();
      optimizer.step();
      ema.update(model);
    });
  }
  const dir = mkdtempSync(join(tmpdir(), 'effnet-ckpt-'));
  const path = join(dir, 'last.safetensors');
  const state: CheckpointState = {
    model: model.stateDict(),
    optimizer: optimizer.stateDict(),
    ema: ema.stateDict(),
    progress: { epoch: 1, step: 2, position: { epoch: 1, batch: 0 }, best: { top1: 0.5, epoch: 0 }, rng: { seed: 5, torchSeeding: 'x' } },
    config: { model: 'tiny', lr: 0.1, nested: { list: [1, 2, null] } },
  };
  saveCheckpoint(path, state);
  const loaded = loadCheckpoint(path);
  try {
    assert.deepEqual([...loaded.model.keys()].sort(), [...state.model.keys()].sort());
    for (const [name, t] of state.model) assert.equal(bytesOf(loaded.model.get(name)!), bytesOf(t), `model ${name}`);
    const opt = optimizer.stateDict();
    assert.equal(loaded.optimizer.type, 'SGD');
    assert.deepEqual(loaded.optimizer.paramGroups, opt.paramGroups);
    assert.deepEqual(loaded.optimizer.scalars, opt.scalars);
    assert.equal(loaded.optimizer.tensors.size, opt.tensors.size);
    for (const [name, t] of opt.tensors) assert.equal(bytesOf(loaded.optimizer.tensors.get(name)!), bytesOf(t), `optim ${name}`);
    assert.equal(loaded.ema!.updates, 2);
    for (const [name, t] of ema.stateDict().tensors) assert.equal(bytesOf(loaded.ema!.tensors.get(name)!), bytesOf(t), `ema ${name}`);
    assert.deepEqual(loaded.progress, state.progress);
    assert.deepEqual(loaded.config, state.config);
    // Loading into fresh objects works.
    const other = tinyModel();
    other.loadStateDict(loaded.model);
    const otherOpt = new SGD(other.parameters(), { lr: 0.5, momentum: 0.9 });
    otherOpt.loadStateDict(loaded.optimizer);
    assert.equal(otherOpt.lr, 0.1);
    new ModelEma(other).loadStateDict(loaded.ema!);
    otherOpt.dispose();
    other.dispose();
  } finally {
    loaded.dispose();
    optimizer.dispose();
    ema.dispose();
    model.dispose();
  }
  writeFileSync(join(dir, 'garbage.safetensors'), Buffer.from('not a checkpoint'));
  assert.throws(() => loadCheckpoint(join(dir, 'garbage.safetensors')), /safetensors file .*garbage\.safetensors/);
  const weights = full([2], 1);
  saveSafetensors(join(dir, 'weights.safetensors'), new Map([['w', weights]]));
  weights.dispose();
  assert.throws(() => loadCheckpoint(join(dir, 'weights.safetensors')), /holds weights, not a training checkpoint/);
  rmSync(dir, { recursive: true, force: true });
});

test('a process killed while writing a checkpoint leaves the previous one intact and loadable', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-ckpt-kill-'));
  const path = join(dir, 'last.safetensors');
  const previous = full([5], 3);
  saveCheckpoint(path, {
    model: new Map([['w', previous]]),
    optimizer: { type: 'SGD', paramGroups: [], scalars: {}, tensors: new Map() },
    ema: null,
    progress: { epoch: 1, step: 10, position: { epoch: 1, batch: 0 }, best: { top1: 0.25, epoch: 0 }, rng: { seed: 0, torchSeeding: 'test' } },
    config: { generation: 1 },
  });
  const writer = fileURLToPath(new URL('./checkpoint-writer.js', import.meta.url));
  const child = spawn(process.execPath, [writer, path, String(64 * 1024 * 1024)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  // Kill as soon as the temporary file exists: the child is then inside the write.
  const started = Date.now();
  let sawTemporary = false;
  while (Date.now() - started < 60_000 && child.exitCode === null) {
    if (readdirSync(dir).some((name) => name.endsWith('.tmp'))) {
      sawTemporary = true;
      child.kill('SIGKILL');
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const { signal } = await exited;
  assert.ok(sawTemporary, `the child never started writing (output: ${output})`);
  assert.equal(signal, 'SIGKILL', `the child finished before it could be killed (output: ${output})`);
  assert.ok(!output.includes('done'));
  const loaded = loadCheckpoint(path);
  try {
    assert.deepEqual(loaded.config, { generation: 1 });
    assert.equal(loaded.progress.step, 10);
    assert.deepEqual([...loaded.model.get('w')!.toFloat32Array()], [3, 3, 3, 3, 3]);
  } finally {
    loaded.dispose();
    previous.dispose();
  }
  rmSync(dir, { recursive: true, force: true });
});
