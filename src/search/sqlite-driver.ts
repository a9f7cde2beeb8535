/**
 * The experiment store's embedded database: one SQLite file through better-sqlite3, in WAL mode (readers do not block
 * the writer), with a busy timeout, an integrity check when an existing file is opened, and write transactions taken
 * with BEGIN IMMEDIATE so that two processes never interleave a claim. SQLite's busy/locked/corrupt errors become
 * errors that name the file, the process holding the lock and what to do.
 */
import type Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { makeDirectory } from '../directories.js';
import { dirname } from 'node:path';
import { UserError } from '../errors.js';
import { requireOptional } from '../optional-package.js';
import { findLockHolders } from './lock-holder.js';
import type { SqlDialect, SqlDriver, SqlValue } from './sql-driver.js';

/** Thrown when the database stays locked by another connection past the busy timeout. */
export class StoreLockedError extends UserError {
  override name = 'StoreLockedError';
}

/** Thrown when the file is not an SQLite database or fails the integrity check. */
export class StoreCorruptError extends UserError {
  override name = 'StoreCorruptError';
}

/** SQLite's spelling of the store's dialect-specific SQL. */
export const SQLITE_DIALECT: SqlDialect = {
  name: 'sqlite',
  autoKey: 'INTEGER PRIMARY KEY',
  // julianday('now') carries milliseconds; 2440587.5 is the Julian day of 1970-01-01T00:00Z.
  nowMs: "CAST(ROUND((julianday('now') - 2440587.5) * 86400000) AS INTEGER)",
  skipLocked: '',
};

/** Options of {@link SqliteDriver.open}. */
export interface SqliteOptions {
  /** How long a statement waits for another connection's lock before failing, ms; default 5000. */
  busyTimeoutMs?: number;
  /** Run `PRAGMA quick_check` when opening an existing file; default true. */
  integrityCheck?: boolean;
}

/** An SQLite file as the store's database. */
export class SqliteDriver implements SqlDriver {
  readonly dialect = SQLITE_DIALECT;
  readonly location: string;
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();

  private constructor(path: string, db: Database.Database) {
    this.location = path;
    this.db = db;
  }

  /**
   * Opens (creating when missing) the file: WAL mode, busy timeout, foreign keys, integrity check.
   * @throws StoreCorruptError for a file that is not an SQLite database or fails the check
   * @throws StoreLockedError when another process keeps it locked past the timeout
   */
  static open(path: string, options: SqliteOptions = {}): SqliteDriver {
    const Sqlite = requireOptional<typeof Database>('better-sqlite3', `the experiment store ${path}`);
    const existed = existsSync(path);
    if (!existed) makeDirectory(dirname(path));
    let db: Database.Database;
    try {
      db = new Sqlite(path, { timeout: options.busyTimeoutMs ?? 5000 });
    } catch (error) {
      throw translateSqlite(error, path, 'opening');
    }
    const driver = new SqliteDriver(path, db);
    try {
      if (existed && (options.integrityCheck ?? true)) {
        const rows = db.pragma('quick_check') as { quick_check: string }[];
        const problems = rows.map((r) => r.quick_check).filter((r) => r !== 'ok');
        if (problems.length > 0) {
          throw new StoreCorruptError(
            `${path} failed SQLite's integrity check (${problems.slice(0, 3).join('; ')}); the experiment store is corrupt. ` +
              'Move it away and start a new one with another --db (finished trials in it are lost), or restore a copy',
          );
        }
      }
      db.pragma('journal_mode = WAL');
      db.pragma('foreign_keys = ON');
    } catch (error) {
      db.close();
      throw translateSqlite(error, path, 'opening');
    }
    return driver;
  }

  private statement(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  exec(script: string): void {
    this.db.exec(script);
  }

  run(sql: string, params: readonly SqlValue[] = []): number {
    return this.statement(sql).run(...params).changes;
  }

  get<T>(sql: string, params: readonly SqlValue[] = []): T | undefined {
    return this.statement(sql).get(...params) as T | undefined;
  }

  all<T>(sql: string, params: readonly SqlValue[] = []): T[] {
    return this.statement(sql).all(...params) as T[];
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  translate(error: unknown, what: string): unknown {
    return translateSqlite(error, this.location, what);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function sqliteCode(error: unknown): string {
  return typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : '';
}

/** Turns better-sqlite3 errors into StoreLockedError / StoreCorruptError; others pass through. */
function translateSqlite(error: unknown, path: string, what: string): unknown {
  if (error instanceof UserError) return error;
  const code = sqliteCode(error);
  const message = error instanceof Error ? error.message : String(error);
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    const holders = findLockHolders([path, `${path}-wal`, `${path}-shm`]);
    const who =
      holders.length === 0
        ? 'the process holding it could not be determined'
        : `held by ${holders.map((h) => `pid ${h.pid}${h.command ? ` (${h.command})` : ''} [${h.mode} lock on ${h.file}]`).join(', ')}`;
    return new StoreLockedError(
      `the experiment store ${path} is locked (${message}) while ${what}, past the busy timeout; ${who}. ` +
        'Wait for that process to finish or stop it, then run the command again (each search may have one coordinator)',
    );
  }
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    return new StoreCorruptError(
      `${path} is not a usable SQLite database (${message}) while ${what}; it is corrupt or not an experiment store. ` +
        'Pass another --db path, or move this file away (its trials are lost) and run again',
    );
  }
  return error;
}
