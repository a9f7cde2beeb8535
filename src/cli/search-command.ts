/**
 * The shared body of `effnet scale-search` and `effnet scaling-study`: resolve the base and data, define the search,
 * create it in the store or resume it (same name and settings), run the workers with progress, write the report.
 */
import { resolveBase, type ScaledConfigJson } from '../card/config-file.js';
import { resolveData } from '../data/spec.js';
import type { CommonSearchOptions, SearchDefinition } from '../search/definitions.js';
import { resolveThreads, runSearch } from '../search/runner.js';
import { writeReport } from '../search/report.js';
import { curveFromEpochMetrics } from '../search/curves.js';
import { DEFAULT_LEASE_MS, ExperimentStore } from '../search/store.js';
import { isPostgresUrl } from '../search/sql-driver.js';
import { existsSync } from 'node:fs';
import { UsageError, parseLeaseFlag, parseRecipe, resolveStoreLocation } from './search-options.js';
import { intFlag, threadCountFlag } from './options.js';
import { DEFAULT_TRIAL_BATCH_SIZE } from '../search/trial.js';
import { resolveDevice } from '../torch/index.js';

/** Options every search command has, as parseArgs gives them. */
export interface SearchCommandValues {
  base?: string;
  data?: string;
  budget?: string;
  parallel?: string;
  threads?: string;
  db?: string;
  lease?: string;
  device?: string;
  name?: string;
  'batch-size'?: string;
  seed?: string;
  repeats?: string;
  recipe?: string;
  'loader-workers'?: string;
  'resolution-multiple'?: string;
  'report-dir'?: string;
  'dry-run'?: boolean;
  'report-only'?: boolean;
  'retry-failed'?: boolean;
  'eval-every-epoch'?: boolean;
  quiet?: boolean;
}

/** parseArgs option declarations of {@link SearchCommandValues}. */
export const SEARCH_COMMAND_OPTIONS = {
  base: { type: 'string' }, data: { type: 'string' }, budget: { type: 'string' }, parallel: { type: 'string' }, threads: { type: 'string' },
  db: { type: 'string' }, lease: { type: 'string' }, device: { type: 'string' }, name: { type: 'string' }, 'batch-size': { type: 'string' }, seed: { type: 'string' }, repeats: { type: 'string' }, recipe: { type: 'string' },
  'loader-workers': { type: 'string' }, 'resolution-multiple': { type: 'string' }, 'report-dir': { type: 'string' },
  'dry-run': { type: 'boolean' }, 'report-only': { type: 'boolean' }, 'retry-failed': { type: 'boolean' }, 'eval-every-epoch': { type: 'boolean' }, quiet: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
} as const;

/** Help lines of the options every search command shares for its store and its workers (`--db`, `--lease`, `--device`). */
export function storeHelp(defaultDb: string): string {
  return `  --db PATH|URL        the experiment store: an SQLite file (default ${defaultDb}) or a PostgreSQL database
                       (postgres://user:password@host:port/db) that workers on other hosts join with effnet
                       search-worker; the search resumes from it
  --lease S            seconds a worker holds a trial without a heartbeat before another may take it over (default ${DEFAULT_LEASE_MS / 1000})
  --device D           where the workers train: auto (default: the CUDA devices, shared round-robin, when the linked
                       libtorch has CUDA; else the CPU), cpu, cuda or cuda:N
`;
}

