/**
 * A mistyped flag names the nearest known one: the unique flag it prefixes, else the closest within two edits
 * (a transposition counts as one), never a far one; through the command line as well (exit 2).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nearestFlag, withFlagHint } from '../../src/cli/options.js';
import { runCli } from '../train/cli-helpers.js';

const USAGE = 'usage: x --epochs N --batch-size B --lr LR --lr-min L --width W --checkpoint P';

test('nearestFlag: prefixes, one or two edits, transpositions; nothing for far or ambiguous flags', () => {
  assert.equal(nearestFlag('--epoch', USAGE), '--epochs');
  assert.equal(nearestFlag('--batch', USAGE), '--batch-size');
  assert.equal(nearestFlag('--widht', USAGE), '--width');
  assert.equal(nearestFlag('--checkpont', USAGE), '--checkpoint');
  assert.equal(nearestFlag('--zzz', USAGE), null);
  assert.equal(nearestFlag('--l', USAGE), null, '--l prefixes two flags and is too short to correct');
  assert.equal(nearestFlag('--epochs', USAGE), null, 'a known flag needs no hint');
  assert.equal(withFlagHint("Unknown option '--epoch'", USAGE), "Unknown option '--epoch' (did you mean --epochs?)");
  assert.equal(withFlagHint('Option --lr requires a value', USAGE), 'Option --lr requires a value');
});

test('effnet train --epoch 3 exits 2 and suggests --epochs', async () => {
  const result = await runCli(['train', '--epoch', '3']);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /Unknown option '--epoch' \(did you mean --epochs\?\)/);
  const exported = await runCli(['export', '--checkpont', 'x']);
  assert.equal(exported.code, 2);
  assert.match(exported.stderr, /did you mean --checkpoint\?/);
});
