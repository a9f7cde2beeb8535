/**
 * `effnet search-worker`: joins a running scale search, scaling study or architecture search from any host that
 * reaches its store (a PostgreSQL URL; an SQLite path works on the coordinator's own host), claims trials under a
 * lease renewed by heartbeats, trains them and records the results, until the search is finished. The coordinator
 * (`effnet scale-search`, `effnet nas`, ...) keeps defining trials and writes the report; any number of these
 * workers may come and go. A worker killed mid-trial loses nothing but that trial's progress: when its lease runs
 * out, another worker takes the trial over, and a late result of the killed attempt is refused. Ctrl-C (or SIGTERM)
 * gives the trial in hand back to the queue at once, after the current step, and exits 130 (143).
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { UsageError, checkSearchName, parseLeaseFlag, resolveStoreLocation, resolveStorePath } from '../search-options.js';
import { DEFAULT_LEASE_MS, ExperimentStore, workerIdentity, type SearchRow } from '../../search/store.js';
import { DB_ENVIRONMENT, runWorker, searchFinished } from '../../search/worker.js';
import { deviceForWorker, setNumThreads } from '../../torch/index.js';
import { resolveData } from '../../data/spec.js';
import { SIGNAL_EXIT, threadCountFlag } from '../options.js';

/** One line for `effnet --help`. */
export const summary = "join a running search's workers from any host (PostgreSQL store): claim, train and record trials";

const USAGE = `usage: effnet search-worker --db URL|PATH [--search NAME] [--threads T] [--lease S] [--data SPEC] [--run-dir DIR] [--device D]

Joins a search that a coordinator (effnet scale-search, scaling-study or nas, started with the same --db) runs, and
trains its trials until the search is finished. Start as many as you like, on any host that reaches the database.

  --db URL|PATH        the search's store: postgres://user[:password]@host:port/database (or the coordinator's SQLite
                       file, on its own host); default EFFNET_DB from the environment, which keeps a password off
                       the command line (better still: PGPASSWORD or ~/.pgpass, read by the client)
  --search NAME        which search (default: the only unfinished one in the store)
  --threads T          libtorch threads (default: this host's cores, ${availableParallelism()} here)
  --lease S            seconds this worker holds a trial without a heartbeat before another may take it over
                       (default ${DEFAULT_LEASE_MS / 1000}); heartbeats are sent every min(2 s, S/4) while training
  --data SPEC          the search's data as this host sees it (default: the search's own --data, which must then be
                       readable here at the same path); it must be the same images
  --run-dir DIR        where this worker's trial directories go (default: beside an SQLite store in NAME/, else
                       ./runs/NAME on this host; never a path read from the store)
  --device D           auto (default: this host's CUDA devices, shared round-robin by --tag, when the linked libtorch
                       has CUDA; else the CPU), cpu, cuda or cuda:N
  --tag N              a label that tells several workers of one process apart in the store (default 0)
  --quiet              no per-trial lines
`;

/** The search to join: the named one, or the only one that is not finished. */
function chooseSearch(store: ExperimentStore, name: string | undefined): SearchRow {
  if (name !== undefined) {
    const search = store.findSearch(name);
    if (search === null) throw new UsageError(`no search named '${name}' in ${store.location}; searches there: ${store.listSearches().map((s) => s.name).join(', ') || 'none'}`);
    return search;
  }
  const all = store.listSearches();
  if (all.length === 0) throw new UsageError(`${store.location} holds no search yet; start one with effnet scale-search or effnet nas --db and the same URL, then start the workers`);
  const open = all.filter((s) => !searchFinished(store, s));
  if (open.length === 1) return open[0]!;
  if (open.length === 0) throw new UsageError(`every search in ${store.location} is finished (${all.map((s) => s.name).join(', ')}); nothing to join`);
  throw new UsageError(`${store.location} holds ${open.length} unfinished searches (${open.map((s) => s.name).join(', ')}); say which with --search NAME`);
}

