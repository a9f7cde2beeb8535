/**
 * int8 export: the range arithmetic against its formulas, the graph plan (groups found from the structure of an
 * exported network with squeeze-excitation), the QDQ file read back (int8 weights that dequantize to the float
 * weights within half a step, uint8 activations whose ranges contain the calibration values, a card that says how
 * it was made) and run in onnxruntime against the float model, and the CLI through files: a model file and a data
 * spec in, an int8 .onnx out that predict reads, bad flags refused with exit 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { createEfficientNet, customConfig, type EfficientNet } from '../../src/efficientnet/index.js';
import { exportEfficientNet } from '../../src/export/index.js';
import { cardFromOnnxMetadata, readOnnxMetadata } from '../../src/infer/model-info.js';
import { manualSeed, noGrad, normal_, uniform_ } from '../../src/torch/index.js';
import { BatchNorm2d } from '../../src/nn/index.js';
import { Rng } from '../../src/data/rng.js';
import { calibratedRange, entropyThresholdBin, HISTOGRAM_BINS, quantizeBias, quantizeWeightPerChannel, TensorStatistics, uint8Quantization } from '../../src/export/quantize/ranges.js';
import { decodeModel, nodeGroups, planQuantization } from '../../src/export/quantize/qdq.js';
import { compareClasses, modelLogits, quantizeInt8, type InputBatch } from '../../src/export/quantize/int8.js';
import { parseModelCard, describeCard } from '../../src/card/model-card.js';
import { resolveModelCard } from '../../src/card/resolve.js';
import { createModelFromCard } from '../../src/card/build.js';
import { parseCalibrateFlag, parseCalibrationMethod, parseKeepFloat } from '../../src/cli/int8-export.js';
import type { OrtModuleLike } from '../../src/infer/classifier.js';
import { COLOURS, colourImage, trainTinyModel, writePng } from '../infer/tiny-model.js';

const runtime = ort as unknown as OrtModuleLike;
const CLI = join(import.meta.dirname, '../../src/cli/main.js');
const SIZE = 32;

test('uint8 parameters: the range widened to contain 0, scale (hi - lo) / 255, zero point round(-lo / scale)', () => {
  const a = uint8Quantization(-1, 3);
  assert.ok(Math.abs(a.scale - 4 / 255) < 1e-7);
  assert.equal(a.zeroPoint, Math.round(1 / (4 / 255)));
  const b = uint8Quantization(2, 5); // all positive: low becomes 0
  assert.ok(Math.abs(b.scale - 5 / 255) < 1e-7);
  assert.equal(b.zeroPoint, 0);
  const c = uint8Quantization(-6, -1); // all negative: high becomes 0
  assert.equal(c.zeroPoint, 255);
  assert.deepEqual(uint8Quantization(0, 0), { scale: 1, zeroPoint: 0 });
});

test('per-channel int8 weights: scale max|w| / 127 per output channel, values within half a step, all-zero channels exact', () => {
  const weight = new Float32Array([0.5, -1.27, 0.01, 0.2, 0, 0, 0, 0, 3, -3, 1.5, 0.75]);
  const q = quantizeWeightPerChannel(weight, 3);
  assert.deepEqual([...q.scales].map((s) => +s.toFixed(7)), [+(1.27 / 127).toFixed(7), 1, +(3 / 127).toFixed(7)]);
  for (let i = 0; i < weight.length; i++) {
    const scale = q.scales[Math.floor(i / 4)]!;
    assert.ok(Math.abs(q.values[i]! * scale - weight[i]!) <= scale / 2 + 1e-7, `weight ${i}`);
    assert.ok(q.values[i]! >= -127 && q.values[i]! <= 127);
  }
  assert.equal(q.values[1], -127);
  const bias = quantizeBias(new Float32Array([0.1, -0.2, 0]), 0.05, q.scales);
  assert.equal(bias.values[0], Math.round(0.1 / Math.fround(0.05 * q.scales[0]!)));
  assert.throws(() => quantizeWeightPerChannel(new Float32Array(5), 2), /do not split/);
});

test('calibrated ranges: min-max, percentile tails from the histogram, entropy clipping a sparse tail', () => {
  const values = Float32Array.from({ length: 100000 }, (_, i) => (i % 1000) / 999); // uniform on [0, 1]
  values[7] = 50; // one outlier
  const stats = new TensorStatistics();
  stats.observeRange(values);
  assert.deepEqual(calibratedRange(stats, { kind: 'minmax' }), [0, 50]);
  assert.throws(() => calibratedRange(stats, { kind: 'percentile', percentile: 99.9 }), /histogram pass/);
  stats.observeHistogram(values, { kind: 'percentile', percentile: 99.9 });
  const [lo, hi] = calibratedRange(stats, { kind: 'percentile', percentile: 99.9 });
  // 0.05% of 100,000 values is 50 per tail: the outlier is cut, the upper end lands within a bin of 1.
  const bin = 50 / HISTOGRAM_BINS;
  assert.ok(lo >= 0 && lo <= bin, `low ${lo}`);
  assert.ok(hi >= 1 - bin && hi <= 1 + bin, `high ${hi}`);
  // A bell of unit spread and one outlier at 50: min-max spends 255 levels on [-50, 50]; entropy clips near the bell.
  const rng = new Rng(4);
  const bell = Float32Array.from({ length: 100000 }, () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next()));
  bell[3] = 50;
  const entropy = new TensorStatistics();
  entropy.observeRange(bell);
  entropy.observeHistogram(bell, { kind: 'entropy' });
  const [low, top] = calibratedRange(entropy, { kind: 'entropy' });
  assert.ok(top >= 2.5 && top < 10, `entropy threshold ${top} should clip the lone outlier at 50 and keep the bell`);
  assert.equal(low, -top, 'symmetric threshold inside the data range');
  // A histogram without a tail keeps (nearly) everything.
  const flat = new Float64Array(HISTOGRAM_BINS).fill(1);
  assert.ok(entropyThresholdBin(flat) >= HISTOGRAM_BINS - 5);
});

function seModel(): EfficientNet {
  manualSeed(5);
  const model = createEfficientNet(customConfig({ width: 0.25, depth: 0.25, resolution: SIZE }), { numClasses: 4 });
  noGrad(() => {
    for (const [name, p] of model.namedParameters()) if (name.startsWith('classifier.')) normal_(p, 0, 1);
    for (const m of model.modules()) {
      if (m instanceof BatchNorm2d) {
        uniform_(m.runningMean!, -0.2, 0.2);
        uniform_(m.runningVar!, 0.5, 1.5);
      }
    }
  });
  model.eval();
  return model;
}

/** The int8 model's logit error power over the float model's logit power, on `check` in onnxruntime. */
async function relativeLogitError(floatBytes: Uint8Array, int8Bytes: Uint8Array, check: InputBatch[]): Promise<number> {
  const reference = await modelLogits(runtime, floatBytes, check);
  const quantized = await modelLogits(runtime, int8Bytes, check);
  let noise = 0;
  let power = 0;
  for (let i = 0; i < reference.length; i++) {
    noise += (quantized[i]! - reference[i]!) ** 2;
    power += reference[i]! ** 2;
  }
  return noise / power;
}

