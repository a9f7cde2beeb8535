/**
 * The analytic profiler against an independent count: torchvision models of custom width/depth, class counts and
 * (non-square, non-multiple-of-32) input sizes, counted with forward hooks (fixture). Also padding conventions and
 * bad input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ScalingError,
  convOutputSize,
  customConfig,
  efficientNetB0Stages,
  networkSpec,
  profileNetwork,
  scaleNetwork,
} from '../../src/efficientnet/index.js';
import { loadTorchvisionFixture } from './fixture.js';

const fixture = loadTorchvisionFixture();

test('custom configurations match torchvision exactly (params, MACs, per stage)', () => {
  assert.ok(fixture.custom.length >= 8);
  for (const reference of fixture.custom) {
    const label = JSON.stringify({ width: reference.width, depth: reference.depth, imageSize: reference.imageSize, numClasses: reference.numClasses });
    const network = networkSpec({ width: reference.width!, depth: reference.depth! });
    assert.equal(network.stemChannels, reference.stemChannels, label);
    assert.equal(network.headChannels, reference.headChannels, label);
    assert.deepEqual(network.stages.map((s) => s.repeats), reference.repeats, label);
    const profile = profileNetwork(network, { imageSize: reference.imageSize, numClasses: reference.numClasses });
    assert.equal(profile.params, reference.params, `params ${label}`);
    assert.ok(Math.abs(profile.macs - reference.macs) <= 1e-3 * reference.macs, `MACs ${label}: ${profile.macs} vs ${reference.macs}`);
    assert.equal(profile.macs, reference.macs, `MACs exact ${label}`);
    assert.deepEqual(profile.stages.map((r) => [r.name, r.params, r.macs, r.activations]), reference.stages.map((r) => [r.name, r.params, r.macs, r.activations]), label);
    assert.equal(profile.activations, reference.activations, `activations ${label}`);
  }
});

test('convOutputSize: SAME is ceil(in / s), symmetric is floor((in + 2·(k//2) − k) / s) + 1', () => {
  for (let input = 1; input <= 70; input += 1) {
    for (const stride of [1, 2, 3]) {
      for (const kernel of [1, 2, 3, 4, 5, 7]) {
        assert.equal(convOutputSize(input, kernel, stride, 'same'), Math.ceil(input / stride));
        const pad = Math.floor(kernel / 2);
        const symmetric = convOutputSize(input, kernel, stride, 'symmetric');
        assert.equal(symmetric, Math.floor((input + 2 * pad - kernel) / stride) + 1);
        if (kernel % 2 === 1) assert.equal(symmetric, Math.ceil(input / stride), 'odd kernels agree');
      }
    }
  }
  assert.equal(convOutputSize(7, 4, 1, 'symmetric'), 8);
  assert.equal(convOutputSize(7, 4, 1, 'same'), 7);
});

test('B0 stage table: resolutions and channels of the paper Table 1', () => {
  const profile = profileNetwork(networkSpec({ width: 1, depth: 1 }), { imageSize: 224 });
  assert.deepEqual(
    profile.stages.map((r) => [r.name, r.operator, r.inputSize[0], r.outChannels, r.layers]),
    [
      ['stem', 'Conv3x3', 224, 32, 1],
      ['stage1', 'MBConv1, k3x3', 112, 16, 1],
      ['stage2', 'MBConv6, k3x3', 112, 24, 2],
      ['stage3', 'MBConv6, k5x5', 56, 40, 2],
      ['stage4', 'MBConv6, k3x3', 28, 80, 3],
      ['stage5', 'MBConv6, k5x5', 14, 112, 3],
      ['stage6', 'MBConv6, k5x5', 14, 192, 4],
      ['stage7', 'MBConv6, k3x3', 7, 320, 1],
      ['head', 'Conv1x1 & Pooling', 7, 1280, 1],
      ['classifier', 'FC', 1, 1000, 1],
    ],
  );
  // the classifier row by hand: 1280·1000 weights + 1000 biases, 1280·1000 MACs
  assert.deepEqual([profile.stages.at(-1)!.params, profile.stages.at(-1)!.macs], [1_281_000, 1_280_000]);
  // stem by hand: 3·3·3·32 weights + 2·32 BN, 112·112·32·27 MACs
  assert.deepEqual([profile.stages[0]!.params, profile.stages[0]!.macs], [928, 112 * 112 * 32 * 27]);
  // per-block costs add up to the stage
  for (const row of profile.stages) {
    if (row.blocks.length > 0) assert.equal(row.blocks.reduce((s, b) => s + b.macs, 0), row.macs);
  }
});

test('class count only changes the classifier; input size scales the MACs', () => {
  const network = scaleNetwork(efficientNetB0Stages());
  const a = profileNetwork(network, { imageSize: 224, numClasses: 1000 });
  const b = profileNetwork(network, { imageSize: 224, numClasses: 10 });
  assert.equal(a.params - b.params, 990 * 1281);
  assert.equal(a.macs - b.macs, 990 * 1280);
  const big = profileNetwork(network, { imageSize: 448, numClasses: 10 });
  assert.equal(big.params, b.params);
  const convMacs = (p: typeof b): number => p.macs - p.stages.at(-1)!.macs - p.stages.slice(1, -2).flatMap((r) => r.blocks).reduce((s, x) => s + 2 * x.block.midChannels * x.block.seChannels, 0);
  assert.equal(convMacs(big), 4 * convMacs(b), 'spatial conv MACs scale with the pixel count at multiples of 32');
});

test('bad input is refused with a clear message', () => {
  const network = scaleNetwork(efficientNetB0Stages());
  assert.throws(() => profileNetwork(network, { imageSize: 31 }), /input 31x31 is smaller than the network's total stride 32/);
  assert.throws(() => profileNetwork(network, { imageSize: [224, 16] }), /smaller than the network's total stride 32/);
  assert.throws(() => profileNetwork(network, { imageSize: 0 }), ScalingError);
  assert.throws(() => profileNetwork(network, { imageSize: 224.5 }), /positive integer number of pixels/);
  assert.throws(() => profileNetwork(network, { imageSize: 224, numClasses: 0 }), /number of classes must be an integer ≥ 1/);
  assert.throws(() => profileNetwork(network, { imageSize: 224, padding: 'valid' as 'same' }), /padding must be 'symmetric' or 'same'/);
  assert.throws(() => customConfig({ width: 1, depth: 1, resolution: 4 }), /below the smallest input any network takes/);
});
