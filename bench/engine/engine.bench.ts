/**
 * Engine benchmark: ours (TypeScript over the libtorch binding) against PyTorch (Debian's, the same libtorch
 * 1.13) in one run, with the same thread count set explicitly on both sides.
 *  (a) per-call overhead: add of two 4-element tensors called 100,000 times, microseconds per call;
 *  (b) a full training step (forward, cross entropy, backward, SGD step) of the demo ConvNet on batch 64.
 * Sections alternate between ours and PyTorch for several rounds, so that load from other work on the machine
 * hits both sides alike; each figure is a per-round median (over repeats or steps), and the table shows the
 * fastest round of each side (or, with --aggregate median, the median over rounds).
 *
 * usage: see USAGE below (--help prints it)
 */
import { availableParallelism, cpus } from 'node:os';
import {
  add,
  contiguous,
  getNumThreads,
  libtorchVersion,
  manualSeed,
  setNumThreads,
  tensor,
  tidy,
  type Tensor,
} from '../../src/torch/index.js';
import { buildDemoConvNet } from './convnet.js';
import { toChannelsLast } from '../../src/nn/index.js';
import { loadFashionMnist, makeBatch } from './data.js';
import { demoOptimizer, trainStep } from './step.js';
import { benchSource, integerOptions, loadAverage, median, parseBenchArgs, runPython, TUNED_MALLOC } from '../common.js';

const BENCH = 'engine.bench';
const REFERENCE = benchSource(import.meta.url, 'engine_reference.py');
const USAGE = 'usage: node dist/bench/engine/engine.bench.js [--threads T] [--rounds R] [--calls N] [--repeats N] [--steps S] [--warmup W] [--batch B] [--aggregate best|median] [--json]';

const values = parseBenchArgs(BENCH, USAGE, {
  threads: { type: 'string', default: '1' },
  rounds: { type: 'string', default: '3' },
  calls: { type: 'string', default: '100000' },
  repeats: { type: 'string', default: '5' },
  steps: { type: 'string', default: '30' },
  warmup: { type: 'string', default: '10' },
  batch: { type: 'string', default: '64' },
  aggregate: { type: 'string', default: 'best' },
  json: { type: 'boolean', default: false },
});
if (values.aggregate !== 'best' && values.aggregate !== 'median') {
  throw new Error(`${BENCH}: --aggregate must be 'best' or 'median', got '${values.aggregate}'`);
}
const { threads, rounds, calls, repeats, steps, warmup, batch: batchSize } = integerOptions(BENCH, values, ['threads', 'rounds', 'calls', 'repeats', 'steps', 'warmup', 'batch'], { warmup: 0 });

interface Reference {
  torch: string;
  threads: number;
  parameters?: number;
  percall_us?: Record<string, number>;
  train_step_ms?: Record<string, number>;
}

/** One section of the PyTorch reference; `tunedMalloc` runs it with {@link TUNED_MALLOC} (see bench/common.ts). */
function reference(section: 'percall' | 'train', tunedMalloc = false): Reference {
  const args = ['--section', section, '--threads', String(threads), '--calls', String(calls), '--repeats', String(repeats),
    '--steps', String(steps), '--warmup', String(warmup), '--batch', String(batchSize)];
  return runPython<Reference>(BENCH, REFERENCE, args, { threads, env: tunedMalloc ? TUNED_MALLOC : {}, needs: "Debian's python3-torch (apt-get install python3-torch python3-numpy)" });
}

// ---- (a) per-call overhead -------------------------------------------------------------------------------------

/** Ours, as a user would write it: a scope around each batch of 1,000 calls frees the results. */
function perCallTidy(a: Tensor, b: Tensor): number {
  const chunk = 1000;
  const start = performance.now();
  for (let done = 0; done < calls; done += chunk) {
    tidy(() => {
      for (let i = 0; i < chunk; i++) add(a, b);
    });
  }
  return ((performance.now() - start) * 1000) / calls;
}

/** Ours, disposing each result by hand. */
function perCallDispose(a: Tensor, b: Tensor): number {
  const start = performance.now();
  for (let i = 0; i < calls; i++) add(a, b).dispose();
  return ((performance.now() - start) * 1000) / calls;
}

