/**
 * EfficientNet model: bad input gives clear errors (unknown variant, zero/negative multipliers, bad options, input
 * smaller than the total stride, wrong channel count); the backbone API: featureMaps returns the maps featureInfo
 * describes, forwardFeatures/forwardHead split forward, pooling choices, resetClassifier.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEfficientNet, customConfig, variantNames } from '../../src/efficientnet/index.js';
import { noGrad, randn, tidy, type Tensor } from '../../src/torch/index.js';

/** Largest |a − b|. */
function maxAbs(a: Tensor, b: Tensor): number {
  const x = a.toFloat32Array();
  const y = b.toFloat32Array();
  assert.equal(x.length, y.length);
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
  return worst;
}

test('an unknown variant name is refused with the list of valid names', () => {
  assert.throws(() => createEfficientNet('b9'), (error: Error) => error.message.includes("unknown EfficientNet variant 'b9'") && error.message.includes(variantNames().join(', ')));
  assert.throws(() => createEfficientNet('resnet50'), /valid names: b0, b1, b2, b3, b4, b5, b6, b7, b8, l2, v2-s, v2-m, v2-l/);
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

test('featureMaps returns one map per reduction with the channels, reductions and modules featureInfo states; outIndices picks levels', () => {
  const model = createEfficientNet(customConfig({ width: 0.25, depth: 0.5, resolution: 64 }), { numClasses: 3 });
  try {
    model.eval();
    const info = model.featureInfo();
    assert.deepEqual(info.map((i) => i.reduction), [2, 4, 8, 16, 32]);
    // B0's stages: the maps are the outputs of stages 1, 2, 3, 5 and 7 (torchvision's features.1, .2, .3, .5, .7).
    assert.deepEqual(info.map((i) => i.module), ['features.1', 'features.2', 'features.3', 'features.5', 'features.7']);
    assert.deepEqual(info.map((i) => i.index), [0, 1, 2, 3, 4]);
    tidy(() =>
      noGrad(() => {
        const x = randn([1, 3, 64, 96]);
        const maps = model.featureMaps(x);
        assert.equal(maps.length, info.length);
        maps.forEach((map, i) => assert.deepEqual(map.shape, [1, info[i]!.channels, 64 / info[i]!.reduction, 96 / info[i]!.reduction]));
        const picked = model.featureMaps(x, [1, 3]);
        assert.deepEqual(picked.map((m) => m.shape), [maps[1]!.shape, maps[3]!.shape]);
        assert.equal(maxAbs(picked[1]!, maps[3]!), 0);
      }),
    );
    assert.throws(() => model.featureMaps(randn([1, 3, 64, 64]), [5]), /feature level 5 does not exist: this network has levels 0..4/);
    assert.throws(() => model.featureMaps(randn([1, 3, 64, 64]), [2, 1]), /ascending without repeats/);
  } finally {
    model.dispose();
  }
});

test('forwardHead(forwardFeatures(x)) is forward(x); max pooling and preLogits are the pooled map; resetClassifier gives new outputs', () => {
  const model = createEfficientNet(customConfig({ width: 0.25, depth: 0.5, resolution: 64 }), { numClasses: 3 });
  try {
    model.eval();
    tidy(() =>
      noGrad(() => {
        const x = randn([2, 3, 64, 64]);
        const features = model.forwardFeatures(x);
        assert.deepEqual(features.shape, [2, model.spec.headChannels, 2, 2]);
        assert.ok(maxAbs(model.forwardHead(features), model.forward(x)) < 1e-6);
        // Independent reference for the pooled features: the mean and the max of each channel's 4 values.
        const values = features.toFloat32Array();
        const average = model.forwardHead(features, { preLogits: true }).toFloat32Array();
        const largest = model.forwardHead(features, { pool: 'max', preLogits: true }).toFloat32Array();
        for (let c = 0; c < 2 * model.spec.headChannels; c++) {
          const cell = values.slice(c * 4, c * 4 + 4);
          assert.ok(Math.abs(average[c]! - cell.reduce((a, b) => a + b, 0) / 4) < 1e-5);
          assert.equal(largest[c], Math.max(...cell));
        }
        assert.deepEqual(model.forwardHead(features, { pool: 'max' }).shape, [2, 3]);
        assert.throws(() => model.forwardHead(x), /expected the \[N, \d+, H, W\] map of forwardFeatures/);
      }),
    );
    model.resetClassifier(7);
    assert.equal(model.options.numClasses, 7);
    assert.deepEqual(model.stateDict().get('classifier.1.weight')!.shape, [7, model.spec.headChannels]);
    tidy(() => noGrad(() => assert.deepEqual(model.forward(randn([1, 3, 64, 64])).shape, [1, 7])));
  } finally {
    model.dispose();
  }
});
