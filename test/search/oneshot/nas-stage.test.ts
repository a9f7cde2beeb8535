/**
 * `effnet nas --supernet DIR` as a user runs it (spawned, synthetic data): the shared-weight ranking is stored in the
 * experiment store as it is measured; the search stage trains exactly the best candidates of that ranking by reward
 * that build distinct networks (recomputed here from the stored records, with the reward's formula), each trial carrying its
 * shared-weight accuracy; --compare trains the best of them and the base; the report has the ranking, its chart and
 * the shared-weight signal in the fidelity table. A search whose ranking was cut (the last stored records removed,
 * as a kill between two candidates leaves it) measures the missing candidates again to the same records (replay
 * through the same strategy and calibration batches). Bad input exits 2: flags of the standalone search with
 * --supernet, one-shot flags without it, --latency, other --data, a directory without a supernet.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExperimentStore } from '../../../src/search/store.js';
import { confirmationCandidates } from '../../../src/search/oneshot/nas-stage.js';
import type { RankedCandidate } from '../../../src/search/oneshot/search.js';
import { candidateConfig } from '../../../src/search/nas/search.js';
import { resolveSearchSpace } from '../../../src/search/nas/space.js';
import type { Candidate } from '../../../src/search/nas/strategy.js';
import { createEfficientNet } from '../../../src/efficientnet/model.js';
import { customConfig } from '../../../src/efficientnet/variants.js';
import { decodeArchitecture } from '../../../src/efficientnet/block-spec.js';
import type { ScaledConfigJson } from '../../../src/card/config-file.js';

const mainJs = fileURLToPath(new URL('../../../src/cli/main.js', import.meta.url));
const DATA = 'synthetic:train=96,val=48,classes=3,size=32,seed=5';
const SPACE = {
  name: 'tiny',
  base: ['r1_k3_s11_e1_i32_o16', 'r2_k3_s22_e6_i16_o24', 'r2_k5_s22_e6_i24_o40'],
  choices: { op: ['mbconv1', 'mbconv6'], kernel: [3, 5], se: [0, 0.25], skip: ['identity', 'none'], filters: [0.5, 1.0], layers: [-1, 0] },
};

/**
 * The network a configuration builds, as a string: its parameters' names and shapes, and which blocks add their
 * input (the strides of a space's stages are not choices, so these tell its candidates' networks apart).
 */
function builtNetwork(config: ScaledConfigJson): string {
  const model = createEfficientNet(customConfig({ width: 1, depth: 1, resolution: config.resolution }), { numClasses: 3, stages: decodeArchitecture(config.stages!) });
  try {
    const shapes = model.namedParameters().map(([name, t]) => `${name}:${t.shape.join('x')}`);
    const residual = [...model.modules()].filter((m) => 'hasResidual' in m).map((m) => (m as unknown as { hasResidual: boolean }).hasResidual);
    return JSON.stringify([shapes, residual]);
  } finally {
    model.dispose();
  }
}

function effnet(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [mainJs, ...args], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, OMP_NUM_THREADS: '1' } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

interface Ranked {
  index: number;
  candidate: { [k: string]: unknown };
  accuracy: number;
  macs: number;
  reward: number;
}

