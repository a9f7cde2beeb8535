/**
 * Each layer's forward pass, initialisation and (for BatchNorm2d) running statistics against PyTorch 1.13 on the
 * same weights and inputs (test/fixtures/nn/layers.json, written by scripts/fixtures/nn_optim.py).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copy_, liveTensorCount, manualSeed, noGrad, ones, randn, tidy, type Tensor } from '../../src/torch/index.js';
import {
  AdaptiveAvgPool2d,
  BatchNorm2d,
  Conv2d,
  Dropout,
  Flatten,
  Identity,
  Linear,
  ReLU,
  Sequential,
  Sigmoid,
  SiLU,
  type Module,
} from '../../src/nn/index.js';
import { assertClose, fromJson, loadFixture, type TensorJson } from './fixture.js';

interface ConvCase {
  options: { inC: number; outC: number; k: number | [number, number]; stride: number; padding: number | [number, number]; dilation: number; groups: number; bias: boolean };
  weight: TensorJson;
  bias: TensorJson | null;
  input: TensorJson;
  output: TensorJson;
}
interface BnStep { input: TensorJson; output: TensorJson; running_mean: TensorJson; running_var: TensorJson; num_batches_tracked: number }
interface Fixture {
  init: { seed: number; tensors: TensorJson[] };
  conv: ConvCase[];
  linear: { bias: boolean; weight: TensorJson; biasValue: TensorJson | null; input: TensorJson; output: TensorJson }[];
  batchnorm: { options: { eps: number; momentum: number | null }; weight: TensorJson; bias: TensorJson; train: BnStep[]; evalInput: TensorJson; evalOutput: TensorJson }[];
  activations: { input: TensorJson; silu: TensorJson; relu: TensorJson; sigmoid: TensorJson };
  pool: { input: TensorJson; size1: TensorJson; size2x3: TensorJson };
  sequential: {
    seed: number;
    keys: string[];
    parameterNames: string[];
    parameterCount: number;
    init: Record<string, TensorJson>;
    state: Record<string, TensorJson>;
    input: TensorJson;
    evalOutput: TensorJson;
  };
}

const fixture = loadFixture<Fixture>('nn/layers.json');
const TOL = 1e-5;

function setValue(target: Tensor, value: TensorJson): void {
  tidy(() => noGrad(() => copy_(target, fromJson(value))));
}

/** Runs `fn` in a scope and checks that it leaves no tensor behind. */
function noLeak(fn: () => void): void {
  const before = liveTensorCount();
  tidy(fn);
  assert.equal(liveTensorCount(), before, 'tensors leaked');
}

test('default initialisation draws the same numbers as PyTorch after the same seed', () => {
  manualSeed(fixture.init.seed);
  const modules = [new Conv2d(4, 6, 3), new Linear(5, 3), new Conv2d(4, 4, 3, { groups: 4, bias: false })];
  const params = modules.flatMap((m) => m.parameters());
  assert.equal(params.length, fixture.init.tensors.length);
  params.forEach((p, i) => assertClose(p, fixture.init.tensors[i]!, 0, `parameter ${i}`));
  for (const m of modules) m.dispose();
});

test('Conv2d forward matches PyTorch (stride, padding, dilation, groups, no bias)', () => {
  for (const [i, c] of fixture.conv.entries()) {
    const o = c.options;
    const conv = new Conv2d(o.inC, o.outC, o.k, { stride: o.stride, padding: o.padding, dilation: o.dilation, groups: o.groups, bias: o.bias });
    assert.deepEqual(conv.weight.shape, c.weight.shape);
    assert.equal(conv.bias === null, c.bias === null);
    assert.deepEqual(conv.namedParameters().map(([n]) => n), c.bias ? ['weight', 'bias'] : ['weight']);
    setValue(conv.weight, c.weight);
    if (conv.bias && c.bias) setValue(conv.bias, c.bias);
    noLeak(() => assertClose(conv.forward(fromJson(c.input)), c.output, TOL, `conv case ${i}`));
    conv.dispose();
  }
  assert.throws(() => new Conv2d(3, 4, 3, { groups: 2 }), /divisible by groups/);
  const conv = new Conv2d(3, 4, 3);
  assert.throws(() => tidy(() => conv.forward(ones([3, 8, 8]))), /expected NCHW input with 4 dimensions, got shape \[3, 8, 8\]/);
  conv.dispose();
});

test('Linear forward matches PyTorch, with and without bias', () => {
  for (const c of fixture.linear) {
    const layer = new Linear(5, 3, { bias: c.bias });
    setValue(layer.weight, c.weight);
    if (layer.bias && c.biasValue) setValue(layer.bias, c.biasValue);
    noLeak(() => assertClose(layer.forward(fromJson(c.input)), c.output, TOL, `linear bias=${c.bias}`));
    assert.throws(() => tidy(() => layer.forward(ones([2, 4]))), /expected input \[\.\.\., 5\], got \[2, 4\]/);
    layer.dispose();
  }
});

