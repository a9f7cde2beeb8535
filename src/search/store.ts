/**
 * The experiment store: searches, their trials, each trial's per-epoch metrics, an architecture search's state and
 * screening scores, and a log of claims. It is the single source of truth for every worker of a search. It lives in
 * an SQLite file (embedded, the default) or a PostgreSQL database (`postgres://…`, workers on many hosts), with the
 * same tables and the same SQL over a small driver (src/search/sql-driver.ts).
 *
 * Trial life cycle: pending → running (claimed, under a lease) → done | failed. A claim takes the first pending trial,
 * or a running one whose lease has run out, in one transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite
 * serialises writers), and appends to the `claims` log. The lease is kept in the database's own time (`now`): the
 * worker renews it with heartbeats while it trains, so a worker on a host whose clock is off can neither expire a live
 * trial nor keep a dead one. A result, a failure or a heartbeat is accepted only from the worker and attempt that
 * holds the trial: a trial taken over after its lease ran out refuses its earlier holder's late result.
 *
 * The schema carries a version (`store_meta`); a store written by another version is refused with a clear error
 * (an SQLite store of the first version, before leases, is upgraded in place).
 */
import { UserError } from '../errors.js';
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { processAlive } from './lock-holder.js';
import { sameSpec, specDifferences } from './spec-diff.js';
import { PostgresDriver, type PostgresOptions } from './postgres-driver.js';
import { isPostgresUrl, type SqlDriver, type SqlValue } from './sql-driver.js';
import { SqliteDriver, type SqliteOptions } from './sqlite-driver.js';

export { StoreCorruptError, StoreLockedError } from './sqlite-driver.js';
export { StoreConnectError, isPostgresUrl } from './sql-driver.js';
export { StoreTimeoutError } from './postgres-driver.js';

/** Thrown for a misuse of the store (unknown search, conflicting search definition). */
export class StoreError extends UserError {
  override name = 'StoreError';
}

/** Thrown when the database holds a store of another schema version, or tables that are not an effnet store. */
export class StoreVersionError extends UserError {
  override name = 'StoreVersionError';
}

/** The version of the tables this effnet reads and writes. */
export const STORE_SCHEMA_VERSION = 2;

/** How long a claim or a heartbeat holds a trial when the worker says nothing else, ms (2 minutes). */
export const DEFAULT_LEASE_MS = 120_000;

/** A trial whose lease ran out this many times (its worker died each time) is failed instead of claimed again. */
export const MAX_LEASE_EXPIRIES = 3;

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
  /** Its machine (the kernel's boot id and pid namespace): a pid is only meaningful there. */
  machine: string | null;
  /** How many times the trial was claimed. */
  attempts: number;
  /** Claim time (ms). */
  startedAt: number | null;
  /** Last sign of life of the worker (ms, database time). */
  heartbeatAt: number | null;
  /** Until when the worker holds the trial without another heartbeat (ms, database time). */
  leaseUntil: number | null;
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
  /** The machine (boot id and pid namespace; two hosts may share a name): a pid is only checked on its own machine. */
  machine: string;
}

