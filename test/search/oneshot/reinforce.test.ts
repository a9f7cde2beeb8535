/**
 * TuNAS's controller for supernet training: the policy's REINFORCE gradient against a central finite difference of
 * its loss, Adam's step against the formula, the learning-rate schedule and its default against TuNAS's total, the
 * filter warm-up, a policy that finds the rewarded choices of a bandit; the supernet's batch-statistics logits
 * against its own training-mode forward (running statistics untouched); a REINFORCE supernet run stopped mid-epoch
 * and resumed equals the uninterrupted run bit for bit; the delay's warm-up paths (progressive phases, or uniform with
 * the largest filters) against the sampling rules (shared weights and the controller's float64 state); bad
 * settings are user errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deriveSeed, Rng } from '../../../src/data/rng.js';
import { isUserError } from '../../../src/errors.js';
import { resolveSearchSpace, type SearchSpaceDocument } from '../../../src/search/nas/space.js';
import type { SearchSpace } from '../../../src/search/nas/strategy.js';
import {
  controllerRate,
  filterWarmupProbability,
  PathPolicy,
  TUNAS_CONTROLLER_RATE,
} from '../../../src/search/oneshot/reinforce.js';
import { ControllerTraining, MOST_LIKELY_FILE, POLICY_FILE, resolveReinforce, withLargestFilters } from '../../../src/search/oneshot/controller-training.js';
import { PATH_SEED_TAG, progressivePath } from '../../../src/search/oneshot/sampling.js';
import { openSupernet, referenceCandidate, trainSupernet } from '../../../src/search/oneshot/train.js';
import { Supernet } from '../../../src/search/oneshot/supernet.js';
import { loadCheckpoint } from '../../../src/model-file/checkpoint.js';
import { randn, setNumThreads, tensor, tidy } from '../../../src/torch/index.js';

const FLAT: SearchSpace = { a: [0, 1, 2], b: ['x', 'y'], c: [true, false, 'z', 4] };

/** The loss −A·log π(a) − c·H(π) of a policy whose logits are `z` (computed from scratch, float64). */
function lossAt(z: number[], sizes: number[], indices: number[], advantage: number, c: number): number {
  let offset = 0;
  let logp = 0;
  let entropy = 0;
  sizes.forEach((n, d) => {
    const row = z.slice(offset, offset + n);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
    logp += row[indices[d]!]! - lse;
    entropy -= row.reduce((s, v) => s + Math.exp(v - lse) * (v - lse), 0);
    offset += n;
  });
  return -advantage * logp - c * entropy;
}

test('the REINFORCE gradient (with the entropy term) equals a central finite difference of the loss', () => {
  const policy = new PathPolicy(FLAT);
  const rng = new Rng(5);
  const z = Array.from({ length: 9 }, () => rng.uniform(-1.5, 1.5));
  const state = policy.pack();
  state.set(z, 2);
  policy.unpack(state);
  const indices = [2, 0, 1];
  for (const c of [0, 0.3]) {
    const g = policy.gradient(indices, 0.7, c);
    for (let i = 0; i < z.length; i++) {
      const h = 1e-6;
      const up = [...z];
      up[i]! += h;
      const down = [...z];
      down[i]! -= h;
      const numeric = (lossAt(up, [3, 2, 4], indices, 0.7, c) - lossAt(down, [3, 2, 4], indices, 0.7, c)) / (2 * h);
      assert.ok(Math.abs(g[i]! - numeric) < 1e-7, `logit ${i} (c ${c}): ${g[i]} vs ${numeric}`);
    }
  }
});

test('a uniform policy: entropy Σ ln n_d, log-probability of any candidate −ln(count), draws cover every choice', () => {
  const policy = new PathPolicy(FLAT);
  assert.ok(Math.abs(policy.entropy() - Math.log(3 * 2 * 4)) < 1e-12);
  assert.ok(Math.abs(policy.logProbability([1, 1, 3]) + Math.log(24)) < 1e-12);
  const rng = new Rng(1);
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 4000; i++) counts[policy.sample(rng).indices[2]!]! += 1;
  for (const count of counts) assert.ok(Math.abs(count - 1000) < 100, `counts ${counts.join(', ')}`);
  assert.deepEqual(policy.candidateOf([2, 1, 2]), { a: 2, b: 'y', c: 'z' });
  assert.deepEqual(policy.indicesOf({ a: 1, b: 'x', c: 4 }), [1, 0, 3]);
});

