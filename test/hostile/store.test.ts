/**
 * Item 8 of the hostile-input issue: paths and secrets of the experiment store. `--name ../../X` wrote reports and
 * trial folders outside the store's folder; a search worker wrote checkpoints wherever the store's row said (with a
 * shared PostgreSQL store, whoever can write the database chose paths on every worker host); a postgres:// URL's
 * password was printed in errors, partly even when redacted (an unencoded '@'), an invalid port waited 15 s and
 * ended in a stack trace, and the coordinator put the URL on its workers' command lines, where `ps` shows it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startCli, finished } from '../train/cli-helpers.js';
import { assertUserError, harnessSkip, runEffnet } from './harness.js';

const skip = harnessSkip;
const DATA = 'synthetic:train=32,val=16,classes=4,size=32';
let dir = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'effnet-hostile-store-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Every path under `root`, relative. */
function listing(root: string): string[] {
  return existsSync(root) ? readdirSync(root, { recursive: true }).map(String).sort() : [];
}

test('--name ../../X (and other names that are not folder names) is refused; nothing is written', { skip }, async () => {
  const home = join(dir, 'names', 'a', 'b');
  for (const name of ['../../X', '..', 'a/b', '.hidden', '', 'x'.repeat(101)]) {
    for (const command of [
      ['scale-search', '--base', 'width=0.25,depth=0.2,resolution=32', '--data', DATA, '--budget', '1steps', '--db', join(home, 's.sqlite'), '--name', name, '--dry-run'],
      ['nas', '--data', DATA, '--budget', '1steps', '--db', join(home, 'n.sqlite'), '--name', name, '--dry-run'],
    ]) {
      assertUserError(await runEffnet(command), { message: /is not a search name: use letters, digits/ });
    }
  }
  assert.deepEqual(listing(join(dir, 'names')), [], 'a refused name wrote files');
});

test("a search worker trains where its host says, never where the store's row says; a forged name is refused", { skip }, async () => {
  const home = join(dir, 'worker');
  const db = join(home, 'grid.sqlite');
  const made = await runEffnet(['scale-search', '--base', 'width=0.25,depth=0.2,resolution=32', '--data', DATA, '--budget', '1steps', '--grid-step', '0.3', '--tolerance', '0.3', '--db', db, '--name', 'grid', '--dry-run']);
  assert.equal(made.code, 0, made.stderr);
  const evil = join(dir, 'evil');
  const sqlite = new Database(db);
  const row = sqlite.prepare('SELECT spec FROM searches').get() as { spec: string };
  sqlite.prepare('UPDATE searches SET spec = ?').run(JSON.stringify({ ...JSON.parse(row.spec), runDir: evil }));
  sqlite.close();
  const worked = await runEffnet(['search-worker', '--db', db, '--threads', '1', '--quiet'], { timeoutS: 180 });
  assert.equal(worked.code, 0, worked.stderr);
  assert.deepEqual(listing(evil), [], 'the worker wrote where the store said');
  const trials = listing(join(home, 'grid')).filter((p) => /^trial-\d+-attempt1\/last\.safetensors$/.test(p));
  assert.ok(trials.length >= 1 && trials.length <= 10, `trials beside the store: ${listing(home).join(', ')}`);

  const forged = new Database(db);
  forged.prepare("UPDATE searches SET name = '../../escape'").run();
  forged.prepare("UPDATE trials SET status = 'pending' WHERE seq = 0").run();
  forged.close();
  assertUserError(await runEffnet(['search-worker', '--db', db, '--threads', '1']), { message: /the store's search name "\.\.\/\.\.\/escape" is not a search name/ });
});

test('postgres:// URLs: secrets never printed, an invalid port is one clear error at once', { skip }, async () => {
  const cases: [string, RegExp][] = [
    ['postgres://alice:s3cr3t-pw@127.0.0.1:1/effnet?password=qu3ry-pw', /cannot connect to the experiment store postgres:\/\/alice:\*\*\*@127\.0\.0\.1:1\/effnet\?password=\*\*\*/],
    ['postgres://alice:p@ss-w0rd@127.0.0.1:99999/effnet', /is not a valid PostgreSQL URL \(the port must be 1\.\.65535, got '99999'\)/],
    ['postgres://alice:p@ss-w0rd@127.0.0.1:1/effnet', /cannot connect to the experiment store postgres:\/\/alice:\*\*\*@127\.0\.0\.1:1\/effnet/],
  ];
  for (const [url, message] of cases) {
    const result = await runEffnet(['scale-search', '--base', 'width=0.25,depth=0.2,resolution=32', '--data', DATA, '--budget', '1steps', '--db', url, '--dry-run']);
    assertUserError(result, { message, maxSeconds: 20 });
    const printed = result.stdout + result.stderr;
    for (const secret of ['s3cr3t', 'qu3ry', 'p@ss', 'ss-w0rd', 'w0rd']) assert.ok(!printed.includes(secret), `'${secret}' was printed: ${printed}`);
  }
});

test("a coordinator's worker processes get the store in their environment, not on their command line", { skip }, async () => {
  const db = join(dir, 'argv', 'grid.sqlite');
  const coordinator = startCli(['scale-search', '--base', 'width=0.25,depth=0.2,resolution=32', '--data', DATA, '--budget', '20steps', '--db', db, '--parallel', '1', '--threads', '1']);
  const done = finished(coordinator);
  try {
    // Between fork and exec a child still shows its parent's command line: wait for the worker's own (it has --search).
    let worker: number | null = null;
    let argv: string[] = [];
    for (let i = 0; i < 300 && worker === null; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const children = readFileSync(`/proc/${coordinator.pid}/task/${coordinator.pid}/children`, 'utf8').trim();
      if (children === '') continue;
      const pid = Number(children.split(/\s+/)[0]);
      try {
        argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      } catch {
        continue;
      }
      if (argv.includes('--search')) worker = pid;
    }
    assert.ok(worker !== null, 'no worker process started');
    assert.ok(!argv.some((a) => a.includes('grid.sqlite')), `the store is on the worker's command line: ${argv.join(' ')}`);
    assert.ok(readFileSync(`/proc/${worker}/environ`, 'utf8').split('\0').includes(`EFFNET_DB=${db}`), 'the worker has no EFFNET_DB');
  } finally {
    coordinator.kill('SIGTERM');
  }
  await done;
});
