/**
 * `effnet train --nproc-per-node N`, the way a user runs it: the launcher starts the workers with torchrun's
 * environment, and the files on disk are compared with an independent run. Equivalence: 2 ranks with --sync-bn end
 * at the model.safetensors of one process with the same global batch (atol 1e-5 / rtol 1.3e-6). Faults: a worker
 * SIGKILLed mid-epoch makes the group exit non-zero within 10 s with the lost rank named; with --max-restarts 1 the
 * group resumes from the last checkpoint and ends bit-identical to an uninterrupted run; a rank that never joins
 * fails at the configured timeout. Bad input exits 2.
 */
import { spawn, spawnSync } from 'node:child_process';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, finished, runCli, startCli } from '../train/cli-helpers.js';
import { canUseNamespaces, compareStates, fileValues, freePort, withTwoHosts } from './harness.js';

const DATA = 'synthetic:train=48,val=12,classes=3,size=32';

/** A small run with nothing random but the data order and the augmentation (no dropout, no drop-path). */
function trainArgs(out: string, epochs: number, extra: readonly string[] = [], lr = 0.02): string[] {
  return [
    'train', '--model', 'custom', '--width', '0.1', '--depth', '0.1', '--image-size', '32', '--data', DATA, '--dropout', '0', '--drop-path', '0',
    '--epochs', String(epochs), '--batch-size', '8', '--optimizer', 'sgd', '--lr', String(lr), '--workers', '0', '--threads', '1', '--out', out, ...extra,
  ];
}

/** The reference: the same run in one process, 1 epoch at `lr` (what the data-parallel runs are compared with). */
async function oneProcessReference(out: string, lr: number): Promise<void> {
  const single = await runCli(trainArgs(out, 1, [], lr));
  assert.equal(single.code, 0, single.stderr);
}

/** Every float tensor of a model file, concatenated in name order (float32 tensors only, as the model files hold). */
function modelValues(path: string): Float32Array {
  return fileValues(path);
}

