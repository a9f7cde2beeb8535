/** Argument parsing shared by `effnet scale`, `effnet scale-search` and `effnet scaling-study`. */

/** A bad flag value: a user error (exit code 2). */
export { UsageError } from '../errors.js';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { numberFlag } from './options.js';
import { isPostgresUrl } from '../search/sql-driver.js';
import type { Json } from '../search/store.js';
import { checkTrialProgressive } from '../search/trial.js';

/** Parses a number with an optional k/M/G suffix ('400M', '1.8G', '2e9'). */
export function parseCount(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const match = /^\s*(\d+(?:\.\d+)?(?:e[+-]?\d+)?)\s*([kKmMgG]?)\s*$/.exec(text);
  if (!match) throw new UsageError(`--${flag} expects a positive number like 400M, 1.8G or 2e9, got '${text}'`);
  const scale = { '': 1, k: 1e3, K: 1e3, m: 1e6, M: 1e6, g: 1e9, G: 1e9 }[match[2]!]!;
  const value = Number(match[1]) * scale;
  if (!(value > 0)) throw new UsageError(`--${flag} must be > 0, got '${text}'`);
  return value;
}

/** Parses '2,4,8' into numbers > 0. */
export function parseFactors(text: string): number[] {
  const factors = text.split(',').map((s) => Number(s.trim()));
  if (factors.length === 0 || factors.some((f) => !(Number.isFinite(f) && f > 0))) throw new UsageError(`--factors expects numbers > 0 separated by commas, e.g. 2,4,8; got '${text}'`);
  return factors;
}

/** Parses a --recipe JSON object of recipe fields (the Trainer's Recipe fields except epochs, plus dropPath). */
export function parseRecipe(text: string | undefined): { [key: string]: Json } {
  if (text === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError(`--recipe expects a JSON object of recipe fields, e.g. '{"lr":0.001,"optimizer":"adamw"}', got '${text}'`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`--recipe expects a JSON object, got '${text}'`);
  const allowed = ['optimizer', 'lrPer256', 'lr', 'schedule', 'warmupEpochs', 'warmupLr', 'decayEpochs', 'decayRate', 'weightDecay', 'labelSmoothing', 'emaDecay', 'dropPath', 'progressive'];
  for (const key of Object.keys(value)) if (!allowed.includes(key)) throw new UsageError(`--recipe: unknown field '${key}'; allowed: ${allowed.join(', ')} (epochs come from --budget)`);
  const dropPath = (value as { dropPath?: unknown }).dropPath;
  if (dropPath !== undefined && !(typeof dropPath === 'number' && dropPath >= 0 && dropPath < 1)) {
    throw new UsageError(`--recipe: dropPath is the largest stochastic-depth rate, a number in [0, 1) (0 disables it), got ${JSON.stringify(dropPath)}`);
  }
  const progressive = (value as { progressive?: unknown }).progressive;
  if (progressive != null) checkTrialProgressive(progressive, '--recipe');
  return value as { [key: string]: Json };
}

/** What a search's name may be: it names a folder (its trials' run directories, its report), so nothing that leaves it. */
const SEARCH_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/**
 * Checks a search name (`--name`, or a name read back from a store): letters, digits, '.', '_' and '-', starting
 * with a letter or digit, at most 100 characters. `--name ../../X` wrote reports and trial folders outside the
 * store's folder.
 * @throws UsageError naming the rule
 */
export function checkSearchName(name: string, where = '--name'): string {
  if (!SEARCH_NAME.test(name) || name.includes('..')) {
    throw new UsageError(`${where} ${JSON.stringify(name)} is not a search name: use letters, digits, '.', '_' and '-' (starting with a letter or digit, no '..', at most 100 characters); it names the folder of the search's runs`);
  }
  return name;
}

/**
 * Where a search command keeps its store and its trials' run directories: `--db` as a PostgreSQL URL (kept as it is;
 * run directories under ./runs/NAME) or an SQLite path (resolved; run directories beside it, in NAME/).
 */
export function resolveStoreLocation(db: string | undefined, defaultPath: string, name: string): { db: string; runDir: string } {
  checkSearchName(name);
  const location = resolveStorePath(db, defaultPath);
  return { db: location, runDir: isPostgresUrl(location) ? resolve('runs', name) : join(dirname(location), name) };
}

/** A `--db` value as the store opens it: a PostgreSQL URL as it is, an SQLite path resolved (`defaultPath` when absent). */
export function resolveStorePath(db: string | undefined, defaultPath: string): string {
  return db !== undefined && isPostgresUrl(db) ? db : resolve(db ?? defaultPath);
}

/** Parses `--lease S` (seconds a claim or heartbeat holds a trial) into ms, or undefined when absent. */
export function parseLeaseFlag(text: string | undefined): number | undefined {
  const seconds = numberFlag('lease', text);
  if (seconds !== undefined && !(seconds >= 1)) throw new UsageError(`--lease expects seconds ≥ 1, got '${text}' (a lease shorter than a heartbeat's round trip would expire under a live worker)`);
  return seconds === undefined ? undefined : seconds * 1000;
}
