import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchNorm2d, Conv2d, Flatten, Linear, ReLU, Sequential, AdaptiveAvgPool2d, Module } from '../../src/nn/index.js';
import { crossEntropy, manualSeed, randint, randn, tidy, type Tensor } from '../../src/torch/index.js';
import { RMSpropTF, paramGroupsWithWeightDecay } from '../../src/optim/index.js';
import { freeze, loadPretrained } from '../../src/train/finetune.js';

class Net extends Module {
  forward(x: Tensor): Tensor {
    return this.childModules().reduce((h, m) => m.forward(h), x);
  }
}

function net(classes: number, seed: number): Module {
  manualSeed(seed);
  const features = new Sequential(new Conv2d(3, 4, 3, { padding: 1, bias: false }), new BatchNorm2d(4), new ReLU());
  const model = new Net();
  model.registerModule('features', features);
  model.registerModule('pool', new AdaptiveAvgPool2d(1));
  model.registerModule('flatten', new Flatten());
  model.registerModule('classifier', new Linear(4, classes));
  return model;
}

function hex(t: Tensor): string {
  return t.dtype === 'int64' ? String(t.data()) : Buffer.from(t.toFloat32Array().buffer).toString('hex');
}

test('loadPretrained copies the body and keeps a fresh head for a new number of classes', () => {
  const pretrained = net(10, 1);
  const model = net(3, 2);
  const freshHead = hex(model.stateDict().get('classifier.weight')!);
  const report = loadPretrained(model, pretrained.stateDict());
  assert.deepEqual(report.replaced, ['classifier.weight', 'classifier.bias']);
  assert.deepEqual(report.unexpected, []);
  assert.ok(report.loaded.includes('features.0.weight'));
  assert.equal(hex(model.stateDict().get('features.0.weight')!), hex(pretrained.stateDict().get('features.0.weight')!));
  assert.equal(hex(model.stateDict().get('features.1.running_var')!), hex(pretrained.stateDict().get('features.1.running_var')!));
  assert.equal(hex(model.stateDict().get('classifier.weight')!), freshHead);
  const other = new Sequential(new Linear(2, 2));
  assert.throws(() => loadPretrained(model, other.stateDict()), /does not fit this module: \d+ missing keys: features\.0\.weight.*fit this model outside its head/);
  for (const m of [pretrained, model, other]) m.dispose();
});

test('freeze stops updates of the frozen parameters and their batch-norm statistics', () => {
  const model = net(3, 3);
  const frozenNames = freeze(model, ['features.']);
  assert.deepEqual(frozenNames, ['features.0.weight', 'features.1.weight', 'features.1.bias']);
  const before = new Map([...model.stateDict()].map(([name, t]) => [name, hex(t)]));
  const optimizer = new RMSpropTF(paramGroupsWithWeightDecay(model, 1e-5), { lr: 0.01 });
  model.train();
  assert.equal(model.modules().find((m) => m instanceof BatchNorm2d)!.training, false);
  tidy(() => {
    const loss = crossEntropy(model.forward(randn([4, 3, 6, 6])), randint(0, 3, [4]));
    loss.backward();
    optimizer.step();
  });
  for (const [name, t] of model.stateDict()) {
    if (name.startsWith('features.')) assert.equal(hex(t), before.get(name), `${name} changed`);
    else assert.notEqual(hex(t), before.get(name), `${name} did not train`);
  }
  assert.throws(() => freeze(model, ['feature.']), /no parameter name starts with 'feature\.'/);
  optimizer.dispose();
  model.dispose();
});