test("updates: the baseline moves first (the first reward sets it), then one Adam step (beta1 0) as the formula says", () => {
  const policy = new PathPolicy(FLAT);
  const first = policy.update([0, 0, 0], 0.4, { lr: 0.1 });
  assert.deepEqual([first.baseline, first.advantage], [0.4, 0]);
  const before = policy.pack();
  const second = policy.update([1, 0, 3], 0.6, { lr: 0.1 });
  const baseline = 0.95 * 0.4 + 0.05 * 0.6;
  assert.ok(Math.abs(second.baseline - baseline) < 1e-15);
  const advantage = 0.6 - baseline;
  const after = policy.pack();
  assert.equal(after[0], 2);
  // Logits were all 0 (the first update had advantage 0, gradient 0, second moment 0): p uniform.
  const sizes = [3, 2, 4];
  const chosen = [1, 0, 3];
  let k = 2;
  sizes.forEach((n, d) => {
    for (let j = 0; j < n; j++, k++) {
      const g = -advantage * ((j === chosen[d] ? 1 : 0) - 1 / n);
      const v = 0.001 * g * g; // 0.999 · (0.999 · 0 + 0.001 · 0) + 0.001 · g²
      const vHat = v / (1 - 0.999 ** 2);
      const expected = before[k]! - (0.1 * g) / (Math.sqrt(vHat) + 1e-8);
      assert.ok(Math.abs(after[k]! - expected) < 1e-12, `logit ${k - 2}: ${after[k]} vs ${expected}`);
    }
  });
  // lr 0 (the delay): the baseline moves, the logits stay.
  const frozen = policy.pack();
  policy.update([0, 1, 0], 0.9, { lr: 0 });
  assert.deepEqual(Array.from(policy.pack().subarray(2)), Array.from(frozen.subarray(2)));
  assert.notEqual(policy.baseline, second.baseline);
});

test('a policy finds the rewarded choice of every dimension of a noisy bandit', () => {
  const policy = new PathPolicy(FLAT);
  const rng = new Rng(11);
  const best = [2, 1, 0];
  for (let step = 0; step < 1500; step++) {
    const { indices } = policy.sample(rng);
    const reward = indices.reduce((s, j, d) => s + (j === best[d] ? 0.1 : 0), 0) + rng.uniform(-0.05, 0.05);
    policy.update(indices, reward, { lr: 0.02 });
  }
  assert.deepEqual(policy.indicesOf(policy.mostLikely()), best);
  assert.ok(policy.entropy() < 0.5 * Math.log(24), `entropy ${policy.entropy()}`);
});

test("the controller's schedule: frozen before the delay, then x10 exponentially from TuNAS's 0.0048", () => {
  assert.equal(controllerRate(24, 100, 25, 0.01), 0);
  assert.equal(controllerRate(25, 100, 25, 0.01), 0.01);
  assert.ok(Math.abs(controllerRate(99, 100, 25, 0.01) - 0.1) < 1e-15);
  assert.ok(Math.abs(controllerRate(62, 100, 25, 0.01) - 0.01 * 10 ** (37 / 74)) < 1e-15);
  assert.ok(Math.abs(TUNAS_CONTROLLER_RATE - 0.0048) < 1e-15);
  assert.equal(filterWarmupProbability(0, 40), 1);
  assert.equal(filterWarmupProbability(10, 40), 0.75);
  assert.equal(filterWarmupProbability(40, 40), 0);
  assert.equal(filterWarmupProbability(3, 0), 0);
});

const SPACE: SearchSpaceDocument = {
  name: 'tiny',
  base: ['r1_k3_s11_e1_i32_o16', 'r2_k3_s22_e6_i16_o24', 'r2_k5_s22_e6_i24_o40'],
  choices: { op: ['mbconv1', 'mbconv6', 'fused4'], kernel: [3, 5], se: [0, 0.25], skip: ['identity', 'none'], filters: [0.5, 1.0], layers: [-1, 0] },
};

