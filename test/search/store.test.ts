/**
 * The experiment store, on SQLite and on PostgreSQL (the same tests over both): atomic claims across processes (many
 * trials, several claimer processes, every trial claimed exactly once), re-queueing of trials left running by a dead
 * process, leases in database time (a run-out lease is taken over, a skewed client clock changes nothing), results
 * only from the holding worker and attempt, the schema version; and SQLite's and PostgreSQL's own failure modes: a
 * locked or corrupt file (naming the holder's pid), an unreachable server or a missing database.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, openSync, writeSync, closeSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import {
  ExperimentStore, STORE_SCHEMA_VERSION, StoreConnectError, StoreCorruptError, StoreError, StoreLockedError, StoreVersionError, workerIdentity,
} from '../../src/search/store.js';
import { PostgresDriver } from '../../src/search/postgres-driver.js';
import { SqliteDriver } from '../../src/search/sqlite-driver.js';
import { isPostgresUrl, type SqlDriver } from '../../src/search/sql-driver.js';
import { freePort } from '../dist/harness.js';
import { testPostgres } from './postgres-server.js';

const claimerJs = fileURLToPath(new URL('./claimer.js', import.meta.url));
const lockHelperJs = fileURLToPath(new URL('./lock-helper.js', import.meta.url));
const mainJs = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

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

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A bare connection to the store's database, to damage it the way another program or version would. */
function rawDriver(location: string): SqlDriver {
  return isPostgresUrl(location) ? PostgresDriver.connect(location) : SqliteDriver.open(location);
}

const RESULT = { params: 1, macs: 1, wallSeconds: 1, valTop1: 0.5, metrics: {} };

