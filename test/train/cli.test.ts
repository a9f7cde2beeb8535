import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../../src/model-file/weights.js';
import { loadCheckpoint } from '../../src/model-file/checkpoint.js';
import { resolveData } from '../../src/data/spec.js';
import { parseFreeze } from '../../src/train/run.js';
import { configOfCard, resolveModelCard, stagesOfCard } from '../../src/card/resolve.js';
import { smallImageStages } from '../../src/card/small-images.js';
import { efficientNetB0Stages } from '../../src/efficientnet/block-spec.js';
import { CLASSES, runCli, tinyTrainArgs, writeImageFolder } from './cli-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'effnet-cli-'));
const data = join(dir, 'images');
const run = join(dir, 'run');
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function metricsLines(runDir: string): Record<string, number | null>[] {
  return readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, number | null>);
}

test('effnet train (1 epoch, tiny folder) writes metrics, checkpoints, the final model and a summary', async () => {
  await writeImageFolder(data, 8);
  const result = await runCli(tinyTrainArgs(data, run, 1));
  assert.equal(result.code, 0, result.stderr);
  for (const file of ['metrics.jsonl', 'metrics.csv', 'last.safetensors', 'best.safetensors', 'model.safetensors', 'model_ema.safetensors', 'summary.json']) {
    assert.ok(existsSync(join(run, file)), `${file} missing`);
  }
  const lines = metricsLines(run);
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.epoch, 1);
  const csv = readFileSync(join(run, 'metrics.csv'), 'utf8').trim().split('\n');
  assert.equal(csv.length, 2);
  assert.deepEqual(csv[0]!.split(','), Object.keys(lines[0]!));
  assert.match(result.stdout, /summary after 1 epoch/);
  assert.match(result.stdout, /best top-1 .* last top-1/);
  assert.match(result.stderr, /epoch 1\/1 .*loss .*acc .*img\/s/);
  // One line per epoch on stdout, as timm's train.py prints: the validation loss, top-1 and top-5 of the raw and
  // EMA weights and the epoch's time, with the figures metrics.jsonl recorded.
  const epoch = lines[0]! as unknown as { valLoss: number; valTop1: number; valTop5: number; emaTop1: number; emaTop5: number };
  const percent = (v: number): string => `${(v * 100).toFixed(2)}%`.replace('.', '\\.');
  assert.match(
    result.stdout,
    new RegExp(`^epoch 1/1 \\| train loss [\\d.]+ top-1 [\\d.]+% \\| val loss ${epoch.valLoss.toFixed(4)} top-1 ${percent(epoch.valTop1)} top-5 ${percent(epoch.valTop5)} \\| EMA loss [\\d.]+ top-1 ${percent(epoch.emaTop1)} top-5 ${percent(epoch.emaTop5)} \\| lr \\S+ \\| [\\d.]+ s \\(\\d+ img/s\\)$`, 'm'),
  );
  const loaded = loadModel(join(run, 'model.safetensors'));
  try {
    assert.deepEqual(loaded.classNames, [...CLASSES]);
    assert.equal(loaded.model.config.resolution, 32);
    assert.equal(loaded.model.spec.totalStride, 16, 'the small-image recipe keeps a 2x2 last feature map at 32px');
  } finally {
    loaded.model.dispose();
  }
  const summary = JSON.parse(readFileSync(join(run, 'summary.json'), 'utf8')) as { epochs: number; lastRaw: { top1: number } };
  assert.equal(summary.epochs, 1);
  assert.equal(summary.lastRaw.top1, lines[0]!.valTop1);
});

