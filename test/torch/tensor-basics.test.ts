/**
 * Tensor ↔ typed array round trips for every exchanged dtype, and the Tensor's metadata and autograd accessors:
 * shape, strides, dtype, device, requiresGrad, grad, detach, item.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { add_, mul, permute, sum, tensor, tidy, ones, zeros, type Tensor } from '../../src/torch/index.js';

/** The elements as they came back from the binding (numbers, or bigints for int64). */
function elements(t: Tensor): (number | bigint)[] {
  return Array.from(t.data() as ArrayLike<number | bigint>);
}

test('float32 round trip is exact for float32-representable values, including non-finite ones', () => {
  tidy(() => {
    const data = new Float32Array([0, -0, 1.5, -3.25, 1e-38, 3.4e38, Infinity, -Infinity, NaN, Math.fround(0.1)]);
    const t = tensor(data, [2, 5]);
    assert.equal(t.dtype, 'float32');
    const back = t.data();
    assert.ok(back instanceof Float32Array);
    assert.deepEqual(Array.from(back), Array.from(data));
    assert.ok(Object.is(back[1], -0), 'the sign of -0 is kept');
    assert.notEqual(back.buffer, data.buffer, 'data() is a copy');
  });
});

test('float64 round trip is bit-exact', () => {
  tidy(() => {
    const data = new Float64Array([0.1, -1e-300, 1.7976931348623157e308, Math.PI, 5e-324]);
    const t = tensor(data);
    assert.equal(t.dtype, 'float64');
    assert.deepEqual(Array.from(t.data() as Float64Array), Array.from(data));
  });
});

test('int64 round trip keeps values beyond 2^53 through BigInt64Array', () => {
  tidy(() => {
    const data = new BigInt64Array([2n ** 62n + 1n, -(2n ** 63n), 2n ** 63n - 1n, 0n, -7n]);
    const t = tensor(data);
    assert.equal(t.dtype, 'int64');
    const back = t.data();
    assert.ok(back instanceof BigInt64Array);
    assert.deepEqual(Array.from(back), Array.from(data));
    // From a number array with an explicit dtype.
    assert.deepEqual(elements(tensor([1, -2, 3], [3], { dtype: 'int64' })), [1n, -2n, 3n]);
  });
});

test('int32, uint8 and bool round trips', () => {
  tidy(() => {
    const i32 = new Int32Array([-(2 ** 31), 2 ** 31 - 1, 0, -5]);
    const t32 = tensor(i32, [2, 2]);
    assert.equal(t32.dtype, 'int32');
    assert.deepEqual(elements(t32), Array.from(i32));

    const u8 = new Uint8Array([0, 1, 127, 128, 255]);
    const tu8 = tensor(u8);
    assert.equal(tu8.dtype, 'uint8');
    assert.deepEqual(elements(tu8), Array.from(u8));

    const flags = tensor([1, 0, 5, 0], [4], { dtype: 'bool' });
    assert.equal(flags.dtype, 'bool');
    assert.deepEqual(elements(flags), [1, 0, 1, 0], 'non-zero becomes true (1)');
    // A bool tensor behaves as bools in ATen: summing counts the trues.
    assert.equal(sum(flags).item(), 2);
  });
});

test('a non-contiguous view comes back in row-major order of its own shape', () => {
  tidy(() => {
    const t = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const p = permute(t, [1, 0]);
    assert.deepEqual(p.shape, [3, 2]);
    assert.deepEqual(p.strides, [1, 3]);
    assert.deepEqual(p.toArray(), [1, 4, 2, 5, 3, 6]);
  });
});

test('shape, ndim, numel, strides, dtype, device', () => {
  tidy(() => {
    const t = zeros([2, 3, 4], { dtype: 'float64' });
    assert.deepEqual(t.shape, [2, 3, 4]);
    assert.equal(t.ndim, 3);
    assert.equal(t.numel, 24);
    assert.deepEqual(t.strides, [12, 4, 1]);
    assert.equal(t.dtype, 'float64');
    assert.equal(t.device, 'cpu');
    const scalar = tensor([7], []);
    assert.deepEqual(scalar.shape, []);
    assert.equal(scalar.item(), 7);
    const empty = zeros([0, 3]);
    assert.equal(empty.numel, 0);
    assert.equal(empty.data().length, 0);
  });
});

test('requiresGrad, isLeaf, gradFn, grad accumulation and setting grad', () => {
  tidy(() => {
    const w = tensor([1, 2, 3], [3]);
    assert.equal(w.requiresGrad, false);
    assert.equal(w.grad, null);
    w.requiresGrad = true;
    assert.equal(w.requiresGrad, true);
    assert.equal(w.isLeaf, true);
    const y = sum(mul(w, w));
    assert.equal(y.isLeaf, false);
    assert.match(y.gradFn ?? '', /^SumBackward/);
    y.backward(undefined, { retainGraph: true });
    assert.deepEqual(w.grad!.toArray(), [2, 4, 6]); // d/dw Σw² = 2w
    y.backward();
    assert.deepEqual(w.grad!.toArray(), [4, 8, 12], 'gradients accumulate across backward() calls');
    w.grad = null;
    assert.equal(w.grad, null);
    w.grad = ones([3]);
    assert.deepEqual(w.grad!.toArray(), [1, 1, 1]);
    // Creation options set requiresGrad too.
    assert.equal(ones([2], { requiresGrad: true }).requiresGrad, true);
  });
});

test('detach shares memory but leaves the graph; clone copies', () => {
  tidy(() => {
    const w = tensor([1, 2], [2]).requiresGrad_();
    const d = w.detach();
    assert.equal(d.requiresGrad, false);
    assert.equal(d.gradFn, null);
    const c = w.clone();
    assert.equal(c.requiresGrad, true);
    assert.match(c.gradFn ?? '', /^CloneBackward/);
    add_(d, 10); // in-place on the detached view is seen by w (shared storage), not by the clone
    assert.deepEqual(w.toArray(), [11, 12]);
    assert.deepEqual(c.toArray(), [1, 2]);
    assert.equal(d.isSame(d), true);
    assert.equal(d.isSame(w), false);
  });
});

test('item() returns numbers for float, int and bool tensors', () => {
  tidy(() => {
    assert.equal(tensor([2.5], [1]).item(), 2.5);
    assert.equal(tensor([-3], [1, 1], { dtype: 'int64' }).item(), -3);
    assert.equal(tensor([1], [1], { dtype: 'bool' }).item(), 1);
    assert.equal(tensor([0.1], [1], { dtype: 'float64' }).item(), 0.1);
    assert.equal(tensor([0.1], [1]).item(), Math.fround(0.1));
  });
});