/** Help text of the shared options. */
export const SEARCH_COMMAND_HELP = `  --base B             b0..b8, l2, v2-s/m/l/xl, lite0..4, v2-b0..b3, 'width=W,depth=D,resolution=R[,dropout=P]' or a .json configuration file
  --data SPEC          as effnet train's: fashion-mnist[:DIR] | an image folder | a .tar/.tar.gz | a CIFAR binary
                       folder, each [,val=N|F][,train=N][,seed=S][,cache=memory|none] (tar:PATH and folder:PATH
                       default to val=5000,cache=memory) | synthetic:train=N,val=N,classes=C,size=S[,seed=S]
  --budget B           per trial: whole epochs (2ep), minutes (10min), optimizer steps (20steps), or until converged
                       (converge[:MAX], default cap 100 epochs: the hold-out is scored every epoch; once its best
                       gained < 0.3 points over the last fifth of its epochs, at least 4 (after >= 10), the learning
                       rate anneals to 0 over a fifth more epochs, then the trial stops)
  --parallel P         worker processes (default 1); --threads T engine threads each (default cores / P; P x T <= cores)
${storeHelp('runs/scale.sqlite')}  --name NAME          search name inside the store (default: the command's kind)
  --batch-size N       training batch size (default 32); --seed S (default 0)
  --repeats K          train each configuration K times, seeds S..S+K-1 (default 1); reports rank by the mean
  --recipe JSON        recipe fields over the default {"optimizer":"sgd","lr":0.1,"schedule":"cosine","warmupEpochs":0.2,
                       "weightDecay":1e-5,"labelSmoothing":0.1,"emaDecay":null,"dropPath":0}; with an epoch budget,
                       "progressive":{"stages":4,"startFraction":0.67,"dropout":0} grows each trial's image size from
                       that fraction of its resolution (src/train/progressive.ts)
  --eval-every-epoch   validate after every epoch (per-epoch curves) instead of once at the end of each trial
  --loader-workers N   data-loader threads per worker (default 0)
  --resolution-multiple M  resolution rounding of scaled configurations (default 1 pixel)
  --report-dir DIR     where report.md (and the SVG chart) go (default <db folder>/<name>)
  --dry-run            define (or load) the search and print its trials without training
  --report-only        write the report of search --name in --db as the store holds it now (finished trials so far)
                       and exit; reads no other flag (the settings are stored); safe while the search runs elsewhere
  --retry-failed       put failed trials back in the queue before running
  --quiet              no progress lines
`;

/** Errors a search command prints as a plain message with exit code 2: every UserError (src/errors.ts). */
export { isUserError } from '../errors.js';

/**
 * Runs a search command: `define` builds the definition from the common options.
 * @returns the exit code (0 when every trial finished, 1 when some failed)
 */
export async function executeSearchCommand(
  kind: 'grid' | 'study',
  values: SearchCommandValues,
  define: (common: CommonSearchOptions) => SearchDefinition,
  out: (line: string) => void = (line) => process.stderr.write(line + '\n'),
): Promise<number> {
  if (values['report-only']) return reportOnly(kind, values, out);
  if (values.base === undefined) throw new UsageError('--base is required (b0, a spec like width=0.25,depth=0.25,resolution=32, or a .json file)');
  if (values.data === undefined) throw new UsageError('--data is required, e.g. tar:/work/shared/data/cifar10-train.tar.gz,val=5000');
  if (values.budget === undefined) throw new UsageError("--budget is required: epochs ('2ep'), minutes ('10min'), steps ('20steps') or 'converge[:MAX]' per trial");
  const parallel = threadCountFlag('parallel', values.parallel, 1) ?? 1;
  const threads = resolveThreads(parallel, threadCountFlag('threads', values.threads, 1));
  const base: ScaledConfigJson = resolveBase(values.base);
  const name = values.name ?? kind;
  const { db, runDir } = resolveStoreLocation(values.db, 'runs/scale.sqlite', name);
  const leaseMs = parseLeaseFlag(values.lease);
  if (values.device !== undefined) resolveDevice(values.device); // a bad or unavailable device fails here, not in each worker
  const numClasses = resolveData(values.data).classes.length; // opens the data (no decoding): a bad spec fails here, not in a worker
  const definition = define({
    base,
    data: values.data,
    numClasses,
    budget: values.budget,
    batchSize: intFlag('batch-size', values['batch-size'], 1) ?? DEFAULT_TRIAL_BATCH_SIZE,
    seed: intFlag('seed', values.seed, 0) ?? 0,
    repeats: intFlag('repeats', values.repeats, 1) ?? 1,
    loaderWorkers: threadCountFlag('loader-workers', values['loader-workers'], 0) ?? 0,
    recipe: parseRecipe(values.recipe),
    resolutionMultiple: intFlag('resolution-multiple', values['resolution-multiple'], 1) ?? 1,
    runDir,
    evalEveryEpoch: values['eval-every-epoch'] ?? false,
  });
  const store = ExperimentStore.open(db);
  let searchId: number;
  try {
    const { search, created } = store.createOrResumeSearch(name, definition.kind, definition.spec, definition.trials);
    searchId = search.id;
    if (values['retry-failed']) out(`re-queued ${store.retryFailed(search.id)} failed trials`);
    const counts = store.counts(search.id);
    out(`${created ? 'created' : 'resuming'} ${kind} search '${name}' in ${store.location}: ${counts.total} trials (${counts.done} done, ${counts.failed} failed, ${counts.pending + counts.running} to run); ${parallel} worker(s) x ${threads} thread(s)`);
    if (values['dry-run']) {
      for (const t of store.trials(search.id)) {
        const c = t.config.config as unknown as ScaledConfigJson;
        const aliases = Array.isArray(t.config.aliases) ? t.config.aliases.map((a) => String((a as { label?: string }).label)) : [];
        out(
          `  #${t.seq} ${t.label.padEnd(22)} width ${c.width.toFixed(4)} depth ${c.depth.toFixed(4)} ${c.resolution}px  ${String(t.config.params)} params  ${String(t.config.macs)} MACs  [${t.status}]` +
            (aliases.length === 0 ? '' : `  (the same network as ${aliases.join(', ')})`),
        );
      }
      return 0;
    }
  } finally {
    store.close();
  }
  const result = await runSearch({
    db,
    runDir,
    searchId,
    ...(leaseMs === undefined ? {} : { leaseMs }),
    ...(values.device === undefined ? {} : { device: values.device }),
    parallel,
    threads,
    pollMs: 5000,
    onRequeued: (trials) => out(`re-queued ${trials.length} trial(s) left running by an interrupted run: ${trials.map((t) => t.label).join(', ')}`),
    ...(values.quiet ? {} : { onProgress: (line: string) => out(line) }),
    onEvent: (m) => {
      if (values.quiet) return;
      if (m.type === 'done') out(`  trial ${m.label}: val top-1 ${(m.valTop1 * 100).toFixed(2)}% in ${m.wallSeconds.toFixed(1)}s`);
      else if (m.type === 'failed') out(`  trial ${m.label} FAILED: ${m.error}`);
    },
  });
  writeSearchReport(db, searchId, values['report-dir'] ?? runDir, out);
  return result.counts.failed > 0 ? 1 : 0;
}

