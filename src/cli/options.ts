/** Parsing helpers shared by `effnet` commands: numbers from flag text with messages that name the flag. */

/** A bad flag value: a user error (exit code 2). */
export { UsageError } from '../errors.js';
import { availableParallelism } from 'node:os';
import { UsageError } from '../errors.js';

/** An integer flag >= min, or undefined when absent. */
export function intFlag(name: string, text: string | undefined, min: number): number | undefined {
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

/** A finite number flag in [min, max] (max exclusive when `openMax`), or undefined when absent. */
export function numberFlag(name: string, text: string | undefined, min: number, max = Infinity, openMax = false): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  const tooBig = openMax ? value >= max : value > max;
  if (text.trim() === '' || !Number.isFinite(value) || value < min || tooBig) {
    const range = max === Infinity ? `>= ${min}` : `in [${min}, ${max}${openMax ? ')' : ']'}`;
    throw new UsageError(`--${name} must be a number ${range}, got '${text}'`);
  }
  return value;
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