/** Runs the command; returns the exit code (user errors are thrown: exit 2 from main). */
export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      db: { type: 'string' }, search: { type: 'string' }, threads: { type: 'string' }, lease: { type: 'string' }, data: { type: 'string' },
      'run-dir': { type: 'string' }, tag: { type: 'string' }, device: { type: 'string' }, quiet: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const dbValue = values.db ?? process.env[DB_ENVIRONMENT];
  if (dbValue === undefined || dbValue === '') throw new UsageError(`--db (or ${DB_ENVIRONMENT} in the environment) is required: the PostgreSQL URL (or SQLite path) the search was started with`);
  const db = resolveStorePath(dbValue, dbValue);
  const threads = threadCountFlag('threads', values.threads, 1) ?? availableParallelism();
  const leaseMs = parseLeaseFlag(values.lease) ?? DEFAULT_LEASE_MS;
  const store = ExperimentStore.open(db);
  let search: SearchRow;
  try {
    search = chooseSearch(store, values.search);
  } finally {
    store.close();
  }
  if (values.data !== undefined) {
    // Opens the spec without decoding images: a path that is not there, or data of other classes, fails here.
    const classes = resolveData(values.data).classes.length;
    if (typeof search.spec.numClasses === 'number' && classes !== search.spec.numClasses) {
      throw new UsageError(`--data ${values.data} has ${classes} classes but search '${search.name}' trains on ${search.spec.numClasses} (its --data is ${String(search.spec.data)}); give this worker the same images`);
    }
  }
  setNumThreads(threads);
  const identity = workerIdentity(values.tag ?? 0);
  const device = deviceForWorker(values.device ?? 'auto', Number(values.tag ?? 0) || 0);
  const out = (line: string): void => {
    if (!values.quiet) process.stderr.write(line + '\n');
  };
  out(`joined ${search.kind} search '${search.name}' in ${store.location} as ${identity.name} (${device}, ${threads} thread(s), lease ${leaseMs / 1000} s)`);
  // Ctrl-C / SIGTERM: give the trial in hand back to the queue after the current step and leave (a second signal
  // leaves at once; the trial is then taken over when its lease runs out).
  let signalled: NodeJS.Signals | null = null;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled !== null) process.exit(SIGNAL_EXIT[signal] ?? 1);
    signalled = signal;
    out(`effnet search-worker: ${signal} received; giving the trial in hand back after the current step (send it again to quit at once)`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const taken = await runWorker({
    db,
    search,
    identity,
    leaseMs,
    device,
    ...(values.data === undefined ? {} : { data: values.data }),
    runDir: values['run-dir'] === undefined ? resolveStoreLocation(db, db, checkSearchName(search.name, `the store's search name`)).runDir : resolve(values['run-dir']),
    shouldStop: () => signalled !== null,
    shouldRelease: () => signalled !== null,
    onEvent: (m) => {
      if (m.type === 'start') out(`  trial ${m.label}: started (attempt ${m.attempt})`);
      else if (m.type === 'done') out(`  trial ${m.label}: val top-1 ${(m.valTop1 * 100).toFixed(2)}% in ${m.wallSeconds.toFixed(1)}s`);
      else if (m.type === 'failed') out(`  trial ${m.label} FAILED: ${m.error}`);
      else if (m.type === 'released') out(`  trial ${m.label}: given back to the queue`);
      else out(`  trial ${m.label}: given up, ${m.reason}`);
    },
  });
  const code = signalled === null ? 0 : (SIGNAL_EXIT[signalled] ?? 1);
  out(signalled === null ? `search '${search.name}' is finished; this worker trained ${taken} trial(s)` : `stopped by ${signalled} after ${taken} trial(s)`);
  // Loader worker threads or libtorch threads must not keep a finished worker alive.
  setImmediate(() => process.exit(code));
  return code;
}

/** The usage text (main.ts reads its flags to suggest the nearest one for a mistyped flag). */
export { USAGE as usage };
