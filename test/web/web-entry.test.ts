/**
 * effnet/web as a web developer uses it: the package's `./web` entry is bundled by esbuild for the browser (any Node
 * built-in or native package reached would fail the bundle), served with onnxruntime-web's files and a page of our
 * own, and in Debian's Chromium (headless, playwright-core) the page classifies an `<img>` element and a Blob of the
 * same PNG, and an `<img>` and a Blob of a JPEG whose EXIF orientation is 6 (rotated 90°), through
 * `classifyImages`. The reference is onnxruntime-node on the same files through effnet's own decoding (which
 * applies EXIF orientation as browsers do): the same top-1 and probabilities within 1e-5 (PNG) and 1e-3 (JPEG:
 * two decoders). Also: the raw-pixel path under Node. Skipped, with the reason printed, without Chromium.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { BrowserContext } from 'playwright-core';
import { Rng } from '../../src/data/rng.js';
import { loadModel } from '../../src/model-file/weights.js';
import { writeOnnx } from '../../src/export/index.js';
import { classifyFiles, openClassifier } from '../../src/infer/index.js';
import { rgbFromRaw } from '../../src/web/index.js';
import { colourImage, trainTinyModel } from '../infer/tiny-model.js';
import { chromiumSkip, launchBrowser } from './page.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const skip = chromiumSkip;
if (skip) console.log(`skipping the effnet/web bundle test: ${skip}`);

let dir = '';
let server: Server | null = null;
let base = '';
let browser: BrowserContext | null = null;
let onnxPath = '';

const PAGE = `<!doctype html><meta charset="utf-8"><title>effnet/web</title>
<script type="module">
import * as ort from '/ort/ort.min.mjs';
import { ImageClassifier, classifyImages } from '/effnet-web.js';
ort.env.wasm.wasmPaths = '/ort/';
ort.env.wasm.numThreads = 1;
try {
  const model = new Uint8Array(await (await fetch('/model.onnx')).arrayBuffer());
  const classifier = await ImageClassifier.create(ort, model, { sessionOptions: { executionProviders: ['wasm'] } });
  const results = {};
  for (const name of ['colour.png', 'rotated.jpg']) {
    const element = new Image();
    element.src = '/' + name;
    await element.decode();
    const blob = await (await fetch('/' + name)).blob();
    const [fromElement, fromBlob] = await classifyImages(classifier, [element, blob], 3);
    results[name] = { element: fromElement.top, blob: fromBlob.top, size: [element.naturalWidth, element.naturalHeight] };
  }
  window.effnetWeb = { ok: true, results };
} catch (error) {
  window.effnetWeb = { ok: false, error: String(error && error.stack || error) };
}
</script>`;

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.png': 'image/png', '.jpg': 'image/jpeg', '.onnx': 'application/octet-stream' };

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'effnet-web-entry-'));
  const tiny = trainTinyModel(dir);
  onnxPath = join(dir, 'model.onnx');
  const { model, card } = loadModel(tiny.modelPath);
  writeOnnx(onnxPath, model, { card });
  model.dispose();
  const rng = new Rng(5);
  const png = colourImage(1, 44, 36, rng);
  await sharp(Buffer.from(png.data), { raw: { width: png.width, height: png.height, channels: 3 } }).png().toFile(join(dir, 'colour.png'));
  // Stored 30 wide and 50 high with orientation 6: shown (and classified) rotated 90° clockwise, 50 x 30.
  const jpeg = colourImage(2, 30, 50, rng);
  await sharp(Buffer.from(jpeg.data), { raw: { width: jpeg.width, height: jpeg.height, channels: 3 } }).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toFile(join(dir, 'rotated.jpg'));

  // The package's ./web entry, bundled for the browser as a web app would.
  const exportsMap = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, { import: string }> }).exports;
  const { build } = await import('esbuild');
  await build({ entryPoints: [join(ROOT, exportsMap['./web']!.import)], bundle: true, format: 'esm', platform: 'browser', outfile: join(dir, 'effnet-web.js'), logLevel: 'silent' });
  writeFileSync(join(dir, 'index.html'), PAGE);

  const ortDir = join(ROOT, 'node_modules', 'onnxruntime-web', 'dist');
  server = createServer((request, response) => {
    const path = normalize(decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname));
    const file = path.startsWith('/ort/') ? join(ortDir, path.slice(5)) : join(dir, path === '/' ? 'index.html' : path.slice(1));
    try {
      const body = readFileSync(file);
      response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
      response.end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  browser = await launchBrowser(dir);
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => (server === null ? resolve(null) : server.close(resolve)));
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

interface Top {
  label: string;
  probability: number;
}

test('effnet/web bundles for the browser and classifies an <img> and a Blob as effnet predict does, EXIF orientation included', { skip }, async () => {
  const node = await openClassifier(readFileSync(onnxPath), { threads: 1 });
  const expected = await classifyFiles(node, [join(dir, 'colour.png'), join(dir, 'rotated.jpg')], { top: 3 });
  await node.release();

  const page = await browser!.newPage();
  const logs: string[] = [];
  page.on('console', (message) => logs.push(message.text()));
  await page.goto(`${base}/`);
  await page.waitForFunction('window.effnetWeb !== undefined', null, { timeout: 60_000 });
  const outcome = (await page.evaluate('window.effnetWeb')) as { ok: boolean; error?: string; results: Record<string, { element: Top[]; blob: Top[]; size: number[] }> };
  assert.ok(outcome.ok, `the page failed: ${outcome.error} ${logs.join('\n')}`);

  const files = ['colour.png', 'rotated.jpg'];
  files.forEach((name, i) => {
    const reference = expected[i]!;
    assert.ok('top' in reference, `effnet predict failed on ${name}`);
    const tolerance = name.endsWith('.png') ? 1e-5 : 1e-3;
    for (const source of ['element', 'blob'] as const) {
      const top = outcome.results[name]![source];
      assert.equal(top[0]!.label, reference.top[0]!.label, `${name} (${source}): top-1`);
      reference.top.forEach((prediction, k) => {
        const got = top.find((t) => t.label === prediction.label);
        assert.ok(got !== undefined && Math.abs(got.probability - prediction.probability) <= tolerance, `${name} (${source}): ${prediction.label} ${got?.probability} vs ${prediction.probability} (rank ${k})`);
      });
    }
  });
  assert.deepEqual(outcome.results['rotated.jpg']!.size, [50, 30], 'the page shows the JPEG rotated by its EXIF orientation');
});

test('rgbFromRaw drops alpha and refuses a wrong byte count (the raw-pixel path, no browser needed)', () => {
  const rgba = Uint8ClampedArray.from([1, 2, 3, 255, 4, 5, 6, 0]);
  assert.deepEqual([...rgbFromRaw({ data: rgba, width: 2, height: 1 }).data], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual([...rgbFromRaw({ data: new Uint8Array([7, 8, 9]), width: 1, height: 1, channels: 3 }).data], [7, 8, 9]);
  assert.throws(() => rgbFromRaw({ data: new Uint8Array(7), width: 2, height: 1 }), /a 2x1 image of 4 channels has 8 bytes, got 7/);
  assert.throws(() => rgbFromRaw({ data: new Uint8Array(0), width: 0, height: 1 }), /positive integer width and height/);
});
