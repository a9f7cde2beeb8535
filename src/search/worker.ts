/**
 * The worker of a search: sets its engine thread count, then claims trials from the store one at a time, trains
 * each under a lease it renews with heartbeats, and records the result or the error, until the search is finished.
 * It runs as a process forked by a coordinator (runSearch: --db LOCATION --search ID --threads T [--tag N] [--lease S]
 * [--device D]) or as `effnet search-worker`, which joins a running search from any host that reaches its store.
 *
 * A worker stays while trials of the search are running elsewhere, because a worker that dies lets its lease run
 * out and its trial must then be taken over by someone; it leaves when nothing is pending or running (a scale search)
 * or when the search's state says `closed` (an architecture search, whose coordinator adds trials as results come
 * in), or when its coordinator is gone (the IPC channel closed).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RUN_FILES } from '../model-file/run-files.js';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { deviceForWorker, setNumThreads } from '../torch/index.js';
import { openData, type ResolvedData } from '../data/spec.js';
import { trialSettingsFromSpec } from './definitions.js';
import { DEFAULT_LEASE_MS, ExperimentStore, isPostgresUrl, workerIdentity, type Json, type SearchRow, type TrialRow, type WorkerIdentity } from './store.js';
import { runTrial, trialCard } from './trial.js';
import { validateScaledConfig } from '../card/config-file.js';
import { measureLatency } from './nas/latency.js';
import { isArchitectureSearchKind } from './nas/search.js';

/**
 * The environment variable that hands a worker its store (`effnet search-worker` reads it when --db is absent): a
 * PostgreSQL URL with a password stays off the command line, which every user of the host can read with `ps`.
 */
export const DB_ENVIRONMENT = 'EFFNET_DB';

/** Messages a worker sends to its coordinator (or to `effnet search-worker`'s output). */
export type WorkerMessage =
  | { type: 'start'; trialId: number; label: string; worker: string; attempt: number }
  | { type: 'done'; trialId: number; label: string; valTop1: number; wallSeconds: number }
  | { type: 'failed'; trialId: number; label: string; error: string }
  | { type: 'lost'; trialId: number; label: string; reason: string }
  | { type: 'released'; trialId: number; label: string };

/** How often a waiting worker looks for new trials, ms (SQLite; a PostgreSQL store is asked every second). */
export const WAIT_POLL_MS = 200;

/** How often (at most) a training worker writes its heartbeat, ms (more often when the lease is short). */
export const HEARTBEAT_INTERVAL_MS = 2000;

/** Options of {@link runWorker}. */
export interface WorkerOptions {
  /** The store: an SQLite path or a PostgreSQL URL. */
  db: string;
  /** The search. */
  search: SearchRow;
  /** This worker's identity (default: this process, tag 0). */
  identity?: WorkerIdentity;
  /** How long a claim or heartbeat holds a trial, ms; default {@link DEFAULT_LEASE_MS}. */
  leaseMs?: number;
  /** The data as this host sees it (default: the search's own spec); it must be the same images. */
  data?: string;
  /**
   * Where trial run directories go: a folder of this host's choosing (the search-worker's --run-dir, or beside its
   * SQLite store, or ./runs/NAME). Never a path read from the store: with a shared PostgreSQL store, whoever can
   * write the database would choose where every worker host writes.
   */
  runDir: string;
  /** The device to train on, resolved ('cpu', 'cuda:N'); default the CPU (see deviceForWorker). */
  device?: string;
  /** Whether to stop (checked between trials and while waiting): the coordinator is gone, or a signal came. */
  shouldStop?: () => boolean;
  /**
   * Whether to give up the trial in hand (checked after every training step): it is put back in the queue at once,
   * for any worker to take, instead of waiting for its lease to run out (a Ctrl-C of `effnet search-worker`).
   */
  shouldRelease?: () => boolean;
  /** Per-trial events. */
  onEvent?: (message: WorkerMessage) => void;
}

/** Thrown inside a trial when its lease was taken over by another worker: training it further is wasted. */
class LeaseLostError extends Error {
  override name = 'LeaseLostError';
}

/** Thrown inside a trial when the worker was asked to give it back (shouldRelease). */
class ReleaseError extends Error {
  override name = 'ReleaseError';
}

/** Whether nothing more will come to claim: every trial ended (and an architecture search's coordinator closed it). */
export function searchFinished(store: ExperimentStore, search: SearchRow): boolean {
  if (isArchitectureSearchKind(search.kind)) return store.searchClosed(search.id);
  const counts = store.counts(search.id);
  return counts.pending === 0 && counts.running === 0;
}

