/**
 * Batch-norm folding against the formula, computed independently per element: conv weight W, bias b, BN (γ, β, μ,
 * σ², ε) → W·γ/√(σ²+ε) and β + (b − μ)·γ/√(σ²+ε); absent bias and affine parameters; mismatched layers refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { foldBatchNorm } from '../../src/export/index.js';

test('foldBatchNorm follows the formula, with and without conv bias and BN affine parameters', () => {
  const weight = Float32Array.from([1, -2, 0.5, 3, 0.25, -1]); // 2 output channels x 3
  const bn = {
    weight: Float32Array.from([2, 0.5]),
    bias: Float32Array.from([0.1, -0.3]),
    runningMean: Float32Array.from([0.2, -1]),
    runningVar: Float32Array.from([4, 0.25]),
    eps: 1e-3,
  };
  const folded = foldBatchNorm({ weight, bias: Float32Array.from([1, 2]), outChannels: 2 }, bn);
  for (let c = 0; c < 2; c++) {
    const s = bn.weight[c]! / Math.sqrt(bn.runningVar[c]! + bn.eps);
    for (let i = 0; i < 3; i++) assert.ok(Math.abs(folded.weight[c * 3 + i]! - weight[c * 3 + i]! * s) < 1e-6);
    assert.ok(Math.abs(folded.bias[c]! - (bn.bias[c]! + ([1, 2][c]! - bn.runningMean[c]!) * s)) < 1e-6);
  }
  const plain = foldBatchNorm({ weight, bias: null, outChannels: 2 }, { ...bn, weight: null, bias: null });
  const s0 = 1 / Math.sqrt(4 + 1e-3);
  assert.ok(Math.abs(plain.weight[0]! - s0) < 1e-7);
  assert.ok(Math.abs(plain.bias[0]! - -0.2 * s0) < 1e-7);
  assert.deepEqual(Array.from(weight), [1, -2, 0.5, 3, 0.25, -1], 'inputs are not changed');
});

test('foldBatchNorm refuses a batch norm of another width', () => {
  assert.throws(
    () => foldBatchNorm({ weight: new Float32Array(6), bias: null, outChannels: 2 }, { weight: null, bias: null, runningMean: new Float32Array(3), runningVar: new Float32Array(3), eps: 1e-5 }),
    /batch norm has 3 channels but the convolution has 2 outputs/,
  );
});
