/**
 * Inference benchmark: EfficientNet-B0 at 224px (random weights; speed does not depend on them), batch 1 and 32,
 * in one run:
 *   ours (preprocessed)   ImageClassifier.logits on an already preprocessed batch (the ONNX Runtime path)
 *   ours (end to end)     ImageClassifier.classify on decoded 500x375 RGB images: resize, crop, normalise, run,
 *                         softmax, top-5 (decoding the files is left out: it is sharp's, not ours)
 *   ORT direct            onnxruntime-node's InferenceSession.run on the same .onnx file, same session options
 *   libtorch eager        our EfficientNet.forward in eval mode under noGrad
 *   PyTorch eager         torchvision's efficientnet_b0 under torch.inference_mode(), best memory format
 *                         (bench/infer/pytorch_eager.py through /usr/bin/python3)
 *   TF.js wasm            the same exported graph rebuilt from TF.js ops (bench/infer/tfjs-graph.ts) on
 *                         @tensorflow/tfjs-backend-wasm; its logits are checked against ORT's first
 * Same thread count everywhere (ORT intraOpNumThreads, setNumThreads, torch.set_num_threads). Ours and ORT direct
 * alternate iteration by iteration so that load from other work hits both alike. Figures are medians in ms per
 * batch; ratios are printed against ORT direct and against PyTorch eager.
 *
 * usage: see USAGE below (--help prints it)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { writeOnnx } from '../../src/export/index.js';
import { ImageClassifier, nodeRuntime } from '../../src/infer/index.js';
import type { RgbImage } from '../../src/data/image.js';
import { Rng } from '../../src/data/rng.js';
import { noGrad, randn, setNumThreads, tidy } from '../../src/torch/index.js';
import { benchSource, integerOptions, median, parseBenchArgs, runPython } from '../common.js';
import { randomB0 } from './random-b0.js';
import { buildTfjsGraph, useWasmBackend, type TfjsGraph } from './tfjs-graph.js';

const BENCH = 'infer.bench';
const REFERENCE = benchSource(import.meta.url, 'pytorch_eager.py');
const USAGE = `usage: node dist/bench/infer/infer.bench.js [--threads 2] [--iters 30] [--iters-large 5] [--warmup 5]
       [--batches 1,32] [--skip-eager] [--skip-tfjs] [--json]`;

const values = parseBenchArgs(BENCH, USAGE, {
  threads: { type: 'string', default: '2' },
  iters: { type: 'string', default: '30' },
  'iters-large': { type: 'string', default: '5' },
  warmup: { type: 'string', default: '5' },
  batches: { type: 'string', default: '1,32' },
  'skip-eager': { type: 'boolean', default: false },
  'skip-tfjs': { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
});
const { threads, iters, 'iters-large': itersLarge, warmup } = integerOptions(BENCH, values, ['threads', 'iters', 'iters-large', 'warmup'], { warmup: 0 });
const batches = values.batches.split(',').map(Number);
if (batches.some((b) => !Number.isInteger(b) || b < 1)) throw new Error(`${BENCH}: --batches must be positive integers, got ${values.batches}`);
const SIZE = 224;

function photo(rng: Rng): RgbImage {
  const width = 500;
  const height = 375;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (((i * 31) % 256) + Math.floor(rng.next() * 40)) & 255;
  return { data, width, height };
}

async function time(fn: () => Promise<unknown> | unknown): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/** What bench/infer/pytorch_eager.py prints. */
interface PythonResult {
  torch: string;
  results: Record<string, Record<string, number[]>>;
}

interface Row {
  batch: number;
  ours: number;
  oursEndToEnd: number;
  ortDirect: number;
  libtorch: number | null;
  pytorch: number | null;
  pytorchFormat: string | null;
  tfjs: number | null;
}

