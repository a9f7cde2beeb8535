/**
 * ONNX export against our own libtorch eval-mode forward (the independent reference: the exporter shares no code
 * with forward()): B0 at 224, a custom variant (width 0.5, depth 0.4, 5 classes, 96px) and a TF "SAME"-padding
 * variant at 96px (stride-2 convs on even sizes get asymmetric pads), each with random BN statistics so the folding is exercised. The files
 * are loaded by onnxruntime-node with every graph optimisation on; logits agree to 1e-4 at batch 1 and batch 3
 * (dynamic batch). Also: the graph has no BatchNormalization node, SiLU appears as Sigmoid × Mul, the opset is
 * 13, the metadata props are present, and bad export requests fail with clear errors. A backbone export
 * (`features`) has one output per level equal to featureMaps.
 */
import { cardOfModel } from '../../src/card/build.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { createEfficientNet, customConfig, getVariant, type EfficientNet } from '../../src/efficientnet/index.js';
import { BatchNorm2d } from '../../src/nn/index.js';
import { exportEfficientNet } from '../../src/export/index.js';
import { readOnnxMetadata, modelInfoFromMetadata } from '../../src/infer/model-info.js';
import { manualSeed, noGrad, randn, tensor, tidy, uniform_, normal_ } from '../../src/torch/index.js';

/** Gives every batch norm non-trivial statistics and affine parameters so that folding matters. */
function randomiseBatchNorms(model: EfficientNet): void {
  noGrad(() => {
    for (const [, module] of model.namedModules()) {
      if (!(module instanceof BatchNorm2d)) continue;
      uniform_(module.weight!, 0.5, 1.5);
      normal_(module.bias!, 0, 0.1);
      normal_(module.runningMean!, 0, 0.1);
      uniform_(module.runningVar!, 0.5, 1.5);
    }
  });
}

async function compare(model: EfficientNet, size: number, batch: number): Promise<{ worst: number; scale: number }> {
  const exported = exportEfficientNet(model, { imageSize: size });
  const session = await ort.InferenceSession.create(exported.bytes, { graphOptimizationLevel: 'all', intraOpNumThreads: 2 });
  try {
    model.eval();
    const [input, ours] = tidy(() => {
      const x = randn([batch, 3, size, size]);
      return [x.toFloat32Array(), noGrad(() => model.forward(x)).toFloat32Array()] as const;
    });
    {
      const result = await session.run({ input: new ort.Tensor('float32', input, [batch, 3, size, size]) });
      const logits = result.logits!;
      assert.deepEqual(logits.dims, [batch, model.options.numClasses]);
      const theirs = logits.data as Float32Array;
      let worst = 0;
      let scale = 0;
      for (let i = 0; i < ours.length; i++) {
        worst = Math.max(worst, Math.abs(ours[i]! - theirs[i]!));
        scale = Math.max(scale, Math.abs(ours[i]!));
      }
      return { worst, scale };
    }
  } finally {
    await session.release();
  }
}

test('b0 at 224: ONNX Runtime logits match libtorch eval logits to 1e-4; graph has folded BN and Sigmoid x Mul', async () => {
  manualSeed(1);
  const model = createEfficientNet('b0');
  try {
    randomiseBatchNorms(model);
    const exported = exportEfficientNet(model);
    assert.equal(exported.opCounts.get('BatchNormalization') ?? 0, 0);
    // stem + head + block 1 (depthwise, project) + 15 blocks (expand, depthwise, project) + 16 SE blocks x 2 convs
    assert.equal(exported.opCounts.get('Conv'), 1 + 1 + 2 + 15 * 3 + 16 * 2);
    assert.equal(exported.opCounts.get('Sigmoid'), exported.opCounts.get('Mul'));
    assert.equal(exported.opCounts.get('Gemm'), 1);
    const decoded = onnxProto.onnx.ModelProto.decode(exported.bytes);
    assert.equal(Number(decoded.opsetImport![0]!.version!), 13);
    assert.equal(decoded.graph!.input![0]!.type!.tensorType!.shape!.dim![0]!.dimParam, 'batch');
    const meta = readOnnxMetadata(exported.bytes);
    const info = modelInfoFromMetadata(meta);
    assert.equal(info.inputSize, 224);
    assert.equal(info.cropPct, 224 / 256);
    assert.deepEqual(info.mean, [0.485, 0.456, 0.406]);
    assert.equal(info.variant, 'b0');
    const { worst, scale } = await compare(model, 224, 1);
    console.log(`b0 max |ORT - libtorch| = ${worst.toExponential(2)} (logit scale ${scale.toFixed(2)})`);
    assert.ok(worst < 1e-4, `b0 logits differ by ${worst}`);
  } finally {
    model.dispose();
  }
});

