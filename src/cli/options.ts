/** Parsing helpers shared by `effnet` commands: numbers from flag text with messages that name the flag. */

/** A bad flag value: a user error (exit code 2). */
export { UsageError } from '../errors.js';
import { availableParallelism } from 'node:os';
import { UsageError } from '../errors.js';

/** An integer flag >= min (default 1), or undefined when absent. */
export function intFlag(name: string, text: string | undefined, min = 1): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isInteger(value) || value < min) throw new UsageError(`--${name} must be an integer >= ${min}, got '${text}'`);
  return value;
}

/** How many engine threads or loader workers per logical core a flag may ask for before it is refused. */
export const MAX_PER_CORE = 4;

/**
 * An integer flag >= min that starts threads (--threads, --workers): refused above {@link MAX_PER_CORE} x this
 * machine's logical cores, naming the count (`--threads 1000` started 1000 engine threads on 2 cores, `--workers
 * 1000` took 4 GB), or undefined when absent.
 */
export function threadCountFlag(name: string, text: string | undefined, min: number, cores = availableParallelism()): number | undefined {
  const value = intFlag(name, text, min);
  if (value !== undefined && value > MAX_PER_CORE * cores) {
    throw new UsageError(`--${name} ${value} asks for more than ${MAX_PER_CORE}x this machine's ${cores} cores; use at most ${cores} (threads beyond the cores only slow the work down)`);
  }
  return value;
}

/** A finite number flag in [min, max] (max exclusive when `openMax`; no bound by default), or undefined when absent. */
export function numberFlag(name: string, text: string | undefined, min = -Infinity, max = Infinity, openMax = false): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  const tooBig = openMax ? value >= max : value > max;
  if (text.trim() === '' || !Number.isFinite(value) || value < min || tooBig) {
    const range = max !== Infinity ? ` in [${min}, ${max}${openMax ? ')' : ']'}` : min !== -Infinity ? ` >= ${min}` : '';
    throw new UsageError(`--${name} must be a number${range}, got '${text}'`);
  }
  return value;
}

/**
 * Refuses a flag that was renamed (declared in the command's parseArgs options only to be caught here), naming the
 * new one: `--resolution` became `--image-size`, the one name of a network's input size in every command.
 */
export function renamedFlag(values: Record<string, unknown>, old: string, now: string, why: string): void {
  if (values[old] !== undefined) throw new UsageError(`--${old} was renamed --${now} (${why})`);
}

/** A flag that must be one of `choices`, or undefined when absent. */
export function choiceFlag<T extends string>(name: string, text: string | undefined, choices: readonly T[]): T | undefined {
  if (text === undefined) return undefined;
  if (!(choices as readonly string[]).includes(text)) throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got '${text}'`);
  return text as T;
}

/** Parses `--strides S1,...,Sn`: comma-separated stage strides, each 1 or 2 (the count is checked against the stages later). */
export function parseStrides(text: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  const strides = parts.map(Number);
  const bad = parts.findIndex((part, i) => part === '' || (strides[i] !== 1 && strides[i] !== 2));
  if (bad >= 0) {
    throw new UsageError(`--strides takes one stride per stage, each 1 or 2, e.g. 1,1,1,2,1,2,1 (after the stride-2 stem); got '${parts[bad]}' in '${text}'`);
  }
  return strides;
}

/** The exit code of a command stopped by a signal after it cleaned up (128 + the signal's number, as shells report). */
export const SIGNAL_EXIT: Readonly<Record<string, number>> = { SIGINT: 130, SIGTERM: 143 };

/** Edit distance (insertions, deletions, substitutions and adjacent transpositions) between two short strings. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The known flag nearest to a mistyped one, from the flags a usage text names (`--epochs`, ...): the only flag it is
 * a prefix of, else the closest within an edit distance of 2 (and less than half its length); null when none is close.
 * @example nearestFlag('--epoch', usage) === '--epochs'
 */
export function nearestFlag(flag: string, usage: string): string | null {
  const known = [...new Set(usage.match(/--[a-z][a-z0-9-]*/g) ?? [])];
  if (known.includes(flag)) return null;
  const prefixed = known.filter((k) => k.startsWith(flag));
  if (prefixed.length === 1) return prefixed[0]!;
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(flag.slice(2), candidate.slice(2));
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best !== null && bestDistance <= 2 && bestDistance < (flag.length - 2) / 2 ? best : null;
}

/**
 * An argument parser's message with the nearest known flag suggested for an unknown one ("Unknown option '--epoch'
 * (did you mean --epochs?)"); other messages as they are.
 */
export function withFlagHint(message: string, usage: string | undefined): string {
  const unknown = /^Unknown option '(--[^']+)'/.exec(message);
  if (unknown === null || usage === undefined) return message;
  const nearest = nearestFlag(unknown[1]!.split('=')[0]!, usage);
  return nearest === null ? message : `${message} (did you mean ${nearest}?)`;
}
