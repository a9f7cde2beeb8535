/**
 * Data parallelism is exact: 2 and 4 ranks on loopback with sync batch norm (dropout and drop path off, a small
 * real EfficientNet, 6 SGD steps with momentum) end with the weights and running statistics of one process trained
 * on the combined batch with the plain batch norm, to PyTorch's DDP-test tolerance (atol 1e-5, rtol 1.3e-6), and
 * every rank's weights are bit-identical. Without sync batch norm each rank normalises with its own shard's
 * statistics: the measured difference is printed and must exceed that tolerance (sync BN is what makes it exact).
 * Ranks that built different models are refused. Two hosts: the same equivalence with the ranks in two network
 * namespaces joined by a veth pair (as root). Plus DistributedSampler's sharding and the bucketing against
 * hand-computed layouts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DDP_ATOL, canUseNamespaces, compareStates, freePort, readFloats, runScript, withTwoHosts } from './harness.js';
import { distributedIndices, gradientBuckets } from '../../src/distributed/index.js';
import { zeros } from '../../src/torch/index.js';

const RANK_SCRIPT = fileURLToPath(new URL('./data-parallel-rank.js', import.meta.url));

/** Runs one rank (inside network namespace `netns` when given). */
function run(args: string[], netns?: string): Promise<void> {
  return runScript(RANK_SCRIPT, args, netns);
}

let single: { final: Float32Array; init: Float32Array } | null = null;
async function singleProcess(dir: string): Promise<{ final: Float32Array; init: Float32Array }> {
  if (single === null) {
    const out = join(dir, 'single.bin');
    await run(['single', '0', '0', '1', out]);
    single = { final: readFloats(out), init: readFloats(`${out}.init`) };
  }
  return single;
}

