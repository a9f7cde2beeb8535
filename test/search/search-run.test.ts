/**
 * Searches end to end with real (tiny) training: a search SIGKILLed mid-run and resumed finishes every trial exactly
 * once (no duplicate, none lost); workers whose coordinator alone was killed give their trials back and exit; a
 * failing trial is recorded with its error while the others finish; the recorded
 * params and MACs equal the built model's parameter count and the profiler's count.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEfficientNet, customConfig } from '../../src/efficientnet/index.js';
import { gridSearchDefinition } from '../../src/search/definitions.js';
import { runSearch } from '../../src/search/runner.js';
import { ExperimentStore } from '../../src/search/store.js';

const mainJs = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const BASE = 'width=0.25,depth=0.2,resolution=32';
const DATA = 'synthetic:train=192,val=32,classes=4,size=32';

function searchArgs(db: string): string[] {
  return [mainJs, 'scale-search', '--base', BASE, '--data', DATA, '--budget', '1ep', '--batch-size', '16', '--grid-step', '0.1', '--tolerance', '0.05', '--parallel', '2', '--threads', '1', '--db', db, '--quiet'];
}

/** The grid of the store-level tests: a tiny synthetic grid under `budget`. */
function tinyGrid(dir: string, budget: string): ReturnType<typeof gridSearchDefinition> {
  return gridSearchDefinition({
    base: { width: 0.25, depth: 0.2, resolution: 32, dropout: 0.2 }, data: 'synthetic:train=64,val=32,classes=4,size=32', numClasses: 4,
    budget, batchSize: 16, step: 0.2, tolerance: 0.1, runDir: join(dir, 'runs'),
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

test('a search killed with SIGKILL mid-run resumes: every trial done exactly once, finished ones not re-run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-search-'));
  const db = join(dir, 'scale.sqlite');
  // detached: the coordinator leads its own process group, so the kill takes the workers down with it.
  const child = spawn(process.execPath, searchArgs(db), { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let before: ReturnType<ExperimentStore['trials']> = [];
  const deadline = Date.now() + 60_000;
  for (;;) {
    await sleep(150);
    if (!existsSync(db)) continue;
    const store = ExperimentStore.open(db, { integrityCheck: false });
    const search = store.findSearch('grid');
    before = search === null ? [] : store.trials(search.id);
    store.close();
    const done = before.filter((t) => t.status === 'done').length;
    if (done >= 2 && before.some((t) => t.status === 'running')) break;
    assert.ok(Date.now() < deadline, `search did not make progress: ${stderr}`);
    assert.equal(child.exitCode, null, `the search ended before it could be killed: ${stderr}`);
  }
  process.kill(-child.pid!, 'SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  // What the kill left: read again after every process is gone.
  let store = ExperimentStore.open(db);
  const searchId = store.findSearch('grid')!.id;
  const atKill = store.trials(searchId);
  store.close();
  const doneAtKill = atKill.filter((t) => t.status === 'done');
  const runningAtKill = atKill.filter((t) => t.status === 'running');
  assert.ok(doneAtKill.length >= 2 && runningAtKill.length >= 1, JSON.stringify(atKill.map((t) => t.status)));

  const resumed = spawnSync(process.execPath, searchArgs(db).filter((a) => a !== '--quiet'), { encoding: 'utf8', timeout: 120_000 });
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, /resuming grid search 'grid'/);
  assert.match(resumed.stderr, new RegExp(`re-queued ${runningAtKill.length} trial\\(s\\) left running`));

  store = ExperimentStore.open(db);
  const after = store.trials(searchId);
  const claims = store.claims(searchId);
  store.close();
  assert.equal(after.length, atKill.length, 'no trial lost or added');
  assert.ok(after.every((t) => t.status === 'done'), JSON.stringify(after.map((t) => [t.label, t.status, t.error])));
  for (const t of doneAtKill) {
    const now = after.find((a) => a.id === t.id)!;
    assert.equal(now.attempts, 1, `${t.label} was finished before the kill and must not run again`);
    assert.equal(now.finishedAt, t.finishedAt);
    assert.equal(now.valTop1, t.valTop1);
  }
  for (const t of runningAtKill) assert.equal(after.find((a) => a.id === t.id)!.attempts, 2, `${t.label} re-ran once`);
  // The claim log: one claim per trial, plus exactly one more for each trial interrupted by the kill.
  const perTrial = new Map<number, number>();
  for (const c of claims) perTrial.set(c.trialId, (perTrial.get(c.trialId) ?? 0) + 1);
  for (const t of after) assert.equal(perTrial.get(t.id), runningAtKill.some((r) => r.id === t.id) ? 2 : 1);
  assert.ok(existsSync(join(dir, 'grid', 'report.md')));
  assert.match(readFileSync(join(dir, 'grid', 'report.md'), 'utf8'), /\*\*Best: α = /);
});

test('a failing trial is recorded with its error while the other trials finish', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-search-'));
  const db = join(dir, 'scale.sqlite');
  const definition = tinyGrid(dir, '3steps');
  const store = ExperimentStore.open(db);
  const { search } = store.createOrResumeSearch('fail', definition.kind, definition.spec, definition.trials);
  // A configuration the model cannot build (4 px is below the smallest input of any network, 8 px).
  store.addTrials(search.id, [{ label: 'bad', config: { kind: 'grid', alpha: 1, beta: 1, gamma: 0.5, config: { width: 0.25, depth: 0.2, resolution: 4, dropout: 0.2 } } }]);
  store.close();
  const events: string[] = [];
  const result = await runSearch({ db, runDir: join(dir, 'runs'), searchId: search.id, parallel: 2, threads: 1, pollMs: 500, onEvent: (m) => events.push(m.type) });
  assert.equal(result.counts.failed, 1);
  assert.equal(result.counts.done, definition.trials.length);
  assert.equal(result.counts.pending + result.counts.running, 0);
  const check = ExperimentStore.open(db);
  const trials = check.trials(search.id);
  check.close();
  const bad = trials.find((t) => t.label === 'bad')!;
  assert.equal(bad.status, 'failed');
  assert.match(bad.error!, /resolution 4 is below the smallest input any network takes \(8 pixels\)/);
  assert.ok(events.includes('failed') && events.filter((e) => e === 'done').length === definition.trials.length);
  // Recorded params equal the built model's parameter count; MACs the definition's profile.
  for (const t of trials.filter((x) => x.status === 'done')) {
    const c = t.config.config as { width: number; depth: number; resolution: number; dropout: number };
    const model = createEfficientNet(customConfig(c), { numClasses: 4 });
    const count = [...model.parameters()].reduce((sum, p) => sum + p.shape.reduce((a, b) => a * b, 1), 0);
    model.dispose();
    assert.equal(t.params, count, t.label);
    assert.equal(t.macs, t.config.macs);
    assert.ok(t.valTop1 !== null && t.valTop1 >= 0 && t.valTop1 <= 1);
    assert.ok(t.wallSeconds! > 0);
    assert.equal((t.metrics as { steps: number }).steps, 3);
  }
});

test('workers of a coordinator killed alone (SIGTERM) give their trials back and exit instead of training on', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-orphan-'));
  const db = join(dir, 'scale.sqlite');
  // Trials long enough (2,000 images, 125 steps) to be caught in the middle.
  const args = [mainJs, 'scale-search', '--base', BASE, '--data', 'synthetic:train=2000,val=32,classes=4,size=32', '--budget', '1ep', '--batch-size', '16',
    '--grid-step', '0.1', '--tolerance', '0.05', '--parallel', '2', '--threads', '1', '--db', db, '--quiet'];
  // Not detached: the signal goes to the coordinator's pid only, as `kill PID` does, not to its workers.
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 60_000;
  let running: ReturnType<ExperimentStore['trials']> = [];
  let workerPids: number[] = [];
  for (;;) {
    await sleep(150);
    assert.ok(Date.now() < deadline, `no trial started: ${stderr}`);
    if (!existsSync(db)) continue;
    const store = ExperimentStore.open(db, { integrityCheck: false });
    try {
      const search = store.findSearch('grid');
      if (search === null) continue;
      running = store.trials(search.id).filter((t) => t.status === 'running');
      workerPids = store.claims(search.id).map((c) => c.pid);
      // Caught in training: the store has an epoch-less running trial whose worker has been at it for a moment.
      if (running.length === 2) break;
    } finally {
      store.close();
    }
  }
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const gone = Date.now() + 20_000;
  while (workerPids.some(alive)) {
    assert.ok(Date.now() < gone, `orphaned workers still running 20 s after the coordinator died: ${workerPids.filter(alive).join(', ')}`);
    await sleep(100);
  }
  const store = ExperimentStore.open(db);
  try {
    const after = store.trials(store.findSearch('grid')!.id);
    assert.deepEqual(after.filter((t) => t.status === 'running').map((t) => t.label), [], 'no trial is left held by a dead worker');
    for (const t of running) {
      const now = after.find((a) => a.id === t.id)!;
      assert.ok(now.status === 'pending' || now.status === 'done', `${t.label} was given back (or had just finished): ${now.status}`);
    }
    assert.ok(running.some((t) => after.find((a) => a.id === t.id)!.status === 'pending'), 'at least one trial was interrupted and given back');
  } finally {
    store.close();
  }
});

test('a stored spec the workers cannot train from stops the run before any worker starts, naming the field', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-search-'));
  const db = join(dir, 'scale.sqlite');
  const definition = tinyGrid(dir, 'converge:12');
  assert.equal(definition.spec.convergeMinWindow, 4, 'a converge search records its window');
  const store = ExperimentStore.open(db);
  const { search } = store.createOrResumeSearch('edited', definition.kind, definition.spec, definition.trials);
  // A hand edit that wrote the window as a string: before the check every trial failed at its first epoch.
  store.updateSearchSpec(search.id, { ...definition.spec, convergeMinWindow: '4' });
  store.close();
  await assert.rejects(
    runSearch({ db, runDir: join(dir, 'runs'), searchId: search.id, parallel: 2, threads: 1, pollMs: 500 }),
    (error: Error) => error.name === 'SearchSpecError' && /convergeMinWindow must be a whole number >= 1, got "4"/.test(error.message),
  );
  const check = ExperimentStore.open(db);
  const counts = check.counts(search.id);
  check.close();
  assert.deepEqual([counts.pending, counts.running, counts.failed, counts.done], [definition.trials.length, 0, 0, 0], 'no trial was claimed');
});
