/**
 * One process of the data-parallel equivalence test (test/dist/data-parallel.test.ts):
 * `node data-parallel-rank.js MODE PORT RANK WORLD OUT [HOST [DEVICE_HOST]]` (HOST: the rendezvous; DEVICE_HOST:
 * this rank's own address, for ranks in network namespaces). MODE `single` trains one process on the whole global
 * batch with the plain batch norm; `sync` and `local` train rank RANK of WORLD on its shard, with sync batch norm or
 * with each rank's own batch statistics. A small real EfficientNet (width 0.25, depth 0.25, 32 px, dropout and drop
 * path off), SGD (lr 0.01, momentum 0.9, weight decay 1e-4), 6 steps of a global batch of 8 images. Every rank seeds its
 * initial weights differently (rank 0 like the single process) so that the broadcast from rank 0 is what makes them
 * agree. Writes every parameter and buffer (float32, concatenated in state-dict order) to OUT, and in `single` mode
 * the initial ones to OUT.init.
 */
import { writeFileSync } from 'node:fs';
import { exitWhenDone } from './harness.js';
import { createEfficientNet, customConfig } from '../../src/efficientnet/index.js';
import { smallImageStages } from '../../src/card/small-images.js';
import { SGD } from '../../src/optim/index.js';
import { ProcessGroup, crossEntropy, manualSeed, narrow, randint, randn, tidy } from '../../src/torch/index.js';
import { averageGradients, broadcastModule, checkSameModule, gradientBuckets, useSyncBatchNorm } from '../../src/distributed/index.js';

const [mode, portText, rankText, worldText, out, host = '127.0.0.1', deviceHost = host] = process.argv.slice(2) as [string, string, string, string, string, string?, string?];
const rank = Number(rankText);
const worldSize = Number(worldText);
const STEPS = 6;
const GLOBAL_BATCH = 8;

/** Every float32 parameter and buffer, concatenated in state-dict order. */
function stateValues(model: ReturnType<typeof createEfficientNet>): number[] {
  return model.namedParameters().concat(model.namedBuffers()).filter(([, t]) => t.dtype === 'float32').flatMap(([, t]) => [...t.toFloat32Array()]);
}

async function main(): Promise<void> {
  manualSeed(1);
  const images = randn([STEPS * GLOBAL_BATCH, 3, 32, 32]);
  const labels = randint(0, 3, [STEPS * GLOBAL_BATCH]);
  manualSeed(100 + (mode === 'single' ? 0 : rank));
  // `mismatch`: rank 1 builds a wider model, which the same-model check must refuse.
  const width = mode === 'mismatch' && rank === 1 ? 0.5 : 0.25;
  const model = createEfficientNet(customConfig({ width, depth: 0.25, resolution: 32, dropout: 0 }), { numClasses: 3, stages: smallImageStages(32), stochasticDepth: 0 });
  model.train();
  let group: ProcessGroup | null = null;
  if (mode !== 'single') {
    group = await ProcessGroup.create({ host, port: Number(portText), rank, worldSize, hostname: deviceHost, timeoutMs: 60_000 });
    await checkSameModule(group, model);
    await broadcastModule(group, model);
    if (mode === 'sync') useSyncBatchNorm(model, group);
  }
  if (mode === 'single') writeFileSync(`${out}.init`, Buffer.from(Float32Array.from(stateValues(model)).buffer));
  const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
  const buckets = gradientBuckets(model.parameters(), 64 * 1024); // small buckets, so that several are exercised
  const perRank = GLOBAL_BATCH / (group === null ? 1 : worldSize);
  for (let step = 0; step < STEPS; step++) {
    const start = step * GLOBAL_BATCH + (group === null ? 0 : rank * perRank);
    optimizer.zeroGrad();
    tidy(() => crossEntropy(model.forward(narrow(images, 0, start, perRank)), narrow(labels, 0, start, perRank)).backward());
    if (group !== null) await averageGradients(group, buckets);
    optimizer.step();
  }
  writeFileSync(out, Buffer.from(Float32Array.from(stateValues(model)).buffer));
  if (group !== null) {
    await group.barrier();
    group.destroy();
  }
}

exitWhenDone(main());