for (const backend of ['sqlite', 'postgres'] as const) {
  /** A new, empty store location of this backend, or a reason to skip. */
  const newLocation = async (): Promise<string> => {
    if (backend === 'sqlite') return tempDb();
    const server = await testPostgres();
    if (typeof server === 'string') throw new Error(server);
    return server.createDatabase();
  };
  const skip = async (): Promise<string | false> => {
    if (backend === 'sqlite') return false;
    const server = await testPostgres();
    return typeof server === 'string' ? server : false;
  };

  test(`${backend}: four processes claiming 400 trials: each trial claimed exactly once, none lost`, async (t) => {
    const reason = await skip();
    if (reason) return t.skip(reason);
    const db = await newLocation();
    const store = ExperimentStore.open(db);
    const { search } = store.createOrResumeSearch('race', 'grid', { x: 1 }, trials(400));
    store.close();
    // The four start claiming together: each waits at a file barrier until all four have opened the store.
    const barrier = mkdtempSync(join(tmpdir(), 'effnet-barrier-'));
    const outputs = await Promise.all([0, 1, 2, 3].map((tag) => runProcess([claimerJs, db, String(search.id), String(tag), barrier, '4'])));
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

  test(`${backend}: a trial left running by a dead process is re-queued; its late result is refused`, async (t) => {
    const reason = await skip();
    if (reason) return t.skip(reason);
    const db = await newLocation();
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
    assert.equal(store.finishTrial(lost, ghost, RESULT), false);
    const again = store.claimTrial(search.id, me)!;
    assert.equal(again.id, lost.id);
    assert.equal(again.attempts, 2);
    assert.equal(store.finishTrial(held, me, { params: 1, macs: 2, wallSeconds: 3, valTop1: 0.4, metrics: { a: 1 } }), true);
    // The same worker, its first attempt: refused too (a result belongs to an attempt, not only to a worker).
    assert.equal(store.finishTrial({ id: again.id, attempts: 1 }, me, RESULT), false);
    assert.equal(store.finishTrial(again, me, RESULT), true);
    assert.equal(store.counts(search.id).done, 2);
    store.close();
  });

  test(`${backend}: leases in database time: a live lease holds against a skewed clock, a run-out one is taken over, the old holder refused`, async (t) => {
    const reason = await skip();
    if (reason) return t.skip(reason);
    const db = await newLocation();
    const store = ExperimentStore.open(db);
    const { search } = store.createOrResumeSearch('lease', 'grid', { x: 1 }, trials(1));
    const a = { ...workerIdentity('a'), name: 'worker-a' };
    const b = { ...workerIdentity('b'), name: 'worker-b' };
    const held = store.claimTrial(search.id, a, { leaseMs: 1500 })!;
    assert.ok(held.leaseUntil! - held.heartbeatAt! === 1500, `lease ${held.leaseUntil! - held.heartbeatAt!} ms`);
    // A worker whose clock runs an hour ahead: the store never reads the client's clock, so the live lease holds.
    const realNow = Date.now;
    Date.now = () => realNow() + 3_600_000;
    try {
      assert.equal(store.claimTrial(search.id, b, { leaseMs: 1500 }), null, 'a live lease is not taken over');
    } finally {
      Date.now = realNow;
    }
    // Heartbeats keep it: 3 x 700 ms, past the first lease's end.
    for (let i = 0; i < 3; i++) {
      await sleep(700);
      assert.equal(store.heartbeat(held, a, 1500), true);
      assert.equal(store.claimTrial(search.id, b, { leaseMs: 1500 }), null);
    }
    // Silence past the lease: the trial is taken over by b as attempt 2; a's heartbeat and result are refused.
    await sleep(1700);
    const taken = store.claimTrial(search.id, b, { leaseMs: 60_000 })!;
    assert.equal(taken.id, held.id);
    assert.equal(taken.attempts, 2);
    assert.equal(store.heartbeat(held, a, 1500), false);
    assert.equal(store.finishTrial(held, a, RESULT), false);
    assert.equal(store.failTrial(held, a, 'late'), false);
    assert.equal(store.finishTrial(taken, b, { ...RESULT, valTop1: 0.75 }), true);
    const [row] = store.trials(search.id);
    assert.equal(row!.status, 'done');
    assert.equal(row!.worker, 'worker-b');
    assert.equal(row!.valTop1, 0.75);
    assert.deepEqual(store.claims(search.id).map((c) => c.worker), ['worker-a', 'worker-b']);
    store.close();
  });

  test(`${backend}: a trial whose lease ran out ${3} times is failed, not claimed a fourth time`, async (t) => {
    const reason = await skip();
    if (reason) return t.skip(reason);
    const db = await newLocation();
    const store = ExperimentStore.open(db);
    const { search } = store.createOrResumeSearch('doomed', 'grid', { x: 1 }, trials(1));
    for (let i = 0; i < 3; i++) {
      assert.ok(store.claimTrial(search.id, { ...workerIdentity(i), name: `w${i}` }, { leaseMs: 1 }) !== null);
      await sleep(20);
    }
    assert.equal(store.claimTrial(search.id, workerIdentity('last')), null);
    const [row] = store.trials(search.id);
    assert.equal(row!.status, 'failed');
    assert.match(row!.error!, /abandoned: 3 workers stopped renewing their lease \(the last: w2\)/);
    store.close();
  });

  test(`${backend}: resuming with other settings under the same name is refused`, async (t) => {
    const reason = await skip();
    if (reason) return t.skip(reason);
    const store = ExperimentStore.open(await newLocation());
    store.createOrResumeSearch('s', 'grid', { step: 0.05 }, trials(2));
    assert.equal(store.createOrResumeSearch('s', 'grid', { step: 0.05 }, trials(2)).created, false);
    assert.throws(() => store.createOrResumeSearch('s', 'grid', { step: 0.1 }, trials(2)), (e: unknown) => e instanceof StoreError && /other settings \(step: stored 0.05, given 0.1\)/.test(e.message));
    // The same values in another key order resume (a spec written by another version or edited by hand); a field
    // only one side has is named as absent on the other.
    store.createOrResumeSearch('t', 'grid', { budget: 'converge:24', recipe: { lr: 0.1, warmupEpochs: 1 }, window: 4 }, trials(2));
    assert.equal(store.createOrResumeSearch('t', 'grid', { window: 4, recipe: { warmupEpochs: 1, lr: 0.1 }, budget: 'converge:24' }, trials(2)).created, false);
    assert.throws(
      () => store.createOrResumeSearch('t', 'grid', { budget: 'converge:24', recipe: { lr: 0.05, warmupEpochs: 1 } }, trials(2)),
      (e: unknown) => e instanceof StoreError && /other settings \(recipe: stored \{"lr":0.1,"warmupEpochs":1\}, given \{"lr":0.05,"warmupEpochs":1\}; window: stored 4, given absent\)/.test(e.message),
    );
    assert.throws(() => store.createOrResumeSearch('t', 'study', { step: 0.05 }, trials(2)), (e: unknown) => e instanceof StoreError && /already holds a grid search named 't', not a study one/.test(e.message));
    store.close();
  });

  test(`${backend}: a store of another schema version, and tables that are not a store's, are refused`, async (t) => {
    const reason = await skip();
    if (reason) return t.skip(reason);
    const db = await newLocation();
    ExperimentStore.open(db).close();
    const raw = rawDriver(db);
    raw.run("UPDATE store_meta SET value = '99' WHERE key = 'schema_version'");
    raw.close();
    assert.throws(
      () => ExperimentStore.open(db),
      (e: unknown) => e instanceof StoreVersionError && new RegExp(`schema version 99 .*reads version ${STORE_SCHEMA_VERSION}`).test(e.message),
    );
    const foreign = await newLocation();
    const other = rawDriver(foreign);
    other.exec('CREATE TABLE trials (id INTEGER PRIMARY KEY, name TEXT)');
    other.close();
    assert.throws(() => ExperimentStore.open(foreign), (e: unknown) => e instanceof StoreVersionError && /not an effnet experiment store/.test(e.message));
    // The command line: exit 2 with the message, before anything is trained.
    const cli = spawnSync(process.execPath, [mainJs, 'scale-search', '--base', 'width=0.25,depth=0.2,resolution=32', '--data', 'synthetic:train=32,val=8,classes=2,size=32', '--budget', '1ep', '--db', db], { encoding: 'utf8' });
    assert.equal(cli.status, 2, cli.stderr);
    assert.match(cli.stderr, /schema version 99/);
  });
}

test('sqlite: a store of the first schema version (no leases, no version row) is upgraded in place, its trials kept', () => {
  const db = tempDb();
  const old = new Database(db);
  old.exec(`
    CREATE TABLE searches (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, spec TEXT NOT NULL, created_at INTEGER NOT NULL);
    CREATE TABLE trials (id INTEGER PRIMARY KEY, search_id INTEGER NOT NULL REFERENCES searches(id), seq INTEGER NOT NULL, label TEXT NOT NULL,
      config TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', worker TEXT, pid INTEGER, host TEXT, attempts INTEGER NOT NULL DEFAULT 0,
      started_at INTEGER, heartbeat_at INTEGER, finished_at INTEGER, error TEXT, params INTEGER, macs INTEGER, wall_seconds REAL,
      val_top1 REAL, metrics TEXT, UNIQUE (search_id, seq));
    INSERT INTO searches VALUES (1, 'old', 'grid', '{"x":1}', 0);
    INSERT INTO trials (search_id, seq, label, config, status, attempts, val_top1, metrics) VALUES (1, 0, 'done-one', '{}', 'done', 1, 0.5, '{}');
    INSERT INTO trials (search_id, seq, label, config) VALUES (1, 1, 'to-run', '{}');
  `);
  old.close();
  const store = ExperimentStore.open(db);
  const search = store.findSearch('old')!;
  assert.deepEqual(store.trials(search.id).map((t) => [t.label, t.status, t.valTop1]), [['done-one', 'done', 0.5], ['to-run', 'pending', null]]);
  const me = workerIdentity('up');
  const claimed = store.claimTrial(search.id, me)!;
  assert.equal(claimed.label, 'to-run');
  assert.equal(store.finishTrial(claimed, me, RESULT), true);
  store.close();
  const reopened = ExperimentStore.open(db);
  assert.equal(reopened.counts(search.id).done, 2);
  reopened.close();
});

test('postgres: an unreachable server, a missing database and a bad --db on the command line: clear errors (password not shown), exit 2', async (t) => {
  const server = await testPostgres();
  if (typeof server === 'string') return t.skip(server);
  const closedPort = await freePort();
  const started = Date.now();
  assert.throws(
    () => ExperimentStore.open(`postgres://effnet:secret@127.0.0.1:${closedPort}/x`),
    (e: unknown) => e instanceof StoreConnectError && /cannot connect to the experiment store postgres:\/\/effnet:\*\*\*@127\.0\.0\.1/.test(e.message) && /ECONNREFUSED/.test(e.message) && !e.message.includes('secret'),
  );
  assert.ok(Date.now() - started < 5000, 'a refused connection fails at once');
  const missing = new URL(server.adminUrl);
  missing.pathname = '/no_such_database';
  assert.throws(() => ExperimentStore.open(missing.toString()), (e: unknown) => e instanceof StoreConnectError && /does not exist/.test(e.message) && /createdb/.test(e.message));
  const cli = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [mainJs, 'search-worker', '--db', `postgres://u:pw@127.0.0.1:${closedPort}/x`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
  assert.equal(cli.code, 2, cli.stderr);
  assert.match(cli.stderr, /cannot connect to the experiment store/);
  assert.ok(!cli.stderr.includes('pw@'), cli.stderr);
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