function batches(count: number, seed: number): InputBatch[] {
  const rng = new Rng(seed);
  const out: InputBatch[] = [];
  for (let start = 0; start < count; start += 8) {
    const n = Math.min(8, count - start);
    out.push({ data: Float32Array.from({ length: n * 3 * SIZE * SIZE }, () => (rng.next() - 0.5) * 4), count: n });
  }
  return out;
}

test('entropy calibration: the zero spike of a ReLU6 output (first bin) does not pull the threshold down; non-negative tensors use 256 levels', () => {
  // 70% exact zeros, the rest spread evenly over (0, max]: nothing to clip, the threshold keeps the whole range.
  const spiked = new Float64Array(HISTOGRAM_BINS);
  spiked[0] = 7000;
  for (let i = 1; i < HISTOGRAM_BINS; i++) spiked[i] = 3000 / (HISTOGRAM_BINS - 1);
  assert.ok(entropyThresholdBin(spiked, 256) >= HISTOGRAM_BINS - 4, `kept ${entropyThresholdBin(spiked, 256) + 1} bins`);
  // The same spike one bin further out is data, not zeros, and it is kept in the short range it dominates.
  const shifted = Float64Array.from(spiked);
  shifted[1] = 7000;
  shifted[0] = 3000 / (HISTOGRAM_BINS - 1);
  assert.ok(entropyThresholdBin(shifted, 256) < HISTOGRAM_BINS / 2, `kept ${entropyThresholdBin(shifted, 256) + 1} bins`);
});

