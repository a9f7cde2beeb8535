/**
 * What the benchmarks against PyTorch share (bench/engine, bench/model, bench/infer): option parsing with --help
 * and integer checks, the median, the machine's load average, and running a Python reference script that prints
 * one JSON object as its last stdout line.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Debian's Python, which has python3-torch (the same libtorch 1.13 as the binding) and torchvision. */
export const PYTHON = '/usr/bin/python3';

/**
 * glibc malloc settings under which PyTorch's Python process keeps large activation blocks instead of unmapping and
 * re-mapping them every step (~15% of a training step here); the references also run with them, PyTorch at its best.
 */
export const TUNED_MALLOC: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: '4294967296', MALLOC_TRIM_THRESHOLD_: '4294967296' };

/**
 * The path of a file that stays in the source tree beside a compiled bench (a .py reference): `importMetaUrl` is the
 * compiled bench's `import.meta.url` (dist/bench/<name>/x.js), the result bench/<name>/<file>.
 */
export function benchSource(importMetaUrl: string, file: string): string {
  const here = dirname(fileURLToPath(importMetaUrl));
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..'); // dist/bench -> repository root
  return join(root, relative(join(root, 'dist'), here), file);
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Runs `parse`; on an error prints it with `usage` and exits 2. */
function parseOrExit<T>(bench: string, usage: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    process.stderr.write(`${bench}: ${error instanceof Error ? error.message : String(error)}\n${usage}\n`);
    process.exit(2);
  }
}

/** The parsed values of a bench's options (each option has a default, so every value is present). */
export type BenchValues<O extends Options> = { -readonly [K in keyof O]: O[K]['type'] extends 'boolean' ? boolean : string };

/**
 * Parses a bench's command line (strict, no positionals; give every option a default) with `--help`/`-h` added:
 * help prints `usage` and exits 0, an unknown or malformed option prints the error and `usage` and exits 2.
 */
export function parseBenchArgs<const O extends Options>(bench: string, usage: string, options: O): BenchValues<O> {
  const { values } = parseOrExit(bench, usage, () =>
    parseArgs({ args: process.argv.slice(2), options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false }),
  );
  if ((values as { help?: boolean }).help === true) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  return values as unknown as BenchValues<O>;
}

/**
 * Reads integer options: each of `names` (option names as given on the command line) must be an integer ≥ 1, or
 * ≥ `minimum[name]` where given (e.g. `{ warmup: 0 }`). Throws naming the option.
 */
export function integerOptions<K extends string>(bench: string, values: { [key in K]?: unknown }, names: readonly K[], minimum: Partial<Record<K, number>> = {}): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const name of names) {
    const raw = values[name];
    const value = Number(raw);
    const min = minimum[name] ?? 1;
    if (typeof raw !== 'string' || raw.trim() === '' || !Number.isInteger(value) || value < min) {
      throw new Error(`${bench}: --${name} must be an integer >= ${min}, got '${String(raw)}'`);
    }
    out[name] = value;
  }
  return out;
}

/** Splits a comma-separated option and checks every item against `allowed`. */
export function listOption<T extends string>(bench: string, name: string, text: string, allowed: readonly T[]): T[] {
  const items = text.split(',').map((s) => s.trim());
  for (const item of items) {
    if (!allowed.includes(item as T)) throw new Error(`${bench}: unknown --${name} '${item}'; use ${allowed.join(', ')}`);
  }
  return items as T[];
}

/** The median of a non-empty list. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median of an empty list');
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The 1-, 5- and 15-minute load averages ('0.52 0.61 0.70'), or '?' without /proc. */
export function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return '?';
  }
}

/** Options of {@link runPython}. */
export interface PythonRunOptions {
  /** Engine threads: OMP_NUM_THREADS of the child (the script sets torch's thread count itself). */
  threads: number;
  /** Extra environment variables (e.g. {@link TUNED_MALLOC}). */
  env?: Readonly<Record<string, string>>;
  /** What the script needs, added to a failure message (e.g. "Debian's python3-torch and python3-torchvision"). */
  needs: string;
  /** Largest stdout + stderr, bytes (default 16 MiB). */
  maxBuffer?: number;
}

/**
 * Runs `/usr/bin/python3 script ...args` and parses the JSON object on its last stdout line. Throws, with the
 * command, the exit status, the end of stderr and what the script needs, when it fails.
 */
export function runPython<T>(bench: string, script: string, args: readonly string[], options: PythonRunOptions): T {
  const run = spawnSync(PYTHON, [script, ...args], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: String(options.threads), ...options.env },
    maxBuffer: options.maxBuffer ?? 1 << 24,
  });
  if (run.error || run.status !== 0) {
    throw new Error(`${bench}: ${PYTHON} ${script} ${args.join(' ')} failed (${run.error?.message ?? `exit ${run.status}`}): ${(run.stderr ?? '').slice(-2000)}; it needs ${options.needs}`);
  }
  const last = run.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(last) as T;
  } catch {
    throw new Error(`${bench}: ${PYTHON} ${script} printed no JSON object on its last line (got '${last.slice(0, 200)}')`);
  }
}
