/**
 * One-way layering of src/, checked on the sources: no import cycles (runtime imports: static, re-exports and
 * dynamic import(), type-only imports aside); every import runs down shared/DESIGN.md's layers (a planted upward
 * one is caught; the few the tree still has are listed); the inference layer does not reach up into export, training or the
 * engine; the modules the browser page loads import no Node built-in and no package; and the ONNX-only paths work
 * when the libtorch addon cannot load (EFFNET_ADDON pointed at a file that does not exist), while an engine
 * command in the same set-up fails with the loader's message, which shows the set-up really breaks the addon.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { externalImports, importCycles, importGraph, reachable, upwardImports } from './imports.js';
import { resolveModelCard } from '../../src/card/resolve.js';
import { createModelFromCard } from '../../src/card/build.js';
import { exportEfficientNet } from '../../src/export/efficientnet-onnx.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const SRC = join(ROOT, 'src');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'effnet-layering-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('src/ has no import cycles', () => {
  const graph = importGraph(SRC);
  assert.ok(graph.size > 100, `read ${graph.size} modules`);
  assert.deepEqual(importCycles(graph), []);
  // The checker finds a cycle when there is one.
  assert.deepEqual(importCycles(new Map([['a.ts', ['b.ts']], ['b.ts', ['c.ts']], ['c.ts', ['a.ts']], ['d.ts', ['a.ts']]])), [['a.ts', 'b.ts', 'c.ts']]);
});

/**
 * shared/DESIGN.md's layers, bottom up: torch → nn → efficientnet → card → model files → train/export → search → cli,
 * with the utilities at the top of src/ below everything, data/ and io/ (formats only) low, infer/ over the card.
 */
const ALLOWED: Record<string, readonly string[]> = {
  '(root)': [],
  torch: ['(root)'],
  data: ['(root)'],
  nn: ['(root)', 'torch'],
  optim: ['(root)', 'torch', 'nn'],
  io: ['(root)', 'torch'],
  efficientnet: ['(root)', 'torch', 'nn'],
  card: ['(root)', 'efficientnet', 'data'],
  'model-file': ['(root)', 'torch', 'nn', 'io', 'efficientnet', 'card'],
  distributed: ['(root)', 'torch', 'nn', 'data'],
  infer: ['(root)', 'card', 'data'],
  web: ['(root)', 'infer', 'card', 'data'],
  export: ['(root)', 'torch', 'nn', 'efficientnet', 'card', 'io', 'infer', 'model-file'],
  train: ['(root)', 'torch', 'nn', 'optim', 'data', 'io', 'efficientnet', 'card', 'model-file', 'distributed'],
  search: ['(root)', 'torch', 'nn', 'optim', 'data', 'io', 'efficientnet', 'card', 'model-file', 'distributed', 'train', 'export', 'infer'],
  cli: ['(root)', 'torch', 'nn', 'optim', 'data', 'io', 'efficientnet', 'card', 'model-file', 'distributed', 'train', 'export', 'infer', 'search', 'web'],
  index: ['(root)', 'torch', 'nn', 'optim', 'data', 'io', 'efficientnet', 'card', 'model-file', 'distributed', 'train', 'export', 'infer', 'search', 'web'],
};

/**
 * The upward imports the tree still has: none since the model-file layer (src/model-file/: saving, loading,
 * locating and card-reading of every model file, above card/) took io/weights.ts, train/model-file.ts and
 * train/checkpoint.ts. The test holds the list exactly, so a new upward import fails.
 */
const KNOWN_UPWARD: string[] = [];

test("imports run down shared/DESIGN.md's layers: no upward import beyond the listed ones; a planted one is caught", () => {
  assert.deepEqual(upwardImports(importGraph(SRC), ALLOWED), KNOWN_UPWARD);
  // The checker catches what it should: torch importing the CLI, card importing train, and nothing in a clean graph.
  const planted = new Map([
    ['torch/tensor.ts', ['cli/main.ts', '(root).ts']],
    ['card/resolve.ts', ['efficientnet/variants.ts', 'train/trainer.ts']],
    ['cli/main.ts', ['search/store.ts']],
  ]);
  assert.deepEqual(upwardImports(planted, ALLOWED), ['card/resolve.ts -> train/trainer.ts', 'torch/tensor.ts -> cli/main.ts']);
  assert.deepEqual(upwardImports(new Map([['nn/module.ts', ['torch/index.ts']]]), ALLOWED), []);
});

