/**
 * Comparing a stored search's spec with the one a command would store: equal when they hold the same values (the
 * order of an object's keys does not matter: a spec written by another version, or edited by hand, resumes), and
 * otherwise the fields that differ, named, so that "other settings" says which option to give again.
 */
import type { Json } from './store.js';

/** `value` as JSON with every object's keys sorted: equal strings for equal values, whatever the key order. */
export function canonicalJson(value: Json | undefined): string {
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).filter((k) => value[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Whether two specs hold the same values (key order aside). */
export function sameSpec(a: { [key: string]: Json }, b: { [key: string]: Json }): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/** Longest rendering of one value in {@link specDifferences}' lines. */
const MAX_VALUE_CHARS = 160;

function shown(value: Json | undefined): string {
  if (value === undefined) return 'absent';
  const text = JSON.stringify(value);
  return text.length <= MAX_VALUE_CHARS ? text : `${text.slice(0, MAX_VALUE_CHARS - 1)}…`;
}

/**
 * The top-level fields in which `stored` and `given` differ, one line each in key order of `stored` then of the
 * fields only `given` has: `name: stored X, given Y` ('absent' for a missing field, long values cut short).
 */
export function specDifferences(stored: { [key: string]: Json }, given: { [key: string]: Json }): string[] {
  const keys = [...Object.keys(stored), ...Object.keys(given).filter((k) => !(k in stored))];
  return keys
    .filter((k) => canonicalJson(stored[k]) !== canonicalJson(given[k]))
    .map((k) => `${k}: stored ${shown(stored[k])}, given ${shown(given[k])}`);
}
