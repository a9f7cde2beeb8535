import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, Flatten, Linear, ReLU, Sequential, type Module } from '../../src/nn/index.js';
import { copy_, full, manualSeed, noGrad, type Tensor } from '../../src/torch/index.js';
import { ArrayImageDataset } from '../../src/data/array-dataset.js';
import { DataLoader } from '../../src/data/loader.js';
import { Rng } from '../../src/data/rng.js';
import { loadCheckpoint } from '../../src/model-file/checkpoint.js';
import { NonFiniteLossError, Trainer, type Recipe } from '../../src/train/trainer.js';
import { createEfficientNet, decodeArchitecture } from '../../src/efficientnet/index.js';

const SIZE = 16;
const CLASSES = 4;

/** 64 synthetic 16x16 RGB images whose class sets the brightness of one colour channel, plus noise. */
function syntheticDataset(count: number, seed: number): ArrayImageDataset {
  const rng = new Rng(seed);
  const pixels = new SharedArrayBuffer(count * SIZE * SIZE * 3);
  const labels = new SharedArrayBuffer(count);
  const p = new Uint8Array(pixels);
  const l = new Uint8Array(labels);
  for (let i = 0; i < count; i++) {
    const label = i % CLASSES;
    l[i] = label;
    for (let j = 0; j < SIZE * SIZE; j++) {
      for (let c = 0; c < 3; c++) {
        const base = c === label % 3 ? (label < 3 ? 200 : 120) : 40;
        p[(i * SIZE * SIZE + j) * 3 + c] = Math.max(0, Math.min(255, base + Math.floor(rng.next() * 40)));
      }
    }
  }
  return new ArrayImageDataset({ kind: 'array', pixels, width: SIZE, height: SIZE, channels: 3, layout: 'hwc', labels, classes: ['a', 'b', 'c', 'd'], name: 'synthetic' });
}

function tinyNet(): Module {
  manualSeed(11);
  return new Sequential(
    new Conv2d(3, 8, 3, { padding: 1, bias: false }), new BatchNorm2d(8), new ReLU(),
    new Conv2d(8, 8, 3, { padding: 1, stride: 2, bias: false }), new BatchNorm2d(8), new ReLU(),
    new AdaptiveAvgPool2d(1), new Flatten(), new Dropout(0.2), new Linear(8, CLASSES),
  );
}

const trainData = syntheticDataset(64, 1);
const valData = syntheticDataset(32, 2);

function loaders(): { train: DataLoader; val: DataLoader } {
  return {
    train: new DataLoader(trainData, { batchSize: 16, transform: { kind: 'train', size: SIZE, scale: [0.5, 1] }, seed: 7, workers: 0 }),
    val: new DataLoader(valData, { batchSize: 16, transform: { kind: 'eval', size: SIZE, cropPct: 1 }, shuffle: false, workers: 0 }),
  };
}

const recipe: Recipe = { epochs: 2, lr: 0.01, schedule: 'cosine', warmupEpochs: 0.5, emaDecay: 0.99 };

function snapshot(state: Map<string, Tensor>): Map<string, string> {
  return new Map([...state].map(([name, t]) => [name, t.dtype === 'int64' ? String(t.data()) : Buffer.from(t.toFloat32Array().buffer).toString('hex')]));
}

