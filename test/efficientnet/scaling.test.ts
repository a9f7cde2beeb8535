/**
 * Scaling math: roundFilters/roundRepeats against the reference formulas written out independently (and on
 * hand-checked values), compound multipliers, resolution rounding, the scaled B0 network and bad input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ScalingError,
  compoundMultipliers,
  efficientNetB0Stages,
  flopsGrowthPerPhi,
  roundFilters,
  roundRepeats,
  roundResolution,
  scaleNetwork,
  stochasticDepthRate,
} from '../../src/efficientnet/index.js';

/** TF's round_filters, transcribed literally (Python int() truncation and // floor division). */
function referenceRoundFilters(filters: number, multiplier: number, divisor = 8, minDepth: number | null = null): number {
  const min = minDepth ?? divisor;
  const scaled = filters * multiplier;
  const truncated = Math.trunc(scaled + divisor / 2);
  let newFilters = Math.max(min, (truncated - (((truncated % divisor) + divisor) % divisor)) / divisor * divisor);
  if (newFilters < 0.9 * scaled) newFilters += divisor;
  return Math.trunc(newFilters);
}

test('roundFilters matches hand-checked values', () => {
  assert.equal(roundFilters(32, 1.0), 32);
  assert.equal(roundFilters(32, 1.1), 32); // 35.2 → int(39.2)//8*8 = 32 ≥ 31.68
  assert.equal(roundFilters(1280, 1.1), 1408);
  assert.equal(roundFilters(320, 1.1), 352);
  assert.equal(roundFilters(16, 1.4), 24); // 22.4 → 24
  assert.equal(roundFilters(40, 1.2), 48);
  assert.equal(roundFilters(112, 1.4), 160); // 156.8 → int(160.8)//8*8 = 160
  assert.equal(roundFilters(320, 2.0), 640);
  assert.equal(roundFilters(1280, 4.3), 5504);
  assert.equal(roundFilters(4, 1), 8); // minimum is the divisor
  assert.equal(roundFilters(11, 1), 16); // 11 → int(15)//8*8 = 8 < 9.9 → 16 (the 90% rule)
  assert.equal(roundFilters(100, 1, 8, 128), 128);
  assert.equal(roundFilters(100, 1, 16), 96); // int(108)//16*16 = 96 ≥ 90
  assert.equal(roundFilters(50, 1, 32), 64); // int(66)//32*32 = 64
  assert.equal(roundFilters(36, 1, 32), 64); // int(52)//32*32 = 32 < 32.4 → 64
});

test('roundFilters equals the reference formula on many values', () => {
  let checked = 0;
  for (let channels = 1; channels <= 1500; channels += 7) {
    for (let w = 0.05; w <= 5; w += 0.0371) {
      for (const divisor of [8, 4, 16]) {
        assert.equal(roundFilters(channels, w, divisor), referenceRoundFilters(channels, w, divisor), `${channels} × ${w} / ${divisor}`);
        checked += 1;
      }
    }
  }
  for (const [c, w, min] of [[32, 0.1, 16], [16, 0.25, 4], [320, 0.3, 128]] as const) {
    assert.equal(roundFilters(c, w, 8, min), referenceRoundFilters(c, w, 8, min));
  }
  assert.ok(checked > 50000);
});

test('roundRepeats is ceil(d · r)', () => {
  assert.equal(roundRepeats(1, 1.1), 2);
  assert.equal(roundRepeats(3, 1.1), 4);
  assert.equal(roundRepeats(2, 1.0), 2);
  assert.equal(roundRepeats(4, 3.1), 13);
  assert.equal(roundRepeats(3, 0.3), 1);
  for (let r = 1; r <= 12; r += 1) {
    for (let d = 0.1; d < 6; d += 0.013) assert.equal(roundRepeats(r, d), Math.ceil(d * r));
  }
});

