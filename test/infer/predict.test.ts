/**
 * Inference end to end in Node:
 * - round trip: a tiny model trained a few steps → saved → exported → classified by onnxruntime-node: the same
 *   top-1 and probabilities (1e-4) as our libtorch eval forward on the same preprocessed pixels; MODEL given as the
 *   weights file gives the same result as the .onnx;
 * - the warm session gives identical results on reuse, and chunked batches (maxBatch 2) equal one batch;
 * - `effnet predict --json` over good and bad files (not an image, empty, truncated JPEG, 16-bit PNG, CMYK JPEG,
 *   1x1, missing path): a clear error for each unreadable file, the others classified (16-bit PNG as its 8-bit
 *   twin, CMYK converted, 1x1 with a warning), exit code 2 (bad input files); the human table;
 * - softmax / top-k against the formula; models that are not effnet ONNX files are refused clearly.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { Rng } from '../../src/data/rng.js';
import { loadModel } from '../../src/model-file/weights.js';
import { writeOnnx, OnnxGraphBuilder } from '../../src/export/index.js';
import { modelBytes } from '../../src/export/model-file.js';
import { classifyFiles, loadImageFile, openClassifier, ImageClassifier, nodeRuntime, softmax, topK, type ImageResult } from '../../src/infer/index.js';
import { noGrad, tensor, tidy } from '../../src/torch/index.js';
import { colourImage, COLOURS, trainTinyModel, writePng, type TinyModel } from './tiny-model.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
let dir = '';
let tiny: TinyModel;
let onnxPath = '';
const images: { path: string; label: number }[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'effnet-infer-'));
  tiny = trainTinyModel(dir);
  onnxPath = join(dir, 'tiny.onnx');
  const { model, card } = loadModel(tiny.modelPath);
  writeOnnx(onnxPath, model, { card });
  model.dispose();
  const rng = new Rng(5);
  for (let i = 0; i < 6; i++) {
    const path = join(dir, `colour-${i}.png`);
    await writePng(path, colourImage(i % 3, 37 + 9 * i, 61 - 4 * i, rng));
    images.push({ path, label: i % 3 });
  }
});

after(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

/** Our libtorch eval probabilities for image files, preprocessed exactly as the classifier does. */
async function libtorchProbabilities(paths: readonly string[], classifier: ImageClassifier): Promise<Float64Array[]> {
  const decoded = await Promise.all(paths.map((p) => loadImageFile(p)));
  const input = classifier.preprocessor.batch(decoded);
  const { model } = loadModel(tiny.modelPath);
  try {
    const logits = tidy(() => noGrad(() => model.forward(tensor(input, [paths.length, 3, tiny.size, tiny.size]))).toFloat32Array());
    return paths.map((_, i) => softmax(logits, i * 3, 3));
  } finally {
    model.dispose();
  }
}

function okResults(results: ImageResult[]): Extract<ImageResult, { ok: true }>[] {
  return results.map((r) => {
    assert.ok(r.ok, `${r.path} failed: ${r.ok ? '' : r.error}`);
    return r;
  });
}

test('round trip: trained tiny model, exported, classified by onnxruntime-node = libtorch eval (top-1, 1e-4)', async () => {
  const classifier = await openClassifier(readFileSync(onnxPath), { threads: 2 });
  try {
    assert.deepEqual(classifier.info.classNames, [...COLOURS]);
    const paths = images.map((i) => i.path);
    const results = okResults(await classifyFiles(classifier, paths, { top: 3 }));
    const reference = await libtorchProbabilities(paths, classifier);
    let correct = 0;
    results.forEach((result, i) => {
      const ref = reference[i]!;
      const refTop = ref.indexOf(Math.max(...ref));
      assert.equal(result.top[0]!.index, refTop, `${result.path}: ORT top-1 ${result.top[0]!.index}, libtorch ${refTop}`);
      for (const p of result.top) assert.ok(Math.abs(p.probability - ref[p.index]!) < 1e-4, `${result.path} class ${p.index}: ${p.probability} vs ${ref[p.index]}`);
      if (refTop === images[i]!.label) correct++;
    });
    console.log(`tiny model after 30 steps: ${correct}/${results.length} colour images right`);

    // The weights file as MODEL gives the same answers (exported in memory).
    const fromWeights = await openClassifier(await modelBytes(tiny.modelPath), { threads: 2 });
    try {
      const again = okResults(await classifyFiles(fromWeights, paths, { top: 3 }));
      again.forEach((r, i) => assert.deepEqual(r.top.map((p) => p.index), results[i]!.top.map((p) => p.index)));
    } finally {
      await fromWeights.release();
    }
  } finally {
    await classifier.release();
  }
});

