/**
 * Mixed precision through libtorch's autocast, against PyTorch's own torch.autocast('cpu', bfloat16) run on this
 * machine (scripts/reference/autocast.py, same inputs): every operator returns PyTorch's dtype (conv2d and linear in
 * bfloat16, cross entropy in float32) and PyTorch's values, and the parameters' gradients come back in float32. The
 * region restores the previous state, nests, and survives an exception.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  add, autocast, autocastState, batchNorm, conv2d, crossEntropy, linear, matmul, mean, ones, pow, silu, softmax, logSoftmax, sum, tensor, tidy, zeros,
  type Tensor,
} from '../../src/torch/index.js';

const SCRIPT = fileURLToPath(new URL('../../../scripts/reference/autocast.py', import.meta.url));

interface Recorded {
  dtype: string;
  shape: number[];
  values: number[];
}

/** The reference's inputs: ((i·37 + k) mod 101 − 50) / 64, exact in float32. */
function values(n: number, k: number, shape: number[]): Tensor {
  return tensor(Float32Array.from({ length: n }, (_, i) => (((i * 37 + k) % 101) - 50) / 64), shape);
}

function reference(): Record<string, Recorded> | null {
  const run = spawnSync('/usr/bin/python3', [SCRIPT], { encoding: 'utf8' });
  if (run.status !== 0) return null;
  return JSON.parse(run.stdout) as Record<string, Recorded>;
}

test('bfloat16 autocast on the CPU: the dtypes and values of PyTorch’s autocast, float32 cross entropy and gradients', (t) => {
  const expected = reference();
  if (expected === null) return t.skip('/usr/bin/python3 with torch is not available for the reference');
  tidy(() => {
    const x = values(2 * 3 * 8 * 8, 1, [2, 3, 8, 8]);
    const w = values(4 * 3 * 3 * 3, 2, [4, 3, 3, 3]);
    const b = values(4, 3, [4]);
    const lw = values(3 * 5, 4, [3, 5]);
    const lb = values(3, 5, [3]);
    for (const p of [w, b, lw, lb]) p.requiresGrad = true;
    const a = values(2 * 5, 6, [2, 5]);
    const m = values(5 * 3, 7, [5, 3]);
    const target = tensor([2, 0], [2], { dtype: 'int64' });
    const got: Record<string, Tensor> = {};
    const loss = autocast({ device: 'cpu', dtype: 'bfloat16' }, () => {
      const conv = conv2d(x, w, b, { padding: 1 });
      got.conv2d = conv;
      got.silu = silu(conv);
      got.batch_norm = batchNorm(conv, zeros([4]), ones([4]), ones([4]), zeros([4]), true, 0.1, 1e-5);
      got.sum = sum(conv, [2, 3]);
      const logits = linear(a, lw, lb);
      got.linear = logits;
      got.matmul = matmul(a, m);
      got.softmax = softmax(logits, 1);
      got.log_softmax = logSoftmax(logits, 1);
      got.cross_entropy = crossEntropy(logits, target, { labelSmoothing: 0.1 });
      return add(crossEntropy(logits, target, { labelSmoothing: 0.1 }), mean(pow(conv.to('float32'), 2)));
    });
    loss.backward();
    got.grad_conv_weight = w.grad!;
    got.grad_linear_weight = lw.grad!;
    assert.equal(got.conv2d!.dtype, 'bfloat16', 'conv2d runs in bfloat16');
    assert.equal(got.linear!.dtype, 'bfloat16', 'linear runs in bfloat16');
    assert.equal(got.cross_entropy!.dtype, 'float32', 'cross entropy stays float32');
    assert.equal(w.grad!.dtype, 'float32', 'the float32 parameters get float32 gradients');
    for (const [name, want] of Object.entries(expected)) {
      const tensorOf = got[name];
      assert.ok(tensorOf !== undefined, `no result for ${name}`);
      assert.equal(tensorOf.dtype, want.dtype, `${name}: dtype`);
      assert.deepEqual(tensorOf.shape, want.shape, `${name}: shape`);
      const ours = tensorOf.detach().to('float32').toArray() as number[];
      const worst = ours.reduce((max, v, i) => Math.max(max, Math.abs(v - want.values[i]!) / Math.max(1, Math.abs(want.values[i]!))), 0);
      // The same libtorch on both sides: identical kernels, so identical values (allow float32 summation order in grads).
      assert.ok(worst <= (name.startsWith('grad') ? 1e-6 : 0), `${name}: max relative difference ${worst}`);
    }
  });
});

test('autocast regions restore the previous state, nest, and are left when their function throws', () => {
  assert.deepEqual(autocastState('cpu').enabled, false);
  autocast({ device: 'cpu', dtype: 'bfloat16' }, () => {
    assert.equal(autocastState('cpu').enabled, true);
    assert.equal(autocastState('cpu').dtype, 'bfloat16');
    autocast({ device: 'cpu', dtype: 'bfloat16', enabled: false }, () => assert.equal(autocastState('cpu').enabled, true, 'enabled: false leaves the state alone'));
    assert.equal(autocastState('cpu').enabled, true);
  });
  assert.equal(autocastState('cpu').enabled, false);
  assert.throws(() => autocast({ device: 'cpu', dtype: 'bfloat16' }, () => {
    throw new Error('inside');
  }), /inside/);
  assert.equal(autocastState('cpu').enabled, false, 'restored after the exception');
  assert.throws(() => autocast({ device: 'cpu', dtype: 'bfloat16' }, () => Promise.resolve(1)), /synchronous/);
  assert.equal(autocastState('cpu').enabled, false);
  // Outside any region, operators run in float32 as before.
  tidy(() => assert.equal(linear(ones([1, 2]), ones([3, 2])).dtype, 'float32'));
});
