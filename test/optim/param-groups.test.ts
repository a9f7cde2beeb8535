/** paramGroupsWithWeightDecay: BN weights/biases and every bias go to the no-decay group, as timm's helper does. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Tensor } from '../../src/torch/index.js';
import { BatchNorm2d, Conv2d, Linear, Sequential, SiLU } from '../../src/nn/index.js';
import { AdamW, paramGroupsWithWeightDecay } from '../../src/optim/index.js';

function names(net: Sequential, tensors: Tensor[]): string[] {
  const byTensor = new Map(net.namedParameters().map(([n, t]) => [t, n] as const));
  return tensors.map((t) => byTensor.get(t)!);
}

function buildNet(): Sequential {
  return new Sequential(
    new Conv2d(3, 4, 3, { bias: false }), new BatchNorm2d(4), new SiLU(),
    new Conv2d(4, 4, 1), new Linear(4, 2),
  );
}

test('BN and bias parameters end in the no-decay group', () => {
  const net = buildNet();
  const groups = paramGroupsWithWeightDecay(net, 1e-5);
  assert.equal(groups.length, 2);
  assert.equal(groups[0]!.weightDecay, 0);
  assert.deepEqual(names(net, groups[0]!.params), ['1.weight', '1.bias', '3.bias', '4.bias']);
  assert.equal(groups[1]!.weightDecay, 1e-5);
  assert.deepEqual(names(net, groups[1]!.params), ['0.weight', '3.weight', '4.weight']);
  // The groups feed an optimizer directly.
  const opt = new AdamW(groups, { lr: 0.01, weightDecay: 0.5 });
  assert.deepEqual(opt.paramGroups.map((g) => g.weightDecay), [0, 1e-5]);
  net.dispose();
});

test('skipBnAndBias false gives one decayed group; noWeightDecay and frozen parameters are honoured', () => {
  const net = buildNet();
  const all = paramGroupsWithWeightDecay(net, 0.1, { skipBnAndBias: false });
  assert.equal(all.length, 1);
  assert.equal(all[0]!.weightDecay, 0.1);
  assert.equal(all[0]!.params.length, net.parameters().length);
  net.namedParameters().find(([n]) => n === '4.weight')![1].requiresGrad = false;
  const groups = paramGroupsWithWeightDecay(net, 0.1, { noWeightDecay: ['3.weight'] });
  assert.deepEqual(names(net, groups[0]!.params), ['1.weight', '1.bias', '3.weight', '3.bias', '4.bias']);
  assert.deepEqual(names(net, groups[1]!.params), ['0.weight']);
  assert.throws(() => paramGroupsWithWeightDecay(net, -1), /weightDecay must be a finite number >= 0, got -1/);
  net.dispose();
});
