/**
 * One process of the Trainer-level data-parallel test (test/dist/trainer.test.ts):
 * `node trainer-rank.js MODE PORT RANK WORLD RUNDIR`. MODE `single` trains one process with batch 8; `sync` trains
 * rank RANK of WORLD with batch 8 / WORLD on its shard and sync batch norm. The Trainer with Nesterov SGD at 0.064
 * per 256 images (so the learning rate follows the global batch: 0.002 in both runs), cosine with warm-up,
 * weight decay, label smoothing, EMA, random-resized-crop and flip augmentation, 2 epochs of 32 synthetic images,
 * dropout and drop path off; every rank seeds its initial weights differently (rank 0 like the single process).
 * Writes the final float32 parameters and buffers to RUNDIR/weights.bin, and the EMA's to RUNDIR/ema.bin.
 * MODE `perrank` is `sync` without sync batch norm (each rank's running statistics its own shard's, made to agree at
 * each epoch's end: the default 'reduce'), the EMA averaging the floating buffers and the validation set sharded
 * over the ranks; rank 0 then scores its EMA state on the whole validation set alone and writes
 * RUNDIR/ema-eval.json ({ loss, top1 }).
 * MODE `stop` is `sync` whose ranks each call stop() while the ranks are agreeing whether to stop after step 3 (two
 * event-loop turns after onStep, so the request lands during the agreement's allreduce); it writes
 * RUNDIR/progress-RANK.json with the step the run stopped at.
 */
import { writeFileSync } from 'node:fs';
import { exitWhenDone } from './harness.js';
import { join } from 'node:path';
import { createEfficientNet, customConfig } from '../../src/efficientnet/index.js';
import { smallImageStages } from '../../src/card/small-images.js';
import { openData } from '../../src/data/spec.js';
import { DataLoader } from '../../src/data/loader.js';
import { Trainer, evaluate } from '../../src/train/trainer.js';
import { ProcessGroup, manualSeed, type Tensor } from '../../src/torch/index.js';

const [mode, portText, rankText, worldText, runDir] = process.argv.slice(2) as [string, string, string, string, string];
const rank = Number(rankText);
const worldSize = mode === 'single' ? 1 : Number(worldText);

function floats(entries: Iterable<[string, Tensor]>): Buffer {
  const values = [...entries].filter(([, t]) => t.dtype === 'float32').flatMap(([, t]) => [...t.toFloat32Array()]);
  return Buffer.from(Float32Array.from(values).buffer);
}

async function main(): Promise<void> {
  const data = await openData('synthetic:train=32,val=8,classes=3,size=32');
  manualSeed(100 + (mode === 'single' ? 0 : rank));
  const model = createEfficientNet(customConfig({ width: 0.25, depth: 0.25, resolution: 32, dropout: 0 }), { numClasses: 3, stages: smallImageStages(32), stochasticDepth: 0 });
  const group = mode === 'single' ? null : await ProcessGroup.create({ host: '127.0.0.1', port: Number(portText), rank, worldSize, hostname: '127.0.0.1' });
  const transform = { kind: 'train' as const, size: 32, scale: [0.5, 1] as [number, number] };
  const train = new DataLoader(data.train, { batchSize: 8 / worldSize, seed: 3, transform, workers: 0, shard: group === null ? null : { rank, worldSize } });
  const shardVal = mode === 'perrank' && group !== null;
  const val = new DataLoader(data.val, { batchSize: 8 / (shardVal ? worldSize : 1), shuffle: false, transform: { kind: 'eval', size: 32 }, workers: 0, shard: shardVal ? { rank, worldSize, exact: true } : null });
  const trainer: Trainer = new Trainer({
    model,
    train,
    val,
    runDir,
    recipe: { epochs: 2, optimizer: 'sgd', lrPer256: 0.064, schedule: 'cosine', warmupEpochs: 0.5, weightDecay: 1e-4, labelSmoothing: 0.1, emaDecay: 0.99, ...(mode === 'perrank' ? { emaBuffers: 'average' as const } : {}) },
    distributed: group === null ? null : { group, syncBatchNorm: mode !== 'perrank' },
    // Two event-loop turns later: after the Trainer's own turn following the step, inside the agreement's allreduce.
    ...(mode === 'stop' ? { onStep: (step: number) => void (step === 3 && setImmediate(() => setImmediate(() => trainer.stop()))) } : {}),
  });
  await trainer.fit();
  if (mode === 'stop') writeFileSync(join(runDir, `progress-${rank}.json`), JSON.stringify({ step: trainer.progress.step, stopped: trainer.stopped }));
  writeFileSync(join(runDir, `weights-${rank}.bin`), floats([...model.namedParameters(), ...model.namedBuffers()]));
  writeFileSync(join(runDir, `ema-${rank}.bin`), floats(trainer.ema!.stateDict().tensors));
  if (mode === 'perrank' && rank === 0) {
    trainer.ema!.copyTo(model);
    const whole = new DataLoader(data.val, { batchSize: 8, shuffle: false, transform: { kind: 'eval', size: 32 }, workers: 0 });
    const { loss, top1 } = await evaluate(model, whole);
    await whole.close();
    writeFileSync(join(runDir, 'ema-eval.json'), JSON.stringify({ loss, top1 }));
  }
  await train.close();
  await val.close();
  if (group !== null) {
    await group.barrier();
    group.destroy();
  }
}

exitWhenDone(main());
