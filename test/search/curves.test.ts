/**
 * Learning curves of a search (src/search/curves.ts): per configuration, the mean over its seeds of the hold-out and
 * training top-1 at each epoch (a trial stopped early contributes up to its last epoch), one pair of charts for a
 * grid search and one per factor for a study (the base in each, aliases named with the network they share); and
 * through the CLI, `--report-only` draws them from the epoch metrics the store holds, into curves.svg linked from
 * report.md. Expected values are computed by hand from the numbers written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { curveFromEpochMetrics, learningCurveCharts, type CurvePoint } from '../../src/search/curves.js';
import type { SearchRow, TrialRow } from '../../src/search/store.js';

const mainJs = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function trial(partial: Partial<TrialRow> & { id: number; config: TrialRow['config'] }): TrialRow {
  return {
    searchId: 1, seq: partial.id, label: 'x', status: 'done', worker: null, pid: null, host: null, machine: null, attempts: 1, startedAt: 0, heartbeatAt: 0, leaseUntil: null,
    finishedAt: 0, error: null, params: 1e5, macs: 1e6, wallSeconds: 10, valTop1: 0.5, metrics: {}, ...partial,
  };
}

const search = (kind: 'grid' | 'study'): SearchRow => ({ id: 1, name: kind === 'grid' ? 'g' : 's', kind, spec: {}, createdAt: 0 });

const curve = (val: number[], train: number[]): CurvePoint[] => val.map((v, i) => ({ epoch: i + 1, valTop1: v, trainTop1: train[i] ?? null }));

test('grid curves: the mean over seeds at each epoch; a trial stopped early counts up to its last epoch; unfinished trials are left out', () => {
  const trials = [
    trial({ id: 1, label: 'a seed 0', config: { group: 'a', seed: 0 } }),
    trial({ id: 2, label: 'a seed 1', config: { group: 'a', seed: 1 } }),
    trial({ id: 3, label: 'b seed 0', config: { group: 'b', seed: 0 } }),
    trial({ id: 4, label: 'b seed 1', status: 'running', valTop1: null, config: { group: 'b', seed: 1 } }),
  ];
  const curves = new Map<number, CurvePoint[]>([
    [1, curve([0.1, 0.2, 0.3], [0.15, 0.25, 0.35])],
    [2, curve([0.3, 0.4], [0.05, 0.45])],
    [3, curve([0.5, 0.6, 0.7], [0.4, 0.5, 0.6])],
    [4, curve([0.9, 0.9, 0.9], [0.9, 0.9, 0.9])],
  ]);
  const charts = learningCurveCharts(search('grid'), trials, curves);
  assert.equal(charts.length, 2, 'hold-out, then training top-1');
  const [val, train] = charts;
  assert.deepEqual(val!.series.map((s) => s.name), ['a', 'b']);
  const close = (actual: { x: number; y: number }[], expected: [number, number][]): void => {
    assert.equal(actual.length, expected.length);
    actual.forEach((p, i) => {
      assert.equal(p.x, expected[i]![0]);
      assert.ok(Math.abs(p.y - expected[i]![1]) < 1e-12, `epoch ${p.x}: ${p.y} against ${expected[i]![1]}`);
    });
  };
  close(val!.series[0]!.points, [[1, 0.2], [2, 0.3], [3, 0.3]]);
  close(val!.series[1]!.points, [[1, 0.5], [2, 0.6], [3, 0.7]]);
  close(train!.series[0]!.points, [[1, 0.1], [2, 0.35], [3, 0.35]]);
  assert.match(val!.title, /hold-out top-1 per epoch/);
  assert.match(train!.title, /training top-1 per epoch/);
  assert.deepEqual(learningCurveCharts(search('grid'), trials, new Map()), [], 'no stored curve, no chart');
});

test('study curves: one pair of charts per factor, the base in each, an alias named with the network it shares', () => {
  const row = (id: number, strategy: string, factor: number, extra: TrialRow['config'] = {}): TrialRow =>
    trial({ id, label: `${strategy} x${factor} seed 2`, config: { group: `${strategy} x${factor}`, seed: 2, strategy, factor, ...extra } });
  const trials = [
    row(1, 'base', 1),
    row(2, 'depth', 2),
    row(3, 'resolution', 2, { aliases: [{ strategy: 'compound', label: 'compound x2' }] }),
    row(4, 'depth', 4),
  ];
  const curves = new Map<number, CurvePoint[]>(trials.map((t) => [t.id, curve([t.id / 10], [t.id / 20])]));
  const charts = learningCurveCharts(search('study'), trials, curves);
  assert.deepEqual(charts.map((c) => c.title), [
    's, x2: hold-out top-1 per epoch (mean over seeds)',
    's, x2: training top-1 per epoch (mean over seeds)',
    's, x4: hold-out top-1 per epoch (mean over seeds)',
    's, x4: training top-1 per epoch (mean over seeds)',
  ]);
  assert.deepEqual(charts[0]!.series.map((s) => s.name), ['base x1', 'depth x2', 'resolution x2 = compound x2']);
  assert.ok((charts[0]!.legendWidth ?? 0) >= 7 * 'resolution x2 = compound x2'.length, 'the legend is wide enough for the longest name');
  assert.deepEqual(charts[2]!.series.map((s) => s.name), ['base x1', 'depth x4']);
  assert.deepEqual(charts[2]!.series[1]!.points, [{ x: 1, y: 0.4 }]);
});

test('curveFromEpochMetrics keeps the epoch and reads missing or non-numeric top-1 as null', () => {
  assert.deepEqual(
    curveFromEpochMetrics([
      { epoch: 1, metrics: { valTop1: 0.25, trainTop1: 0.5 } },
      { epoch: 2, metrics: { valTop1: null, trainTop1: 'x' } },
    ]),
    [
      { epoch: 1, valTop1: 0.25, trainTop1: 0.5 },
      { epoch: 2, valTop1: null, trainTop1: null },
    ],
  );
});

test('scale-search --report-only draws the curves from the store\'s epoch metrics into curves.svg, linked from report.md', async () => {
  const { gridSearchDefinition } = await import('../../src/search/definitions.js');
  const { ExperimentStore, workerIdentity } = await import('../../src/search/store.js');
  const dir = mkdtempSync(join(tmpdir(), 'effnet-curves-'));
  try {
    const db = join(dir, 'store.sqlite');
    const definition = gridSearchDefinition({ base: { width: 0.25, depth: 0.2, resolution: 32, dropout: 0.2 }, data: 'synthetic:train=32,val=16,classes=4,size=32', numClasses: 4, budget: '2ep', step: 0.1, tolerance: 0.1, runDir: dir, repeats: 2 });
    const store = ExperimentStore.open(db);
    const expected = new Map<string, number[]>();
    try {
      const { search: row } = store.createOrResumeSearch('grid1', 'grid', definition.spec, definition.trials);
      const worker = workerIdentity('test');
      for (let held = store.claimTrial(row.id, worker), k = 0; held !== null; held = store.claimTrial(row.id, worker), k += 1) {
        const values = [0.1 + k / 100, 0.2 + k / 100];
        values.forEach((v, i) => store.recordEpoch(held!.id, held!.attempts, i + 1, { epoch: i + 1, valTop1: v, trainTop1: v / 2 }));
        store.finishTrial(held, worker, { params: 1, macs: 1, wallSeconds: 1, valTop1: values[1]!, metrics: {} });
        const group = String(held.config.group);
        expected.set(group, [...(expected.get(group) ?? []), ...values]);
      }
    } finally {
      store.close();
    }
    const result = spawnSync(process.execPath, [mainJs, 'scale-search', '--db', db, '--name', 'grid1', '--report-only', '--report-dir', join(dir, 'report')], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    const svg = readFileSync(join(dir, 'report', 'curves.svg'), 'utf8');
    assert.match(readFileSync(join(dir, 'report', 'report.md'), 'utf8'), /!\[learning curves\]\(curves\.svg\)/);
    // The first chart (hold-out top-1): each group's markers at epochs 1 and 2, the mean of its two seeds.
    const hold = svg.slice(0, svg.indexOf('training top-1 per epoch'));
    for (const [group, values] of expected) {
      const [s0e1, s0e2, s1e1, s1e2] = values as [number, number, number, number];
      for (const [epoch, mean] of [[1, (s0e1 + s1e1) / 2], [2, (s0e2 + s1e2) / 2]] as const) {
        // A point whose rounded network another point shares is named with it: 'a1.90_b1.00_g1.00 = a2.00_b1.00_g1.00'.
        const marker = new RegExp(`data-series="${group.replace(/\./g, '\\.')}(?: = [^"]*)?" data-x="${epoch}" data-y="([0-9.e-]+)"`).exec(hold);
        assert.ok(marker, `a marker for ${group} at epoch ${epoch}`);
        assert.ok(Math.abs(Number(marker[1]) - mean) < 1e-12, `${group} epoch ${epoch}: ${marker[1]} against ${mean}`);
      }
    }
    assert.ok(existsSync(join(dir, 'report', 'best.json')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('end gains: each trial measured at its own last epoch and the epoch `window` before, averaged; the report flags under-training by the pre-registered criterion', async () => {
  const { endGains } = await import('../../src/search/curves.js');
  const { groupTrials, gridReportMarkdown } = await import('../../src/search/report.js');
  const ramp = (from: number, step: number, epochs: number): number[] => Array.from({ length: epochs }, (_, i) => from + step * i);
  // 'deep': a gap below 0 and both curves rising 1 point per epoch (4 over the window); 'wide': rising, but its
  // training top-1 leads; 'flat': gap below 0, curves flat; 'short': its only trial stopped at epoch 3.
  const trials = [
    trial({ id: 1, label: 'deep seed 0', valTop1: 0.4, metrics: { trainTop1: 0.38 }, config: { group: 'deep', seed: 0 } }),
    trial({ id: 2, label: 'deep seed 1', valTop1: 0.42, metrics: { trainTop1: 0.4 }, config: { group: 'deep', seed: 1 } }),
    trial({ id: 3, label: 'wide', valTop1: 0.6, metrics: { trainTop1: 0.7 }, config: {} }),
    trial({ id: 4, label: 'flat', valTop1: 0.5, metrics: { trainTop1: 0.49 }, config: {} }),
    trial({ id: 5, label: 'short', valTop1: 0.3, metrics: { trainTop1: 0.2 }, config: {} }),
  ];
  const curves = new Map<number, CurvePoint[]>([
    [1, curve(ramp(0.3, 0.01, 11), ramp(0.28, 0.01, 11))],
    // seed 1 stopped by the rule at epoch 8: measured over its epochs 4-8 (hold-out +2 points there, training +6).
    [2, curve([0.1, 0.2, 0.3, 0.40, 0.40, 0.41, 0.41, 0.42], [0.1, 0.2, 0.3, 0.34, 0.36, 0.37, 0.38, 0.40])],
    [3, curve(ramp(0.5, 0.01, 11), ramp(0.6, 0.01, 11))],
    [4, curve(Array(11).fill(0.5), Array(11).fill(0.49))],
    [5, curve([0.1, 0.2, 0.3], [0.1, 0.15, 0.2])],
  ]);
  const groups = groupTrials(trials);
  const deep = endGains(groups[0]!, curves, 4);
  assert.equal(deep.trials, 2);
  assert.ok(Math.abs(deep.valGain! - (0.04 + 0.02) / 2) < 1e-12, `hold-out gain ${deep.valGain}`);
  assert.ok(Math.abs(deep.trainGain! - (0.04 + 0.06) / 2) < 1e-12, `training gain ${deep.trainGain}`);
  assert.deepEqual(endGains(groups[3]!, curves, 4), { window: 4, trials: 0, valGain: null, trainGain: null }, 'no epoch 4 before its last');
  const report = gridReportMarkdown(search('grid'), trials, curves);
  const row = (label: string): string => report.split('\n').find((line) => line.startsWith(`| ${label} |`)) ?? '';
  assert.match(row('deep'), /\| 2 \| \+3\.00 \| \+5\.00 \| -2\.00 \| \*\*under-trained\*\* \|$/);
  assert.match(row('wide'), /\| 1 \| \+4\.00 \| \+4\.00 \| \+10\.00 \| still rising \|$/);
  assert.match(row('flat'), /\| 1 \| \+0\.00 \| \+0\.00 \| -1\.00 \| levelled off \|$/);
  assert.equal(row('short'), '', 'a configuration without a long enough curve has no row');
  assert.doesNotMatch(gridReportMarkdown(search('grid'), trials), /Still learning/, 'no curves, no section');
});
