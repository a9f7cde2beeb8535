/**
 * `effnet train --profile`: each epoch's time split (data, forward, backward, all-reduce, optimizer, EMA,
 * evaluation, checkpoints) is printed after the epoch line and written to DIR/profile.jsonl; the phases and the
 * remainder add up to the epoch's wall time, the compute phases are not empty, and a one-process run spends nothing
 * in the all-reduce. --profile is a run-control flag: not part of run.json, allowed on a resume.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROFILE_PHASES, type EpochProfile } from '../../src/train/profile.js';
import { runCli, tinyTrainArgs } from './cli-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'effnet-profile-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

test('--profile prints and records where each epoch went', async () => {
  const out = join(dir, 'run');
  const data = 'synthetic:train=96,val=32,classes=3,size=32';
  const result = await runCli(tinyTrainArgs(data, out, 2, ['--profile']));
  assert.equal(result.code, 0, result.stderr);
  const lines = result.stdout.split('\n');
  for (const epoch of [1, 2]) {
    const at = lines.findIndex((l) => l.startsWith(`epoch ${epoch}/2 |`));
    assert.match(lines[at + 1] ?? '', new RegExp(`^profile epoch ${epoch} \\([\\d.]+ s\\): data [\\d.]+ s \\(\\d+%\\) \\| forward .* \\| other`));
  }
  const profiles = readFileSync(join(out, 'profile.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as EpochProfile);
  assert.deepEqual(profiles.map((p) => p.epoch), [1, 2]);
  for (const p of profiles) {
    assert.deepEqual(Object.keys(p.seconds), [...PROFILE_PHASES]);
    const inPhases = Object.values(p.seconds).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(inPhases + p.otherSeconds - p.wallSeconds) < 1e-6, `phases ${inPhases} + other ${p.otherSeconds} vs wall ${p.wallSeconds}`);
    assert.ok(p.seconds.forward > 0 && p.seconds.backward > 0 && p.seconds.optimizer > 0 && p.seconds.eval > 0 && p.seconds.checkpoint > 0);
    assert.equal(p.seconds.allreduce, 0);
    assert.ok(p.otherSeconds < 0.5 * p.wallSeconds, `most of the epoch in no phase: ${JSON.stringify(p)}`);
  }
  const description = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as { flags: Record<string, unknown> };
  assert.equal(description.flags.profile, undefined);
  const extended = await runCli(['train', '--resume', '--out', out, '--epochs', '3', '--profile', '--workers', '0']);
  assert.equal(extended.code, 0, extended.stderr);
  assert.equal(readFileSync(join(out, 'profile.jsonl'), 'utf8').trim().split('\n').length, 3);
});
