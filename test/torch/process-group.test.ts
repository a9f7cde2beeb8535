/**
 * c10d process groups through the binding, each rank its own process on loopback: allreduce (sum, max), broadcast,
 * allgather and barrier give the values each rank can compute by hand, at 2 and 4 ranks; a rank SIGKILLed while
 * the others wait in an allreduce makes every survivor's collective reject within 10 s with an error naming the
 * operation and its rank; a rendezvous that a rank never joins rejects after the configured timeout; a port in use
 * is refused with what to do; bad arguments are refused before anything is sent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { freePort } from '../dist/harness.js';
import { ProcessGroup } from '../../src/torch/index.js';

const RANK_SCRIPT = fileURLToPath(new URL('./process-group-rank.js', import.meta.url));

interface RankProcess {
  child: ChildProcess;
  /** Every JSON line the rank printed so far. */
  lines: Record<string, unknown>[];
  exited: Promise<{ code: number | null; atMs: number }>;
}

function startRank(port: number, rank: number, worldSize: number, mode: string, ...extra: string[]): RankProcess {
  const child = spawn(process.execPath, [RANK_SCRIPT, String(port), String(rank), String(worldSize), mode, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let newline;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buffered.slice(0, newline)) as Record<string, unknown>);
      buffered = buffered.slice(newline + 1);
    }
  });
  child.stderr!.resume();
  const exited = new Promise<{ code: number | null; atMs: number }>((resolve) => child.on('exit', (code) => resolve({ code, atMs: performance.now() })));
  return { child, lines, exited };
}

for (const worldSize of [2, 4]) {
  test(`collectives at ${worldSize} ranks give the values computed by hand`, { timeout: 120_000 }, async () => {
    const port = await freePort();
    const ranks = Array.from({ length: worldSize }, (_, rank) => startRank(port, rank, worldSize, 'collectives'));
    const exits = await Promise.all(ranks.map((r) => r.exited));
    const ranksSum = (f: (r: number) => number): number => Array.from({ length: worldSize }, (_, r) => f(r)).reduce((a, b) => a + b, 0);
    ranks.forEach(({ lines }, rank) => {
      assert.equal(exits[rank]!.code, 0, JSON.stringify(lines));
      assert.deepEqual(lines.at(-1), {
        rank,
        summed: [ranksSum((r) => r + 1), ranksSum((r) => 10 * (r + 1))],
        largest: [worldSize - 1, 0],
        broadcast: [(worldSize - 1) * 100 + 7, worldSize - 1],
        gathered: Array.from({ length: worldSize }, (_, r) => [r, r * r]),
      });
    });
  });
}

for (const killed of [2, 0]) {
  test(`rank ${killed} of 3 SIGKILLed while the others wait in an allreduce: every survivor rejects within 10 s, naming the operation, its rank and ${killed === 0 ? 'that the store (rank 0) is gone' : 'the lost rank'}`, { timeout: 120_000 }, async () => {
    const port = await freePort();
    const worldSize = 3;
    const ranks = Array.from({ length: worldSize }, (_, rank) => startRank(port, rank, worldSize, 'hang', String(killed)));
    for (let waited = 0; !ranks.every((r) => r.lines.some((l) => 'joined' in l)); waited += 100) {
      assert.ok(waited < 60_000, `not every rank joined: ${JSON.stringify(ranks.map((r) => r.lines))}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 300));
    const killedAt = performance.now();
    ranks[killed]!.child.kill('SIGKILL');
    for (const [rank, survivor] of ranks.entries()) {
      if (rank === killed) continue;
      const { code, atMs } = await survivor.exited;
      assert.equal(code, 1, `rank ${rank} exit code`);
      assert.ok(atMs - killedAt < 10_000, `rank ${rank} noticed after ${((atMs - killedAt) / 1000).toFixed(1)} s`);
      const error = String(survivor.lines.at(-1)?.error);
      assert.match(error, new RegExp(`^c10d allreduce \\(rank ${rank} of 3\\): `), error);
      const survivors = [0, 1, 2].filter((r) => r !== killed).join(', ');
      // Rank 0 serves the store: when it is the one killed, the survivors can only say that the store is gone.
      assert.match(error, killed === 0 ? /; the rendezvous store no longer answers, so the lost ranks cannot be told \(its server, rank 0 or the launcher, is lost/ : new RegExp(`; lost rank ${killed} \\(did not check in within 2 s; ${survivors} did\\)$`), error);
    }
  });
}

test('a rendezvous that a rank never joins rejects after the configured timeout, naming the rank and the address', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const alone = startRank(port, 0, 2, 'timeout');
  const { code } = await alone.exited;
  assert.equal(code, 1);
  const { error, afterMs } = alone.lines.at(-1) as { error: string; afterMs: number };
  assert.match(error, new RegExp(`^c10d rendezvous \\(rank 0 of 2 at 127\\.0\\.0\\.1:${port}\\): `));
  assert.ok(afterMs >= 1500 && afterMs < 15_000, `rejected after ${afterMs.toFixed(0)} ms (timeout 1500 ms)`);
});

test('a rendezvous port in use is refused with what to do', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', () => resolve()));
  try {
    const rank = startRank(port, 0, 1, 'collectives');
    const { code } = await rank.exited;
    assert.equal(code, 1);
    assert.match(String(rank.lines.at(-1)?.error), new RegExp(`Address already in use.*\\(port ${port} is taken on this host: choose another MASTER_PORT`));
  } finally {
    taken.close();
  }
});

test('bad process-group arguments are refused before anything is sent', async () => {
  await assert.rejects(ProcessGroup.create({ host: '127.0.0.1', port: 29500, rank: 2, worldSize: 2 }), /rank 2 is not in 0\.\.1 \(world size 2\)/);
  await assert.rejects(ProcessGroup.create({ host: '127.0.0.1', port: 70000, rank: 0, worldSize: 1 }), /port must be in 1\.\.65535/);
  await assert.rejects(ProcessGroup.create({ host: '127.0.0.1', port: 29500, rank: 0, worldSize: 1, timeoutMs: 0 }), /timeoutMs must be positive/);
});
