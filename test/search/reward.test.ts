/**
 * The three rewards against values computed by hand (written out below, not by the code under test), the proxy
 * target, and the refusal of unknown rewards and targets ≤ 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeReward, proxyTarget, resolveRewardSpec } from '../../src/search/nas/reward.js';
import { SearchSpaceError } from '../../src/search/nas/strategy.js';

const T = 400e6;

test('soft: ACC·(c/T)^-0.07 on both sides of the target', () => {
  // 0.8 · 2^-0.07 = 0.8 · 0.952638... = 0.762110...; 0.8 · 0.5^-0.07 = 0.8 · 1.049717... = 0.839773...
  assert.ok(Math.abs(computeReward({ kind: 'soft', target: T }, 0.8, 800e6) - 0.7621104) < 1e-6);
  assert.ok(Math.abs(computeReward({ kind: 'soft', target: T }, 0.8, 200e6) - 0.8397739) < 1e-6);
  assert.equal(computeReward({ kind: 'soft', target: T }, 0.8, T), 0.8);
  // MnasNet's reading: 5% more accuracy is worth about twice the cost (1.05 · 2^-0.07 ≈ 1.0003).
  const twiceTheCost = computeReward({ kind: 'soft', target: T }, 0.84, 800e6);
  assert.ok(Math.abs(twiceTheCost - 0.8) < 0.001, `${twiceTheCost}`);
});

test('hard: ACC at or below the target, ACC·T/c above it', () => {
  assert.equal(computeReward({ kind: 'hard', target: T }, 0.7, 100e6), 0.7);
  assert.equal(computeReward({ kind: 'hard', target: T }, 0.7, T), 0.7);
  assert.ok(Math.abs(computeReward({ kind: 'hard', target: T }, 0.7, 500e6) - 0.56) < 1e-12); // 0.7 · 400/500
});

test('abs: ACC + β·|c/T − 1| with β = −0.1, penalising both sides', () => {
  assert.ok(Math.abs(computeReward({ kind: 'abs', target: T }, 0.7, 500e6) - 0.675) < 1e-12); // 0.7 − 0.1 · 0.25
  assert.ok(Math.abs(computeReward({ kind: 'abs', target: T }, 0.7, 300e6) - 0.675) < 1e-12); // 0.7 − 0.1 · 0.25
  assert.ok(Math.abs(computeReward({ kind: 'abs', target: T, beta: -0.5 }, 0.7, 600e6) - 0.45) < 1e-12);
});

test('the proxy target puts the base where B0 sits relative to 400M', () => {
  // B0 at 224 has 390,315,964 MACs (0.39B); at a proxy where it costs 25M, the target is 25M · 400/390.316.
  assert.ok(Math.abs(proxyTarget(25e6, 390_315_964) - (25e6 * 400e6) / 390_315_964) < 1e-3);
});

test('unknown rewards, targets ≤ 0 and accuracies outside [0, 1] are refused', () => {
  const cases: [() => unknown, RegExp][] = [
    [() => resolveRewardSpec({ kind: 'mnas', target: T }), /unknown reward 'mnas'; choose one of soft, hard, abs/],
    [() => resolveRewardSpec({ kind: 'soft', target: 0 }), /target cost must be a number > 0/],
    [() => resolveRewardSpec({ kind: 'soft', target: -5 }), /target cost must be a number > 0/],
    [() => computeReward({ kind: 'soft', target: T }, 1.5, T), /accuracy must be a fraction/],
    [() => computeReward({ kind: 'soft', target: T }, 0.5, 0), /cost must be a finite number > 0/],
  ];
  for (const [run, pattern] of cases) assert.throws(run, (e: Error) => e instanceof SearchSpaceError && pattern.test(e.message), String(pattern));
});
