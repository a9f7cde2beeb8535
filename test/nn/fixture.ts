/** Loading the PyTorch reference fixtures of src/nn and src/optim (written by scripts/fixtures/nn_optim.py). */
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { tensor, type DType, type Tensor } from '../../src/torch/index.js';

/** A tensor as the fixture script stores it. */
export interface TensorJson {
  shape: number[];
  data: number[];
}

/** Parses a fixture file under test/fixtures/ (path relative to that folder). */
export function loadFixture<T>(relative: string): T {
  const url = new URL(`../../../test/fixtures/${relative}`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as T;
}

/** A tensor from its fixture form. */
export function fromJson(json: TensorJson, dtype: DType = 'float32'): Tensor {
  return tensor(json.data, json.shape, { dtype });
}

/** Asserts |actual − expected| ≤ tol·max(1, |expected|) elementwise and equal shapes. */
export function assertClose(actual: Tensor, expected: TensorJson | { shape: number[]; data: ArrayLike<number> }, tol: number, what: string): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  const got = actual.toArray();
  let worst = 0;
  let at = -1;
  for (let i = 0; i < got.length; i++) {
    const ref = expected.data[i]!;
    const err = Math.abs(got[i]! - ref) / Math.max(1, Math.abs(ref));
    if (!(err <= worst)) {
      worst = err;
      at = i;
    }
  }
  assert.ok(worst <= tol, `${what}: max relative error ${worst} at element ${at} (got ${got[at]}, expected ${expected.data[at]}) exceeds ${tol}`);
}
