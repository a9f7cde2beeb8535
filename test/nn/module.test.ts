/** The Module base: naming, train/eval recursion, state dictionaries, parameter counts, dispose. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { liveTensorCount, ones, tensor, tidy, zeros, type Tensor } from '../../src/torch/index.js';
import { BatchNorm2d, Conv2d, Dropout, Linear, Module, Sequential, SiLU } from '../../src/nn/index.js';

/** A block with a parameter of its own, a buffer and two named children, as EfficientNet blocks nest. */
class Block extends Module {
  readonly scale = this.registerParameter('scale', ones([4]));
  readonly counter = this.registerBuffer('counter', zeros([1]));
  readonly conv = this.registerModule('conv', new Conv2d(4, 4, 3, { padding: 1, bias: false }));
  readonly bn = this.registerModule('bn', new BatchNorm2d(4));

  forward(x: Tensor): Tensor {
    return this.bn.forward(this.conv.forward(x)).mul(this.scale.reshape([1, 4, 1, 1]));
  }
}

class Net extends Module {
  readonly stem = this.registerModule('stem', new Conv2d(3, 4, 3));
  readonly features = this.registerModule('features', new Sequential(new SiLU(), new Block(), new Dropout(0.1)));
  readonly head = this.registerModule('head', new Linear(4, 2));

  forward(x: Tensor): Tensor {
    return this.head.forward(this.features.forward(this.stem.forward(x)).mean([2, 3]));
  }
}

const EXPECTED_PARAMS = ['stem.weight', 'stem.bias', 'features.1.scale', 'features.1.conv.weight', 'features.1.bn.weight', 'features.1.bn.bias', 'head.weight', 'head.bias'];
const EXPECTED_BUFFERS = ['features.1.counter', 'features.1.bn.running_mean', 'features.1.bn.running_var', 'features.1.bn.num_batches_tracked'];

test('parameters and buffers get dotted names in registration order', () => {
  const net = new Net();
  assert.deepEqual(net.namedParameters().map(([n]) => n), EXPECTED_PARAMS);
  assert.deepEqual(net.namedBuffers().map(([n]) => n), EXPECTED_BUFFERS);
  assert.equal(net.parameters().length, EXPECTED_PARAMS.length);
  assert.equal(net.buffers().length, EXPECTED_BUFFERS.length);
  assert.ok(net.parameters().every((p) => p.requiresGrad));
  assert.deepEqual(net.namedChildren().map(([n]) => n), ['stem', 'features', 'head']);
  assert.deepEqual(net.namedModules().map(([n]) => n), ['', 'stem', 'features', 'features.0', 'features.1', 'features.1.conv', 'features.1.bn', 'features.2', 'head']);
  assert.equal(net.namedModules()[0]![1], net);
  // PyTorch order: per module, its parameters then its buffers.
  assert.deepEqual([...net.stateDict().keys()], [
    'stem.weight', 'stem.bias', 'features.1.scale', 'features.1.counter', 'features.1.conv.weight',
    'features.1.bn.weight', 'features.1.bn.bias', 'features.1.bn.running_mean', 'features.1.bn.running_var',
    'features.1.bn.num_batches_tracked', 'head.weight', 'head.bias',
  ]);
  net.dispose();
});

test('a shared parameter is listed once', () => {
  const conv = new Conv2d(2, 2, 1);
  const seq = new Sequential(conv, conv);
  assert.deepEqual(seq.namedParameters().map(([n]) => n), ['0.weight', '0.bias']);
  assert.deepEqual(seq.namedModules().map(([n]) => n), ['', '0']);
  seq.dispose();
});

test('bad registrations are refused with a clear message', () => {
  class Bad extends Module {
    forward(x: Tensor): Tensor {
      return x;
    }
  }
  const m = new Bad();
  m.registerParameter('w', ones([2]));
  assert.throws(() => m.registerBuffer('w', zeros([2])), /already used/);
  assert.throws(() => m.registerModule('a.b', new Bad()), /contains '\.'/);
  const leaf = ones([2], { requiresGrad: true });
  const derived = leaf.mul(2);
  assert.throws(() => m.registerParameter('v', derived), /leaves of the autograd graph/);
  m.dispose();
  leaf.dispose();
  derived.dispose();
});

test('train() and eval() reach every descendant', () => {
  const net = new Net();
  assert.ok(net.modules().every((m) => m.training));
  assert.equal(net.eval(), net);
  assert.ok(net.modules().every((m) => !m.training));
  net.train();
  assert.ok(net.modules().every((m) => m.training));
  net.features.train(false);
  assert.equal(net.training, true);
  assert.ok(net.features.modules().every((m) => !m.training));
  net.dispose();
});

