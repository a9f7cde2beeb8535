/**
 * Memory scopes and grad-mode scopes: what tidy() frees and keeps (checked with the binding's live-tensor count),
 * nesting, results made of arrays/objects/Maps, keep(), exceptions, Promise refusal, noGrad restoring its mode.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  add,
  isGradEnabled,
  keep,
  liveTensorCount,
  mul,
  noGrad,
  enableGrad,
  ones,
  scopeDepth,
  tensor,
  tidy,
  zeros,
  type Tensor,
} from '../../src/torch/index.js';

test('tidy frees every tensor made inside except the returned one', () => {
  const before = liveTensorCount();
  const result = tidy(() => {
    const a = ones([2, 2]);
    const b = add(a, 1);
    mul(b, b);
    assert.equal(liveTensorCount(), before + 3);
    return add(b, a);
  });
  assert.equal(liveTensorCount(), before + 1);
  assert.deepEqual(result.toArray(), [3, 3, 3, 3]);
  result.dispose();
  assert.equal(liveTensorCount(), before);
});

test('nested scopes: an inner result moves to the outer scope and is freed when that ends', () => {
  const before = liveTensorCount();
  let inner: Tensor | undefined;
  const outer = tidy(() => {
    assert.equal(scopeDepth(), 1);
    inner = tidy(() => {
      assert.equal(scopeDepth(), 2);
      zeros([3]);
      return ones([3]);
    });
    assert.equal(scopeDepth(), 1);
    assert.equal(inner.isDisposed, false);
    assert.equal(liveTensorCount(), before + 1);
    return add(inner, 1);
  });
  assert.equal(scopeDepth(), 0);
  assert.equal(inner!.isDisposed, true, 'the inner result belongs to the outer scope, which did not return it');
  assert.deepEqual(outer.toArray(), [2, 2, 2]);
  assert.equal(liveTensorCount(), before + 1);
  outer.dispose();
  assert.equal(liveTensorCount(), before);
});

test('results made of arrays, plain objects and Maps keep all their tensors', () => {
  const before = liveTensorCount();
  const result = tidy(() => {
    ones([1]); // not returned
    return {
      list: [ones([1]), [full2()]],
      nested: { deeper: { t: zeros([2]) } },
      map: new Map([['m', ones([3])]]),
      label: 'not a tensor',
    };
  });
  assert.equal(liveTensorCount(), before + 4);
  assert.deepEqual((result.list[1] as Tensor[])[0]!.toArray(), [2, 2]);
  assert.deepEqual(result.nested.deeper.t.toArray(), [0, 0]);
  assert.deepEqual(result.map.get('m')!.toArray(), [1, 1, 1]);
  (result.list[0] as Tensor).dispose();
  (result.list[1] as Tensor[])[0]!.dispose();
  result.nested.deeper.t.dispose();
  result.map.get('m')!.dispose();
  assert.equal(liveTensorCount(), before);
});

function full2(): Tensor {
  return add(ones([2]), 1);
}

test('keep() survives every enclosing scope until disposed by hand', () => {
  const before = liveTensorCount();
  let kept: Tensor | undefined;
  tidy(() => {
    tidy(() => {
      kept = keep(ones([4]));
      ones([4]);
    });
    assert.equal(kept!.isDisposed, false);
  });
  assert.equal(kept!.isDisposed, false);
  assert.equal(liveTensorCount(), before + 1);
  assert.equal(tidy(() => kept!.sum().item()), 4);
  kept!.dispose();
  assert.equal(liveTensorCount(), before);
});

test('an exception inside tidy still frees the scope, and the scope stack is restored', () => {
  const before = liveTensorCount();
  assert.throws(
    () =>
      tidy(() => {
        ones([5]);
        tidy(() => {
          zeros([5]);
          throw new Error('boom');
        });
      }),
    /boom/,
  );
  assert.equal(scopeDepth(), 0);
  assert.equal(liveTensorCount(), before);
  // An engine error inside a scope frees likewise.
  assert.throws(() => tidy(() => add(ones([2]), ones([3]))), /aten::add\.Tensor/);
  assert.equal(liveTensorCount(), before);
});

test('a Promise-returning function is refused and its tensors freed', () => {
  const before = liveTensorCount();
  assert.throws(
    () =>
      tidy(() => {
        ones([2]);
        return Promise.resolve(1);
      }),
    /returned a Promise/,
  );
  assert.throws(
    () =>
      tidy(async () => {
        ones([2]);
      }),
    /returned a Promise/,
  );
  assert.equal(scopeDepth(), 0);
  assert.equal(liveTensorCount(), before);
});

test('noGrad turns recording off and restores the previous mode, also after a throw', () => {
  assert.equal(isGradEnabled(), true);
  tidy(() => {
    const w = ones([2]).requiresGrad_();
    const y = noGrad(() => {
      assert.equal(isGradEnabled(), false);
      // enableGrad inside noGrad re-enables, then restores "off".
      enableGrad(() => assert.equal(isGradEnabled(), true));
      assert.equal(isGradEnabled(), false);
      return mul(w, 2);
    });
    assert.equal(y.requiresGrad, false);
    assert.equal(y.gradFn, null);
    assert.match(mul(w, 2).gradFn ?? 'null', /^MulBackward/);
  });
  assert.throws(() => noGrad(() => { throw new Error('inside noGrad'); }), /inside noGrad/);
  assert.equal(isGradEnabled(), true);
  assert.throws(() => noGrad(() => tidy(() => add(ones([2]), ones([3])))), /aten::add/);
  assert.equal(isGradEnabled(), true);
});

test('tensors outside any scope are freed by the finalizer safety net once collected', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const before = liveTensorCount();
  (() => {
    for (let i = 0; i < 50; i++) tensor([i], [1]);
    // keep() on a tensor that the finalizer already watches must not register it twice.
    keep(ones([1]));
  })();
  assert.equal(liveTensorCount(), before + 51);
  for (let round = 0; round < 50 && liveTensorCount() > before; round++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.equal(liveTensorCount(), before, 'collected tensors were not freed');
  // The engine still works and slots are reused without confusion.
  const a = tensor([1, 2], [2]);
  const b = tensor([3, 4], [2]);
  assert.deepEqual(add(a, b).toArray(), [4, 6]);
});