test('compound multipliers are α^φ, β^φ, γ^φ', () => {
  const m = compoundMultipliers(1);
  assert.deepEqual(m, { depth: 1.2, width: 1.1, resolution: 1.15 });
  const k = compoundMultipliers(2.5, { alpha: 1.3, beta: 1.05, gamma: 1.2 });
  assert.ok(Math.abs(k.depth - Math.exp(2.5 * Math.log(1.3))) < 1e-12);
  assert.ok(Math.abs(k.width - Math.exp(2.5 * Math.log(1.05))) < 1e-12);
  assert.ok(Math.abs(k.resolution - Math.exp(2.5 * Math.log(1.2))) < 1e-12);
  assert.deepEqual(compoundMultipliers(0, { alpha: 7 }), { depth: 1, width: 1, resolution: 1 });
  assert.ok(Math.abs(flopsGrowthPerPhi() - 1.2 * 1.1 ** 2 * 1.15 ** 2) < 1e-12);
  assert.ok(Math.abs(flopsGrowthPerPhi() - 1.92) < 0.01);
});

test('resolution rounding: nearest multiple of 4 by default', () => {
  assert.equal(roundResolution(224 * 1.15 ** 0.5), 240); // B1's resolution
  assert.equal(roundResolution(257.6), 256);
  assert.equal(roundResolution(258), 260);
  assert.equal(roundResolution(250, 32), 256);
  assert.equal(roundResolution(1), 4);
});

test('scaled B0 network: channels, blocks, residuals and stochastic depth indices', () => {
  const net = scaleNetwork(efficientNetB0Stages());
  assert.equal(net.stemChannels, 32);
  assert.equal(net.headChannels, 1280);
  assert.equal(net.blockCount, 16);
  assert.equal(net.totalStride, 32);
  const first = net.stages[0]!.blocks[0]!;
  assert.deepEqual(
    { mid: first.midChannels, expand: first.hasExpansion, se: first.seChannels, res: first.hasResidual },
    { mid: 32, expand: false, se: 8, res: false },
  );
  const stage2 = net.stages[1]!;
  assert.deepEqual(stage2.blocks.map((b) => [b.inChannels, b.midChannels, b.outChannels, b.stride, b.seChannels, b.hasResidual]), [
    [16, 96, 24, 2, 4, false],
    [24, 144, 24, 1, 6, true],
  ]);
  const all = net.stages.flatMap((s) => s.blocks);
  assert.deepEqual(all.map((b) => b.index), [...Array(16).keys()]);
  assert.equal(stochasticDepthRate(all[0]!, net), 0);
  assert.ok(Math.abs(stochasticDepthRate(all[8]!, net) - 0.1) < 1e-15);

  const b7 = scaleNetwork(efficientNetB0Stages(), { width: 2.0, depth: 3.1 });
  assert.deepEqual(b7.stages.map((s) => s.repeats), [4, 7, 7, 10, 10, 13, 4]);
  assert.deepEqual(b7.stages.map((s) => s.outChannels), [32, 48, 80, 160, 224, 384, 640]);
  assert.equal(b7.stemChannels, 64);
  assert.equal(b7.headChannels, 2560);
  const noskip = scaleNetwork([{ ...efficientNetB0Stages()[4]!, inChannels: 32, skip: false }]);
  assert.ok(noskip.stages[0]!.blocks.every((b) => !b.hasResidual));
});

test('bad multipliers are refused', () => {
  for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => roundFilters(32, bad), ScalingError);
    assert.throws(() => roundRepeats(2, bad), /depth multiplier must be a finite number > 0/);
    assert.throws(() => scaleNetwork(efficientNetB0Stages(), { width: bad }), /width multiplier must be a finite number > 0/);
    assert.throws(() => compoundMultipliers(1, { gamma: bad }), /γ \(resolution base\) must be a finite number > 0/);
  }
  assert.throws(() => compoundMultipliers(Number.NaN), /φ must be a finite number/);
  assert.throws(() => roundFilters(32, 1, 0), /channel divisor must be an integer/);
  assert.throws(() => roundRepeats(0, 1), /repeats must be an integer/);
});
