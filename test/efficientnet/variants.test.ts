/**
 * The variant registry, over every registered variant: table values, the profile against torchvision's exact
 * parameter counts and hook-counted MACs (fixture), the PAPER.md figures, and the registry's errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  UnknownVariantError,
  compoundConfig,
  customConfig,
  getVariant,
  networkSpec,
  profileNetwork,
  variantNames,
} from '../../src/efficientnet/index.js';
import { loadTorchvisionFixture } from './fixture.js';

const fixture = loadTorchvisionFixture();

// PAPER.md: torchvision exact params and MACs (billions) at native resolution, 1000 classes.
const PAPER: Record<string, [number, number]> = {
  b0: [5_288_548, 0.3858],
  b1: [7_794_184, 0.6868],
  b2: [9_109_994, 0.9936],
  b3: [12_233_232, 1.8271],
  b4: [19_341_616, 4.3938],
  b5: [30_389_784, 10.2664],
  b6: [43_040_704, 19.0676],
  b7: [66_347_960, 37.7459],
};

test('registry holds b0..b8, l2, V2-S/M/L, Lite0-4 and V2-B0..B3 with the reference (width, depth, resolution, dropout)', () => {
  assert.deepEqual(variantNames(), ['b0', 'b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7', 'b8', 'l2', 'v2-s', 'v2-m', 'v2-l', 'v2-xl', 'lite0', 'lite1', 'lite2', 'lite3', 'lite4', 'v2-b0', 'v2-b1', 'v2-b2', 'v2-b3']);
  const table: Record<string, [number, number, number, number]> = {
    b0: [1.0, 1.0, 224, 0.2], b1: [1.0, 1.1, 240, 0.2], b2: [1.1, 1.2, 260, 0.3], b3: [1.2, 1.4, 300, 0.3],
    b4: [1.4, 1.8, 380, 0.4], b5: [1.6, 2.2, 456, 0.4], b6: [1.8, 2.6, 528, 0.5], b7: [2.0, 3.1, 600, 0.5],
    b8: [2.2, 3.6, 672, 0.5], l2: [4.3, 5.3, 800, 0.5],
    // torchvision's efficientnet_v2_s/m/l: dropout 0.2/0.3/0.4; resolution the eval crop of the published weights.
    'v2-s': [1.0, 1.0, 384, 0.2], 'v2-m': [1.0, 1.0, 480, 0.3], 'v2-l': [1.0, 1.0, 480, 0.4],
    // V2-XL: the TF reference's efficientnetv2-xl test size and dropout (timm's tf_efficientnetv2_xl).
    'v2-xl': [1.0, 1.0, 512, 0.4],
    // timm's _gen_efficientnet_lite table (the TF reference's lite/ models).
    lite0: [1.0, 1.0, 224, 0.2], lite1: [1.0, 1.1, 240, 0.2], lite2: [1.1, 1.2, 260, 0.3], lite3: [1.2, 1.4, 280, 0.3], lite4: [1.4, 1.8, 300, 0.3],
    // The TF reference's efficientnetv2-b0..b3 (width, depth, train size, test size, dropout): the test size here.
    'v2-b0': [1.0, 1.0, 224, 0.2], 'v2-b1': [1.0, 1.1, 240, 0.2], 'v2-b2': [1.1, 1.2, 260, 0.3], 'v2-b3': [1.2, 1.4, 300, 0.3],
  };
  for (const name of variantNames()) {
    const c = getVariant(name);
    assert.deepEqual([c.width, c.depth, c.resolution, c.dropout], table[name], name);
    assert.equal(c.phi, null);
  }
  assert.equal(getVariant('efficientnet-b3').name, 'b3');
  assert.equal(getVariant('EfficientNet_B3').name, 'b3');
  for (const spelling of ['v2-s', 'V2_S', 'efficientnet_v2_s', 'efficientnetv2-s', 'EfficientNet-V2-S']) assert.equal(getVariant(spelling).name, 'v2-s', spelling);
  for (const spelling of ['lite0', 'efficientnet_lite0', 'tf_efficientnet_lite0', 'EfficientNet-Lite0']) assert.equal(getVariant(spelling).name, 'lite0', spelling);
  for (const spelling of ['v2-b2', 'V2_B2', 'efficientnetv2_b2', 'tf_efficientnetv2_b2', 'EfficientNetV2-B2']) assert.equal(getVariant(spelling).name, 'v2-b2', spelling);
  for (const spelling of ['v2-xl', 'efficientnetv2_xl', 'tf_efficientnetv2_xl']) assert.equal(getVariant(spelling).name, 'v2-xl', spelling);
});

// timm's results tables for tf_efficientnetv2_b0..b3 and _xl: 7.14M, 8.14M, 10.10M, 14.36M, 208.12M parameters.
test('V2-B0..B3 and XL: parameter counts equal the published ones (to the 10,000 they are given in); channels rounded without the 90% floor', () => {
  const published: Record<string, number> = { 'v2-b0': 7.14, 'v2-b1': 8.14, 'v2-b2': 10.1, 'v2-b3': 14.36, 'v2-xl': 208.12 };
  for (const [name, millions] of Object.entries(published)) {
    const config = getVariant(name);
    assert.equal(config.scaling, name === 'v2-xl' ? undefined : 'efficientnetv2');
    const spec = networkSpec(config);
    assert.equal(Math.round(profileNetwork(spec, { imageSize: config.resolution }).params / 1e4) / 100, millions, name);
    for (const stage of spec.stages.slice(0, 3)) assert.ok(stage.fused && stage.seRatio === 0, `${name}: stages 1-3 are fused, without SE`);
  }
  // B3 (width 1.2): 16 · 1.2 = 19.2 rounds to 16 here, where EfficientNet's rule adds 8 (16 < 0.9 · 19.2).
  const b3 = networkSpec(getVariant('v2-b3'));
  assert.equal(b3.stages[0]!.outChannels, 16);
  assert.equal(networkSpec({ ...getVariant('v2-b3'), scaling: 'efficientnet' }, b3.stages.map((s) => s.base)).stages[0]!.outChannels, 24);
  assert.deepEqual([b3.stemChannels, b3.headChannels], [40, 1536]);
});

// Parameters and MACs of EfficientNet-Lite as published with an independent PyTorch port of the TF reference
// (d-li14/efficientnet-lite.pytorch: 4.652M, 5.417M, 6.092M, 8.197M, 13.007M parameters; Lite0 0.385 GMACs at 224).
test('Lite0-4: parameter counts equal the published ones (to the 1,000 they are given in), ReLU6, no SE, stem 32 and head 1280', () => {
  const published: Record<string, number> = { lite0: 4.652, lite1: 5.417, lite2: 6.092, lite3: 8.197, lite4: 13.007 };
  for (const [name, millions] of Object.entries(published)) {
    const config = getVariant(name);
    assert.equal(config.activation, 'relu6');
    assert.equal(config.scaling, 'lite');
    const spec = networkSpec(config);
    const profile = profileNetwork(spec, { imageSize: config.resolution });
    assert.equal(Math.round(profile.params / 1000) / 1000, millions, `${name}: ${profile.params} parameters`);
    assert.equal(spec.stemChannels, 32);
    assert.equal(spec.headChannels, 1280);
    assert.equal(spec.stages[0]!.inChannels, 32, 'the first stage reads the unscaled stem');
    assert.ok(spec.stages.every((stage) => stage.seRatio === 0), `${name}: no squeeze-excitation`);
    assert.deepEqual([spec.stages[0]!.repeats, spec.stages.at(-1)!.repeats], [1, 1], `${name}: first and last repeats unscaled`);
    if (name === 'lite0') assert.equal(Math.round(profile.macs / 1e6) / 1e3, 0.385);
  }
});

for (const name of variantNames()) {
  test(`variant ${name}: profile is consistent and matches the references where they exist`, () => {
    const config = getVariant(name);
    const network = networkSpec(config);
    const profile = profileNetwork(network, { imageSize: config.resolution });
    assert.equal(profile.params, profile.stages.reduce((s, r) => s + r.params, 0));
    assert.ok(profile.macs > 0 && Number.isSafeInteger(profile.macs));
    const same = profileNetwork(network, { imageSize: config.resolution, padding: 'same' });
    assert.equal(same.macs, profile.macs, 'odd kernels: SAME and symmetric give the same sizes');
    assert.deepEqual(profile.stages.at(-2)!.outputSize, [Math.ceil(config.resolution / 32), Math.ceil(config.resolution / 32)]);

    const reference = fixture.variants.find((v) => v.name === name);
    if (reference !== undefined) {
      assert.deepEqual(reference.imageSize, [config.resolution, config.resolution]);
      assert.equal(network.stemChannels, reference.stemChannels);
      assert.equal(network.headChannels, reference.headChannels);
      assert.deepEqual(network.stages.map((s) => s.repeats), reference.repeats);
      assert.equal(profile.params, reference.params, 'params vs torchvision');
      assert.equal(profile.macs, reference.macs, 'MACs vs torchvision hooks');
      assert.equal(profile.activations, reference.activations, 'activations (conv output elements) vs torchvision hooks');
      assert.deepEqual(
        profile.stages.map((r) => [r.name, r.params, r.macs, r.activations]),
        reference.stages.map((r) => [r.name, r.params, r.macs, r.activations]),
        'per-stage params, MACs and activations vs torchvision',
      );
    }
    const paper = PAPER[name];
    if (paper !== undefined) {
      assert.equal(profile.params, paper[0]);
      assert.ok(Math.abs(profile.macs / 1e9 - paper[1]) / paper[1] < 1e-3, `${name} MACs ${profile.macs / 1e9}B vs ${paper[1]}B`);
    }
  });
}

test('the fixture covers b0..b7, V2-S/M/L, Lite0-4, V2-XL and V2-B0..B3', () => {
  assert.deepEqual(fixture.variants.map((v) => v.name), ['b0', 'b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7', 'v2-s', 'v2-m', 'v2-l', 'lite0', 'lite1', 'lite2', 'lite3', 'lite4', 'v2-xl', 'v2-b0', 'v2-b1', 'v2-b2', 'v2-b3']);
});

// torchvision 0.14's weights metadata, num_params of EfficientNet_V2_{S,M,L}_Weights.IMAGENET1K_V1.
test('V2-S/M/L: parameter counts equal torchvision\'s published num_params; stems 24/24/32, Fused-MBConv stages without SE', () => {
  const published: Record<string, number> = { 'v2-s': 21_458_488, 'v2-m': 54_139_356, 'v2-l': 118_515_272 };
  for (const [name, params] of Object.entries(published)) {
    const config = getVariant(name);
    const spec = networkSpec(config);
    assert.equal(profileNetwork(spec, { imageSize: config.resolution }).params, params, name);
    assert.equal(spec.stemChannels, name === 'v2-l' ? 32 : 24);
    assert.equal(spec.headChannels, 1280);
    for (const stage of spec.stages.slice(0, 3)) assert.ok(stage.fused && stage.seRatio === 0, `${name}: stages 1-3 are fused, without SE`);
    for (const stage of spec.stages.slice(3)) assert.ok(!stage.fused && stage.seRatio === 0.25, `${name}: stages 4+ are MBConv with SE`);
  }
});

test('compound configuration: φ = 0 is B0, φ = 0.5 gives B1 resolution', () => {
  const zero = compoundConfig({ phi: 0 });
  assert.deepEqual([zero.width, zero.depth, zero.resolution, zero.phi], [1, 1, 224, 0]);
  const half = compoundConfig({ phi: 0.5 });
  assert.equal(half.resolution, 240);
  assert.ok(Math.abs(half.width - Math.sqrt(1.1)) < 1e-12 && Math.abs(half.depth - Math.sqrt(1.2)) < 1e-12);
  const custom = compoundConfig({ phi: 2, alpha: 1.4, beta: 1.2, gamma: 1.1, baseResolution: 192, resolutionMultiple: 32 });
  assert.ok(Math.abs(custom.depth - 1.96) < 1e-12 && Math.abs(custom.width - 1.44) < 1e-12);
  assert.equal(custom.resolution, 224); // 192 · 1.21 = 232.3 → nearest multiple of 32
  assert.equal(compoundConfig({ phi: 6 }).dropout, 0.5);
});

test('errors: unknown variant lists the names; bad multipliers; resolution below the total stride', () => {
  assert.throws(() => getVariant('b9'), (error: unknown) => {
    assert.ok(error instanceof UnknownVariantError);
    assert.match(error.message, /unknown EfficientNet variant 'b9'; valid names: b0, b1, b2, b3, b4, b5, b6, b7, b8, l2/);
    return true;
  });
  for (const bad of [0, -0.5, Number.NaN]) {
    assert.throws(() => customConfig({ width: bad, depth: 1, resolution: 224 }), /width multiplier must be a finite number > 0/);
    assert.throws(() => customConfig({ width: 1, depth: bad, resolution: 224 }), /depth multiplier must be a finite number > 0/);
  }
  assert.throws(() => customConfig({ width: 1, depth: 1, resolution: 7 }), /resolution 7 is below the smallest input any network takes \(8 pixels\)/);
  assert.throws(() => customConfig({ width: 1, depth: 1, resolution: 100.5 }), /integer number of pixels/);
  assert.throws(() => customConfig({ width: 1, depth: 1, resolution: 224, dropout: 1 }), /dropout must be in \[0, 1\)/);
  assert.throws(() => compoundConfig({ phi: -40 }), /below the smallest input any network takes/);
});