/** Runs `body` with `count` fresh run directories, removed afterwards whatever happens. */
async function withRunDirs(count: number, body: (dirs: string[]) => Promise<void>): Promise<void> {
  const dirs = Array.from({ length: count }, () => mkdtempSync(join(tmpdir(), 'effnet-train-')));
  try {
    await body(dirs);
  } finally {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

async function run(
  runDir: string,
  steps: ('fit' | 'resume-fit-1')[],
  build: () => Module = tinyNet,
  channelsLast = false,
  extra: { device?: string; amp?: 'bf16' | 'fp16' | null } = {},
): Promise<{ model: Map<string, string>; ema: Map<string, string>; optim: Map<string, string> }> {
  let result = null as null | { model: Map<string, string>; ema: Map<string, string>; optim: Map<string, string> };
  for (const step of steps) {
    const model = build();
    const { train, val } = loaders();
    const trainer = new Trainer({ model, train, val, runDir, recipe, channelsLast, ...extra });
    try {
      if (step === 'resume-fit-1') {
        assert.equal(trainer.resume(), existsSync(join(runDir, 'last.safetensors')));
        await trainer.fit({ stopAfter: 1 });
      } else {
        await trainer.fit();
      }
      result = { model: snapshot(model.stateDict()), ema: snapshot(trainer.ema!.stateDict().tensors), optim: snapshot(trainer.optimizer.stateDict().tensors) };
    } finally {
      trainer.dispose();
      model.dispose();
      await train.close();
      await val.close();
    }
  }
  return result!;
}

test('2 epochs straight equal 1 epoch + resume 1 epoch in a fresh Trainer, bit for bit', async () => {
  await withRunDirs(2, async ([dirA, dirB]) => {
    const straight = await run(dirA, ['fit']);
    const resumed = await run(dirB, ['resume-fit-1', 'resume-fit-1']);
    for (const part of ['model', 'ema', 'optim'] as const) {
      assert.ok(straight[part].size > 0);
      assert.deepEqual([...resumed[part].keys()].sort(), [...straight[part].keys()].sort(), part);
      for (const [name, hex] of straight[part]) assert.equal(resumed[part].get(name), hex, `${part} ${name} differs after resume`);
    }
    // The weights moved (the test would be vacuous otherwise).
    const initial = snapshot(tinyNet().stateDict());
    assert.notEqual(straight.model.get('0.weight'), initial.get('0.weight'));
    // Metrics: two epochs in each log, same values apart from throughput.
    for (const dir of [dirA, dirB]) {
      const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, number>);
      assert.deepEqual(lines.map((l) => l.epoch), [1, 2]);
      assert.deepEqual(lines.map((l) => l.step), [4, 8]);
      for (const l of lines) {
        for (const key of ['valTop1', 'valTop5', 'emaTop1', 'emaTop5']) assert.ok(l[key]! >= 0 && l[key]! <= 1, `${key} = ${l[key]}`);
        assert.ok(Number.isFinite(l.trainLoss) && Number.isFinite(l.valLoss));
        assert.equal(l.valTop5, 1, 'top-5 of 4 classes is always right');
      }
      const csv = readFileSync(join(dir, 'metrics.csv'), 'utf8').trim().split('\n');
      assert.equal(csv.length, 3);
      assert.ok(csv[0]!.startsWith('epoch,step,lr,trainLoss,trainTop1,valLoss,valTop1'));
      assert.ok(existsSync(join(dir, 'best.safetensors')));
    }
    const a = readFileSync(join(dirA, 'metrics.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, number>);
    const b = readFileSync(join(dirB, 'metrics.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, number>);
    for (let i = 0; i < 2; i++) for (const key of ['trainLoss', 'valLoss', 'valTop1', 'emaLoss', 'emaTop1', 'lr']) assert.equal(b[i]![key], a[i]![key], `epoch ${i + 1} ${key}`);
    const last = loadCheckpoint(join(dirB, 'last.safetensors'));
    assert.equal(last.progress.epoch, 2);
    assert.equal(last.progress.step, 8);
    assert.deepEqual(last.progress.position, { epoch: 2, batch: 0 });
    last.dispose();
  });
});

test('a NaN loss stops training with a clear error and leaves the last checkpoint intact', async () => {
  await withRunDirs(1, async ([dir]) => {
    await run(dir, ['resume-fit-1']);
    const before = readFileSync(join(dir, 'last.safetensors'));
    const model = tinyNet();
    const { train, val } = loaders();
    const trainer = new Trainer({ model, train, val, runDir: dir, recipe });
    try {
      assert.ok(trainer.resume());
      const weight = model.namedParameters()[0]![1];
      noGrad(() => copy_(weight, full(weight.shape, NaN)));
      await assert.rejects(trainer.fit(), (error: Error) => {
        assert.ok(error instanceof NonFiniteLossError);
        assert.match(error.message, /the loss is NaN at epoch 2, batch 0 \(step 4/);
        assert.match(error.message, /last good checkpoint is .*last\.safetensors/);
        return true;
      });
    } finally {
      trainer.dispose();
      model.dispose();
      await train.close();
      await val.close();
    }
    assert.ok(before.equals(readFileSync(join(dir, 'last.safetensors'))), 'last.safetensors changed');
    const loaded = loadCheckpoint(join(dir, 'last.safetensors'));
    assert.equal(loaded.progress.epoch, 1);
    assert.ok(loaded.model.get('0.weight')!.toFloat32Array().every(Number.isFinite));
    loaded.dispose();
    // Resuming with another batch size is refused (the schedule and data order would not continue).
    const model3 = tinyNet();
    const l3 = { train: new DataLoader(trainData, { batchSize: 8, transform: { kind: 'train', size: SIZE }, seed: 7, workers: 0 }) };
    const trainer3 = new Trainer({ model: model3, train: l3.train, val: null, runDir: dir, recipe });
    try {
      assert.throws(() => trainer3.resume(), /trained with batch size 16 but this one has 8; resume with the same \(global\) batch size/);
    } finally {
      trainer3.dispose();
      model3.dispose();
      await l3.train.close();
    }
    // An absurd learning rate diverges to a non-finite loss as well.
    const model2 = tinyNet();
    const l2 = loaders();
    const trainer2 = new Trainer({ model: model2, train: l2.train, val: l2.val, runDir: join(dir, 'huge-lr'), recipe: { epochs: 3, lr: 1e30, emaDecay: null } });
    try {
      await assert.rejects(trainer2.fit(), NonFiniteLossError);
    } finally {
      trainer2.dispose();
      model2.dispose();
      await l2.train.close();
      await l2.val.close();
    }
  });
});

test('a tiny EfficientNet (stochastic depth, dropout, channels_last) resumes bit for bit too', async () => {
  const build = (): Module => {
    manualSeed(12);
    const stages = decodeArchitecture(['r1_k3_s11_e1_i32_o16_se0.25', 'r2_k3_s22_e6_i16_o24_se0.25']);
    return createEfficientNet('b0', { numClasses: CLASSES, stages, stochasticDepth: 0.3, dropout: 0.2 });
  };
  await withRunDirs(2, async ([dirA, dirB]) => {
    const straight = await run(dirA, ['fit'], build, true);
    const resumed = await run(dirB, ['resume-fit-1', 'resume-fit-1'], build, true);
    for (const part of ['model', 'ema', 'optim'] as const) {
      assert.deepEqual([...resumed[part].keys()].sort(), [...straight[part].keys()].sort(), part);
      for (const [name, hex] of straight[part]) assert.equal(resumed[part].get(name), hex, `${part} ${name} differs after resume`);
    }
  });
});

test('stop() mid-epoch and at an epoch end writes last.safetensors there; resuming gives the same weights', async () => {
  await withRunDirs(2, async ([dirA, dirB]) => {
    const straight = await run(dirA, ['fit']);
    let final: Map<string, string> | null = null;
    const stops = [2, 4, 7, null];
    for (const stopAt of stops) {
      const model = tinyNet();
      const { train, val } = loaders();
      const trainer: Trainer = new Trainer({ model, train, val, runDir: dirB, recipe, onStep: (step) => (step === stopAt ? trainer.stop() : undefined) });
      try {
        trainer.resume();
        await trainer.fit();
        assert.equal(trainer.stopped, stopAt !== null);
        if (stopAt !== null) {
          const saved = loadCheckpoint(join(dirB, 'last.safetensors'));
          assert.equal(saved.progress.step, stopAt);
          assert.deepEqual(saved.progress.position, { epoch: Math.floor((stopAt - 1) / 4), batch: ((stopAt - 1) % 4) + 1 });
          saved.dispose();
        }
        final = snapshot(model.stateDict());
      } finally {
        trainer.dispose();
        model.dispose();
        await train.close();
        await val.close();
      }
    }
    for (const [name, hex] of straight.model) assert.equal(final!.get(name), hex, `model ${name} differs after stop + resume`);
    const epochs = readFileSync(join(dirB, 'metrics.jsonl'), 'utf8').trim().split('\n').map((line) => (JSON.parse(line) as { epoch: number }).epoch);
    assert.deepEqual(epochs, [1, 2]);
  });
});

test('the progress bar shows each epoch with loss and accuracy', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-train-bar-'));
  const model = tinyNet();
  const { train, val } = loaders();
  let output = '';
  const trainer = new Trainer({ model, train, val, runDir: dir, recipe: { epochs: 1, emaDecay: null }, progress: { write: (chunk: string) => (output += chunk), isTTY: false } });
  try {
    const [metrics] = await trainer.fit();
    assert.equal(metrics!.emaTop1, null);
    assert.ok(metrics!.valTop1 !== null);
    assert.match(output, /epoch 1\/1/);
    assert.match(output, /loss \d/);
    assert.match(output, /4\/4/);
  } finally {
    trainer.dispose();
    model.dispose();
    await train.close();
    await val.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('channelsLast re-lays the conv kernels (and their optimizer and EMA state) as NHWC; training matches an NCHW run', async () => {
  const nhwc = (t: Tensor): number[] => {
    const [, c, h, w] = t.shape as [number, number, number, number];
    return [c * h * w, 1, w * c, c];
  };
  const nchw = (t: Tensor): number[] => {
    const [, c, h, w] = t.shape as [number, number, number, number];
    return [c * h * w, h * w, w, 1];
  };
  const results: Map<string, Float32Array>[] = [];
  for (const channelsLast of [true, false]) {
    const dir = mkdtempSync(join(tmpdir(), 'effnet-train-cl-'));
    const model = tinyNet();
    const before = new Map([...model.stateDict()].map(([name, t]) => [name, t.toFloat32Array()]));
    const params = model.parameters();
    const { train } = loaders();
    const trainer = new Trainer({ model, train, val: null, runDir: dir, recipe: { ...recipe, epochs: 1 }, channelsLast });
    try {
      assert.deepEqual(model.parameters(), params, 'the same parameter objects');
      const kernels = model.parameters().filter((p) => p.ndim === 4);
      assert.equal(kernels.length, 2);
      for (const k of kernels) assert.deepEqual(k.strides, channelsLast ? nhwc(k) : nchw(k), `kernel ${k.shape}`);
      for (const [name, t] of model.stateDict()) assert.deepEqual(t.toFloat32Array(), before.get(name), `${name}: values unchanged by the re-layout`);
      await trainer.fit();
      const state = [...trainer.optimizer.stateDict().tensors.values(), ...trainer.ema!.stateDict().tensors.values()].filter((t) => t.ndim === 4);
      assert.equal(state.length, 2 * 2 + 2, 'square_avg and momentum_buffer of each kernel, and its EMA');
      for (const t of state) assert.deepEqual(t.strides, channelsLast ? nhwc(t) : nchw(t), `state ${t.shape}`);
      results.push(new Map([...model.stateDict()].filter(([, t]) => t.dtype === 'float32').map(([name, t]) => [name, t.toFloat32Array()])));
      assert.notDeepEqual(results.at(-1)!.get('0.weight'), before.get('0.weight'), 'the weights moved');
    } finally {
      trainer.dispose();
      model.dispose();
      await train.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  // Same recipe, seeds and data: only the summation order of the convolutions differs between the two layouts.
  for (const [name, a] of results[0]!) {
    const b = results[1]!.get(name)!;
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= 1e-4 * Math.max(1, Math.abs(b[i]!)), `${name}[${i}]: ${a[i]} (NHWC) vs ${b[i]} (NCHW)`);
  }
});

test('stop() before fit() is honoured: no step, last.safetensors at the current position; the next fit() trains on', async () => {
  await withRunDirs(2, async ([dirA, dirB]) => {
    const straight = await run(dirA, ['fit']);
    const model = tinyNet();
    const initial = snapshot(model.stateDict());
    const { train, val } = loaders();
    const steps: number[] = [];
    const trainer = new Trainer({ model, train, val, runDir: dirB, recipe, onStep: (step) => void steps.push(step) });
    try {
      trainer.stop(); // e.g. a SIGINT during set-up
      assert.deepEqual(await trainer.fit(), []);
      assert.equal(trainer.stopped, true);
      assert.deepEqual(steps, [], 'no step was taken');
      assert.deepEqual(snapshot(model.stateDict()), initial, 'the weights did not move');
      const saved = loadCheckpoint(join(dirB, 'last.safetensors'));
      assert.equal(saved.progress.step, 0);
      assert.deepEqual(saved.progress.position, { epoch: 0, batch: 0 });
      saved.dispose();
      // The request was consumed: the next fit() runs the whole recipe, and lands where a straight run does.
      const metrics = await trainer.fit();
      assert.equal(trainer.stopped, false);
      assert.deepEqual(metrics.map((m) => m.epoch), [1, 2]);
      assert.deepEqual(steps, [1, 2, 3, 4, 5, 6, 7, 8]);
      const final = snapshot(model.stateDict());
      for (const [name, hex] of straight.model) assert.equal(final.get(name), hex, `model ${name} differs from the straight run`);
      // A finished run: fit() has nothing to do and is not 'stopped'.
      assert.deepEqual(await trainer.fit(), []);
      assert.equal(trainer.stopped, false);
    } finally {
      trainer.dispose();
      model.dispose();
      await train.close();
      await val.close();
    }
  });
});

test('a stop() during an epoch-end evaluation stops at the next epoch start, before its first step', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-train-pe-'));
  const model = tinyNet();
  const { train, val } = loaders();
  const steps: number[] = [];
  const trainer: Trainer = new Trainer({ model, train, val, runDir: dir, recipe, onStep: (step) => void steps.push(step) });
  // The validation loader's first batch of the first evaluation requests the stop.
  const epochOf = val.epoch.bind(val);
  let evaluations = 0;
  val.epoch = (e: number, start?: number) => {
    if (evaluations++ === 0) trainer.stop();
    return epochOf(e, start);
  };
  try {
    assert.deepEqual((await trainer.fit()).map((m) => m.epoch), [1], 'epoch 1 ran and is returned');
    assert.equal(trainer.stopped, true);
    assert.deepEqual(steps, [1, 2, 3, 4], 'only the first epoch ran');
    const saved = loadCheckpoint(join(dir, 'last.safetensors'));
    assert.equal(saved.progress.epoch, 1);
    assert.deepEqual(saved.progress.position, { epoch: 1, batch: 0 });
    saved.dispose();
    const epochs = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((line) => (JSON.parse(line) as { epoch: number }).epoch);
    assert.deepEqual(epochs, [1], 'epoch 1 was evaluated and logged');
  } finally {
    trainer.dispose();
    model.dispose();
    await train.close();
    await val.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('runSeconds accumulates over a stop and a resume; earlierSeconds is what the checkpoint recorded', async () => {
  await withRunDirs(1, async ([dir]) => {
    let first = 0;
    let firstWall = 0;
    {
      const model = tinyNet();
      const { train, val } = loaders();
      const trainer: Trainer = new Trainer({ model, train, val, runDir: dir, recipe, onStep: (step) => (step === 6 ? trainer.stop() : undefined) });
      try {
        assert.equal(trainer.runSeconds, 0);
        const t0 = performance.now();
        await trainer.fit();
        firstWall = (performance.now() - t0) / 1000;
        assert.equal(trainer.stopped, true);
        first = trainer.runSeconds;
        assert.ok(first > 0 && first <= firstWall, `runSeconds ${first} within the fit() call's ${firstWall} s`);
        assert.equal(trainer.earlierSeconds, 0);
      } finally {
        trainer.dispose();
        model.dispose();
        await train.close();
        await val.close();
      }
    }
    const model = tinyNet();
    const { train, val } = loaders();
    const trainer = new Trainer({ model, train, val, runDir: dir, recipe });
    try {
      assert.ok(trainer.resume());
      assert.equal(trainer.earlierSeconds, first);
      assert.equal(trainer.runSeconds, first);
      const t0 = performance.now();
      await trainer.fit();
      const secondWall = (performance.now() - t0) / 1000;
      assert.ok(trainer.runSeconds > first && trainer.runSeconds <= first + secondWall, `runSeconds ${trainer.runSeconds}: ${first} + at most ${secondWall}`);
      assert.equal(trainer.earlierSeconds, first);
      const saved = loadCheckpoint(join(dir, 'last.safetensors'));
      assert.equal((saved.progress as { seconds?: number }).seconds, trainer.runSeconds);
      saved.dispose();
    } finally {
      trainer.dispose();
      model.dispose();
      await train.close();
      await val.close();
    }
  });
});

test('bfloat16 mixed precision: float32 weights, 2 epochs straight equal 1 + resume 1 bit for bit, close to (not equal to) float32', async () => {
  await withRunDirs(3, async ([dirA, dirB, dirC]) => {
    const bf16 = await run(dirA, ['fit'], tinyNet, true, { amp: 'bf16' });
    const resumed = await run(dirB, ['resume-fit-1', 'resume-fit-1'], tinyNet, true, { amp: 'bf16' });
    for (const part of ['model', 'ema', 'optim'] as const) {
      for (const [name, hex] of bf16[part]) assert.equal(resumed[part].get(name), hex, `${part} ${name} differs after resume`);
    }
    const fp32 = await run(dirC, ['fit'], tinyNet, true);
    assert.notEqual(bf16.model.get('0.weight'), fp32.model.get('0.weight'), 'autocast changed the arithmetic');
    const last = loadCheckpoint(join(dirA, 'last.safetensors'));
    try {
      assert.equal(last.config.amp, 'bf16');
      assert.equal(last.config.device, 'cpu');
      for (const [name, t] of last.model) if (t.dtype !== 'int64') assert.equal(t.dtype, 'float32', `${name} is kept in float32`);
    } finally {
      last.dispose();
    }
    const metrics = (dir: string): Record<string, number>[] => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, number>);
    const [mixed, full32] = [metrics(dirA), metrics(dirC)];
    assert.ok(mixed.every((l) => !('ampSkippedSteps' in l)), 'bfloat16 needs no loss scaling');
    // The same run within bfloat16's rounding: validation loss within 5% of float32's.
    assert.ok(Math.abs(mixed[1]!.valLoss! - full32[1]!.valLoss!) < 0.05 * full32[1]!.valLoss!, `val loss ${mixed[1]!.valLoss} vs ${full32[1]!.valLoss}`);
  });
});

test("device 'cpu' given explicitly trains exactly what the default does; an unknown amp mode is refused", async () => {
  await withRunDirs(2, async ([dirA, dirB]) => {
    const implicit = await run(dirA, ['fit']);
    const explicit = await run(dirB, ['fit'], tinyNet, false, { device: 'cpu' });
    for (const part of ['model', 'ema', 'optim'] as const) assert.deepEqual(explicit[part], implicit[part], part);
  });
  const model = tinyNet();
  const { train, val } = loaders();
  try {
    assert.throws(() => new Trainer({ model, train, val, runDir: tmpdir(), recipe, amp: 'fp8' as 'fp16' }), /amp must be 'bf16', 'fp16' or null/);
  } finally {
    await train.close();
    await val.close();
  }
});