test('custom variant (width 0.5, depth 0.4, 5 classes) at 96px, batch 3: logits match to 1e-4', async () => {
  manualSeed(2);
  const model = createEfficientNet(customConfig({ width: 0.5, depth: 0.4, resolution: 96 }), { numClasses: 5 });
  try {
    randomiseBatchNorms(model);
    const { worst } = await compare(model, 96, 3);
    console.log(`custom max |ORT - libtorch| = ${worst.toExponential(2)}`);
    assert.ok(worst < 1e-4, `custom logits differ by ${worst}`);
  } finally {
    model.dispose();
  }
});

test('a Lite network (ReLU6 as Clip(0, 6), no SE, width 0.5) at 96px, batch 2: logits match to 2e-5 of their range; its card says relu6 and lite', async () => {
  manualSeed(4);
  const model = createEfficientNet({ ...getVariant('lite1'), width: 0.5, resolution: 96 }, { numClasses: 6 });
  try {
    randomiseBatchNorms(model);
    const exported = exportEfficientNet(model, { imageSize: 96 });
    // stem + head + Clip after every activated conv: the first block has 1 (depthwise), each other block 2.
    const blocks = model.spec.blockCount;
    assert.equal(exported.opCounts.get('Clip'), 2 + 1 + 2 * (blocks - 1));
    assert.equal(exported.opCounts.get('Sigmoid') ?? 0, 0, 'no SiLU and no SE gate');
    const card = modelInfoFromMetadata(readOnnxMetadata(exported.bytes)).card;
    assert.equal(card.architecture.activation, 'relu6');
    assert.equal(card.architecture.scaling, 'lite');
    const { worst, scale } = await compare(model, 96, 2);
    console.log(`lite max |ORT - libtorch| = ${worst.toExponential(2)} (largest logit ${scale.toExponential(2)})`);
    // Relative to the logits' size (float32 through ~20 folded layers: ~1e-5 of the largest logit, 31 here; without
    // SE gates the random batch norms make them larger than the other tests'). A wrong activation misses by whole units.
    assert.ok(worst < 2e-5 * Math.max(1, scale), `Lite logits differ by ${worst}, largest logit ${scale}`);
  } finally {
    model.dispose();
  }
});

test('TF SAME padding variant at 96px (even sizes give asymmetric pads), batch 2: logits match to 1e-4', async () => {
  manualSeed(3);
  const model = createEfficientNet(customConfig({ width: 0.5, depth: 0.5, resolution: 96 }), { numClasses: 7, padding: 'same', batchNorm: 'tf' });
  try {
    randomiseBatchNorms(model);
    const exported = exportEfficientNet(model, { imageSize: 96 });
    const decoded = onnxProto.onnx.ModelProto.decode(exported.bytes);
    const asymmetric = decoded.graph!.node!.filter((n) => {
      const pads = (n.attribute ?? []).find((a) => a.name === 'pads')?.ints?.map(Number) ?? [];
      return pads.length === 4 && (pads[0] !== pads[2] || pads[1] !== pads[3]);
    });
    assert.ok(asymmetric.length > 0, 'a SAME model at an even size should have asymmetric pads');
    const { worst } = await compare(model, 96, 2);
    console.log(`same-padding max |ORT - libtorch| = ${worst.toExponential(2)}`);
    assert.ok(worst < 1e-4, `SAME logits differ by ${worst}`);
  } finally {
    model.dispose();
  }
});