/** Runs the claim-train-record loop until the search is finished; returns the number of trials this worker took. */
export async function runWorker(options: WorkerOptions): Promise<number> {
  const store = ExperimentStore.open(options.db, { integrityCheck: false });
  const identity = options.identity ?? workerIdentity(0);
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const beatEvery = Math.min(HEARTBEAT_INTERVAL_MS, leaseMs / 4);
  const pollMs = isPostgresUrl(options.db) ? 1000 : WAIT_POLL_MS;
  const search = options.search;
  const emit = options.onEvent ?? (() => undefined);
  let taken = 0;
  try {
    let data: Promise<ResolvedData> | null = null;
    const openDataOnce = (): Promise<ResolvedData> => (data ??= openData(options.data ?? String(search.spec.data)));
    for (;;) {
      if (options.shouldStop?.() === true) break;
      const trial = store.claimTrial(search.id, identity, { leaseMs });
      if (trial === null) {
        if (searchFinished(store, search)) break;
        await new Promise((resolveWait) => setTimeout(resolveWait, pollMs));
        continue;
      }
      taken += 1;
      emit({ type: 'start', trialId: trial.id, label: trial.label, worker: identity.name, attempt: trial.attempts });
      await trainHeldTrial(store, search, trial, identity, openDataOnce, {
        leaseMs,
        beatEvery,
        runDir: options.runDir,
        device: options.device ?? 'cpu',
        shouldRelease: options.shouldRelease ?? (() => false),
        emit,
      });
    }
  } finally {
    store.close();
  }
  return taken;
}

/** The run directory of one attempt of a trial under a search's run directory. */
export function trialRunDir(runDir: string, seq: number, attempt: number): string {
  return join(runDir, `trial-${String(seq).padStart(3, '0')}-attempt${attempt}`);
}

/** The file a failed attempt leaves in its run directory, so that a retry starts again instead of resuming it. */
export const FAILED_ATTEMPT_FILE = 'failed.txt';

/** Records in an attempt's run directory that it failed (best effort: the store has the error either way). */
function markFailed(dir: string, message: string): void {
  try {
    if (existsSync(dir)) writeFileSync(join(dir, FAILED_ATTEMPT_FILE), `${message}\n`);
  } catch {
    // Not being able to mark it only means a retry would resume it.
  }
}

/**
 * The run directory of the latest earlier attempt of `trial` that this host can see and that was interrupted
 * (killed, its machine lost, its lease given up) rather than failed: it has a checkpoint and no failed.txt. A
 * re-queued trial then continues from there instead of training again (runTrial's `resumeFrom`). Null when there is
 * none (a first attempt, another host's attempts, or a failure: `--retry-failed` trains afresh).
 */
export function interruptedAttemptDir(runDir: string, trial: Pick<TrialRow, 'seq' | 'attempts'>): string | null {
  for (let attempt = trial.attempts - 1; attempt >= 1; attempt -= 1) {
    const dir = trialRunDir(runDir, trial.seq, attempt);
    if (existsSync(join(dir, FAILED_ATTEMPT_FILE))) return null;
    if (existsSync(join(dir, RUN_FILES.last))) return dir;
  }
  return null;
}

