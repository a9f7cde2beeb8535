/**
 * shellArgument (the `next:` commands the searches print): bash itself reads each quoted value back as the one
 * argument it was (spaces, quotes, $, backticks, globs, newlines, empty), and plain paths and data specs stay as
 * they are.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { shellArgument } from '../../src/printable.js';

test('shellArgument: bash reads every quoted value back as one argument, plain ones unchanged', () => {
  const values = ['runs/nas/best.json', 'tar:../shared/data/cifar10-train.tar.gz,val=2000,train=6400', 'my runs/a b', "it's", '$HOME', '`id`', '*.json', 'a\nb', '', '"x"', 'semi;colon', 'back\\slash'];
  const script = `for a in "$@"; do printf '%s\\0' "$a"; done`;
  const quoted = values.map(shellArgument);
  const result = spawnSync('bash', ['-c', `set -- ${quoted.join(' ')}; ${script}`], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(result.stdout.split('\0').slice(0, -1), values);
  assert.equal(shellArgument('runs/nas/best.json'), 'runs/nas/best.json');
  assert.equal(shellArgument('tar:../shared/data/cifar10-train.tar.gz,val=2000'), 'tar:../shared/data/cifar10-train.tar.gz,val=2000');
  assert.equal(shellArgument("it's"), `'it'\\''s'`);
});
