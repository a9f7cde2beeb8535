/**
 * int8 against float inference in onnxruntime-node, in one run: EfficientNet-B0 at 224 px, or another registered
 * variant at its own size with --model (Lite0: ReLU6, no SE; random weights with non-trivial batch-norm
 * statistics; speed does not depend on the values) exported float, then quantized by
 * `effnet export --int8`'s code (min-max calibration on seeded random inputs, every part quantized, no float
 * fallback), both sessions with the same options. Float and int8 runs alternate iteration by iteration so that load
 * from other work hits both alike; medians in ms per batch and the int8/float ratio are printed. The issue's bar is
 * a ratio of at most 0.5 at batch 1.
 *
 * usage: see USAGE below (--help prints it)
 */
import * as ort from 'onnxruntime-node';
import { Rng } from '../../src/data/rng.js';
import { floatAndInt8, randomBatch } from './int8-models.js';
import { integerOptions, loadAverage, median, parseBenchArgs } from '../common.js';

const BENCH = 'int8.bench';
const USAGE = 'usage: node dist/bench/infer/int8.bench.js [--model b0|lite0|VARIANT] [--threads 1] [--iters 40] [--warmup 5] [--batches 1,8] [--json]';
const values = parseBenchArgs(BENCH, USAGE, {
  model: { type: 'string', default: 'b0' },
  threads: { type: 'string', default: '1' },
  iters: { type: 'string', default: '40' },
  warmup: { type: 'string', default: '5' },
  batches: { type: 'string', default: '1,8' },
  json: { type: 'boolean', default: false },
});
const { threads, iters, warmup } = integerOptions(BENCH, values, ['threads', 'iters', 'warmup'], { warmup: 0 });
const batches = values.batches.split(',').map(Number);
if (batches.some((b) => !Number.isInteger(b) || b < 1)) throw new Error(`${BENCH}: --batches must be positive integers, got ${values.batches}`);
async function main(): Promise<void> {
  const sessionOptions = { graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' } as const;
  const { floatBytes, int8Bytes, size: SIZE } = await floatAndInt8(values.model, sessionOptions);
  const rng = new Rng(2);
  const floatSession = await ort.InferenceSession.create(floatBytes, sessionOptions);
  const int8Session = await ort.InferenceSession.create(int8Bytes, sessionOptions);
  const rows: { batch: number; floatMs: number; int8Ms: number; ratio: number }[] = [];
  for (const batch of batches) {
    const input = new ort.Tensor('float32', randomBatch(batch, rng, SIZE), [batch, 3, SIZE, SIZE]);
    const floatTimes: number[] = [];
    const int8Times: number[] = [];
    for (let i = 0; i < warmup + iters; i++) {
      let started = performance.now();
      await floatSession.run({ input });
      const f = performance.now() - started;
      started = performance.now();
      await int8Session.run({ input });
      const q = performance.now() - started;
      if (i >= warmup) {
        floatTimes.push(f);
        int8Times.push(q);
      }
    }
    const floatMs = median(floatTimes);
    const int8Ms = median(int8Times);
    rows.push({ batch, floatMs, int8Ms, ratio: int8Ms / floatMs });
  }
  await floatSession.release();
  await int8Session.release();
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ bench: BENCH, model: values.model, threads, iters, floatBytes: floatBytes.length, int8Bytes: int8Bytes.length, rows })}\n`);
    return;
  }
  process.stdout.write(`${BENCH}: ${values.model} ${SIZE}px, onnxruntime-node ${ort.env.versions?.common ?? ''}, ${threads} thread(s), ${iters} iterations (medians), load ${loadAverage()}\n`);
  process.stdout.write(`files: float ${(floatBytes.length / 1e6).toFixed(2)} MB, int8 ${(int8Bytes.length / 1e6).toFixed(2)} MB (${(floatBytes.length / int8Bytes.length).toFixed(2)}x smaller)\n`);
  process.stdout.write('| batch | float ms | int8 ms | int8 / float |\n|---:|---:|---:|---:|\n');
  for (const r of rows) process.stdout.write(`| ${r.batch} | ${r.floatMs.toFixed(2)} | ${r.int8Ms.toFixed(2)} | ${r.ratio.toFixed(3)} |\n`);
}

await main();
