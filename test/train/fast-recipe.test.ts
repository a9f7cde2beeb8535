/**
 * The fast recipe as the default of `effnet train`: the rule (small images, or a small training set, from scratch)
 * against hand-picked cases on both sides of each bound; unset fields filled and given ones kept; and through the
 * CLI, a run given no recipe flags trains with it (DIR/run.json's resolved recipe and batch), while a flag given
 * wins over it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAST_RECIPE, FAST_RECIPE_BATCH_SIZE, FAST_RECIPE_MAX_IMAGES, fastRecipeApplies, withFastRecipe } from '../../src/train/fast-recipe.js';
import { runCli, writeImageFolder } from './cli-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'effnet-fast-recipe-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

test('the rule: images of at most 64px or fewer than 100,000 training images, never for a fine-tune', () => {
  const applies = (imageSize: number, trainImages: number, fineTune = false): boolean => fastRecipeApplies({ imageSize, trainImages, fineTune });
  assert.equal(FAST_RECIPE_MAX_IMAGES, 100_000);
  assert.equal(applies(32, 45_000), true); // CIFAR-10 less its hold-out
  assert.equal(applies(64, 1_281_167), true); // small images, however many
  assert.equal(applies(65, 1_281_167), false); // ImageNet-sized set of larger images: the paper's recipe
  assert.equal(applies(224, 1_281_167), false);
  assert.equal(applies(224, 99_999), true); // a small set of large images
  assert.equal(applies(224, 100_000), false);
  assert.equal(applies(32, 45_000, true), false); // --from: the paper's defaults
});

test('unset fields are filled, given ones kept; another optimizer or an absolute lr keeps the per-256 rate out; no EMA keeps no EMA buffers', () => {
  assert.deepEqual(withFastRecipe({ epochs: 20 }), {
    epochs: 20,
    optimizer: 'sgd',
    lrPer256: 0.2,
    schedule: 'cosine',
    warmupEpochs: 1,
    weightDecay: 5e-4,
    labelSmoothing: 0.1,
    emaBuffers: 'average',
  });
  // The warm-up: one epoch, at most a tenth of the run.
  assert.equal(withFastRecipe({ epochs: 5 }).warmupEpochs, 0.5);
  assert.equal(withFastRecipe({ epochs: 1 }).warmupEpochs, 0.1);
  const given = withFastRecipe({ epochs: 3, optimizer: 'adamw', lr: 0.003, weightDecay: 0.05, warmupEpochs: 0, emaDecay: null });
  assert.equal(given.optimizer, 'adamw');
  assert.equal(given.lr, 0.003);
  assert.equal('lrPer256' in given, false);
  assert.equal(given.weightDecay, 0.05);
  assert.equal(given.warmupEpochs, 0);
  assert.equal(given.emaDecay, null);
  assert.equal('emaBuffers' in given, false);
  assert.equal(given.schedule, FAST_RECIPE.schedule);
  assert.equal('lrPer256' in withFastRecipe({ epochs: 3, optimizer: 'rmsproptf' }), false);
  assert.equal(withFastRecipe({ epochs: 3, lrPer256: 0.05 }).lrPer256, 0.05);
});

interface Resolved {
  resolved: { recipe: { optimizer?: string; schedule?: string; weightDecay?: number; warmupEpochs?: number; lr: number; emaBuffers?: string }; batchSize: number };
}

function resolvedOf(run: string): Resolved['resolved'] {
  return (JSON.parse(readFileSync(join(run, 'run.json'), 'utf8')) as Resolved).resolved;
}

test('effnet train without recipe flags uses the fast recipe on small images; a flag given wins', async () => {
  const data = join(dir, 'images');
  await writeImageFolder(data, 6);
  const common = ['train', '--model', 'custom', '--width', '0.1', '--depth', '0.1', '--image-size', '32', '--data', data, '--val-split', '0.25', '--epochs', '1', '--workers', '0', '--threads', '1'];

  const plain = join(dir, 'plain');
  const first = await runCli([...common, '--out', plain]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /fast recipe for images of 32px/);
  const resolved = resolvedOf(plain);
  assert.equal(resolved.batchSize, FAST_RECIPE_BATCH_SIZE);
  assert.equal(resolved.recipe.optimizer, 'sgd');
  assert.equal(resolved.recipe.schedule, 'cosine');
  assert.equal(resolved.recipe.weightDecay, 5e-4);
  assert.equal(resolved.recipe.warmupEpochs, 0.1); // a tenth of the 1-epoch run
  assert.equal(resolved.recipe.emaBuffers, 'average');
  // 0.2 per 256 images, scaled to the batch of 128.
  assert.equal(resolved.recipe.lr, 0.2 * FAST_RECIPE_BATCH_SIZE / 256);

  const flagged = join(dir, 'flagged');
  const second = await runCli([...common, '--optimizer', 'rmsproptf', '--batch-size', '4', '--weight-decay', '1e-5', '--out', flagged]);
  assert.equal(second.code, 0, second.stderr);
  const kept = resolvedOf(flagged);
  assert.equal(kept.batchSize, 4);
  assert.equal(kept.recipe.optimizer, 'rmsproptf');
  assert.equal(kept.recipe.weightDecay, 1e-5);
  // The fast recipe's rate is an SGD rate: RMSprop keeps the paper's 0.016 per 256 images.
  assert.equal(kept.recipe.lr, 0.016 * 4 / 256);
});
