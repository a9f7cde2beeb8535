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
  const session = await ort.InferenceSession.create(exported.bytes, { graphOptimizationLevel: 'all', intraOpNumThreads: 1 });
  try {
    for (const batch of [1, 3]) {
      const input = tidy(() => randn([batch, 3, SIZE, SIZE]).toFloat32Array());
      const result = await session.run({ input: new ort.Tensor('float32', input, [batch, 3, SIZE, SIZE]) });
      assert.deepEqual(result.logits!.dims, [batch, CLASSES]);
      const difference = maxDifference(result.logits!.data as Float32Array, referenceLogits(model, input, batch));
      assert.ok(difference < 1e-4, `batch ${batch}: max difference ${difference}`);
    }
  } finally {
    await session.release();
  }
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
