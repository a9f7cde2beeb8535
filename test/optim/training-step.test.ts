/** A whole training step (forward, loss, backward, optimizer step) inside tidy() keeps the live tensor count flat. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crossEntropy, liveTensorCount, manualSeed, randint, randn, tidy } from '../../src/torch/index.js';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, Sequential, SiLU } from '../../src/nn/index.js';
import { AdamW, RMSpropTF, SGD, paramGroupsWithWeightDecay, type Optimizer } from '../../src/optim/index.js';

const makers: [string, (net: Sequential) => Optimizer][] = [
  ['RMSpropTF', (net) => new RMSpropTF(paramGroupsWithWeightDecay(net, 1e-5), { lr: 0.01 })],
  ['SGD', (net) => new SGD(net.parameters(), { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-4 })],
  ['AdamW', (net) => new AdamW(net.parameters(), { lr: 0.01 })],
];

for (const [name, make] of makers) {
  test(`${name}: training steps in tidy() leak nothing and reduce the loss`, () => {
    manualSeed(0);
    const net = new Sequential(
      new Conv2d(3, 8, 3, { padding: 1, bias: false }), new BatchNorm2d(8), new SiLU(),
      new AdaptiveAvgPool2d(1), new Flatten(), new Linear(8, 4),
    );
    const optimizer = make(net);
    const x = randn([8, 3, 6, 6]).keep();
    const y = randint(0, 4, [8]).keep();
    const losses: number[] = [];
    let live = -1;
    for (let i = 0; i < 12; i++) {
      losses.push(
        tidy(() => {
          optimizer.zeroGrad();
          const loss = crossEntropy(net.forward(x), y);
          loss.backward();
          optimizer.step();
          return loss.item();
        }),
      );
      if (i === 1) live = liveTensorCount();
      if (i > 1) assert.equal(liveTensorCount(), live, `step ${i} changed the live tensor count`);
    }
    assert.ok(losses[losses.length - 1]! < losses[0]!, `loss did not fall: ${losses.join(', ')}`);
    optimizer.dispose();
    net.dispose();
    x.dispose();
    y.dispose();
  });
}