test('bad export requests: wrong class-name count, image size below the total stride', () => {
  const model = createEfficientNet(customConfig({ width: 0.25, depth: 0.25, resolution: 64 }), { numClasses: 3 });
  try {
    assert.throws(() => cardOfModel(model, { classNames: ['a', 'b'] }), /2 class names for a model with 3 outputs/);
    assert.throws(() => exportEfficientNet(model, { imageSize: 16 }), /at least 32/);
    assert.throws(() => cardOfModel(model, { eval: { cropPct: 1.5 } }), /eval\.cropPct' must be a number in \(0, 1\]/);
    const other = createEfficientNet(customConfig({ width: 0.5, depth: 0.25, resolution: 64 }), { numClasses: 3 });
    try {
      assert.throws(() => exportEfficientNet(model, { card: cardOfModel(other) }), /the card does not describe this model: architecture\.width/);
    } finally {
      other.dispose();
    }
  } finally {
    model.dispose();
  }
});

test('readOnnxMetadata agrees with a full protobuf decode and rejects non-ONNX bytes', () => {
  const model = createEfficientNet(customConfig({ width: 0.25, depth: 0.25, resolution: 64 }), { numClasses: 2 });
  try {
    const exported = exportEfficientNet(model, { card: cardOfModel(model, { classNames: ['cat', 'dög ✓'] }) });
    const decoded = onnxProto.onnx.ModelProto.decode(exported.bytes);
    const expected = new Map(decoded.metadataProps.map((p) => [p.key!, p.value!]));
    assert.deepEqual(readOnnxMetadata(exported.bytes), expected);
    assert.deepEqual(modelInfoFromMetadata(expected).classNames, ['cat', 'dög ✓']);
    assert.throws(() => readOnnxMetadata(new TextEncoder().encode('definitely not protobuf\n'), 'x.onnx'), /x\.onnx is not a readable ONNX model/);
    assert.throws(() => modelInfoFromMetadata(new Map(), 'y.onnx'), /not exported by effnet/);
    // A file of the earlier layout (separate effnet.* keys, no card) is refused with the command that re-exports it.
    assert.throws(() => modelInfoFromMetadata(new Map([['effnet.format', '1'], ['effnet.crop_pct', '0.5']]), 'old.onnx'), /old\.onnx was exported by an earlier effnet .*effnet export --checkpoint/);
    void tensor;
  } finally {
    model.dispose();
  }
});

test('a backbone export (features 1,2,4) has one output per level whose values equal featureMaps (1e-4 of range) at batch 2, on B0-like and V2-S stages', async () => {
  for (const model of [createEfficientNet(customConfig({ width: 0.5, depth: 0.4, resolution: 96 }), { numClasses: 5 }), createEfficientNet('v2-s', { numClasses: 4 })]) {
    const size = 96;
    try {
      manualSeed(3);
      // Random BN statistics on the small model (folding exercised); V2-S's 41 blocks would amplify such statistics
      // into activations of 1e6 where float32 rounding alone decides the digits, so it keeps its initial ones.
      if (model.config.name !== 'v2-s') randomiseBatchNorms(model);
      model.eval();
      const exported = exportEfficientNet(model, { imageSize: size, features: [1, 2, 4] });
      const levels = JSON.parse(exported.metadata.get('effnet.features')!) as { index: number; output: string; channels: number; reduction: number; size: number[] }[];
      const info = model.featureInfo();
      assert.deepEqual(levels.map((l) => [l.index, l.output, l.channels, l.reduction]), [1, 2, 4].map((i) => [i, `feature_${i}`, info[i]!.channels, info[i]!.reduction]));
      assert.equal(exported.opCounts.get('Gemm') ?? 0, 0, 'no classifier in a backbone');
      const session = await ort.InferenceSession.create(exported.bytes, { graphOptimizationLevel: 'all', intraOpNumThreads: 2 });
      try {
        assert.deepEqual([...session.outputNames], ['feature_1', 'feature_2', 'feature_4']);
        const [input, ours] = tidy(() => {
          const x = randn([2, 3, size, size]);
          return [x.toFloat32Array(), noGrad(() => model.featureMaps(x, [1, 2, 4])).map((m) => ({ dims: m.shape, data: m.toFloat32Array() }))] as const;
        });
        const result = await session.run({ input: new ort.Tensor('float32', input, [2, 3, size, size]) });
        levels.forEach((level, i) => {
          const theirs = result[level.output]!;
          assert.deepEqual(theirs.dims, ours[i]!.dims);
          assert.deepEqual(theirs.dims.slice(2), level.size);
          const data = theirs.data as Float32Array;
          const scale = Math.max(...ours[i]!.data.map(Math.abs));
          let worst = 0;
          for (let j = 0; j < data.length; j++) worst = Math.max(worst, Math.abs(data[j]! - ours[i]!.data[j]!));
          assert.ok(worst <= 1e-4 * Math.max(1, scale), `${model.config.name} ${level.output}: ONNX differs from featureMaps by ${worst} (range ${scale})`);
        });
      } finally {
        await session.release();
      }
      assert.throws(() => exportEfficientNet(model, { imageSize: size, features: [5] }), /feature level 5 does not exist/);
      assert.throws(() => exportEfficientNet(model, { imageSize: size, features: [] }), /at least one/);
    } finally {
      model.dispose();
    }
  }
});
