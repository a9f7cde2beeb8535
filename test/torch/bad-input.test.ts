/**
 * Bad input through the binding: each mistake throws a JS Error that names the problem (operator, shapes, dtypes,
 * argument), loses no tensor memory, and leaves the engine working: the next computation is checked for a correct
 * result. A crash (abort) in any of these would fail this whole file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  add,
  add_,
  callOperator,
  conv2d,
  crossEntropy,
  full,
  liveTensorCount,
  matmul,
  mul,
  ones,
  sum,
  tensor,
  tidy,
  type Tensor,
} from '../../src/torch/index.js';
// The binding itself, for the raw-handle paths that the Tensor class normally guards.
import { native } from '../../src/torch/native.js';

/** A computation with a known answer, run right after every failure. */
function assertEngineWorks(): void {
  tidy(() => {
    const a = tensor([1, 2, 3, 4], [2, 2]);
    const b = tensor([10, 20, 30, 40], [2, 2]);
    assert.deepEqual(matmul(a, b).toArray(), [70, 100, 150, 220]);
    // 3x3 kernel of ones over a 3-channel 4x4 image of ones, no padding: every output is 27.
    assert.deepEqual(conv2d(ones([1, 3, 4, 4]), ones([2, 3, 3, 3])).toArray(), new Array(8).fill(27));
  });
}

/**
 * Asserts that `fn` throws an Error whose message matches every pattern, that the failed call kept no tensor
 * alive, and that the engine still computes correctly afterwards.
 */
function assertFails(fn: () => unknown, patterns: readonly RegExp[]): string {
  const before = liveTensorCount();
  let message = '';
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof Error, `expected an Error, got ${String(error)}`);
    message = error.message;
    for (const pattern of patterns) assert.match(error.message, pattern);
    return true;
  });
  assert.equal(liveTensorCount(), before, `the failed call leaked tensors (${message})`);
  assertEngineWorks();
  return message;
}

test('conv2d with a channel mismatch names the operator and both shapes', () => {
  const input = ones([1, 3, 8, 8]);
  const weight = ones([4, 2, 3, 3]);
  assertFails(() => conv2d(input, weight), [/aten::conv2d/, /float32\[1, 3, 8, 8\]/, /float32\[4, 2, 3, 3\]/, /channels/]);
  input.dispose();
  weight.dispose();
});

test('matmul with mismatched inner sizes names the operator and the shapes', () => {
  tidy(() => {
    const a = ones([2, 3]);
    const b = ones([4, 5]);
    assertFails(() => matmul(a, b), [/aten::matmul/, /float32\[2, 3\]/, /float32\[4, 5\]/, /2x3 and 4x5/]);
  });
});

test('wrong dtypes: an int tensor into conv2d, a float target into cross_entropy', () => {
  tidy(() => {
    const intImage = ones([1, 3, 8, 8], { dtype: 'int32' });
    const weight = ones([4, 3, 3, 3]);
    assertFails(() => conv2d(intImage, weight), [/aten::conv2d/, /int32\[1, 3, 8, 8\]/, /scalar type/]);
    const logits = ones([2, 3]);
    const floatTarget = tensor([0, 1], [2]);
    assertFails(() => crossEntropy(logits, floatTarget), [/aten::cross_entropy_loss/, /target=float32\[2\]/, /Long/]);
    const badClass = tensor([0, 7], [2], { dtype: 'int64' });
    assertFails(() => crossEntropy(logits, badClass), [/aten::cross_entropy_loss/, /Target 7 is out of bounds/]);
  });
});

test('an unknown operator name is refused, with existing overloads listed when the base name exists', () => {
  assertFails(() => callOperator('aten::nope'), [/unknown operator 'aten::nope'/]);
  assertFails(() => callOperator('nope'), [/unknown operator 'nope'/, /qualified/]);
  assertFails(() => callOperator('aten::add.nope'), [/unknown operator 'aten::add\.nope'/, /aten::add\.Tensor/]);
});

