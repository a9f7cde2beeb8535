/**
 * The one thing the experiment store needs from a database: run a statement with positional `?` parameters, read
 * rows, group statements in a transaction, and say how its dialect writes the few things SQL does not standardise
 * (an auto-numbered key, the current time in milliseconds, skipping rows another transaction has locked). SQLite
 * (embedded, one host) and PostgreSQL (many hosts) implement it; the store's SQL is written once over it.
 *
 * The interface is synchronous because better-sqlite3, the embedded default, is (a query on a local file is
 * microseconds; promises would cost more than the work). The PostgreSQL driver keeps this shape by running its client
 * on a worker thread and waiting for each answer (src/search/postgres-driver.ts).
 */
import { UserError } from '../errors.js';

/** A value bound to a `?` parameter. */
export type SqlValue = string | number | null;

/** What the store's SQL needs spelled per database. */
export interface SqlDialect {
  /** 'sqlite' or 'postgres'. */
  readonly name: 'sqlite' | 'postgres';
  /** Column definition of an auto-numbered integer primary key. */
  readonly autoKey: string;
  /** An expression for the database's current time in ms since the epoch (an integer). */
  readonly nowMs: string;
  /** Appended to a `SELECT` that picks rows to update: skip rows other transactions hold (empty where writers are serialised). */
  readonly skipLocked: string;
}

/** A connection to one database. */
export interface SqlDriver {
  /** Its dialect. */
  readonly dialect: SqlDialect;
  /** Where it is, for messages: a file path, or a URL without its password. */
  readonly location: string;
  /** Runs statements without parameters (the schema). */
  exec(script: string): void;
  /** Runs one statement; returns how many rows it changed. */
  run(sql: string, params?: readonly SqlValue[]): number;
  /** The first row of a query, or undefined. */
  get<T>(sql: string, params?: readonly SqlValue[]): T | undefined;
  /** All rows of a query. */
  all<T>(sql: string, params?: readonly SqlValue[]): T[];
  /** Runs `fn` in one write transaction (committed when it returns, rolled back when it throws). */
  transaction<T>(fn: () => T): T;
  /** Turns the database's own errors into the store's clear ones (others are returned as they are). */
  translate(error: unknown, what: string): unknown;
  /** Closes the connection. */
  close(): void;
}

/** Thrown when the store's database cannot be reached or refuses the connection. */
export class StoreConnectError extends UserError {
  override name = 'StoreConnectError';
}

/** Whether a `--db` value names a PostgreSQL database (`postgres://` or `postgresql://`) rather than an SQLite file. */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/** A PostgreSQL URL with its password replaced by `***`, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@');
  }
}

/**
 * `?` parameters as PostgreSQL's `$1, $2, ...` (outside quoted strings and identifiers), so that the store's SQL is
 * written once.
 */
export function numberedParameters(sql: string): string {
  let out = '';
  let n = 0;
  let quote: string | null = null;
  for (const ch of sql) {
    if (quote !== null) {
      if (ch === quote) quote = null;
      out += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      out += ch;
    } else if (ch === '?') {
      n += 1;
      out += `$${n}`;
    } else {
      out += ch;
    }
  }
  return out;
}