/** The trial a worker holds: its row id and the attempt its claim started. */
export interface HeldTrial {
  /** Row id. */
  id: number;
  /** The claim's attempt number (a trial taken over after its lease ran out has a higher one). */
  attempts: number;
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
export interface StoreOptions extends SqliteOptions, PostgresOptions {}

// One schema for both databases: BIGINT and DOUBLE PRECISION are SQLite's INTEGER and REAL affinities; only the
// auto-numbered key is spelled per dialect ({autoKey}). JSON is stored as text in both.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS store_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS searches (
  id {autoKey},
  name TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  spec TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
  id {autoKey},
  search_id INTEGER NOT NULL REFERENCES searches(id),
  seq INTEGER NOT NULL,
  label TEXT NOT NULL,
  config TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
  worker TEXT, pid INTEGER, host TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  started_at BIGINT, heartbeat_at BIGINT, finished_at BIGINT,
  error TEXT,
  params BIGINT, macs BIGINT, wall_seconds DOUBLE PRECISION, val_top1 DOUBLE PRECISION, metrics TEXT,
  lease_until BIGINT, machine TEXT,
  UNIQUE (search_id, seq)
);
CREATE INDEX IF NOT EXISTS trials_by_status ON trials (search_id, status, seq);
CREATE TABLE IF NOT EXISTS epoch_metrics (
  trial_id INTEGER NOT NULL REFERENCES trials(id),
  attempt INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  metrics TEXT NOT NULL,
  recorded_at BIGINT NOT NULL,
  PRIMARY KEY (trial_id, attempt, epoch)
);
CREATE TABLE IF NOT EXISTS search_state (
  search_id INTEGER PRIMARY KEY REFERENCES searches(id),
  state TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS scores (
  search_id INTEGER NOT NULL REFERENCES searches(id),
  seq INTEGER NOT NULL,
  record TEXT NOT NULL,
  PRIMARY KEY (search_id, seq)
);
CREATE TABLE IF NOT EXISTS claims (
  id {autoKey},
  trial_id INTEGER NOT NULL REFERENCES trials(id),
  worker TEXT NOT NULL,
  pid INTEGER NOT NULL,
  claimed_at BIGINT NOT NULL
);
`;

interface RawTrial {
  id: number; search_id: number; seq: number; label: string; config: string; status: TrialStatus; worker: string | null;
  pid: number | null; host: string | null; machine: string | null; attempts: number; started_at: number | null; heartbeat_at: number | null;
  lease_until: number | null; finished_at: number | null; error: string | null; params: number | null; macs: number | null;
  wall_seconds: number | null; val_top1: number | null; metrics: string | null;
}

function toTrial(raw: RawTrial): TrialRow {
  return {
    id: raw.id, searchId: raw.search_id, seq: raw.seq, label: raw.label, config: JSON.parse(raw.config) as TrialRow['config'],
    status: raw.status, worker: raw.worker, pid: raw.pid, host: raw.host, machine: raw.machine, attempts: raw.attempts, startedAt: raw.started_at,
    heartbeatAt: raw.heartbeat_at, leaseUntil: raw.lease_until, finishedAt: raw.finished_at, error: raw.error, params: raw.params, macs: raw.macs,
    wallSeconds: raw.wall_seconds, valTop1: raw.val_top1, metrics: raw.metrics === null ? null : (JSON.parse(raw.metrics) as TrialRow['metrics']),
  };
}

let machine: string | null = null;

/**
 * This machine's identity for pid checks: the kernel's boot id (unique per machine and boot) and this process's pid
 * namespace (containers on one kernel share the boot id but not their pids), else the host name.
 */
export function machineId(): string {
  if (machine === null) {
    try {
      const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      let namespace = '';
      try {
        namespace = readlinkSync('/proc/self/ns/pid');
      } catch {
        namespace = 'pid:?';
      }
      machine = `${boot} ${namespace}`;
    } catch {
      machine = `host:${hostname()}`;
    }
  }
  return machine;
}

/** This process as a worker identity (`host:pid:tag`). */
export function workerIdentity(tag: string | number = 0): WorkerIdentity {
  const host = hostname();
  return { name: `${host}:${process.pid}:${tag}`, pid: process.pid, host, machine: machineId() };
}

/** The experiment store; open with {@link ExperimentStore.open}, close when done. */
export class ExperimentStore {
  /** Where it is: the SQLite file's path, or the PostgreSQL URL without its password. */
  readonly location: string;
  private readonly db: SqlDriver;
  private readonly now: string;

  private constructor(db: SqlDriver) {
    this.db = db;
    this.location = db.location;
    this.now = db.dialect.nowMs;
  }

  /**
   * Opens the store at `location`, an SQLite file path (created when missing) or a `postgres://` URL (the database
   * must exist; the tables are created when missing), and checks the schema's version.
   * @throws StoreCorruptError for a file that is not an SQLite database or fails the check
   * @throws StoreLockedError when another process keeps the SQLite file locked past the timeout
   * @throws StoreConnectError when the PostgreSQL server cannot be reached or refuses the connection
   * @throws StoreVersionError for a store written by another schema version, or tables that are not a store's
   */
  static open(location: string, options: StoreOptions = {}): ExperimentStore {
    const driver = isPostgresUrl(location) ? PostgresDriver.connect(location, options) : SqliteDriver.open(location, options);
    const store = new ExperimentStore(driver);
    try {
      store.guard('opening', () => store.prepareSchema());
    } catch (error) {
      driver.close();
      throw error;
    }
    return store;
  }

  /** Creates the tables of a new store, upgrades a first-version SQLite store, refuses any other version. */
  private prepareSchema(): void {
    const db = this.db;
    db.transaction(() => {
      // Several workers may open a new PostgreSQL store at once: one creates the tables, the others wait for it.
      if (db.dialect.name === 'postgres') db.get("SELECT pg_advisory_xact_lock(hashtext('effnet experiment store'))");
      const tables = new Set(this.tableNames());
      let version: number | null = null;
      if (tables.has('store_meta')) {
        const raw = db.get<{ value: string }>("SELECT value FROM store_meta WHERE key = 'schema_version'");
        version = raw === undefined ? null : Number(raw.value);
      }
      if (version === null && tables.has('trials')) {
        const columns = this.columnNames('trials');
        if (db.dialect.name === 'sqlite' && columns.includes('heartbeat_at') && !columns.includes('lease_until')) {
          // The first version (no leases, no version row): add the two columns; its rows keep working.
          db.exec('ALTER TABLE trials ADD COLUMN lease_until BIGINT; ALTER TABLE trials ADD COLUMN machine TEXT;');
          version = STORE_SCHEMA_VERSION;
        } else {
          throw new StoreVersionError(
            `${this.location} has a 'trials' table but no effnet schema version: it is not an effnet experiment store (or one from an unknown version). ` +
              'Pass another --db (an empty database or a new file)',
          );
        }
      }
      if (version !== null && version !== STORE_SCHEMA_VERSION) {
        const written = db.get<{ value: string }>("SELECT value FROM store_meta WHERE key = 'written_by'")?.value ?? 'an unknown effnet';
        throw new StoreVersionError(
          `${this.location} is an experiment store of schema version ${version} (written by ${written}); this effnet reads version ${STORE_SCHEMA_VERSION}. ` +
            'Use the effnet version that wrote it, or start this search in another --db',
        );
      }
      db.exec(SCHEMA.replaceAll('{autoKey}', db.dialect.autoKey));
      const upsert = 'INSERT INTO store_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value';
      db.run(upsert, ['schema_version', String(STORE_SCHEMA_VERSION)]);
      if (version === null) db.run(upsert, ['written_by', `effnet (store schema ${STORE_SCHEMA_VERSION})`]);
    });
  }

  private tableNames(): string[] {
    return this.db.dialect.name === 'sqlite'
      ? this.db.all<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").map((r) => r.name)
      : this.db.all<{ name: string }>('SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()').map((r) => r.name);
  }

  private columnNames(table: string): string[] {
    return this.db.dialect.name === 'sqlite'
      ? this.db.all<{ name: string }>(`SELECT name FROM pragma_table_info('${table}')`).map((r) => r.name)
      : this.db.all<{ name: string }>('SELECT column_name AS name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?', [table]).map((r) => r.name);
  }

  /** Runs `fn`, turning the database's busy/locked/corrupt/connection errors into clear ones. */
  private guard<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      throw this.db.translate(error, what);
    }
  }

  /** The database's current time, ms since the epoch (the clock every lease is measured by). */
  databaseTime(): number {
    return this.guard('reading the time', () => this.db.get<{ now: number }>(`SELECT ${this.now} AS now`)!.now);
  }

  /** The search named `name`, or null. */
  findSearch(name: string): SearchRow | null {
    return this.guard('reading searches', () => {
      const raw = this.db.get<{ id: number; name: string; kind: string; spec: string; created_at: number }>('SELECT * FROM searches WHERE name = ?', [name]);
      return raw === undefined ? null : { id: raw.id, name: raw.name, kind: raw.kind, spec: JSON.parse(raw.spec) as SearchRow['spec'], createdAt: raw.created_at };
    });
  }

  /** The search with row id `id`. @throws StoreError when there is none */
  getSearch(id: number): SearchRow {
    const raw = this.guard('reading searches', () => this.db.get<{ name: string }>('SELECT name FROM searches WHERE id = ?', [id]));
    if (raw === undefined) throw new StoreError(`${this.location} has no search with id ${id}`);
    return this.findSearch(raw.name)!;
  }

  /** All searches, oldest first. */
  listSearches(): SearchRow[] {
    const names = this.guard('reading searches', () => this.db.all<{ name: string }>('SELECT name FROM searches ORDER BY id'));
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
      if (existing.kind !== kind) {
        throw new StoreError(`${this.location} already holds a ${existing.kind} search named '${name}', not a ${kind} one; give this one another --name or --db`);
      }
      if (!sameSpec(existing.spec, spec)) {
        throw new StoreError(
          `${this.location} already holds a ${existing.kind} search named '${name}' with other settings (${specDifferences(existing.spec, spec).join('; ')}); ` +
            'resume it with the same options, or give this one another --name or --db',
        );
      }
      return { search: existing, created: false };
    }
    const id = this.guard('creating a search', () =>
      this.db.transaction(() => {
        const searchId = this.db.get<{ id: number }>(`INSERT INTO searches (name, kind, spec, created_at) VALUES (?, ?, ?, ${this.now}) RETURNING id`, [name, kind, JSON.stringify(spec)])!.id;
        this.insertTrials(searchId, trials, 0);
        return searchId;
      }),
    );
    return { search: this.getSearch(id), created: true };
  }

  /**
   * Replaces a search's stored spec: for the settings a resumed search may raise without invalidating what it did
   * (an architecture search's comparison seeds); the caller checks that nothing else changed.
   */
  updateSearchSpec(searchId: number, spec: { [key: string]: Json }): void {
    this.guard('updating a search', () => this.db.run('UPDATE searches SET spec = ? WHERE id = ?', [JSON.stringify(spec), searchId]));
  }

  private insertTrials(searchId: number, trials: { label: string; config: { [key: string]: Json } }[], firstSeq: number): void {
    trials.forEach((trial, i) => this.db.run('INSERT INTO trials (search_id, seq, label, config) VALUES (?, ?, ?, ?)', [searchId, firstSeq + i, trial.label, JSON.stringify(trial.config)]));
  }

  /**
   * Appends trials to a search (after its existing ones). With `state`, the search's state (see
   * {@link ExperimentStore.searchState}) is replaced in the same transaction, so that a proposal and the strategy
   * state that made it are stored together or not at all.
   */
  addTrials(searchId: number, trials: { label: string; config: { [key: string]: Json } }[], state?: Json): void {
    this.guard('adding trials', () =>
      this.db.transaction(() => {
        const next = this.db.get<{ next: number }>('SELECT COALESCE(MAX(seq) + 1, 0) AS next FROM trials WHERE search_id = ?', [searchId])!.next;
        this.insertTrials(searchId, trials, next);
        if (state !== undefined) this.writeState(searchId, state);
      }),
    );
  }

  private writeState(searchId: number, state: Json): void {
    this.db.run(
      `INSERT INTO search_state (search_id, state, updated_at) VALUES (?, ?, ${this.now}) ON CONFLICT (search_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
      [searchId, JSON.stringify(state)],
    );
  }

  /**
   * The search's own state (an architecture search's strategy: population or controller, generator, which results it
   * was told), or null before any was written.
   */
  searchState(searchId: number): Json | null {
    return this.guard('reading the search state', () => {
      const raw = this.db.get<{ state: string }>('SELECT state FROM search_state WHERE search_id = ?', [searchId]);
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
        for (const r of records) {
          this.db.run('INSERT INTO scores (search_id, seq, record) VALUES (?, ?, ?) ON CONFLICT (search_id, seq) DO UPDATE SET record = excluded.record', [searchId, r.seq, JSON.stringify(r.record)]);
        }
      }),
    );
  }

  /** The search's untrained evaluations, in order. */
  scores(searchId: number): { seq: number; record: { [key: string]: Json } }[] {
    return this.guard('reading scores', () =>
      this.db.all<{ seq: number; record: string }>('SELECT seq, record FROM scores WHERE search_id = ? ORDER BY seq', [searchId]).map((r) => ({
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
    this.guard('writing the search state', () => this.db.transaction(() => this.writeState(searchId, state)));
  }

  /**
   * Atomically takes, for `worker`, the first pending trial of the search, or else a running one whose lease has run
   * out (its worker stopped renewing it: killed, hung or cut off), under a lease of `leaseMs` in database time; null
   * when there is none. A trial whose lease ran out {@link MAX_LEASE_EXPIRIES} times is failed instead.
   */
  claimTrial(searchId: number, worker: WorkerIdentity, options: { leaseMs?: number } = {}): TrialRow | null {
    const leaseMs = Math.round(options.leaseMs ?? DEFAULT_LEASE_MS);
    const now = this.now;
    const claimable = `(status = 'pending' OR (status = 'running' AND lease_until < ${now}))`;
    return this.guard('claiming a trial', () =>
      this.db.transaction(() => {
        this.db.run(
          `UPDATE trials SET status = 'failed', finished_at = ${now},
             error = 'abandoned: ' || attempts || ' workers stopped renewing their lease (the last: ' || COALESCE(worker, '?') || '); the trial may kill its worker (memory?); --retry-failed queues it again'
           WHERE search_id = ? AND status = 'running' AND lease_until < ${now} AND attempts >= ?`,
          [searchId, MAX_LEASE_EXPIRIES],
        );
        const raw = this.db.get<RawTrial>(
          `UPDATE trials SET status = 'running', worker = ?, pid = ?, host = ?, machine = ?, attempts = attempts + 1, started_at = ${now},
             heartbeat_at = ${now}, lease_until = ${now} + ?, finished_at = NULL, error = NULL
           WHERE id = (SELECT id FROM trials WHERE search_id = ? AND ${claimable} ORDER BY seq LIMIT 1 ${this.db.dialect.skipLocked}) AND ${claimable}
           RETURNING *`,
          [worker.name, worker.pid, worker.host, worker.machine, leaseMs, searchId],
        );
        if (raw === undefined) return null;
        this.db.run(`INSERT INTO claims (trial_id, worker, pid, claimed_at) VALUES (?, ?, ?, ${now})`, [raw.id, worker.name, worker.pid]);
        return toTrial(raw);
      }),
    );
  }

  /**
   * Renews the worker's lease on a trial it holds for another `leaseMs` from now (database time); returns false,
   * changing nothing, when the trial is no longer held by this worker and attempt (it was taken over: stop training it).
   */
  heartbeat(trial: HeldTrial, worker: WorkerIdentity, leaseMs = DEFAULT_LEASE_MS): boolean {
    return this.guard('writing a heartbeat', () =>
      this.db.run(
        `UPDATE trials SET heartbeat_at = ${this.now}, lease_until = ${this.now} + ? WHERE id = ? AND status = 'running' AND worker = ? AND attempts = ?`,
        [Math.round(leaseMs), trial.id, worker.name, trial.attempts],
      ) === 1,
    );
  }

  /** Records one epoch's metrics of the trial's current attempt. */
  recordEpoch(trialId: number, attempt: number, epoch: number, metrics: { [key: string]: Json }): void {
    this.guard('recording epoch metrics', () =>
      this.db.run(
        `INSERT INTO epoch_metrics (trial_id, attempt, epoch, metrics, recorded_at) VALUES (?, ?, ?, ?, ${this.now})
         ON CONFLICT (trial_id, attempt, epoch) DO UPDATE SET metrics = excluded.metrics, recorded_at = excluded.recorded_at`,
        [trialId, attempt, epoch, JSON.stringify(metrics)],
      ),
    );
  }

  /** Epoch metrics of a trial's attempt (default: its latest), in epoch order. */
  epochMetrics(trialId: number, attempt?: number): { epoch: number; metrics: { [key: string]: Json } }[] {
    return this.guard('reading epoch metrics', () => {
      const which = attempt ?? this.db.get<{ attempts: number }>('SELECT attempts FROM trials WHERE id = ?', [trialId])?.attempts ?? 0;
      const rows = this.db.all<{ epoch: number; metrics: string }>('SELECT epoch, metrics FROM epoch_metrics WHERE trial_id = ? AND attempt = ? ORDER BY epoch', [trialId, which]);
      return rows.map((r) => ({ epoch: r.epoch, metrics: JSON.parse(r.metrics) as { [key: string]: Json } }));
    });
  }

  /** Records a finished trial; returns false (writing nothing) when this worker and attempt no longer hold it. */
  finishTrial(trial: HeldTrial, worker: WorkerIdentity, result: TrialResult): boolean {
    return this.guard('recording a result', () =>
      this.db.run(
        `UPDATE trials SET status = 'done', finished_at = ${this.now}, lease_until = NULL, params = ?, macs = ?, wall_seconds = ?, val_top1 = ?, metrics = ?, error = NULL
         WHERE id = ? AND status = 'running' AND worker = ? AND attempts = ?`,
        [result.params, result.macs, result.wallSeconds, result.valTop1, JSON.stringify(result.metrics), trial.id, worker.name, trial.attempts],
      ) === 1,
    );
  }

  /** Records a failed trial with its error; returns false when this worker and attempt no longer hold it. */
  failTrial(trial: HeldTrial, worker: WorkerIdentity, error: string, partial: { params?: number; macs?: number; wallSeconds?: number } = {}): boolean {
    return this.guard('recording a failure', () =>
      this.db.run(
        `UPDATE trials SET status = 'failed', finished_at = ${this.now}, lease_until = NULL, error = ?, params = ?, macs = ?, wall_seconds = ?
         WHERE id = ? AND status = 'running' AND worker = ? AND attempts = ?`,
        [error, partial.params ?? null, partial.macs ?? null, partial.wallSeconds ?? null, trial.id, worker.name, trial.attempts],
      ) === 1,
    );
  }

  /**
   * Gives a held trial back: 'pending' again at once, for any worker to take (as a new attempt), instead of when its
   * lease runs out; returns false when this worker and attempt no longer hold it.
   */
  releaseTrial(trial: HeldTrial, worker: WorkerIdentity): boolean {
    return this.guard('giving a trial back', () =>
      this.db.run(
        "UPDATE trials SET status = 'pending', worker = NULL, pid = NULL, heartbeat_at = NULL, lease_until = NULL WHERE id = ? AND status = 'running' AND worker = ? AND attempts = ?",
        [trial.id, worker.name, trial.attempts],
      ) === 1,
    );
  }

  /**
   * Puts back to 'pending' the running trials whose worker is gone: on this machine, a pid that is not alive; on any
   * machine, a lease that has run out (database time). Returns the re-queued trials. (Claims take over trials with
   * run-out leases by themselves; this is for a coordinator that starts again and wants to say what it found.)
   */
  requeueStale(searchId: number, options: { isAlive?: (pid: number) => boolean } = {}): TrialRow[] {
    const isAlive = options.isAlive ?? processAlive;
    const machine = machineId();
    return this.guard('re-queueing abandoned trials', () =>
      this.db.transaction(() => {
        const running = this.db.all<RawTrial>("SELECT * FROM trials WHERE search_id = ? AND status = 'running'", [searchId]).map(toTrial);
        const now = this.databaseTime();
        const stale = running.filter((t) => (t.machine === machine && (t.pid === null || !isAlive(t.pid))) || t.leaseUntil === null || t.leaseUntil < now);
        for (const t of stale) {
          this.db.run("UPDATE trials SET status = 'pending', worker = NULL, pid = NULL, heartbeat_at = NULL, lease_until = NULL WHERE id = ? AND status = 'running' AND attempts = ?", [t.id, t.attempts]);
        }
        return stale;
      }),
    );
  }

  /**
   * Marks as failed the running trials held by process `pid` of this machine (its worker died: a crash or a signal),
   * so that the search goes on without retrying a trial that kills its worker; returns how many.
   */
  failTrialsOfPid(searchId: number, pid: number, error: string): number {
    return this.guard('recording a crashed worker', () =>
      this.db.run(`UPDATE trials SET status = 'failed', finished_at = ${this.now}, lease_until = NULL, error = ? WHERE search_id = ? AND status = 'running' AND pid = ? AND machine = ?`, [
        error,
        searchId,
        pid,
        machineId(),
      ]),
    );
  }

  /** Puts failed trials back to pending (for `--retry-failed`); returns how many. */
  retryFailed(searchId: number): number {
    return this.guard('re-queueing failed trials', () => this.db.run("UPDATE trials SET status = 'pending', error = NULL WHERE search_id = ? AND status = 'failed'", [searchId]));
  }

  /** Status counts. */
  counts(searchId: number): SearchCounts {
    return this.guard('counting trials', () => {
      const rows = this.db.all<{ status: TrialStatus; n: number }>('SELECT status, COUNT(*) AS n FROM trials WHERE search_id = ? GROUP BY status', [searchId]);
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
    return this.guard('reading trials', () => this.db.all<RawTrial>('SELECT * FROM trials WHERE search_id = ? ORDER BY seq', [searchId]).map(toTrial));
  }

  /** The claim log of a search: one row per claim, in order (an audit of who took what). */
  claims(searchId: number): { trialId: number; worker: string; pid: number; claimedAt: number }[] {
    return this.guard('reading claims', () =>
      this.db.all<{ trialId: number; worker: string; pid: number; claimedAt: number }>(
        'SELECT c.trial_id AS "trialId", c.worker, c.pid, c.claimed_at AS "claimedAt" FROM claims c JOIN trials t ON t.id = c.trial_id WHERE t.search_id = ? ORDER BY c.id',
        [searchId],
      ),
    );
  }

  /** Closes the connection. */
  close(): void {
    this.db.close();
  }
}

/** Values bound to statements (re-exported for drivers' users). */
export type { SqlValue };