function oursPerCall(): Record<string, number> {
  return tidy(() => {
    const a = tensor([1, 2, 3, 4]);
    const b = tensor([4, 3, 2, 1]);
    perCallTidy(a, b); // warm-up: resolves the operator, JIT-compiles the loop
    const out: Record<string, number> = {};
    const styles: [string, (a: Tensor, b: Tensor) => number][] = [['add(a, b) in tidy per 1k calls', perCallTidy], ['add(a, b).dispose()', perCallDispose]];
    for (const [name, fn] of styles) {
      const times: number[] = [];
      for (let r = 0; r < repeats; r++) times.push(fn(a, b));
      out[name] = median(times);
    }
    return out;
  });
}

// ---- (b) training step ------------------------------------------------------------------------------------------

function oursTrainStep(channelsLast: boolean): { ms: number; parameters: number } {
  const { train } = data;
  manualSeed(0);
  const model = buildDemoConvNet();
  if (channelsLast) toChannelsLast(model);
  model.train();
  const optimizer = demoOptimizer(model, 0.01);
  const batch = makeBatch(train, Uint32Array.from({ length: batchSize }, (_, i) => i)); // the first images, as the reference
  const images = channelsLast ? contiguous(batch.images, 'channels_last') : batch.images;
  const times: number[] = [];
  try {
    for (let i = 0; i < warmup + steps; i++) {
      const start = performance.now();
      tidy(() => {
        trainStep(model, optimizer, images, batch.labels);
      });
      const elapsed = performance.now() - start;
      if (i >= warmup) times.push(elapsed);
    }
    return { ms: median(times), parameters: model.parameterCount() };
  } finally {
    optimizer.dispose();
    model.dispose();
    images.dispose();
    batch.images.dispose();
    batch.labels.dispose();
  }
}

// ---- the run ----------------------------------------------------------------------------------------------------

setNumThreads(threads);
if (getNumThreads() !== threads) throw new Error(`${BENCH}: asked libtorch for ${threads} threads, it runs ${getNumThreads()}`);
const data = loadFashionMnist();

const oursCall: Record<string, number[]> = {};
const refCall: Record<string, number[]> = {};
const oursTrain: Record<string, number[]> = {};
const refTrain: Record<string, number[]> = {};
let refVersion = '';
const push = (into: Record<string, number[]>, from: Record<string, number>): void => {
  for (const [k, v] of Object.entries(from)) (into[k] ??= []).push(v);
};

const log = (line: string): void => void process.stderr.write(line + '\n');
const loadAtStart = loadAverage();
log(`engine.bench: ${threads} thread(s) on both sides, ${rounds} rounds; load average at start ${loadAtStart}`);
const sections: (() => void)[][] = [
  [
    () => push(oursCall, oursPerCall()),
    () => {
      const rc = reference('percall');
      refVersion = rc.torch;
      push(refCall, rc.percall_us!);
    },
  ],
  [
    () => {
      for (const cl of [false, true]) {
        const ours = oursTrainStep(cl);
        if (ours.parameters !== 29178) throw new Error(`${BENCH}: our ConvNet has ${ours.parameters} parameters, the reference 29178`);
        push(oursTrain, { [cl ? 'channels_last' : 'contiguous']: ours.ms });
      }
    },
    () => {
      for (const tuned of [false, true]) {
        const rt = reference('train', tuned);
        if (rt.parameters !== 29178) throw new Error(`${BENCH}: the reference ConvNet has ${rt.parameters} parameters, ours 29178; the architectures differ`);
        const suffix = tuned ? ', malloc tuned' : ', default malloc';
        push(refTrain, Object.fromEntries(Object.entries(rt.train_step_ms!).map(([k, v]) => [k + suffix, v])));
      }
    },
  ],
];
for (let round = 1; round <= rounds; round++) {
  // Odd rounds run ours first, even rounds PyTorch first, so that a burst of outside load does not always hit one side.
  for (const pair of sections) for (const task of round % 2 ? pair : [...pair].reverse()) task();
  log(`  round ${round}/${rounds} done (load ${loadAverage()})`);
}

