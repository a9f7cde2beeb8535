/**
 * The experiment store: one SQLite file (better-sqlite3, WAL mode) holding searches, their trials and each trial's
 * per-epoch metrics. It is the single source of truth for every worker process of a search.
 *
 * Trial life cycle: pending → running (claimed) → done | failed. Claiming is one `UPDATE ... WHERE status =
 * 'pending' ... RETURNING` inside a BEGIN IMMEDIATE transaction (which also appends to the `claims` audit table), so
 * two workers never take the same trial. A running trial records its worker's pid, host and a heartbeat (updated
 * during training); a resumed search re-queues running trials whose process is gone (same host, pid not alive) or
 * whose heartbeat is older than the stale limit (another host, or a hung process). Results are written only while
 * the trial is still held by the same worker, so a re-queued trial's late finisher cannot overwrite a newer run.
 */
import { UserError } from '../errors.js';
import Database from 'better-sqlite3';
import { existsSync, mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { findLockHolders, processAlive } from './lock-holder.js';

/** Thrown when the database stays locked by another connection past the busy timeout. */
export class StoreLockedError extends UserError {
  override name = 'StoreLockedError';
}

/** Thrown when the file is not an SQLite database or fails the integrity check. */
export class StoreCorruptError extends UserError {
  override name = 'StoreCorruptError';
}

/** Thrown for a misuse of the store (unknown search, conflicting search definition). */
export class StoreError extends UserError {
  override name = 'StoreError';
}

/** A trial's status. */
export type TrialStatus = 'pending' | 'running' | 'done' | 'failed';

/** JSON values stored in the database. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** One search. */
export interface SearchRow {
  /** Row id. */
  id: number;
  /** Unique name. */
  name: string;
  /** 'grid' or 'study'. */
  kind: string;
  /** Everything a worker needs: base, data spec, budget, recipe (JSON). */
  spec: { [key: string]: Json };
  /** Creation time (ms since the epoch). */
  createdAt: number;
}

/** One trial. */
export interface TrialRow {
  /** Row id. */
  id: number;
  /** The search. */
  searchId: number;
  /** Position within the search, from 0. */
  seq: number;
  /** Human label, e.g. 'a1.20_b1.10_g1.15' or 'width x4'. */
  label: string;
  /** The full trial definition (scaled configuration and how it was derived). */
  config: { [key: string]: Json };
  /** Status. */
  status: TrialStatus;
  /** Worker that holds or last held the trial. */
  worker: string | null;
  /** Its process id. */
  pid: number | null;
  /** Its host name. */
  host: string | null;
  /** How many times the trial was claimed. */
  attempts: number;
  /** Claim time (ms). */
  startedAt: number | null;
  /** Last sign of life of the worker (ms). */
  heartbeatAt: number | null;
  /** End time (ms). */
  finishedAt: number | null;
  /** Error message of a failed trial. */
  error: string | null;
  /** Parameters of the model. */
  params: number | null;
  /** MACs per image. */
  macs: number | null;
  /** Wall time of the trial's training and evaluation, seconds. */
  wallSeconds: number | null;
  /** Final validation top-1. */
  valTop1: number | null;
  /** Final metrics (JSON). */
  metrics: { [key: string]: Json } | null;
}

/** Status counts of a search. */
export interface SearchCounts {
  /** Waiting to be claimed. */
  pending: number;
  /** Claimed by a worker. */
  running: number;
  /** Finished with a result. */
  done: number;
  /** Finished with an error. */
  failed: number;
  /** All trials of the search. */
  total: number;
}

/** Identity of a worker. */
export interface WorkerIdentity {
  /** Unique name, e.g. `host:pid:n`. */
  name: string;
  /** Process id. */
  pid: number;
  /** Host name. */
  host: string;
}

/** The final result of a trial. */
export interface TrialResult {
  /** Parameters of the trained model. */
  params: number;
  /** Its MACs per image. */
  macs: number;
  /** Wall time of building, training and evaluating, seconds. */
  wallSeconds: number;
  /** Final validation top-1. */
  valTop1: number;
  /** Further final metrics (top-5, loss, steps, ...). */
  metrics: { [key: string]: Json };
}

/** Options of {@link ExperimentStore.open}. */
export interface StoreOptions {
  /** How long a statement waits for another connection's lock before failing, ms; default 5000. */
  busyTimeoutMs?: number;
  /** Run `PRAGMA quick_check` when opening an existing file; default true. */
  integrityCheck?: boolean;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS searches (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  spec TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
  id INTEGER PRIMARY KEY,
  search_id INTEGER NOT NULL REFERENCES searches(id),
  seq INTEGER NOT NULL,
  label TEXT NOT NULL,
  config TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
  worker TEXT, pid INTEGER, host TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  started_at INTEGER, heartbeat_at INTEGER, finished_at INTEGER,
  error TEXT,
  params INTEGER, macs INTEGER, wall_seconds REAL, val_top1 REAL, metrics TEXT,
  UNIQUE (search_id, seq)
);
CREATE INDEX IF NOT EXISTS trials_by_status ON trials (search_id, status, seq);
CREATE TABLE IF NOT EXISTS epoch_metrics (
  trial_id INTEGER NOT NULL REFERENCES trials(id),
  attempt INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  metrics TEXT NOT NULL,
  recorded_at INTEGER NOT NULL,
  PRIMARY KEY (trial_id, attempt, epoch)
);
CREATE TABLE IF NOT EXISTS search_state (
  search_id INTEGER PRIMARY KEY REFERENCES searches(id),
  state TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS scores (
  search_id INTEGER NOT NULL REFERENCES searches(id),
  seq INTEGER NOT NULL,
  record TEXT NOT NULL,
  PRIMARY KEY (search_id, seq)
);
CREATE TABLE IF NOT EXISTS claims (
  id INTEGER PRIMARY KEY,
  trial_id INTEGER NOT NULL REFERENCES trials(id),
  worker TEXT NOT NULL,
  pid INTEGER NOT NULL,
  claimed_at INTEGER NOT NULL
);
`;

interface RawTrial {
  id: number; search_id: number; seq: number; label: string; config: string; status: TrialStatus; worker: string | null;
  pid: number | null; host: string | null; attempts: number; started_at: number | null; heartbeat_at: number | null;
  finished_at: number | null; error: string | null; params: number | null; macs: number | null; wall_seconds: number | null;
  val_top1: number | null; metrics: string | null;
}

function toTrial(raw: RawTrial): TrialRow {
  return {
    id: raw.id, searchId: raw.search_id, seq: raw.seq, label: raw.label, config: JSON.parse(raw.config) as TrialRow['config'],
    status: raw.status, worker: raw.worker, pid: raw.pid, host: raw.host, attempts: raw.attempts, startedAt: raw.started_at,
    heartbeatAt: raw.heartbeat_at, finishedAt: raw.finished_at, error: raw.error, params: raw.params, macs: raw.macs,
    wallSeconds: raw.wall_seconds, valTop1: raw.val_top1, metrics: raw.metrics === null ? null : (JSON.parse(raw.metrics) as TrialRow['metrics']),
  };
}

/** This process as a worker identity (`host:pid:tag`). */
export function workerIdentity(tag: string | number = 0): WorkerIdentity {
  const host = hostname();
  return { name: `${host}:${process.pid}:${tag}`, pid: process.pid, host };
}

/** The experiment store; open with {@link ExperimentStore.open}, close when done. */
export class ExperimentStore {
  /** The database file. */
  readonly path: string;
  private readonly db: Database.Database;

  private constructor(path: string, db: Database.Database) {
    this.path = path;
    this.db = db;
  }

  /**
   * Opens (creating when missing) the store at `path`: WAL mode, busy timeout, integrity check, schema.
   * @throws StoreCorruptError for a file that is not an SQLite database or fails the check
   * @throws StoreLockedError when another process keeps it locked past the timeout
   */
  static open(path: string, options: StoreOptions = {}): ExperimentStore {
    const existed = existsSync(path);
    if (!existed) mkdirSync(dirname(path), { recursive: true });
    let db: Database.Database;
    try {
      db = new Database(path, { timeout: options.busyTimeoutMs ?? 5000 });
    } catch (error) {
      throw translate(error, path, 'opening');
    }
    const store = new ExperimentStore(path, db);
    try {
      store.guard('opening', () => {
        if (existed && (options.integrityCheck ?? true)) {
          const rows = db.pragma('quick_check') as { quick_check: string }[];
          const problems = rows.map((r) => r.quick_check).filter((r) => r !== 'ok');
          if (problems.length > 0) {
            throw new StoreCorruptError(
              `${path} failed SQLite's integrity check (${problems.slice(0, 3).join('; ')}); the experiment store is corrupt. ` +
                'Move it away and start a new one with another --db (finished trials in it are lost), or restore a copy',
            );
          }
        }
        db.pragma('journal_mode = WAL');
        db.pragma('foreign_keys = ON');
        db.exec(SCHEMA);
      });
    } catch (error) {
      db.close();
      throw error;
    }
    return store;
  }

  /** Runs `fn`, turning SQLite's busy/locked/corrupt errors into clear ones. */
  private guard<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      throw translate(error, this.path, what);
    }
  }

  /** The search named `name`, or null. */
  findSearch(name: string): SearchRow | null {
    return this.guard('reading searches', () => {
      const raw = this.db.prepare('SELECT * FROM searches WHERE name = ?').get(name) as { id: number; name: string; kind: string; spec: string; created_at: number } | undefined;
      return raw === undefined ? null : { id: raw.id, name: raw.name, kind: raw.kind, spec: JSON.parse(raw.spec) as SearchRow['spec'], createdAt: raw.created_at };
    });
  }

  /** The search with row id `id`. @throws StoreError when there is none */
  getSearch(id: number): SearchRow {
    const raw = this.guard('reading searches', () => this.db.prepare('SELECT name FROM searches WHERE id = ?').get(id) as { name: string } | undefined);
    if (raw === undefined) throw new StoreError(`${this.path} has no search with id ${id}`);
    return this.findSearch(raw.name)!;
  }

  /** All searches, oldest first. */
  listSearches(): SearchRow[] {
    const names = this.guard('reading searches', () => this.db.prepare('SELECT name FROM searches ORDER BY id').all() as { name: string }[]);
    return names.map((n) => this.findSearch(n.name)!);
  }

  /**
   * Creates a search with its trials in one transaction, or returns the existing one of that name when its spec is
   * identical (a resume).
   * @throws StoreError when a search of that name exists with another spec
   */
  createOrResumeSearch(name: string, kind: string, spec: { [key: string]: Json }, trials: { label: string; config: { [key: string]: Json } }[]): { search: SearchRow; created: boolean } {
    const existing = this.findSearch(name);
    if (existing !== null) {
      if (existing.kind !== kind || JSON.stringify(existing.spec) !== JSON.stringify(spec)) {
        throw new StoreError(
          `${this.path} already holds a ${existing.kind} search named '${name}' with other settings (${JSON.stringify(existing.spec)}); ` +
            'resume it with the same options, or give this one another --name or --db',
        );
      }
      return { search: existing, created: false };
    }
    const id = this.guard('creating a search', () =>
      this.db.transaction(() => {
        const result = this.db.prepare('INSERT INTO searches (name, kind, spec, created_at) VALUES (?, ?, ?, ?)').run(name, kind, JSON.stringify(spec), Date.now());
        const searchId = Number(result.lastInsertRowid);
        this.insertTrials(searchId, trials, 0);
        return searchId;
      }).immediate(),
    );
    return { search: this.getSearch(id), created: true };
  }

  private insertTrials(searchId: number, trials: { label: string; config: { [key: string]: Json } }[], firstSeq: number): void {
    const insert = this.db.prepare('INSERT INTO trials (search_id, seq, label, config) VALUES (?, ?, ?, ?)');
    trials.forEach((trial, i) => insert.run(searchId, firstSeq + i, trial.label, JSON.stringify(trial.config)));
  }

  /**
   * Appends trials to a search (after its existing ones). With `state`, the search's state (see
   * {@link ExperimentStore.searchState}) is replaced in the same transaction, so that a proposal and the strategy
   * state that made it are stored together or not at all.
   */
  addTrials(searchId: number, trials: { label: string; config: { [key: string]: Json } }[], state?: Json): void {
    this.guard('adding trials', () =>
      this.db.transaction(() => {
        const next = (this.db.prepare('SELECT COALESCE(MAX(seq) + 1, 0) AS next FROM trials WHERE search_id = ?').get(searchId) as { next: number }).next;
        this.insertTrials(searchId, trials, next);
        if (state !== undefined) this.writeState(searchId, state);
      }).immediate(),
    );
  }

  private writeState(searchId: number, state: Json): void {
    this.db
      .prepare('INSERT INTO search_state (search_id, state, updated_at) VALUES (?, ?, ?) ON CONFLICT (search_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at')
      .run(searchId, JSON.stringify(state), Date.now());
  }

  /**
   * The search's own state (an architecture search's strategy: population or controller, generator, which results it
   * was told), or null before any was written.
   */
  searchState(searchId: number): Json | null {
    return this.guard('reading the search state', () => {
      const raw = this.db.prepare('SELECT state FROM search_state WHERE search_id = ?').get(searchId) as { state: string } | undefined;
      return raw === undefined ? null : (JSON.parse(raw.state) as Json);
    });
  }

  /**
   * Records untrained evaluations of a search (an architecture search's zero-cost screening: one JSON record per
   * candidate, numbered from 0), replacing records of the same numbers.
   */
  recordScores(searchId: number, records: { seq: number; record: { [key: string]: Json } }[]): void {
    this.guard('recording scores', () =>
      this.db.transaction(() => {
        const insert = this.db.prepare('INSERT OR REPLACE INTO scores (search_id, seq, record) VALUES (?, ?, ?)');
        for (const r of records) insert.run(searchId, r.seq, JSON.stringify(r.record));
      }).immediate(),
    );
  }

  /** The search's untrained evaluations, in order. */
  scores(searchId: number): { seq: number; record: { [key: string]: Json } }[] {
    return this.guard('reading scores', () =>
      (this.db.prepare('SELECT seq, record FROM scores WHERE search_id = ? ORDER BY seq').all(searchId) as { seq: number; record: string }[]).map((r) => ({
        seq: r.seq,
        record: JSON.parse(r.record) as { [key: string]: Json },
      })),
    );
  }

  /** Whether the search's state says `closed: true`: its coordinator adds no more trials (waiting workers exit). */
  searchClosed(searchId: number): boolean {
    const state = this.searchState(searchId);
    return state !== null && typeof state === 'object' && !Array.isArray(state) && state.closed === true;
  }

  /** Replaces the search's state. */
  setSearchState(searchId: number, state: Json): void {
    this.guard('writing the search state', () => this.db.transaction(() => this.writeState(searchId, state)).immediate());
  }

  /**
   * Atomically takes the first pending trial of the search for `worker`; null when none is pending.
   */
  claimTrial(searchId: number, worker: WorkerIdentity): TrialRow | null {
    return this.guard('claiming a trial', () =>
      this.db.transaction(() => {
        const now = Date.now();
        const raw = this.db
          .prepare(
            `UPDATE trials SET status = 'running', worker = ?, pid = ?, host = ?, attempts = attempts + 1, started_at = ?, heartbeat_at = ?,
               finished_at = NULL, error = NULL
             WHERE id = (SELECT id FROM trials WHERE search_id = ? AND status = 'pending' ORDER BY seq LIMIT 1) AND status = 'pending'
             RETURNING *`,
          )
          .get(worker.name, worker.pid, worker.host, now, now, searchId) as RawTrial | undefined;
        if (raw === undefined) return null;
        this.db.prepare('INSERT INTO claims (trial_id, worker, pid, claimed_at) VALUES (?, ?, ?, ?)').run(raw.id, worker.name, worker.pid, now);
        return toTrial(raw);
      }).immediate(),
    );
  }

  /** Marks the worker's running trial as alive; returns false when the trial is no longer held by this worker. */
  heartbeat(trialId: number, worker: WorkerIdentity): boolean {
    return this.guard('writing a heartbeat', () =>
      this.db.prepare("UPDATE trials SET heartbeat_at = ? WHERE id = ? AND status = 'running' AND worker = ?").run(Date.now(), trialId, worker.name).changes === 1,
    );
  }

  /** Records one epoch's metrics of the trial's current attempt. */
  recordEpoch(trialId: number, attempt: number, epoch: number, metrics: { [key: string]: Json }): void {
    this.guard('recording epoch metrics', () =>
      this.db.prepare('INSERT OR REPLACE INTO epoch_metrics (trial_id, attempt, epoch, metrics, recorded_at) VALUES (?, ?, ?, ?, ?)').run(trialId, attempt, epoch, JSON.stringify(metrics), Date.now()),
    );
  }

  /** Epoch metrics of a trial's attempt (default: its latest), in epoch order. */
  epochMetrics(trialId: number, attempt?: number): { epoch: number; metrics: { [key: string]: Json } }[] {
    return this.guard('reading epoch metrics', () => {
      const which = attempt ?? (this.db.prepare('SELECT attempts FROM trials WHERE id = ?').get(trialId) as { attempts: number } | undefined)?.attempts ?? 0;
      const rows = this.db.prepare('SELECT epoch, metrics FROM epoch_metrics WHERE trial_id = ? AND attempt = ? ORDER BY epoch').all(trialId, which) as { epoch: number; metrics: string }[];
      return rows.map((r) => ({ epoch: r.epoch, metrics: JSON.parse(r.metrics) as { [key: string]: Json } }));
    });
  }

  /** Records a finished trial; returns false (writing nothing) when the worker no longer holds it. */
  finishTrial(trialId: number, worker: WorkerIdentity, result: TrialResult): boolean {
    return this.guard('recording a result', () =>
      this.db
        .prepare(
          `UPDATE trials SET status = 'done', finished_at = ?, params = ?, macs = ?, wall_seconds = ?, val_top1 = ?, metrics = ?, error = NULL
           WHERE id = ? AND status = 'running' AND worker = ?`,
        )
        .run(Date.now(), result.params, result.macs, result.wallSeconds, result.valTop1, JSON.stringify(result.metrics), trialId, worker.name).changes === 1,
    );
  }

  /** Records a failed trial with its error; returns false when the worker no longer holds it. */
  failTrial(trialId: number, worker: WorkerIdentity, error: string, partial: { params?: number; macs?: number; wallSeconds?: number } = {}): boolean {
    return this.guard('recording a failure', () =>
      this.db
        .prepare(`UPDATE trials SET status = 'failed', finished_at = ?, error = ?, params = ?, macs = ?, wall_seconds = ? WHERE id = ? AND status = 'running' AND worker = ?`)
        .run(Date.now(), error, partial.params ?? null, partial.macs ?? null, partial.wallSeconds ?? null, trialId, worker.name).changes === 1,
    );
  }

  /**
   * Puts back to 'pending' the running trials whose worker is gone: on this host, a pid that is not alive; on any
   * host, a heartbeat older than `staleMs` (default 15 minutes). Returns the re-queued trials.
   */
  requeueStale(searchId: number, options: { staleMs?: number; isAlive?: (pid: number) => boolean } = {}): TrialRow[] {
    const staleMs = options.staleMs ?? 15 * 60 * 1000;
    const isAlive = options.isAlive ?? processAlive;
    const host = workerIdentity().host;
    return this.guard('re-queueing abandoned trials', () =>
      this.db.transaction(() => {
        const running = (this.db.prepare("SELECT * FROM trials WHERE search_id = ? AND status = 'running'").all(searchId) as RawTrial[]).map(toTrial);
        const now = Date.now();
        const stale = running.filter((t) => (t.host === host && (t.pid === null || !isAlive(t.pid))) || now - (t.heartbeatAt ?? 0) > staleMs);
        const requeue = this.db.prepare("UPDATE trials SET status = 'pending', worker = NULL, pid = NULL, heartbeat_at = NULL WHERE id = ? AND status = 'running' AND worker IS ?");
        for (const t of stale) requeue.run(t.id, t.worker);
        return stale;
      }).immediate(),
    );
  }

  /**
   * Marks as failed the running trials held by process `pid` (its worker died: a crash or a signal), so that the
   * search goes on without retrying a trial that kills its worker; returns how many.
   */
  failTrialsOfPid(searchId: number, pid: number, error: string): number {
    return this.guard('recording a crashed worker', () =>
      this.db.prepare("UPDATE trials SET status = 'failed', finished_at = ?, error = ? WHERE search_id = ? AND status = 'running' AND pid = ?").run(Date.now(), error, searchId, pid).changes,
    );
  }

  /** Puts failed trials back to pending (for `--retry-failed`); returns how many. */
  retryFailed(searchId: number): number {
    return this.guard('re-queueing failed trials', () => this.db.prepare("UPDATE trials SET status = 'pending', error = NULL WHERE search_id = ? AND status = 'failed'").run(searchId).changes);
  }

  /** Status counts. */
  counts(searchId: number): SearchCounts {
    return this.guard('counting trials', () => {
      const rows = this.db.prepare('SELECT status, COUNT(*) AS n FROM trials WHERE search_id = ? GROUP BY status').all(searchId) as { status: TrialStatus; n: number }[];
      const counts: SearchCounts = { pending: 0, running: 0, done: 0, failed: 0, total: 0 };
      for (const r of rows) {
        counts[r.status] = r.n;
        counts.total += r.n;
      }
      return counts;
    });
  }

  /** All trials of a search in seq order. */
  trials(searchId: number): TrialRow[] {
    return this.guard('reading trials', () => (this.db.prepare('SELECT * FROM trials WHERE search_id = ? ORDER BY seq').all(searchId) as RawTrial[]).map(toTrial));
  }

  /** The claim log of a search: one row per claim, in order (an audit of who took what). */
  claims(searchId: number): { trialId: number; worker: string; pid: number; claimedAt: number }[] {
    return this.guard('reading claims', () =>
      (this.db.prepare('SELECT c.trial_id AS trialId, c.worker, c.pid, c.claimed_at AS claimedAt FROM claims c JOIN trials t ON t.id = c.trial_id WHERE t.search_id = ? ORDER BY c.id').all(searchId)) as { trialId: number; worker: string; pid: number; claimedAt: number }[],
    );
  }

  /** Closes the connection. */
  close(): void {
    if (this.db.open) this.db.close();
  }
}

function sqliteCode(error: unknown): string {
  return typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : '';
}

/** Turns better-sqlite3 errors into StoreLockedError / StoreCorruptError; others pass through. */
function translate(error: unknown, path: string, what: string): unknown {
  if (error instanceof StoreLockedError || error instanceof StoreCorruptError || error instanceof StoreError) return error;
  const code = sqliteCode(error);
  const message = error instanceof Error ? error.message : String(error);
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    const holders = findLockHolders([path, `${path}-wal`, `${path}-shm`]);
    const who =
      holders.length === 0
        ? 'the process holding it could not be determined'
        : `held by ${holders.map((h) => `pid ${h.pid}${h.command ? ` (${h.command})` : ''} [${h.mode} lock on ${h.file}]`).join(', ')}`;
    return new StoreLockedError(
      `the experiment store ${path} is locked (${message}) while ${what}, past the busy timeout; ${who}. ` +
        'Wait for that process to finish or stop it, then run the command again (each search may have one coordinator)',
    );
  }
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    return new StoreCorruptError(
      `${path} is not a usable SQLite database (${message}) while ${what}; it is corrupt or not an experiment store. ` +
        'Pass another --db path, or move this file away (its trials are lost) and run again',
    );
  }
  return error;
}
