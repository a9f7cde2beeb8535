/**
 * The cost of one-shot search against standalone training (issue 23's bench): for random candidates of a space at
 * the proxy, the median time of one training step of the supernet along the candidate's path (forward, cross
 * entropy, backward, SGD with momentum and weight decay over all supernet parameters: the off-path ones have no
 * gradient and are skipped) against the same step of the candidate built standalone (the extracted network, its own
 * SGD). Steps alternate supernet / standalone so that load on the shared machine hits both alike. Then the time to
 * rank one candidate with shared weights: batch-norm recalibration on `--calibration` training batches plus top-1 on
 * `--val-images` validation images (random tensors here: the time does not depend on the pixels).
 * No PyTorch counterpart: the reference of a supernet step is the standalone step of the same network, in this run.
 */
import { flatSearchSpace, resolveSearchSpace } from '../../src/search/nas/space.js';
import { builtInSpace } from '../../src/search/nas/spaces.js';
import { randomCandidate } from '../../src/search/nas/strategy.js';
import { Supernet, type KernelSharing } from '../../src/search/oneshot/supernet.js';
import { extractCandidate } from '../../src/search/oneshot/extract.js';
import { sharedWeightAccuracy, type LabelledBatch } from '../../src/search/oneshot/rank.js';
import { profileNetwork } from '../../src/efficientnet/profile.js';
import { Rng } from '../../src/data/rng.js';
import { SGD } from '../../src/optim/index.js';
import type { Module } from '../../src/nn/index.js';
import { crossEntropy, getNumThreads, manualSeed, randint, randn, setNumThreads, tidy, type Tensor } from '../../src/torch/index.js';
import { integerOptions, loadAverage, median, parseBenchArgs } from '../common.js';

const BENCH = 'supernet.bench';
const USAGE = `usage: node dist/bench/search/supernet.bench.js [--space b0] [--size 32] [--batch 32] [--candidates 5]
       [--steps 8] [--warmup 2] [--threads 2] [--kernels centre|separate] [--calibration 4] [--val-images 1000] [--json]
  --batch defaults to the NAS trial batch (32); --calibration batches of --batch images recalibrate BN per candidate`;

const values = parseBenchArgs(BENCH, USAGE, {
  space: { type: 'string', default: 'b0' },
  size: { type: 'string', default: '32' },
  batch: { type: 'string', default: '32' },
  candidates: { type: 'string', default: '5' },
  steps: { type: 'string', default: '8' },
  warmup: { type: 'string', default: '2' },
  threads: { type: 'string', default: '2' },
  kernels: { type: 'string', default: 'centre' },
  calibration: { type: 'string', default: '4' },
  'val-images': { type: 'string', default: '1000' },
  seed: { type: 'string', default: '0' },
  json: { type: 'boolean', default: false },
});
const n = integerOptions(BENCH, values, ['size', 'batch', 'candidates', 'steps', 'warmup', 'threads', 'calibration', 'val-images', 'seed'], { warmup: 0, seed: 0 });
if (values.kernels !== 'centre' && values.kernels !== 'separate') {
  process.stderr.write(`${BENCH}: --kernels must be centre or separate, got '${values.kernels}'\n${USAGE}\n`);
  process.exit(2);
}
setNumThreads(n.threads);
manualSeed(n.seed);
const space = resolveSearchSpace(builtInSpace(values.space));
const supernet = new Supernet(space, { numClasses: 10, resolution: n.size, kernelSharing: values.kernels as KernelSharing });
process.stderr.write(
  `${BENCH}: space ${values.space} at ${n.size}px, batch ${n.batch}, ${getNumThreads()} thread(s), supernet ${supernet.parameterCount().toLocaleString('en-US')} parameters (${values.kernels} kernels), load average ${loadAverage()}\n`,
);

const images = randn([n.batch, 3, n.size, n.size]);
const labels = randint(0, 10, [n.batch]);

/** One training step of `model` (forward through `forward`), returning its wall time in ms. */
function step(model: Module, optimizer: SGD, forward: (x: Tensor) => Tensor): number {
  const started = performance.now();
  tidy(() => {
    optimizer.zeroGrad();
    crossEntropy(forward(images), labels).backward();
    optimizer.step();
  });
  return performance.now() - started;
}

const supernetOptimizer = new SGD(supernet.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4, nesterov: true });
const rng = new Rng(n.seed + 1);
const flat = flatSearchSpace(space);
const rows: { candidate: number; params: number; macs: number; standaloneMs: number; supernetMs: number; ratio: number; rankMs: number }[] = [];
const calibration: LabelledBatch[] = Array.from({ length: n.calibration }, () => ({ images: randn([n.batch, 3, n.size, n.size]), labels: randint(0, 10, [n.batch]) }));
const validationBatch = 250;
const validation: LabelledBatch[] = [];
for (let left = n['val-images']; left > 0; left -= validationBatch) {
  const size = Math.min(validationBatch, left);
  validation.push({ images: randn([size, 3, n.size, n.size]), labels: randint(0, 10, [size]) });
}

for (let i = 0; i < n.candidates; i++) {
  const candidate = randomCandidate(flat, rng);
  const path = supernet.pathOf(candidate);
  const { model } = extractCandidate(supernet, candidate);
  model.train();
  supernet.train();
  const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4, nesterov: true });
  const own: number[] = [];
  const shared: number[] = [];
  for (let s = 0; s < n.warmup + n.steps; s++) {
    const a = step(model, optimizer, (x) => model.forward(x));
    const b = step(supernet, supernetOptimizer, (x) => supernet.forwardPath(x, path));
    if (s >= n.warmup) {
      own.push(a);
      shared.push(b);
    }
  }
  const rankStarted = performance.now();
  sharedWeightAccuracy(supernet, path, calibration, validation);
  const rankMs = performance.now() - rankStarted;
  const profile = profileNetwork(path, { imageSize: n.size, numClasses: 10 });
  const row = { candidate: i, params: profile.params, macs: profile.macs, standaloneMs: median(own), supernetMs: median(shared), ratio: median(shared) / median(own), rankMs };
  rows.push(row);
  process.stderr.write(
    `candidate ${i}: ${(profile.macs / 1e6).toFixed(1)}M MACs, ${(profile.params / 1e6).toFixed(2)}M params | standalone step ${row.standaloneMs.toFixed(1)} ms | supernet step ${row.supernetMs.toFixed(1)} ms | ratio ${row.ratio.toFixed(2)} | rank ${(rankMs / 1000).toFixed(2)} s\n`,
  );
  model.dispose();
  optimizer.dispose?.();
}

const ratios = rows.map((r) => r.ratio);
const summary = { medianRatio: median(ratios), worstRatio: Math.max(...ratios), medianRankSeconds: median(rows.map((r) => r.rankMs / 1000)) };
if (values.json) process.stdout.write(`${JSON.stringify({ rows, summary })}\n`);
else {
  process.stdout.write(
    `supernet step / standalone step: median ${summary.medianRatio.toFixed(2)}x, worst ${summary.worstRatio.toFixed(2)}x over ${rows.length} candidates; ` +
      `ranking one candidate (BN recalibration on ${n.calibration} x ${n.batch} images + ${n['val-images']} validation images): median ${summary.medianRankSeconds.toFixed(2)} s\n`,
  );
}
