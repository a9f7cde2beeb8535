/**
 * The Trainer data-parallel: 2 ranks (sharded loaders, sync batch norm, gradient averaging, the learning rate of the
 * global batch) end 2 epochs with SGD, a cosine schedule with warm-up, weight decay, label smoothing, an EMA and
 * random-resized-crop + flip augmentation where one process with the global batch ends: parameters, running
 * statistics and the EMA within atol 1e-5 / rtol 1.3e-6, every rank bit-identical. Only rank 0 writes the run's
 * files. Without sync batch norm, the running statistics of the model and of the EMA agree at the epoch's end, so
 * the EMA scored on a validation set sharded over the ranks is the EMA rank 0 saves. A loader that is not sharded
 * for the rank is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareStates, freePort, readFloats, runScript } from './harness.js';

const RANK_SCRIPT = fileURLToPath(new URL('./trainer-rank.js', import.meta.url));

const run = (args: string[]): Promise<void> => runScript(RANK_SCRIPT, args);

/** Runs 2 ranks of trainer-rank.js in MODE, each in its own folder under `dir`; returns the folders, rank order. */
async function runTwoRanks(mode: string, dir: string): Promise<string[]> {
  const rankDirs = [join(dir, 'rank0'), join(dir, 'rank1')];
  rankDirs.forEach((d) => mkdirSync(d));
  const port = await freePort();
  await Promise.all(rankDirs.map((d, rank) => run([mode, String(port), String(rank), '2', d])));
  return rankDirs;
}

test('Trainer with 2 data-parallel ranks ends where one process with the global batch ends (weights, BN statistics, EMA)', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-ddp-trainer-'));
  try {
    const singleDir = join(dir, 'single');
    mkdirSync(singleDir);
    await run(['single', '0', '0', '1', singleDir]);
    const rankDirs = await runTwoRanks('sync', dir);
    for (const what of ['weights', 'ema']) {
      const reference = readFloats(join(singleDir, `${what}-0.bin`));
      const [rank0, rank1] = rankDirs.map((d, rank) => readFloats(join(d, `${what}-${rank}.bin`)));
      assert.ok(Buffer.from(rank1!.buffer).equals(Buffer.from(rank0!.buffer)), `${what}: the ranks are bit-identical`);
      const { excess: over, maxAbs } = compareStates(rank0!, reference);
      console.log(`Trainer, 2 ranks vs one process, ${what}: max |difference| ${maxAbs.toExponential(2)}`);
      assert.ok(over <= 0, `${what}: beyond atol 1e-5 / rtol 1.3e-6 by ${over.toExponential(2)}`);
    }
    // Rank 0 wrote the run's checkpoints and metrics; rank 1 wrote none.
    for (const file of ['last.safetensors', 'best.safetensors', 'metrics.jsonl']) {
      assert.ok(existsSync(join(rankDirs[0]!, file)), `rank 0 wrote ${file}`);
      assert.equal(existsSync(join(rankDirs[1]!, file)), false, `rank 1 wrote no ${file}`);
    }
    // The validation metrics are the whole validation set's, the same as the single process's to rounding.
    const lastLine = (d: string): { valTop1: number; valLoss: number } => JSON.parse(readFileSync(join(d, 'metrics.jsonl'), 'utf8').trim().split('\n').at(-1)!);
    assert.equal(lastLine(rankDirs[0]!).valTop1, lastLine(singleDir).valTop1);
    assert.ok(Math.abs(lastLine(rankDirs[0]!).valLoss - lastLine(singleDir).valLoss) < 1e-4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('2 ranks without sync batch norm: the EMA\'s running statistics agree at the epoch\'s end, so its sharded score is the saved EMA\'s', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-ddp-ema-'));
  try {
    const rankDirs = await runTwoRanks('perrank', dir);
    for (const what of ['weights', 'ema']) {
      const [rank0, rank1] = rankDirs.map((d, rank) => readFloats(join(d, `${what}-${rank}.bin`)));
      assert.ok(Buffer.from(rank1!.buffer).equals(Buffer.from(rank0!.buffer)), `${what}: the ranks are bit-identical (running statistics included)`);
    }
    // The EMA metric of the last epoch (each rank scored half of the validation set) equals rank 0's EMA scored alone.
    const last = JSON.parse(readFileSync(join(rankDirs[0]!, 'metrics.jsonl'), 'utf8').trim().split('\n').at(-1)!) as { emaLoss: number; emaTop1: number };
    const alone = JSON.parse(readFileSync(join(rankDirs[0]!, 'ema-eval.json'), 'utf8')) as { loss: number; top1: number };
    assert.equal(last.emaTop1, alone.top1);
    assert.ok(Math.abs(last.emaLoss - alone.loss) < 1e-5, `in-run EMA loss ${last.emaLoss} against the saved EMA's ${alone.loss}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a data-parallel Trainer refuses a training loader that is not sharded for its rank', { timeout: 60_000 }, async () => {
  const { ProcessGroup } = await import('../../src/torch/index.js');
  const { openData } = await import('../../src/data/spec.js');
  const { DataLoader } = await import('../../src/data/loader.js');
  const { Trainer } = await import('../../src/train/trainer.js');
  const { createEfficientNet, customConfig } = await import('../../src/efficientnet/index.js');
  const group = await ProcessGroup.create({ host: '127.0.0.1', port: await freePort(), rank: 0, worldSize: 1, hostname: '127.0.0.1' });
  const data = await openData('synthetic:train=8,val=4,classes=3,size=32');
  const model = createEfficientNet(customConfig({ width: 0.25, depth: 0.25, resolution: 32 }), { numClasses: 3 });
  const transform = { kind: 'eval' as const, size: 32 };
  const unsharded = new DataLoader(data.train, { batchSize: 4, transform, workers: 0 });
  const otherRank = new DataLoader(data.train, { batchSize: 4, transform, workers: 0, shard: { rank: 1, worldSize: 2 } });
  try {
    const options = { model, val: null, runDir: join(tmpdir(), 'never-written'), recipe: { epochs: 1 }, distributed: { group } };
    assert.throws(() => new Trainer({ ...options, train: unsharded }), /data-parallel rank 0 of 1 needs a training loader sharded for it \(DataLoader option shard: \{ rank: 0, worldSize: 1 \}\), got an unsharded loader/);
    assert.throws(() => new Trainer({ ...options, train: otherRank }), /got shard 1 of 2/);
  } finally {
    await unsharded.close();
    await otherRank.close();
    model.dispose();
    group.destroy();
  }
});

test('a stop() that arrives while the ranks agree whether to stop is not lost: every rank stops after the next step', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-ddp-stop-'));
  try {
    const rankDirs = await runTwoRanks('stop', dir);
    for (const [rank, d] of rankDirs.entries()) {
      // 8 steps in the whole run (2 epochs of 4); the requests came during the agreement after step 3.
      assert.deepEqual(JSON.parse(readFileSync(join(d, `progress-${rank}.json`), 'utf8')), { step: 4, stopped: true }, `rank ${rank}`);
    }
    assert.ok(existsSync(join(rankDirs[0]!, 'last.safetensors')), 'rank 0 wrote the checkpoint of the stop');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