test('groups from the graph: the stem conv and its SiLU, every squeeze-excitation branch, the head, the classifier', () => {
  const model = seModel();
  const bytes = exportEfficientNet(model).bytes;
  const onnx = decodeModel(bytes);
  const nodes = onnx.graph!.node!;
  const groups = nodeGroups(onnx);
  const convs = nodes.flatMap((n, i) => (n.opType === 'Conv' ? [i] : []));
  assert.equal(groups[convs[0]!], 'stem');
  assert.equal(groups[convs[convs.length - 1]!], 'head');
  assert.equal(groups[nodes.findIndex((n) => n.opType === 'Gemm')], 'classifier');
  // Every SE: a pool feeding a conv; its two convs are 'se', and so are as many pools as blocks with SE.
  const sePools = nodes.flatMap((n, i) => (n.opType === 'GlobalAveragePool' && groups[i] === 'se' ? [i] : []));
  const blocks = [...model.modules()].filter((m) => m.constructor.name === 'SqueezeExcitation').length;
  assert.equal(sePools.length, blocks);
  assert.equal(convs.filter((i) => groups[i] === 'se').length, 2 * blocks);
  const plan = planQuantization(onnx, ['se']);
  assert.equal(plan.quantizedPerGroup.get('se'), undefined);
  assert.ok((plan.quantizedPerGroup.get('blocks') ?? 0) > 0);
  model.dispose();
});

test('the QDQ file: int8 weights within half a step, ranges covering the calibration, the card, and logits near float in onnxruntime', async () => {
  const model = seModel();
  const floatBytes = exportEfficientNet(model).bytes;
  model.dispose();
  const calibration = batches(32, 1);
  const int8 = await quantizeInt8(floatBytes, { runtime, calibration, method: { kind: 'minmax' }, calibrationData: 'synthetic' });
  const file = decodeModel(int8.bytes);
  const floatFile = decodeModel(floatBytes);
  const DT = onnxProto.onnx.TensorProto.DataType;
  const inits = new Map(file.graph!.initializer!.map((t) => [t.name!, t]));
  const floatInits = new Map(floatFile.graph!.initializer!.map((t) => [t.name!, t]));
  let checked = 0;
  for (const node of file.graph!.node!) {
    if (node.opType !== 'DequantizeLinear' || inits.get(node.input![0]!)?.dataType !== DT.INT8) continue;
    const q = inits.get(node.input![0]!)!;
    const scales = new Float32Array(new Uint8Array(inits.get(node.input![1]!)!.rawData!).buffer.slice(0));
    const name = q.name!.replace(/_quantized$/, '');
    const original = floatInits.get(name)!;
    const w = new Float32Array(new Uint8Array(original.rawData!).slice().buffer);
    const values = new Int8Array(new Uint8Array(q.rawData!).slice().buffer);
    const per = w.length / scales.length;
    for (let i = 0; i < w.length; i++) assert.ok(Math.abs(values[i]! * scales[Math.floor(i / per)]! - w[i]!) <= scales[Math.floor(i / per)]! / 2 + 1e-6);
    assert.ok(!inits.has(name), `the float weight ${name} is gone`);
    checked++;
  }
  assert.equal(checked, int8.summary.weights);
  assert.ok(checked >= 10);
  // Scales, zero points and the QDQ nodes weigh more in a tiny network than in B0 (3.7x smaller there).
  assert.ok(int8.bytes.length < floatBytes.length / 2, `${int8.bytes.length} vs ${floatBytes.length} bytes`);
  const card = cardFromOnnxMetadata(readOnnxMetadata(int8.bytes));
  assert.deepEqual(card.quantization, { format: 'int8-qdq', calibration: { method: 'minmax', images: 32, data: 'synthetic' }, float: [] });
  assert.match(describeCard(card), /int8 \(minmax calibration on 32 images\)/);
  // Every activation range contains what calibration saw (min-max) and 0.
  for (const [t, [lo, hi]] of int8.ranges) assert.ok(lo <= 0 || lo <= hi, t);
  const error = await relativeLogitError(floatBytes, int8.bytes, batches(16, 2));
  assert.ok(error < 0.02, `relative logit error ${error}`);
  assert.ok(error > 0, 'the int8 model is not the float one');
  await assert.rejects(quantizeInt8(int8.bytes, { runtime, calibration }), /already quantized/);
});