test('a missing argument, too many arguments, and wrongly typed arguments are named', () => {
  tidy(() => {
    const x = ones([2, 2]);
    assertFails(() => callOperator('aten::add.Tensor', x), [/aten::add\.Tensor/, /missing argument 'other'/, /schema/]);
    assertFails(() => callOperator('aten::relu', x, 1, 2), [/aten::relu/, /too many arguments, 3 given/]);
    assertFails(() => callOperator('aten::sum.dim_IntList', x, [0.5]), [/argument 'dim'/, /must be an integer/, /0\.5/]);
    assertFails(() => callOperator('aten::sum.dim_IntList', x, [1e30]), [/argument 'dim'/, /int64 range/]);
    assertFails(() => callOperator('aten::sum.dim_IntList', x, [2n ** 70n]), [/argument 'dim'/, /int64 range/]);
    assertFails(() => callOperator('aten::sum.dim_IntList', x, [5]), [/aten::sum\.dim_IntList/, /Dimension out of range/]);
    assertFails(() => callOperator('aten::relu', Symbol('s') as unknown as Tensor), [/aten::relu/, /Symbol/]);
  });
});

test('numbers in Tensor positions and Tensors in number positions are refused, not misread as slots', () => {
  tidy(() => {
    // Tensors travel as slot numbers: before this check, mul.Tensor(x, 1) silently multiplied by the tensor in
    // slot 1, and add.Tensor(x, 0) added the tensor in slot 0.
    const x = tensor([1, 2, 3, 4], [2, 2]);
    tensor([10, 20, 30, 40], [2, 2]);
    assertFails(() => callOperator('aten::mul.Tensor', x, 1), [/aten::mul\.Tensor/, /argument 1 has type Tensor but got 1/]);
    assertFails(() => callOperator('aten::add.Tensor', x, 0), [/aten::add\.Tensor/, /Tensor but got 0/]);
    assertFails(() => callOperator('aten::cat', [x, 3]), [/aten::cat/, /Tensor\[\]/]);
    assertFails(() => callOperator('aten::sum.dim_IntList', x, [x]), [/aten::sum\.dim_IntList/, /int\[\]\?/]);
    // The Scalar overload with a number is the right call, and works.
    assert.deepEqual((callOperator('aten::mul.Scalar', x, 2) as Tensor).toArray(), [2, 4, 6, 8]);
  });
});

test('a disposed tensor, after dispose() and after its tidy() scope ended, is refused by name', () => {
  const x = ones([2]);
  x.dispose();
  assert.equal(x.isDisposed, true);
  x.dispose(); // disposing twice is harmless
  assertFails(() => add(x, 1), [/disposed/, /keep\(\)/]);
  let escaped: Tensor | undefined;
  tidy(() => {
    escaped = full([3], 5);
  });
  assert.equal(escaped!.isDisposed, true);
  assertFails(() => sum(escaped!), [/disposed/]);
  assertFails(() => escaped!.shape, [/disposed/]);
  assert.equal(escaped!.toString(), 'Tensor(disposed)');
  // The same through the binding with a stale raw handle (whose slot nothing reused yet).
  const handle = native.fromTypedArray(new Float32Array([1, 2]), [2]);
  native.dispose(handle);
  const relu = native.findOperator('aten::relu');
  assertFails(() => native.call(relu, handle), [/aten::relu\(self=disposed tensor\)/, /argument 'self' is a disposed tensor/]);
  assertFails(() => native.dispose(handle), [/dispose\(tensor\)/, /disposed/]);
  assertFails(() => native.shape(Symbol('s') as unknown as number), [/shape\(tensor\)/, /expected a tensor handle, got a Symbol/]);
});

test('tensor creation with a wrong element count, a negative or fractional shape, or an odd array is refused', () => {
  assertFails(() => tensor(new Float32Array(3), [2, 2]), [/shape \[2, 2\] holds 4 elements but data has 3/]);
  assertFails(() => native.fromTypedArray(new Float32Array(3), [2, 2]), [/fromTypedArray/, /holds 4 elements but the typed array has 3/]);
  assertFails(() => native.fromTypedArray(new Float32Array(0), [-1, 0]), [/non-negative integers/, /dimension 0 is -1/]);
  assertFails(() => native.fromTypedArray(new Float32Array(0), [0.5]), [/dimension 0 is 0\.5/]);
  assertFails(() => native.fromTypedArray(new Float32Array(0), [2 ** 40, 2 ** 40, 0]), [/fromTypedArray/, /overflow/]);
  assertFails(() => native.fromTypedArray(new Uint8ClampedArray(2), [2]), [/unsupported typed array/]);
  assertFails(() => native.fromTypedArray(new Float64Array(2), [2], 'bool'), [/bool tensor is made from a Uint8Array/]);
  assertFails(() => ones([-1, 2]), [/aten::ones/, /negative dimension -1/]);
  assertFails(() => ones([2 ** 40, 2 ** 40]), [/aten::ones/, /overflow/]);
});