test('effnet nas --supernet: ranking stored, the top distinct candidates confirmed standalone, compared with the base; a cut ranking resumes to the same records', () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-nas-oneshot-'));
  try {
    const space = join(dir, 'space.json');
    writeFileSync(space, JSON.stringify(SPACE));
    const supernet = join(dir, 'supernet');
    const trained = effnet('oneshot', 'train', '--data', DATA, '--space', space, '--out', supernet, '--epochs', '2', '--batch-size', '16', '--threads', '1', '--workers', '0', '--seed', '1', '--quiet');
    assert.equal(trained.code, 0, trained.stderr);

    const db = join(dir, 'nas.sqlite');
    const args = ['nas', '--supernet', supernet, '--budget', '2steps', '--batch-size', '16', '--candidates', '10', '--confirm', '3', '--compare', '1', '--population', '4', '--sample-size', '2', '--val-images', '48', '--calibration', '2', '--reward', 'soft', '--target-macs', '2M', '--seed', '3', '--db', db];
    const run = effnet(...args);
    assert.equal(run.code, 0, run.stderr);

    const store = ExperimentStore.open(db);
    let ranked: Ranked[];
    let comparison = '';
    try {
      const search = store.findSearch('nas')!;
      assert.equal(search.kind, 'oneshot', 'a one-shot search is a kind of its own in the store');
      ranked = store.scores(search.id).map((s) => s.record as unknown as Ranked);
      assert.deepEqual(ranked.map((r) => r.index), [...Array(10).keys()]);
      // The reward of each record from its accuracy and MACs: soft, ACC * (MACs / T)^-0.07 with T = 2M.
      for (const r of ranked) assert.ok(Math.abs(r.reward - r.accuracy * (r.macs / 2e6) ** -0.07) < 1e-12, JSON.stringify(r));
      // The expected confirmation: the 3 best candidates by reward (earlier ranked first on ties) whose networks
      // differ: the built models' parameter shapes and whether each block adds its input (a skip asked of a block
      // that changes stride or channels is not used).
      const expected: Ranked[] = [];
      const network = (r: Ranked): string => builtNetwork(candidateConfig(resolveSearchSpace(SPACE), r.candidate as Candidate, 32));
      for (const r of [...ranked].sort((a, b) => b.reward - a.reward || a.index - b.index)) {
        if (expected.some((e) => network(e) === network(r))) continue;
        if (expected.length < 3) expected.push(r);
      }
      const trials = store.trials(search.id);
      const confirmed = trials.filter((t) => t.config.stage === 'search');
      assert.deepEqual(confirmed.map((t) => t.config.candidate), expected.map((e) => e.candidate));
      assert.deepEqual(confirmed.map((t) => t.config.shared), expected.map((e) => e.accuracy));
      assert.ok(confirmed.every((t) => t.status === 'done'));
      const compared = trials.filter((t) => t.config.stage === 'compare');
      assert.deepEqual(compared.map((t) => t.config.role).sort(), ['base', 'best']);
      const top1 = (role: string): number => compared.find((t) => t.config.role === role)!.valTop1!;
      comparison = `Found minus base: ${((top1('best') - top1('base')) * 100).toFixed(2)} points, Welch standard error –, t = –: one seed`;
    } finally {
      store.close();
    }
    const report = readFileSync(join(dir, 'nas', 'report.md'), 'utf8');
    assert.match(report, /## Shared-weight ranking \(one-shot\)/);
    assert.match(report, /10 candidates ranked/);
    assert.match(report, /\| shared-weight accuracy \| accuracy \(search budget\) \| [-0-9.–]+ \| 3 \|/);
    assert.ok(existsSync(join(dir, 'nas', 'ranking.svg')));
    assert.ok(report.includes(comparison), `the report's comparison line: ${comparison}`);
    assert.match(run.stderr, /next: npx effnet scale-search --base /);

    // Cut the ranking as a kill between candidates leaves it, then run again: the missing ones are measured again
    // to the same records, and nothing is trained twice.
    const cut = ExperimentStore.open(db);
    const trialCount = cut.trials(cut.findSearch('nas')!.id).length;
    cut.close();
    const raw = spawnSync('/usr/bin/python3', ['-c', `import sqlite3; c = sqlite3.connect(${JSON.stringify(db)}); c.execute('DELETE FROM scores WHERE seq >= 6'); c.commit()`], { encoding: 'utf8' });
    assert.equal(raw.status, 0, raw.stderr);
    const again = effnet(...args);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /resuming: 6 candidates ranked before/);
    const after = ExperimentStore.open(db);
    try {
      const search = after.findSearch('nas')!;
      const remeasured = after.scores(search.id).map((s) => s.record as unknown as Ranked);
      const strip = (r: Ranked): unknown => ({ ...r, seconds: 0 });
      assert.deepEqual(remeasured.map(strip), ranked.map(strip));
      assert.equal(after.trials(search.id).length, trialCount);
    } finally {
      after.close();
    }

    // A finished search resumed with more comparison seeds trains the missing ones only, on the same best network.
    const before = ExperimentStore.open(db);
    const earlier = before.trials(before.findSearch('nas')!.id).filter((t) => t.config.stage === 'compare');
    before.close();
    const raised = effnet(...args.map((a, i) => (args[i - 1] === '--compare' ? '2' : a)));
    assert.equal(raised.code, 0, raised.stderr);
    assert.match(raised.stderr, /raising the comparison of search 'nas' from 1 to 2 seed\(s\) each/);
    const grown = ExperimentStore.open(db);
    try {
      const compared = grown.trials(grown.findSearch('nas')!.id).filter((t) => t.config.stage === 'compare');
      assert.deepEqual(compared.map((t) => t.label), ['best-seed1003', 'base-seed1003', 'best-seed1004', 'base-seed1004']);
      assert.deepEqual(compared.slice(0, 2).map((t) => [t.id, t.attempts, t.valTop1]), earlier.map((t) => [t.id, t.attempts, t.valTop1]), 'the first seed is not trained again');
      assert.deepEqual(compared[2]!.config.candidate, compared[0]!.config.candidate);
      assert.ok(compared.every((t) => t.status === 'done'));
    } finally {
      grown.close();
    }
    assert.match(readFileSync(join(dir, 'nas', 'report.md'), 'utf8'), /seeds 1003\.\.1004/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('effnet nas --supernet: bad input exits 2 with the reason', () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-nas-oneshot-bad-'));
  try {
    const space = join(dir, 'space.json');
    writeFileSync(space, JSON.stringify(SPACE));
    const supernet = join(dir, 'supernet');
    const trained = effnet('oneshot', 'train', '--data', DATA, '--space', space, '--out', supernet, '--epochs', '1', '--batch-size', '16', '--threads', '1', '--workers', '0', '--quiet');
    assert.equal(trained.code, 0, trained.stderr);
    const common = ['nas', '--budget', '2steps', '--db', join(dir, 'nas.sqlite')];
    const cases: [string[], RegExp][] = [
      [['--supernet', supernet, '--trials', '4'], /--trials does not apply with --supernet: a one-shot search trains the top --confirm K/],
      [['--supernet', supernet, '--screen', '10'], /--screen does not apply with --supernet/],
      [['--supernet', supernet, '--space', 'b0'], /--space does not apply with --supernet: the space is the supernet's/],
      [['--supernet', supernet, '--image-size', '48'], /--image-size does not apply with --supernet/],
      [['--data', DATA, '--candidates', '100'], /--candidates is an option of a one-shot search: add --supernet DIR/],
      [['--data', DATA, '--confirm', '3'], /--confirm is an option of a one-shot search/],
      [['--supernet', supernet, '--latency', '--target-latency', '5'], /a one-shot search \(--supernet\) ranks by MACs/],
      [['--supernet', supernet, '--data', 'synthetic:train=32,val=8,classes=3,size=32'], /is not the data the supernet was trained on/],
      [['--supernet', join(dir, 'nowhere')], /is not a supernet run directory: supernet.json is missing/],
      [['--supernet', supernet, '--candidates', '0'], /--candidates/],
    ];
    for (const [args, pattern] of cases) {
      const { code, stderr } = effnet(...common, ...args);
      assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
      assert.match(stderr, pattern, args.join(' '));
    }
    assert.equal(existsSync(join(dir, 'nas.sqlite')), false, 'no store is created for refused input');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('confirmation candidates: one per network (a skip a stride-2 block cannot use changes the stage string, not the network)', () => {
  const space = resolveSearchSpace(SPACE);
  const base = { 's1.op': 'mbconv1', 's1.kernel': 3, 's1.se': 0, 's1.skip': 'identity', 's1.filters': 1, 's1.layers': 0, 's2.op': 'mbconv6', 's2.kernel': 3, 's2.se': 0, 's2.skip': 'identity', 's2.filters': 1, 's2.layers': -1, 's3.op': 'mbconv6', 's3.kernel': 5, 's3.se': 0, 's3.skip': 'identity', 's3.filters': 1, 's3.layers': 0 };
  const noSkip = { ...base, 's2.skip': 'none' }; // stage 2 keeps one block, of stride 2: its skip is never used
  const other = { ...base, 's3.kernel': 3 };
  const stages = (c: object): string[] => candidateConfig(space, c as Candidate, 32).stages!;
  assert.notDeepEqual(stages(noSkip), stages(base));
  assert.equal(builtNetwork(candidateConfig(space, noSkip as Candidate, 32)), builtNetwork(candidateConfig(space, base as Candidate, 32)));
  assert.notEqual(builtNetwork(candidateConfig(space, other as Candidate, 32)), builtNetwork(candidateConfig(space, base as Candidate, 32)));
  const record = (index: number, candidate: object, reward: number): RankedCandidate => ({ index, candidate: candidate as Candidate, accuracy: reward, macs: 1, params: 1, reward, seconds: 0 });
  const ranked = [record(0, noSkip, 0.7), record(1, base, 0.9), record(2, other, 0.8), record(3, base, 0.9)];
  const picked = confirmationCandidates({ space: SPACE, resolution: 32 }, ranked, 3);
  assert.deepEqual(picked.map((p) => p.candidate), [base, other]);
  assert.deepEqual(picked.map((p) => p.shared), [0.9, 0.8]);
});
