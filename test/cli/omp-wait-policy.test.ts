/**
 * The CLI sets OMP_WAIT_POLICY=passive before the libtorch addon (and with it libgomp) loads, unless the user set a
 * policy. libgomp reports what it read at start-up when OMP_DISPLAY_ENV=verbose: GOMP_SPINCOUNT is 0 under the
 * passive policy, 300000 when no policy is set (libgomp's default), and 3e10 under the active policy, so the
 * assertions below compare against libgomp's own report, with a bare `node` import of the addon as the baseline.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(dist, 'src/cli/main.js');
const NATIVE = pathToFileURL(join(dist, 'src/torch/native.js')).href;

/** libgomp's start-up report of a node process: its wait policy and spin count. */
function ompReport(args: string[], policy: string | undefined): { policy: string; spincount: number } {
  const env: NodeJS.ProcessEnv = { ...process.env, OMP_DISPLAY_ENV: 'verbose', OMP_NUM_THREADS: '1' };
  delete env.OMP_WAIT_POLICY;
  if (policy !== undefined) env.OMP_WAIT_POLICY = policy;
  const result = spawnSync(process.execPath, args, { env, encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  const waitPolicy = /OMP_WAIT_POLICY = '(\w+)'/.exec(result.stderr);
  const spincount = /GOMP_SPINCOUNT = '(\d+)'/.exec(result.stderr);
  assert.ok(waitPolicy && spincount, `libgomp printed no OMP_DISPLAY_ENV report; stderr:\n${result.stderr}`);
  return { policy: waitPolicy[1]!, spincount: Number(spincount[1]) };
}

test('the effnet CLI loads libgomp with the passive wait policy unless OMP_WAIT_POLICY is set', () => {
  // The addon loads on the first engine call (src/torch/native.ts), so the baseline makes one.
  const bare = ompReport(['--input-type=module', '-e', `const { native } = await import(${JSON.stringify(NATIVE)}); native.getNumThreads();`], undefined);
  assert.ok(bare.spincount > 0, 'without the CLI, libgomp spins by default (the baseline this test tells apart)');
  // `effnet version` loads the addon to read libtorch's version and thread count.
  const cli = ompReport([CLI, 'version'], undefined);
  assert.deepEqual(cli, { policy: 'PASSIVE', spincount: 0 });
  const active = ompReport([CLI, 'version'], 'active');
  assert.equal(active.policy, 'ACTIVE', "the user's OMP_WAIT_POLICY wins");
  assert.ok(active.spincount > bare.spincount);
});
