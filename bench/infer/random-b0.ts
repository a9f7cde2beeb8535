/**
 * The network the inference benchmarks time: EfficientNet-B0 (ImageNet head) with seeded weights and non-trivial
 * batch-norm statistics, so that logits are not vanishingly small (checks of one runtime against another then mean
 * something, and int8 calibration sees real ranges); speed does not depend on the values.
 */
import { createEfficientNet, type EfficientNet } from '../../src/efficientnet/index.js';
import { BatchNorm2d } from '../../src/nn/index.js';
import { manualSeed, noGrad, normal_, uniform_ } from '../../src/torch/index.js';

/** B0 in eval mode, seeded with `seed`, its batch norms' affine parameters and running statistics randomised. */
export function randomB0(seed = 0): EfficientNet {
  return randomVariant('b0', seed);
}

/** The registered variant `name` (ImageNet head) in eval mode, seeded, batch norms randomised as {@link randomB0}'s. */
export function randomVariant(name: string, seed = 0): EfficientNet {
  manualSeed(seed);
  const model = createEfficientNet(name).eval();
  noGrad(() => {
    for (const [, module] of model.namedModules()) {
      if (!(module instanceof BatchNorm2d)) continue;
      uniform_(module.weight!, 0.5, 1.5);
      normal_(module.bias!, 0, 0.1);
      normal_(module.runningMean!, 0, 0.1);
      uniform_(module.runningVar!, 0.5, 1.5);
    }
  });
  return model;
}
