/**
 * effnet installed as a user installs it: `npm pack`'s tarball into fresh projects (packages from the npm registry or
 * npm's cache, nothing else), the three ways the README gives. The heavy packages are optional peers, installed beside
 * effnet by name. Everything (effnet, onnxruntime-node, sharp, better-sqlite3, pg): the addon is not built until the
 * documented `npx effnet setup` builds it, then the README's library example, compiled under strict NodeNext
 * TypeScript, runs and exits 0 by itself. Node inference (effnet, onnxruntime-node, sharp) and the browser (effnet,
 * onnxruntime-web): node_modules within the sizes the README states, predict equal to the checkout's, and each
 * missing piece refused with one message that names what to install (exit 2).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { resolveModelCard } from '../../src/card/resolve.js';
import { createModelFromCard } from '../../src/card/build.js';
import { exportEfficientNet } from '../../src/export/efficientnet-onnx.js';
import { manualSeed } from '../../src/torch/index.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const dir = mkdtempSync(join(tmpdir(), 'effnet-tarball-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** What the README states (section "Using effnet as a library"), in MB of file contents. */
const FULL_MB = 405;
const NODE_INFERENCE_MB = 365;
const BROWSER_MB = 190;

const ENV = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', OMP_NUM_THREADS: '2', npm_config_audit: 'false', npm_config_fund: 'false' };

function spawn(command: string, args: readonly string[], cwd: string, timeout = 600_000): SpawnSyncReturns<string> {
  return spawnSync(command, args, { cwd, encoding: 'utf8', env: ENV, timeout });
}

