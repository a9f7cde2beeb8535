/**
 * The worker process of a search (started by runSearch through child_process.fork): sets its engine thread count,
 * then claims pending trials from the store one at a time, trains each and records the result or the error, until
 * none is pending. Arguments: --db PATH --search ID --threads T [--tag N].
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setNumThreads } from '../torch/index.js';
import { openData, type ResolvedData } from '../data/spec.js';
import { trialSettingsFromSpec } from './definitions.js';
import { ExperimentStore, workerIdentity, type Json } from './store.js';
import { runTrial } from './trial.js';

/** Messages a worker sends to its coordinator. */
export type WorkerMessage =
  | { type: 'start'; trialId: number; label: string; worker: string }
  | { type: 'done'; trialId: number; label: string; valTop1: number; wallSeconds: number }
  | { type: 'failed'; trialId: number; label: string; error: string };

/** How often (at most) a training worker writes its heartbeat, ms. */
export const HEARTBEAT_INTERVAL_MS = 2000;

function send(message: WorkerMessage): void {
  if (process.send) process.send(message);
}

/** Runs the worker loop; returns the number of trials it took. */
export async function workerMain(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { db: { type: 'string' }, search: { type: 'string' }, threads: { type: 'string' }, tag: { type: 'string' } } });
  if (values.db === undefined || values.search === undefined) throw new Error('search worker: --db PATH and --search ID are required');
  const threads = Number(values.threads ?? 1);
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`search worker: --threads must be a positive integer, got ${values.threads}`);
  setNumThreads(threads);
  const store = ExperimentStore.open(values.db, { integrityCheck: false });
  const identity = workerIdentity(values.tag ?? 0);
  let taken = 0;
  try {
    const search = store.getSearch(Number(values.search));
    let data: ResolvedData | null = null;
    for (;;) {
      const trial = store.claimTrial(search.id, identity);
      if (trial === null) break;
      taken += 1;
      send({ type: 'start', trialId: trial.id, label: trial.label, worker: identity.name });
      let lastBeat = Date.now();
      const started = performance.now();
      try {
        data ??= await openData(String(search.spec.data));
        store.heartbeat(trial.id, identity);
        const runDir = join(String(search.spec.runDir), `trial-${String(trial.seq).padStart(3, '0')}-attempt${trial.attempts}`);
        const result = await runTrial(trial.config.config, data, trialSettingsFromSpec(search.spec, trial.config), runDir, {
          detail: `search '${search.name}', trial ${trial.seq} (${trial.label})`,
          onStep: () => {
            if (Date.now() - lastBeat >= HEARTBEAT_INTERVAL_MS) {
              lastBeat = Date.now();
              store.heartbeat(trial.id, identity);
            }
          },
          onEpoch: (metrics) => store.recordEpoch(trial.id, trial.attempts, metrics.epoch, metrics as unknown as { [key: string]: Json }),
        });
        store.finishTrial(trial.id, identity, result);
        send({ type: 'done', trialId: trial.id, label: trial.label, valTop1: result.valTop1, wallSeconds: result.wallSeconds });
      } catch (error) {
        const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        store.failTrial(trial.id, identity, message, { wallSeconds: (performance.now() - started) / 1000 });
        send({ type: 'failed', trialId: trial.id, label: trial.label, error: message });
      }
    }
  } finally {
    store.close();
  }
  return taken;
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