test('warm session reuse and chunked batches give identical logits', async () => {
  const bytes = readFileSync(onnxPath);
  const whole = await ImageClassifier.create(nodeRuntime, bytes, { maxBatch: 32 });
  const chunked = await ImageClassifier.create(nodeRuntime, bytes, { maxBatch: 2 });
  try {
    const decoded = await Promise.all(images.map((i) => loadImageFile(i.path)));
    const input = whole.preprocessor.batch(decoded);
    const a = await whole.logits(input, decoded.length);
    const b = await whole.logits(input, decoded.length);
    const c = await chunked.logits(input, decoded.length);
    assert.deepEqual(a, b);
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - c[i]!) < 1e-5);
    await assert.rejects(whole.logits(input.subarray(1), decoded.length), /need \d+ floats, got/);
  } finally {
    await whole.release();
    await chunked.release();
  }
});

test('effnet predict --json: bad files get clear errors, the other images are still classified', async () => {
  const rng = new Rng(9);
  const base = colourImage(2, 50, 40, rng);
  const raw = sharp(Buffer.from(base.data), { raw: { width: 50, height: 40, channels: 3 } });
  const good = join(dir, 'good.png');
  await writePng(good, base);
  const sixteen = join(dir, 'sixteen.png');
  await raw.clone().toColourspace('rgb16').png().toFile(sixteen);
  const meta16 = await sharp(sixteen).metadata();
  assert.equal(meta16.depth, 'ushort', 'the fixture should be a 16-bit PNG');
  const cmyk = join(dir, 'cmyk.jpg');
  await raw.clone().toColourspace('cmyk').jpeg({ quality: 95 }).toFile(cmyk);
  assert.equal((await sharp(cmyk).metadata()).space, 'cmyk');
  const jpeg = await raw.clone().jpeg().toBuffer();
  const truncated = join(dir, 'truncated.jpg');
  writeFileSync(truncated, jpeg.subarray(0, Math.floor(jpeg.length / 2)));
  const notImage = join(dir, 'notes.txt');
  writeFileSync(notImage, 'this is not an image\n');
  const empty = join(dir, 'empty.png');
  writeFileSync(empty, '');
  const tinyImage = join(dir, 'one.png');
  await writePng(tinyImage, { data: new Uint8Array([30, 40, 220]), width: 1, height: 1 });
  const missing = join(dir, 'missing.png');

  const order = [good, notImage, empty, truncated, sixteen, cmyk, tinyImage, missing, images[0]!.path];
  const run = spawnSync(process.execPath, [CLI, 'predict', onnxPath, ...order, '--json', '--top', '2'], { encoding: 'utf8' });
  assert.equal(run.status, 2, `exit code 2 (bad input files) when some images fail; stderr: ${run.stderr}`);
  assert.match(run.stderr, /4 of 9 images could not be classified/);
  const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { path: string; top?: { label: string; index: number; probability: number }[]; error?: string; warnings?: string[] });
  assert.deepEqual(lines.map((l) => l.path), order);
  const byPath = new Map(lines.map((l) => [l.path, l]));
  assert.match(byPath.get(notImage)!.error!, /notes\.txt.*unsupported image format.*not an image/);
  assert.match(byPath.get(empty)!.error!, /empty\.png is empty \(0 bytes\)/);
  assert.match(byPath.get(truncated)!.error!, /cannot decode image .*truncated\.jpg.*corrupt, truncated or not an image/);
  assert.match(byPath.get(missing)!.error!, /missing\.png: no such file/);
  for (const path of [good, sixteen, cmyk, tinyImage, images[0]!.path]) {
    const line = byPath.get(path)!;
    assert.equal(line.error, undefined, `${path}: ${line.error}`);
    assert.equal(line.top!.length, 2);
    assert.ok(line.top![0]!.probability >= line.top![1]!.probability);
  }
  // The 16-bit PNG holds the 8-bit image's values × 257, so it reduces back to exactly the same pixels.
  assert.deepEqual(byPath.get(sixteen)!.top, byPath.get(good)!.top);
  assert.equal(byPath.get(cmyk)!.top![0]!.index, byPath.get(good)!.top![0]!.index, 'CMYK JPEG converted to sRGB classifies like the RGB original');
  assert.match(byPath.get(tinyImage)!.warnings![0]!, /1x1.*upscaled.*unreliable/);

  const human = spawnSync(process.execPath, [CLI, 'predict', onnxPath, good, missing], { encoding: 'utf8' });
  assert.equal(human.status, 2);
  assert.match(human.stdout, /rank\s+class\s+index\s+probability\n\s+1\s+(red|green|blue)\s+\d\s+[\d.]+%/);
  assert.match(human.stdout, /missing\.png\n\s+error: .*no such file/);
});

