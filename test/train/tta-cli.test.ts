/**
 * `effnet train --tta hflip` through files on disk: the run's model file carries the card field; the validation of
 * the last epoch (metrics.jsonl) is what `effnet eval` of the final model scores with no flag; `effnet eval --tta
 * none` scores the plain network (another loss), and a resume without the flag keeps the card; bad values exit 2;
 * `effnet eval --tta compare` gives every mode's scores in one pass, each equal to a separate `--tta MODE` run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readModelCard } from '../../src/model-file/open.js';
import { runCli, tinyTrainArgs } from './cli-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'effnet-tta-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const DATA = 'synthetic:train=64,val=32,classes=3,size=32';

test('effnet train --tta hflip: the card says so, validation and effnet eval agree, --tta none differs', async () => {
  const out = join(dir, 'run');
  const trained = await runCli(tinyTrainArgs(DATA, out, 2, ['--tta', 'hflip', '--no-ema']));
  assert.equal(trained.code, 0, trained.stderr);
  assert.equal(readModelCard(join(out, 'model.safetensors')).card.eval.tta, 'hflip');
  const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n');
  const last = JSON.parse(lines.at(-1)!) as { valTop1: number; valLoss: number };

  const evaluated = await runCli(['eval', '--checkpoint', out, '--json', '--workers', '0']);
  assert.equal(evaluated.code, 0, evaluated.stderr);
  const json = JSON.parse(evaluated.stdout) as { top1: number; loss: number };
  assert.equal(json.top1, last.valTop1);
  assert.ok(Math.abs(json.loss - last.valLoss) < 1e-5, `eval loss ${json.loss} vs validation ${last.valLoss}`);

  const plain = await runCli(['eval', '--checkpoint', out, '--json', '--workers', '0', '--tta', 'none']);
  assert.equal(plain.code, 0, plain.stderr);
  assert.ok(Math.abs((JSON.parse(plain.stdout) as { loss: number }).loss - json.loss) > 1e-6, 'the plain network scores another loss');

  const resumed = await runCli(['train', '--resume', '--out', out, '--epochs', '3', '--workers', '0']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.equal(readModelCard(join(out, 'model.safetensors')).card.eval.tta, 'hflip');

  for (const args of [tinyTrainArgs(DATA, join(dir, 'bad'), 1, ['--tta', 'vflip']), ['eval', '--checkpoint', out, '--tta', 'both']]) {
    const bad = await runCli(args);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--tta must be one of hflip, hflip-shift, none/);
  }
});

test('effnet eval --tta compare scores every mode in one pass, each exactly as a separate --tta MODE run', async () => {
  const out = join(dir, 'compare');
  const trained = await runCli(tinyTrainArgs(DATA, out, 1, ['--tta', 'hflip-shift', '--no-ema']));
  assert.equal(trained.code, 0, trained.stderr);
  const compared = await runCli(['eval', '--checkpoint', out, '--json', '--workers', '0', '--tta', 'compare']);
  assert.equal(compared.code, 0, compared.stderr);
  const json = JSON.parse(compared.stdout) as { modes: { tta: string; top1: number; top5: number; loss: number }[]; images: number };
  assert.deepEqual(json.modes.map((m) => m.tta), ['none', 'hflip', 'hflip-shift']);
  assert.equal(json.images, 32);
  for (const mode of json.modes) {
    const alone = await runCli(['eval', '--checkpoint', out, '--json', '--workers', '0', '--tta', mode.tta]);
    assert.equal(alone.code, 0, alone.stderr);
    const single = JSON.parse(alone.stdout) as { top1: number; top5: number; loss: number };
    assert.deepEqual({ top1: mode.top1, top5: mode.top5, loss: mode.loss }, { top1: single.top1, top5: single.top5, loss: single.loss }, mode.tta);
  }
  assert.ok(new Set(json.modes.map((m) => m.loss)).size === 3, 'three different losses: three different modes were scored');
  const text = await runCli(['eval', '--checkpoint', out, '--workers', '0', '--tta', 'compare']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /the card's: hflip-shift/);
  assert.match(text.stdout, /hflip-shift +top-1 [0-9.]+%.*\(the card's\)/);
  const bad = await runCli(['eval', '--checkpoint', out, '--workers', '0', '--tta', 'compare', '--predictions', join(dir, 'p.jsonl')]);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /--predictions writes one mode's predictions/);
});
