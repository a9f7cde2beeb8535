/**
 * The ask/tell search strategies: bad input is refused; random sampling covers every choice (chi-square on 10,000
 * samples); a mutation changes exactly one choice; REINFORCE's update is lr · advantage / σ · ∇ log π, checked against
 * central finite differences of log π; a strategy restored from its JSON state proposes the same sequence as one
 * that never stopped; and on an objective with a known optimum (a seeded additive score per choice plus noise, the
 * same ask/tell code the architecture search uses) evolution and REINFORCE beat random search on the mean best
 * score over 100 seeds by more than 3 standard errors at 100 and 200 trials.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/data/rng.js';
import { additiveObjective, cellSpace, compareStrategies, enumerateCandidates, meanOf, mnasLikeSpace, sdOf, smallInteractingSpace, standardErrorsAbove, syntheticObjective, type AdditiveObjective } from '../../src/search/nas/synthetic.js';
import {
  createSearchStrategy,
  mutateCandidate,
  randomCandidate,
  restoreSearchStrategy,
  SearchSpaceError,
  softmaxOf,
  type Candidate,
  type SearchSpace,
} from '../../src/search/nas/strategy.js';

const SPACE: SearchSpace = { a: [0, 1], b: ['x', 'y', 'z'], c: [true, false], d: [3, 5, 7, 9], fixed: ['only'] };

test('bad spaces, names, options, candidates and rewards are refused with the reason', () => {
  const cases: [() => unknown, RegExp][] = [
    [() => createSearchStrategy('random', { space: {}, seed: 0 }), /search space is empty/],
    [() => createSearchStrategy('random', { space: { a: [] }, seed: 0 }), /dimension 'a' has no choices/],
    [() => createSearchStrategy('random', { space: { a: [1, 1] }, seed: 0 }), /lists a choice twice/],
    [() => createSearchStrategy('random', { space: { a: [Number.NaN] }, seed: 0 }), /not a finite number/],
    [() => createSearchStrategy('annealing', { space: SPACE, seed: 0 }), /unknown search strategy 'annealing'; choose one of random, evolution, reinforce/],
    [() => createSearchStrategy('evolution', { space: SPACE, seed: 0, population: 4, sampleSize: 5 }), /sampleSize 5 exceeds population 4/],
    [() => createSearchStrategy('reinforce', { space: SPACE, seed: 0, learningRate: 0 }), /learningRate must be > 0/],
  ];
  for (const [run, pattern] of cases) assert.throws(run, (e: Error) => e instanceof SearchSpaceError && pattern.test(e.message), String(pattern));
  const strategy = createSearchStrategy('evolution', { space: SPACE, seed: 0 });
  const candidate = strategy.ask();
  assert.throws(() => strategy.tell({ ...candidate, b: 'w' }, 1), /'b' is "w", not one of \["x","y","z"\]/);
  assert.throws(() => strategy.tell({ ...candidate, extra: 1 }, 1), /dimensions the space does not: extra/);
  assert.throws(() => strategy.tell(candidate, Number.NaN), /reward must be a finite number/);
});

test('random sampling covers every choice uniformly (chi-square, 10,000 samples, p > 0.001)', () => {
  const strategy = createSearchStrategy('random', { space: SPACE, seed: 3 });
  const counts: Record<string, Map<unknown, number>> = Object.fromEntries(Object.keys(SPACE).map((d) => [d, new Map()]));
  const n = 10_000;
  for (let i = 0; i < n; i++) {
    const candidate = strategy.ask();
    for (const [d, v] of Object.entries(candidate)) counts[d]!.set(v, (counts[d]!.get(v) ?? 0) + 1);
  }
  // Critical values of chi-square at p = 0.001 for 1, 2 and 3 degrees of freedom.
  const critical: Record<number, number> = { 1: 10.828, 2: 13.816, 3: 16.266 };
  for (const [d, choices] of Object.entries(SPACE)) {
    assert.equal(counts[d]!.size, choices.length, `${d}: every choice appears`);
    if (choices.length < 2) continue;
    const expected = n / choices.length;
    const chi2 = choices.reduce<number>((sum, c) => sum + (counts[d]!.get(c)! - expected) ** 2 / expected, 0);
    assert.ok(chi2 < critical[choices.length - 1]!, `${d}: chi-square ${chi2.toFixed(2)} with ${choices.length - 1} degrees of freedom`);
  }
});

test('a mutation changes exactly one choice, never of a one-choice dimension, to another valid choice', () => {
  const rng = new Rng(4);
  const changed = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const parent = randomCandidate(SPACE, rng);
    const child = mutateCandidate(SPACE, parent, rng);
    const differing = Object.keys(SPACE).filter((d) => child[d] !== parent[d]);
    assert.equal(differing.length, 1);
    assert.ok(SPACE[differing[0]!]!.includes(child[differing[0]!]!));
    changed.add(differing[0]!);
  }
  assert.deepEqual([...changed].sort(), ['a', 'b', 'c', 'd']);
});

test('REINFORCE moves the logits by lr · (reward − baseline) / σ · ∇ log π (σ the running deviation of rewards), as central finite differences give it', () => {
  const lr = 0.05;
  const strategy = createSearchStrategy('reinforce', { space: SPACE, seed: 5, learningRate: lr, baselineMomentum: 0.8 });
  // Move the logits off zero first, so that the check is not at the uniform point.
  for (let i = 0; i < 30; i++) {
    const c = strategy.ask();
    strategy.tell(c, (c.a === 1 ? 1 : 0) + Number(c.d) / 9);
  }
  const before = strategy.state();
  const candidate = strategy.ask();
  const reward = 2.5;
  strategy.tell(candidate, reward);
  const after = strategy.state();
  const deviation = reward - before.baseline!;
  assert.ok(before.rewardVariance! > 0);
  const advantage = deviation / Math.sqrt(before.rewardVariance!);
  assert.ok(Math.abs(after.baseline! - (0.8 * before.baseline! + 0.2 * reward)) < 1e-12, 'the EMA baseline');
  assert.ok(Math.abs(after.rewardVariance! - (0.8 * before.rewardVariance! + 0.2 * deviation * deviation)) < 1e-12, 'the EMA of squared deviations');
  const logProb = (logits: Record<string, number[]>): number =>
    Object.entries(SPACE).reduce((sum, [d, choices]) => sum + Math.log(softmaxOf(logits[d]!)[choices.indexOf(candidate[d]!)]!), 0);
  const h = 1e-6;
  for (const [d, logits] of Object.entries(before.logits!)) {
    logits.forEach((_, i) => {
      const plus = structuredClone(before.logits!);
      const minus = structuredClone(before.logits!);
      plus[d]![i]! += h;
      minus[d]![i]! -= h;
      const gradient = (logProb(plus) - logProb(minus)) / (2 * h);
      const step = after.logits![d]![i]! - logits[i]!;
      assert.ok(Math.abs(step - lr * advantage * gradient) < 1e-8, `${d}[${i}]: step ${step}, lr·A·∂logπ ${lr * advantage * gradient}`);
    });
  }
});

const objective = (seed: number, space: SearchSpace): AdditiveObjective => additiveObjective(seed, space);

test('a strategy restored from its JSON state proposes exactly what the uninterrupted one proposes', () => {
  for (const name of ['random', 'evolution', 'reinforce'] as const) {
    const { noisy } = objective(1, SPACE);
    const whole = createSearchStrategy(name, { space: SPACE, seed: 9, population: 8, sampleSize: 3 });
    const first = createSearchStrategy(name, { space: SPACE, seed: 9, population: 8, sampleSize: 3 });
    const rewards: number[] = [];
    const proposals: Candidate[] = [];
    for (let i = 0; i < 40; i++) {
      const c = whole.ask();
      proposals.push(c);
      rewards.push(noisy(c));
      whole.tell(c, rewards[i]!);
    }
    for (let i = 0; i < 20; i++) first.tell(first.ask(), rewards[i]!);
    const resumed = restoreSearchStrategy(JSON.parse(JSON.stringify(first.state())));
    for (let i = 20; i < 40; i++) {
      const c = resumed.ask();
      assert.deepEqual(c, proposals[i], `${name}: proposal ${i} after the restore`);
      resumed.tell(c, rewards[i]!);
    }
    assert.deepEqual(resumed.state(), whole.state(), `${name}: the same state at the end`);
  }
});

test('sample efficiency: evolution and REINFORCE beat random search by > 3 standard errors at 100 and 200 trials', () => {
  const budgets = [50, 100, 200];
  const [random, ...others] = compareStrategies(mnasLikeSpace(), [{ name: 'random' }, { name: 'evolution' }, { name: 'reinforce' }], budgets, 100);
  const lines: string[] = [];
  budgets.forEach((budget, at) => {
    const base = random!.bestScores[at]!;
    for (const { label, bestScores } of others) {
      const ours = bestScores[at]!;
      const z = standardErrorsAbove(ours, base);
      lines.push(`${budget} trials: ${label} ${meanOf(ours).toFixed(3)} vs random ${meanOf(base).toFixed(3)} (difference ${z.toFixed(1)} standard errors)`);
      if (budget >= 100) assert.ok(z > 3, `${label} at ${budget} trials: ${z.toFixed(2)} standard errors over random`);
    }
  });
  console.log(lines.join('\n'));
});

test('interacting objectives: their optimum is the best score over every candidate, and on the cell objective no default strategy searches worse than random at 100 trials', () => {
  // Two stages of the small interacting space (1,296 candidates) and the cell space (15,625), brute force over objects.
  const small = Object.fromEntries(Object.entries(smallInteractingSpace()).filter(([d]) => d.startsWith('s0.') || d.startsWith('s1.')));
  for (const [kind, space] of [['pairwise', small], ['conditional', small], ['higher-order', small], ['cell', cellSpace()]] as const) {
    const objective = syntheticObjective(kind, 11, space);
    let best = -Infinity;
    for (const c of enumerateCandidates(space)) best = Math.max(best, objective.score(c));
    assert.ok(Math.abs(best - objective.optimum) < 1e-9, `${kind}: optimum ${objective.optimum} vs brute force ${best}`);
  }
  assert.throws(() => syntheticObjective('pairwise', 0, mnasLikeSpace()), /at most 2000000 candidates/);
  const budgets = [50, 100, 200];
  const [random, ...others] = compareStrategies(cellSpace(), [{ name: 'random' }, { name: 'evolution' }, { name: 'reinforce' }], budgets, 100, 0.3, 'cell');
  for (const { label, bestScores } of others) {
    const z = standardErrorsAbove(bestScores[1]!, random!.bestScores[1]!);
    // REINFORCE with raw advantages (before rewards were scaled by their running deviation) was 2.1 below random here.
    assert.ok(z > 3, `${label} at 100 trials on the cell objective: ${z.toFixed(2)} standard errors over random`);
  }
});

test('the additive objective: its optimum is the best choice per dimension, and the noise has the given spread', () => {
  const space = mnasLikeSpace();
  const { score, noisy, optimum } = additiveObjective(3, space, 0.3);
  // Brute force per dimension (the score is additive): the best choice of each dimension, varying one at a time.
  const base = Object.fromEntries(Object.entries(space).map(([d, choices]) => [d, choices[0]!]));
  let best: number;
  const argmax = { ...base };
  for (const [d, choices] of Object.entries(space)) {
    for (const choice of choices) {
      const gain = score({ ...argmax, [d]: choice }) - score(argmax);
      if (gain > 0) argmax[d] = choice;
    }
  }
  best = score(argmax);
  assert.ok(Math.abs(best - optimum) < 1e-12, `argmax ${best} vs optimum ${optimum}`);
  const readings = Array.from({ length: 4000 }, () => noisy(argmax) - best);
  assert.ok(Math.abs(meanOf(readings)) < 0.03, `noise mean ${meanOf(readings)}`);
  assert.ok(Math.abs(sdOf(readings) - 0.3) < 0.02, `noise sd ${sdOf(readings)}`);
});
