/**
 * Test-time augmentation ('hflip' in the model card's eval transform): ttaLogits against the model's own forward on
 * a mirror image built on the host (the reference shares no code with ttaLogits: the mirror is an index reversal of
 * the input floats, the average is done in JavaScript); the exported ONNX graph, run by onnxruntime-node, against
 * the same reference at batch 1 and 3; evaluate() with tta against the averaged logits' top-1 count; and the card
 * rules (round trip, unknown values refused, withTta, a card without tta serialises as before).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { cardOfModel } from '../../src/card/build.js';
import { parseModelCard, serializeModelCard, withTta, ModelCardError, describeCard } from '../../src/card/model-card.js';
import { evalCardFor } from '../../src/card/resolve.js';
import { createEfficientNet, customConfig, type EfficientNet } from '../../src/efficientnet/index.js';
import { exportEfficientNet } from '../../src/export/index.js';
import { readOnnxMetadata, modelInfoFromMetadata } from '../../src/infer/model-info.js';
import { ttaLogits } from '../../src/train/trainer.js';
import { ttaShift, ttaViews } from '../../src/card/tta.js';
import { manualSeed, noGrad, normal_, randn, tensor, tidy } from '../../src/torch/index.js';

const SIZE = 32;
const CLASSES = 6;

function smallModel(): EfficientNet {
  manualSeed(3);
  const model = createEfficientNet(customConfig({ width: 0.25, depth: 0.25, resolution: SIZE }), { numClasses: CLASSES });
  // At initialisation the logits are ~1e-5 whatever the input; unit-scale classifier weights make them O(1), so
  // that the bounds below separate a right answer from an ignored mirror.
  noGrad(() => {
    for (const [name, p] of model.namedParameters()) if (name.startsWith('classifier.')) normal_(p, 0, 1);
  });
  model.eval();
  return model;
}

/** x mirrored along its last (width) axis, on the host. */
function mirrorHost(x: Float32Array, batch: number, channels: number, size: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let row = 0; row < batch * channels * size; row++) {
    for (let col = 0; col < size; col++) out[row * size + col] = x[row * size + (size - 1 - col)]!;
  }
  return out;
}

/** The reference: forward(x) and forward(mirror x) averaged in JavaScript. */
function referenceLogits(model: EfficientNet, input: Float32Array, batch: number): Float32Array {
  const shape = [batch, 3, SIZE, SIZE];
  const [plain, mirrored] = tidy(() =>
    noGrad(() => [model.forward(tensor(input, shape)).toFloat32Array(), model.forward(tensor(mirrorHost(input, batch, 3, SIZE), shape)).toFloat32Array()] as const),
  );
  return plain.map((v, i) => (v + mirrored[i]!) / 2);
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

/** The exported graph run by onnxruntime-node on random batches of 1 and 3 images against `reference`, within 1e-4. */
async function assertOnnxMatches(bytes: Uint8Array, reference: (input: Float32Array, batch: number) => Float32Array): Promise<void> {
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', intraOpNumThreads: 1 });
  try {
    for (const batch of [1, 3]) {
      const input = tidy(() => randn([batch, 3, SIZE, SIZE]).toFloat32Array());
      const result = await session.run({ input: new ort.Tensor('float32', input, [batch, 3, SIZE, SIZE]) });
      assert.deepEqual(result.logits!.dims, [batch, CLASSES]);
      const difference = maxDifference(result.logits!.data as Float32Array, reference(input, batch));
      assert.ok(difference < 1e-4, `batch ${batch}: max difference ${difference}`);
    }
  } finally {
    await session.release();
  }
}

test('ttaLogits hflip equals the mean of forward(x) and forward(host-mirrored x); undefined is forward(x)', () => {
  const model = smallModel();
  const batch = 3;
  const input = tidy(() => randn([batch, 3, SIZE, SIZE]).toFloat32Array());
  const reference = referenceLogits(model, input, batch);
  const ours = tidy(() => noGrad(() => ttaLogits(model, tensor(input, [batch, 3, SIZE, SIZE]), 'hflip').toFloat32Array()));
  assert.ok(maxDifference(ours, reference) < 1e-5, `max difference ${maxDifference(ours, reference)}`);
  const plain = tidy(() => noGrad(() => ttaLogits(model, tensor(input, [batch, 3, SIZE, SIZE]), undefined).toFloat32Array()));
  const forward = tidy(() => noGrad(() => model.forward(tensor(input, [batch, 3, SIZE, SIZE])).toFloat32Array()));
  assert.deepEqual(plain, forward);
  // The mirror changes the answer (a test that passes with the augmentation ignored would be worthless).
  assert.ok(maxDifference(ours, forward) > 1e-4);
});

test('an exported hflip card carries the mirror and the average in the graph: onnxruntime logits equal the reference at batch 1 and 3', async () => {
  const model = smallModel();
  const card = withTta(cardOfModel(model), 'hflip');
  const exported = exportEfficientNet(model, { card });
  assert.equal(exported.opCounts.get('Split'), 1);
  assert.equal(exported.opCounts.get('MatMul'), 1);
  assert.equal(exported.opCounts.get('Gemm'), 1, 'the network is written once and runs on a batch of 2N');
  assert.equal(modelInfoFromMetadata(readOnnxMetadata(exported.bytes)).inputSize, SIZE);
  assert.match(readOnnxMetadata(exported.bytes).get('effnet.card') ?? '', /"tta":"hflip"/);
  await assertOnnxMatches(exported.bytes, (input, batch) => referenceLogits(model, input, batch));
  // Without the field the graph is the plain network (no Split, no MatMul).
  const plain = exportEfficientNet(model);
  assert.equal(plain.opCounts.get('Split') ?? 0, 0);
  assert.equal(plain.opCounts.get('MatMul') ?? 0, 0);
});

test('the card field: round trip, withTta adds and removes it, unknown values and a card without it as before', () => {
  const model = smallModel();
  const card = cardOfModel(model);
  const text = serializeModelCard(card);
  assert.doesNotMatch(text, /tta/, 'a card without test-time augmentation is written as before');
  const flipped = withTta(card, 'hflip');
  assert.equal(parseModelCard(JSON.parse(serializeModelCard(flipped)), 'test').eval.tta, 'hflip');
  assert.equal(serializeModelCard(withTta(flipped, 'none')), text);
  assert.match(describeCard(flipped), /averaged with its mirror image/);
  const bad = JSON.parse(text);
  bad.eval.tta = 'vflip';
  assert.throws(() => parseModelCard(bad, 'bad.json'), (error: unknown) => error instanceof ModelCardError && /eval\.tta/.test((error as Error).message));
  assert.equal(evalCardFor(32, { tta: 'hflip' }).tta, 'hflip');
  assert.equal(evalCardFor(32, { tta: 'none' }).tta, undefined);
  assert.equal(evalCardFor(32).tta, undefined);
});

/**
 * The 'hflip-shift' reference on the host, sharing no code with ttaView or the graph: every view built by indexing
 * the input floats (mirror along the width, then content moved by (d, d) with reflected borders: pixel -k is k,
 * pixel n-1+k is n-1-k, as torch's reflection padding), each forwarded alone, the six averaged in JavaScript.
 */
function shiftReferenceLogits(model: EfficientNet, input: Float32Array, batch: number): Float32Array {
  const n = SIZE;
  const s = Math.max(1, Math.round(n / 24));
  const reflect = (k: number): number => (k < 0 ? -k : k >= n ? 2 * (n - 1) - k : k);
  const views: Float32Array[] = [];
  for (const d of [0, s, -s]) {
    for (const mirror of [false, true]) {
      const out = new Float32Array(input.length);
      for (let plane = 0; plane < batch * 3; plane++) {
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < n; j++) {
            const column = reflect(j - d);
            out[plane * n * n + i * n + j] = input[plane * n * n + reflect(i - d) * n + (mirror ? n - 1 - column : column)]!;
          }
        }
      }
      views.push(out);
    }
  }
  const logits = views.map((view) => tidy(() => noGrad(() => model.forward(tensor(view, [batch, 3, n, n])).toFloat32Array())));
  return logits[0]!.map((_, i) => logits.reduce((sum, l) => sum + l[i]!, 0) / logits.length);
}