test('batch-statistics logits equal the training-mode forward of the path and leave the running statistics untouched', () => {
  setNumThreads(1);
  const space = resolveSearchSpace(SPACE);
  const supernet = new Supernet(space, { numClasses: 4, resolution: 32, dropout: 0, dropPath: 0 });
  try {
    tidy(() => {
      const path = supernet.pathOf(withLargestFilters(space, referenceCandidate(space)));
      const images = randn([6, 3, 32, 32]);
      const running = () => supernet.namedBuffers().filter(([n]) => n.endsWith('running_mean') || n.endsWith('running_var')).map(([n, t]) => [n, Array.from(t.toFloat32Array())] as const);
      const before = running();
      const logits = supernet.batchStatisticsLogits(images, path).toFloat32Array();
      assert.deepEqual(running(), before);
      supernet.train();
      const reference = supernet.forwardPath(images, path).toFloat32Array();
      for (let i = 0; i < logits.length; i++) assert.ok(Math.abs(logits[i]! - reference[i]!) <= 1e-5 * Math.max(1, Math.abs(reference[i]!)), `logit ${i}`);
      assert.notDeepEqual(running(), before);
    });
  } finally {
    supernet.dispose();
  }
  const filters = withLargestFilters(space, { ...referenceCandidate(space), 's1.filters': 0.5, 's3.filters': 0.5 });
  assert.equal(filters['s1.filters'], 1);
  assert.equal(filters['s3.filters'], 1);
});

test('the delay trains progressive paths (phases over the delay, the reference first), then the policy draws; uniform warm-up forces the largest filters early', () => {
  setNumThreads(1);
  const space = resolveSearchSpace(SPACE);
  const supernet = new Supernet(space, { numClasses: 3, resolution: 32 });
  const rewards = { images: randn([4, 3, 32, 32]), labels: tensor(BigInt64Array.from([0n, 1n, 2n, 0n]), [4], { dtype: 'int64' }) };
  try {
    const reference = referenceCandidate(space);
    const settings = resolveReinforce({ delay: 0.5, rewardBatch: 4 }, 60, 16, 1e6);
    const training = new ControllerTraining(supernet, settings, 7, 60, 32, 3, rewards, reference);
    for (const step of [0, 4, 17, 29]) assert.deepEqual(training.draw(step), progressivePath(space, reference, 7, step, 30), `step ${step}`);
    assert.deepEqual(training.draw(0), reference, 'the first phase is the reference alone');
    const drawn = training.draw(30);
    assert.deepEqual(drawn, training.policy.sample(new Rng(deriveSeed(7, PATH_SEED_TAG, 30))).candidate, 'after the delay: the policy');
    const second = new Supernet(space, { numClasses: 3, resolution: 32 });
    try {
      const uniform = new ControllerTraining(second, resolveReinforce({ delay: 0.5, warmup: 'uniform', filterWarmup: 0.5, rewardBatch: 4 }, 60, 16, 1e6), 7, 60, 32, 3, rewards, reference);
      const forced = uniform.draw(0);
      for (let stage = 1; stage <= 3; stage++) assert.equal(forced[`s${stage}.filters`], 1, 'step 0: probability 1 of the largest filters');
    } finally {
      second.dispose();
    }
  } finally {
    supernet.dispose();
    rewards.images.dispose();
    rewards.labels.dispose();
  }
});

const DATA = 'synthetic:train=96,val=40,classes=3,size=32,seed=2';
const RECIPE = { epochs: 2, optimizer: 'sgd' as const, lr: 0.05, schedule: 'cosine' as const, weightDecay: 5e-4 };

function options(out: string) {
  return {
    space: SPACE,
    data: DATA,
    resolution: 32,
    out,
    recipe: RECIPE,
    batchSize: 16,
    seed: 3,
    workers: 0,
    sampling: 'reinforce' as const,
    reinforce: { delay: 0.5, rewardBatch: 16, lr: 0.05 },
  };
}