test('effnet eval --json prints exactly checkpoint/top1/top5/loss/images/skipped, matching the run\'s own validation', async () => {
  const model = join(run, 'model.safetensors');
  const result = await runCli(['eval', '--checkpoint', model, '--data', data, '--val-split', '0.25', '--json', '--batch-size', '5', '--workers', '0']);
  assert.equal(result.code, 0, result.stderr);
  const json = JSON.parse(result.stdout) as Record<string, unknown>;
  assert.deepEqual(Object.keys(json).sort(), ['checkpoint', 'images', 'loss', 'skipped', 'top1', 'top5']);
  assert.equal(json.checkpoint, model);
  assert.equal(json.images, 3 * 2, 'the seeded hold-out of 0.25 keeps 2 of 8 images per class');
  const [epoch] = metricsLines(run);
  // The final model holds the raw weights the trainer validated after epoch 1, on the same hold-out.
  assert.equal(json.top1, epoch!.valTop1);
  assert.equal(json.top5, epoch!.valTop5);
  assert.equal(json.skipped, 0);
  assert.ok(Math.abs((json.loss as number) - epoch!.valLoss!) < 1e-5, `loss ${String(json.loss)} vs ${epoch!.valLoss}`);
  const ema = await runCli(['eval', '--checkpoint', join(run, 'last.safetensors'), '--ema', '--data', data, '--val-split', '0.25', '--json', '--workers', '0']);
  assert.equal(ema.code, 0, ema.stderr);
  const emaJson = JSON.parse(ema.stdout) as Record<string, number>;
  assert.equal(emaJson.top1, epoch!.emaTop1);
  assert.ok(Math.abs(emaJson.loss! - epoch!.emaLoss!) < 1e-5);
});

test('effnet train --resume after a finished 1-epoch run with --epochs 2 trains epoch 2 only', async () => {
  const result = await runCli(tinyTrainArgs(data, run, 2, ['--resume']));
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /resuming .*after epoch 1/);
  assert.doesNotMatch(result.stderr, /epoch 1\/2/);
  assert.match(result.stderr, /epoch 2\/2/);
  assert.deepEqual(metricsLines(run).map((m) => m.epoch), [1, 2]);
  const checkpoint = loadCheckpoint(join(run, 'last.safetensors'));
  try {
    assert.equal(checkpoint.progress.epoch, 2);
    assert.equal(checkpoint.progress.step, 2 * 4, '18 training images in batches of 4, last partial batch dropped: 4 steps an epoch');
  } finally {
    checkpoint.dispose();
  }
  const again = await runCli(tinyTrainArgs(data, run, 2));
  assert.equal(again.code, 2, 'a second run into the same directory without --resume is refused');
  assert.match(again.stderr, /already holds a run.*--resume/);
});

