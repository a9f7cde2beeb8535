/**
 * MAC matching: for every strategy and factor 2, 4, 8 the matched configuration's profiled MACs (recomputed here
 * with the profiler on the returned configuration) are within 5% of factor × base MACs, only the strategy's own
 * dimensions moved, and an unreachable tolerance gives a clear error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { networkSpec, profileNetwork, efficientNetB0Stages } from '../../src/efficientnet/index.js';
import { MatchError, PAPER_COEFFICIENTS, SCALING_STRATEGIES, matchMacsFactor, matchTarget, scaleBase } from '../../src/search/match.js';
import type { ScaledConfigJson } from '../../src/card/config-file.js';

function macs(config: ScaledConfigJson, numClasses: number): number {
  return profileNetwork(networkSpec(config, efficientNetB0Stages()), { imageSize: config.resolution, numClasses }).macs;
}

const bases: { name: string; base: ScaledConfigJson; numClasses: number }[] = [
  { name: 'tiny (w0.25 d0.2 32px, 10 classes)', base: { width: 0.25, depth: 0.2, resolution: 32, dropout: 0.2 }, numClasses: 10 },
  { name: 'b0 (1000 classes)', base: { width: 1, depth: 1, resolution: 224, dropout: 0.2 }, numClasses: 1000 },
];

for (const { name, base, numClasses } of bases) {
  test(`${name}: every strategy at factors 2, 4, 8 within 5% of the MAC target`, () => {
    const baseMacs = macs(base, numClasses);
    for (const strategy of SCALING_STRATEGIES) {
      for (const factor of [2, 4, 8]) {
        const match = matchMacsFactor(base, strategy, factor, { numClasses });
        const measured = macs(match.config, numClasses);
        assert.equal(measured, match.macs);
        const error = Math.abs(measured / (factor * baseMacs) - 1);
        assert.ok(error <= 0.05, `${strategy} x${factor}: ${measured} vs ${factor * baseMacs} (${(error * 100).toFixed(2)}%)`);
        const c = match.config;
        if (strategy === 'depth') assert.deepEqual([c.width, c.resolution], [base.width, base.resolution]);
        if (strategy === 'width') assert.deepEqual([c.depth, c.resolution], [base.depth, base.resolution]);
        if (strategy === 'resolution') assert.deepEqual([c.width, c.depth], [base.width, base.depth]);
        if (strategy === 'compound') {
          const phi = match.multiplier;
          assert.ok(Math.abs(c.depth - base.depth * PAPER_COEFFICIENTS.alpha ** phi) < 1e-9);
          assert.ok(Math.abs(c.width - base.width * PAPER_COEFFICIENTS.beta ** phi) < 1e-9);
          assert.equal(c.resolution, Math.round(base.resolution * PAPER_COEFFICIENTS.gamma ** phi));
        }
      }
    }
  });
}

test('depth is a step function: the match lands on the nearer of the two adjacent steps', () => {
  const base = { width: 0.25, depth: 0.2, resolution: 32, dropout: 0.2 };
  const match = matchMacsFactor(base, 'depth', 3, { numClasses: 10 });
  const target = 3 * macs(base, 10);
  // Nudging the depth multiplier a little either way never gets closer to the target.
  for (const nudge of [0.9, 0.95, 0.98, 1.02, 1.05, 1.1]) {
    const other = macs({ ...match.config, depth: match.config.depth * nudge }, 10);
    assert.ok(Math.abs(other - target) >= Math.abs(match.macs - target), `depth x${nudge}: ${other} is closer to ${target} than ${match.macs}`);
  }
});

test('a tolerance the rounding steps cannot meet is a clear error naming the two nearest costs', () => {
  // At 32px, compound scaling jumps from ~1.05x to ~2.1x MACs when the input grows from 32 to 33 pixels.
  const base = { width: 0.25, depth: 0.25, resolution: 32, dropout: 0.2 };
  assert.throws(() => matchMacsFactor(base, 'compound', 2, { numClasses: 10, maxRelativeError: 0.05 }), (e: unknown) => e instanceof MatchError && /nearest configurations have \d+ and \d+ macs/.test(e.message));
  assert.throws(() => matchTarget(base, { strategy: 'resolution', metric: 'params', target: 1e6 }), /resolution scaling does not change params/);
  assert.throws(() => matchMacsFactor(base, 'compound', 2, { coefficients: { alpha: 0.9, beta: 1.1, gamma: 1.1 } }), /compound scaling needs alpha ≥ 1/);
});

test('steep compound coefficients are matched within the same x64 range as one dimension (no 2^24 x the repeats)', () => {
  // α = 2, β = γ = 1 is depth-only scaling in compound form: the same network as the depth strategy's match. Before
  // φ's range followed the steepest base, the bisection's first bound profiled depth x 2^24 and ran out of memory.
  const base = { width: 0.25, depth: 1.5, resolution: 32, dropout: 0.2 };
  const started = performance.now();
  const compound = matchMacsFactor(base, 'compound', 2, { numClasses: 10, coefficients: { alpha: 2, beta: 1, gamma: 1 }, maxRelativeError: 0.1 });
  const depth = matchMacsFactor(base, 'depth', 2, { numClasses: 10, maxRelativeError: 0.1 });
  assert.equal(compound.macs, depth.macs);
  assert.equal(compound.params, depth.params);
  assert.ok(performance.now() - started < 10_000, 'a few hundred profiles, not millions of layers');
  // A target beyond 64 x the steepest dimension is out of range, said so.
  assert.throws(() => matchMacsFactor(base, 'compound', 1e6, { numClasses: 10, coefficients: { alpha: 2, beta: 1, gamma: 1 } }), /compound scaling cannot reach/);
});

test('scaleBase applies α to depth, β to width, γ to resolution', () => {
  const c = scaleBase({ width: 0.5, depth: 0.5, resolution: 64, dropout: 0.1 }, { alpha: 1.2, beta: 1.1, gamma: 1.15 });
  assert.deepEqual(c, { width: 0.55, depth: 0.6, resolution: 74, dropout: 0.1 });
});

test('the proposed CIFAR proxy base (docs/scaling.md) matches every strategy at 2, 4, 8 within 5%', async () => {
  const { resolveBase } = await import('../../src/card/config-file.js');
  const { profileConfig } = await import('../../src/search/match.js');
  const base = resolveBase('width=0.25,depth=0.7,resolution=32,stages=small');
  assert.equal(base.stages?.length, 7);
  const baseMacs = profileConfig(base, { numClasses: 10 }).macs;
  for (const strategy of SCALING_STRATEGIES) {
    for (const factor of [2, 4, 8]) {
      const match = matchMacsFactor(base, strategy, factor, { numClasses: 10 });
      assert.deepEqual(match.config.stages, base.stages, 'the stages stay fixed while scaling');
      assert.ok(Math.abs(profileConfig(match.config, { numClasses: 10 }).macs / (factor * baseMacs) - 1) <= 0.05, `${strategy} x${factor}`);
    }
  }
});
