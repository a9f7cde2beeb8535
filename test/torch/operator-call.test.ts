/**
 * The generic operator call's conversions: multi-output operators return arrays, int[N] arguments accept a single
 * int, Scalars keep integer vs float semantics, non-tensor results come back as JS values. Expected values are
 * worked out by hand from the definitions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  add,
  avgPool2d,
  callOperator,
  conv2d,
  div,
  full,
  maxDim,
  maxPool2d,
  mul,
  sub,
  tensor,
  tidy,
  topk,
  Tensor,
} from '../../src/torch/index.js';

test('max.dim and topk return values and indices (typed wrappers and callOperator alike)', () => {
  tidy(() => {
    const x = tensor([3, 9, 1, 7, 2, 8], [2, 3]);
    const { values, indices } = maxDim(x, 1);
    assert.deepEqual(values.toArray(), [9, 8]);
    assert.deepEqual(indices.toArray(), [1, 2]);
    assert.equal(indices.dtype, 'int64');

    const generic = callOperator('aten::max.dim', x, 0, true);
    assert.ok(Array.isArray(generic) && generic.length === 2);
    const [v, i] = generic as Tensor[];
    assert.ok(v instanceof Tensor && i instanceof Tensor);
    assert.deepEqual(v!.shape, [1, 3]);
    assert.deepEqual(v!.toArray(), [7, 9, 8]);
    assert.deepEqual(i!.toArray(), [1, 0, 1]);

    const top = topk(x, 2, { dim: 1 });
    assert.deepEqual(top.values.toArray(), [9, 3, 8, 7]);
    assert.deepEqual(top.indices.toArray(), [1, 0, 2, 0]);
    const bottom = callOperator('aten::topk', x, 1, 1, false) as Tensor[];
    assert.deepEqual(bottom[0]!.toArray(), [1, 2]);
    assert.deepEqual(bottom[1]!.toArray(), [2, 1]);
  });
});

test('list-returning operators return arrays of Tensors; int and bool returning ones return JS values', () => {
  tidy(() => {
    const x = tensor([0, 1, 2, 3, 4], [5]);
    const pieces = callOperator('aten::split.Tensor', x, 2) as Tensor[];
    assert.equal(pieces.length, 3);
    assert.deepEqual(pieces.map((p) => p.toArray()), [[0, 1], [2, 3], [4]]);
    assert.equal(callOperator('aten::size.int', tensor([1, 2, 3, 4, 5, 6], [2, 3]), 1), 3);
    assert.equal(callOperator('aten::is_same_size', x, x), true);
    assert.equal(callOperator('aten::is_floating_point', tensor([1], [1], { dtype: 'int64' })), false);
  });
});

test('int[2] arguments accept a single int, a one-element list, or the full list, with the same result', () => {
  tidy(() => {
    const image = tensor(Array.from({ length: 2 * 6 * 6 }, (_, i) => (i * 7) % 11), [1, 2, 6, 6]);
    const weight = tensor(Array.from({ length: 3 * 2 * 3 * 3 }, (_, i) => ((i * 5) % 7) - 3), [3, 2, 3, 3]);
    const full2 = conv2d(image, weight, null, { stride: [2, 2], padding: [1, 1], dilation: [1, 1] }).toArray();
    const single = conv2d(image, weight, null, { stride: 2, padding: 1, dilation: 1 }).toArray();
    const one = conv2d(image, weight, null, { stride: [2], padding: [1], dilation: [1] }).toArray();
    assert.equal(full2.length, 3 * 3 * 3);
    assert.deepEqual(single, full2);
    assert.deepEqual(one, full2);
    // Mixed per-axis values still work and differ from the symmetric case.
    assert.deepEqual(conv2d(image, weight, null, { stride: [1, 2], padding: [0, 1] }).shape, [1, 3, 4, 3]);

    // Pooling kernels: 2 means 2x2. Max of each 2x2 block of 0..15 laid out 4x4 is its bottom-right element.
    const grid = tensor(Array.from({ length: 16 }, (_, i) => i), [1, 1, 4, 4]);
    assert.deepEqual(maxPool2d(grid, 2).toArray(), [5, 7, 13, 15]);
    assert.deepEqual(avgPool2d(grid, 2).toArray(), [2.5, 4.5, 10.5, 12.5]);
    assert.deepEqual((callOperator('aten::max_pool2d', grid, [2], [2]) as Tensor).toArray(), [5, 7, 13, 15]);
  });
});

test('Scalar arguments keep integer vs float semantics', () => {
  tidy(() => {
    const ints = tensor([1, 2, 3], [3], { dtype: 'int64' });
    const plusInt = add(ints, 2);
    assert.equal(plusInt.dtype, 'int64', 'int tensor + integer scalar stays int64');
    assert.deepEqual(plusInt.toArray(), [3, 4, 5]);
    const plusFloat = add(ints, 0.5);
    assert.equal(plusFloat.dtype, 'float32', 'int tensor + fractional scalar promotes to the default float');
    assert.deepEqual(plusFloat.toArray(), [1.5, 2.5, 3.5]);
    assert.equal(mul(tensor([1, 2], [2], { dtype: 'int32' }), 3).dtype, 'int32');
    assert.equal(sub(ints, 1, 2).dtype, 'int64'); // alpha is a Scalar too
    assert.deepEqual(sub(ints, 1, 2).toArray(), [-1, 0, 1]);
    // True division of ints by an int scalar is float.
    assert.deepEqual(div(ints, 2).toArray(), [0.5, 1, 1.5]);
    // A float tensor times an integer scalar stays float32 (no int rounding of the result).
    const f = mul(tensor([0.25, 1.5], [2]), 3);
    assert.equal(f.dtype, 'float32');
    assert.deepEqual(f.toArray(), [0.75, 4.5]);
    // A BigInt Scalar is exact beyond 2^53, where a JS number would round.
    const big = callOperator('aten::add.Scalar', tensor(new BigInt64Array([1n, 0n])), 2n ** 60n + 1n) as Tensor;
    assert.deepEqual(Array.from(big.data() as BigInt64Array), [2n ** 60n + 2n, 2n ** 60n + 1n]);
    // full() with an integer value and an int dtype, and a boolean Scalar.
    assert.deepEqual(full([2], 7, { dtype: 'int64' }).toArray(), [7, 7]);
    const flags = callOperator('aten::full', [2], true, null) as Tensor;
    assert.equal(flags.dtype, 'bool');
    assert.deepEqual(flags.toArray(), [1, 1]);
    const fractional = callOperator('aten::full', [2], 2.5, null) as Tensor;
    assert.equal(fractional.dtype, 'float32');
    const integral = callOperator('aten::full', [2], 2, null) as Tensor;
    assert.equal(integral.dtype, 'int64', 'full() infers int64 from an integer Scalar, as PyTorch does');
  });
});
