/** The MAC-budget solver: hits targets within the rounding's reach, keeps a tight bracket, refuses the unreachable. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compoundConfig, networkSpec, profileNetwork, solveForMacs } from '../../src/efficientnet/index.js';

test('solver hits targets within 2% where the rounding allows, with the default α, β, γ', () => {
  for (const target of [0.1e9, 1.0e9, 1.8e9, 4e9, 10e9]) {
    const result = solveForMacs({ targetMacs: target });
    assert.ok(Math.abs(result.relativeError) < 0.02, `target ${target}: got ${result.macs} (${(result.relativeError * 100).toFixed(2)}%)`);
    // the returned configuration really has the reported MACs
    const profile = profileNetwork(networkSpec(result.config), { imageSize: result.config.resolution });
    assert.equal(profile.macs, result.macs);
    assert.equal(profile.params, result.params);
    assert.deepEqual(result.config, compoundConfig({ phi: result.phi }));
    // the ≈2^φ rule lands within one step of φ of the exact answer
    assert.ok(Math.abs(result.estimatedPhi - result.phi) < 1.1, `estimate ${result.estimatedPhi} vs ${result.phi}`);
  }
});

test('B0 target returns B0; a target on a rounding jump returns the nearer side of a tight bracket', () => {
  const b0 = solveForMacs({ targetMacs: 385_814_752 });
  assert.equal(b0.macs, 385_814_752);
  assert.deepEqual([b0.config.width.toFixed(2), b0.config.depth.toFixed(2), b0.config.resolution], ['1.00', '1.00', 224]);

  // Just above φ = 0 every single-block stage becomes two blocks (ceil): MACs jump from 0.386B to 0.57B.
  const jump = solveForMacs({ targetMacs: 0.5e9 });
  const { below, above } = jump.bracket;
  assert.ok(below.macs <= 0.5e9 && above.macs > 0.5e9);
  assert.ok(above.phi - below.phi < 1e-9);
  assert.equal(jump.macs, Math.abs(below.macs - 0.5e9) <= Math.abs(above.macs - 0.5e9) ? below.macs : above.macs);
});

test('custom α, β, γ: resolution-only scaling', () => {
  const result = solveForMacs({ targetMacs: 1.8e9, alpha: 1, beta: 1, gamma: 1.15 });
  assert.equal(result.config.width, 1);
  assert.equal(result.config.depth, 1);
  assert.ok(Math.abs(result.relativeError) < 0.02, `${result.relativeError}`);
  assert.ok(result.config.resolution > 224);
});

test('unreachable targets and degenerate coefficients are refused', () => {
  assert.throws(() => solveForMacs({ targetMacs: 1e16 }), /outside what φ in \[.*\] reaches/);
  assert.throws(() => solveForMacs({ targetMacs: 1e3 }), /outside what φ/);
  assert.throws(() => solveForMacs({ targetMacs: 1e9, alpha: 1, beta: 1, gamma: 1 }), /do not grow the network/);
  assert.throws(() => solveForMacs({ targetMacs: -5 }), /target MACs must be a finite number > 0/);
  assert.throws(() => solveForMacs({ targetMacs: 1e9, phiRange: [3, 1] }), /low < high/);
  assert.throws(() => solveForMacs({ targetMacs: 1e9, beta: Number.NaN }), /β \(width base\)/);
});
