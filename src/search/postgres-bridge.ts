/**
 * The worker thread behind the PostgreSQL driver: it owns one `pg` client and answers the driver's requests (connect,
 * query, close) on a MessagePort, then wakes the driver, which waits on a shared Int32 with Atomics.wait. It holds
 * no store logic; every statement comes from the store through the driver.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type pgModule from 'pg';

/** A request from the driver. */
export type BridgeRequest = { op: 'connect' } | { op: 'query'; sql: string; params: (string | number | null)[] } | { op: 'close' };

/** The answer to a request. */
export type BridgeReply =
  | { ok: true; rows: Record<string, unknown>[]; rowCount: number }
  | { ok: false; message: string; code: string | null };

/** What the driver hands the thread at its start. */
export interface BridgeData {
  /** The connection URL. */
  url: string;
  /** Where requests arrive and replies go. */
  port: MessagePort;
  /** One Int32: the thread sets it to 1 and notifies after posting each reply. */
  signal: SharedArrayBuffer;
  /** Connection timeout, ms. */
  connectTimeoutMs: number;
  /** The application name the server shows in pg_stat_activity. */
  applicationName: string;
}

const INT8_OID = 20;

async function start(data: BridgeData): Promise<void> {
  const signal = new Int32Array(data.signal);
  const reply = (answer: BridgeReply): void => {
    data.port.postMessage(answer);
    Atomics.store(signal, 0, 1);
    Atomics.notify(signal, 0);
  };
  let pg: typeof pgModule;
  try {
    pg = (await import('pg')).default;
  } catch (error) {
    // Without the client every request fails, saying why (the caller waits for a reply, not for this thread's death).
    const message = `the PostgreSQL client (npm package pg) could not be loaded: ${error instanceof Error ? error.message : String(error)}; install it: npm install pg`;
    data.port.on('message', () => reply({ ok: false, message, code: 'EFFNET_NO_PG' }));
    return;
  }
  // int8 (COUNT(*), millisecond times) arrives as text; as numbers they are exact up to 2^53, far past any count or time.
  const types = {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
      oid === INT8_OID
        ? (value: string) => {
            const n = Number(value);
            if (!Number.isSafeInteger(n)) throw new Error(`int8 value ${value} is beyond JavaScript's exact integers`);
            return n;
          }
        : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
  };
  let client: pgModule.Client;
  try {
    client = new pg.Client({ connectionString: data.url, connectionTimeoutMillis: data.connectTimeoutMs, application_name: data.applicationName, types });
  } catch (error) {
    // A URL the client cannot take: every request is answered with why, so the driver never waits for a dead thread.
    const message = `the PostgreSQL client refused the URL: ${error instanceof Error ? error.message : String(error)}`;
    data.port.on('message', () => reply({ ok: false, message, code: 'EFFNET_BAD_URL' }));
    return;
  }
  // A dropped connection between requests surfaces as the next query's error; do not let it kill the thread.
  client.on('error', () => undefined);
  const fail = (error: unknown): void => {
    const code = typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : null;
    reply({ ok: false, message: error instanceof Error ? error.message || String(error) : String(error), code });
  };
  data.port.on('message', (request: BridgeRequest) => {
    if (request.op === 'connect') {
      client.connect().then(() => reply({ ok: true, rows: [], rowCount: 0 }), fail);
    } else if (request.op === 'query') {
      client.query({ text: request.sql, values: request.params }).then((result) => reply({ ok: true, rows: result.rows as Record<string, unknown>[], rowCount: result.rowCount ?? 0 }), fail);
    } else {
      client.end().then(
        () => reply({ ok: true, rows: [], rowCount: 0 }),
        () => reply({ ok: true, rows: [], rowCount: 0 }),
      );
    }
  });
}

if (parentPort !== null) void start(workerData as BridgeData);
