/**
 * The experiment store: atomic claims across processes (many trials, several claimer processes, every trial claimed
 * exactly once), re-queueing of trials left running by a dead process, results only from the holding worker, and
 * clear errors for a locked database (naming the holder's pid) and a corrupt file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, openSync, writeSync, closeSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExperimentStore, StoreCorruptError, StoreError, StoreLockedError, workerIdentity } from '../../src/search/store.js';

const claimerJs = fileURLToPath(new URL('./claimer.js', import.meta.url));
const lockHelperJs = fileURLToPath(new URL('./lock-helper.js', import.meta.url));

function tempDb(): string {
  return join(mkdtempSync(join(tmpdir(), 'effnet-store-')), 'store.sqlite');
}

function trials(n: number): { label: string; config: { [key: string]: number } }[] {
  return Array.from({ length: n }, (_, i) => ({ label: `t${i}`, config: { i } }));
}

function runProcess(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`claimer exited ${code}: ${err}`))));
  });
}

test('four processes claiming 400 trials: each trial claimed exactly once, none lost', async () => {
  const db = tempDb();
  const store = ExperimentStore.open(db);
  const { search } = store.createOrResumeSearch('race', 'grid', { x: 1 }, trials(400));
  store.close();
  const outputs = await Promise.all([0, 1, 2, 3].map((tag) => runProcess([claimerJs, db, String(search.id), String(tag)])));
  const claimed = outputs.flatMap((o) => JSON.parse(o) as number[]);
  assert.equal(claimed.length, 400);
  assert.equal(new Set(claimed).size, 400);
  const check = ExperimentStore.open(db);
  assert.deepEqual(check.counts(search.id), { pending: 0, running: 0, done: 400, failed: 0, total: 400 });
  const log = check.claims(search.id);
  assert.equal(log.length, 400);
  assert.equal(new Set(log.map((c) => c.trialId)).size, 400);
  assert.ok(check.trials(search.id).every((t) => t.attempts === 1));
  // More than one process took part (the race was real).
  assert.ok(new Set(log.map((c) => c.pid)).size >= 2, `claims by pids ${[...new Set(log.map((c) => c.pid))].join(', ')}`);
  check.close();
});

test('a trial left running by a dead process is re-queued; its late result is refused', () => {
  const db = tempDb();
  const store = ExperimentStore.open(db);
  const { search } = store.createOrResumeSearch('resume', 'grid', { x: 1 }, trials(3));
  // A process that has exited: its pid is certainly not alive.
  const deadPid = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }));
  const ghost = { ...workerIdentity('ghost'), pid: deadPid, name: 'ghost-worker' };
  const me = workerIdentity('live');
  const lost = store.claimTrial(search.id, ghost)!;
  const held = store.claimTrial(search.id, me)!;
  const requeued = store.requeueStale(search.id);
  assert.deepEqual(requeued.map((t) => t.id), [lost.id]);
  assert.equal(store.counts(search.id).running, 1, 'the live worker keeps its trial');
  assert.equal(store.finishTrial(lost.id, ghost, { params: 1, macs: 1, wallSeconds: 1, valTop1: 0.5, metrics: {} }), false);
  const again = store.claimTrial(search.id, me)!;
  assert.equal(again.id, lost.id);
  assert.equal(again.attempts, 2);
  assert.equal(store.finishTrial(held.id, me, { params: 1, macs: 2, wallSeconds: 3, valTop1: 0.4, metrics: { a: 1 } }), true);
  // A heartbeat older than the stale limit also re-queues (a worker on another host, or hung).
  assert.deepEqual(store.requeueStale(search.id, { staleMs: -1 }).map((t) => t.id), [lost.id]);
  store.close();
});

test('resuming with other settings under the same name is refused', () => {
  const db = tempDb();
  const store = ExperimentStore.open(db);
  store.createOrResumeSearch('s', 'grid', { step: 0.05 }, trials(2));
  assert.equal(store.createOrResumeSearch('s', 'grid', { step: 0.05 }, trials(2)).created, false);
  assert.throws(() => store.createOrResumeSearch('s', 'grid', { step: 0.1 }, trials(2)), (e: unknown) => e instanceof StoreError && /other settings/.test(e.message));
  store.close();
});

test('a locked database: busy timeout, then an error naming the process that holds the lock', async () => {
  const db = tempDb();
  const store = ExperimentStore.open(db);
  const { search } = store.createOrResumeSearch('locked', 'grid', { x: 1 }, trials(2));
  store.close();
  const helper = spawn(process.execPath, [lockHelperJs, db], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      helper.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
      helper.on('exit', (code) => reject(new Error(`lock helper exited ${code}`)));
    });
    const started = Date.now();
    let error: unknown = null;
    try {
      const blocked = ExperimentStore.open(db, { busyTimeoutMs: 300 });
      try {
        blocked.claimTrial(search.id, workerIdentity('blocked'));
      } finally {
        blocked.close();
      }
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof StoreLockedError, `expected StoreLockedError, got ${String(error)}`);
    assert.match((error as Error).message, /is locked/);
    assert.match((error as Error).message, new RegExp(`pid ${helper.pid}\\b`));
    assert.ok(Date.now() - started >= 250, 'the busy timeout was waited for');
  } finally {
    helper.stdin.end();
    await new Promise((resolve) => helper.once('exit', resolve));
  }
  // Once released, the store works again and nothing was lost.
  const after = ExperimentStore.open(db);
  assert.equal(after.counts(search.id).pending, 2);
  after.close();
});

test('a file that is not a database, and a database with damaged pages: clear corruption errors', () => {
  const garbage = tempDb();
  writeFileSync(garbage, Buffer.from('this is not an sqlite database, just some text that is long enough '.repeat(100)));
  assert.throws(() => ExperimentStore.open(garbage), (e: unknown) => e instanceof StoreCorruptError && /not a usable SQLite database/.test(e.message) && e.message.includes(garbage));

  const damaged = tempDb();
  const store = ExperimentStore.open(damaged);
  store.createOrResumeSearch('d', 'grid', { x: 1 }, trials(300));
  store.close();
  // Checkpointed into the main file (closing the last connection does it); overwrite the pages after the first.
  const size = statSync(damaged).size;
  assert.ok(size > 8192);
  const fd = openSync(damaged, 'r+');
  writeSync(fd, Buffer.alloc(size - 4096, 0xa5), 0, size - 4096, 4096);
  closeSync(fd);
  assert.throws(() => ExperimentStore.open(damaged), (e: unknown) => e instanceof StoreCorruptError && /corrupt|integrity/.test(e.message));
  assert.ok(readFileSync(damaged).length === size, 'the damaged file is left as it was');
});
