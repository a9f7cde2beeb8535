/**
 * effnet as a library: a fresh project whose package.json depends on effnet (a `file:` dependency) installs it with
 * npm, type-checks examples/quick-tour.ts and examples/search-strategy.ts against the published types and runs them, imports the documented API from
 * JavaScript, and cannot reach modules outside the curated entry points. The API reference builds with one npm
 * script, without warnings (every documented export has a doc comment, every link resolves).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const dir = mkdtempSync(join(tmpdir(), 'effnet-consumer-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function run(command: string, args: readonly string[], cwd: string): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', OMP_NUM_THREADS: '2' }, timeout: 300_000 });
  assert.equal(result.status, 0, `${command} ${args.join(' ')} exited ${result.status}:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

test('a project that depends on effnet installs it, type-checks and runs the example, and imports the API from JavaScript', () => {
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'effnet-consumer', private: true, type: 'module', dependencies: { effnet: `file:${ROOT}` } }, null, 2));
  run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], dir);
  assert.ok(lstatSync(join(dir, 'node_modules', 'effnet')).isSymbolicLink() || existsSync(join(dir, 'node_modules', 'effnet', 'package.json')));

  // TypeScript: strict, NodeNext, the types resolved through the package's exports map.
  copyFileSync(join(ROOT, 'examples', 'quick-tour.ts'), join(dir, 'quick-tour.ts'));
  copyFileSync(join(ROOT, 'examples', 'search-strategy.ts'), join(dir, 'search-strategy.ts'));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: true, outDir: 'out', typeRoots: [join(ROOT, 'node_modules', '@types')], types: ['node'] },
      files: ['quick-tour.ts', 'search-strategy.ts'],
    }),
  );
  run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], dir);
  const tour = run(process.execPath, [join(dir, 'out', 'quick-tour.js'), join(dir, 'tour')], dir);
  console.log(tour.trim());
  assert.match(tour, /^b0: 5\.29M params, 0\.386B MACs at 224px$/m, 'B0 is 5.3M params and 0.39B FLOPs (the paper, Table 2)');
  assert.match(tour, /model card: EfficientNet custom \(width 0\.25, depth 0\.25, symmetric padding\) at 32px, 3 classes; eval: whole image/);
  assert.match(tour, /trained 2 epochs: validation top-1 \d+\.\d%/);
  assert.match(tour, /image of class \w+: (\w+ \d+\.\d%(, )?){3}/);
  assert.ok(existsSync(join(dir, 'tour', 'model.safetensors')));
  const searched = run(process.execPath, [join(dir, 'out', 'search-strategy.js')], dir);
  console.log(searched.trim());
  assert.match(searched, /^evolution: best 3\.5 at \{"x":2,"y":"b","z":true,"w":4\}$/m, 'evolution finds the optimum in 60 trials');
  for (const name of ['random', 'evolution', 'reinforce']) assert.match(searched, new RegExp(`^${name}: best -?[\\d.]+ at `, 'm'));

  // JavaScript, and the tensor library's own entry point.
  writeFileSync(
    join(dir, 'check.mjs'),
    [
      "import { createEfficientNet, getVariant, ImageClassifier, resolveModelCard, Trainer, UserError } from 'effnet';",
      "import { tensor, tidy } from 'effnet/torch';",
      "const card = resolveModelCard({ source: { kind: 'variant', name: 'b1' }, classes: 10 });",
      "const model = createEfficientNet(getVariant('b0'), { numClasses: 10 });",
      "const sum = tidy(() => tensor([1, 2, 3], [3]).sum().item());",
      "console.log(JSON.stringify({ resolution: card.architecture.resolution, params: model.parameterCount(), sum, classifier: typeof ImageClassifier.create, trainer: typeof Trainer, userError: new UserError('x') instanceof Error }));",
      'model.dispose();',
    ].join('\n'),
  );
  const checked = JSON.parse(run(process.execPath, ['check.mjs'], dir)) as Record<string, unknown>;
  assert.deepEqual(checked, { resolution: 240, params: 4020358, sum: 6, classifier: 'function', trainer: 'function', userError: true });

  // Only the curated entry points are exported.
  const deep = spawnSync(process.execPath, ['--input-type=module', '-e', "await import('effnet/dist/src/io/weights.js')"], { cwd: dir, encoding: 'utf8' });
  assert.notEqual(deep.status, 0);
  assert.match(deep.stderr, /ERR_PACKAGE_PATH_NOT_EXPORTED/);
});

test('the API reference builds with `npm run docs:api`, without warnings', () => {
  const out = join(dir, 'api');
  const output = execFileSync('npm', ['run', '--silent', 'docs:api', '--', '--out', out], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.doesNotMatch(output, /warning|error/i, output);
  for (const page of ['index.html', 'classes/index.ImageClassifier.html', 'functions/index.resolveModelCard.html', 'interfaces/index.ModelCard.html']) {
    assert.ok(existsSync(join(out, page)), `${page} is missing from the reference`);
  }
});
