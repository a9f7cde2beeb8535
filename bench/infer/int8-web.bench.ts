/**
 * int8 against float inference in onnxruntime-web (its WebAssembly backend) in Debian's Chromium, headless through
 * playwright-core: the same two models as int8.bench.ts (bench/infer/int8-models.ts; B0 unless --model says), served with the
 * cross-origin-isolation headers threads need, both sessions created in one page with the same options, runs
 * alternating float and int8 iteration by iteration, medians in ms per batch-1 image and the int8/float ratio.
 * The issue asks for this ratio to be measured and reported beside onnxruntime-node's.
 *
 * usage: see USAGE below (--help prints it)
 */
import { createReadStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';
import { floatAndInt8 } from './int8-models.js';
import { integerOptions, loadAverage, parseBenchArgs } from '../common.js';

const BENCH = 'int8-web.bench';
const USAGE = 'usage: node dist/bench/infer/int8-web.bench.js [--model b0|lite0|VARIANT] [--threads 1] [--iters 20] [--warmup 3] [--json]';
const values = parseBenchArgs(BENCH, USAGE, {
  model: { type: 'string', default: 'b0' },
  threads: { type: 'string', default: '1' },
  iters: { type: 'string', default: '20' },
  warmup: { type: 'string', default: '3' },
  json: { type: 'boolean', default: false },
});
const { threads, iters, warmup } = integerOptions(BENCH, values, ['threads', 'iters', 'warmup'], { warmup: 0 });
const CHROMIUM = '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) throw new Error(`${BENCH}: ${CHROMIUM} is missing (Debian's chromium package; scripts/setup.sh installs it)`);
const ORT_DIST = dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));

/** What the page measures. */
interface PageTimes {
  floatMs: number;
  int8Ms: number;
  agree: boolean;
  version: string;
}

/** Serves the page, onnxruntime-web's files and the two models on 127.0.0.1, cross-origin isolated. */
function serve(models: Record<string, Uint8Array>): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
    response.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    response.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    if (path === '/') {
      response.setHeader('Content-Type', 'text/html');
      response.end('<!doctype html><title>int8 bench</title>');
    } else if (path.slice(1) in models) {
      response.setHeader('Content-Type', 'application/octet-stream');
      response.end(models[path.slice(1)]);
    } else if (/^\/ort\/[\w.-]+\.(mjs|wasm)$/.test(path) && existsSync(join(ORT_DIST, path.slice(5)))) {
      response.setHeader('Content-Type', path.endsWith('.wasm') ? 'application/wasm' : 'text/javascript');
      createReadStream(join(ORT_DIST, path.slice(5))).pipe(response);
    } else {
      response.statusCode = 404;
      response.end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/` })));
}

/** The timing loop, run inside the page (a string: it is evaluated there, not compiled into this file's module). */
const PAGE_SCRIPT = `async ({ threads, iters, warmup, size }) => {
  const ort = await import('/ort/ort.wasm.min.mjs');
  ort.env.wasm.wasmPaths = '/ort/';
  ort.env.wasm.numThreads = threads;
  const options = { executionProviders: ['wasm'], graphOptimizationLevel: 'all' };
  const load = async (name) => ort.InferenceSession.create(new Uint8Array(await (await fetch('/' + name)).arrayBuffer()), options);
  const float = await load('float.onnx');
  const int8 = await load('int8.onnx');
  const data = new Float32Array(3 * size * size);
  let seed = 7;
  for (let i = 0; i < data.length; i++) { seed = (seed * 1103515245 + 12345) % 2147483648; data[i] = (seed / 2147483648 - 0.5) * 4; }
  const input = new ort.Tensor('float32', data, [1, 3, size, size]);
  const feeds = { [float.inputNames[0]]: input };
  const floatTimes = [], int8Times = [];
  let floatOut, int8Out;
  for (let i = 0; i < warmup + iters; i++) {
    let t = performance.now();
    floatOut = await float.run(feeds);
    const f = performance.now() - t;
    t = performance.now();
    int8Out = await int8.run(feeds);
    const q = performance.now() - t;
    if (i >= warmup) { floatTimes.push(f); int8Times.push(q); }
  }
  const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
  const argmax = (t) => { const v = t[Object.keys(t)[0]].data; let best = 0; for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i; return best; };
  return { floatMs: median(floatTimes), int8Ms: median(int8Times), agree: argmax(floatOut) === argmax(int8Out), version: ort.env.versions?.web ?? '' };
}`;

async function main(): Promise<void> {
  const { floatBytes, int8Bytes, size } = await floatAndInt8(values.model, { graphOptimizationLevel: 'all', intraOpNumThreads: 1, interOpNumThreads: 1 });
  const { server, url } = await serve({ 'float.onnx': floatBytes, 'int8.onnx': int8Bytes });
  const profile = mkdtempSync(join(tmpdir(), 'effnet-int8-web-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  let times: PageTimes;
  try {
    const page = await browser.newPage();
    await page.goto(url);
    times = (await page.evaluate(`(${PAGE_SCRIPT})(${JSON.stringify({ threads, iters, warmup, size })})`)) as PageTimes;
  } finally {
    await browser.close();
    server.close();
    rmSync(profile, { recursive: true, force: true });
  }
  const ratio = times.int8Ms / times.floatMs;
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ bench: BENCH, model: values.model, threads, iters, ...times, ratio })}\n`);
    return;
  }
  process.stdout.write(`${BENCH}: ${values.model} ${size}px batch 1, onnxruntime-web ${times.version} (wasm) in Chromium, ${threads} thread(s), ${iters} iterations (medians), load ${loadAverage()}\n`);
  process.stdout.write('| runtime | float ms | int8 ms | int8 / float | same top-1 |\n|---|---:|---:|---:|---|\n');
  process.stdout.write(`| onnxruntime-web (wasm) | ${times.floatMs.toFixed(1)} | ${times.int8Ms.toFixed(1)} | ${ratio.toFixed(3)} | ${times.agree ? 'yes' : 'no'} |\n`);
}

await main();