/** The process ids whose parent is `pid` (from /proc). */
function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      // the process ended meanwhile
    }
  }
  return out.sort((a, b) => a - b);
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function until(condition: () => boolean, what: string, timeoutMs = 120_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function metricsLines(dir: string): number {
  const path = join(dir, 'metrics.jsonl');
  return existsSync(path) ? readFileSync(path, 'utf8').trim().split('\n').filter((l) => l.length > 0).length : 0;
}

test('effnet train --nproc-per-node 2 --sync-bn ends at the model of one process with the global batch', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-launch-'));
  try {
    // 6 steps of 8 images. The learning rate keeps float32 rounding from growing past the tolerance: the composite
    // (sync) and native batch norms round differently, and on this tiny network the difference grows about 10x per
    // 6 steps (3.4e-6 after 6 steps and 3.5e-5 after 12 at lr 0.002; 1.6e-4 after 6 at lr 0.02), as between any two
    // summation orders. Bit-exactness is what the restart test checks.
    const lr = 0.002;
    await oneProcessReference(join(dir, 'single'), lr);
    const launched = await runCli(trainArgs(join(dir, 'ranks'), 1, ['--nproc-per-node', '2', '--sync-bn'], lr));
    assert.equal(launched.code, 0, launched.stderr);
    assert.match(launched.stderr, /effnet launch: 2 worker\(s\) on this node .*rendezvous 127\.0\.0\.1:\d+/);
    assert.match(launched.stdout, /data-parallel: 2 ranks \(2 on this host\), 4 images per rank per step, .*sync batch norm/);
    // Rank 0 alone prints: one summary, one final-model line.
    assert.equal(launched.stdout.match(/^final model: /gm)?.length, 1, launched.stdout);
    for (const file of ['model.safetensors', 'model_ema.safetensors']) {
      const reference = modelValues(join(dir, 'single', file));
      const ranks = modelValues(join(dir, 'ranks', file));
      const { excess, maxAbs } = compareStates(ranks, reference);
      console.log(`effnet train, 2 ranks --sync-bn vs 1 process, ${file}: max |difference| ${maxAbs.toExponential(2)}`);
      assert.ok(excess <= 0, `${file}: beyond atol 1e-5 / rtol 1.3e-6 by ${excess.toExponential(2)}`);
    }
    // Validation: each rank evaluated its exact share (6 of the 12 images) and the sums were added: the whole set's
    // metrics, those of the one process to float rounding.
    const validation = (d: string): { valTop1: number; valLoss: number; emaTop1: number } => JSON.parse(readFileSync(join(d, 'metrics.jsonl'), 'utf8').trim().split('\n')[0]!);
    const [mine, theirs] = [validation(join(dir, 'ranks')), validation(join(dir, 'single'))];
    assert.equal(mine.valTop1, theirs.valTop1);
    assert.equal(mine.emaTop1, theirs.emaTop1);
    assert.ok(Math.abs(mine.valLoss - theirs.valLoss) < 1e-5, `validation loss ${mine.valLoss} vs ${theirs.valLoss}`);
    // The checkpoint records the global batch: the run resumes in one process for a third epoch.
    const resumed = await runCli(trainArgs(join(dir, 'ranks'), 2, ['--resume'], lr));
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /resuming .* after epoch 1/);
    assert.equal(metricsLines(join(dir, 'ranks')), 2);
    // Without --sync-bn each rank normalises with its own 4 images: measurably elsewhere (docs/distributed.md).
    const perRank = await runCli(trainArgs(join(dir, 'per-rank'), 1, ['--nproc-per-node', '2'], lr));
    assert.equal(perRank.code, 0, perRank.stderr);
    const { maxAbs: apart } = compareStates(modelValues(join(dir, 'per-rank', 'model.safetensors')), modelValues(join(dir, 'single', 'model.safetensors')));
    console.log(`effnet train, 2 ranks without --sync-bn vs 1 process: max |difference| ${apart.toExponential(2)}`);
    assert.ok(apart > 1e-3, `without sync BN the model differs from one process's (${apart})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('two nodes: effnet train --nnodes 2 --node-rank K --rdzv in two network namespaces ends at the one-process model', { timeout: 300_000, skip: !canUseNamespaces() && 'needs root and iproute2 (ip netns)' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-launch-nodes-'));
  try {
    const lr = 0.002;
    await oneProcessReference(join(dir, 'single'), lr);
    await withTwoHosts(async ({ names, devices, addresses }) => {
      const port = 29900 + (process.pid % 90);
      const nodes = [0, 1].map((node) =>
        finished(
          spawn('ip', ['netns', 'exec', names[node]!, process.execPath, CLI, ...trainArgs(join(dir, 'nodes'), 1, ['--nproc-per-node', '1', '--nnodes', '2', '--node-rank', String(node), '--rdzv', `${addresses[0]}:${port}`, '--sync-bn'], lr)], {
            env: { ...process.env, GLOO_SOCKET_IFNAME: devices[node]! },
            stdio: ['ignore', 'pipe', 'pipe'],
          }),
        ),
      );
      const [node0, node1] = await Promise.all(nodes);
      assert.equal(node0!.code, 0, node0!.stderr);
      assert.equal(node1!.code, 0, node1!.stderr);
      assert.match(node1!.stderr, /node 1 of 2, ranks 1\.\.1 of 2/);
    });
    const { excess, maxAbs } = compareStates(modelValues(join(dir, 'nodes', 'model.safetensors')), modelValues(join(dir, 'single', 'model.safetensors')));
    console.log(`effnet train on 2 nodes (network namespaces) --sync-bn vs 1 process: max |difference| ${maxAbs.toExponential(2)}`);
    assert.ok(excess <= 0, `beyond atol 1e-5 / rtol 1.3e-6 by ${excess.toExponential(2)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Whether PyTorch's own torchrun is here (Debian's python3-torch). */
function hasTorchrun(): boolean {
  return spawnSync('/usr/bin/python3', ['-c', 'import torch.distributed.run'], { encoding: 'utf8' }).status === 0;
}

test('PyTorch\'s torchrun --no_python starts effnet train workers: 2 ranks --sync-bn end at the one-process model', { timeout: 300_000, skip: !hasTorchrun() && 'needs python3-torch (torchrun)' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-torchrun-'));
  try {
    const lr = 0.002;
    await oneProcessReference(join(dir, 'single'), lr);
    // -r 1 -t 1: Debian's torchrun 1.13 under Python 3.11 fails on its default (no redirect) setting (an IntFlag change).
    const torchrun = spawn('/usr/bin/python3', ['-m', 'torch.distributed.run', '--no_python', '--nproc_per_node', '2', '--master_port', String(await freePort()), '-r', '1', '-t', '1', '--log_dir', join(dir, 'logs'),
      process.execPath, CLI, ...trainArgs(join(dir, 'torchrun'), 1, ['--sync-bn'], lr)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const result = await finished(torchrun);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /data-parallel: 2 ranks \(2 on this host\), 4 images per rank per step/);
    const { excess, maxAbs } = compareStates(modelValues(join(dir, 'torchrun', 'model.safetensors')), modelValues(join(dir, 'single', 'model.safetensors')));
    console.log(`torchrun, 2 effnet ranks --sync-bn vs 1 process: max |difference| ${maxAbs.toExponential(2)}`);
    assert.ok(excess <= 0, `beyond atol 1e-5 / rtol 1.3e-6 by ${excess.toExponential(2)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a worker SIGKILLed mid-epoch: the group exits non-zero within 10 s naming the lost rank', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-launch-kill-'));
  try {
    const child = startCli(trainArgs(join(dir, 'run'), 20, ['--nproc-per-node', '2']));
    const done = finished(child);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await until(() => /epoch 1\/20 +2\//.test(stderr), 'the first steps');
    const workers = childPids(child.pid!);
    assert.equal(workers.length, 2, `two workers under the launcher, found ${workers.join(', ')}`);
    const killed = Date.now();
    process.kill(workers[1]!, 'SIGKILL');
    const result = await done;
    const seconds = (Date.now() - killed) / 1000;
    assert.equal(result.code, 1, result.stderr);
    assert.ok(seconds < 10, `the launcher exited ${seconds.toFixed(1)} s after the kill`);
    assert.ok(workers.every((pid) => !alive(pid)), 'no worker outlives the launcher');
    assert.match(result.stderr, new RegExp(`effnet launch: rank 1 \\(local rank 1, pid ${workers[1]}\\) was killed by SIGKILL; stopping the group`));
    assert.match(result.stderr, /effnet launch: the group failed: rank 1 was killed by SIGKILL/);
    // The survivor's own error: the collective that lost its peer.
    assert.match(result.stderr, /c10d [\w ()]+ \(rank 0 of 2\): .*; lost rank 1 \(did not check in within 2 s; 0 did\)/);
    console.log(`SIGKILL of rank 1: group gone ${seconds.toFixed(2)} s later`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--max-restarts 1: after a SIGKILL the group resumes from the last checkpoint and ends where an uninterrupted run ends', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-launch-restart-'));
  try {
    const epochs = 4;
    const plain = await runCli(trainArgs(join(dir, 'plain'), epochs, ['--nproc-per-node', '2']));
    assert.equal(plain.code, 0, plain.stderr);
    const child = startCli(trainArgs(join(dir, 'restarted'), epochs, ['--nproc-per-node', '2', '--max-restarts', '1']));
    const done = finished(child);
    await until(() => metricsLines(join(dir, 'restarted')) >= 1, 'the first epoch');
    const workers = childPids(child.pid!);
    assert.equal(workers.length, 2);
    process.kill(workers[1]!, 'SIGKILL');
    const result = await done;
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /rank 1 \(local rank 1, pid \d+\) was killed by SIGKILL; stopping the group/);
    assert.match(result.stderr, /restarting the group \(restart 1 of 1\) from the last checkpoint/);
    assert.match(result.stdout, /resuming .*last\.safetensors after epoch [1-3]/);
    assert.equal(metricsLines(join(dir, 'restarted')), epochs, 'one metrics line per epoch, none repeated');
    for (const file of ['model.safetensors', 'model_ema.safetensors']) {
      const a = Buffer.from(modelValues(join(dir, 'restarted', file)).buffer);
      const b = Buffer.from(modelValues(join(dir, 'plain', file)).buffer);
      assert.ok(a.equals(b), `${file}: the restarted run ends bit-identical to the uninterrupted one`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGINT to the launcher: every rank stops after the same step with one checkpoint (exit 130), and the group resumes from it', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-launch-sigint-'));
  try {
    const out = join(dir, 'run');
    const child = startCli(trainArgs(out, 3, ['--nproc-per-node', '2']));
    const done = finished(child);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await until(() => /epoch 1\/3 +2\//.test(stderr), 'the first steps');
    child.kill('SIGINT');
    const result = await done;
    assert.equal(result.code, 130, result.stderr);
    assert.match(result.stdout, /interrupted by SIGINT: checkpoint saved to .*last\.safetensors/);
    const resumed = await runCli(trainArgs(out, 3, ['--nproc-per-node', '2', '--resume']));
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /resuming .*last\.safetensors after epoch \d \(step \d+, next batch \d+ of epoch \d\)/);
    assert.equal(metricsLines(out), 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a rank that never joins: the rendezvous fails at --dist-timeout with the address and what to check (exit 2)', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-launch-timeout-'));
  try {
    const port = await freePort();
    const started = Date.now();
    const child = spawn(process.execPath, [CLI, ...trainArgs(join(dir, 'run'), 1, ['--dist-timeout', '3'])], {
      env: { ...process.env, RANK: '0', WORLD_SIZE: '2', LOCAL_RANK: '0', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const result = await finished(child);
    const seconds = (Date.now() - started) / 1000;
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, new RegExp(`c10d rendezvous \\(rank 0 of 2 at 127\\.0\\.0\\.1:${port}\\).*not all 2 ranks joined 127\\.0\\.0\\.1:${port} within 3000 ms`, 's'));
    assert.ok(seconds >= 3 && seconds < 20, `failed after ${seconds.toFixed(1)} s`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('launcher bad input exits 2: batch not divisible, node rank out of range, several nodes without --rdzv, a port in use, worker flags without a group', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-launch-bad-'));
  const blocker = createServer();
  try {
    const out = join(dir, 'run');
    const cases: [string[], RegExp][] = [
      [trainArgs(out, 1, ['--nproc-per-node', '3']), /--batch-size 8 is the global batch and must divide evenly over 3 ranks/],
      [trainArgs(out, 1, ['--nproc-per-node', '2', '--nnodes', '2', '--node-rank', '2', '--rdzv', '127.0.0.1:1234']), /--node-rank 2 must be below --nnodes 2/],
      [trainArgs(out, 1, ['--nproc-per-node', '2', '--nnodes', '2']), /--nnodes 2 needs --rdzv HOST:PORT/],
      [trainArgs(out, 1, ['--nproc-per-node', '2', '--rdzv', 'nowhere']), /--rdzv takes HOST:PORT/],
      [trainArgs(out, 1, ['--nproc-per-node', '2', '--dist-bn', 'mean']), /--dist-bn must be one of reduce, broadcast, none/],
      [trainArgs(out, 1, ['--nproc-per-node', '2', '--sync-bn', '--dist-bn', 'reduce']), /with --sync-bn they are equal already/],
      [trainArgs(out, 1, ['--sync-bn']), /--sync-bn is for data-parallel runs; add --nproc-per-node N/],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(args);
      assert.equal(result.code, 2, `${args.slice(-6).join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
    }
    // A rendezvous port that something else holds: rank 0 cannot serve the store; the launcher passes the user error on.
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    const taken = await runCli(trainArgs(out, 1, ['--nproc-per-node', '2', '--rdzv', `127.0.0.1:${port}`, '--dist-timeout', '5']));
    assert.equal(taken.code, 2, taken.stderr);
    assert.match(taken.stderr, new RegExp(`port ${port} is taken on this host`));
    assert.match(taken.stderr, /refused the run \(exit code 2, its message is above\); not restarting/);
    // A worker environment that contradicts itself.
    const bad = await finished(spawn(process.execPath, [CLI, ...trainArgs(out, 1)], { env: { ...process.env, RANK: '2', WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: '1' }, stdio: ['ignore', 'pipe', 'pipe'] }));
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /RANK 2 is not below WORLD_SIZE 2/);
  } finally {
    blocker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('progressive learning with 2 ranks: every rank trains the same stages (the group ends at the one-process model)', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-launch-progressive-'));
  try {
    // Two stages over two epochs (32px, then 48px); a rank on another stage's size would train on other pixels and
    // end far away. (Mixup mixes within each rank's share of the batch, as in timm, so it is left out of this
    // equivalence.) lr keeps the float32 drift of sync vs native batch norm small (see above).
    const progressive = ['--image-size', '48', '--progressive', 'stages=2,size=32'];
    const single = await runCli(trainArgs(join(dir, 'single'), 2, progressive, 0.0005));
    assert.equal(single.code, 0, single.stderr);
    const ranks = await runCli(trainArgs(join(dir, 'ranks'), 2, [...progressive, '--nproc-per-node', '2', '--sync-bn'], 0.0005));
    assert.equal(ranks.code, 0, ranks.stderr);
    const [a, b] = [modelValues(join(dir, 'single', 'model.safetensors')), modelValues(join(dir, 'ranks', 'model.safetensors'))];
    let maxAbs = 0;
    for (let i = 0; i < a.length; i++) maxAbs = Math.max(maxAbs, Math.abs(a[i]! - b[i]!));
    console.log(`progressive, 2 ranks --sync-bn vs 1 process after 12 steps: max |difference| ${maxAbs.toExponential(2)}`);
    assert.ok(maxAbs < 1e-4, `the ranks' model differs from the one-process model by ${maxAbs}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