test('stateDict → loadStateDict round trip copies values in place', () => {
  const a = new Net();
  const b = new Net();
  tidy(() => {
    a.train().forward(tensor(Array.from({ length: 2 * 3 * 6 * 6 }, (_, i) => Math.sin(i)), [2, 3, 6, 6]));
  });
  const before = b.features.at(1) as Block;
  const weightObject = before.conv.weight;
  b.loadStateDict(a.stateDict());
  assert.equal(before.conv.weight, weightObject, 'the parameter object is kept (loaded in place)');
  assert.ok(before.conv.weight.requiresGrad);
  for (const [key, value] of a.stateDict()) {
    const other = b.stateDict().get(key)!;
    assert.equal(other.dtype, value.dtype, key);
    assert.deepEqual(other.toArray(), value.toArray(), key);
  }
  assert.equal(b.stateDict().get('features.1.bn.num_batches_tracked')!.item(), 1);
  // A plain object works too, and float values convert to the int64 counter.
  const record: Record<string, Tensor> = Object.fromEntries(a.stateDict());
  record['features.1.bn.num_batches_tracked'] = tensor([7], [], { dtype: 'float32' });
  b.loadStateDict(record);
  const counter = b.stateDict().get('features.1.bn.num_batches_tracked')!;
  assert.equal(counter.dtype, 'int64');
  assert.equal(counter.item(), 7);
  record['features.1.bn.num_batches_tracked']!.dispose();
  a.dispose();
  b.dispose();
});

test('loadStateDict names every missing, unexpected and mis-shaped key in one error and changes nothing', () => {
  const net = new Net();
  const state = new Map(net.stateDict());
  state.delete('head.bias');
  state.delete('features.1.counter');
  const extra = zeros([3]);
  state.set('head.extra', extra);
  const wrong = zeros([2, 5]);
  state.set('head.weight', wrong);
  const snapshot = net.head.weight.toArray();
  assert.throws(
    () => net.loadStateDict(state),
    (error: Error) => {
      assert.match(error.message, /missing keys: features\.1\.counter, head\.bias/);
      assert.match(error.message, /unexpected keys: head\.extra/);
      assert.match(error.message, /mis-shaped keys: head\.weight \(expected \[2, 4\], got \[2, 5\]\)/);
      return true;
    },
  );
  assert.deepEqual(net.head.weight.toArray(), snapshot);
  // Non-strict loading ignores missing and unexpected keys but still refuses wrong shapes.
  assert.throws(() => net.loadStateDict(state, { strict: false }), /mis-shaped keys: head\.weight/);
  state.delete('head.weight');
  net.loadStateDict(state, { strict: false });
  extra.dispose();
  wrong.dispose();
  net.dispose();
});

test('parameterCount matches a hand count', () => {
  const net = new Net();
  const stem = 4 * 3 * 3 * 3 + 4;
  const block = 4 + 4 * 4 * 3 * 3 + 4 + 4;
  const head = 4 * 2 + 2;
  assert.equal(net.parameterCount(), stem + block + head);
  net.stem.weight.requiresGrad = false;
  assert.equal(net.parameterCount({ trainableOnly: true }), stem + block + head - 4 * 3 * 3 * 3);
  assert.equal(net.parameterCount(), stem + block + head);
  net.dispose();
});

test('dispose frees every parameter and buffer', () => {
  const before = liveTensorCount();
  const net = new Net();
  const tensors = [...net.parameters(), ...net.buffers()];
  assert.equal(liveTensorCount() - before, tensors.length);
  net.dispose();
  assert.equal(liveTensorCount(), before);
  assert.ok(tensors.every((t) => t.isDisposed));
});

test('registered tensors survive the scope that created the module', () => {
  const before = liveTensorCount();
  const net = tidy(() => new Net());
  assert.equal(liveTensorCount() - before, net.parameters().length + net.buffers().length);
  net.dispose();
  assert.equal(liveTensorCount(), before);
});

test('apply visits children before their parent', () => {
  const net = new Net();
  const order: string[] = [];
  const names = new Map(net.namedModules().map(([n, m]) => [m, n] as const));
  net.apply((m) => order.push(names.get(m)!));
  assert.deepEqual(order, ['stem', 'features.0', 'features.1.conv', 'features.1.bn', 'features.1', 'features.2', 'features', 'head', '']);
  net.dispose();
});