function run(command: string, args: readonly string[], cwd: string, timeout?: number): string {
  const result = spawn(command, args, cwd, timeout);
  assert.equal(result.status, 0, `${command} ${args.join(' ')} exited ${result.status} (signal ${result.signal}):\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/** A command the user gets wrong: exit 2, the message once, no stack trace, no doubled "effnet:" prefix. */
function refused(result: SpawnSyncReturns<string>, message: RegExp): void {
  const context = `exit ${result.status}: ${result.stderr}`;
  assert.equal(result.status, 2, context);
  assert.match(result.stderr, message, context);
  assert.equal(result.stderr.trim().split('\n').length, 1, `one line: ${context}`);
  assert.doesNotMatch(result.stderr, /effnet[^:]*: effnet/, context);
  assert.doesNotMatch(result.stderr, /\n\s+at /, context);
}

/** The size of a folder's file contents in MB (apparent sizes, links not followed). */
function folderMb(folder: string): number {
  let bytes = 0;
  const walk = (path: string): void => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const child = join(path, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (entry.isFile()) bytes += lstatSync(child).size;
    }
  };
  walk(folder);
  return bytes / 1e6;
}

function project(name: string): string {
  const folder = join(dir, name);
  mkdirSync(folder);
  writeFileSync(join(folder, 'package.json'), JSON.stringify({ name: `effnet-${name}`, private: true, type: 'module' }, null, 2));
  return folder;
}

function install(folder: string, args: readonly string[]): void {
  run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...args], folder);
}

/**
 * `name@version` of an optional peer: the version the checkout has installed (inside the range effnet's package.json
 * gives it, so npm's cache already holds it).
 */
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { peerDependencies: Record<string, string> };
const peer = (name: string): string => {
  assert.ok(manifest.peerDependencies[name] !== undefined, `${name} is not a peer of effnet`);
  return `${name}@${(JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version}`;
};

const packed = join(dir, JSON.parse(run('npm', ['pack', '--pack-destination', dir, '--ignore-scripts', '--json', '--loglevel=error'], ROOT))[0].filename as string);
const CLI = (folder: string): string => join(folder, 'node_modules', 'effnet', 'dist', 'src', 'cli', 'main.js');

/** A seeded model and a picture, and what the checkout's `effnet predict` says of them. */
async function modelAndImage(): Promise<{ model: string; image: string; expected: unknown }> {
  const model = join(dir, 'model.onnx');
  const image = join(dir, 'picture.png');
  if (!existsSync(model)) {
    manualSeed(3);
    const card = resolveModelCard({ source: { kind: 'custom', width: 0.25, depth: 0.25 }, resolution: 32, classes: 4 });
    const network = createModelFromCard(card);
    network.eval();
    writeFileSync(model, exportEfficientNet(network, { card }).bytes);
    network.dispose();
    const pixels = Buffer.alloc(40 * 40 * 3);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 37 + (i % 3) * 91) % 256;
    await sharp(pixels, { raw: { width: 40, height: 40, channels: 3 } }).png().toFile(image);
  }
  const expected = JSON.parse(run(process.execPath, [join(ROOT, 'dist', 'src', 'cli', 'main.js'), 'predict', model, image, '--json', '--top', '4'], dir));
  return { model, image, expected };
}

test('the tarball and the training stack install into a fresh project; `npx effnet setup` builds the addon; the README example compiles (strict NodeNext) and exits 0 by itself', () => {
  const folder = project('full');
  install(folder, [packed, ...['onnxruntime-node', 'sharp', 'better-sqlite3', 'pg'].map(peer)]);
  assert.ok(!existsSync(join(folder, 'node_modules', 'onnxruntime-web')), 'onnxruntime-web is an optional peer: not installed unless named');

  // Before the build: an engine command says what to run, once, exit 2.
  refused(spawn(process.execPath, [CLI(folder), 'train', '--data', 'fashion-mnist', '--epochs', '1', '--out', join(folder, 'run')], folder), /the libtorch binding is not built .*npx effnet setup/);
  const built = run('npx', ['--no-install', 'effnet', 'setup'], folder);
  assert.match(built, /addon: .*effnet_torch\.node loads/);
  assert.match(run('npx', ['--no-install', 'effnet', 'version'], folder), /libtorch/);

  // The README's example, as printed there.
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Using effnet as a library'));
  const example = /```ts\n([\s\S]*?)```/.exec(section)![1]!;
  assert.match(example, /from 'effnet'/);
  writeFileSync(join(folder, 'example.ts'), example);
  writeFileSync(
    join(folder, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: true, outDir: 'out', typeRoots: [join(ROOT, 'node_modules', '@types')], types: ['node'] },
      files: ['example.ts'],
    }),
  );
  run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', folder], folder);
  const started = performance.now();
  const ran = spawn(process.execPath, [join(folder, 'out', 'example.js')], folder, 300_000);
  assert.equal(ran.signal, null, `the example did not exit by itself within 300 s: ${ran.stderr}`);
  assert.equal(ran.status, 0, ran.stderr);
  assert.ok(existsSync(join(folder, 'runs', 'lib', 'model.safetensors')), 'the example saved its model');
  const size = folderMb(join(folder, 'node_modules'));
  console.log(`full install: node_modules ${size.toFixed(0)} MB; the README example ran and exited in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  assert.ok(size <= FULL_MB, `node_modules is ${size.toFixed(0)} MB, over the ${FULL_MB} MB the README states`);
});

test('Node inference (effnet, onnxruntime-node, sharp): the stated size, predict as the checkout, the store and the engine refused with what to install', async () => {
  const { model, image, expected } = await modelAndImage();
  const folder = project('node-inference');
  install(folder, [packed, peer('onnxruntime-node'), peer('sharp')]);
  for (const name of ['better-sqlite3', 'pg', 'onnxruntime-web']) assert.ok(!existsSync(join(folder, 'node_modules', name)), `${name} was installed`);
  const size = folderMb(join(folder, 'node_modules'));
  console.log(`Node inference install: node_modules ${size.toFixed(0)} MB (onnxruntime-node ${folderMb(join(folder, 'node_modules', 'onnxruntime-node')).toFixed(0)} MB)`);
  assert.ok(size <= NODE_INFERENCE_MB, `node_modules is ${size.toFixed(0)} MB, over the ${NODE_INFERENCE_MB} MB the README states`);

  assert.deepEqual(JSON.parse(run('npx', ['--no-install', 'effnet', 'predict', model, image, '--json', '--top', '4'], folder)), expected);
  writeFileSync(
    join(folder, 'classify.mjs'),
    [
      "import { readFileSync } from 'node:fs';",
      "import { openClassifier, classifyFiles } from 'effnet';",
      'const classifier = await openClassifier(readFileSync(process.argv[2]));',
      'const [result] = await classifyFiles(classifier, [process.argv[3]], { top: 4 });',
      'console.log(JSON.stringify(result.top));',
    ].join('\n'),
  );
  const top = JSON.parse(run(process.execPath, ['classify.mjs', model, image], folder)) as unknown;
  assert.deepEqual(top, (expected as { top: unknown }).top);

  refused(
    spawn(process.execPath, [CLI(folder), 'scale-search', '--base', 'width=0.25,depth=0.2,resolution=32', '--data', 'synthetic:train=32,val=16,classes=4,size=32', '--budget', '1steps', '--db', join(folder, 'grid.sqlite')], folder),
    /needs the npm package 'better-sqlite3', which is not installed .*install it: npm install better-sqlite3/,
  );
  refused(spawn(process.execPath, [CLI(folder), 'train', '--data', 'synthetic:train=32,val=16,classes=4,size=32', '--epochs', '1', '--out', join(folder, 'run')], folder), /the libtorch binding is not built/);
});

test('the browser (effnet, onnxruntime-web): the stated size, effnet/web and effnet import, Node inference refused with what to install', async () => {
  const { model, image } = await modelAndImage();
  const folder = project('browser');
  install(folder, [packed, peer('onnxruntime-web')]);
  for (const name of ['better-sqlite3', 'pg', 'onnxruntime-node', 'sharp']) assert.ok(!existsSync(join(folder, 'node_modules', name)), `${name} was installed`);
  const size = folderMb(join(folder, 'node_modules'));
  console.log(`browser install: node_modules ${size.toFixed(0)} MB (onnxruntime-web ${folderMb(join(folder, 'node_modules', 'onnxruntime-web')).toFixed(0)} MB)`);
  assert.ok(size <= BROWSER_MB, `node_modules is ${size.toFixed(0)} MB, over the ${BROWSER_MB} MB the README states`);

  const imported = run(process.execPath, ['--input-type=module', '-e', "const web = await import('effnet/web'); const all = await import('effnet'); console.log(typeof web.classifyImages, typeof all.exportEfficientNet)"], folder);
  assert.equal(imported.trim(), 'function function');
  refused(spawn(process.execPath, [CLI(folder), 'predict', model, image], folder), /needs the npm package 'onnxruntime-node', which is not installed .*ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node/);
});