// Outside load only ever adds time, so the fastest round is the best estimate of each side on a quiet machine;
// --aggregate median gives the median over rounds instead. Within a round each figure is already a median.
const aggregate = values.aggregate === 'median' ? median : (xs: readonly number[]): number => Math.min(...xs);
const med = (r: Record<string, number[]>): Record<string, number> => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, aggregate(v)]));
const oc = med(oursCall);
const rcm = med(refCall);
const ot = med(oursTrain);
const rtm = med(refTrain);

const bestRefCall = Math.min(rcm['torch.add(a, b)']!, rcm['a + b']!);
const bestRef = (format: string): number =>
  Math.min(...Object.entries(rtm).filter(([k]) => k.startsWith(`${format},`)).map(([, v]) => v));
const bestRefTrain = Math.min(bestRef('contiguous'), bestRef('channels_last'));
const bestOursTrain = Math.min(ot.contiguous!, ot.channels_last!);

const rows: [string, string, string, string][] = [];
const fmt = (x: number, digits = 2): string => x.toFixed(digits);
rows.push(['(a) add, 4 elements, us/call', '', '', '']);
rows.push(['  ours: tidy per 1k calls / PyTorch: a + b', fmt(oc['add(a, b) in tidy per 1k calls']!), fmt(rcm['a + b']!), fmt(oc['add(a, b) in tidy per 1k calls']! / rcm['a + b']!)]);
rows.push(['  ours: .dispose() each / PyTorch: torch.add(a, b)', fmt(oc['add(a, b).dispose()']!), fmt(rcm['torch.add(a, b)']!), fmt(oc['add(a, b).dispose()']! / rcm['torch.add(a, b)']!)]);
rows.push(['  best of each', fmt(Math.min(oc['add(a, b) in tidy per 1k calls']!, oc['add(a, b).dispose()']!)), fmt(bestRefCall), fmt(Math.min(oc['add(a, b) in tidy per 1k calls']!, oc['add(a, b).dispose()']!) / bestRefCall)]);
rows.push([`(b) train step, ConvNet 29,178 params, batch ${batchSize}, ms`, '', '', '']);
for (const format of ['contiguous', 'channels_last']) {
  rows.push([`  ${format} (PyTorch: best of foreach x malloc)`, fmt(ot[format]!), fmt(bestRef(format)), fmt(ot[format]! / bestRef(format))]);
}
rows.push(['  best of each', fmt(bestOursTrain), fmt(bestRefTrain), fmt(bestOursTrain / bestRefTrain)]);

const header: [string, string, string, string] = ['benchmark', 'ours', 'PyTorch', 'ours/PyTorch'];
const widths = [0, 1, 2, 3].map((i) => Math.max(...[header, ...rows].map((r) => r[i]!.length)));
const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
const table = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');

const detail = {
  date: new Date().toISOString(),
  machine: `${availableParallelism()} cores (${cpus()[0]?.model ?? '?'})`,
  libtorch: libtorchVersion(),
  pytorch: refVersion,
  threads,
  rounds,
  aggregate: values.aggregate,
  loadAverageAtStart: loadAtStart,
  loadAverageAtEnd: loadAverage(),
  oursPerCallUs: oc,
  pytorchPerCallUs: rcm,
  oursTrainStepMs: ot,
  pytorchTrainStepMs: rtm,
  perRound: { oursCall, refCall, oursTrain, refTrain },
};
if (values.json) process.stdout.write(JSON.stringify(detail, null, 2) + '\n');
else {
  process.stdout.write(`${table}\n\n`);
  process.stdout.write(`libtorch ${libtorchVersion()} (ours) / PyTorch ${refVersion}; ${threads} thread(s) each; ${detail.machine}; ` +
    `${values.aggregate === 'median' ? 'median' : 'fastest'} of ${rounds} rounds of medians (per-call: ${repeats} x ${calls} calls; train: ${steps} steps after ${warmup} warm-up)\n`);
  process.stdout.write('PyTorch training step by configuration (ms): ' +
    Object.entries(rtm).map(([k, v]) => `${k} ${fmt(v)}`).join('; ') + '\n');
  process.stdout.write(`per-round figures: ${JSON.stringify(detail.perRound)}\n`);
}
