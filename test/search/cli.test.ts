/**
 * The commands end to end (spawned): `effnet scale` against the profiler and the compound formulas, its config file
 * read back as a base; bad input of scale-search / scaling-study (unknown base, tolerance <= 0, no grid point,
 * corrupt database, oversubscribed cores) exits 2 with a clear message; a scaling-study dry run lists the matched
 * configurations.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { networkSpec, profileNetwork } from '../../src/efficientnet/index.js';
import { resolveBase, stagesOf } from '../../src/card/config-file.js';

const mainJs = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function effnet(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [mainJs, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const DATA = 'synthetic:train=32,val=16,classes=4,size=32';

test('scale --phi: compound formulas and the profiler; --write gives a file --base reads back', () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-scale-'));
  const file = join(dir, 'scaled.json');
  const { code, stdout, stderr } = effnet('scale', '--base', 'b0', '--alpha', '1.2', '--beta', '1.1', '--gamma', '1.15', '--phi', '2', '--json', '--write', file);
  assert.equal(code, 0, stderr);
  const out = JSON.parse(stdout) as { config: { width: number; depth: number; resolution: number }; params: number; macs: number };
  assert.ok(Math.abs(out.config.depth - 1.2 ** 2) < 1e-12);
  assert.ok(Math.abs(out.config.width - 1.1 ** 2) < 1e-12);
  assert.equal(out.config.resolution, Math.round(224 * 1.15 ** 2));
  const written = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  assert.deepEqual(Object.keys(written).sort(), ['depth', 'dropout', 'resolution', 'width']);
  const back = resolveBase(file);
  const profile = profileNetwork(networkSpec(back, stagesOf(back)), { imageSize: back.resolution });
  assert.equal(profile.macs, out.macs);
  assert.equal(profile.params, out.params);
});

test('scale-search hands over: best.json beside the report and scale --from-search DB[:NAME] take the best mean α, β, γ', async () => {
  const { gridSearchDefinition } = await import('../../src/search/definitions.js');
  const { ExperimentStore, workerIdentity } = await import('../../src/search/store.js');
  const { writeReport } = await import('../../src/search/report.js');
  const dir = mkdtempSync(join(tmpdir(), 'effnet-from-search-'));
  const db = join(dir, 'scale.sqlite');
  const base = { width: 0.25, depth: 0.2, resolution: 32, dropout: 0.2 };
  const definition = gridSearchDefinition({ base, data: DATA, numClasses: 4, budget: '1ep', step: 0.1, tolerance: 0.1, runDir: dir, repeats: 2 });
  const store = ExperimentStore.open(db);
  let expected: { alpha: number; beta: number; gamma: number } | null = null;
  try {
    const { search } = store.createOrResumeSearch('grid1', 'grid', definition.spec, definition.trials);
    store.createOrResumeSearch('other', 'grid', definition.spec, definition.trials.slice(0, 2));
    const worker = workerIdentity('test');
    // Top-1 by group: the second configuration has the best mean (its seeds 0.50 and 0.40), the first the single best run (0.60, 0.10).
    const groups = [...new Set(definition.trials.map((t) => String(t.config.group)))];
    const score = (group: string, seed: number): number => (group === groups[0] ? [0.6, 0.1][seed]! : group === groups[1] ? [0.5, 0.4][seed]! : 0.2);
    for (let held = store.claimTrial(search.id, worker); held !== null; held = store.claimTrial(search.id, worker)) {
      store.finishTrial(held, worker, { params: 1, macs: 1, wallSeconds: 1, valTop1: score(String(held.config.group), Number(held.config.seed)), metrics: {} });
    }
    const winner = definition.trials.find((t) => t.config.group === groups[1])!.config;
    expected = { alpha: Number(winner.alpha), beta: Number(winner.beta), gamma: Number(winner.gamma) };
    const files = writeReport(join(dir, 'report'), store.getSearch(search.id), store.trials(search.id));
    const best = JSON.parse(readFileSync(join(dir, 'report', 'best.json'), 'utf8')) as { alpha: number; beta: number; gamma: number; meanTop1: number; top1: number[]; finishedTrials: number };
    assert.ok(files.some((f) => f.endsWith('best.json')));
    assert.deepEqual({ alpha: best.alpha, beta: best.beta, gamma: best.gamma }, expected);
    assert.ok(Math.abs(best.meanTop1 - 0.45) < 1e-12);
    assert.deepEqual(best.top1, [0.5, 0.4]);
  } finally {
    store.close();
  }
  const scaled = effnet('scale', '--base', 'width=0.25,depth=0.2,resolution=32', '--from-search', `${db}:grid1`, '--phi', '1', '--json');
  assert.equal(scaled.code, 0, scaled.stderr);
  assert.deepEqual((JSON.parse(scaled.stdout) as { coefficients: unknown }).coefficients, expected);
  assert.match(scaled.stderr, /from grid search 'grid1' \(.*top-1 45\.00%, mean of 2 seeds\)/);
  // Without a name the store must hold one grid search; a wrong name, a missing store and both kinds of flags exit 2.
  for (const [args, message] of [
    [['--from-search', db], /holds 2 grid searches \(grid1, other\); name one as DB:NAME/],
    [['--from-search', `${db}:nope`], /no grid search named 'nope'.*grid searches there: grid1, other/],
    [['--from-search', join(dir, 'missing.sqlite')], /no store at .*missing\.sqlite/],
    [['--from-search', `${db}:grid1`, '--alpha', '1.3'], /either --from-search or --alpha/],
  ] as const) {
    const bad = effnet('scale', '--base', 'b0', '--phi', '1', ...args);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, message);
  }
  assert.equal(existsSync(join(dir, 'missing.sqlite')), false, 'a mistyped store path is not created');
  // A study from the grid's best warns when its seeds repeat the ones that selected the best (seeds 0 and 1 here),
  // and names the first fresh seed; with fresh seeds it says nothing of the kind.
  const study = (name: string, ...extra: string[]): ReturnType<typeof effnet> =>
    effnet('scaling-study', '--base', 'width=0.25,depth=0.2,resolution=32', '--data', DATA, '--budget', '1ep', '--factors', '2', '--mac-tolerance', '0.5',
      '--from-search', 'grid1', '--db', db, '--name', name, '--repeats', '3', '--dry-run', ...extra);
  const reused = study('s-reused');
  assert.equal(reused.code, 0, reused.stderr);
  assert.match(reused.stderr, /warning: the study's seeds 0-2 repeat seeds 0, 1 of the grid trials that made .* the best of 'grid1'.*winner's curse.*Give --seed 2 /);
  const partly = study('s-partly', '--seed', '1');
  assert.match(partly.stderr, /seeds 1-3 repeat seed 1 of the grid trials/);
  const fresh = study('s-fresh', '--seed', '2');
  assert.equal(fresh.code, 0, fresh.stderr);
  assert.doesNotMatch(fresh.stderr, /winner's curse/);
});

test('scale --target-macs lands within 5% and prints the stage table', () => {
  const { code, stdout, stderr } = effnet('scale', '--base', 'width=0.25,depth=0.2,resolution=32', '--target-macs', '2M', '--num-classes', '10');
  assert.equal(code, 0, stderr);
  const match = /target 2,000,000 macs, off by (-?[\d.]+)%/.exec(stdout);
  assert.ok(match, stdout);
  assert.ok(Math.abs(Number(match[1])) <= 5);
  assert.match(stdout, /stage7\s+MBConv6, k3x3/);
});

test('bad input exits 2 with a clear message', () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-bad-'));
  const db = join(dir, 'scale.sqlite');
  const common = ['--data', DATA, '--budget', '2steps', '--db', db];
  let r = effnet('scale-search', '--base', 'b11', ...common);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown base 'b11'.*valid names: b0, b1/);
  r = effnet('scale-search', '--base', 'b0', '--tolerance', '0', ...common);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /tolerance must be a finite number > 0/);
  r = effnet('scale-search', '--base', 'b0', '--tolerance', '-1', ...common);
  assert.equal(r.code, 2);
  r = effnet('scale-search', '--base', 'b0', '--grid-step', '0.5', '--tolerance', '0.01', '--target', '1.75', ...common);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no point of the grid with step 0.5 meets/);
  r = effnet('scale-search', '--base', 'b0', '--mac-tolerance', '0', ...common);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--mac-tolerance must be > 0/);
  r = effnet('scale-search', '--base', 'b0', '--grid-step', '0.1', '--mac-tolerance', '0.000001', ...common);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no network of the grid has MACs within 0.000001 of 2 x the base's/);
  r = effnet('scale-search', '--base', 'b0', '--budget', '3 weeks', '--data', DATA, '--db', db);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /budget '3 weeks' is not understood/);
  r = effnet('scale-search', '--base', 'b0', '--data', 'imagenet', '--budget', '1ep', '--db', db);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /data path imagenet does not exist; expected fashion-mnist/);
  r = effnet('scale-search', '--base', 'b0', '--parallel', String(availableParallelism() + 1), ...common);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /exceeds the \d+ cores/);
  r = effnet('scale-search', '--base', 'b0', '--parallel', '1', '--threads', String(availableParallelism() + 1), ...common);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /engine threads exceed the \d+ cores/);
  const corrupt = join(dir, 'corrupt.sqlite');
  writeFileSync(corrupt, 'not a database at all '.repeat(300));
  r = effnet('scaling-study', '--base', 'width=0.25,depth=0.2,resolution=32', '--data', DATA, '--budget', '2steps', '--db', corrupt);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /corrupt\.sqlite is not a usable SQLite database/);
  r = effnet('scaling-study', '--base', 'width=0.25,depth=0.25,resolution=32', '--factors', '2', '--data', DATA, '--budget', '2steps', '--db', db);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /compound scaling cannot come within 5.0%/);
  r = effnet('scale-search', '--base', 'b0', '--device', 'cuda', ...common);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--device cuda: CUDA is not available here/);
  r = effnet('nas', '--data', DATA, '--budget', '2steps', '--device', 'npu', '--db', join(dir, 'nas.sqlite'));
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown device 'npu'/);
  r = effnet('search-worker', '--db', db, '--device', 'cuda:0');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /holds no search yet|CUDA is not available here/);
  // A worker whose --data has other classes than the search's is refused before it trains anything.
  const joinable = join(dir, 'join.sqlite');
  assert.equal(effnet('scale-search', '--base', 'width=0.25,depth=0.2,resolution=32', '--data', DATA, '--budget', '2steps', '--db', joinable, '--dry-run').code, 0);
  r = effnet('search-worker', '--db', joinable, '--data', 'synthetic:train=32,val=16,classes=3,size=32');
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /has 3 classes but search 'grid' trains on 4/);
});

test('scaling-study --dry-run stores and lists the base plus one matched configuration per strategy and factor', () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-study-'));
  const r = effnet('scaling-study', '--base', 'width=0.25,depth=0.2,resolution=32', '--factors', '2,4', '--data', DATA, '--budget', '2steps', '--db', join(dir, 's.sqlite'), '--dry-run');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /created study search 'study'.*9 trials/);
  for (const label of ['base x1', 'depth x2', 'width x2', 'resolution x2', 'compound x2', 'depth x4', 'compound x4']) assert.ok(r.stderr.includes(label), label);
  const again = effnet('scaling-study', '--base', 'width=0.25,depth=0.2,resolution=32', '--factors', '2,4', '--data', DATA, '--budget', '2steps', '--db', join(dir, 's.sqlite'), '--dry-run');
  assert.match(again.stderr, /resuming study search 'study'/);
});

test('--repeats K lists each configuration K times with its seed; K < 1 exits 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-study-'));
  const common = ['--base', 'width=0.25,depth=0.2,resolution=32', '--factors', '2', '--data', DATA, '--budget', '2steps', '--dry-run', '--seed', '3'];
  const r = effnet('scaling-study', ...common, '--repeats', '2', '--db', join(dir, 's.sqlite'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /created study search 'study'.*10 trials/);
  for (const label of ['base x1 seed 3', 'depth x2 seed 3', 'compound x2 seed 3', 'base x1 seed 4', 'compound x2 seed 4']) assert.ok(r.stderr.includes(label), label);
  const bad = effnet('scale-search', '--base', 'b0', '--data', DATA, '--budget', '2steps', '--repeats', '0', '--db', join(dir, 'g.sqlite'));
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--repeats must be an integer >= 1, got '0'/);
});

test('scaling-study --also-paper adds a compound-paper series matched like a paper-coefficient study, and refuses when redundant', () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-study-'));
  const common = ['--base', 'width=0.25,depth=0.2,resolution=32', '--factors', '2,4', '--data', DATA, '--budget', '2steps', '--dry-run'];
  const both = effnet('scaling-study', ...common, '--alpha', '1.3', '--beta', '1.1', '--gamma', '1.1', '--also-paper', '--db', join(dir, 'a.sqlite'));
  assert.equal(both.code, 0, both.stderr);
  assert.match(both.stderr, /created study search 'study'.*11 trials/);
  // The reference: a plain study with the paper's coefficients (the default) matches its compound trials the same way.
  const paper = effnet('scaling-study', ...common, '--db', join(dir, 'p.sqlite'));
  assert.equal(paper.code, 0, paper.stderr);
  const row = (text: string, label: string): string => {
    const line = text.split('\n').find((l) => l.includes(` ${label} `));
    assert.ok(line !== undefined, `${label} missing from:\n${text}`);
    return line.replace(/^\s*#\d+\s+\S+\s+x\d+\s+/, '');
  };
  for (const factor of [2, 4]) assert.equal(row(both.stderr, `compound-paper x${factor}`), row(paper.stderr, `compound x${factor}`));
  assert.notEqual(row(both.stderr, 'compound x4'), row(both.stderr, 'compound-paper x4'));
  const redundant = effnet('scaling-study', ...common, '--also-paper', '--db', join(dir, 'r.sqlite'));
  assert.equal(redundant.code, 2);
  assert.match(redundant.stderr, /--also-paper: the compound coefficients already are the paper's/);
});

test('--report-only writes the report of a stored search from --db alone, trains nothing, and refuses a missing store or search', async () => {
  const { ExperimentStore, workerIdentity } = await import('../../src/search/store.js');
  const dir = mkdtempSync(join(tmpdir(), 'effnet-report-only-'));
  const db = join(dir, 'scale.sqlite');
  const flags = ['--base', 'width=0.25,depth=0.2,resolution=32', '--data', DATA, '--budget', '1ep', '--grid-step', '0.1', '--db', db];
  let r = effnet('scale-search', '--db', db, '--report-only');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--report-only: there is no store at .*scale\.sqlite; give the --db the search ran with/);
  assert.ok(!existsSync(db), 'no empty store is created');
  r = effnet('scale-search', ...flags, '--dry-run');
  assert.equal(r.code, 0, r.stderr);
  // One trial finished by hand (as a worker of a running search would), the rest pending.
  const store = ExperimentStore.open(db);
  let point = '';
  let total = 0;
  try {
    const search = store.findSearch('grid')!;
    const worker = workerIdentity('test');
    const held = store.claimTrial(search.id, worker)!;
    point = `α = ${Number(held.config.alpha).toFixed(2)}, β = ${Number(held.config.beta).toFixed(2)}, γ = ${Number(held.config.gamma).toFixed(2)}`;
    store.finishTrial(held, worker, { params: 1, macs: 1, wallSeconds: 1, valTop1: 0.4321, metrics: {} });
    total = store.counts(search.id).total;
  } finally {
    store.close();
  }
  r = effnet('scaling-study', '--db', db, '--report-only');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /holds no search named 'study'/);
  r = effnet('scaling-study', '--db', db, '--name', 'grid', '--report-only');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /search 'grid' in .* is a grid search, not a study search; use the command that ran it/);
  // Only --db (and --report-dir): the search's settings come from the store.
  r = effnet('scale-search', '--db', db, '--report-only', '--report-dir', join(dir, 'interim'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`grid search 'grid' in .*: 1 of ${total} trials done, 0 running, 0 failed`));
  const report = readFileSync(join(dir, 'interim', 'report.md'), 'utf8');
  assert.match(report, new RegExp(`trials: 1 done, 0 failed, ${total - 1} not finished`));
  assert.match(report, /validation top-1 43\.21%/);
  assert.ok(report.includes(`**Best: ${point}**`), `the finished trial is the best so far (${point})`);
  const after = ExperimentStore.open(db);
  try {
    const counts = after.counts(after.findSearch('grid')!.id);
    assert.deepEqual([counts.done, counts.running, counts.pending], [1, 0, total - 1], 'nothing was trained or claimed');
  } finally {
    after.close();
  }
});
