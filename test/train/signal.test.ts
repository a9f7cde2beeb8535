import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCheckpoint } from '../../src/model-file/checkpoint.js';
import { finished, startCli, tinyTrainArgs, writeImageFolder } from './cli-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'effnet-signal-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

async function interrupt(signal: 'SIGINT' | 'SIGTERM', expectedCode: number, inMemory = false): Promise<void> {
  let data = 'synthetic:train=2048,val=32,classes=4,size=32';
  if (!inMemory) {
    data = join(dir, 'images');
    if (!existsSync(data)) await writeImageFolder(data, 12);
  }
  const run = join(dir, `run-${signal}${inMemory ? '-memory' : ''}`);
  const child = startCli(tinyTrainArgs(data, run, 50));
  const done = finished(child);
  // Wait for the first progress line, then interrupt.
  await new Promise<void>((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString();
      if (/epoch 1\/50 .*loss/.test(text)) {
        child.stderr!.off('data', onData);
        resolve();
      }
    };
    child.stderr!.on('data', onData);
    child.on('close', () => reject(new Error(`the run ended before printing progress:\n${text}`)));
  });
  child.kill(signal);
  const result = await done;
  assert.equal(result.code, expectedCode, result.stderr);
  assert.match(result.stderr, new RegExp(`${signal} received; stopping after the current step`));
  assert.match(result.stdout, /checkpoint saved to .*last\.safetensors.*--resume/);
  const checkpoint = loadCheckpoint(join(run, 'last.safetensors'));
  try {
    assert.ok(checkpoint.progress.step >= 1);
    assert.ok(checkpoint.progress.epoch < 50, 'stopped long before the end');
    assert.ok(checkpoint.model.size > 0);
  } finally {
    checkpoint.dispose();
  }
  assert.ok(!existsSync(join(run, 'model.safetensors')), 'no final model for an interrupted run');
}

test('SIGINT during effnet train saves a loadable checkpoint and exits 130', async () => {
  await interrupt('SIGINT', 130);
});

test('SIGTERM during effnet train saves a loadable checkpoint and exits 143', async () => {
  await interrupt('SIGTERM', 143);
});

test('SIGINT is heard with in-memory data and no loader threads too (nothing else would turn the event loop)', async () => {
  await interrupt('SIGINT', 130, true);
});