test('BatchNorm2d: training updates running stats and num_batches_tracked as PyTorch; eval uses them', () => {
  for (const c of fixture.batchnorm) {
    const what = `eps=${c.options.eps} momentum=${c.options.momentum}`;
    const bn = new BatchNorm2d(3, { eps: c.options.eps, momentum: c.options.momentum });
    assert.deepEqual(bn.namedParameters().map(([n]) => n), ['weight', 'bias']);
    assert.deepEqual(bn.namedBuffers().map(([n]) => n), ['running_mean', 'running_var', 'num_batches_tracked']);
    assert.equal(bn.numBatchesTracked!.dtype, 'int64');
    assert.deepEqual(bn.numBatchesTracked!.shape, []);
    setValue(bn.weight!, c.weight);
    setValue(bn.bias!, c.bias);
    bn.train();
    c.train.forEach((step, s) => {
      noLeak(() => assertClose(bn.forward(fromJson(step.input)), step.output, TOL, `${what} train output ${s}`));
      assertClose(bn.runningMean!, step.running_mean, TOL, `${what} running_mean ${s}`);
      assertClose(bn.runningVar!, step.running_var, TOL, `${what} running_var ${s}`);
      assert.equal(bn.numBatchesTracked!.item(), step.num_batches_tracked);
    });
    bn.eval();
    noLeak(() => assertClose(bn.forward(fromJson(c.evalInput)), c.evalOutput, TOL, `${what} eval output`));
    assert.equal(bn.numBatchesTracked!.item(), c.train.length, 'eval does not count batches');
    bn.dispose();
  }
});

test('BatchNorm2d without running statistics normalises with batch statistics in eval too', () => {
  const bn = new BatchNorm2d(2, { trackRunningStats: false, affine: false });
  assert.equal(bn.parameters().length + bn.buffers().length, 0);
  bn.eval();
  noLeak(() => {
    const y = bn.forward(randn([3, 2, 4, 4]).mul(5).add(2));
    const mean = y.mean([0, 2, 3]).toArray();
    for (const m of mean) assert.ok(Math.abs(m) < 1e-5, `channel mean ${m}`);
  });
});

test('SiLU, ReLU, Sigmoid, AdaptiveAvgPool2d, Flatten and Identity match PyTorch', () => {
  const a = fixture.activations;
  noLeak(() => {
    const x = fromJson(a.input);
    assertClose(new SiLU().forward(x), a.silu, TOL, 'silu');
    assertClose(new ReLU().forward(x), a.relu, TOL, 'relu');
    assertClose(new Sigmoid().forward(x), a.sigmoid, TOL, 'sigmoid');
    assert.equal(new Identity().forward(x), x);
    assert.deepEqual(new Flatten().forward(x).shape, [2, 48]);
    assert.deepEqual(new Flatten(0).forward(x).shape, [96]);
    assert.deepEqual(new Flatten(1, 2).forward(x).shape, [2, 12, 4]);
    const p = fromJson(fixture.pool.input);
    assertClose(new AdaptiveAvgPool2d(1).forward(p), fixture.pool.size1, TOL, 'pool 1');
    assertClose(new AdaptiveAvgPool2d([2, 3]).forward(p), fixture.pool.size2x3, TOL, 'pool 2x3');
  });
});

test('Dropout zeroes about p of the elements and scales the rest by 1/(1−p) in training; identity in eval', () => {
  const dropout = new Dropout(0.25);
  noLeak(() => {
    manualSeed(0);
    const x = ones([100, 100]);
    const values = dropout.forward(x).toArray();
    const zeros = values.filter((v) => v === 0).length;
    assert.ok(Math.abs(zeros / values.length - 0.25) < 0.02, `dropped fraction ${zeros / values.length}`);
    for (const v of values) assert.ok(v === 0 || Math.abs(v - 1 / 0.75) < 1e-6);
    dropout.eval();
    assert.equal(dropout.forward(x), x);
  });
  assert.throws(() => new Dropout(1), /p must be in \[0, 1\)/);
});

function buildReferenceNet(): Sequential {
  return new Sequential(
    new Conv2d(3, 8, 3, { stride: 2, padding: 1, bias: false }), new BatchNorm2d(8), new SiLU(),
    new Conv2d(8, 8, 3, { padding: 1, groups: 8, bias: false }), new BatchNorm2d(8), new ReLU(),
    new AdaptiveAvgPool2d(1), new Flatten(), new Dropout(0.2), new Linear(8, 5),
  );
}

test('Sequential: names, parameter count, initialisation and output of a small network match PyTorch', () => {
  const s = fixture.sequential;
  manualSeed(s.seed);
  const net: Module = buildReferenceNet();
  assert.deepEqual([...net.stateDict().keys()], s.keys);
  assert.deepEqual(net.namedParameters().map(([n]) => n), s.parameterNames);
  assert.equal(net.parameterCount(), s.parameterCount);
  for (const [key, value] of net.stateDict()) assertClose(value, s.init[key]!, 0, `init ${key}`);
  const state = tidy(() => new Map(Object.entries(s.state).map(([k, v]) => [k, fromJson(v, k.endsWith('num_batches_tracked') ? 'int64' : 'float32')] as const)));
  for (const value of state.values()) value.keep();
  net.loadStateDict(state);
  for (const value of state.values()) value.dispose();
  net.eval();
  noLeak(() => assertClose(net.forward(fromJson(s.input)), s.evalOutput, TOL, 'sequential eval output'));
  assert.equal((net as Sequential).length, 10);
  assert.ok((net as Sequential).at(-1) instanceof Linear);
  net.dispose();
});
