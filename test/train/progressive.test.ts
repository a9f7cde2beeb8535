/**
 * Progressive learning: the stage, size and regularization schedules against hand-computed values; the Beta
 * sampler of mixup against the distribution's moments; the loader's per-stage transforms (same batches with and
 * without worker threads); a cache=memory data set decoded once across stages; a run interrupted in the middle of a
 * stage and resumed with only --resume --out DIR equals the uninterrupted run bit for bit; the card's eval size (not
 * the last training size) is what validation, export and predict use, checked through the files; data-parallel
 * ranks train the same stages (two ranks end at the one-process model); bad schedules exit 2; EfficientNetV2's
 * presets (v2-s/m/l) against hand-computed stage values and the flag defaults they fill.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { allStages, checkProgressive, completeSchedule, parseProgressive, stageOfEpoch, stageSettings, stageValue, ProgressiveError } from '../../src/train/progressive.js';
import { mixupPlan, sampleBeta, sampleGamma } from '../../src/train/mixup.js';
import { trainOptionsFrom } from '../../src/cli/commands/train.js';
import { UsageError } from '../../src/errors.js';
import { Rng } from '../../src/data/rng.js';
import { DataLoader } from '../../src/data/loader.js';
import { openData } from '../../src/data/spec.js';
import { EncodedImageDataset } from '../../src/data/encoded-dataset.js';
import { resolveModelCard } from '../../src/card/resolve.js';
import { buildRun } from '../../src/train/run-builder.js';
import { Trainer } from '../../src/train/trainer.js';
import { decodeSafetensors } from '../../src/io/safetensors.js';
import { MODEL_CARD_KEY } from '../../src/card/model-card.js';
import { finished, runCli, startCli, tinyTrainArgs, writeImageFolder } from './cli-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'effnet-progressive-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const images = join(dir, 'images');
const imagesReady = writeImageFolder(images, 12);

test('stages, sizes and regularization follow EfficientNetV2: equal stages, linear in the stage index', () => {
  // 10 epochs in 4 stages: floor(e * 4 / 10).
  assert.deepEqual(Array.from({ length: 10 }, (_, e) => stageOfEpoch(e, 10, 4)), [0, 0, 0, 1, 1, 2, 2, 2, 3, 3]);
  assert.deepEqual(Array.from({ length: 12 }, (_, e) => stageOfEpoch(e, 10, 4)).slice(10), [3, 3], 'an extended run stays in the last stage');
  assert.equal(stageValue([32, 48], 0, 4), 32);
  assert.equal(stageValue([32, 48], 3, 4), 48);
  assert.ok(Math.abs(stageValue([0, 0.2], 1, 4) - 0.2 / 3) < 1e-15);
  assert.equal(stageValue([32, 48], 0, 1), 48, 'one stage: the final values throughout');
  const schedule = completeSchedule(parseProgressive('stages=4,size=32,dropout=0,drop-path=0.05,magnitude=2'), { size: 48, dropout: 0.3, dropPath: 0.2, magnitude: 11, mixup: 0.4 });
  const stages = allStages(schedule);
  assert.deepEqual(stages.map((s) => s.size), [32, 37, 43, 48]); // 32 + 16·i/3 = 32, 37.33, 42.67, 48
  assert.deepEqual(stages.map((s) => Number(s.dropout!.toFixed(10))), [0, 0.1, 0.2, 0.3]);
  assert.deepEqual(stages.map((s) => Number(s.dropPath!.toFixed(10))), [0.05, 0.1, 0.15, 0.2]);
  assert.deepEqual(stages.map((s) => s.magnitude), [2, 5, 8, 11]);
  assert.deepEqual(stages.map((s) => s.mixup), [0, 0, 0, 0], 'mixup not given a start value: the final one (none given to complete either)');
  assert.equal(stageSettings(completeSchedule({ stages: 2, size: 32, mixup: 0 }, { size: 48, dropout: 0.2, dropPath: 0.2, magnitude: null, mixup: 0.4 }), 1).mixup, 0.4);
});

test("EfficientNetV2's presets: 4 stages from 128/300 or 128/384 of the final size, magnitude from 5, mixup from 0; their finals become flag defaults", () => {
  const m = allStages(completeSchedule(parseProgressive('v2-m'), { size: 384, dropout: 0.3, dropPath: 0.2, magnitude: 15, mixup: 0.2 }));
  assert.deepEqual(m.map((s) => s.size), [128, 213, 299, 384]); // 128 + 256·i/3 = 128, 213.33, 298.67, 384
  assert.deepEqual(m.map((s) => Number(s.magnitude!.toFixed(10))), [5, 8.3333333333, 11.6666666667, 15]);
  assert.deepEqual(m.map((s) => Number(s.mixup.toFixed(10))), [0, 0.0666666667, 0.1333333333, 0.2]);
  assert.deepEqual(m.map((s) => s.dropout), [null, null, null, null], 'dropout is not scheduled (the released code keeps it fixed)');
  const s = allStages(completeSchedule(parseProgressive('v2-s'), { size: 300, dropout: 0.2, dropPath: 0.2, magnitude: 10, mixup: 0 }));
  assert.deepEqual(s.map((st) => st.size), [128, 185, 243, 300]); // 128 + 172·i/3
  assert.deepEqual(s.map((st) => st.mixup), [0, 0, 0, 0]);
  // At a small final size the start is the same fraction: 64 · 128/384 = 21.33 -> 21.
  assert.equal(allStages(completeSchedule(parseProgressive('v2-l'), { size: 64, dropout: 0.4, dropPath: 0, magnitude: 20, mixup: 0.5 }))[0]!.size, 21);

  const base = { data: 'fashion-mnist', out: '/tmp/x', model: 'v2-s' };
  const l = trainOptionsFrom({ ...base, progressive: 'v2-l' } as Parameters<typeof trainOptionsFrom>[0]);
  assert.deepEqual(l.augment, { kind: 'randaugment', n: 2, m: 20 });
  assert.equal(l.recipe.mixup, 0.5);
  assert.equal(l.model?.dropout, 0.4);
  assert.deepEqual(l.progressive, { stages: 4, sizeFraction: 128 / 384, magnitude: 5, mixup: 0 });
  const given = trainOptionsFrom({ ...base, progressive: 'v2-s', randaugment: '2,9', dropout: '0.1', mixup: '0.1' } as Parameters<typeof trainOptionsFrom>[0]);
  assert.deepEqual([given.augment, given.recipe.mixup, given.model?.dropout], [{ kind: 'randaugment', n: 2, m: 9 }, 0.1, 0.1], 'flags given win over the preset');
  assert.throws(() => trainOptionsFrom({ ...base, progressive: 'v2-s', autoaugment: true } as Parameters<typeof trainOptionsFrom>[0]), (e: unknown) => e instanceof UsageError && /drop --autoaugment/.test(e.message));
  assert.throws(() => parseProgressive('v2-xl'), (e: unknown) => e instanceof ProgressiveError && /v2-s, v2-m, v2-l/.test(e.message));
});

test('bad schedules are refused with the reason', () => {
  const run = (text: string, epochs = 10, stride = 16): void => checkProgressive(completeSchedule(parseProgressive(text), { size: 48, dropout: 0.2, dropPath: 0.2, magnitude: null, mixup: 0 }), epochs, stride);
  assert.throws(() => run('stages=4,size=64'), (e: Error) => e instanceof ProgressiveError && /start size 64 is larger than the final size 48/.test(e.message));
  assert.throws(() => run('stages=0,size=32'), /a whole number of stages >= 1, got 0/);
  assert.throws(() => run('stages=12,size=32'), /12 progressive stages do not fit in 10 epochs/);
  assert.throws(() => run('stages=4,size=8'), /start size must be a whole number of pixels >= the network's total stride 16, got 8/);
  assert.throws(() => run('stages=4,size=32,dropout=1.5'), /dropout values must be in \[0, 1\)/);
  assert.throws(() => parseProgressive('stages=4'), /needs stages=S and size=PIXELS/);
  assert.throws(() => parseProgressive('stages=4,size=32,speed=2'), /got 'speed=2'/);
  assert.throws(() => completeSchedule(parseProgressive('stages=2,size=32,magnitude=3'), { size: 48, dropout: 0, dropPath: 0, magnitude: null, mixup: 0 }), /add --randaugment/);
});

test('mixup: Beta(α, α) has the distribution\'s mean and variance; plans are seeded per step', () => {
  for (const alpha of [0.2, 1, 2.5]) {
    const rng = new Rng(5);
    const n = 40000;
    const samples = Array.from({ length: n }, () => sampleBeta(alpha, rng));
    const mean = samples.reduce((a, b) => a + b, 0) / n;
    const variance = samples.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
    // Beta(α, α): mean 1/2, variance 1 / (4 (2α + 1)).
    assert.ok(Math.abs(mean - 0.5) < 0.01, `α ${alpha}: mean ${mean}`);
    assert.ok(Math.abs(variance - 1 / (4 * (2 * alpha + 1))) < 0.01, `α ${alpha}: variance ${variance}`);
    assert.ok(samples.every((s) => s >= 0 && s <= 1));
  }
  const gammas = Array.from({ length: 40000 }, ((rng) => () => sampleGamma(0.5, rng))(new Rng(9)));
  assert.ok(Math.abs(gammas.reduce((a, b) => a + b, 0) / gammas.length - 0.5) < 0.02, 'Gamma(k) has mean k');
  assert.equal(mixupPlan(0, 8, 1, 3), null);
  const a = mixupPlan(0.4, 8, 1, 3)!;
  assert.deepEqual(mixupPlan(0.4, 8, 1, 3), a, 'the same step draws the same plan');
  assert.notDeepEqual(mixupPlan(0.4, 8, 1, 4), a);
  assert.deepEqual([...a.permutation].sort(), [0, 1, 2, 3, 4, 5, 6, 7]);
});

test('the loader trains each stage at its size, the same batches with and without worker threads; cache=memory decodes once', async () => {
  await imagesReady;
  let decodes = 0;
  const original = EncodedImageDataset.prototype.read;
  EncodedImageDataset.prototype.read = function (this: EncodedImageDataset, index: number) {
    decodes += 1;
    return original.call(this, index);
  };
  try {
    const data = await openData(`${images},cache=memory`, { valSplit: 0.25 });
    const total = data.train.length + data.val.length;
    assert.equal(decodes, total, 'cache=memory decodes every image once');
    const card = resolveModelCard({ source: { kind: 'custom', width: 0.1, depth: 0.1 }, resolution: 48, classes: data.classes });
    const schedule = completeSchedule({ stages: 3, size: 32 }, { size: 48, dropout: 0.2, dropPath: 0.2, magnitude: null, mixup: 0 });
    const shapes: Map<number, number[]>[] = [];
    const firstBatches: Float32Array[][] = [];
    for (const workers of [0, 2]) {
      const run = buildRun({ card, data, batchSize: 6, seed: 4, workers, progressive: { schedule, epochs: 6 } });
      const seen = new Map<number, number[]>();
      const first: Float32Array[] = [];
      for (let epoch = 0; epoch < 6; epoch++) {
        for await (const batch of run.train.epoch(epoch)) {
          seen.set(epoch, batch.shape);
          if (batch.index === 0) first.push(batch.images);
        }
      }
      shapes.push(seen);
      firstBatches.push(first);
      // Training through all three stages reads the cached pixels only.
      const trainer = new Trainer({ model: run.model, train: run.train, val: run.val, runDir: join(dir, `cached-${workers}`), recipe: { epochs: 6, lr: 0.01, optimizer: 'sgd', progressive: schedule }, card });
      await trainer.fit();
      trainer.dispose();
      run.model.dispose();
      await run.close();
    }
    firstBatches[1]!.forEach((batch, epoch) => assert.deepEqual(batch, firstBatches[0]![epoch], `epoch ${epoch}: worker threads changed the batch`));
    assert.deepEqual([...shapes[0]!.entries()].map(([e, s]) => [e, s[2]]), [[0, 32], [1, 32], [2, 40], [3, 40], [4, 48], [5, 48]]);
    assert.deepEqual(shapes[1], shapes[0]);
    assert.equal(decodes, total, 'no stage decoded an image again (training and evaluation read the cached pixels)');
  } finally {
    EncodedImageDataset.prototype.read = original;
  }
});

const PROGRESSIVE = ['--image-size', '48', '--progressive', 'stages=3,size=32,dropout=0,drop-path=0,mixup=0', '--dropout', '0.2', '--drop-path', '0.1', '--mixup', '0.3', '--eval-size', '56', '--seed', '2'];

function tensors(path: string): Map<string, number[]> {
  const decoded = decodeSafetensors(readFileSync(path), path);
  return new Map([...decoded.tensors].map(([name, t]) => [name, Array.from(t.data as Float32Array, Number)]));
}

test('a run interrupted mid-stage and resumed with only --resume --out DIR equals the uninterrupted run, bit for bit; the card evaluates at --eval-size', async () => {
  await imagesReady;
  const straight = join(dir, 'straight');
  // tinyTrainArgs says --image-size 32; the later --image-size 48 of PROGRESSIVE wins (parseArgs keeps the last).
  const whole = await runCli(tinyTrainArgs(images, straight, 6, PROGRESSIVE));
  assert.equal(whole.code, 0, whole.stderr);
  assert.match(whole.stdout, /progressive learning: 32px dropout 0\.000 drop-path 0\.000 -> 40px dropout 0\.100 drop-path 0\.050 mixup 0\.15 -> 48px dropout 0\.200 drop-path 0\.100 mixup 0\.30 over 3 stages of 6 epochs; evaluation at 56px/);

  const resumed = join(dir, 'resumed');
  const child = startCli(tinyTrainArgs(images, resumed, 6, PROGRESSIVE));
  const done = finished(child);
  await new Promise<void>((resolve, reject) => {
    let text = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      // Epoch 4 is the second epoch of stage 1 (40px): interrupt in the middle of the stage.
      if (/epoch 4\/6 .*loss/.test(text)) resolve();
    });
    child.on('close', () => reject(new Error(`ended before epoch 4:\n${text}`)));
  });
  child.kill('SIGINT');
  assert.equal((await done).code, 130);
  const continued = await runCli(['train', '--resume', '--out', resumed, '--workers', '0', '--threads', '1']);
  assert.equal(continued.code, 0, continued.stderr);
  const [a, b] = [tensors(join(straight, 'model.safetensors')), tensors(join(resumed, 'model.safetensors'))];
  for (const [name, values] of a) assert.deepEqual(b.get(name), values, `${name} differs after the mid-stage resume`);

  // The card of the files: trained at 48px, evaluated at 56px; the export's graph takes 56px; predict uses it.
  const card = JSON.parse(decodeSafetensors(readFileSync(join(resumed, 'model.safetensors'))).metadata[MODEL_CARD_KEY]!) as { architecture: { resolution: number }; eval: { size: number } };
  assert.deepEqual([card.architecture.resolution, card.eval.size], [48, 56]);
  const onnx = join(dir, 'model.onnx');
  assert.equal((await runCli(['export', '--checkpoint', resumed, '--out', onnx])).code, 0);
  const input = onnxProto.onnx.ModelProto.decode(readFileSync(onnx)).graph!.input![0]!.type!.tensorType!.shape!.dim!.map((d) => Number(d.dimValue ?? -1));
  assert.deepEqual(input.slice(1), [3, 56, 56]);
  const predicted = await runCli(['predict', onnx, join(images, 'red', '0.png'), '--json']);
  assert.equal(predicted.code, 0, predicted.stderr);
  const evaluated = await runCli(['eval', '--checkpoint', resumed, '--json', '--workers', '0']);
  assert.equal(evaluated.code, 0, evaluated.stderr);
  const metrics = readFileSync(join(resumed, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { valTop1: number; valLoss: number });
  assert.equal((JSON.parse(evaluated.stdout) as { top1: number }).top1, metrics[metrics.length - 1]!.valTop1, 'eval at the card size scores what validation scored');
});

test('progressive flags that cannot work exit 2 with the reason', async () => {
  await imagesReady;
  const cases: [string[], RegExp][] = [
    [['--image-size', '48', '--progressive', 'stages=3,size=64'], /start size 64 is larger than the final size 48/],
    [['--image-size', '48', '--progressive', 'stages=0,size=32'], /a whole number of stages >= 1, got 0/],
    [['--eval-size', '4'], /--eval-size must be an integer >= 8, got '4'/],
    [['--image-size', '48', '--eval-size', '12'], /eval size 12, smaller than the network's total stride 16/],
    [['--image-size', '48', '--progressive', 'stages=2,size=32,magnitude=3'], /add --randaugment/],
  ];
  for (const [extra, message] of cases) {
    const result = await runCli(tinyTrainArgs(images, join(dir, 'never'), 4, extra));
    assert.equal(result.code, 2, `${extra.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, message);
  }
});
