/**
 * The experiment store on PostgreSQL, for searches whose workers run on several hosts (`--db postgres://…`).
 *
 * The store's interface is synchronous (src/search/sql-driver.ts), and `pg` is asynchronous, so the client lives on a
 * worker thread (src/search/postgres-bridge.ts): each statement is posted to it and this thread waits for the reply
 * with Atomics.wait, bounded by a timeout, then takes it with receiveMessageOnPort. A statement is one network round
 * trip (about 0.1-0.3 ms on loopback); the store issues a handful per trial, against trials of seconds to hours.
 *
 * Dialect: `SERIAL` keys, the time from the server's clock (`clock_timestamp()`), and `FOR UPDATE SKIP LOCKED` so that
 * concurrent claimers each take a different pending trial without waiting on each other.
 */
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { BridgeData, BridgeReply, BridgeRequest } from './postgres-bridge.js';
import { StoreConnectError, checkPostgresUrl, numberedParameters, redactUrl, scrubSecrets, type SqlDialect, type SqlDriver, type SqlValue } from './sql-driver.js';
import { UserError } from '../errors.js';

/** PostgreSQL's spelling of the store's dialect-specific SQL. */
export const POSTGRES_DIALECT: SqlDialect = {
  name: 'postgres',
  autoKey: 'SERIAL PRIMARY KEY',
  // clock_timestamp(), not now(): now() is frozen at the start of the transaction.
  nowMs: '(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT',
  skipLocked: 'FOR UPDATE SKIP LOCKED',
};

/** Thrown when the server does not answer a statement within the timeout. */
export class StoreTimeoutError extends UserError {
  override name = 'StoreTimeoutError';
}

/** Options of {@link PostgresDriver.connect}. */
export interface PostgresOptions {
  /** How long connecting may take, ms; default 10000. */
  connectTimeoutMs?: number;
  /** How long one statement may take before the store gives up on the server, ms; default 60000. */
  statementTimeoutMs?: number;
}

const BRIDGE_ENTRY = fileURLToPath(new URL('./postgres-bridge.js', import.meta.url));

// SQLSTATE classes and socket errors that mean "could not connect" rather than "a statement failed".
const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', '28P01', '28000', '3D000', '57P03', '53300']);

/** A PostgreSQL database as the store's database. */
export class PostgresDriver implements SqlDriver {
  readonly dialect = POSTGRES_DIALECT;
  readonly location: string;
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly signal: Int32Array;
  private readonly statementTimeoutMs: number;
  private depth = 0;
  private closed = false;

  private readonly url: string;

  private constructor(url: string, options: PostgresOptions) {
    this.url = url;
    this.location = redactUrl(url);
    this.statementTimeoutMs = options.statementTimeoutMs ?? 60_000;
    const shared = new SharedArrayBuffer(4);
    this.signal = new Int32Array(shared);
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const data: BridgeData = { url, port: port2, signal: shared, connectTimeoutMs: options.connectTimeoutMs ?? 10_000, applicationName: `effnet pid ${process.pid}` };
    this.worker = new Worker(BRIDGE_ENTRY, { workerData: data, transferList: [port2] });
    // The connection must not keep a finished command alive.
    this.worker.unref();
    this.port.unref();
  }

  /**
   * Connects to the database at `url`.
   * @throws StoreConnectError when the server cannot be reached or refuses the connection (wrong host, port, user,
   * password or database)
   */
  static connect(url: string, options: PostgresOptions = {}): PostgresDriver {
    checkPostgresUrl(url);
    const driver = new PostgresDriver(url, options);
    const timeout = (options.connectTimeoutMs ?? 10_000) + 5_000;
    const reply = driver.request({ op: 'connect' }, timeout);
    if (!reply.ok) {
      driver.terminate();
      throw new StoreConnectError(
        `cannot connect to the experiment store ${driver.location} (${scrubSecrets(reply.message, url)}${reply.code !== null ? `, ${reply.code}` : ''}). ` +
          'Check that the PostgreSQL server runs and listens on that host and port (listen_addresses, pg_hba.conf), and that the user, ' +
          'password and database in the URL exist (createdb NAME); or pass an SQLite file path as --db',
      );
    }
    return driver;
  }

  private request(request: BridgeRequest, timeoutMs = this.statementTimeoutMs): BridgeReply {
    if (this.closed) throw new Error(`the experiment store ${this.location} is closed`);
    Atomics.store(this.signal, 0, 0);
    this.port.postMessage(request);
    const waited = Atomics.wait(this.signal, 0, 0, timeoutMs);
    const message = receiveMessageOnPort(this.port);
    if (message === undefined) {
      this.terminate();
      throw new StoreTimeoutError(
        `the PostgreSQL server of the experiment store ${this.location} did not answer within ${Math.round(timeoutMs / 1000)} s ` +
          `(${waited === 'timed-out' ? 'timed out' : 'no reply'}); check the server and the network, then run the command again (the search resumes)`,
      );
    }
    return message.message as BridgeReply;
  }

  private query(sql: string, params: readonly SqlValue[]): { rows: Record<string, unknown>[]; rowCount: number } {
    const reply = this.request({ op: 'query', sql: numberedParameters(sql), params: [...params] });
    if (!reply.ok) {
      const error = new Error(scrubSecrets(reply.message, this.url)) as Error & { code: string | null };
      error.code = reply.code;
      throw error;
    }
    return reply;
  }

  exec(script: string): void {
    this.query(script, []);
  }

  run(sql: string, params: readonly SqlValue[] = []): number {
    return this.query(sql, params).rowCount;
  }

  get<T>(sql: string, params: readonly SqlValue[] = []): T | undefined {
    return this.query(sql, params).rows[0] as T | undefined;
  }

  all<T>(sql: string, params: readonly SqlValue[] = []): T[] {
    return this.query(sql, params).rows as T[];
  }

  transaction<T>(fn: () => T): T {
    // Nested calls join the outer transaction (SQLite's transaction wrapper does the same with savepoints).
    if (this.depth > 0) return fn();
    this.query('BEGIN', []);
    this.depth += 1;
    try {
      const result = fn();
      this.query('COMMIT', []);
      return result;
    } catch (error) {
      if (!this.closed) {
        try {
          this.query('ROLLBACK', []);
        } catch {
          // the connection is gone; the server rolls the transaction back itself
        }
      }
      throw error;
    } finally {
      this.depth -= 1;
    }
  }

  translate(error: unknown, what: string): unknown {
    if (error instanceof UserError) return error;
    const code = typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : '';
    if (CONNECT_CODES.has(code) || code.startsWith('08') || /Connection terminated|not queryable|ECONNRESET/i.test(error instanceof Error ? error.message : '')) {
      return new StoreConnectError(
        `lost the connection to the experiment store ${this.location} while ${what} (${error instanceof Error ? error.message : String(error)}); ` +
          'check the server and the network, then run the command again (the search resumes where it stopped)',
      );
    }
    return error;
  }

  private terminate(): void {
    this.closed = true;
    void this.worker.terminate();
  }

  close(): void {
    if (this.closed) return;
    try {
      this.request({ op: 'close' }, 5_000);
    } catch {
      // closing a connection that is already gone
    }
    this.terminate();
  }
}
