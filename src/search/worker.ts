/**
 * The worker process of a search (started by runSearch through child_process.fork): sets its engine thread count,
 * then claims pending trials from the store one at a time, trains each and records the result or the error, until
 * none is pending. Arguments: --db PATH --search ID --threads T [--tag N] [--wait]. With --wait (an architecture
 * search, whose coordinator adds trials as results come in) it polls for new trials until the search's state says
 * `closed`, or its coordinator is gone (the IPC channel closed).
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setNumThreads } from '../torch/index.js';
import { openData, type ResolvedData } from '../data/spec.js';
import { trialSettingsFromSpec } from './definitions.js';
import { ExperimentStore, workerIdentity, type Json } from './store.js';
import { runTrial, trialCard } from './trial.js';
import { validateScaledConfig } from '../card/config-file.js';
import { measureLatency } from './nas/latency.js';

/** Messages a worker sends to its coordinator. */
export type WorkerMessage =
  | { type: 'start'; trialId: number; label: string; worker: string }
  | { type: 'done'; trialId: number; label: string; valTop1: number; wallSeconds: number }
  | { type: 'failed'; trialId: number; label: string; error: string };

/** How often a waiting worker looks for new trials, ms. */
export const WAIT_POLL_MS = 200;

/** How often (at most) a training worker writes its heartbeat, ms. */
export const HEARTBEAT_INTERVAL_MS = 2000;

function send(message: WorkerMessage): void {
  if (process.send) process.send(message);
}

/** Runs the worker loop; returns the number of trials it took. */
export async function workerMain(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { db: { type: 'string' }, search: { type: 'string' }, threads: { type: 'string' }, tag: { type: 'string' }, wait: { type: 'boolean' } } });
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
    let orphaned = false;
    process.once('disconnect', () => (orphaned = true));
    for (;;) {
      const trial = store.claimTrial(search.id, identity);
      if (trial === null) {
        if (!values.wait || orphaned || store.searchClosed(search.id)) break;
        await new Promise((resolveWait) => setTimeout(resolveWait, WAIT_POLL_MS));
        continue;
      }
      taken += 1;
      send({ type: 'start', trialId: trial.id, label: trial.label, worker: identity.name });
      let lastBeat = Date.now();
      const started = performance.now();
      try {
        data ??= await openData(String(search.spec.data));
        store.heartbeat(trial.id, identity);
        const runDir = join(String(search.spec.runDir), `trial-${String(trial.seq).padStart(3, '0')}-attempt${trial.attempts}`);
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
          onStep: () => {
            if (Date.now() - lastBeat >= HEARTBEAT_INTERVAL_MS) {
              lastBeat = Date.now();
              store.heartbeat(trial.id, identity);
            }
          },
          onEpoch: (metrics) => store.recordEpoch(trial.id, trial.attempts, metrics.epoch, metrics as unknown as { [key: string]: Json }),
        });
        const result = latencyMs === null ? trained : { ...trained, metrics: { ...trained.metrics, latencyMs } };
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