test("ReLU6 folds into its quantized input: a Lite network's int8 graph has no Clip, each Conv feeds one QuantizeLinear, onnxruntime runs every conv as QLinearConv, logits near float", async () => {
  manualSeed(6);
  const card = resolveModelCard({ source: { kind: 'variant', name: 'lite0' }, width: 0.25, depth: 0.25, resolution: SIZE, classes: 4 });
  const model = createModelFromCard(card);
  noGrad(() => {
    for (const m of model.modules()) if (m instanceof BatchNorm2d) uniform_(m.runningVar!, 0.5, 1.5);
  });
  model.eval();
  const floatBytes = exportEfficientNet(model, { card }).bytes;
  model.dispose();
  const floatGraph = decodeModel(floatBytes).graph!;
  const clips = floatGraph.node!.filter((n) => n.opType === 'Clip').length;
  const convs = floatGraph.node!.filter((n) => n.opType === 'Conv').length;
  assert.ok(clips >= 5, `the Lite graph has its ReLU6 as Clip (${clips})`);
  const plan = planQuantization(decodeModel(floatBytes));
  assert.equal(plan.foldedClips.size, clips, 'every ReLU6 between quantized nodes folds');
  const int8 = await quantizeInt8(floatBytes, { runtime, calibration: batches(32, 3), method: { kind: 'minmax' }, calibrationData: 'synthetic' });
  const graph = decodeModel(int8.bytes).graph!;
  assert.equal(graph.node!.filter((n) => n.opType === 'Clip').length, 0);
  for (const conv of graph.node!.filter((n) => n.opType === 'Conv')) {
    const readers = graph.node!.filter((n) => n.input!.includes(conv.output![0]!));
    assert.deepEqual(readers.map((n) => n.opType), ['QuantizeLinear'], `${conv.output![0]} is read by ${readers.map((n) => n.opType).join(', ')}`);
  }
  // What onnxruntime makes of it (its optimized graph, written out): every convolution a QLinearConv.
  const directory = mkdtempSync(join(tmpdir(), 'effnet-int8-lite-'));
  try {
    const optimized = join(directory, 'optimized.onnx');
    await ort.InferenceSession.create(int8.bytes, { graphOptimizationLevel: 'all', optimizedModelFilePath: optimized });
    const ops = decodeModel(readFileSync(optimized)).graph!.node!.map((n) => n.opType);
    assert.equal(ops.filter((op) => op === 'QLinearConv').length, convs, ops.join(' '));
    assert.equal(ops.filter((op) => op === 'Conv' || op === 'Clip').length, 0, ops.join(' '));
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
  const error = await relativeLogitError(floatBytes, int8.bytes, batches(16, 4));
  assert.ok(error < 0.02 && error > 0, `relative logit error ${error}`);
});

test('compareClasses and the card field: agreement and accuracy by hand; bad quantization cards refused', () => {
  const c = compareClasses(Int32Array.from([0, 1, 2, 3]), Int32Array.from([0, 1, 0, 3]), Int32Array.from([0, 2, 2, 3]));
  assert.deepEqual(c, { images: 4, agreement: 0.75, floatTop1: 0.75, int8Top1: 0.5 });
  const model = seModel();
  const card = cardFromOnnxMetadata(readOnnxMetadata(exportEfficientNet(model).bytes));
  model.dispose();
  const good = { ...card, quantization: { format: 'int8-qdq', calibration: { method: 'percentile', percentile: 99.99, images: 8, data: 'x' }, float: ['se'], floatTensors: ['mul_0'] } };
  assert.deepEqual(parseModelCard(JSON.parse(JSON.stringify(good)), 't').quantization, good.quantization);
  assert.throws(() => parseModelCard({ ...good, quantization: { ...good.quantization, float: ['nose'] } }, 't'), /quantization\.float\[0\]/);
  assert.throws(() => parseModelCard({ ...good, quantization: { ...good.quantization, calibration: { method: 'minmax', percentile: 99, images: 8, data: 'x' } } }, 't'), /percentile/);
  assert.throws(() => parseModelCard({ ...good, quantization: { ...good.quantization, format: 'int4' } }, 't'), /quantization\.format/);
});

test('flag parsers: --calibrate SPEC[,n=N], --calibration, --keep-float', () => {
  assert.deepEqual(parseCalibrateFlag('data.tar.gz,n=64'), { spec: 'data.tar.gz', images: 64 });
  assert.deepEqual(parseCalibrateFlag('data.tar.gz,val=0.2'), { spec: 'data.tar.gz,val=0.2', images: 256 });
  assert.throws(() => parseCalibrateFlag('d,n=0'), /n must be an integer/);
  assert.deepEqual(parseCalibrateFlag('data.tar.gz,n=64,val=0.2'), { spec: 'data.tar.gz,val=0.2', images: 64 });
  assert.throws(() => parseCalibrateFlag('d,n=2,n=3'), /given 2 times/);
  assert.deepEqual(parseCalibrationMethod('percentile'), { kind: 'percentile', percentile: 99.999 });
  assert.deepEqual(parseCalibrationMethod('percentile:99.9'), { kind: 'percentile', percentile: 99.9 });
  assert.throws(() => parseCalibrationMethod('percentile:40'), /\(50, 100\]/);
  assert.throws(() => parseCalibrationMethod('kl'), /minmax, percentile/);
  assert.deepEqual(parseKeepFloat('none'), { groups: [], autoAgreement: null });
  assert.deepEqual(parseKeepFloat('auto'), { groups: [], autoAgreement: 0.998 });
  assert.deepEqual(parseKeepFloat('se,classifier,auto:0.99'), { groups: ['se', 'classifier'], autoAgreement: 0.99 });
  assert.throws(() => parseKeepFloat('stem,neck'), /neck/);
});

test('effnet export --int8 through files: a model file and a data spec in, a smaller .onnx that predict reads; bad flags exit 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-int8-'));
  try {
    const tiny = trainTinyModel(dir);
    const out = join(dir, 'tiny-int8.onnx');
    const data = 'synthetic:train=48,val=24,classes=3,size=32';
    const run = spawnSync(process.execPath, [CLI, 'export', '--checkpoint', tiny.modelPath, '--out', out, '--int8', '--calibrate', `${data},n=32`, '--check', '24', '--sensitivity', '--threads', '1'], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /as int8 to .*tiny-int8\.onnx/);
    assert.match(run.stdout, /check on 24 hold-out images: top-1 agreement with float \d+\.\d\d%/);
    assert.match(run.stdout, /sensitivity \(only this part quantized/);
    const card = cardFromOnnxMetadata(readOnnxMetadata(readFileSync(out)));
    assert.equal(card.quantization?.calibration.images, 32);
    assert.equal(card.quantization?.calibration.data, `${data},n=32`);
    const floatOut = join(dir, 'tiny.onnx');
    assert.equal(spawnSync(process.execPath, [CLI, 'export', '--checkpoint', tiny.modelPath, '--out', floatOut], { encoding: 'utf8' }).status, 0);
    assert.ok(statSync(out).size < statSync(floatOut).size / 2);
    // predict reads the int8 file like any export: the same top-1 as the float file on clear images.
    const images = await Promise.all(COLOURS.map(async (_, label) => {
      const path = join(dir, `${label}.png`);
      await writePng(path, colourImage(label, 40, 40, new Rng(label + 20)));
      return path;
    }));
    const top1 = (model: string): string[] => {
      const r = spawnSync(process.execPath, [CLI, 'predict', model, ...images, '--json', '--top', '1'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { top: { label: string }[] }).top[0]!.label);
    };
    assert.deepEqual(top1(out), top1(floatOut));
    const bad = (args: string[], pattern: RegExp): void => {
      const r = spawnSync(process.execPath, [CLI, 'export', '--checkpoint', tiny.modelPath, '--out', join(dir, 'x.onnx'), ...args], { encoding: 'utf8' });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, pattern);
    };
    bad(['--int8'], /--int8 needs --calibrate/);
    bad(['--calibrate', data], /--calibrate applies to int8 export only/);
    bad(['--int8', '--calibrate', data, '--calibration', 'kl'], /--calibration must be/);
    bad(['--int8', '--calibrate', data, '--keep-float', 'neck'], /--keep-float takes/);
    bad(['--int8', '--calibrate', data, '--check', '0', '--sensitivity'], /--sensitivity measures on the --check images/);
    bad(['--int8', '--calibrate', data, '--features', '1,2'], /backbones/);
    bad(['--int8', '--calibrate', data, '--threads', '100000'], /--threads 100000 asks for more than/);
    // The prepared images int8 export holds are bounded before any is read: 32 + 24 images x 3 x 32 x 32 x 4 bytes.
    const over = spawnSync(process.execPath, [CLI, 'export', '--checkpoint', tiny.modelPath, '--out', join(dir, 'y.onnx'), '--int8', '--calibrate', `${data},n=32`, '--check', '24'], {
      encoding: 'utf8',
      env: { ...process.env, EFFNET_LIMIT_QUANTIZATION_IMAGE_BYTES: String(56 * 3 * 32 * 32 * 4 - 1) },
    });
    assert.equal(over.status, 2, over.stderr);
    assert.match(over.stderr, /32 calibration and 24 check images at 32px is 688,128 bytes, over effnet's limit of 688,127 bytes; .*EFFNET_LIMIT_QUANTIZATION_IMAGE_BYTES/);
    assert.equal(existsSync(join(dir, 'y.onnx')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
