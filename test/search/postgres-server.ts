/**
 * A PostgreSQL server for the tests: the one .ci/run started (EFFNET_TEST_POSTGRES_URL, a URL of its "postgres"
 * database), else one started here with scripts/postgres-test-server.sh for this test process and stopped at its
 * exit. Each test gets a database of its own. Without either (no server binaries), tests skip with the reason.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { freePort } from '../dist/harness.js';

const script = fileURLToPath(new URL('../../../scripts/postgres-test-server.sh', import.meta.url));

/** A running server. */
export interface TestPostgres {
  /** URL of its maintenance database (create others from it). */
  adminUrl: string;
  /** Its port. */
  port: number;
  /** Creates an empty database and returns its URL (host 127.0.0.1, or `host` when given). */
  createDatabase(host?: string): Promise<string>;
}

let server: Promise<TestPostgres | string> | null = null;

async function start(): Promise<TestPostgres | string> {
  let adminUrl = process.env.EFFNET_TEST_POSTGRES_URL;
  if (adminUrl === undefined || adminUrl === '') {
    const dir = mkdtempSync(join(tmpdir(), 'effnet-pg-'));
    const port = await freePort();
    const started = spawnSync('bash', [script, 'start', dir, String(port)], { encoding: 'utf8', timeout: 120_000 });
    if (started.status === 3) return `no PostgreSQL server here (${started.stderr.trim()}); scripts/setup.sh installs it`;
    if (started.status !== 0) throw new Error(`starting the test PostgreSQL server failed: ${started.stderr}`);
    adminUrl = started.stdout.trim();
    process.once('exit', () => {
      spawnSync('bash', [script, 'stop', dir]);
      rmSync(dir, { recursive: true, force: true });
    });
  }
  const url = new URL(adminUrl);
  let counter = 0;
  return {
    adminUrl,
    port: Number(url.port || 5432),
    async createDatabase(host?: string): Promise<string> {
      counter += 1;
      const name = `effnet_test_${process.pid}_${counter}_${Date.now() % 100000}`;
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      const dbUrl = new URL(adminUrl);
      dbUrl.pathname = `/${name}`;
      if (host !== undefined) dbUrl.hostname = host;
      return dbUrl.toString();
    },
  };
}

/** The tests' PostgreSQL server (started once per process), or the reason there is none. */
export function testPostgres(): Promise<TestPostgres | string> {
  server ??= start();
  return server;
}
