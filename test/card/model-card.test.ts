/**
 * The model card: validation, the resolver's rules against their independent statements (the variant registry of
 * the paper and torchvision, compound scaling's formulas, the small-image rule), the round trip of the card from
 * every source through every file that stores it (model file, checkpoint, run directory, ONNX), and files written
 * before the card: they load with the preprocessing they were trained under (effnet eval reproduces the validation
 * loss that run recorded), or are refused with the command that converts them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cardDifferences, MODEL_CARD_KEY, ModelCardError, parseModelCard, parseModelCardJson, serializeModelCard, type ModelCard } from '../../src/card/model-card.js';
import { configOfCard, resolveModelCard, stagesOfCard } from '../../src/card/resolve.js';
import { attachCard, cardOf, cardOfModel, createModelFromCard } from '../../src/card/build.js';
import { createEfficientNet, customConfig } from '../../src/efficientnet/index.js';
import { writeScaledConfig } from '../../src/card/config-file.js';
import { trialCard } from '../../src/search/trial.js';
import { EFFICIENTNET_B0_BLOCK_STRINGS } from '../../src/efficientnet/block-spec.js';
import { saveModel, loadModel } from '../../src/model-file/weights.js';
import { readSafetensorsMetadata } from '../../src/io/safetensors.js';
import { exportEfficientNet } from '../../src/export/efficientnet-onnx.js';
import { cardFromOnnxMetadata, readOnnxMetadata } from '../../src/infer/model-info.js';
import { saveCheckpoint } from '../../src/model-file/checkpoint.js';
import { openModel, readModelCard } from '../../src/model-file/open.js';
import { SGD } from '../../src/optim/index.js';
import { runCli, writeImageFolder } from '../train/cli-helpers.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/legacy');
const dir = mkdtempSync(join(tmpdir(), 'effnet-card-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const B0_STRIDES = [1, 2, 2, 2, 1, 2, 1];
const strides = (card: ModelCard): number[] => stagesOfCard(card).map((s) => s.stride);

test('resolver: registered variants are the paper\'s table with torchvision\'s conventions and the reference eval crop', () => {
  const b0 = resolveModelCard({ source: { kind: 'variant', name: 'b0' }, classes: 1000 });
  assert.deepEqual(b0.architecture.stages, [...EFFICIENTNET_B0_BLOCK_STRINGS]);
  assert.deepEqual([b0.architecture.width, b0.architecture.depth, b0.architecture.resolution, b0.architecture.dropout], [1, 1, 224, 0.2]);
  assert.deepEqual(b0.architecture.batchNorm, { eps: 1e-5, momentum: 0.1 });
  // torchvision's b0 transforms: resize 256, center crop 224 (crop_pct 0.875), bicubic, ImageNet mean/std.
  assert.deepEqual([b0.eval.size, b0.eval.cropPct, b0.eval.interpolation], [224, 0.875, 'bicubic']);
  assert.deepEqual([b0.eval.mean, b0.eval.std], [[0.485, 0.456, 0.406], [0.229, 0.224, 0.225]]);
  const b5 = resolveModelCard({ source: { kind: 'variant', name: 'efficientnet-b5' }, classes: 1000 });
  assert.deepEqual([b5.architecture.width, b5.architecture.depth, b5.architecture.resolution, b5.architecture.dropout], [1.6, 2.2, 456, 0.4]);
  assert.deepEqual(b5.architecture.batchNorm, { eps: 1e-3, momentum: 0.01 }, 'torchvision builds b5-b7 with TF batch norm');
  assert.equal(b5.eval.cropPct, 456 / (456 + 32));
  // Overriding the scaling of a variant makes it custom.
  assert.equal(resolveModelCard({ source: { kind: 'variant', name: 'b0' }, width: 0.5, classes: 10 }).architecture.name, 'custom');
  assert.throws(() => resolveModelCard({ source: { kind: 'variant', name: 'b9' }, classes: 10 }), /unknown EfficientNet variant 'b9'/);
});

test('resolver: compound scaling follows width β^φ, depth α^φ, resolution round(224·γ^φ) to a multiple of 4', () => {
  const card = resolveModelCard({ source: { kind: 'compound', phi: 1 }, classes: 10 });
  assert.ok(Math.abs(card.architecture.width - 1.1) < 1e-12 && Math.abs(card.architecture.depth - 1.2) < 1e-12);
  assert.equal(card.architecture.resolution, 256); // 224 · 1.15 = 257.6 → 256
  assert.equal(card.architecture.phi, 1);
  assert.equal(card.origin.kind, 'compound');
  assert.equal(resolveModelCard({ source: { kind: 'compound', phi: 1 }, resolution: 240, classes: 10 }).architecture.phi, null, 'resized away from the compound point');
});

test('resolver: the small-image rule sets the strides and whole-image evaluation up to 64px, B0 as it is above', () => {
  const at = (resolution: number): ModelCard => resolveModelCard({ source: { kind: 'custom', width: 0.5, depth: 0.5 }, resolution, classes: 10 });
  // The rule: earliest stride-2 stages to 1 until resolution / total stride >= 2.
  assert.deepEqual(strides(at(32)), [1, 1, 2, 2, 1, 2, 1]);
  assert.deepEqual(strides(at(48)), [1, 1, 2, 2, 1, 2, 1]);
  assert.deepEqual(strides(at(64)), B0_STRIDES);
  assert.deepEqual(strides(at(96)), B0_STRIDES);
  assert.equal(at(32).eval.cropPct, 1);
  assert.equal(at(64).eval.cropPct, 1);
  assert.equal(at(96).eval.cropPct, 96 / 128);
  // Custom dropout: the registry's rule (the variant of the nearest width): 0.2 at width 0.5, b6-b7's 0.5 at width 2.
  assert.equal(at(32).architecture.dropout, 0.2);
  assert.equal(resolveModelCard({ source: { kind: 'custom', width: 2, depth: 3.1 }, classes: 10 }).architecture.dropout, 0.5);
  // Overrides win over every rule.
  const overridden = resolveModelCard({ source: { kind: 'custom', width: 0.5, depth: 0.5 }, resolution: 32, strides: [1, 1, 1, 2, 1, 2, 1], eval: { cropPct: 0.9 }, dropout: 0, stochasticDepth: 0.1, classes: ['a', 'b'] });
  assert.deepEqual(strides(overridden), [1, 1, 1, 2, 1, 2, 1]);
  assert.deepEqual([overridden.eval.cropPct, overridden.architecture.dropout, overridden.architecture.stochasticDepth], [0.9, 0, 0.1]);
  assert.deepEqual(overridden.classes, { count: 2, names: ['a', 'b'] });
});

test('resolver: configuration files keep their stages (B0\'s when absent); search trials evaluate whole images', () => {
  const path = join(dir, 'scaled.json');
  writeScaledConfig(path, { width: 0.25, depth: 0.7, resolution: 40, dropout: 0.1, stages: ['r1_k3_s11_e1_i32_o16_se0.25', 'r2_k5_s22_e6_i16_o24'] });
  const fromFile = resolveModelCard({ source: { kind: 'config-file', path }, classes: 10 });
  assert.deepEqual(fromFile.architecture.stages, ['r1_k3_s11_e1_i32_o16_se0.25', 'r2_k5_s22_e6_i16_o24']);
  assert.deepEqual([fromFile.architecture.width, fromFile.architecture.depth, fromFile.architecture.resolution, fromFile.architecture.dropout], [0.25, 0.7, 40, 0.1]);
  assert.deepEqual(fromFile.origin, { kind: 'config-file', detail: path });
  const plain = join(dir, 'plain.json');
  writeScaledConfig(plain, { width: 1, depth: 1, resolution: 48, dropout: 0.2 });
  assert.deepEqual(strides(resolveModelCard({ source: { kind: 'config-file', path: plain }, classes: 10 })), B0_STRIDES, 'what `effnet scale` profiles');
  const trial = trialCard({ width: 1, depth: 1, resolution: 96, dropout: 0.2 }, ['a', 'b'], 0, 'search x, trial 3');
  assert.equal(trial.eval.cropPct, 1);
  assert.equal(trial.architecture.stochasticDepth, 0);
  assert.equal(trial.origin.kind, 'search-trial');
});

test('cards are validated: unknown fields, newer versions, bad block strings and sizes are refused with the field named', () => {
  const card = resolveModelCard({ source: { kind: 'variant', name: 'b0' }, classes: 3 });
  assert.deepEqual(parseModelCardJson(serializeModelCard(card), 'x'), card);
  const bad = (mutate: (c: Record<string, unknown>) => void, pattern: RegExp): void => {
    const copy = structuredClone(card) as unknown as Record<string, unknown>;
    mutate(copy);
    assert.throws(() => parseModelCard(copy, 'f.safetensors'), (e: Error) => e instanceof ModelCardError && pattern.test(e.message), String(pattern));
  };
  bad((c) => ((c.eval as Record<string, unknown>).extra = 1), /unknown field 'eval\.extra'/);
  bad((c) => (c.version = 99), /version 99 is newer than this effnet reads.*upgrade effnet/);
  bad((c) => ((c.architecture as { stages: string[] }).stages = ['r1_k4_s11_e1_i32_o16']), /architecture\.stages' does not decode.*must be odd/);
  bad((c) => ((c.eval as Record<string, unknown>).cropPct = 0), /eval\.cropPct' must be a number in \(0, 1\]/);
  bad((c) => ((c.eval as Record<string, unknown>).interpolation = 'nearest'), /eval\.interpolation' must be one of 'bicubic', 'bilinear'/);
  bad((c) => ((c.architecture as Record<string, unknown>).resolution = 16), /resolution 16, smaller than the network's total stride 32/);
  bad((c) => ((c.classes as Record<string, unknown>).names = ['a']), /classes\.names' must be null or a list of 3 strings/);
  bad((c) => delete (c as { origin?: unknown }).origin, /lacks the field 'card\.origin'/);
});

test('the card round-trips through a model file, a checkpoint, a run directory and an ONNX file', () => {
  const card = resolveModelCard({ source: { kind: 'custom', width: 0.1, depth: 0.1 }, resolution: 48, padding: 'same', batchNorm: 'tf', classes: ['x', 'y'] });
  const model = createModelFromCard(card);
  try {
    assert.deepEqual(cardOfModel(model, { classNames: ['x', 'y'], origin: card.origin }), card, 'the model built from a card describes itself as that card');
    const run = join(dir, 'run');
    mkdirSync(run);
    saveModel(join(dir, 'model.safetensors'), model, { card });
    assert.deepEqual(parseModelCardJson(readSafetensorsMetadata(join(dir, 'model.safetensors'))[MODEL_CARD_KEY]!, 'm'), card);
    assert.deepEqual(readModelCard(join(dir, 'model.safetensors')).card, card);
    const loaded = loadModel(join(dir, 'model.safetensors'));
    assert.deepEqual(loaded.card, card);
    loaded.model.dispose();
    const optimizer = new SGD(model.parameters(), { lr: 0.1 });
    saveCheckpoint(join(run, 'last.safetensors'), {
      model: model.stateDict(),
      optimizer: optimizer.stateDict(),
      ema: null,
      progress: { epoch: 0, step: 0, position: { epoch: 0, batch: 0 }, best: { top1: -1, epoch: -1 }, rng: { seed: 0, torchSeeding: 'x' } },
      config: {},
      card,
    });
    optimizer.dispose();
    // A directory without a final model means its last checkpoint.
    const fromRun = openModel(run);
    assert.deepEqual(fromRun.card, card);
    assert.equal(fromRun.location.kind, 'checkpoint');
    fromRun.model.dispose();
    const exported = exportEfficientNet(model, { card, imageSize: 64 });
    const inOnnx = cardFromOnnxMetadata(readOnnxMetadata(exported.bytes));
    assert.deepEqual(inOnnx, { ...card, eval: { ...card.eval, size: 64 } }, 'the ONNX card says the exported size');
    assert.throws(() => saveModel(join(dir, 'wrong.safetensors'), model, { card: { ...card, classes: { count: 3, names: null } } }), /the card does not describe this model: classes\.count/);
  } finally {
    model.dispose();
  }
});

test('a model carries its card: saved and exported without passing it, the files hold it (class names, eval); a new classifier or a model built directly falls back to the derived card', () => {
  const card = resolveModelCard({ source: { kind: 'custom', width: 0.1, depth: 0.1 }, resolution: 48, padding: 'same', classes: ['x', 'y'], eval: { cropPct: 0.9 } });
  const model = createModelFromCard(card);
  try {
    assert.deepEqual(cardOf(model), card);
    saveModel(join(dir, 'carried.safetensors'), model);
    assert.deepEqual(readModelCard(join(dir, 'carried.safetensors')).card, card);
    const loaded = loadModel(join(dir, 'carried.safetensors'));
    assert.deepEqual(cardOf(loaded.model), card, 'a loaded model carries the file\'s card');
    loaded.model.dispose();
    assert.deepEqual(cardFromOnnxMetadata(readOnnxMetadata(exportEfficientNet(model).bytes)), card);
    // A card of another network is refused; then a new classifier: the carried card no longer describes the model.
    assert.throws(() => attachCard(model, { ...card, classes: { count: 3, names: null } }), /the card does not describe this model: classes\.count/);
    model.resetClassifier(3);
    assert.deepEqual(cardOf(model).classes, { count: 3, names: null });
    assert.deepEqual(cardOf(model), cardOfModel(model));
  } finally {
    model.dispose();
  }
  const direct = createEfficientNet(customConfig({ width: 0.1, depth: 0.1, resolution: 48 }), { numClasses: 2 });
  try {
    assert.deepEqual(cardOf(direct), cardOfModel(direct));
  } finally {
    direct.dispose();
  }
});

test('a card from every source survives the model file, the checkpoint and the ONNX file unchanged', () => {
  const configPath = join(dir, 'roundtrip.json');
  writeScaledConfig(configPath, { width: 0.2, depth: 0.2, resolution: 56, dropout: 0.1 });
  const cards: ModelCard[] = [
    resolveModelCard({ source: { kind: 'variant', name: 'b0' }, classes: 4 }),
    resolveModelCard({ source: { kind: 'custom', width: 0.1, depth: 0.1 }, resolution: 32, classes: ['a', 'b'] }),
    resolveModelCard({ source: { kind: 'compound', phi: -4 }, classes: 3 }),
    resolveModelCard({ source: { kind: 'config-file', path: configPath }, classes: 3 }),
    trialCard({ width: 0.1, depth: 0.2, resolution: 40, dropout: 0.2, stages: ['r1_k3_s11_e1_i32_o16_se0.25', 'r2_k5_s22_e6_i16_o24_se0.25'] }, ['x', 'y', 'z'], 0, 'search s, trial 1'),
  ];
  assert.deepEqual(cards.map((c) => c.origin.kind), ['variant', 'custom', 'compound', 'config-file', 'search-trial']);
  for (const card of cards) {
    const model = createModelFromCard(card);
    try {
      const base = join(dir, `roundtrip-${card.origin.kind}`);
      mkdirSync(base);
      saveModel(join(base, 'model.safetensors'), model, { card });
      assert.deepEqual(readModelCard(base).card, card, `${card.origin.kind}: model file`);
      const optimizer = new SGD(model.parameters(), { lr: 0.1 });
      saveCheckpoint(join(base, 'last.safetensors'), {
        model: model.stateDict(), optimizer: optimizer.stateDict(), ema: null, config: {}, card,
        progress: { epoch: 0, step: 0, position: { epoch: 0, batch: 0 }, best: { top1: -1, epoch: -1 }, rng: { seed: 0, torchSeeding: 'x' } },
      });
      optimizer.dispose();
      assert.deepEqual(readModelCard(join(base, 'last.safetensors')).card, card, `${card.origin.kind}: checkpoint`);
      assert.deepEqual(cardFromOnnxMetadata(readOnnxMetadata(exportEfficientNet(model, { card }).bytes)), card, `${card.origin.kind}: ONNX`);
    } finally {
      model.dispose();
    }
  }
});

test('files written before the card: model files and checkpoints load with the preprocessing they were validated with', async () => {
  const legacy = readModelCard(join(FIXTURES, 'model.safetensors')).card;
  assert.equal(legacy.origin.kind, 'legacy');
  assert.deepEqual([legacy.architecture.resolution, legacy.eval.size, legacy.eval.cropPct], [32, 32, 1]);
  assert.deepEqual(strides(legacy), [1, 1, 2, 2, 1, 2, 1]);
  assert.deepEqual(legacy.classes.names, ['blue', 'green', 'red']);
  assert.deepEqual(cardDifferences(readModelCard(join(FIXTURES, 'last.safetensors')).card, legacy), [], 'the checkpoint of the same run');
  const large = readModelCard(join(FIXTURES, 'custom-224.safetensors')).card;
  assert.deepEqual([large.eval.size, large.eval.cropPct], [224, 0.875]);
  // The independent reference: the validation loss the old run recorded. effnet eval must reproduce it, which it
  // does only with the eval transform the run validated with.
  const images = join(dir, 'legacy-images');
  await writeImageFolder(images, 6);
  const recorded = JSON.parse(readFileSync(join(FIXTURES, 'metrics.jsonl'), 'utf8').trim()) as { valLoss: number; valTop1: number };
  for (const file of ['model.safetensors', 'last.safetensors']) {
    const result = await runCli(['eval', '--checkpoint', join(FIXTURES, file), '--data', images, '--val-split', '0.25', '--json', '--workers', '0']);
    assert.equal(result.code, 0, result.stderr);
    const json = JSON.parse(result.stdout) as { loss: number; top1: number };
    assert.ok(Math.abs(json.loss - recorded.valLoss) < 1e-5, `${file}: eval loss ${json.loss}, the run recorded ${recorded.valLoss}`);
    assert.equal(json.top1, recorded.valTop1);
  }
  // Its ONNX export carried the wrong crop (0.5 at 32px): refused, with the command that re-exports it.
  const refused = await runCli(['predict', join(FIXTURES, 'model.onnx'), join(images, 'red', '0.png')]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /exported by an earlier effnet .*re-export it from its model file: `effnet export --checkpoint/);
  // Re-exported from the legacy model file, it predicts.
  const onnx = join(dir, 'legacy.onnx');
  assert.equal((await runCli(['export', '--checkpoint', join(FIXTURES, 'model.safetensors'), '--out', onnx])).code, 0);
  assert.equal(cardFromOnnxMetadata(readOnnxMetadata(readFileSync(onnx))).eval.cropPct, 1);
  assert.equal(configOfCard(legacy).width, 0.1);
});
