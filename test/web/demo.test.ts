/**
 * The browser demo end to end: a tiny model trained a few steps is exported and served by `effnet serve-demo`'s
 * server; Debian's Chromium (headless, through playwright-core) opens the page, onnxruntime-web loads the model
 * (wasm, since the GPU is off), an image is picked through the file input, and the page's top-5 must match
 * onnxruntime-node's on the same file: the same top-1 and probabilities within 1e-4. A corrupt file shows an
 * error on the page. Also: the server serves only its three folders. Skipped, with the reason printed, when
 * /usr/bin/chromium is missing (scripts/setup.sh installs it).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { Rng } from '../../src/data/rng.js';
import { loadModel } from '../../src/model-file/weights.js';
import { writeOnnx } from '../../src/export/index.js';
import { classifyFiles, openClassifier } from '../../src/infer/index.js';
import { startDemoServer, type DemoServer } from '../../src/infer/demo-server.js';
import { colourImage, trainTinyModel, writePng } from '../infer/tiny-model.js';
import { chromiumSkip, classifyOnPage, launchBrowser, openDemoPage } from './page.js';

const skip = chromiumSkip;
if (skip) console.log(`skipping the browser demo test: ${skip}`);

let dir = '';
let server: DemoServer | null = null;
let browser: BrowserContext | null = null;
let onnxPath = '';

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'effnet-web-'));
  const tiny = trainTinyModel(dir);
  onnxPath = join(dir, 'tiny.onnx');
  const { model, card } = loadModel(tiny.modelPath);
  writeOnnx(onnxPath, model, { card });
  model.dispose();
  server = await startDemoServer({ port: 0, model: readFileSync(onnxPath) });
  browser = await launchBrowser(dir);
});

after(async () => {
  await browser?.close();
  await server?.close();
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

test('the page classifies a picked image like onnxruntime-node (same top-1, probabilities 1e-4)', { skip }, async () => {
  const rng = new Rng(21);
  const images = [0, 1, 2].map((label) => ({ path: join(dir, `pick-${label}.png`), image: colourImage(label, 45 + 7 * label, 52 - 5 * label, rng) }));
  for (const { path, image } of images) await writePng(path, image);
  const node = await openClassifier(readFileSync(onnxPath), { threads: 2 });
  const expected = await classifyFiles(node, images.map((i) => i.path), { top: 3 });
  await node.release();

  const page = await openDemoPage(browser!, server!.url);
  try {
    assert.match((await page.textContent('#model-status')) ?? '', /custom, 3 classes, 32px input, on wasm/);
    for (let i = 0; i < images.length; i++) {
      const result = await classifyOnPage(page, images[i]!.path);
      const want = expected[i]!;
      assert.ok(want.ok);
      assert.equal(result.top[0]!.index, want.top[0]!.index, `browser top-1 ${result.top[0]!.label}, node ${want.top[0]!.label}`);
      for (const p of want.top) {
        const got = result.top.find((q) => q.index === p.index)!;
        assert.ok(Math.abs(got.probability - p.probability) < 1e-4, `class ${p.label}: browser ${got.probability}, node ${p.probability}`);
      }
      assert.equal(result.backend, 'wasm');
      assert.ok(result.ms.total > 0);
      console.log(`browser: ${images[i]!.path.split('/').pop()} → ${result.top[0]!.label} in ${result.ms.total.toFixed(1)} ms (node: ${want.top[0]!.label})`);
    }
    assert.equal(await page.locator('#top li').count(), 3);
    assert.match((await page.textContent('#timing')) ?? '', /ms \(preprocessing .* inference .*\) on wasm/);

    const corrupt = join(dir, 'corrupt.jpg');
    writeFileSync(corrupt, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]));
    await page.setInputFiles('#image-input', corrupt);
    await page.waitForFunction("document.body.dataset.state === 'error'", null, { timeout: 30_000 });
    assert.match((await page.textContent('#error')) ?? '', /cannot decode corrupt\.jpg .*not an image/);
  } finally {
    await page.close();
  }
});

test('the demo server serves only the page, onnxruntime-web and the compiled inference modules', { skip }, async () => {
  const get = async (path: string): Promise<number> => (await fetch(new URL(path, server!.url))).status;
  assert.equal(await get('/'), 200);
  assert.equal(await get('/ort/ort.min.mjs'), 200);
  assert.equal(await get('/lib/infer/classifier.js'), 200);
  assert.equal(await get('/model.onnx'), 200);
  assert.equal(await get('/lib/../../package.json'), 404);
  assert.equal(await get('/%2e%2e/package.json'), 404);
  assert.equal(await get('/lib/infer/classifier.ts'), 404);
  const response = await fetch(server!.url);
  assert.equal(response.headers.get('cross-origin-embedder-policy'), 'require-corp');
});
