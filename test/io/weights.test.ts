/**
 * Model weights: effnet's own format (saveModel / loadModel round trip), imports of torchvision .pth and
 * timm-keyed checkpoints (the timm names come from an independent renaming written here from timm's documented
 * module tree, plus a hand-written table of B0's first blocks), the errors for bad checkpoints, the `effnet import`
 * command, and the download cache (cache hit, checksum, offline failure).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEfficientNet, customConfig, decodeArchitecture, type EfficientNet } from '../../src/efficientnet/index.js';
import { loadSafetensors, saveSafetensors } from '../../src/io/safetensors.js';
import { timmKeyMap } from '../../src/io/key-maps.js';
import { importWeights, loadIntoModel, loadModel, saveModel } from '../../src/model-file/weights.js';
import { MODEL_CARD_KEY, parseModelCardJson } from '../../src/card/model-card.js';
import {
  cacheFileName,
  downloadWeights,
  expectedHashPrefix,
  timmWeightUrl,
  TORCHVISION_WEIGHT_URLS,
  weightUrl,
} from '../../src/io/download.js';
import { run as runImport } from '../../src/cli/commands/import.js';
import { manualSeed, noGrad, randn, tidy, uniform_, type Tensor } from '../../src/torch/index.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));

function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'effnet-weights-'));
}

function maxAbsDiff(a: Tensor, b: Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  const x = a.toFloat32Array();
  const y = b.toFloat32Array();
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
  return worst;
}

/** Random BN statistics and affine parameters, so that comparisons involve every tensor. */
function randomiseBatchNorm(model: EfficientNet): void {
  noGrad(() => {
    for (const [key, tensor] of model.stateDict()) {
      if (/\.(running_var|weight)$/.test(key) && /\.1\.(running_var|weight)$/.test(key) && tensor.ndim === 1) uniform_(tensor, 0.7, 1.3);
      if (/\.1\.(running_mean|bias)$/.test(key) && tensor.ndim === 1) uniform_(tensor, -0.1, 0.1);
    }
  });
}

function logits(model: EfficientNet, input: Tensor): Float32Array {
  model.eval();
  return tidy(() => noGrad(() => model.forward(input).toFloat32Array()));
}

test('saveModel / loadModel round-trip rebuilds the same model (custom stages, SAME padding, TF BN, class names)', () => {
  manualSeed(1);
  const stages = decodeArchitecture(['r1_k3_s11_e1_i32_o16_se0.25', 'r2_k5_s22_e4_i16_o24_se0.25', 'r1_k3_s22_e6_i24_o40_noskip']);
  const model = createEfficientNet(customConfig({ width: 0.5, depth: 1.3, resolution: 64 }), {
    numClasses: 3,
    padding: 'same',
    batchNorm: 'tf',
    stages,
  });
  randomiseBatchNorm(model);
  const directory = scratch();
  const path = join(directory, 'model.safetensors');
  try {
    saveModel(path, model, { classNames: ['cat', 'dog', 'bird'] });
    const raw = loadSafetensors(path);
    const card = parseModelCardJson(raw.metadata[MODEL_CARD_KEY]!, path);
    raw.tensors.forEach((t) => t.dispose());
    assert.equal(card.version, 1);
    assert.deepEqual(card.classes.names, ['cat', 'dog', 'bird']);
    assert.deepEqual(card.architecture.batchNorm, { eps: 1e-3, momentum: 0.01 });
    assert.equal(card.architecture.padding, 'same');
    // 64px is a small image by the card's rule: the whole image at evaluation.
    assert.equal(card.eval.cropPct, 1);

    const { model: loaded, classNames } = loadModel(path);
    try {
      assert.deepEqual(classNames, ['cat', 'dog', 'bird']);
      assert.deepEqual(loaded.options, model.options);
      assert.deepEqual(loaded.config, model.config);
      assert.equal(loaded.spec.stages.length, 3);
      assert.equal(loaded.features.at(1).constructor, model.features.at(1).constructor);
      tidy(() => {
        const x = randn([2, 3, 64, 64]);
        assert.deepEqual(logits(loaded, x), logits(model, x));
      });
      for (const [key, tensor] of model.stateDict()) assert.equal(maxAbsDiff(tensor, loaded.stateDict().get(key)!), 0, key);
    } finally {
      loaded.dispose();
    }
    assert.throws(() => saveModel(path, model, { classNames: ['one'] }), /1 class names for a model with 3 outputs/);
    assert.throws(() => loadModel(join(FIXTURES, 'io', 'reference.safetensors')), /no 'effnet\.card' metadata.*effnet import/);
  } finally {
    model.dispose();
    rmSync(directory, { recursive: true, force: true });
  }
});

