/**
 * Optimizer state: stateDict → new optimizer → loadStateDict → continuing is bit-identical to not interrupting;
 * the JSON part survives JSON; bad states, bad hyper-parameters and the lr convenience.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { liveTensorCount, ones, zeros } from '../../src/torch/index.js';
import { AdamW, RMSpropTF, SGD } from '../../src/optim/index.js';
import { disposeAll, makeOptimizer, makeParams, optimFixture, prepareStep } from './harness.js';

const STEPS = optimFixture.grads.length;
const INTERRUPT_AFTER = 3;

for (const c of optimFixture.cases) {
  test(`${c.name}: saving and restoring mid-run continues bit-identically`, () => {
    const reference = makeParams();
    const uninterrupted = makeOptimizer(c, reference);
    for (let step = 0; step < STEPS; step++) {
      prepareStep(uninterrupted, reference, step);
      uninterrupted.step();
    }

    const first = makeParams();
    const before = makeOptimizer(c, first);
    for (let step = 0; step < INTERRUPT_AFTER; step++) {
      prepareStep(before, first, step);
      before.step();
    }
    const saved = before.stateDict();
    // The JSON part must survive serialisation unchanged.
    const json = JSON.parse(JSON.stringify({ type: saved.type, paramGroups: saved.paramGroups, scalars: saved.scalars })) as typeof saved;
    assert.deepEqual({ ...json, tensors: saved.tensors }, saved);
    // A fresh model copy and an optimizer built with other hyper-parameters: the state decides.
    const resumed = makeParams(first.map((p) => p.toArray()));
    const after = makeOptimizer(c, resumed, { lr: 123 });
    after.loadStateDict({ ...json, tensors: saved.tensors });
    assert.deepEqual(after.stateDict().paramGroups, saved.paramGroups);
    // The loaded state is a copy: the old optimizer can go.
    before.dispose();
    disposeAll(first);
    for (let step = INTERRUPT_AFTER; step < STEPS; step++) {
      prepareStep(after, resumed, step);
      after.step();
    }
    resumed.forEach((p, i) => assert.deepEqual(p.toArray(), reference[i]!.toArray(), `${c.name} param ${i}`));
    const finalA = uninterrupted.stateDict();
    const finalB = after.stateDict();
    assert.deepEqual(finalB.scalars, finalA.scalars);
    assert.deepEqual([...finalB.tensors.keys()], [...finalA.tensors.keys()]);
    for (const [key, value] of finalA.tensors) assert.deepEqual(finalB.tensors.get(key)!.toArray(), value.toArray(), key);
    uninterrupted.dispose();
    after.dispose();
    disposeAll(reference);
    disposeAll(resumed);
  });
}

test('stateDict names state as documented and loadStateDict refuses states that do not fit', () => {
  const params = makeParams();
  const adam = new AdamW([{ params: params.slice(0, 2) }, { params: params.slice(2), weightDecay: 0 }], { lr: 0.01 });
  prepareStep(adam, params, 0);
  adam.step();
  const state = adam.stateDict();
  assert.equal(state.type, 'AdamW');
  assert.deepEqual(state.paramGroups.map((g) => g.params), [[0, 1], [2, 3]]);
  assert.deepEqual(state.paramGroups[1], { lr: 0.01, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, params: [2, 3] });
  // Parameter 1 had no gradient at step 0 (see the fixture), so it has no state yet.
  assert.deepEqual(Object.keys(state.scalars), ['0.step', '2.step', '3.step']);
  assert.deepEqual([...state.tensors.keys()], ['0.exp_avg', '0.exp_avg_sq', '2.exp_avg', '2.exp_avg_sq', '3.exp_avg', '3.exp_avg_sq']);

  const sgd = new SGD(params, { lr: 0.1 });
  assert.throws(() => sgd.loadStateDict(state), /saved by AdamW; load it into a AdamW/);
  const oneGroup = new AdamW(params);
  assert.throws(() => oneGroup.loadStateDict(state), /2 parameter groups, this optimizer 1/);
  const other = new AdamW([{ params: params.slice(0, 2) }, { params: params.slice(2) }]);
  const wrongShape = zeros([7]);
  assert.throws(
    () => other.loadStateDict({ ...state, tensors: new Map([...state.tensors, ['1.exp_avg', wrongShape]]) }),
    /tensor '1\.exp_avg' has shape \[7\] but parameter 1 has \[4\]/,
  );
  assert.throws(() => other.loadStateDict({ ...state, scalars: { '9.step': 1 } }), /'9\.step' does not name a parameter index below 4/);
  assert.throws(
    () => other.loadStateDict({ ...state, paramGroups: [state.paramGroups[0]!, { ...state.paramGroups[1]!, lr: -1 }] }),
    /group 1 has lr = -1; expected a number in \[0, ∞\)/,
  );
  assert.equal(other.stateDict().tensors.size, 0, 'a refused state changes nothing');
  wrongShape.dispose();
  adam.dispose();
  disposeAll(params);
});

test('lr reads the first group and sets every group', () => {
  const params = makeParams();
  const opt = new RMSpropTF([{ params: params.slice(0, 2) }, { params: params.slice(2), lr: 0.5 }], { lr: 0.1 });
  assert.equal(opt.lr, 0.1);
  assert.equal(opt.paramGroups[1]!.lr, 0.5);
  opt.lr = 0.02;
  assert.deepEqual(opt.paramGroups.map((g) => g.lr), [0.02, 0.02]);
  assert.throws(() => (opt.lr = Number.NaN), /lr must be a finite number >= 0/);
  disposeAll(params);
});

test('bad hyper-parameters and parameter lists are refused', () => {
  const p = ones([2], { requiresGrad: true }).keep();
  assert.throws(() => new SGD([p], { lr: 0.1, nesterov: true }), /Nesterov momentum, which needs momentum > 0 and dampening 0/);
  assert.throws(() => new SGD([], { lr: 0.1 }), /empty parameter list/);
  assert.throws(() => new SGD([{ params: [p] }, { params: [p] }], { lr: 0.1 }), /more than one group/);
  assert.throws(() => new AdamW([p], { betas: [0.9, 1] }), /betas\[1\] = 1/);
  assert.throws(() => new AdamW([{ params: [p], momentum: 0.9 } as never]), /unknown hyper-parameter 'momentum'/);
  assert.throws(() => new RMSpropTF([p], { lr: -0.1 }), /lr = -0.1/);
  p.dispose();
});

test('a step with no gradients anywhere does nothing and leaks nothing', () => {
  const params = makeParams();
  const opt = new SGD(params, { lr: 0.1, momentum: 0.9 });
  const before = liveTensorCount();
  opt.step();
  assert.equal(liveTensorCount(), before);
  assert.equal(opt.stateDict().tensors.size, 0);
  disposeAll(params);
});
