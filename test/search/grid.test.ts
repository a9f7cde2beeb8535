/**
 * Grid enumeration against an independent brute force: a naive triple loop over a wider range of grid indices with
 * exact rational arithmetic (BigInt), so the reference has no floating-point rounding at all; plus the errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GridError, enumerateGrid } from '../../src/search/grid.js';

/** Exact reference: step = num/den, values (den + k·num)/den, constraint |α·β²·γ² − T| ≤ tol with T, tol rationals. */
function bruteForce(stepNum: bigint, stepDen: bigint, target: [bigint, bigint], tol: [bigint, bigint], maxIndex: number): [number, number, number][] {
  const out: [number, number, number][] = [];
  const den5 = stepDen ** 5n;
  for (let a = 0; a <= maxIndex; a++) {
    for (let b = 0; b <= maxIndex; b++) {
      for (let g = 0; g <= maxIndex; g++) {
        const A = stepDen + BigInt(a) * stepNum;
        const B = stepDen + BigInt(b) * stepNum;
        const G = stepDen + BigInt(g) * stepNum;
        // product = A·B²·G² / den⁵; compare |product − t/td| ≤ tol/told exactly by cross-multiplying.
        const product = A * B * B * G * G;
        const diff = product * target[1] - target[0] * den5; // (product/den5 − t/td) · den5 · td
        const absDiff = diff < 0n ? -diff : diff;
        if (absDiff * tol[1] <= tol[0] * den5 * target[1]) out.push([a, b, g]);
      }
    }
  }
  return out;
}

function indices(points: { alpha: number; beta: number; gamma: number }[], step: number): [number, number, number][] {
  return points.map((p) => [Math.round((p.alpha - 1) / step), Math.round((p.beta - 1) / step), Math.round((p.gamma - 1) / step)]);
}

const cases: { step: number; frac: [bigint, bigint]; tolerance: number; tolFrac: [bigint, bigint]; target: number; targetFrac: [bigint, bigint] }[] = [
  { step: 0.05, frac: [1n, 20n], tolerance: 0.1, tolFrac: [1n, 10n], target: 2, targetFrac: [2n, 1n] },
  { step: 0.1, frac: [1n, 10n], tolerance: 0.05, tolFrac: [1n, 20n], target: 2, targetFrac: [2n, 1n] },
  { step: 0.05, frac: [1n, 20n], tolerance: 0.02, tolFrac: [1n, 50n], target: 1.5, targetFrac: [3n, 2n] },
  { step: 0.25, frac: [1n, 4n], tolerance: 0.3, tolFrac: [3n, 10n], target: 3, targetFrac: [3n, 1n] },
];

for (const c of cases) {
  test(`grid step ${c.step}, tolerance ${c.tolerance}, target ${c.target} equals the exact brute force`, () => {
    const points = enumerateGrid({ step: c.step, tolerance: c.tolerance, target: c.target });
    // The reference searches well past the bound any point can reach (α ≤ target + tolerance).
    const maxIndex = Math.ceil((c.target + c.tolerance - 1) / c.step) + 3;
    const reference = bruteForce(c.frac[0], c.frac[1], c.targetFrac, c.tolFrac, maxIndex);
    assert.ok(reference.length > 0);
    assert.deepEqual(indices(points, c.step), reference);
    for (const p of points) {
      assert.ok(p.alpha >= 1 && p.beta >= 1 && p.gamma >= 1);
      assert.ok(Math.abs(p.alpha * p.beta ** 2 * p.gamma ** 2 - c.target) <= c.tolerance + 1e-9);
      assert.ok(Math.abs(p.flopsGrowth - p.alpha * p.beta ** 2 * p.gamma ** 2) < 1e-12);
    }
  });
}

test('the paper’s point (1.2, 1.1, 1.15) is on the 0.05 grid at tolerance 0.1', () => {
  const points = enumerateGrid({ step: 0.05, tolerance: 0.1 });
  assert.ok(points.some((p) => p.alpha === 1.2 && p.beta === 1.1 && p.gamma === 1.15));
});

test('points exactly on the tolerance boundary are included (1.0·1.0·1.1² = 1.21 vs 1.2 ± 0.01)', () => {
  const points = enumerateGrid({ step: 0.1, tolerance: 0.01, target: 1.2 });
  assert.ok(points.some((p) => p.alpha === 1 && p.beta === 1 && p.gamma === 1.1));
  assert.ok(points.some((p) => p.alpha === 1.2 && p.beta === 1 && p.gamma === 1));
});

test('bad input: tolerance <= 0, step <= 0, no grid point', () => {
  assert.throws(() => enumerateGrid({ step: 0.05, tolerance: 0 }), (e: unknown) => e instanceof GridError && /tolerance must be a finite number > 0/.test(e.message));
  assert.throws(() => enumerateGrid({ step: 0.05, tolerance: -0.1 }), GridError);
  assert.throws(() => enumerateGrid({ step: 0, tolerance: 0.1 }), /grid step must be a finite number > 0/);
  assert.throws(() => enumerateGrid({ step: -0.05, tolerance: 0.1 }), GridError);
  assert.throws(() => enumerateGrid({ step: Number.NaN, tolerance: 0.1 }), GridError);
  // step 0.5: values 1, 1.5, 2: products 1, 1.5, 2, 2.25, 3, ... none within 0.01 of 1.75
  assert.throws(() => enumerateGrid({ step: 0.5, tolerance: 0.01, target: 1.75 }), (e: unknown) => e instanceof GridError && /no point of the grid with step 0.5/.test(e.message));
  assert.throws(() => enumerateGrid({ step: 0.1, tolerance: 0.1, target: 0.5 }), /at least 1/);
});