test('predict refuses models it cannot use, with the reason', async () => {
  const notModel = join(dir, 'not-a-model.onnx');
  writeFileSync(notModel, 'hello');
  const run = spawnSync(process.execPath, [CLI, 'predict', notModel, images[0]!.path], { encoding: 'utf8' });
  assert.equal(run.status, 2, `status ${run.status} signal ${run.signal}; stderr: ${run.stderr}`);
  assert.match(run.stderr, /not-a-model\.onnx (is not a readable ONNX model|has no 'effnet\.card' metadata)/);
  const missing = spawnSync(process.execPath, [CLI, 'predict', join(dir, 'nope.onnx'), images[0]!.path], { encoding: 'utf8' });
  assert.equal(missing.status, 2, `status ${missing.status} signal ${missing.signal}; stderr: ${missing.stderr}`);
  assert.match(missing.stderr, /nope\.onnx does not exist/);
  const usage = spawnSync(process.execPath, [CLI, 'predict', onnxPath], { encoding: 'utf8' });
  assert.equal(usage.status, 2, `status ${usage.status} signal ${usage.signal}; stderr: ${usage.stderr}`);
  assert.match(usage.stderr, /expected MODEL and at least one IMAGE/);

  const graph = new OnnxGraphBuilder('plain');
  graph.addInput('x', ['batch', 3]);
  graph.addNode('Identity', ['x'], {}, ['y']);
  graph.addOutput('y', ['batch', 3]);
  const foreign = graph.encode({ opset: 13, producerName: 'test', producerVersion: '0', metadata: new Map() });
  await assert.rejects(ImageClassifier.create(nodeRuntime, foreign, { source: 'foreign.onnx' }), /foreign\.onnx has no 'effnet\.card' metadata: it was not exported by effnet/);
});

test('softmax and top-k follow the formula; ties keep the lower index; k is checked', () => {
  const logits = [1, 3, 2, 3];
  const z = logits.reduce((s, v) => s + Math.exp(v), 0);
  const p = softmax(logits);
  logits.forEach((v, i) => assert.ok(Math.abs(p[i]! - Math.exp(v) / z) < 1e-15));
  const top = topK(logits, ['a', 'b', 'c', 'd'], 3);
  assert.deepEqual(top.map((t) => t.label), ['b', 'd', 'c']);
  assert.equal(topK(logits, ['a', 'b', 'c', 'd'], 10).length, 4);
  assert.ok(Math.abs(softmax([1000, 0])[0]! - 1) < 1e-12, 'large logits do not overflow');
  assert.throws(() => topK(logits, ['a', 'b', 'c', 'd'], 0), /k must be a positive integer/);
});