test('bad flags and inputs exit with code 2 and say what was wrong', async () => {
  const out = join(dir, 'bad');
  const cases: [string[], RegExp][] = [
    [tinyTrainArgs(data, out, 1, ['--bogus']), /Unknown option '--bogus'/],
    [['train', '--data', data, '--out', out, '--epochs', '0'], /--epochs must be an integer >= 1/],
    [['train', '--model', 'b99', '--data', data, '--out', out], /unknown EfficientNet variant 'b99'/],
    [['train', '--model', 'custom', '--width', '0.5', '--data', data, '--out', out], /--model custom needs --width and --depth/],
    [['train', '--data', join(dir, 'missing'), '--out', out, '--image-size', '32'], /does not exist/],
    [['train', '--data', data, '--out', out, '--image-size', '7'], /image size must be an integer >= 8/],
    [['train', '--data', data, '--out', out, '--image-size', '16', '--strides', '1,2,2,2,1,2,1'], /image size 16 is smaller than the network's total stride 32/],
    [['train', '--data', data, '--out', out, '--optimizer', 'adam'], /--optimizer must be one of rmsproptf, sgd, adamw/],
    [['train', '--data', data, '--out', out, '--randaugment', 'two'], /--randaugment takes N,M/],
    [['train', '--data', data, '--out', out, '--crop-scale', '0.5'], /--crop-scale takes LO,HI/],
    [['train', '--data', data, '--out', out, '--ema-buffers', 'mean'], /--ema-buffers must be one of copy, average/],
    [['train', '--data', data, '--out', out, '--no-ema', '--ema-buffers', 'average'], /--no-ema and --ema-buffers exclude each other/],
    [['train', '--data', data, '--out', out, '--device', 'cuda'], /--device cuda: CUDA is not available here: the linked libtorch is a CPU build/],
    [['train', '--data', data, '--out', out, '--device', 'gpu0'], /unknown device 'gpu0'; use auto, cpu, cuda or cuda:N/],
    [['train', '--data', data, '--out', out, '--amp', 'fp16'], /--amp fp16 needs a CUDA device .*use --amp bf16 on the CPU/],
    [['train', '--data', data, '--out', out, '--amp', 'fp8'], /--amp must be one of bf16, fp16/],
    [['eval', '--checkpoint', join(run, 'model.safetensors'), '--data', data, '--device', 'cuda:1'], /CUDA is not available here/],
    [['train', '--out', out], /--data is required/],
    [['eval', '--data', data], /--checkpoint is required/],
    [['eval', '--checkpoint', join(dir, 'nope.safetensors'), '--data', data], /does not exist/],
    [['eval', '--checkpoint', join(run, 'model.safetensors'), '--data', data, '--ema'], /--ema needs a training checkpoint/],
  ];
  for (const [args, message] of cases) {
    const result = await runCli(args);
    assert.equal(result.code, 2, `${args.join(' ')}: exit ${result.code}\n${result.stderr}`);
    assert.match(result.stderr, message, args.join(' '));
  }
  assert.ok(!existsSync(join(out, 'last.safetensors')));
});

test('the small-image stages: the earliest stride-2 stages go to stride 1 until the last map is >= 2px', () => {
  const strides = (size: number): number[] => smallImageStages(size).map((s) => s.stride);
  assert.deepEqual(efficientNetB0Stages().map((s) => s.stride), [1, 2, 2, 2, 1, 2, 1]);
  assert.deepEqual(strides(32), [1, 1, 2, 2, 1, 2, 1]); // 2 * 8 = 16 → 2x2
  assert.deepEqual(strides(48), [1, 1, 2, 2, 1, 2, 1]); // 48 / 32 = 1.5 < 2 → 16 → 3x3
  assert.deepEqual(strides(64), [1, 2, 2, 2, 1, 2, 1]); // 64 / 32 = 2: B0 as it is
  const card = resolveModelCard({ source: { kind: 'custom', width: 0.5, depth: 0.5 }, resolution: 32, classes: 10 });
  assert.equal(card.architecture.resolution, 32);
  assert.deepEqual(stagesOfCard(card).map((s) => s.stride), [1, 1, 2, 2, 1, 2, 1]);
  assert.deepEqual(configOfCard(resolveModelCard({ source: { kind: 'variant', name: 'b1' }, resolution: 240, classes: 10 })), { name: 'b1', width: 1, depth: 1.1, resolution: 240, dropout: 0.2, phi: null });
  assert.throws(() => resolveModelCard({ source: { kind: 'variant', name: 'b0' }, resolution: 7, classes: 10 }), /image size must be an integer >= 8/);
  // Below 32 px the small-image rule takes more strides out: 16 px keeps a 2x2 last map at total stride 8.
  const at16 = resolveModelCard({ source: { kind: 'custom', width: 0.5, depth: 0.5 }, resolution: 16, classes: 10 });
  assert.deepEqual(stagesOfCard(at16).map((s) => s.stride), [1, 1, 1, 2, 1, 2, 1]);
  assert.deepEqual(parseFreeze('0-2,5'), ['features.0.', 'features.1.', 'features.2.', 'features.5.']);
  assert.throws(() => parseFreeze('stem'), /feature indices or ranges/);
});

test('data specs: the seeded hold-out is stratified and reproducible; train/ + val/ folders are used as they are', async () => {
  if (!existsSync(data)) await writeImageFolder(data, 8);
  const a = resolveData(data, { valSplit: 0.25 });
  const b = resolveData(data, { valSplit: 0.25 });
  assert.equal(a.kind, 'folder');
  assert.equal(a.train.length + a.val.length, 24);
  assert.deepEqual([...Array(a.val.length).keys()].map((i) => a.val.describe(i)), [...Array(b.val.length).keys()].map((i) => b.val.describe(i)));
  assert.deepEqual([0, 1, 2].map((c) => [...Array(a.val.length).keys()].filter((i) => a.val.label(i) === c).length), [2, 2, 2]);
  const split = join(dir, 'split');
  await writeImageFolder(join(split, 'train'), 3);
  await writeImageFolder(join(split, 'val'), 2);
  const s = resolveData(split);
  assert.equal(s.train.length, 9);
  assert.equal(s.val.length, 6);
  assert.deepEqual(s.classes, [...CLASSES]);
  assert.throws(() => resolveData(join(dir, 'none')), /does not exist/);
  assert.throws(() => resolveData(data, { valSplit: 1.5 }), /--val-split must be a fraction/);
});
