/**
 * `effnet train --strides` and `--config`: the stage strides override the small-image rule and survive in the saved
 * model (checked through `effnet eval`, which must reproduce the run's validation loss, and through the exported
 * ONNX graph, whose stride-2 convolutions are counted: the stem's plus one per stride-2 stage); a configuration
 * written by `effnet scale --write` trains into a model with the file's width, depth, resolution and stages.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { decodeArchitecture, efficientNetB0Stages } from '../../src/efficientnet/block-spec.js';
import { loadModel } from '../../src/model-file/weights.js';
import { parseStrides } from '../../src/cli/options.js';
import { UserError } from '../../src/errors.js';
import { resolveRunCard } from '../../src/train/run.js';
import { stagesOfCard } from '../../src/card/resolve.js';
import { trainOptionsFrom } from '../../src/cli/commands/train.js';

const CLASSES = ['a', 'b', 'c'];
import { runCli, tinyTrainArgs, writeImageFolder } from './cli-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'effnet-model-options-'));
const data = join(dir, 'images');
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function strideTwoConvs(onnxPath: string): number {
  const model = onnxProto.onnx.ModelProto.decode(readFileSync(onnxPath));
  return model.graph!.node!.filter((n) => n.opType === 'Conv' && (n.attribute ?? []).some((a) => a.name === 'strides' && a.ints!.map(Number).every((s) => s === 2))).length;
}

test('parseStrides / the card resolver: strides replace the small-image rule; wrong counts and values are refused', () => {
  assert.deepEqual(parseStrides('1,1,1,2,1,2,1'), [1, 1, 1, 2, 1, 2, 1]);
  assert.throws(() => parseStrides('1,1,3,2,1,2,1'), (e: Error) => e instanceof UserError && /each 1 or 2.*'3'/.test(e.message));
  assert.throws(() => parseStrides('1,,2'), UserError);
  const strides = [1, 1, 1, 2, 1, 2, 1];
  const custom = { source: { kind: 'custom', width: 0.5, depth: 0.5 }, resolution: 32 } as const;
  const resolved = stagesOfCard(resolveRunCard({ ...custom, strides }, CLASSES));
  assert.deepEqual(resolved.map((s) => s.stride), strides);
  // Everything but the strides is B0's.
  assert.deepEqual(resolved.map(({ stride: _s, ...rest }) => rest), efficientNetB0Stages().map(({ stride: _s, ...rest }) => rest));
  assert.throws(() => resolveRunCard({ ...custom, strides: [1, 1, 2] }, CLASSES), /one value per stage: 7 values .*got 3/);
  // 2 x 2^7 = 256 > 64 pixels.
  assert.throws(() => resolveRunCard({ ...custom, resolution: 64, strides: [2, 2, 2, 2, 2, 2, 2] }, CLASSES), /smaller than the network's total stride 256/);
});

test('effnet train --strides: the saved model keeps them (eval reproduces the run, export has 1 + 2 stride-2 convs)', async () => {
  await writeImageFolder(data, 6);
  const run = join(dir, 'strided');
  const result = await runCli(tinyTrainArgs(data, run, 1, ['--strides', '1,1,1,2,1,2,1']));
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /total stride 8\)/);
  const loaded = loadModel(join(run, 'model.safetensors'));
  try {
    assert.equal(loaded.model.spec.totalStride, 8);
    assert.deepEqual(loaded.model.spec.stages.map((s) => s.base.stride), [1, 1, 1, 2, 1, 2, 1]);
  } finally {
    loaded.model.dispose();
  }
  const evaluated = await runCli(['eval', '--checkpoint', join(run, 'model.safetensors'), '--data', data, '--val-split', '0.25', '--json', '--workers', '0']);
  assert.equal(evaluated.code, 0, evaluated.stderr);
  const epoch = JSON.parse(readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim()) as { valLoss: number; valTop1: number };
  const json = JSON.parse(evaluated.stdout) as { loss: number; top1: number };
  assert.equal(json.top1, epoch.valTop1);
  assert.ok(Math.abs(json.loss - epoch.valLoss) < 1e-5, `eval loss ${json.loss} vs run ${epoch.valLoss}`);
  const onnx = join(dir, 'strided.onnx');
  const exported = await runCli(['export', '--checkpoint', join(run, 'model.safetensors'), '--out', onnx]);
  assert.equal(exported.code, 0, exported.stderr);
  assert.equal(strideTwoConvs(onnx), 1 + 2, 'the stem and the two stride-2 stages');

  // Without --strides the small-image rule at 32px: 1,1,2,2,1,2,1, i.e. 1 + 3 stride-2 convs.
  const plain = join(dir, 'plain');
  assert.equal((await runCli(tinyTrainArgs(data, plain, 1))).code, 0);
  const plainOnnx = join(dir, 'plain.onnx');
  assert.equal((await runCli(['export', '--checkpoint', join(plain, 'model.safetensors'), '--out', plainOnnx])).code, 0);
  assert.equal(strideTwoConvs(plainOnnx), 1 + 3);
});

test('effnet train --strides with a wrong count or value exits 2 with the reason', async () => {
  for (const [strides, message] of [['1,1,2', /7 values/], ['1,1,1,2,1,3,1', /each 1 or 2/]] as const) {
    const result = await runCli(tinyTrainArgs(data, join(dir, 'never'), 1, ['--strides', strides]));
    assert.equal(result.code, 2);
    assert.match(result.stderr, message);
  }
});

test('effnet scale --write -> effnet train --config: the trained model has the file\'s configuration', async () => {
  const config = join(dir, 'scaled.json');
  const scaled = await runCli(['scale', '--base', 'width=0.1,depth=0.1,resolution=32,stages=small', '--phi', '1', '--write', config]);
  assert.equal(scaled.code, 0, scaled.stderr);
  const file = JSON.parse(readFileSync(config, 'utf8')) as { width: number; depth: number; resolution: number; dropout: number; stages: string[] };
  // Compound scaling at phi 1 with the paper's alpha 1.2, beta 1.1, gamma 1.15.
  assert.ok(Math.abs(file.width - 0.1 * 1.1) < 1e-12 && Math.abs(file.depth - 0.1 * 1.2) < 1e-12);
  assert.equal(file.resolution, Math.round(32 * 1.15));
  const run = join(dir, 'from-config');
  const result = await runCli([
    'train', '--config', config, '--data', data, '--val-split', '0.25', '--epochs', '1', '--batch-size', '4', '--workers', '0', '--threads', '1', '--lr', '0.01', '--out', run,
  ]);
  assert.equal(result.code, 0, result.stderr);
  const loaded = loadModel(join(run, 'model.safetensors'));
  try {
    const { config: built } = loaded.model;
    assert.deepEqual([built.width, built.depth, built.resolution, built.dropout], [file.width, file.depth, file.resolution, file.dropout]);
    assert.deepEqual(loaded.model.spec.stages.map((s) => s.base), decodeArchitecture(file.stages));
  } finally {
    loaded.model.dispose();
  }
  const refused = await runCli(['train', '--config', config, '--model', 'b0', '--data', data, '--out', join(dir, 'never')]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /--config .* describes a custom model; drop --model b0/);
});

test('--config: explicit flags override the file (width, image size, strides)', () => {
  const config = join(dir, 'scaled.json');
  const file = JSON.parse(readFileSync(config, 'utf8')) as { width: number; depth: number; stages: string[] };
  const options = trainOptionsFrom({ config, data: data, out: join(dir, 'x'), width: '0.3', 'image-size': '48', strides: '1,1,1,2,1,2,1' } as Parameters<typeof trainOptionsFrom>[0]);
  const resolved = resolveRunCard(options.model, CLASSES);
  assert.equal(resolved.architecture.width, 0.3);
  assert.equal(resolved.architecture.depth, file.depth);
  assert.equal(resolved.architecture.resolution, 48);
  assert.deepEqual(stagesOfCard(resolved), decodeArchitecture(file.stages).map((s, i) => ({ ...s, stride: [1, 1, 1, 2, 1, 2, 1][i]! })));
});