test('a REINFORCE supernet run stopped mid-epoch and resumed equals the uninterrupted run bit for bit, controller state included', async () => {
  setNumThreads(1);
  const root = mkdtempSync(join(tmpdir(), 'effnet-reinforce-'));
  try {
    const whole = join(root, 'whole');
    const lines: string[] = [];
    const run = await trainSupernet({ ...options(whole), log: (line) => lines.push(line) });
    assert.equal(run.stopped, false);
    assert.ok(lines.some((l) => /controller frozen \(warm-up\)/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /controller: \d+ updates, mean reward/.test(l)), lines.join('\n'));
    const policy = JSON.parse(readFileSync(join(whole, POLICY_FILE), 'utf8')) as { updates: number; probabilities: Record<string, { p: number }[]> };
    assert.ok(policy.updates > 0);
    for (const choices of Object.values(policy.probabilities)) assert.ok(Math.abs(choices.reduce((s, c) => s + c.p, 0) - 1) < 1e-12);
    assert.ok(existsSync(join(whole, MOST_LIKELY_FILE)));

    const parted = join(root, 'parted');
    assert.equal((await trainSupernet({ ...options(parted), onStep: (step, trainer) => (step === 7 ? trainer.stop() : undefined) })).stopped, true);
    await assert.rejects(
      trainSupernet({ ...options(parted), reinforce: { ...options(parted).reinforce, lr: 0.06 }, resume: true }),
      (e: unknown) => isUserError(e) && /controller's settings differ/.test((e as Error).message),
    );
    await trainSupernet({ ...options(parted), resume: true });
    const a = loadCheckpoint(join(whole, 'last.safetensors'));
    const b = loadCheckpoint(join(parted, 'last.safetensors'));
    try {
      assert.ok(a.model.has('policy.state'));
      for (const [key, tensor] of a.model) assert.deepEqual(b.model.get(key)!.toArray(), tensor.toArray(), key);
    } finally {
      a.dispose();
      b.dispose();
    }
    const { supernet } = openSupernet(whole);
    supernet.dispose();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('bad controller settings are user errors: no warm-up, a filter warm-up past the delay, settings without reinforce', async () => {
  assert.throws(() => resolveReinforce({ delay: 0 }, 100, 16, 1e6), (e: unknown) => isUserError(e) && /needs a warm-up/.test((e as Error).message));
  assert.throws(() => resolveReinforce({ delay: 0.001 }, 100, 16, 1e6), (e: unknown) => isUserError(e) && /at least one step/.test((e as Error).message));
  assert.throws(() => resolveReinforce({ delay: 0.2, filterWarmup: 0.3, warmup: 'uniform' }, 100, 16, 1e6), (e: unknown) => isUserError(e) && /--filter-warmup must be in/.test((e as Error).message));
  assert.throws(() => resolveReinforce({ filterWarmup: 0.1 }, 100, 16, 1e6), (e: unknown) => isUserError(e) && /warm-up of --rl-warmup uniform/.test((e as Error).message));
  assert.throws(() => resolveReinforce({ rewardBatch: 64, rewardImages: 32 }, 100, 16, 1e6), (e: unknown) => isUserError(e) && /larger than --reward-images/.test((e as Error).message));
  const settings = resolveReinforce({}, 400, 16, 2e6);
  assert.equal(settings.delaySteps, 100);
  assert.equal(settings.warmup, 'progressive');
  assert.equal(settings.filterWarmupSteps, 0);
  assert.equal(resolveReinforce({ warmup: 'uniform' }, 400, 16, 2e6).filterWarmupSteps, 100);
  assert.equal(settings.rewardBatch, 16);
  assert.deepEqual(settings.reward, { kind: 'abs', target: 2e6, beta: -0.1, exponent: -0.07 });
  assert.equal(settings.lr, TUNAS_CONTROLLER_RATE);
  const root = mkdtempSync(join(tmpdir(), 'effnet-reinforce-bad-'));
  try {
    await assert.rejects(trainSupernet({ ...options(join(root, 'a')), sampling: 'uniform' }), (e: unknown) => isUserError(e) && /--sampling reinforce only/.test((e as Error).message));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