test('ttaLogits hflip-shift equals the mean of six host-built views (mirror x moved ±s diagonally, reflected borders)', () => {
  const model = smallModel();
  const batch = 2;
  const input = tidy(() => randn([batch, 3, SIZE, SIZE]).toFloat32Array());
  const reference = shiftReferenceLogits(model, input, batch);
  const ours = tidy(() => noGrad(() => ttaLogits(model, tensor(input, [batch, 3, SIZE, SIZE]), 'hflip-shift').toFloat32Array()));
  assert.ok(maxDifference(ours, reference) < 1e-5, `max difference ${maxDifference(ours, reference)}`);
  const flipOnly = tidy(() => noGrad(() => ttaLogits(model, tensor(input, [batch, 3, SIZE, SIZE]), 'hflip').toFloat32Array()));
  assert.ok(maxDifference(ours, flipOnly) > 1e-4, 'the shifted views change the answer');
});

test('an exported hflip-shift card: six views as 0/1 MatMuls, onnxruntime logits equal the host reference at batch 1 and 3', async () => {
  const model = smallModel();
  const card = withTta(cardOfModel(model), 'hflip-shift');
  const exported = exportEfficientNet(model, { card });
  assert.equal(exported.opCounts.get('Split'), 1);
  assert.equal(exported.opCounts.get('Gemm'), 1, 'the network is written once and runs on a batch of 6N');
  // mirror: 1; each of the four moved views: rows and columns.
  assert.equal(exported.opCounts.get('MatMul'), 9);
  assert.match(readOnnxMetadata(exported.bytes).get('effnet.card') ?? '', /"tta":"hflip-shift"/);
  await assertOnnxMatches(exported.bytes, (input, batch) => shiftReferenceLogits(model, input, batch));
});

test('hflip-shift rules: the shift is size/24 rounded (at least 1), the views in order, the card field and its description', () => {
  assert.deepEqual([8, 32, 48, 60, 224].map(ttaShift), [1, 1, 2, 3, 9]);
  assert.deepEqual(ttaViews('hflip', 48), [{ mirror: false, dy: 0, dx: 0 }, { mirror: true, dy: 0, dx: 0 }]);
  assert.deepEqual(
    ttaViews('hflip-shift', 48).map((v) => [v.mirror, v.dy, v.dx]),
    [[false, 0, 0], [true, 0, 0], [false, 2, 2], [true, 2, 2], [false, -2, -2], [true, -2, -2]],
  );
  assert.throws(() => ttaViews('hflip-shift', 2), /needs an eval size of at least 3 pixels, got 2/);
  const card = withTta(cardOfModel(smallModel()), 'hflip-shift');
  assert.equal(parseModelCard(JSON.parse(serializeModelCard(card)), 'test').eval.tta, 'hflip-shift');
  assert.match(describeCard(card), /averaged with its mirror image and both moved ±1px diagonally/);
  assert.equal(evalCardFor(48, { tta: 'hflip-shift' }).tta, 'hflip-shift');
});
