/**
 * `effnet version` names the BLAS library libtorch loaded: the library the system's libblas.so.3 resolves to (read
 * here independently, through the file system's links), and the set-up makes that OpenBLAS, not the reference BLAS
 * that libtorch-dev pulls in (~30x slower on matmul; docs/engine.md).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isReferenceBlas } from '../../src/cli/commands/version.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src/cli/main.js');
const SYSTEM_BLAS = '/usr/lib/x86_64-linux-gnu/libblas.so.3';

test('effnet version --json reports the BLAS the system resolves libblas.so.3 to, and the set-up made it OpenBLAS', { skip: !existsSync(SYSTEM_BLAS) && 'no Debian libblas.so.3 here' }, () => {
  const result = spawnSync(process.execPath, [CLI, 'version', '--json'], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  const { blas } = JSON.parse(result.stdout) as { blas: string };
  const resolved = realpathSync(SYSTEM_BLAS);
  assert.ok(blas.split(', ').includes(resolved), `version says ${blas}; libblas.so.3 resolves to ${resolved}`);
  assert.ok(resolved.includes('openblas'), `libblas.so.3 is ${resolved}: scripts/setup.sh installs libopenblas0-openmp`);
  assert.equal(isReferenceBlas(blas), false);
  assert.doesNotMatch(result.stderr, /reference BLAS/);
});

test("isReferenceBlas tells Debian's reference BLAS from OpenBLAS", () => {
  assert.equal(isReferenceBlas('/usr/lib/x86_64-linux-gnu/blas/libblas.so.3'), true);
  assert.equal(isReferenceBlas('/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblasp-r0.3.21.so, /usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3'), false);
  assert.equal(isReferenceBlas('unknown'), false);
});