test('an imported 1,000-class checkpoint carries the ImageNet class names (torchvision\'s list); other class counts none', () => {
  const config = customConfig({ width: 0.1, depth: 0.1, resolution: 64 });
  const directory = mkdtempSync(join(tmpdir(), 'effnet-imagenet-'));
  const source = createEfficientNet(config, { numClasses: 1000 });
  try {
    const file = join(directory, 'imagenet.safetensors');
    saveSafetensors(file, source.stateDict());
    const imported = importWeights(file, { from: 'torchvision', variant: config });
    const refitted = importWeights(file, { from: 'torchvision', variant: config, numClasses: 10 });
    try {
      const names = imported.card.classes.names!;
      assert.equal(names.length, 1000);
      // Independent spot checks against torchvision 0.14's _IMAGENET_CATEGORIES (printed by its own Python).
      assert.deepEqual([names[0], names[1], names[2], names[927], names[999]], ['tench', 'goldfish', 'great white shark', 'trifle', 'toilet tissue']);
      assert.equal(refitted.card.classes.names, null, 'a new classifier has no ImageNet names');
    } finally {
      imported.model.dispose();
      refitted.model.dispose();
    }
  } finally {
    source.dispose();
    rmSync(directory, { recursive: true, force: true });
  }
});

test('torchvision .pth import (keys are ours): every tensor loads unchanged; another class count resets the classifier', () => {
  const pth = join(FIXTURES, 'efficientnet', 'parity-train.pth');
  const reference = loadSafetensors(join(FIXTURES, 'efficientnet', 'parity-train.safetensors')).tensors;
  const config = customConfig({ width: 0.1, depth: 0.5, resolution: 64 });
  const { model, checkpointClasses, classifierReset } = importWeights(pth, { from: 'torchvision', variant: config });
  const { model: fine, classifierReset: reset5 } = importWeights(pth, { from: 'torchvision', variant: config, numClasses: 5 });
  try {
    assert.equal(checkpointClasses, 10);
    assert.equal(classifierReset, false);
    assert.equal(model.options.numClasses, 10);
    for (const [key, tensor] of model.stateDict()) assert.equal(maxAbsDiff(tensor, reference.get(key)!), 0, key);
    assert.equal(reset5, true);
    assert.deepEqual(fine.stateDict().get('classifier.1.weight')!.shape, [5, fine.spec.headChannels]);
    for (const [key, tensor] of fine.stateDict()) {
      if (!key.startsWith('classifier.')) assert.equal(maxAbsDiff(tensor, reference.get(key)!), 0, key);
    }
    // A timm-named import of torchvision keys says which source the keys look like.
    assert.throws(() => importWeights(pth, { from: 'timm', variant: config }), /keys look like torchvision's: pass --from torchvision/);
  } finally {
    model.dispose();
    fine.dispose();
    reference.forEach((t) => t.dispose());
  }
});

/**
 * Our key → timm's, written from timm's documented EfficientNet tree, independently of src/io/key-maps.ts: B0's
 * first stage is timm's DepthwiseSeparableConv (conv_dw bn1 se conv_pw bn2), later stages InvertedResidual
 * (conv_pw bn1 conv_dw bn2 se conv_pwl bn3).
 */
function ourKeyToTimm(key: string, lastFeature: number, squeezeExcitation = true): string {
  const bn = (n: string, rest: string): string => `${n}.${rest}`;
  let m = /^features\.0\.0\.weight$/.exec(key);
  if (m) return 'conv_stem.weight';
  m = /^features\.0\.1\.(.+)$/.exec(key);
  if (m) return bn('bn1', m[1]!);
  m = new RegExp(`^features\\.${lastFeature}\\.0\\.weight$`).exec(key);
  if (m) return 'conv_head.weight';
  m = new RegExp(`^features\\.${lastFeature}\\.1\\.(.+)$`).exec(key);
  if (m) return bn('bn2', m[1]!);
  m = /^classifier\.1\.(weight|bias)$/.exec(key);
  if (m) return `classifier.${m[1]}`;
  m = /^features\.(\d+)\.(\d+)\.block\.(\d+)\.(.+)$/.exec(key);
  assert.ok(m, `no timm name for ${key}`);
  const stage = Number(m[1]) - 1;
  const layer = Number(m[3]);
  const rest = m[4]!;
  const prefix = `blocks.${stage}.${m[2]}`;
  const roles = (
    stage === 0
      ? [['conv_dw', 'bn1'], ['se'], ['conv_pw', 'bn2']]
      : [['conv_pw', 'bn1'], ['conv_dw', 'bn2'], ['se'], ['conv_pwl', 'bn3']]
  ).filter((role) => squeezeExcitation || role[0] !== 'se');
  const role = roles[layer]!;
  if (role[0] === 'se') return `${prefix}.se.${rest.replace(/^fc1\./, 'conv_reduce.').replace(/^fc2\./, 'conv_expand.')}`;
  if (rest === '0.weight') return `${prefix}.${role[0]}.weight`;
  return `${prefix}.${role[1]}.${rest.replace(/^1\./, '')}`;
}

test('timm key map of EfficientNet-Lite (no se.* keys): a timm-keyed Lite0 file imports to identical logits, tf_ with TF padding', () => {
  manualSeed(3);
  const model = createEfficientNet('lite0', { numClasses: 5 });
  randomiseBatchNorm(model);
  const directory = scratch();
  const file = join(directory, 'timm-lite0.safetensors');
  try {
    const renamed = new Map<string, Tensor>();
    for (const [key, tensor] of model.stateDict()) renamed.set(ourKeyToTimm(key, 8, false), tensor);
    assert.ok(![...renamed.keys()].some((key) => key.includes('.se.')));
    assert.ok(renamed.has('blocks.0.0.conv_pw.weight') && renamed.has('blocks.6.0.conv_pwl.weight'));
    saveSafetensors(file, renamed);
    const { model: imported, card } = importWeights(file, { from: 'timm', variant: 'efficientnet_lite0' });
    try {
      assert.equal(card.architecture.activation, 'relu6');
      assert.equal(card.architecture.scaling, 'lite');
      tidy(() => {
        const x = randn([1, 3, 64, 64]);
        assert.deepEqual(logits(imported, x), logits(model, x));
      });
    } finally {
      imported.dispose();
    }
    const { model: tf } = importWeights(file, { from: 'timm', variant: 'tf_efficientnet_lite0' });
    try {
      assert.equal(tf.options.padding, 'same');
      assert.equal(tf.config.activation, 'relu6');
    } finally {
      tf.dispose();
    }
  } finally {
    model.dispose();
    rmSync(directory, { recursive: true, force: true });
  }
});

test('timm key map: B0 names as timm writes them, and a timm-keyed file imports to identical logits', () => {
  manualSeed(2);
  const model = createEfficientNet('b0', { numClasses: 7 });
  randomiseBatchNorm(model);
  const map = timmKeyMap(model);
  // Hand-written: the stem, block 0.0 (depthwise separable), block 1.0 (inverted residual), the head.
  const expected: [string, string][] = [
    ['conv_stem.weight', 'features.0.0.weight'],
    ['bn1.running_var', 'features.0.1.running_var'],
    ['blocks.0.0.conv_dw.weight', 'features.1.0.block.0.0.weight'],
    ['blocks.0.0.bn1.weight', 'features.1.0.block.0.1.weight'],
    ['blocks.0.0.se.conv_reduce.weight', 'features.1.0.block.1.fc1.weight'],
    ['blocks.0.0.se.conv_expand.bias', 'features.1.0.block.1.fc2.bias'],
    ['blocks.0.0.conv_pw.weight', 'features.1.0.block.2.0.weight'],
    ['blocks.0.0.bn2.running_mean', 'features.1.0.block.2.1.running_mean'],
    ['blocks.1.0.conv_pw.weight', 'features.2.0.block.0.0.weight'],
    ['blocks.1.0.bn1.bias', 'features.2.0.block.0.1.bias'],
    ['blocks.1.0.conv_dw.weight', 'features.2.0.block.1.0.weight'],
    ['blocks.1.0.bn2.num_batches_tracked', 'features.2.0.block.1.1.num_batches_tracked'],
    ['blocks.1.0.se.conv_reduce.bias', 'features.2.0.block.2.fc1.bias'],
    ['blocks.1.0.se.conv_expand.weight', 'features.2.0.block.2.fc2.weight'],
    ['blocks.1.0.conv_pwl.weight', 'features.2.0.block.3.0.weight'],
    ['blocks.1.0.bn3.weight', 'features.2.0.block.3.1.weight'],
    ['blocks.1.1.conv_pwl.weight', 'features.2.1.block.3.0.weight'],
    ['blocks.6.0.bn3.running_var', 'features.7.0.block.3.1.running_var'],
    ['conv_head.weight', 'features.8.0.weight'],
    ['bn2.running_mean', 'features.8.1.running_mean'],
    ['classifier.weight', 'classifier.1.weight'],
    ['classifier.bias', 'classifier.1.bias'],
  ];
  for (const [timm, ours] of expected) assert.equal(map.get(timm), ours, timm);
  assert.equal(map.size, model.stateDict().size);

  const directory = scratch();
  const file = join(directory, 'timm.safetensors');
  try {
    const renamed = new Map<string, Tensor>();
    for (const [key, tensor] of model.stateDict()) renamed.set(ourKeyToTimm(key, 8), tensor);
    assert.equal(renamed.size, model.stateDict().size);
    saveSafetensors(file, renamed);
    const { model: imported } = importWeights(file, { from: 'timm', variant: 'b0' });
    try {
      assert.equal(imported.options.numClasses, 7);
      assert.equal(imported.options.padding, 'symmetric');
      tidy(() => {
        const x = randn([1, 3, 64, 64]);
        assert.deepEqual(logits(imported, x), logits(model, x));
      });
    } finally {
      imported.dispose();
    }
    // tf_ variants: TF "SAME" padding and BN eps 1e-3, same weights.
    const { model: tf } = importWeights(file, { from: 'timm', variant: 'tf_efficientnet_b0' });
    try {
      assert.equal(tf.options.padding, 'same');
      assert.equal(tf.options.batchNorm.eps, 1e-3);
      assert.equal(maxAbsDiff(tf.stateDict().get('features.3.1.block.1.0.weight')!, model.stateDict().get('features.3.1.block.1.0.weight')!), 0);
    } finally {
      tf.dispose();
    }
  } finally {
    model.dispose();
    rmSync(directory, { recursive: true, force: true });
  }
});

test('timm key map of EfficientNetV2-B0: ConvBnAct, EdgeResidual and InvertedResidual names as timm writes them; a timm-keyed file imports to identical logits, tf_ with TF padding', () => {
  manualSeed(4);
  const model = createEfficientNet('v2-b0', { numClasses: 6 });
  randomiseBatchNorm(model);
  const map = timmKeyMap(model);
  // Hand-written from timm's module tree: blocks.0 is a ConvBnAct (`cn`), blocks.1-2 EdgeResidual (`er`), 3-5 InvertedResidual with SE.
  const expected: [string, string][] = [
    ['blocks.0.0.conv.weight', 'features.1.0.block.0.0.weight'],
    ['blocks.0.0.bn1.running_mean', 'features.1.0.block.0.1.running_mean'],
    ['blocks.1.0.conv_exp.weight', 'features.2.0.block.0.0.weight'],
    ['blocks.1.0.bn1.weight', 'features.2.0.block.0.1.weight'],
    ['blocks.1.1.conv_pwl.weight', 'features.2.1.block.1.0.weight'],
    ['blocks.1.1.bn2.bias', 'features.2.1.block.1.1.bias'],
    ['blocks.3.0.conv_pw.weight', 'features.4.0.block.0.0.weight'],
    ['blocks.3.0.conv_dw.weight', 'features.4.0.block.1.0.weight'],
    ['blocks.3.0.se.conv_reduce.weight', 'features.4.0.block.2.fc1.weight'],
    ['blocks.5.7.bn3.running_var', 'features.6.7.block.3.1.running_var'],
    ['conv_head.weight', 'features.7.0.weight'],
    ['bn2.weight', 'features.7.1.weight'],
  ];
  for (const [timm, ours] of expected) assert.equal(map.get(timm), ours, timm);
  assert.equal(map.size, model.stateDict().size);
  const directory = scratch();
  const file = join(directory, 'timm-v2-b0.safetensors');
  try {
    const state = model.stateDict();
    saveSafetensors(file, new Map([...map].map(([timm, ours]) => [timm, state.get(ours)!])));
    const { model: imported, card } = importWeights(file, { from: 'timm', variant: 'efficientnetv2_b0' });
    try {
      assert.equal(card.architecture.scaling, 'efficientnetv2');
      tidy(() => {
        const x = randn([1, 3, 64, 64]);
        assert.deepEqual(logits(imported, x), logits(model, x));
      });
    } finally {
      imported.dispose();
    }
    const { model: tf } = importWeights(file, { from: 'timm', variant: 'tf_efficientnetv2_b0' });
    try {
      assert.equal(tf.options.padding, 'same');
      assert.equal(tf.options.batchNorm.eps, 1e-3);
    } finally {
      tf.dispose();
    }
  } finally {
    model.dispose();
    rmSync(directory, { recursive: true, force: true });
  }
});

test('checkpoint problems: missing, unexpected and mis-shaped keys are all named in one error and nothing loads', () => {
  const model = createEfficientNet(customConfig({ width: 0.1, depth: 0.5, resolution: 64 }), { numClasses: 10 });
  const { tensors } = loadSafetensors(join(FIXTURES, 'efficientnet', 'parity-train.safetensors'));
  try {
    const state = new Map([...tensors].filter(([key]) => !/^(input|sgd|rmsprop)\./.test(key)));
    state.delete('features.2.0.block.1.0.weight');
    state.set('features.9.0.weight', tensors.get('features.0.0.weight')!);
    state.set('classifier.1.bias', tensors.get('features.0.1.bias')!);
    const before = model.stateDict().get('features.0.0.weight')!.toFloat32Array();
    assert.throws(
      () => loadIntoModel(model, state, 'torchvision', 'bad.pth'),
      (error: Error) =>
        /bad\.pth does not fit/.test(error.message) &&
        /1 missing keys: features\.2\.0\.block\.1\.0\.weight/.test(error.message) &&
        /1 unexpected keys: features\.9\.0\.weight/.test(error.message) &&
        /1 mis-shaped keys: classifier\.1\.bias \(expected \[10\], got \[8\]\)/.test(error.message) &&
        /Nothing was loaded/.test(error.message),
    );
    assert.deepEqual(model.stateDict().get('features.0.0.weight')!.toFloat32Array(), before);
    // timm naming: problems are reported under timm's names.
    const timm = new Map([...state].filter(([key]) => key === 'features.0.0.weight').map(([, t]) => ['conv_stem.weight', t] as const));
    assert.throws(() => loadIntoModel(model, timm, 'timm', 'x.safetensors'), /missing keys: bn1\.weight, bn1\.bias/);
  } finally {
    model.dispose();
    tensors.forEach((t) => t.dispose());
  }
});

test('truncated, non-checkpoint and malicious files give clear errors and execute nothing', () => {
  const options = { from: 'torchvision' as const, variant: 'b0' };
  assert.throws(() => importWeights(join(FIXTURES, 'io', 'truncated.pth'), options), /truncated\.pth/);
  assert.throws(() => importWeights(join(FIXTURES, 'io', 'not_a_zip.pth'), options), /not_a_zip\.pth.*neither a torch\.save checkpoint/s);
  assert.throws(() => importWeights(join(FIXTURES, 'io', 'no-such-file.pth'), options), /could not read checkpoint .*no-such-file\.pth/);
  const directory = scratch();
  try {
    const text = join(directory, 'notes.txt');
    writeFileSync(text, 'these are not weights\n');
    assert.throws(() => importWeights(text, options), /neither a torch\.save checkpoint \(\.pth\) nor a safetensors file/);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
  const pwned = ['os-system', 'eval', 'popen', 'nested', 'stack-global'].map((tag) => `/tmp/effnet-pwned-${tag}`);
  for (const path of pwned) rmSync(path, { force: true });
  for (const evil of ['evil_os_system', 'evil_builtins_eval', 'evil_subprocess', 'evil_nested', 'evil_stack_global', 'evil_load_from_bytes']) {
    assert.throws(() => importWeights(join(FIXTURES, 'io', `${evil}.pth`), options), /evil_/, evil);
  }
  for (const path of pwned) assert.ok(!existsSync(path), `${path} exists: a pickle was executed`);
});

test('effnet import writes effnet weights that load back to the imported model', async () => {
  const directory = scratch();
  const out = join(directory, 'imported.safetensors');
  const pth = join(FIXTURES, 'efficientnet', 'parity-train.pth');
  const reference = loadSafetensors(join(FIXTURES, 'efficientnet', 'parity-train.safetensors')).tensors;
  const stdout = process.stdout.write;
  const stderr = process.stderr.write;
  const captured: string[] = [];
  try {
    process.stdout.write = ((chunk: string) => captured.push(String(chunk)) > 0) as typeof process.stdout.write;
    process.stderr.write = ((chunk: string) => captured.push(String(chunk)) > 0) as typeof process.stderr.write;
    // b0 does not fit a width-0.1 checkpoint: a clear error, nothing written.
    await assert.rejects(runImport(['--from', 'torchvision', pth, '--variant', 'b0', '--out', out]), /mis-shaped keys/);
    assert.equal(await runImport(['--from', 'caffe', pth, '--variant', 'b0', '--out', out]), 2);
    assert.equal(await runImport(['--from', 'torchvision', pth, '--variant', 'b0']), 2);
    assert.equal(await runImport(['--from', 'torchvision', pth, '--variant', 'b0', '--out', out, '--num-classes', '0']), 2);
    assert.equal(existsSync(out), false);
  } finally {
    process.stdout.write = stdout;
    process.stderr.write = stderr;
  }
  assert.ok(captured.some((line) => /--from must be one of torchvision, timm, got 'caffe'/.test(line)));
  assert.ok(captured.some((line) => /--out is required/.test(line)));
  // A real import: b0 weights written by effnet itself (torchvision keys), through the command.
  manualSeed(3);
  const source = createEfficientNet('b0', { numClasses: 4 });
  const sourcePath = join(directory, 'b0-torchvision.safetensors');
  saveSafetensors(sourcePath, source.stateDict());
  try {
    process.stdout.write = ((chunk: string) => captured.push(String(chunk)) > 0) as typeof process.stdout.write;
    assert.equal(await runImport(['--from', 'torchvision', sourcePath, '--variant', 'b0', '--out', out]), 0);
  } finally {
    process.stdout.write = stdout;
  }
  assert.ok(captured.some((line) => line.startsWith(`wrote ${out}`)));
  const { model } = loadModel(out);
  try {
    assert.equal(model.options.numClasses, 4);
    tidy(() => {
      const x = randn([1, 3, 64, 64]);
      assert.deepEqual(logits(model, x), logits(source, x));
    });
  } finally {
    model.dispose();
    source.dispose();
    reference.forEach((t) => t.dispose());
    rmSync(directory, { recursive: true, force: true });
  }
});

test('download: published URLs, cache names, sha256 prefix check on cache hits, clear offline error', async () => {
  assert.equal(weightUrl('torchvision', 'b0'), 'https://download.pytorch.org/models/efficientnet_b0_rwightman-3dd342df.pth');
  assert.equal(weightUrl('torchvision', 'efficientnet_b7'), TORCHVISION_WEIGHT_URLS.b7);
  assert.equal(weightUrl('torchvision', 'efficientnet_v2_s'), 'https://download.pytorch.org/models/efficientnet_v2_s-dd5fe13b.pth');
  assert.throws(() => weightUrl('torchvision', 'b8'), /publishes EfficientNet weights for b0, b1, b2, b3, b4, b5, b6, b7, v2-s, v2-m, v2-l; got 'b8'/);
  assert.equal(timmWeightUrl('tf_efficientnet_b0.aa_in1k'), 'https://huggingface.co/timm/tf_efficientnet_b0.aa_in1k/resolve/main/model.safetensors');
  assert.equal(cacheFileName(timmWeightUrl('efficientnet_b0.ra_in1k')), 'timm--efficientnet_b0.ra_in1k--model.safetensors');
  assert.equal(expectedHashPrefix('efficientnet_b0_rwightman-3dd342df.pth'), '3dd342df');
  assert.equal(expectedHashPrefix('model.safetensors'), null);

  const cache = scratch();
  try {
    // A cached file whose name carries the right sha256 prefix is used without any network access.
    const content = Buffer.from('pretend checkpoint bytes');
    const prefix = createHash('sha256').update(content).digest('hex').slice(0, 8);
    const name = `efficientnet_b0_test-${prefix}.pth`;
    writeFileSync(join(cache, name), content);
    const url = `http://127.0.0.1:9/models/${name}`;
    assert.equal(await downloadWeights(url, { cacheDir: cache }), join(cache, name));
    // A cached file that does not match its name's checksum is refused.
    const wrong = 'efficientnet_b0_test-00000000.pth';
    copyFileSync(join(cache, name), join(cache, wrong));
    await assert.rejects(downloadWeights(`http://127.0.0.1:9/models/${wrong}`, { cacheDir: cache }), /checksum mismatch for efficientnet_b0_test-00000000\.pth: .*promises a sha256 starting with 00000000/);
    // Nothing listens on port 9 here: the error names the URL and where to put a file fetched by hand.
    await assert.rejects(
      downloadWeights('http://127.0.0.1:9/models/efficientnet_b1-c27df63c.pth', { cacheDir: cache }),
      (error: Error) => /could not download http:\/\/127\.0\.0\.1:9\/models\/efficientnet_b1-c27df63c\.pth/.test(error.message) && error.message.includes(join(cache, 'efficientnet_b1-c27df63c.pth')),
    );
    assert.deepEqual(
      (await import('node:fs')).readdirSync(cache).filter((f) => f.endsWith('.part')),
      [],
      'a failed download left a temporary file behind',
    );
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});