async function main(): Promise<void> {
  setNumThreads(threads);
  const dir = mkdtempSync(join(tmpdir(), 'effnet-bench-infer-'));
  // Non-trivial BN statistics, so that logits are not vanishingly small and the TF.js check below means something.
  const model = randomB0();
  const onnxPath = join(dir, 'b0.onnx');
  writeOnnx(onnxPath, model);
  const bytes = readFileSync(onnxPath);
  const sessionOptions = { graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' } as const;
  const classifier = await ImageClassifier.create(nodeRuntime, bytes, { sessionOptions, maxBatch: Math.max(...batches) });
  const direct = await ort.InferenceSession.create(onnxPath, sessionOptions);
  const rng = new Rng(1);
  const rows: Row[] = [];
  let tfjsGraph: TfjsGraph | null = null;
  let tfjsReason = values['skip-tfjs'] ? '--skip-tfjs given' : '';
  let tfjsBackend = '';
  if (!values['skip-tfjs']) {
    try {
      tfjsBackend = await useWasmBackend(threads);
      tfjsGraph = buildTfjsGraph(bytes);
    } catch (error) {
      tfjsReason = `TF.js wasm could not run the graph: ${(error as Error).message}`;
    }
  }

  let python: PythonResult | null = null;
  let pythonReason = '';
  if (!values['skip-eager']) {
    try {
      python = runPython<PythonResult>(BENCH, REFERENCE, ['--threads', String(threads), '--batches', batches.join(','), '--iters', String(iters), '--iters-large', String(itersLarge), '--warmup', String(Math.min(warmup, 3))], {
        threads,
        needs: "Debian's python3-torch and python3-torchvision",
      });
    } catch (error) {
      pythonReason = `PyTorch reference failed or is unavailable: ${(error as Error).message.trim().split('\n').pop()}`;
    }
  } else {
    pythonReason = '--skip-eager given';
  }

  for (const batch of batches) {
    const n = batch <= 8 ? iters : itersLarge;
    const images = Array.from({ length: batch }, () => photo(rng));
    const input = classifier.preprocessor.batch(images);
    const feed = { input: new ort.Tensor('float32', input, [batch, 3, SIZE, SIZE]) };
    const ours: number[] = [];
    const endToEnd: number[] = [];
    const directTimes: number[] = [];
    for (let i = 0; i < warmup + n; i++) {
      // Alternate the order so that neither side always runs right after the other.
      const order = i % 2 === 0 ? ['ours', 'direct', 'e2e'] : ['direct', 'ours', 'e2e'];
      for (const which of order) {
        let ms: number;
        if (which === 'ours') ms = await time(() => classifier.logits(input, batch));
        else if (which === 'direct') ms = await time(() => direct.run(feed));
        else ms = await time(() => classifier.classify(images, 5));
        if (i < warmup) continue;
        (which === 'ours' ? ours : which === 'direct' ? directTimes : endToEnd).push(ms);
      }
    }
    let libtorch: number | null = null;
    if (!values['skip-eager']) {
      const times: number[] = [];
      const eagerWarmup = batch <= 8 ? Math.min(warmup, 3) : 1;
      tidy(() => {
        const x = randn([batch, 3, SIZE, SIZE]);
        for (let i = 0; i < eagerWarmup + n; i++) {
          const start = performance.now();
          tidy(() => noGrad(() => model.forward(x)));
          if (i >= eagerWarmup) times.push(performance.now() - start);
        }
      });
      libtorch = median(times);
    }
    let pytorch: number | null = null;
    let pytorchFormat: string | null = null;
    const formats = python?.results[String(batch)];
    if (formats !== undefined) {
      for (const [format, times] of Object.entries(formats)) {
        const m = median(times);
        if (pytorch === null || m < pytorch) {
          pytorch = m;
          pytorchFormat = format;
        }
      }
    }
    let tfjs: number | null = null;
    if (tfjsGraph !== null) {
      const reference = (await direct.run(feed)).logits!.data as Float32Array;
      const check = tfjsGraph.run(input, batch, SIZE);
      let worst = 0;
      let scale = 0;
      for (let i = 0; i < check.length; i++) {
        worst = Math.max(worst, Math.abs(check[i]! - reference[i]!));
        scale = Math.max(scale, Math.abs(reference[i]!));
      }
      if (!(worst <= 1e-4 * Math.max(scale, 1e-6))) throw new Error(`${BENCH}: TF.js logits differ from ORT's by ${worst} (largest logit ${scale}); the TF.js graph is wrong`);
      if (batch === batches[0]) tfjsBackend += `, logits within ${worst.toExponential(1)} of ORT's (largest |logit| ${scale.toExponential(1)})`;
      const times: number[] = [];
      const tfWarmup = batch <= 8 ? Math.min(warmup, 3) : 1;
      for (let i = 0; i < tfWarmup + n; i++) {
        const ms = await time(() => tfjsGraph!.run(input, batch, SIZE));
        if (i >= tfWarmup) times.push(ms);
      }
      tfjs = median(times);
    }
    rows.push({ batch, ours: median(ours), oursEndToEnd: median(endToEnd), ortDirect: median(directTimes), libtorch, pytorch, pytorchFormat, tfjs });
  }
  tfjsGraph?.dispose();
  await classifier.release();
  await direct.release();
  model.dispose();
  rmSync(dir, { recursive: true, force: true });

  if (values.json) {
    process.stdout.write(JSON.stringify({ threads, rows, pytorch: python?.torch ?? null, pythonReason, tfjsBackend, tfjsReason }) + '\n');
    return;
  }
  const f = (x: number | null): string => (x === null ? 'n/a' : x.toFixed(2));
  const r = (a: number | null, b: number | null): string => (a === null || b === null ? 'n/a' : (a / b).toFixed(3));
  console.log(`EfficientNet-B0 ${SIZE}px, ${threads} threads, onnxruntime-node ${ort.env.versions?.common ?? ''}, PyTorch ${python?.torch ?? 'n/a'}; medians in ms per batch`);
  console.log('| batch | ours (preprocessed) | ours (end to end) | ORT direct | libtorch eager | PyTorch eager | TF.js wasm | ours/ORT direct | ours/PyTorch | PyTorch/ours | TF.js/ours |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const row of rows) {
    console.log(
      `| ${row.batch} | ${f(row.ours)} | ${f(row.oursEndToEnd)} | ${f(row.ortDirect)} | ${f(row.libtorch)} | ${f(row.pytorch)}${row.pytorchFormat ? ` (${row.pytorchFormat})` : ''} | ` +
        `${f(row.tfjs)} | ${r(row.ours, row.ortDirect)} | ${r(row.ours, row.pytorch)} | ${r(row.pytorch, row.ours)} | ${r(row.tfjs, row.ours)} |`,
    );
  }
  if (pythonReason) console.log(`PyTorch eager: ${pythonReason}`);
  console.log(tfjsReason ? `TF.js wasm: ${tfjsReason}` : `TF.js backend: ${tfjsBackend}`);
  const one = rows.find((row) => row.batch === 1);
  if (one !== undefined) {
    console.log(`targets (batch 1): ours within 1.1x of ORT direct: ${one.ours / one.ortDirect <= 1.1 ? 'met' : 'NOT met'} (${r(one.ours, one.ortDirect)}); ` +
      `ours >= 5x faster than PyTorch eager: ${one.pytorch === null ? 'n/a' : one.pytorch / one.ours >= 5 ? 'met' : 'NOT met'} (${r(one.pytorch, one.ours)}x)`);
  }
}

main().catch((error: unknown) => {
  console.error(`${BENCH}: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