const dir = mkdtempSync(join(tmpdir(), 'effnet-ddp-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

for (const worldSize of [2, 4]) {
  test(`${worldSize} ranks with sync batch norm end where one process on the combined batch ends (atol 1e-5, rtol 1.3e-6), every rank bit-identical`, { timeout: 300_000 }, async () => {
    const reference = await singleProcess(dir);
    // The training moved the weights far beyond the tolerance: the comparison can fail.
    assert.ok(compareStates(reference.final, reference.init).maxAbs > 100 * DDP_ATOL);
    const port = await freePort();
    const outs = Array.from({ length: worldSize }, (_, rank) => join(dir, `sync-${worldSize}-${rank}.bin`));
    await Promise.all(outs.map((out, rank) => run(['sync', String(port), String(rank), String(worldSize), out])));
    const ranks = outs.map(readFloats);
    for (let rank = 1; rank < worldSize; rank++) assert.ok(Buffer.from(ranks[rank]!.buffer).equals(Buffer.from(ranks[0]!.buffer)), `rank ${rank}'s weights are bit-identical to rank 0's`);
    const { excess, maxAbs } = compareStates(ranks[0]!, reference.final);
    console.log(`${worldSize} ranks, sync BN vs one process: max |difference| ${maxAbs.toExponential(2)}`);
    assert.ok(excess <= 0, `beyond tolerance by ${excess.toExponential(2)} (max |difference| ${maxAbs.toExponential(2)})`);
  });
}

test('2 ranks without sync batch norm: the per-shard statistics give a measured difference beyond the tolerance', { timeout: 300_000 }, async () => {
  const reference = await singleProcess(dir);
  const port = await freePort();
  const outs = [0, 1].map((rank) => join(dir, `local-${rank}.bin`));
  await Promise.all(outs.map((out, rank) => run(['local', String(port), String(rank), '2', out])));
  // (The ranks' running statistics differ here, each from its own shard: what --dist-bn will settle.)
  const [rank0] = outs.map(readFloats);
  const { excess, maxAbs } = compareStates(rank0!, reference.final);
  console.log(`2 ranks, per-rank BN vs one process: max |difference| ${maxAbs.toExponential(2)}`);
  assert.ok(excess > 0, `per-rank batch norm stayed within tolerance (max ${maxAbs.toExponential(2)}): the sync test would not show anything`);
});

test('ranks that built different models are refused, each naming the other', { timeout: 120_000 }, async () => {
  const port = await freePort();
  const results = await Promise.allSettled([0, 1].map((rank) => run(['mismatch', String(port), String(rank), '2', join(dir, `mismatch-${rank}.bin`)])));
  assert.match(String((results[0] as PromiseRejectedResult).reason), /rank 0 built a model with \d+ parameters that differs from rank 1 \(\d+ parameters\): every rank must build the same model/);
  assert.match(String((results[1] as PromiseRejectedResult).reason), /rank 1 built a model with \d+ parameters that differs from rank 0/);
});

test('two hosts: ranks in two network namespaces joined by a veth pair, rendezvous over the veth addresses, end as one process does', { timeout: 300_000, skip: !canUseNamespaces() && 'needs root and iproute2 (ip netns)' }, async () => {
  const reference = await singleProcess(dir);
  await withTwoHosts(async ({ names, addresses }) => {
    const port = 29400 + (process.pid % 500);
    const outs = [0, 1].map((rank) => join(dir, `netns-${rank}.bin`));
    await Promise.all([
      run(['sync', String(port), '0', '2', outs[0]!, addresses[0], addresses[0]], names[0]),
      run(['sync', String(port), '1', '2', outs[1]!, addresses[0], addresses[1]], names[1]),
    ]);
    const [rank0, rank1] = outs.map(readFloats);
    assert.ok(Buffer.from(rank1!.buffer).equals(Buffer.from(rank0!.buffer)), 'both hosts end bit-identical');
    const { excess, maxAbs } = compareStates(rank0!, reference.final);
    console.log(`2 hosts (network namespaces), sync BN vs one process: max |difference| ${maxAbs.toExponential(2)}`);
    assert.ok(excess <= 0, `beyond tolerance by ${excess.toExponential(2)}`);
  });
});

test("sharding follows DistributedSampler: padded to a multiple of the world size, rank-strided, the same epoch order on every rank", () => {
  // 10 images, 4 ranks, no shuffle: padded to 12 with indices 0 and 1; rank r takes positions r, r+4, r+8.
  assert.deepEqual([0, 1, 2, 3].map((rank) => distributedIndices({ size: 10, rank, worldSize: 4, shuffle: false })), [[0, 4, 8], [1, 5, 9], [2, 6, 0], [3, 7, 1]]);
  assert.deepEqual([0, 1, 2, 3].map((rank) => distributedIndices({ size: 10, rank, worldSize: 4, shuffle: false, dropLast: true })), [[0, 4], [1, 5], [2, 6], [3, 7]]);
  // Shuffled: the ranks' shards partition the epoch's order; another epoch gives another order.
  const shards = [0, 1, 2].map((rank) => distributedIndices({ size: 30, rank, worldSize: 3, seed: 4, epoch: 2 }));
  assert.deepEqual(shards.flat().sort((a, b) => a - b), Array.from({ length: 30 }, (_, i) => i));
  assert.notDeepEqual(distributedIndices({ size: 30, rank: 0, worldSize: 3, seed: 4, epoch: 3 }), shards[0]);
  assert.throws(() => distributedIndices({ size: 10, rank: 4, worldSize: 4 }), /shard: rank 4 is not in 0\.\.3/);
});

test('gradient buckets: reverse parameter order, at most the bucket size, a larger parameter alone', () => {
  const params = [zeros([10]), zeros([300]), zeros([20]), zeros([30])];
  // 4 bytes per element, 400-byte buckets: [30, 20] = 200 B, then 300 (1200 B) alone, then [10].
  const buckets = gradientBuckets(params, 400);
  assert.deepEqual(buckets.map((b) => b.map((p) => p.numel)), [[30, 20], [300], [10]]);
});
