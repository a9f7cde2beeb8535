/**
 * `effnet train --from`: the network comes from the weights' model card. Starting from a TF-convention model (SAME
 * padding, TF batch norm, 5 classes) on 3-class data trains that network with a new classifier, and says so; naming a
 * network that disagrees with the card is refused with the fields that differ; a run directory works as PATH.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveModelCard } from '../../src/card/resolve.js';
import { createModelFromCard } from '../../src/card/build.js';
import { saveModel } from '../../src/model-file/weights.js';
import { readModelCard } from '../../src/model-file/open.js';
import { resolveRunCard, RunOptionsError } from '../../src/train/run.js';
import { CLASSES, runCli, writeImageFolder } from './cli-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'effnet-from-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const common = ['--val-split', '0.25', '--epochs', '1', '--batch-size', '4', '--workers', '0', '--threads', '1', '--lr', '0.01', '--no-ema'];

test('train --from takes the network of the weights\' card; a disagreeing --model is refused', async () => {
  const data = join(dir, 'images');
  await writeImageFolder(data, 4);
  const pretrainedCard = resolveModelCard({ source: { kind: 'custom', width: 0.1, depth: 0.1 }, resolution: 32, padding: 'same', batchNorm: 'tf', classes: 5 });
  const model = createModelFromCard(pretrainedCard);
  const pretrained = join(dir, 'tf-style.safetensors');
  saveModel(pretrained, model, { card: pretrainedCard });
  model.dispose();

  const run = join(dir, 'finetuned');
  const result = await runCli(['train', '--from', pretrained, '--data', data, '--out', run, ...common]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /loaded \d+ tensors from .*tf-style\.safetensors, new classifier \(classifier\.1\.weight, classifier\.1\.bias\)/);
  const card = readModelCard(run).card;
  assert.equal(card.architecture.padding, 'same');
  assert.deepEqual(card.architecture.batchNorm, { eps: 1e-3, momentum: 0.01 });
  assert.deepEqual(card.architecture.stages, pretrainedCard.architecture.stages);
  assert.deepEqual(card.classes, { count: 3, names: [...CLASSES] });

  // A run directory as PATH, with a new resolution (the card's own network, resized).
  const again = await runCli(['train', '--from', run, '--image-size', '40', '--data', data, '--out', join(dir, 'again'), ...common]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(readModelCard(join(dir, 'again')).card.architecture.resolution, 40);

  const refused = await runCli(['train', '--from', pretrained, '--model', 'custom', '--width', '0.1', '--depth', '0.1', '--image-size', '32', '--data', data, '--out', join(dir, 'never'), ...common]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /differs from the weights of --from in padding \("symmetric" vs "same"\), batchNorm/);
  assert.throws(() => resolveRunCard({ source: { kind: 'variant', name: 'b0' } }, ['a'], pretrainedCard), RunOptionsError);
});
