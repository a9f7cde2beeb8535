/**
 * `effnet info` and `effnet train` agree on every field of the same configuration: for each set of flags, the card
 * `effnet info ... --card` prints is the card of the model `effnet train` saves with the same flags (class names
 * aside: info knows only the count), and the parameter count info's profile reports is that of the weights train
 * wrote (counted from the file, an independent reference for the profiler's view of the built network).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cardDifferences, parseModelCard } from '../../src/card/model-card.js';
import { writeScaledConfig } from '../../src/card/config-file.js';
import { readModelCard } from '../../src/model-file/open.js';
import { loadSafetensors } from '../../src/io/safetensors.js';
import { runCli, writeImageFolder } from '../train/cli-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'effnet-info-train-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('effnet info and effnet train resolve the same flags into the same model card', async () => {
  const data = join(dir, 'images');
  await writeImageFolder(data, 4);
  const config = join(dir, 'scaled.json');
  writeScaledConfig(config, { width: 0.2, depth: 0.3, resolution: 40, dropout: 0.15 });
  // [train flags, info flags] naming the same configuration.
  const cases: [string[], string[]][] = [
    [['--model', 'custom', '--width', '0.1', '--depth', '0.1', '--image-size', '32'], ['--width', '0.1', '--depth', '0.1', '--image-size', '32']],
    [['--model', 'custom', '--width', '2', '--depth', '0.1', '--image-size', '32'], ['--width', '2', '--depth', '0.1', '--image-size', '32']],
    [['--model', 'b0', '--width', '0.1', '--image-size', '48', '--dropout', '0.1', '--drop-path', '0'], ['b0', '--width', '0.1', '--image-size', '48', '--dropout', '0.1', '--drop-path', '0']],
    [['--model', 'b1', '--depth', '0.1', '--width', '0.1', '--image-size', '96', '--eval-crop-pct', '0.9'], ['b1', '--depth', '0.1', '--width', '0.1', '--image-size', '96', '--eval-crop-pct', '0.9']],
    [['--config', config, '--strides', '1,1,1,2,1,2,1'], ['--config', config, '--strides', '1,1,1,2,1,2,1']],
  ];
  for (const [index, [trainFlags, infoFlags]] of cases.entries()) {
    const run = join(dir, `run-${index}`);
    const trained = await runCli(['train', ...trainFlags, '--data', data, '--val-split', '0.25', '--epochs', '1', '--batch-size', '4', '--workers', '0', '--threads', '1', '--no-ema', '--out', run]);
    assert.equal(trained.code, 0, trained.stderr);
    const printed = await runCli(['info', ...infoFlags, '--num-classes', '3', '--card']);
    assert.equal(printed.code, 0, printed.stderr);
    const fromInfo = parseModelCard(JSON.parse(printed.stdout), 'effnet info --card');
    const fromTrain = readModelCard(run).card;
    assert.deepEqual(cardDifferences(fromInfo, fromTrain), ['classes.names'], `${trainFlags.join(' ')}: info and train disagree`);
    const profiled = await runCli(['info', ...infoFlags, '--num-classes', '3', '--json']);
    const params = (JSON.parse(profiled.stdout) as { params: number }).params;
    const { tensors } = loadSafetensors(join(run, 'model.safetensors'));
    const stored = [...tensors].filter(([name]) => !/running_|num_batches/.test(name)).reduce((n, [, t]) => n + t.numel, 0);
    for (const t of tensors.values()) t.dispose();
    assert.equal(params, stored, `${trainFlags.join(' ')}: info's parameter count vs the trained file's`);
  }
});
