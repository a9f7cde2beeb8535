/**
 * `effnet export --features`: a backbone ONNX file from a model file, one output per level with the shapes the
 * network's featureInfo gives (read back by onnxruntime-node), that `effnet predict` refuses with a clear message;
 * bad level lists exit 2.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { createEfficientNet, customConfig } from '../../src/efficientnet/index.js';
import { saveModel } from '../../src/model-file/weights.js';
import { readOnnxMetadata } from '../../src/infer/model-info.js';
import { runCli, writeImageFolder } from '../train/cli-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'effnet-backbone-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('effnet export --features 1,2,3,4 writes a backbone that onnxruntime reads; predict refuses it; bad levels exit 2', async () => {
  const model = createEfficientNet(customConfig({ width: 0.25, depth: 0.3, resolution: 64 }), { numClasses: 3 });
  const file = join(dir, 'model.safetensors');
  const info = model.featureInfo();
  try {
    saveModel(file, model);
  } finally {
    model.dispose();
  }
  const onnx = join(dir, 'backbone.onnx');
  const exported = await runCli(['export', '--checkpoint', file, '--out', onnx, '--features', '1,2,3,4']);
  assert.equal(exported.code, 0, exported.stderr);
  assert.match(exported.stdout, /backbone .* feature_1 \[\d+x16x16, \/4\], feature_2 \[\d+x8x8, \/8\], feature_3 \[\d+x4x4, \/16\], feature_4 \[\d+x2x2, \/32\]/);
  const bytes = readFileSync(onnx);
  const levels = JSON.parse(readOnnxMetadata(bytes).get('effnet.features')!) as { output: string; channels: number }[];
  assert.deepEqual(levels.map((l) => l.channels), info.slice(1).map((l) => l.channels));
  const session = await ort.InferenceSession.create(bytes);
  try {
    assert.deepEqual([...session.outputNames], ['feature_1', 'feature_2', 'feature_3', 'feature_4']);
    const result = await session.run({ input: new ort.Tensor('float32', new Float32Array(3 * 64 * 64), [1, 3, 64, 64]) });
    info.slice(1).forEach((level, i) => assert.deepEqual(result[`feature_${i + 1}`]!.dims, [1, level.channels, 64 / level.reduction, 64 / level.reduction]));
  } finally {
    await session.release();
  }

  const images = join(dir, 'images');
  await writeImageFolder(images, 1);
  const refused = await runCli(['predict', onnx, join(images, 'red', '0.png')]);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /is a backbone \(exported with --features/);
  for (const [levels, message] of [['x', /comma-separated level numbers/], ['5', /feature level 5 does not exist: this network has levels 0..4/], ['3,1', /ascending without repeats/]] as const) {
    const bad = await runCli(['export', '--checkpoint', file, '--out', join(dir, 'bad.onnx'), '--features', levels]);
    assert.equal(bad.code, 2, `--features ${levels}: ${bad.stderr}`);
    assert.match(bad.stderr, message);
  }
});