test("inference reaches neither export, training, weights nor the engine; the page's modules need no Node", () => {
  const graph = importGraph(SRC);
  const external = externalImports(SRC);
  for (const module of ['infer/classifier.ts', 'infer/node.ts', 'infer/model-info.ts', 'infer/preprocess.ts', 'card/model-card.ts']) {
    const up = [...reachable(graph, module)].filter((m) => /^(export|train|io|torch|nn|search|cli)\//.test(m));
    assert.deepEqual(up, [], `${module} reaches ${up.join(', ')}`);
  }
  // What web/app.js imports from /lib/ and what the effnet/web entry loads, and everything they load.
  for (const entry of ['infer/classifier.ts', 'web/index.ts']) {
    const page = [entry, ...reachable(graph, entry)];
    const nodeOnly = page.filter((m) => (external.get(m) ?? []).length > 0).map((m) => `${m}: ${external.get(m)!.join(', ')}`);
    assert.deepEqual(nodeOnly, [], `modules reached from ${entry} import Node built-ins or packages`);
  }
});

test('predict of an .onnx file and `import { ImageClassifier }` work when the libtorch addon cannot load', async () => {
  const card = resolveModelCard({ source: { kind: 'custom', width: 0.1, depth: 0.1 }, resolution: 32, classes: ['a', 'b'] });
  const model = createModelFromCard(card);
  model.eval();
  const onnx = join(dir, 'model.onnx');
  writeFileSync(onnx, exportEfficientNet(model, { card }).bytes);
  model.dispose();
  const image = join(dir, 'image.png');
  await sharp(Buffer.alloc(40 * 30 * 3, 128), { raw: { width: 40, height: 30, channels: 3 } }).png().toFile(image);
  const env = { ...process.env, EFFNET_ADDON: join(dir, 'no-such-addon.node') };

  const predicted = spawnSync(process.execPath, [CLI, 'predict', onnx, image, '--json'], { env, encoding: 'utf8' });
  assert.equal(predicted.status, 0, predicted.stderr);
  const line = JSON.parse(predicted.stdout) as { top: { label: string }[] };
  assert.ok(['a', 'b'].includes(line.top[0]!.label));

  const library = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', `import { ImageClassifier, nodeRuntime, readOnnxMetadata, getVariant } from ${JSON.stringify(join(ROOT, 'dist', 'src', 'index.js'))};
import { readFileSync } from 'node:fs';
const bytes = readFileSync(${JSON.stringify(onnx)});
const classifier = await ImageClassifier.create(nodeRuntime, bytes);
const [result] = await classifier.classify([{ data: new Uint8Array(32 * 32 * 3), width: 32, height: 32 }], 2);
console.log(JSON.stringify({ classes: classifier.info.classNames, top: result.top.length, b3: getVariant('b3').resolution }));`],
    { env, encoding: 'utf8' },
  );
  assert.equal(library.status, 0, library.stderr);
  assert.deepEqual(JSON.parse(library.stdout), { classes: ['a', 'b'], top: 2, b3: 300 });

  const info = spawnSync(process.execPath, [CLI, 'info', 'b0', '--json'], { env, encoding: 'utf8' });
  assert.equal(info.status, 0, `effnet info is analytic: ${info.stderr}`);

  // The control: the engine is really unavailable in this set-up.
  const engine = spawnSync(process.execPath, [CLI, 'export', '--checkpoint', join(ROOT, 'test', 'fixtures', 'legacy', 'model.safetensors'), '--out', join(dir, 'x.onnx')], { env, encoding: 'utf8' });
  // A user error (exit 2) with the build command, prefixed once.
  assert.equal(engine.status, 2, engine.stderr);
  assert.match(engine.stderr, /^effnet export: the libtorch binding is not built \(.*no-such-addon\.node is missing\)\. Build it with `npm run setup`/);
  assert.doesNotMatch(engine.stderr, /effnet: effnet|--help lists the options/);
});
