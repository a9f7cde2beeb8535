/**
 * The PPO strategy's LSTM controller: the gradients of the policy-gradient and PPO losses (autograd on our engine, in
 * float64) against central finite differences of the losses, with advantages of both signs and probability ratios
 * inside and outside the clip range; a sampled candidate's log-probability is the controller's log π of it; a PPO
 * strategy restored from its JSON state (controller weights, Adam's moments, pending rewards) proposes the same
 * sequence as one that never stopped, across controller updates.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/data/rng.js';
import { controllerLoss, initControllerParams, logProbOf, sampleController, type ControllerParams, type ControllerShape } from '../../src/search/nas/controller.js';
import { createSearchStrategy, restoreSearchStrategy } from '../../src/search/nas/strategy.js';

const SHAPE: ControllerShape = { choices: [2, 3, 2], hidden: 4 };

function finiteDifference(kind: 'ppo' | 'pg', params: ControllerParams, batch: Parameters<typeof controllerLoss>[3], name: string, index: number): number {
  const h = 1e-6;
  const shifted = (delta: number): number => {
    const copy = structuredClone(params);
    copy[name]![index]! += delta;
    return controllerLoss(kind, SHAPE, copy, batch, { entropyWeight: 0.01 }).loss;
  };
  return (shifted(h) - shifted(-h)) / (2 * h);
}

for (const kind of ['pg', 'ppo'] as const) {
  test(`${kind} loss gradients equal central finite differences`, () => {
    const rng = new Rng(3);
    const params = initControllerParams(SHAPE, () => rng.next());
    // Scale up so that the policy is far from uniform and ratios leave the clip range.
    for (const values of Object.values(params)) for (let i = 0; i < values.length; i++) values[i]! *= 20;
    const actionsList = [[0, 2, 1], [1, 0, 0], [1, 1, 1], [0, 1, 0]];
    const batch = actionsList.map((actions, i) => {
      const logProb = logProbOf(SHAPE, params, actions);
      // ratios exp(±0.5) ≈ 1.65 / 0.61 fall outside [0.8, 1.2]; exp(±0.05) inside
      const shift = [0.5, -0.5, 0.05, -0.05][i]!;
      return { actions, oldLogProb: logProb - shift, advantage: [1.5, -0.7, 0.9, -1.2][i]! };
    });
    const { grads } = controllerLoss(kind, SHAPE, params, batch, { entropyWeight: 0.01 });
    let checked = 0;
    let nonZero = 0;
    for (const [name, values] of Object.entries(params)) {
      for (const index of [0, Math.floor(values.length / 2), values.length - 1]) {
        const numeric = finiteDifference(kind, params, batch, name, index);
        const analytic = grads[name]![index]!;
        assert.ok(Math.abs(numeric - analytic) <= 1e-6 + 1e-4 * Math.abs(numeric), `${kind} ${name}[${index}]: autograd ${analytic}, finite difference ${numeric}`);
        checked += 1;
        if (Math.abs(analytic) > 1e-6) nonZero += 1;
      }
    }
    assert.ok(nonZero > checked / 3, `${nonZero} of ${checked} gradients are non-zero`);
  });
}

test("a sample's log-probability is the controller's log π of it", () => {
  const rng = new Rng(9);
  const params = initControllerParams(SHAPE, () => rng.next());
  for (let i = 0; i < 5; i++) {
    const { actions, logProb } = sampleController(SHAPE, params, () => rng.next());
    assert.equal(actions.length, 3);
    assert.ok(Math.abs(logProb - logProbOf(SHAPE, params, actions)) < 1e-12);
  }
});

test('a restored PPO strategy continues the same proposals across controller updates', () => {
  const space = { a: [0, 1], b: ['x', 'y', 'z'], c: [true, false] };
  const options = { space, seed: 4, hidden: 8, ppoBatch: 3, ppoEpochs: 2, controllerLearningRate: 0.05 };
  const score = (c: Record<string, unknown>): number => (c.a === 1 ? 1 : 0) + (c.b === 'z' ? 1 : 0) + (c.c ? 0.5 : 0);
  const whole = createSearchStrategy('ppo', options);
  const first: string[] = [];
  let resumed = createSearchStrategy('ppo', options);
  const second: string[] = [];
  for (let i = 0; i < 10; i++) {
    const a = whole.ask();
    whole.tell(a, score(a));
    first.push(JSON.stringify(a));
    const b = resumed.ask();
    resumed.tell(b, score(b));
    second.push(JSON.stringify(b));
    resumed = restoreSearchStrategy(JSON.parse(JSON.stringify(resumed.state())));
  }
  assert.deepEqual(second, first);
  // The controller did learn (three updates): its parameters moved from their initial values.
  const initial = createSearchStrategy('ppo', options).state().controller!.params.bias!;
  const now = whole.state().controller!.params.bias!;
  assert.ok(now.some((v, i) => Math.abs(v - initial[i]!) > 1e-4));
});
