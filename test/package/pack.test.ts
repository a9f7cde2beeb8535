/**
 * What `npm pack` puts in the tarball (package.json `files`): the compiled library and CLI, the native sources to build
 * the addon, the browser page and the README; no tests, benchmarks, fixtures or TypeScript sources.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

test('the npm tarball holds dist/src, the native sources, web/ and the README, and no test code', () => {
  const listing = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' })) as { files: { path: string }[]; size: number }[];
  const paths = listing[0]!.files.map((f) => f.path);
  for (const needed of ['package.json', 'README.md', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/main.js', 'native/binding.gyp', 'native/libtorch-config.cjs', 'scripts/setup.sh', 'web/index.html']) {
    assert.ok(paths.includes(needed), `the tarball lacks ${needed}`);
  }
  assert.ok(paths.some((p) => /^native\/src\/.+\.cc$/.test(p)), 'the addon sources');
  const stray = paths.filter((p) => /^(dist\/)?(test|bench)\//.test(p) || /^src\//.test(p) || /\.test\.js$/.test(p) || /fixtures/.test(p));
  assert.deepEqual(stray, [], 'test, benchmark and source files in the tarball');
  console.log(`npm pack: ${paths.length} files, ${(listing[0]!.size / 1e6).toFixed(2)} MB packed`);
});
