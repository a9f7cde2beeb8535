/**
 * `effnet setup`: `--check` reports the libtorch, compiler, node-gyp and addon of this machine (where the suite runs
 * they are all there: exit 0, the addon loads), and a LIBTORCH that is not a libtorch is named with what to do (exit
 * 2) without building or installing anything. The build itself is what scripts/setup.sh already runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function setup(args: string[], env: NodeJS.ProcessEnv = process.env): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, 'setup', ...args], { encoding: 'utf8', env, timeout: 60_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('effnet setup --check finds the libtorch, compiler, node-gyp and the built addon of this machine', () => {
  const env = { ...process.env };
  delete env.LIBTORCH;
  const { code, stdout, stderr } = setup(['--check'], env);
  assert.equal(code, 0, stderr + stdout);
  assert.match(stdout, /^libtorch: .*libtorch-dev \(LIBTORCH not set\)/m);
  assert.match(stdout, /^C\+\+ compiler: \S+/m);
  assert.match(stdout, /^node-gyp: .*node-gyp\.js$/m);
  assert.match(stdout, /^addon: .*effnet_torch\.node loads$/m);
});

test('effnet setup with a LIBTORCH that holds no libtorch names it and exits 2, building nothing', () => {
  const empty = mkdtempSync(join(tmpdir(), 'effnet-setup-'));
  try {
    for (const args of [['--check'], []]) {
      const { code, stdout, stderr } = setup(args, { ...process.env, LIBTORCH: empty });
      assert.equal(code, 2, stderr);
      assert.match(stdout, new RegExp(`libtorch: MISSING — LIBTORCH=${empty} has no include/ATen/ATen\\.h`));
      assert.match(stdout, /sudo apt-get install libtorch-dev/);
      assert.match(stderr, /cannot build the libtorch binding: libtorch missing/);
      assert.doesNotMatch(stdout, /^building /m);
    }
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
  const bad = setup(['--chek']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /did you mean --check\?/);
});
