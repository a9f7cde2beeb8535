/**
 * SGD (momentum, Nesterov, dampening, weight decay), AdamW (also AMSGrad) and RMSpropTF (timm's algorithm, also
 * centered / decoupled decay / lr outside momentum) against PyTorch 1.13 and a Python re-implementation of timm's
 * RMSpropTF: 5 steps, two parameter groups, missing gradients and an lr change, in float64, to 1e-10.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { liveTensorCount } from '../../src/torch/index.js';
import { assertClose } from '../nn/fixture.js';
import { disposeAll, makeOptimizer, makeParams, optimFixture, prepareStep } from './harness.js';

const TOL = 1e-10;

for (const c of optimFixture.cases) {
  test(`${c.name}: 5 steps match the reference and leak nothing`, () => {
    const params = makeParams();
    const optimizer = makeOptimizer(c, params);
    for (let step = 0; step < c.after.length; step++) {
      prepareStep(optimizer, params, step);
      const before = liveTensorCount();
      const stateBefore = optimizer.stateDict().tensors.size;
      optimizer.step();
      // The only tensors a step may leave behind are new state tensors (first updates of a parameter).
      const newState = optimizer.stateDict().tensors.size - stateBefore;
      assert.equal(liveTensorCount() - before, newState, `step ${step} leaked tensors`);
      if (step >= 2) assert.equal(newState, 0, `step ${step} made state although every parameter had been updated`);
      params.forEach((p, i) => assertClose(p, { shape: optimFixture.shapes[i]!, data: c.after[step]![i]! }, TOL, `${c.name} step ${step} param ${i}`));
    }
    const missingAt = optimFixture.noGrad;
    const steps = optimizer.stateDict().scalars;
    params.forEach((_, i) => {
      const skipped = missingAt.filter(([, j]) => j === i).length;
      assert.equal(steps[`${i}.step`], c.after.length - skipped, `param ${i} step count`);
    });
    optimizer.zeroGrad();
    assert.ok(params.every((p) => p.grad === null));
    const live = liveTensorCount();
    const stateTensors = optimizer.stateDict().tensors.size;
    optimizer.dispose();
    assert.equal(liveTensorCount(), live - stateTensors);
    disposeAll(params);
  });
}