/**
 * `--report-only`: the report of the stored search `--name` (default the command's kind) in `--db`, as the store
 * holds it now. Only those two flags (and --report-dir) are read: the search's own settings are in the store, so an
 * interim report of a long run needs no copy of its command line.
 */
function reportOnly(kind: 'grid' | 'study', values: SearchCommandValues, out: (line: string) => void): number {
  const name = values.name ?? kind;
  const { db, runDir } = resolveStoreLocation(values.db, 'runs/scale.sqlite', name);
  // Opening a missing SQLite file would create an empty store: say what is missing instead.
  if (!isPostgresUrl(db) && !existsSync(db)) throw new UsageError(`--report-only: there is no store at ${db}; give the --db the search ran with`);
  const store = ExperimentStore.open(db, { integrityCheck: false });
  let searchId: number;
  try {
    const search = store.findSearch(name);
    if (search === null) throw new UsageError(`--report-only: ${store.location} holds no search named '${name}'; run the search first (or name it with --name)`);
    if (search.kind !== kind) throw new UsageError(`--report-only: search '${name}' in ${store.location} is a ${search.kind} search, not a ${kind} search; use the command that ran it`);
    searchId = search.id;
    const counts = store.counts(search.id);
    out(`${kind} search '${name}' in ${store.location}: ${counts.done} of ${counts.total} trials done, ${counts.running} running, ${counts.failed} failed`);
  } finally {
    store.close();
  }
  writeSearchReport(db, searchId, values['report-dir'] ?? runDir, out);
  return 0;
}

/** Writes the report of search `searchId` from the store at `db` into `dir` and prints where it went. */
function writeSearchReport(db: string, searchId: number, dir: string, out: (line: string) => void): void {
  const reportStore = ExperimentStore.open(db, { integrityCheck: false });
  try {
    const search = reportStore.getSearch(searchId);
    const trials = reportStore.trials(searchId);
    const curves = new Map(trials.filter((t) => t.status === 'done').map((t) => [t.id, curveFromEpochMetrics(reportStore.epochMetrics(t.id))]));
    const files = writeReport(dir, search, trials, curves);
    out(`report: ${files.join(', ')}`);
  } finally {
    reportStore.close();
  }
}