test('autograd misuse: backward on a non-scalar without grad, on a tensor without grad, with a wrong-shaped grad', () => {
  tidy(() => {
    const a = ones([3]).requiresGrad_();
    const y = a.mul(2);
    const noGradScalar = ones([1]);
    const wrongGrad = ones([4]);
    const ints = ones([2], { dtype: 'int64' });
    const five = ones([5]);
    assertFails(() => y.backward(), [/backward\(float32\[3\]\)/, /non-scalar/]);
    assertFails(() => noGradScalar.backward(), [/does not require grad/]);
    assertFails(() => y.backward(wrongGrad), [/backward\(float32\[3\]\)/, /got \[4\] but expected shape compatible with \[3\]/]);
    assertFails(() => { ints.requiresGrad = true; }, [/setRequiresGrad\(int64\[2\]\)/, /floating point/]);
    assertFails(() => { y.requiresGrad = false; }, [/only leaf tensors/, /detach/]);
    assertFails(() => { a.grad = five; }, [/setGrad/, /float32\[5\]/, /float32\[3\]/]);
    assertFails(() => add_(a, 1), [/aten::add_\.Scalar\(self=float32\[3\]/, /leaf Variable that requires grad/]);
    // The graph survives the failed attempts: a proper backward still fills the gradient (2 everywhere).
    const seed = ones([3]);
    y.backward(seed);
    assert.deepEqual(a.grad!.toArray(), [2, 2, 2]);
    // a·a saves its inputs for backward; a second backward without retainGraph finds them freed.
    const square = sum(mul(a, a));
    square.backward();
    assertFails(() => square.backward(), [/backward\(float32\[\]\)/, /backward through the graph a second time/, /retain_graph/]);
  });
});

test('item() of a multi-element tensor and reading a dtype without a typed array are refused', () => {
  tidy(() => {
    const three = ones([3]);
    const half = ones([1]).to('float16');
    assertFails(() => three.item(), [/item\(\)/, /3 elements/, /shape \[3\]/]);
    assertFails(() => half.item(), [/toTypedArray/, /float16 has no typed array/]);
  });
});

test('engine settings reject bad values', () => {
  assertFails(() => native.manualSeed(-1), [/manualSeed/]);
  assertFails(() => native.setNumThreads(0), [/setNumThreads/]);
  assertFails(() => native.call(99999), [/op must be a handle/]);
});

test('junk arguments to every binding function and to operators never abort the process', () => {
  // Run in a child process so that an abort shows up as a signal here rather than killing the test runner.
  const nativeUrl = new URL('../../src/torch/native.js', import.meta.url).href;
  const script = `
    import { native } from ${JSON.stringify(nativeUrl)};
    const t = native.fromTypedArray(new Float32Array(16), [1, 1, 4, 4]);
    const ints = native.fromTypedArray(new BigInt64Array(2), [2]);
    const junk = [undefined, null, Symbol('s'), 'x', {}, [], -1, 1e12, 0.5, NaN, 2n ** 70n, true, [t, 'a'], t, ints, [-5], [1e9, 1e9]];
    let failures = 0;
    for (const name of Object.keys(native)) {
      if (typeof native[name] !== 'function' || name === 'dispose' || name === 'disposeAll' || name === 'setGradEnabled') continue;
      for (const a of junk) for (const b of junk.slice(0, 8)) {
        try { native[name](a, b, b); } catch (e) { if (!(e instanceof Error)) throw new Error('non-Error thrown by ' + name); failures++; }
      }
    }
    for (const name of ['aten::conv2d', 'aten::batch_norm', 'aten::cat', 'aten::index.Tensor', 'aten::topk', 'aten::cross_entropy_loss', 'aten::reshape', 'aten::full', 'aten::split.Tensor']) {
      const op = native.findOperator(name);
      for (const a of junk) for (const b of junk) {
        try { native.call(op, a, b); } catch (e) { if (!(e instanceof Error)) throw new Error('non-Error thrown by ' + name); failures++; }
      }
    }
    const data = Array.from(native.toTypedArray(t));
    if (data.length !== 16 || data.some((v) => v !== 0)) throw new Error('a live tensor was damaged');
    console.log('survived ' + failures + ' refused calls');
  `;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(child.signal, null, `the process was killed by ${String(child.signal)}; stderr: ${child.stderr}`);
  assert.equal(child.status, 0, `the child failed: ${child.stderr}`);
  assert.match(child.stdout, /survived \d+ refused calls/);
});
