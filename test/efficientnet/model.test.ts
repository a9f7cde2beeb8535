/**
 * EfficientNet model: bad input gives clear errors (unknown variant, zero/negative multipliers, bad options, input
 * smaller than the total stride, wrong channel count), and forwardFeatures returns the maps featureInfo describes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEfficientNet, customConfig, variantNames } from '../../src/efficientnet/index.js';
import { noGrad, randn, tidy } from '../../src/torch/index.js';

test('an unknown variant name is refused with the list of valid names', () => {
  assert.throws(() => createEfficientNet('b9'), (error: Error) => error.message.includes("unknown EfficientNet variant 'b9'") && error.message.includes(variantNames().join(', ')));
  assert.throws(() => createEfficientNet('resnet50'), /valid names: b0, b1, b2, b3, b4, b5, b6, b7, b8, l2/);
});

test('zero, negative and non-finite multipliers are refused', () => {
  assert.throws(() => customConfig({ width: 0, depth: 1, resolution: 224 }), /width multiplier must be a finite number > 0, got 0/);
  assert.throws(() => customConfig({ width: 1, depth: -0.5, resolution: 224 }), /depth multiplier must be a finite number > 0, got -0.5/);
  // A configuration object written by hand goes through the same checks when the model is built.
  const bad = { name: 'custom', width: -1, depth: 1, resolution: 224, dropout: 0.2, phi: null };
  assert.throws(() => createEfficientNet(bad), /width multiplier must be a finite number > 0, got -1/);
  assert.throws(() => createEfficientNet({ ...bad, width: 1, depth: Number.NaN }), /depth multiplier must be a finite number > 0, got NaN/);
});

test('bad model options are refused', () => {
  const config = customConfig({ width: 0.1, depth: 0.2, resolution: 32 });
  assert.throws(() => createEfficientNet(config, { numClasses: 0 }), /numClasses must be a positive integer, got 0/);
  assert.throws(() => createEfficientNet(config, { dropout: 1 }), /dropout must be in \[0, 1\), got 1/);
  assert.throws(() => createEfficientNet(config, { stochasticDepth: -0.1 }), /stochasticDepth must be in \[0, 1\)/);
  assert.throws(() => createEfficientNet(config, { padding: 'valid' as 'same' }), /padding must be 'symmetric' or 'same', got 'valid'/);
  assert.throws(() => createEfficientNet(config, { batchNorm: { eps: 0, momentum: 0.1 } }), /batchNorm needs eps > 0/);
});

test('input smaller than the total stride, or with the wrong channels, is refused with the shape', () => {
  const model = createEfficientNet(customConfig({ width: 0.1, depth: 0.2, resolution: 32 }), { numClasses: 3 });
  try {
    model.eval();
    tidy(() =>
      noGrad(() => {
        assert.throws(() => model.forward(randn([1, 3, 16, 40])), /input 16x40 is smaller than the network's total stride 32; resize images to at least 32x32/);
        assert.throws(() => model.forward(randn([1, 1, 64, 64])), /expected NCHW input with 3 channels, got shape \[1, 1, 64, 64\]/);
        assert.throws(() => model.forward(randn([3, 64, 64])), /got shape \[3, 64, 64\]/);
        assert.deepEqual(model.forward(randn([2, 3, 32, 32])).shape, [2, 3]);
      }),
    );
  } finally {
    model.dispose();
  }
});

test('forwardFeatures returns one map per reduction with the channels and strides featureInfo states', () => {
  const model = createEfficientNet(customConfig({ width: 0.25, depth: 0.5, resolution: 64 }), { numClasses: 3 });
  try {
    model.eval();
    const info = model.featureInfo();
    assert.deepEqual(info.map((i) => i.stride), [2, 4, 8, 16, 32]);
    tidy(() =>
      noGrad(() => {
        const maps = model.forwardFeatures(randn([1, 3, 64, 96]));
        assert.equal(maps.length, info.length);
        maps.forEach((map, i) => assert.deepEqual(map.shape, [1, info[i]!.channels, 64 / info[i]!.stride, 96 / info[i]!.stride]));
      }),
    );
  } finally {
    model.dispose();
  }
});
