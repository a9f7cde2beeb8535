import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchNorm2d, Linear, Sequential } from '../../src/nn/index.js';
import { copy_, manualSeed, noGrad, randn, tensor } from '../../src/torch/index.js';
import { ModelEma } from '../../src/optim/ema.js';

function values(t: { toFloat32Array(): Float32Array }): number[] {
  return [...t.toFloat32Array()];
}

test('ModelEma follows ema = d*ema + (1-d)*p with d = min(decay, (1+n)/(10+n)), and copies buffers', () => {
  manualSeed(3);
  const model = new Sequential(new Linear(3, 2), new BatchNorm2d(2));
  const ema = new ModelEma(model, { decay: 0.5 });
  const weight = model.namedParameters()[0]![1];
  let expected = values(weight);
  const decays: number[] = [];
  for (let n = 0; n < 4; n++) {
    noGrad(() => copy_(weight, randn([2, 3])));
    noGrad(() => copy_(model.stateDict().get('1.running_mean')!, tensor([n, -n], [2])));
    const d = Math.min(0.5, (1 + n) / (10 + n));
    decays.push(ema.currentDecay());
    ema.update(model);
    const p = values(weight);
    expected = expected.map((e, i) => Math.fround(Math.fround(e * d) + Math.fround((1 - d) * p[i]!)));
    const got = values(ema.stateDict().tensors.get('0.weight')!);
    got.forEach((g, i) => assert.ok(Math.abs(g - expected[i]!) <= 1e-6, `update ${n} element ${i}: ${g} vs ${expected[i]}`));
    assert.deepEqual(values(ema.stateDict().tensors.get('1.running_mean')!), [n, -n]);
  }
  assert.deepEqual(decays, [0.1, 2 / 11, 3 / 12, 4 / 13]);
  assert.equal(ema.updates, 4);
  assert.equal(Number(ema.stateDict().tensors.get('1.num_batches_tracked')!.item()), 0);
  ema.dispose();
  model.dispose();
});

test('ModelEma state dict round-trips into a fresh EMA (resume)', () => {
  manualSeed(4);
  const model = new Linear(4, 3);
  const a = new ModelEma(model, { decay: 0.9 });
  for (let n = 0; n < 3; n++) {
    noGrad(() => copy_(model.namedParameters()[0]![1], randn([3, 4])));
    a.update(model);
  }
  const b = new ModelEma(model, { decay: 0.9 });
  b.loadStateDict(a.stateDict());
  assert.equal(b.updates, 3);
  assert.equal(b.currentDecay(), a.currentDecay());
  noGrad(() => copy_(model.namedParameters()[0]![1], randn([3, 4])));
  a.update(model);
  b.update(model);
  for (const [name, t] of a.stateDict().tensors) assert.deepEqual(values(b.stateDict().tensors.get(name)!), values(t), name);
  assert.throws(() => b.loadStateDict({ updates: 1, tensors: new Map() }), /missing 'weight'/);
  a.dispose();
  b.dispose();
  model.dispose();
});

test("ModelEma with buffers 'average' averages BN running statistics like the weights and copies integer buffers", () => {
  manualSeed(5);
  const model = new Sequential(new Linear(3, 2), new BatchNorm2d(2));
  const ema = new ModelEma(model, { decay: 0.5, buffers: 'average' });
  const mean = model.stateDict().get('1.running_mean')!;
  const count = model.stateDict().get('1.num_batches_tracked')!;
  let expected = values(mean);
  for (let n = 0; n < 3; n++) {
    noGrad(() => copy_(mean, tensor([n + 1, -2 * n], [2])));
    noGrad(() => copy_(count, tensor([n + 7], [1]).to('int64').reshape([])));
    const d = Math.min(0.5, (1 + n) / (10 + n));
    ema.update(model);
    const p = values(mean);
    expected = expected.map((e, i) => Math.fround(Math.fround(e * d) + Math.fround((1 - d) * p[i]!)));
    const got = values(ema.stateDict().tensors.get('1.running_mean')!);
    got.forEach((g, i) => assert.ok(Math.abs(g - expected[i]!) <= 1e-6, `update ${n} element ${i}: ${g} vs ${expected[i]}`));
    assert.equal(Number(ema.stateDict().tensors.get('1.num_batches_tracked')!.item()), n + 7);
  }
  assert.throws(() => new ModelEma(model, { buffers: 'mean' as never }), /buffers must be 'copy' or 'average'/);
  ema.dispose();
  model.dispose();
});
