/**
 * The no-grad forward path of EfficientNet (evaluation): with grad mode off the model frees each activation as soon
 * as it is consumed and activates / adds in place (as torchvision's inplace SiLU and `result += input`). Checked
 * against the grad-enabled forward, which builds every activation out of place (the reference path):
 * - eval logits and feature maps equal to 1e-5, in both padding conventions and both memory formats; the input is
 *   left unchanged; a forward inside a scope leaves exactly one new tensor alive (the logits), and featureMaps
 *   only its maps;
 * - train mode under noGrad (e.g. BN recalibration) still applies stochastic depth and dropout: the same seed gives
 *   the same logits as the grad-enabled train forward.
 * Agreement of the eval logits with torchvision's is model-parity.test.ts's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEfficientNet, customConfig, type EfficientNet } from '../../src/efficientnet/index.js';
import { toChannelsLast } from '../../src/nn/index.js';
import { smallImageStages } from '../../src/card/small-images.js';
import {
  clone,
  contiguous,
  liveTensorCount,
  manualSeed,
  noGrad,
  randn,
  tidy,
  uniform_,
  type Tensor,
} from '../../src/torch/index.js';

function maxAbsDiff(a: Tensor, b: Tensor): number {
  assert.deepEqual(a.shape, b.shape, 'shapes differ');
  const x = a.toFloat32Array();
  const y = b.toFloat32Array();
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
  return worst;
}

/** A small model with residual blocks, SE and stride-1 stages (the small-image layout), with random BN statistics. */
function smallModel(padding: 'symmetric' | 'same', stochasticDepth = 0.2): EfficientNet {
  manualSeed(11);
  const model = createEfficientNet(customConfig({ width: 0.25, depth: 0.7, resolution: 32, dropout: 0.3 }), {
    numClasses: 10,
    padding,
    stochasticDepth,
    stages: smallImageStages(32),
  });
  noGrad(() => {
    for (const [name, buffer] of model.stateDict()) {
      if (name.endsWith('running_mean')) uniform_(buffer, -0.2, 0.2);
      if (name.endsWith('running_var')) uniform_(buffer, 0.5, 2);
    }
  });
  return model;
}

for (const padding of ['symmetric', 'same'] as const) {
  for (const format of ['contiguous', 'channels_last'] as const) {
    test(`no-grad eval forward equals the grad-enabled one and frees every activation (padding '${padding}', ${format})`, () => {
      const model = smallModel(padding);
      if (format === 'channels_last') toChannelsLast(model);
      model.eval();
      try {
        tidy(() => {
          const x0 = randn([4, 3, 32, 32]);
          const x = format === 'channels_last' ? contiguous(x0, 'channels_last') : x0;
          const before = clone(x);
          const reference = model.forward(x).detach();
          const referenceMaps = model.featureMaps(x).map((m) => m.detach());

          const live = liveTensorCount();
          const logits = noGrad(() => model.forward(x));
          assert.equal(liveTensorCount() - live, 1, 'only the logits stay alive after a no-grad forward');
          assert.ok(maxAbsDiff(logits, reference) < 1e-5, `logits differ by ${maxAbsDiff(logits, reference)}`);
          assert.equal(maxAbsDiff(x, before), 0, 'the input was modified');

          const liveMaps = liveTensorCount();
          const maps = noGrad(() => model.featureMaps(x));
          assert.equal(maps.length, referenceMaps.length);
          assert.equal(liveTensorCount() - liveMaps, maps.length, 'only the maps stay alive after a no-grad featureMaps');
          maps.forEach((map, i) => assert.ok(maxAbsDiff(map, referenceMaps[i]!) < 1e-5, `map ${i} differs by ${maxAbsDiff(map, referenceMaps[i]!)}`));
          assert.equal(maxAbsDiff(x, before), 0, 'the input was modified');
        });
      } finally {
        model.dispose();
      }
    });
  }
}

test('train mode under noGrad still applies stochastic depth and dropout (same seed, same logits as with grad)', () => {
  const model = smallModel('symmetric', 0.5);
  model.train();
  try {
    tidy(() => {
      const x = randn([8, 3, 32, 32]);
      manualSeed(3);
      const withGrad = model.forward(x).detach();
      manualSeed(3);
      const withoutGrad = noGrad(() => model.forward(x));
      assert.ok(maxAbsDiff(withoutGrad, withGrad) < 1e-5, `logits differ by ${maxAbsDiff(withoutGrad, withGrad)}`);
      manualSeed(4);
      const otherSeed = noGrad(() => model.forward(x));
      assert.ok(maxAbsDiff(otherSeed, withGrad) > 1e-3, 'another seed gives other logits: the random layers ran');
    });
  } finally {
    model.dispose();
  }
});
