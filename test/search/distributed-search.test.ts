/**
 * A search across hosts on PostgreSQL, the way users run it: `effnet scale-search --db postgres://…` (its own worker)
 * plus two `effnet search-worker` processes, one on this host and one in a network namespace that reaches the
 * database over a veth pair. The host's search-worker is SIGKILLed while it trains a trial: the trial is taken over
 * when its lease runs out and finished exactly once, the killed attempt's late result is refused, and the report
 * equals that of the same search run on SQLite by one worker (the independent reference: same trials, same seeds).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExperimentStore, type TrialRow } from '../../src/search/store.js';
import { canUseNamespaces } from '../dist/harness.js';
import { testPostgres } from './postgres-server.js';

const mainJs = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const SEARCH = ['scale-search', '--base', 'width=0.25,depth=0.2,resolution=32', '--data', 'synthetic:train=960,val=192,classes=4,size=32', '--budget', '2ep', '--batch-size', '16', '--grid-step', '0.1', '--tolerance', '0.05', '--quiet'];
const LEASE_S = 3;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface Started {
  child: ChildProcess;
  stderr: () => string;
  exit: Promise<number | null>;
}

function start(args: string[], options: { cwd?: string; netns?: string } = {}): Started {
  const command = options.netns === undefined ? [process.execPath, mainJs, ...args] : ['ip', 'netns', 'exec', options.netns, process.execPath, mainJs, ...args];
  const child = spawn(command[0]!, command.slice(1), { cwd: options.cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return { child, stderr: () => stderr, exit: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
}

/** A network namespace joined to this one by a veth pair: this side 10.79.N.1, the namespace's side 10.79.N.2. */
function withNamespace<T>(work: (name: string, hostAddress: string) => Promise<T>): Promise<T> {
  const n = process.pid % 250;
  const name = `effS${process.pid}`;
  const [outside, inside] = [`vso${process.pid % 100000}`, `vsi${process.pid % 100000}`];
  const ip = (...args: string[]): void => {
    const result = spawnSync('ip', args, { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`ip ${args.join(' ')}: ${result.stderr}`);
  };
  const cleanup = (): void => {
    spawnSync('ip', ['netns', 'del', name]);
    spawnSync('ip', ['link', 'del', outside]);
  };
  try {
    ip('netns', 'add', name);
    ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', inside);
    ip('link', 'set', inside, 'netns', name);
    ip('addr', 'add', `10.79.${n}.1/24`, 'dev', outside);
    ip('link', 'set', outside, 'up');
    ip('-n', name, 'addr', 'add', `10.79.${n}.2/24`, 'dev', inside);
    ip('-n', name, 'link', 'set', 'lo', 'up');
    ip('-n', name, 'link', 'set', inside, 'up');
  } catch (error) {
    cleanup();
    throw error;
  }
  return work(name, `10.79.${n}.1`).finally(cleanup);
}

function readTrials(db: string): TrialRow[] {
  const store = ExperimentStore.open(db, { integrityCheck: false });
  try {
    const search = store.findSearch('grid');
    return search === null ? [] : store.trials(search.id);
  } finally {
    store.close();
  }
}

/** The report without what depends on the clock (wall times). */
function reportWithoutTimes(path: string): string {
  return readFileSync(path, 'utf8')
    .replace(/summed trial wall time [^\n]*/g, 'summed trial wall time _')
    // training images per second, the epochs column, then the wall time: the first and last are measured, not computed
    .replace(/\| (\d+|–) \| ([^|]*) \| [0-9.]+(m|s|h)[0-9.ms ]* \| (done|failed)/g, '| _ | $2 | _ | $4');
}

test('a search on PostgreSQL over 3 workers (one in another network namespace), one SIGKILLed mid-trial: taken over after its lease, finished once, late result refused, report equal to one SQLite worker', { timeout: 600_000 }, async (t) => {
  const server = await testPostgres();
  if (typeof server === 'string') return t.skip(server);
  const namespaces = canUseNamespaces();
  const dir = mkdtempSync(join(tmpdir(), 'effnet-dsearch-'));

  // The reference: the same search on SQLite, one worker.
  const reference = start([...SEARCH, '--parallel', '1', '--threads', '1', '--db', join(dir, 'ref.sqlite'), '--report-dir', join(dir, 'ref-report')], { cwd: dir });
  assert.equal(await reference.exit, 0, reference.stderr());

  const run = async (netns: string | null, hostAddress: string): Promise<void> => {
    const db = await server.createDatabase();
    const remoteDb = new URL(db);
    remoteDb.hostname = hostAddress;
    const coordinator = start([...SEARCH, '--parallel', '1', '--threads', '1', '--db', db, '--lease', String(LEASE_S), '--report-dir', join(dir, 'pg-report')], { cwd: dir });
    const workers: Started[] = [];
    try {
      for (let i = 0; readTrials(db).length === 0; i++) {
        assert.ok(i < 300, `the coordinator did not create the search: ${coordinator.stderr()}`);
        await sleep(100);
      }
      const victim = start(['search-worker', '--db', db, '--threads', '1', '--lease', String(LEASE_S), '--tag', 'victim']);
      const remote = start(['search-worker', '--db', remoteDb.toString(), '--threads', '1', '--lease', String(LEASE_S), '--tag', 'remote'], netns === null ? {} : { netns });
      workers.push(victim, remote);
      // Kill the victim while it trains a trial (held for at least 300 ms: past its claim and first heartbeat).
      let held: TrialRow | undefined;
      for (let i = 0; ; i++) {
        assert.ok(i < 1200, `the victim never held a trial: ${victim.stderr()}`);
        held = readTrials(db).find((row) => row.status === 'running' && row.pid === victim.child.pid && Date.now() - row.startedAt! > 300);
        if (held !== undefined) break;
        await sleep(50);
      }
      victim.child.kill('SIGKILL');
      await victim.exit;
      const killedAt = Date.now();
      assert.equal(await coordinator.exit, 0, coordinator.stderr());
      assert.equal(await remote.exit, 0, remote.stderr());
      const elapsed = Date.now() - killedAt;

      const store = ExperimentStore.open(db);
      const search = store.findSearch('grid')!;
      const rows = store.trials(search.id);
      const claims = store.claims(search.id);
      assert.ok(rows.every((row) => row.status === 'done'), JSON.stringify(rows.map((row) => [row.label, row.status, row.error])));
      const taken = rows.find((row) => row.id === held!.id)!;
      assert.equal(taken.attempts, 2, 'the killed trial ran again once');
      assert.notEqual(taken.worker, held.worker);
      assert.ok(rows.filter((row) => row.id !== held!.id).every((row) => row.attempts === 1), 'no other trial ran twice');
      assert.equal(claims.length, rows.length + 1, 'one claim per trial plus the take-over');
      // Taken over only after the lease ran out, in the database's time: claimed again >= LEASE_S after its last heartbeat.
      const retake = claims.filter((c) => c.trialId === held!.id);
      assert.equal(retake.length, 2);
      assert.ok(retake[1]!.claimedAt - retake[0]!.claimedAt >= LEASE_S * 1000 - 50, `re-claimed ${retake[1]!.claimedAt - retake[0]!.claimedAt} ms after the first claim`);
      assert.ok(elapsed < 120_000);
      // Every worker took part: the coordinator's, the victim (before it died) and the one in the other namespace.
      const byWorker = new Set(claims.map((c) => c.worker.split(':').slice(-1)[0]));
      assert.ok(byWorker.has('victim') && byWorker.has('remote') && byWorker.has('0'), `claims by ${[...byWorker].join(', ')}`);
      // The killed attempt's late result (and heartbeat) is refused; the stored result stays.
      const ghost = { name: held.worker!, pid: held.pid!, host: held.host!, machine: held.machine! };
      assert.equal(store.heartbeat(held, ghost), false);
      assert.equal(store.finishTrial(held, ghost, { params: 1, macs: 1, wallSeconds: 1, valTop1: 0.99, metrics: {} }), false);
      assert.equal(store.trials(search.id).find((row) => row.id === held!.id)!.valTop1, taken.valTop1);
      store.close();

      // The same results as the SQLite reference, trial by trial and in the report.
      const expected = readTrials(join(dir, 'ref.sqlite'));
      // (Losses to the last bit: each trial's training is deterministic for its seed at one thread, on any host.)
      const outcome = (row: TrialRow): unknown[] => [row.label, row.params, row.macs, row.valTop1, row.metrics?.valLoss, row.metrics?.trainLoss, row.metrics?.steps];
      assert.deepEqual(rows.map(outcome), expected.map(outcome));
      t.diagnostic(`killed ${held.label} (attempt 1 by ${held.worker}); retaken by ${taken.worker}; search finished ${(elapsed / 1000).toFixed(1)} s after the kill`);
      assert.equal(reportWithoutTimes(join(dir, 'pg-report', 'report.md')), reportWithoutTimes(join(dir, 'ref-report', 'report.md')));
    } finally {
      for (const w of [coordinator, ...workers]) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    }
  };
  if (namespaces) await withNamespace((name, hostAddress) => run(name, hostAddress));
  else {
    t.diagnostic('not root or no iproute2: the third worker runs on this host over loopback instead of in a network namespace');
    await run(null, '127.0.0.1');
  }
});

test('an architecture search on PostgreSQL joined by an effnet search-worker: both train its trials, the worker leaves when the coordinator closes the search', { timeout: 300_000 }, async (t) => {
  const server = await testPostgres();
  if (typeof server === 'string') return t.skip(server);
  const dir = mkdtempSync(join(tmpdir(), 'effnet-dnas-'));
  const db = await server.createDatabase();
  const coordinator = start(
    ['nas', '--data', 'synthetic:train=256,val=32,classes=3,size=32', '--budget', '12steps', '--batch-size', '16', '--trials', '8', '--strategy', 'evolution', '--population', '3', '--sample-size', '2', '--seed', '4', '--parallel', '1', '--threads', '1', '--db', db, '--quiet'],
    { cwd: dir },
  );
  let worker: Started | null = null;
  try {
    for (let i = 0; ; i++) {
      assert.ok(i < 600, `the coordinator did not create the search: ${coordinator.stderr()}`);
      const store = ExperimentStore.open(db);
      const search = store.findSearch('nas');
      const ready = search !== null && store.trials(search.id).length > 0;
      store.close();
      if (ready) break;
      await sleep(100);
    }
    worker = start(['search-worker', '--db', db, '--threads', '1', '--tag', 'joined']);
    assert.equal(await coordinator.exit, 0, coordinator.stderr());
    assert.equal(await worker.exit, 0, worker.stderr());
    assert.match(worker.stderr(), /joined nas search 'nas'/);
    assert.match(worker.stderr(), /search 'nas' is finished; this worker trained [1-9]\d* trial\(s\)/);
    const store = ExperimentStore.open(db);
    const search = store.findSearch('nas')!;
    const rows = store.trials(search.id);
    const byWorker = new Set(rows.map((row) => row.worker?.split(':').slice(-1)[0]));
    assert.ok(store.searchClosed(search.id));
    store.close();
    assert.ok(rows.length >= 8 && rows.every((row) => row.status === 'done'), JSON.stringify(rows.map((row) => [row.label, row.status, row.error])));
    assert.ok(byWorker.has('joined') && byWorker.has('0'), `trials trained by ${[...byWorker].join(', ')}`);
    assert.ok(readFileSync(join(dir, 'runs', 'nas', 'report.md'), 'utf8').includes('## Best baseline'));
  } finally {
    for (const w of [coordinator, worker]) if (w !== null && w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
  }
});

test('Ctrl-C to an effnet search-worker gives its trial back to the queue at once (not after the lease) and exits 130', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-release-'));
  const db = join(dir, 'store.sqlite');
  const define = spawnSync(process.execPath, [mainJs, 'scale-search', '--base', 'width=0.25,depth=0.2,resolution=32', '--data', 'synthetic:train=2048,val=32,classes=4,size=32', '--budget', '3ep', '--batch-size', '16', '--grid-step', '0.1', '--tolerance', '0.05', '--db', db, '--dry-run'], { encoding: 'utf8' });
  assert.equal(define.status, 0, define.stderr);
  const worker = start(['search-worker', '--db', db, '--threads', '1', '--lease', '600']);
  try {
    let held: TrialRow | undefined;
    for (let i = 0; held === undefined; i++) {
      assert.ok(i < 600, `the worker never held a trial: ${worker.stderr()}`);
      await sleep(100);
      held = readTrials(db).find((row) => row.status === 'running' && row.pid === worker.child.pid);
    }
    await sleep(500);
    const signalled = Date.now();
    worker.child.kill('SIGINT');
    assert.equal(await worker.exit, 130, worker.stderr());
    assert.ok(Date.now() - signalled < 20_000, 'stopped after the current step');
    assert.match(worker.stderr(), /SIGINT received; giving the trial in hand back/);
    assert.match(worker.stderr(), new RegExp(`trial ${held.label.replace(/\./g, '\\.')}: given back to the queue`));
    const row = readTrials(db).find((r) => r.id === held!.id)!;
    assert.equal(row.status, 'pending', 'back in the queue although its 600 s lease had not run out');
    assert.equal(row.worker, null);
    assert.equal(row.attempts, 1);
  } finally {
    if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
  }
});
