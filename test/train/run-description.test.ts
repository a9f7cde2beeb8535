/**
 * A run directory that describes itself: DIR/run.json holds the run's command, defining flags and resolved run; a
 * run interrupted mid-epoch and continued with only `--resume --out DIR` ends with the same weights, bit for bit,
 * as the same run given all its flags and never interrupted; `effnet eval --checkpoint DIR` (no other flag) scores
 * what eval with the run's --data and --val-split scores; flags given again must agree; DIR/metrics.svg holds
 * exactly metrics.csv's values (the test reads both files).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors } from '../../src/io/safetensors.js';
import { finished, runCli, startCli, tinyTrainArgs, writeImageFolder } from './cli-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'effnet-run-description-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const data = join(dir, 'images');
const EPOCHS = 3;
/** Flags beyond tinyTrainArgs' that the resume must bring back by itself (a non-default recipe). */
const EXTRA = ['--optimizer', 'sgd', '--schedule', 'cosine', '--warmup-epochs', '0.5', '--weight-decay', '1e-4', '--crop-scale', '0.5,1', '--seed', '3'];

function tensorsOf(path: string): Map<string, number[]> {
  const decoded = decodeSafetensors(readFileSync(path), path);
  return new Map([...decoded.tensors].map(([name, t]) => [name, Array.from(t.data as Float32Array, Number)]));
}

function csvColumn(run: string, column: string): number[] {
  const [header, ...rows] = readFileSync(join(run, 'metrics.csv'), 'utf8').trim().split('\n');
  const index = header!.split(',').indexOf(column);
  assert.ok(index >= 0, `metrics.csv has no column ${column}`);
  return rows.map((row) => Number(row.split(',')[index]));
}

function chartPoints(run: string, series: string): number[] {
  const svg = readFileSync(join(run, 'metrics.svg'), 'utf8');
  return [...svg.matchAll(new RegExp(`data-series="${series}" data-x="([^"]+)" data-y="([^"]+)"`, 'g'))].map((m) => Number(m[2]));
}

test('--resume --out DIR alone continues the run as started; eval --checkpoint DIR alone scores its hold-out; the chart is metrics.csv', async () => {
  await writeImageFolder(data, 12);
  const straight = join(dir, 'straight');
  const whole = await runCli(tinyTrainArgs(data, straight, EPOCHS, EXTRA));
  assert.equal(whole.code, 0, whole.stderr);

  const resumed = join(dir, 'resumed');
  const child = startCli(tinyTrainArgs(data, resumed, EPOCHS, EXTRA));
  const done = finished(child);
  await new Promise<void>((resolve, reject) => {
    let text = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (/epoch 2\/3 .*loss/.test(text)) resolve();
    });
    child.on('close', () => reject(new Error(`the run ended before epoch 2:\n${text}`)));
  });
  child.kill('SIGINT');
  assert.equal((await done).code, 130);

  const description = JSON.parse(readFileSync(join(resumed, 'run.json'), 'utf8')) as { flags: Record<string, unknown>; resolved: { recipe: { lr: number }; seed: number; card: { classes: { names: string[] } } } };
  assert.equal(description.flags.optimizer, 'sgd');
  assert.equal(description.flags['crop-scale'], '0.5,1');
  assert.equal(description.flags.out, undefined, 'run-control flags are not part of the run');
  assert.equal(description.resolved.recipe.lr, 0.01);
  assert.equal(description.resolved.seed, 3);
  assert.deepEqual(description.resolved.card.classes.names, ['blue', 'green', 'red']);

  const refused = await runCli(['train', '--resume', '--out', resumed, '--lr', '0.5']);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /--lr 0\.5 differs from the run's --lr 0\.01/);
  const added = await runCli(['train', '--resume', '--out', resumed, '--autoaugment']);
  assert.equal(added.code, 2);
  assert.match(added.stderr, /--autoaugment was not set when the run .* started/);

  const continued = await runCli(['train', '--resume', '--out', resumed, '--threads', '1', '--workers', '0']);
  assert.equal(continued.code, 0, continued.stderr);
  const a = tensorsOf(join(straight, 'model.safetensors'));
  const b = tensorsOf(join(resumed, 'model.safetensors'));
  assert.deepEqual([...b.keys()], [...a.keys()]);
  for (const [name, values] of a) assert.deepEqual(b.get(name), values, `${name} differs after the resume`);
  assert.deepEqual(csvColumn(resumed, 'valLoss'), csvColumn(straight, 'valLoss'));

  const byRun = await runCli(['eval', '--checkpoint', resumed, '--json', '--workers', '0']);
  assert.equal(byRun.code, 0, byRun.stderr);
  const byFlags = await runCli(['eval', '--checkpoint', straight, '--data', data, '--val-split', '0.25', '--json', '--workers', '0']);
  const [x, y] = [JSON.parse(byRun.stdout) as Record<string, number>, JSON.parse(byFlags.stdout) as Record<string, number>];
  assert.deepEqual([x.images, x.top1, x.loss], [y.images, y.top1, y.loss]);
  assert.equal(x.images, 9, 'the run\'s hold-out of 0.25');

  for (const run of [straight, resumed]) {
    assert.deepEqual(chartPoints(run, 'val top-1'), csvColumn(run, 'valTop1'));
    assert.deepEqual(chartPoints(run, 'val loss'), csvColumn(run, 'valLoss'));
    assert.deepEqual(chartPoints(run, 'lr'), csvColumn(run, 'lr'));
    assert.deepEqual(chartPoints(run, 'EMA val top-1'), csvColumn(run, 'emaTop1'));
    assert.equal(chartPoints(run, 'train loss').length, EPOCHS);
  }
});
