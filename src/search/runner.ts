/**
 * The coordinator of a search: re-queues the trials a killed run left 'running', forks P worker processes (each
 * with T engine threads, P x T <= cores), reports progress from the store (the single source of truth) until every
 * worker has exited, and marks a trial failed when the worker holding it dies. Workers on other hosts
 * (`effnet search-worker`) may take trials of the same store at the same time; this host's workers stay until the
 * search is finished, so a trial whose remote worker died is taken over when its lease runs out.
 */
import { UserError } from '../errors.js';
import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { trialSettingsFromSpec } from './definitions.js';
import { formatProgress } from './progress.js';
import { ExperimentStore, type SearchCounts, type TrialRow } from './store.js';
import { DB_ENVIRONMENT, searchFinished, type WorkerMessage } from './worker.js';

/** Options of {@link runSearch}. */
export interface RunSearchOptions {
  /** The store: an SQLite path or a PostgreSQL URL (handed to the workers in their environment, never on their command line). */
  db: string;
  /** Where the workers put trial run directories (this host's; never a path read from the store). */
  runDir: string;
  /** The search to run. */
  searchId: number;
  /** Worker processes P (≥ 1). */
  parallel: number;
  /** Engine threads per worker T; default floor(cores / P), at least 1. P x T must not exceed the cores. */
  threads?: number;
  /** Progress line callback (default: none). */
  onProgress?: (line: string, counts: SearchCounts) => void;
  /** Per-trial events from the workers. */
  onEvent?: (message: WorkerMessage) => void;
  /** Progress polling period, ms; default 2000. */
  pollMs?: number;
  /** How long a worker's claim or heartbeat holds a trial, ms; default the store's (2 minutes). */
  leaseMs?: number;
  /** The workers' `--device` (auto: CUDA devices shared round-robin when there are some, else the CPU); default auto. */
  device?: string;
  /** Called once at the start with the trials re-queued from an interrupted run. */
  onRequeued?: (trials: TrialRow[]) => void;
  /** Replacement workers started after crashes; default 2 x parallel. */
  maxRespawns?: number;
  /** Called every `pollMs` before the progress line (an architecture search tells results and asks here). */
  onPoll?: () => void;
}

/** What a run did. */
export interface RunSearchResult {
  /** Final counts. */
  counts: SearchCounts;
  /** Trials re-queued at the start (left 'running' by a killed run). */
  requeued: TrialRow[];
  /** Worker processes started. */
  workersStarted: number;
}

/** Thrown for parallelism settings that oversubscribe the machine. */
export class ParallelismError extends UserError {
  override name = 'ParallelismError';
}

/** Checks P and T against the cores and returns T (default floor(cores / P)). */
export function resolveThreads(parallel: number, threads: number | undefined, cores = availableParallelism()): number {
  if (!Number.isInteger(parallel) || parallel < 1) throw new ParallelismError(`--parallel must be a positive integer, got ${parallel}`);
  if (parallel > cores) throw new ParallelismError(`--parallel ${parallel} exceeds the ${cores} cores of this machine; use at most ${cores}`);
  const t = threads ?? Math.max(1, Math.floor(cores / parallel));
  if (!Number.isInteger(t) || t < 1) throw new ParallelismError(`--threads must be a positive integer, got ${threads}`);
  if (parallel * t > cores) throw new ParallelismError(`--parallel ${parallel} x --threads ${t} = ${parallel * t} engine threads exceed the ${cores} cores; lower one of them`);
  return t;
}

/** The worker entry script. */
export const WORKER_ENTRY = fileURLToPath(new URL('./worker.js', import.meta.url));

/** Runs (or resumes) a search until no trial is pending or running. */
export async function runSearch(options: RunSearchOptions): Promise<RunSearchResult> {
  const threads = resolveThreads(options.parallel, options.threads);
  const store = ExperimentStore.open(options.db);
  const started = performance.now();
  let workersStarted = 0;
  try {
    const search = store.getSearch(options.searchId);
    // A spec the workers cannot train from stops the run here, with its reason, instead of failing every trial.
    for (const trial of store.trials(options.searchId)) if (trial.status !== 'done') trialSettingsFromSpec(search.spec, trial.config);
    const requeued = store.requeueStale(options.searchId);
    if (requeued.length > 0) options.onRequeued?.(requeued);
    const children = new Set<ChildProcess>();
    let respawnsLeft = options.maxRespawns ?? 2 * options.parallel;
    const progress = (): SearchCounts => {
      const counts = store.counts(options.searchId);
      const done = store.trials(options.searchId).filter((t) => t.status === 'done' && t.wallSeconds !== null);
      const mean = done.length === 0 ? NaN : done.reduce((sum, t) => sum + t.wallSeconds!, 0) / done.length;
      options.onProgress?.(formatProgress(counts, (performance.now() - started) / 1000, mean, options.parallel), counts);
      return counts;
    };
    let timer: NodeJS.Timeout | null = null;
    const stopChildren = (): void => {
      for (const child of children) child.kill('SIGTERM');
    };
    process.once('exit', stopChildren);
    try {
      await new Promise<void>((resolveAll, rejectAll) => {
        const spawn = (tag: number): void => {
          // The store's URL may hold a password: in the environment (EFFNET_DB), not argv, which `ps` shows to every user.
          const args = ['--search', String(options.searchId), '--threads', String(threads), '--tag', String(tag), '--run-dir', options.runDir];
          if (options.leaseMs !== undefined) args.push('--lease', String(options.leaseMs / 1000));
          if (options.device !== undefined) args.push('--device', options.device);
          const child = fork(WORKER_ENTRY, args, {
            env: { ...process.env, [DB_ENVIRONMENT]: options.db },
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          });
          workersStarted += 1;
          children.add(child);
          child.on('message', (message: WorkerMessage) => options.onEvent?.(message));
          child.on('exit', (code, signal) => {
            children.delete(child);
            try {
              if (code !== 0 && child.pid !== undefined) {
                store.failTrialsOfPid(options.searchId, child.pid, `the worker process (pid ${child.pid}) died with ${signal ?? `exit code ${code}`} while training this trial`);
                if (!searchFinished(store, search) && respawnsLeft > 0) {
                  respawnsLeft -= 1;
                  spawn(workersStarted);
                }
              }
            } catch (error) {
              rejectAll(error);
              return;
            }
            if (children.size === 0) resolveAll();
          });
        };
        const atStart = store.counts(options.searchId);
        const count = searchFinished(store, search) ? 0 : Math.min(options.parallel, Math.max(1, atStart.pending + atStart.running));
        if (count === 0) {
          resolveAll();
          return;
        }
        for (let i = 0; i < count; i += 1) spawn(i);
        timer = setInterval(() => {
          try {
            options.onPoll?.();
          } catch (error) {
            stopChildren();
            rejectAll(error);
            return;
          }
          try {
            progress();
          } catch {
            // a busy store during a progress poll is not fatal; the next poll retries
          }
        }, options.pollMs ?? 2000);
      });
    } finally {
      if (timer !== null) clearInterval(timer);
      process.removeListener('exit', stopChildren);
    }
    const counts = progress();
    return { counts, requeued, workersStarted };
  } finally {
    store.close();
  }
}
