/**
 * The loader: identical batches for 0, 1 and 2 workers under one seed, last partial batch kept or dropped,
 * resuming at a (epoch, batch) position, corrupt images skipped and counted, clean shutdown; sharded loaders (data
 * parallelism) that together yield the single loader's batches, images augmented identically.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { ImageFolderDataset } from '../../src/data/image-folder.js';
import { DataLoader, type Batch, type LoaderOptions } from '../../src/data/loader.js';
import { mkdirSync } from 'node:fs';
import { distributedIndices } from '../../src/distributed/sampler.js';

async function folderOf(n: number, dir: string): Promise<string> {
  const root = join(dir, 'imgs');
  for (let i = 0; i < n; i++) {
    const cls = `c${i % 3}`;
    mkdirSync(join(root, cls), { recursive: true });
    const w = 10 + (i % 5);
    const px = Buffer.from(Array.from({ length: w * 12 * 3 }, (_, k) => (k * (i + 3)) % 256));
    writeFileSync(join(root, cls, `${String(i).padStart(3, '0')}.png`), await sharp(px, { raw: { width: w, height: 12, channels: 3 } }).png().toBuffer());
  }
  writeFileSync(join(root, 'c1', 'zz-broken.png'), Buffer.from('broken'));
  return root;
}

async function collect(loader: DataLoader, epoch: number, start = 0): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of loader.epoch(epoch, start)) out.push(b);
  return out;
}

test('loader: same seed gives the same batches for 0, 1 and 2 workers; last batch, resume, skipped samples', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-loader-'));
  try {
    const ds = ImageFolderDataset.open(await folderOf(22, dir)); // 23 samples, one broken
    const opts: LoaderOptions = { batchSize: 5, seed: 9, transform: { kind: 'train', size: 8, augment: { kind: 'randaugment', n: 2, m: 9 } } };
    const runs: Batch[][] = [];
    for (const workers of [0, 1, 2]) {
      const loader = new DataLoader(ds, { ...opts, workers, prefetch: 3 });
      runs.push(await collect(loader, 1));
      await loader.close();
    }
    for (const r of runs.slice(1)) {
      assert.equal(r.length, runs[0]!.length);
      r.forEach((b, i) => {
        assert.deepEqual(b.images, runs[0]![i]!.images);
        assert.deepEqual(b.labels, runs[0]![i]!.labels);
        assert.deepEqual(b.indices, runs[0]![i]!.indices);
      });
    }
    const batches = runs[0]!;
    assert.equal(batches.length, 5, '23 samples in batches of 5: 4 full + 1 partial kept');
    const sizes = batches.map((b) => b.shape[0]);
    const skipped = batches.flatMap((b) => b.skipped);
    assert.equal(skipped.length, 1);
    assert.match(skipped[0]!.source, /zz-broken\.png/);
    assert.equal(sizes.reduce((a, b) => a + b, 0), 22);
    assert.ok(batches.every((b) => b.images.length === b.shape[0] * 3 * 8 * 8 && b.labels.length === b.shape[0]));
    assert.ok(batches[0]!.images.buffer instanceof ArrayBuffer);
    const seen = new Set(batches.flatMap((b) => [...b.indices, ...b.skipped.map((s) => s.index)]));
    assert.equal(seen.size, 23, 'every sample once per epoch');
    assert.deepEqual(batches[4]!.next, { epoch: 2, batch: 0 });

    const loader = new DataLoader(ds, { ...opts, workers: 2, dropLast: true });
    assert.equal(loader.batchesPerEpoch, 4);
    const dropped = await collect(loader, 1);
    assert.equal(dropped.length, 4);
    // Resume at batch 2 of epoch 1: the same batches as an uninterrupted epoch.
    const resumed = await collect(loader, 1, 2);
    assert.deepEqual(resumed.map((b) => b.images), dropped.slice(2).map((b) => b.images));
    // Another epoch reshuffles; stopping early and closing is clean.
    const e2 = await collect(loader, 2);
    assert.notDeepEqual(e2[0]!.indices, dropped[0]!.indices);
    for await (const b of loader.epoch(3)) if (b.index === 0) break;
    await loader.close();
    await assert.rejects(collect(loader, 0), /closed/);
    assert.throws(() => new DataLoader(ds, { ...opts, batchSize: 0 }), /batchSize must be a positive integer/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sharded loaders: at each step the ranks together yield the single loader\'s batch, each image augmented identically', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-loader-shard-'));
  try {
    const ds = ImageFolderDataset.open(await folderOf(23, dir)); // 24 samples (one broken): 4 global batches of 6
    const transform: LoaderOptions['transform'] = { kind: 'train', size: 8, augment: { kind: 'randaugment', n: 2, m: 9 } };
    const single = new DataLoader(ds, { batchSize: 6, seed: 5, transform, workers: 0 });
    const global = await collect(single, 2);
    await single.close();
    const ranks: Batch[][] = [];
    for (const rank of [0, 1]) {
      const loader: DataLoader = new DataLoader(ds, { batchSize: 3, seed: 5, transform, workers: 0, shard: { rank, worldSize: 2 } });
      assert.equal(loader.batchesPerEpoch, 4);
      // What src/dist's DistributedSampler rule says this rank gets.
      assert.deepEqual([...loader.order(2)], distributedIndices({ size: ds.length, rank, worldSize: 2, seed: 5, epoch: 2 }));
      ranks.push(await collect(loader, 2));
      await loader.close();
    }
    assert.equal(global.length, 4);
    global.forEach((batch, k) => {
      const pixels = 3 * 8 * 8;
      const byIndex = (b: Batch): Map<number, string> => new Map([...b.indices].map((index, i) => [index, Buffer.from(b.images.buffer, b.images.byteOffset + i * pixels * 4, pixels * 4).toString('base64')]));
      const expected = byIndex(batch);
      const got = new Map([...byIndex(ranks[0]![k]!), ...byIndex(ranks[1]![k]!)]);
      assert.deepEqual([...got.keys()].sort((a, b) => a - b), [...expected.keys()].sort((a, b) => a - b), `step ${k}: the same images`);
      for (const [index, image] of expected) assert.equal(got.get(index), image, `step ${k}, image ${index}: the same augmented pixels`);
      // The two ranks' shares are disjoint.
      assert.equal(ranks[0]![k]!.indices.filter((i) => ranks[1]![k]!.indices.includes(i)).length, 0);
    });
    assert.throws(() => new DataLoader(ds, { batchSize: 3, transform, workers: 0, shard: { rank: 2, worldSize: 2 } }), /shard: rank 2 is not in 0\.\.1/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('exact shards (evaluation): every image exactly once over the ranks, shares differing by at most one, no padding', async () => {
  const { shardOrder, shardLength } = await import('../../src/data/shard.js');
  const order = Int32Array.from({ length: 12 }, (_, i) => 11 - i);
  const shares = [0, 1, 2, 3, 4].map((rank) => Array.from(shardOrder(order, { rank, worldSize: 5, exact: true })));
  assert.deepEqual(shares.map((s) => s.length), [3, 3, 2, 2, 2]);
  assert.deepEqual(shares.map((_, rank) => shardLength(12, { rank, worldSize: 5, exact: true })), [3, 3, 2, 2, 2]);
  assert.deepEqual(shares.flat().sort((a, b) => a - b), Array.from({ length: 12 }, (_, i) => i));
  assert.deepEqual(shares[1], [10, 5, 0], 'every worldSize-th entry from the rank');
  // More ranks than images: the last ranks get none.
  assert.deepEqual([0, 1, 2, 3].map((rank) => shardLength(2, { rank, worldSize: 4, exact: true })), [1, 1, 0, 0]);
  // The padded (training) rule for comparison: equal shares, the head repeated.
  assert.deepEqual(Array.from(shardOrder(order, { rank: 4, worldSize: 5 })), [7, 2, 9]);
});
