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

/** Query parameters of a PostgreSQL URL that hold secrets. */
const SECRET_PARAMETERS = /^(password|sslpassword|sslkey|passfile)$/i;

/**
 * A PostgreSQL URL with its secrets replaced by `***`, for messages and logs: the password of the user part (all of
 * it up to the last '@' of the authority, so an unencoded '@' in a password leaks nothing) and `?password=`-like
 * query parameters. Works on URLs that do not parse too (an invalid port, say), since those are printed in errors.
 */
export function redactUrl(url: string): string {
  const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)(.*)$/is.exec(url);
  if (match === null) return url.replace(/:[^:@/]*@/g, ':***@');
  const [, scheme, authority, rest] = match as unknown as [string, string, string, string];
  const at = authority.lastIndexOf('@');
  let safeAuthority = authority;
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    const colon = userinfo.indexOf(':');
    safeAuthority = `${colon >= 0 ? `${userinfo.slice(0, colon)}:***` : userinfo}${authority.slice(at)}`;
  }
  const safeRest = rest.replace(/([?&])([^=&#]+)=([^&#]*)/g, (whole, separator: string, key: string) => (SECRET_PARAMETERS.test(decodeURIComponentSafe(key)) ? `${separator}${key}=***` : whole));
  return `${scheme}${safeAuthority}${safeRest}`;
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The secrets a PostgreSQL URL holds (its password, decoded and as written, and secret query values), to scrub from messages. */
export function urlSecrets(url: string): string[] {
  const secrets: string[] = [];
  const match = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)(.*)$/is.exec(url);
  if (match === null) return secrets;
  const authority = match[1]!;
  const at = authority.lastIndexOf('@');
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    const colon = userinfo.indexOf(':');
    if (colon >= 0 && colon < userinfo.length - 1) secrets.push(userinfo.slice(colon + 1), decodeURIComponentSafe(userinfo.slice(colon + 1)));
  }
  for (const [, key, value] of match[2]!.matchAll(/[?&]([^=&#]+)=([^&#]*)/g)) {
    if (SECRET_PARAMETERS.test(decodeURIComponentSafe(key!)) && value !== '') secrets.push(value!, decodeURIComponentSafe(value!));
  }
  return [...new Set(secrets)].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
}

/** `text` with every secret of `url` replaced by `***` (messages of the PostgreSQL client may quote them). */
export function scrubSecrets(text: string, url: string): string {
  let out = text;
  for (const secret of urlSecrets(url)) out = out.split(secret).join('***');
  return out;
}

/**
 * Checks a PostgreSQL URL before anything connects: it must parse (a port of 1..65535, a host), so that a typo is
 * one clear error instead of a 15-second wait and a stack trace.
 * @throws StoreConnectError naming the URL without its secrets
 */
export function checkPostgresUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    const port = /:(\d*)(?:\/|$)/.exec(url.slice(url.lastIndexOf('@') + 1));
    const hint = port !== null && !(Number(port[1]) >= 1 && Number(port[1]) <= 65535) ? ` (the port must be 1..65535, got '${port[1]}')` : '';
    throw new StoreConnectError(`--db ${redactUrl(url)} is not a valid PostgreSQL URL${hint}; write postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, percent-encode '@', ':' and '/' in the password (or leave it out and use PGPASSWORD or ~/.pgpass)`);
  }
  if (parsed.hostname === '' && !parsed.searchParams.has('host')) {
    throw new StoreConnectError(`--db ${redactUrl(url)} names no host; write postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`);
  }
  if (parsed.port !== '' && !(Number(parsed.port) >= 1 && Number(parsed.port) <= 65535)) {
    throw new StoreConnectError(`--db ${redactUrl(url)}: the port must be 1..65535, got '${parsed.port}'`);
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