/** Trains one claimed trial under its lease and records the outcome (nothing when the lease was taken over). */
async function trainHeldTrial(
  store: ExperimentStore,
  search: SearchRow,
  trial: TrialRow,
  identity: WorkerIdentity,
  openDataOnce: () => Promise<ResolvedData>,
  options: { leaseMs: number; beatEvery: number; runDir: string; device: string; shouldRelease: () => boolean; emit: (message: WorkerMessage) => void },
): Promise<void> {
  let lost = false;
  const beat = (): void => {
    if (!store.heartbeat(trial, identity, options.leaseMs)) lost = true;
  };
  // The Trainer lets the event loop turn after every step and evaluation batch, so this timer renews the lease
  // throughout: while opening data, measuring latency, training and evaluating.
  const timer = setInterval(beat, options.beatEvery);
  timer.unref();
  const started = performance.now();
  try {
    beat();
    const data = await openDataOnce();
    const runDir = trialRunDir(options.runDir, trial.seq, trial.attempts);
    const resumeFrom = interruptedAttemptDir(options.runDir, trial);
    const settings = trialSettingsFromSpec(search.spec, trial.config);
    // An architecture search measuring latency: the candidate's batch-1 ONNX latency, before training.
    const latencyMs =
      trial.config.latency === true
        ? (
            await measureLatency(trialCard(validateScaledConfig(trial.config.config, 'trial configuration'), data.classes, settings.recipe.dropPath ?? 0, trial.label), {
              runs: Number(trial.config.latencyRuns ?? 30),
            })
          ).medianMs
        : null;
    const trained = await runTrial(trial.config.config, data, settings, runDir, {
      detail: `search '${search.name}', trial ${trial.seq} (${trial.label})`,
      device: options.device,
      onStep: () => {
        if (lost) throw new LeaseLostError(`the lease on trial ${trial.seq} (attempt ${trial.attempts}) was taken over by another worker`);
        if (options.shouldRelease()) throw new ReleaseError(`trial ${trial.seq} given back`);
      },
      onEpoch: (metrics) => store.recordEpoch(trial.id, trial.attempts, metrics.epoch, metrics as unknown as { [key: string]: Json }),
      ...(resumeFrom === null ? {} : { resumeFrom }),
    });
    const result = latencyMs === null ? trained : { ...trained, metrics: { ...trained.metrics, latencyMs } };
    if (store.finishTrial(trial, identity, result)) {
      options.emit({ type: 'done', trialId: trial.id, label: trial.label, valTop1: result.valTop1, wallSeconds: result.wallSeconds });
    } else {
      options.emit({ type: 'lost', trialId: trial.id, label: trial.label, reason: `its result was refused: another worker holds trial ${trial.seq} now (this worker's lease ran out)` });
    }
  } catch (error) {
    if (error instanceof LeaseLostError) {
      options.emit({ type: 'lost', trialId: trial.id, label: trial.label, reason: error.message });
      return;
    }
    if (error instanceof ReleaseError) {
      if (store.releaseTrial(trial, identity)) options.emit({ type: 'released', trialId: trial.id, label: trial.label });
      return;
    }
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    markFailed(trialRunDir(options.runDir, trial.seq, trial.attempts), message);
    if (store.failTrial(trial, identity, message, { wallSeconds: (performance.now() - started) / 1000 })) {
      options.emit({ type: 'failed', trialId: trial.id, label: trial.label, error: message });
    } else {
      options.emit({ type: 'lost', trialId: trial.id, label: trial.label, reason: `it failed (${message}) after another worker took it over` });
    }
  } finally {
    clearInterval(timer);
  }
}

/** The forked worker's entry: parses its arguments, runs {@link runWorker} and reports to the coordinator over IPC. */
export async function workerMain(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { search: { type: 'string' }, threads: { type: 'string' }, tag: { type: 'string' }, lease: { type: 'string' }, device: { type: 'string' }, 'run-dir': { type: 'string' } },
  });
  const db = process.env[DB_ENVIRONMENT];
  if (db === undefined || values.search === undefined || values['run-dir'] === undefined) throw new Error(`search worker: ${DB_ENVIRONMENT} in the environment, --search ID and --run-dir DIR are required`);
  const threads = Number(values.threads ?? 1);
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`search worker: --threads must be a positive integer, got ${values.threads}`);
  const leaseMs = values.lease === undefined ? DEFAULT_LEASE_MS : Number(values.lease) * 1000;
  if (!(leaseMs > 0)) throw new Error(`search worker: --lease must be a positive number of seconds, got ${values.lease}`);
  setNumThreads(threads);
  const store = ExperimentStore.open(db, { integrityCheck: false });
  let search: SearchRow;
  try {
    search = store.getSearch(Number(values.search));
  } finally {
    store.close();
  }
  // The coordinator is gone (killed, even with SIGKILL, or crashed) when its IPC channel closes. An orphaned worker
  // gives its trial back to the queue after the current step and exits: it must not train on, unseen, beside the
  // workers of the next run of the same command (which would over-subscribe the cores and write into the same run
  // directory). Its trial re-runs on resume, like one whose worker was killed.
  let orphaned = false;
  process.once('disconnect', () => (orphaned = true));
  return runWorker({
    db,
    runDir: values['run-dir'],
    search,
    identity: workerIdentity(values.tag ?? 0),
    leaseMs,
    device: deviceForWorker(values.device ?? 'auto', Number(values.tag ?? 0) || 0),
    shouldStop: () => orphaned,
    shouldRelease: () => orphaned,
    onEvent: (message) => {
      if (process.send && process.connected) process.send(message);
    },
  });
}

// Run when started as a process (fork), not when imported.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  workerMain(process.argv.slice(2)).then(
    () => {
      process.exitCode = 0;
      // Loader worker threads or libtorch threads must not keep a finished worker alive.
      setImmediate(() => process.exit(0));
    },
    (error: unknown) => {
      process.stderr.write(`search worker: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
