/**
 * The small pieces: budget parsing, the configuration file and --base forms, the progress line and ETA formula, the
 * SVG chart's coordinates, the reports' best trial and table, the P x T check (data specs: test/data/spec.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BudgetError, CONVERGENCE_MIN_EPOCHS, CONVERGENCE_MIN_WINDOW, DEFAULT_CONVERGE_MAX_EPOCHS, formatBudget, hasConverged, LEGACY_CONVERGENCE_MIN_WINDOW, parseBudget } from '../../src/search/budget.js';
import { ConfigFileError, readScaledConfig, resolveBase, writeScaledConfig } from '../../src/card/config-file.js';
import { estimateRemainingSeconds, formatDuration, formatProgress } from '../../src/search/progress.js';
import { ParallelismError, resolveThreads } from '../../src/search/runner.js';
import { bestGroup, compareGroups, gridReportMarkdown, groupTrials, studyReportMarkdown, studySeries } from '../../src/search/report.js';
import { lineChartSvg, niceTicks } from '../../src/chart.js';
import type { SearchRow, TrialRow } from '../../src/search/store.js';
import { convergedEpoch } from '../../src/search/trial.js';
import { trialSettingsFromSpec } from '../../src/search/definitions.js';

test('budgets: epochs, minutes, steps; bad forms refused', () => {
  assert.deepEqual(parseBudget('2ep'), { kind: 'epochs', value: 2 });
  assert.deepEqual(parseBudget('10min'), { kind: 'minutes', value: 10 });
  assert.deepEqual(parseBudget('1.5min'), { kind: 'minutes', value: 1.5 });
  assert.deepEqual(parseBudget('20steps'), { kind: 'steps', value: 20 });
  assert.equal(formatBudget(parseBudget('3 epochs')), '3ep');
  for (const bad of ['', '2', '1.5ep', '0ep', 'ten min', '-1min']) assert.throws(() => parseBudget(bad), BudgetError, bad);
  assert.deepEqual(parseBudget('converge'), { kind: 'converge', value: DEFAULT_CONVERGE_MAX_EPOCHS });
  assert.deepEqual(parseBudget('converge:60'), { kind: 'converge', value: 60 });
  assert.deepEqual(parseBudget(' Converge : 40ep '), { kind: 'converge', value: 40 });
  assert.equal(formatBudget(parseBudget('converge:60')), 'converge:60');
  for (const bad of ['converge:9', 'converge:0', 'converge:12.5', 'converge:', 'converges']) assert.throws(() => parseBudget(bad), BudgetError, bad);
});

test('the converge rule against hand-made curves: best gain over the last fifth of the epochs below 0.3 points, never before 10 epochs', () => {
  assert.equal(CONVERGENCE_MIN_EPOCHS, 10);
  const flat = Array.from({ length: 9 }, () => 0.5);
  assert.equal(hasConverged(flat), false, 'nine epochs are never judged');
  assert.equal(hasConverged([...flat, 0.5]), true, 'ten flat epochs have converged');
  // One point per epoch: after 10 epochs the last fifth (2 epochs) gained 2 points.
  const rising = Array.from({ length: 10 }, (_, i) => 0.3 + 0.01 * i);
  assert.equal(hasConverged(rising), false);
  // The window is floor(e / 5) epochs: at 14 epochs 2, at 15 epochs 3.
  const late = [...Array.from({ length: 12 }, () => 0.6), 0.6029, 0.6029];
  assert.equal(hasConverged(late), true, 'a gain of 0.29 points over the last 2 of 14 epochs');
  assert.equal(hasConverged([...Array.from({ length: 12 }, () => 0.6), 0.6, 0.6031]), false, 'a gain of 0.31 points');
  assert.equal(hasConverged([...Array.from({ length: 12 }, () => 0.6), 0.6031, 0.6, 0.6]), false, 'at 15 epochs the window holds epoch 13 and its gain');
  // Bests, not last values: a dip at the end is convergence, a best reached before the window is not a gain.
  assert.equal(hasConverged([0.2, 0.4, 0.5, 0.7, 0.71, 0.7, 0.69, 0.7, 0.705, 0.68, 0.6]), true);
  assert.equal(hasConverged([0.2, 0.4, 0.5, 0.6, 0.61, 0.62, 0.63, 0.64, 0.65, 0.66, 0.5, 0.7]), false);
});

test('the converge rule measures its gain over at least 4 epochs; a stored search without the field keeps 1', () => {
  assert.equal(CONVERGENCE_MIN_WINDOW, 4);
  assert.equal(LEGACY_CONVERGENCE_MIN_WINDOW, 1);
  // Two trials of the converged scaling run (docs/scaling.md; hold-out top-1 per epoch from its store) that the
  // one-epoch minimum stopped on a two-epoch stall: the grid's (2.1, 1, 1) seed 1 at epoch 12 (32.86%, 33.56%
  // against 33.28% before them) and the study's resolution x2 seed 2 at epoch 14 (54.96%, 56.08% against 55.82%).
  // Four epochs back both are still gaining (29.3% -> 33.56%; 52.96% -> 56.08%), and so three.
  const slowStarter = [0.1048, 0.1028, 0.1272, 0.1886, 0.2232, 0.2612, 0.2694, 0.293, 0.3146, 0.3328, 0.3286, 0.3356];
  const resolutionX2 = [0.1664, 0.3162, 0.357, 0.4126, 0.4228, 0.4814, 0.4806, 0.5076, 0.5172, 0.5296, 0.5434, 0.5582, 0.5496, 0.5608];
  for (const curve of [slowStarter, resolutionX2]) {
    assert.equal(convergedEpoch(curve, LEGACY_CONVERGENCE_MIN_WINDOW), curve.length, 'the old rule fired at the last epoch');
    assert.equal(convergedEpoch(curve), null);
    assert.equal(convergedEpoch(curve, 3), null);
  }
  // Four epochs without a gain after the best have converged; three have not (the window still holds the rise).
  // From 20 epochs a fifth is >= 4 and both rules agree.
  const plateau = [...Array.from({ length: 8 }, (_, i) => 0.3 + 0.02 * i), 0.5, 0.5, 0.5, 0.5, 0.5];
  assert.equal(hasConverged(plateau.slice(0, 12)), false, 'three epochs after the best');
  assert.equal(hasConverged(plateau.slice(0, 12), LEGACY_CONVERGENCE_MIN_WINDOW), true, 'the old rule: two were enough');
  assert.equal(hasConverged(plateau), true);
  const long = [...Array.from({ length: 16 }, (_, i) => 0.3 + 0.01 * i), 0.46, 0.46, 0.46, 0.46, 0.46];
  assert.equal(hasConverged(long), hasConverged(long, LEGACY_CONVERGENCE_MIN_WINDOW), 'at 21 epochs the window is the fifth, 4');
  assert.throws(() => hasConverged(plateau, 0), RangeError);
  // Stored specs: new converge searches record the window, a spec without it (stored before) replays the old rule.
  assert.equal(trialSettingsFromSpec({ budget: 'converge:24', batchSize: 32, seed: 0, recipe: {} }).convergeMinWindow, LEGACY_CONVERGENCE_MIN_WINDOW);
  assert.equal(trialSettingsFromSpec({ budget: 'converge:24', batchSize: 32, seed: 0, recipe: {}, convergeMinWindow: 4 }).convergeMinWindow, 4);
  for (const [field, value] of [['convergeMinWindow', 0], ['convergeMinWindow', 2.5], ['batchSize', '32'], ['seed', -1]] as const) {
    assert.throws(() => trialSettingsFromSpec({ budget: 'converge:24', batchSize: 32, seed: 0, recipe: {}, [field]: value }), (e: Error) => e.name === 'SearchSpecError' && e.message.includes(`${field} must be a whole number`));
  }
});

test('DB[:NAME] references: a trailing name is split off, ports and URL paths are not names', async () => {
  const { parseSearchReference } = await import('../../src/search/grid-best.js');
  assert.deepEqual(parseSearchReference('runs/scale.sqlite'), { store: 'runs/scale.sqlite', name: undefined });
  assert.deepEqual(parseSearchReference('runs/scale.sqlite:grid-1'), { store: 'runs/scale.sqlite', name: 'grid-1' });
  assert.deepEqual(parseSearchReference('postgres://u:p@db:5432/effnet'), { store: 'postgres://u:p@db:5432/effnet', name: undefined });
  assert.deepEqual(parseSearchReference('postgres://u:p@db:5432/effnet:grid'), { store: 'postgres://u:p@db:5432/effnet', name: 'grid' });
  assert.deepEqual(parseSearchReference('postgres://db:5432'), { store: 'postgres://db:5432', name: undefined });
});

test('configuration files round-trip; --base accepts a variant, an inline spec or a file', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'effnet-cfg-')), 'c.json');
  const config = { width: 0.3, depth: 0.4, resolution: 40, dropout: 0.1, stages: ['r1_k3_s11_e1_i32_o16_se0.25', 'r2_k3_s22_e6_i16_o24_se0.25'] };
  writeScaledConfig(file, config);
  assert.deepEqual(readScaledConfig(file), config);
  assert.deepEqual(resolveBase(file), config);
  assert.deepEqual(resolveBase('b2'), { width: 1.1, depth: 1.2, resolution: 260, dropout: 0.3 });
  // V2 brings its own stages (torchvision's V2-S table), so scaling it scales V2-S, not B0.
  const v2 = resolveBase('efficientnet_v2_s');
  assert.deepEqual({ ...v2, stages: undefined }, { width: 1, depth: 1, resolution: 384, dropout: 0.2, stages: undefined });
  assert.deepEqual(v2.stages?.slice(0, 2), ['r2_k3_s11_e1_i24_o24_f1', 'r4_k3_s22_e4_i24_o48_f1']);
  assert.equal(v2.stages?.length, 6);
  assert.deepEqual(resolveBase('width=0.25,depth=0.25,resolution=32'), { width: 0.25, depth: 0.25, resolution: 32, dropout: 0.2 });
  assert.throws(() => resolveBase('width=0.25,depth=0.25,resolution=16'), (e: unknown) => e instanceof ConfigFileError && /smaller than the network's total stride/.test(e.message));
  assert.throws(() => resolveBase('width=0.25,depht=1,resolution=32'), /unknown key 'depht'/);
  assert.throws(() => resolveBase('b42'), /unknown base 'b42'/);
  assert.throws(() => resolveBase('/nonexistent/c.json'), /cannot read configuration file/);
});

test('progress line and ETA', () => {
  const counts = { pending: 6, running: 2, done: 3, failed: 1, total: 12 };
  // 6 pending + 2 half-done running = 7 trial-lengths of 60 s, over 2 workers.
  assert.equal(estimateRemainingSeconds(counts, 60, 2), 210);
  assert.ok(Number.isNaN(estimateRemainingSeconds(counts, NaN, 2)));
  assert.equal(formatDuration(3725), '1h02m');
  assert.equal(formatProgress(counts, 62, 60, 2), 'trials 3/12 done, 2 running, 1 failed, 6 pending, elapsed 1m02s, ETA 3m30s');
});

test('P x T must fit the cores', () => {
  assert.equal(resolveThreads(2, undefined, 8), 4);
  assert.equal(resolveThreads(3, undefined, 8), 2);
  assert.equal(resolveThreads(2, 1, 2), 1);
  assert.throws(() => resolveThreads(2, 2, 2), ParallelismError);
  assert.throws(() => resolveThreads(3, undefined, 2), /exceeds the 2 cores/);
  assert.throws(() => resolveThreads(0, undefined, 2), /positive integer/);
});

test('SVG chart: points land where the axes say (log₂ x), one polyline per series', () => {
  const svg = lineChartSvg({
    title: 't <&>', xLabel: 'MACs', yLabel: 'top-1', logX: true, width: 640, height: 420,
    series: [{ name: 'depth', points: [{ x: 1e6, y: 0.5 }, { x: 4e6, y: 0.7 }] }, { name: 'width', points: [{ x: 2e6, y: 0.6 }] }],
  });
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.ok(svg.includes('t &lt;&amp;&gt;'));
  assert.equal((svg.match(/<polyline /g) ?? []).length, 1);
  assert.equal((svg.match(/<circle /g) ?? []).length, 3);
  // plot area: x from 70 to 480, y from 40 to 365; x range log2(1e6)..log2(4e6) → 2e6 sits exactly in the middle.
  const circles = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
  assert.deepEqual(circles.map((c) => c[0]), [70, 480, 275]);
  // y range 0.5..0.7 padded by 8% each side: 0.6 is the middle too.
  assert.equal(circles[2]![1], 202.5);
  assert.ok(circles[0]![1] > circles[1]![1], 'higher accuracy is drawn higher');
  assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
});

function trial(partial: Partial<TrialRow> & { config: TrialRow['config'] }): TrialRow {
  return {
    id: 1, searchId: 1, seq: 0, label: 'x', status: 'done', worker: null, pid: null, host: null, machine: null, attempts: 1, startedAt: 0, heartbeatAt: 0, leaseUntil: null,
    finishedAt: 0, error: null, params: 1e5, macs: 1e6, wallSeconds: 10, valTop1: 0.5, metrics: {}, ...partial,
  };
}

test('reports: best trial by accuracy (fewer MACs break ties), failed trials shown with their error', () => {
  const trials = [
    trial({ id: 1, seq: 0, label: 'a', valTop1: 0.6, macs: 2e6, config: { alpha: 1.2, beta: 1.1, gamma: 1.15, flopsGrowth: 1.92, config: { width: 1, depth: 1, resolution: 32 } } }),
    trial({ id: 2, seq: 1, label: 'b', valTop1: 0.6, macs: 1e6, config: { alpha: 1.4, beta: 1.1, gamma: 1.1, flopsGrowth: 2.05, config: { width: 1, depth: 1, resolution: 32 } } }),
    trial({ id: 3, seq: 2, label: 'c', status: 'failed', valTop1: null, error: 'boom | bad', config: { alpha: 2, beta: 1, gamma: 1, flopsGrowth: 2, config: { width: 1, depth: 1, resolution: 32 } } }),
  ];
  assert.equal(bestGroup(trials)!.label, 'b');
  const search: SearchRow = { id: 1, name: 'g', kind: 'grid', spec: { base: {}, data: 'd', budget: '1ep', batchSize: 64, seed: 0, recipe: {} }, createdAt: 0 };
  const md = gridReportMarkdown(search, trials);
  assert.match(md, /\*\*Best: α = 1\.40, β = 1\.10, γ = 1\.10\*\*/);
  assert.doesNotMatch(md, /only: compound scaling/, 'a point that grows two or three dimensions gets no note');
  assert.match(md, /failed: boom \\\| bad/);
  const series = studySeries([
    trial({ id: 1, config: { strategy: 'base', factor: 1 }, macs: 1, valTop1: 0.1 }),
    trial({ id: 2, config: { strategy: 'depth', factor: 2 }, macs: 2, valTop1: 0.2 }),
    trial({ id: 3, config: { strategy: 'width', factor: 2 }, macs: 2, valTop1: 0.3 }),
  ]);
  assert.deepEqual(series, [
    { name: 'depth', points: [{ x: 1, y: 0.1 }, { x: 2, y: 0.2 }] },
    { name: 'width', points: [{ x: 1, y: 0.1 }, { x: 2, y: 0.3 }] },
  ]);
});

test('repeats: ranked by the mean over seeds (not the luckiest seed), mean ± sd in the reports, study lines through the means', () => {
  const grid = (label: string, seq: number, seed: number, valTop1: number | null, alpha: number, status: TrialRow['status'] = 'done'): TrialRow =>
    trial({ id: seq + 1, seq, label: `${label} seed ${seed}`, valTop1, status, config: { group: label, seed, alpha, beta: 1, gamma: 1, flopsGrowth: alpha, config: { width: 1, depth: alpha, resolution: 32 } } });
  // 'lucky' has the single best run (0.50) but the lower mean (0.43); 'steady' has the higher mean (0.45).
  const trials = [grid('lucky', 0, 0, 0.5, 2), grid('steady', 1, 0, 0.44, 1.5), grid('lucky', 2, 1, 0.36, 2), grid('steady', 3, 1, 0.46, 1.5), grid('late', 4, 0, null, 1.2, 'pending')];
  const groups = groupTrials(trials);
  assert.deepEqual(groups.map((g) => [g.label, g.trials.length]), [['lucky', 2], ['steady', 2], ['late', 1]]);
  const best = bestGroup(trials)!;
  assert.equal(best.label, 'steady');
  assert.ok(Math.abs(best.meanTop1! - 0.45) < 1e-12);
  assert.ok(Math.abs(best.sdTop1! - Math.sqrt(((0.44 - 0.45) ** 2 + (0.46 - 0.45) ** 2) / 1)) < 1e-12, 'sample standard deviation');
  const search: SearchRow = { id: 1, name: 'g', kind: 'grid', spec: { base: {}, data: 'd', budget: '1ep', batchSize: 64, seed: 0, repeats: 2, recipe: {} }, createdAt: 0 };
  const md = gridReportMarkdown(search, trials);
  assert.match(md, /2 repeats per configuration \(seeds 0-1\), ranked by their mean top-1/);
  assert.match(md, /\*\*Best: α = 1\.50,.*validation top-1 45\.00% ± 1\.41 \(44\.00, 46\.00\) over 2 seeds.* It scales depth only: compound scaling with these coefficients is depth-only scaling\./);
  const rows = md.split('\n').filter((l) => /^\| (\d|–) \|/.test(l));
  assert.equal(rows.length, 3, 'one row per configuration');
  assert.match(rows[0]!, /^\| 1 \| 1\.50 .*45\.00% ± 1\.41 \(44\.00, 46\.00\) .*\| 2\/2 done \|/);
  assert.match(rows[1]!, /^\| 2 \| 2\.00 .*43\.00% ± 9\.90 \(50\.00, 36\.00\)/);
  assert.match(rows[2]!, /^\| – \| 1\.20 .*\| pending \|/);
  const study = (strategy: string, factor: number, seq: number, seed: number, valTop1: number, macs: number): TrialRow =>
    trial({ id: seq + 1, seq, label: `${strategy} x${factor} seed ${seed}`, valTop1, macs, config: { group: `${strategy} x${factor}`, seed, strategy, factor, config: { width: 1, depth: 1, resolution: 32 } } });
  const studyTrials = [study('base', 1, 0, 0, 0.2, 1), study('depth', 2, 1, 0, 0.3, 2), study('width', 2, 2, 0, 0.35, 2), study('base', 1, 3, 1, 0.4, 1), study('depth', 2, 4, 1, 0.5, 2), study('width', 2, 5, 1, 0.41, 2)];
  const series = studySeries(studyTrials);
  assert.deepEqual(series.map((s) => s.name), ['depth', 'width']);
  for (const [s, mean] of [[series[0]!, 0.4], [series[1]!, 0.38]] as const) {
    assert.equal(s.points.length, 2);
    assert.ok(Math.abs(s.points[0]!.y - 0.3) < 1e-12 && s.points[0]!.x === 1, 'the base mean starts each line');
    assert.ok(Math.abs(s.points[1]!.y - mean) < 1e-12 && s.points[1]!.x === 2);
  }
  const studyMd = studyReportMarkdown({ id: 2, name: 's', kind: 'study', spec: { base: {}, data: 'd', budget: '1ep', batchSize: 64, seed: 0, repeats: 2, recipe: {} }, createdAt: 0 }, studyTrials);
  assert.match(studyMd, /- x2: depth \(40\.00%\)/, 'depth wins on the mean although width had the better first seed');
});

test('study report: activations from the profiler, the train/hold-out gap, and compound against each single dimension in standard errors', async () => {
  const { profileConfig } = await import('../../src/search/match.js');
  const config = { width: 0.5, depth: 0.5, resolution: 40, dropout: 0.2 };
  let seq = 0;
  const run = (strategy: string, seed: number, valTop1: number, trainTop1: number, scaling?: string): TrialRow =>
    trial({
      id: ++seq, seq, label: `${strategy} x2 seed ${seed}`, valTop1, macs: 2,
      metrics: { trainTop1, trainImagesPerSecond: 100 + seed },
      config: { group: `${strategy} x2`, seed, strategy, factor: 2, ...(scaling === undefined ? {} : { scaling }), config },
    });
  const trials = [
    run('compound', 0, 0.62, 0.7), run('compound', 1, 0.64, 0.72), run('compound', 2, 0.63, 0.71),
    run('depth', 0, 0.55, 0.6), run('depth', 1, 0.59, 0.61), run('depth', 2, 0.57, 0.62),
    run('width', 0, 0.62, 0.8), run('width', 1, 0.64, 0.8), run('width', 2, 0.63, 0.8),
    run('compound-paper', 0, 0.6, 0.7, 'compound'),
  ];
  const md = studyReportMarkdown({ id: 3, name: 's', kind: 'study', spec: { base: {}, data: 'd', budget: 'converge:40', batchSize: 64, seed: 0, repeats: 3, recipe: {}, numClasses: 10 }, createdAt: 0 }, trials);
  const expectedActivations = `${(profileConfig(config, { numClasses: 10 }).activations / 1e6).toFixed(3)}M`;
  const compoundRow = md.split('\n').find((line) => line.startsWith('| 2 | compound | '))!;
  assert.ok(compoundRow.includes(`| ${expectedActivations} |`), compoundRow);
  assert.match(compoundRow, /\| 71\.00% \(\+8\.00\) \| 101 \|/, 'train top-1 mean 71% and its gap to the hold-out mean 63%');
  // compound 0.63 ± 0.01 (n 3) vs depth 0.57 ± 0.02 (n 3): difference 6 points, SE sqrt(0.01²/3 + 0.02²/3) = 1.29 points, z 4.65.
  const se = Math.sqrt(0.01 ** 2 / 3 + 0.02 ** 2 / 3);
  assert.match(md, new RegExp(`\\| 2 \\| compound \\| depth \\| \\+6\\.00 \\| ${(se * 100).toFixed(2)} \\| ${(0.06 / se).toFixed(2)} \\| better by > 2 SE \\|`));
  assert.match(md, /\| 2 \| compound \| width \| \+0\.00 \| 0\.82 \| 0\.00 \| within 2 SE \|/);
  assert.doesNotMatch(md, /compound \| resolution/, 'no row without the single-dimension trials');
  assert.match(md, /\| 2 \| compound-paper \| depth \| \+3\.00 \| – \| – \| one seed: no standard error \(use --repeats\) \|/);
  const direct = compareGroups(groupTrials(trials)[0]!, groupTrials(trials)[1]!)!;
  assert.ok(Math.abs(direct.z! - 0.06 / se) < 1e-9);
});

test('grid report: activations from the profiler, train top-1 and its gap, img/s, and how each converge trial ended', async () => {
  const { profileConfig } = await import('../../src/search/match.js');
  const config = { width: 0.5, depth: 0.5, resolution: 40, dropout: 0.2 };
  const run = (seq: number, seed: number, valTop1: number, metrics: TrialRow['metrics']): TrialRow =>
    trial({ id: seq + 1, seq, label: `a seed ${seed}`, valTop1, metrics, config: { group: 'a', seed, alpha: 1.2, beta: 1.1, gamma: 1.15, flopsGrowth: 1.92, config } });
  const trials = [
    // the rule fired after epoch 12 and the cosine was annealed over 3 more; the other seed ran to the cap.
    run(0, 0, 0.6, { trainTop1: 0.7, trainImagesPerSecond: 300, epochsCompleted: 15, convergedAtEpoch: 12, annealEpochs: 3 }),
    run(1, 1, 0.62, { trainTop1: 0.74, trainImagesPerSecond: 310, epochsCompleted: 24, convergedAtEpoch: null, annealEpochs: 0 }),
  ];
  // The rule first met at the cap's own epoch: the full schedule ran, nothing was cut.
  const atCap = gridReportMarkdown(
    { id: 1, name: 'g', kind: 'grid', spec: { base: {}, data: 'd', budget: 'converge:24', batchSize: 64, seed: 0, recipe: {}, numClasses: 10 }, createdAt: 0 },
    [run(0, 0, 0.6, { epochsCompleted: 24, convergedAtEpoch: 24, annealEpochs: 0 })],
  );
  assert.match(atCap, /\| cap 24 \(rule met\) \|/);
  const search: SearchRow = { id: 1, name: 'g', kind: 'grid', spec: { base: {}, data: 'd', budget: 'converge:24', batchSize: 64, seed: 0, repeats: 2, recipe: {}, numClasses: 10 }, createdAt: 0 };
  const md = gridReportMarkdown(search, trials);
  const row = md.split('\n').find((l) => l.startsWith('| 1 | 1.20 '))!;
  const activations = `${(profileConfig(config, { numClasses: 10 }).activations / 1e6).toFixed(3)}M`;
  // train mean 72%, hold-out mean 61%: gap +11 points; img/s mean 305.
  assert.ok(row.includes(`| ${activations} | 61.00% ± 1.41 (60.00, 62.00) | 72.00% (+11.00) | 305 | rule 12+3, cap 24 |`), row);
  const fixed = gridReportMarkdown({ ...search, spec: { ...search.spec, budget: '2ep' } }, [run(0, 0, 0.6, { epochsCompleted: 2 })]);
  assert.match(fixed, /\| – \| – \| 2 \|/, 'a fixed budget shows the epochs trained, and dashes where nothing was recorded');
});

test('study aliases: a compound series that scales one dimension only is the resolution network, trained once and reported as such', async () => {
  const { scalingStudyDefinition } = await import('../../src/search/definitions.js');
  const { studyGroups } = await import('../../src/search/report.js');
  const base = { width: 0.25, depth: 0.2, resolution: 32, dropout: 0.2 };
  const options = { base, data: 'synthetic:train=8,val=4,classes=2,size=32', numClasses: 10, budget: '1ep', runDir: '/tmp/unused', factors: [2, 4], macTolerance: 0.1 };
  const resolutionOnly = scalingStudyDefinition({ ...options, coefficients: { alpha: 1, beta: 1, gamma: 1.2 }, repeats: 2 });
  const paper = scalingStudyDefinition({ ...options, coefficients: { alpha: 1.2, beta: 1.1, gamma: 1.15 }, repeats: 2 });
  assert.equal(paper.trials.length, 2 * 9, 'the paper coefficients scale every dimension: nine distinct networks');
  assert.equal(resolutionOnly.trials.length, 2 * 7, 'compound with (1, 1, γ) is the resolution network at each factor');
  const resolutionTrial = resolutionOnly.trials.find((t) => t.label === 'resolution x2 seed 0')!;
  assert.deepEqual((resolutionTrial.config.aliases as { label: string; strategy: string }[]).map((a) => [a.label, a.strategy]), [['compound x2', 'compound']]);
  assert.equal(resolutionOnly.trials.find((t) => t.label === 'depth x2 seed 0')!.config.aliases, undefined, 'no aliases field where there is none');
  // Results: each trained configuration gets its own scores; the alias shares the resolution network's.
  let seq = 0;
  const score: Record<string, [number, number]> = { base: [0.3, 0.32], depth: [0.4, 0.44], width: [0.41, 0.43], resolution: [0.5, 0.52] };
  const rows = resolutionOnly.trials.map((t) =>
    trial({ id: ++seq, seq, label: t.label, valTop1: score[String(t.config.strategy)]![Number(t.config.seed)]!, macs: Number(t.config.macs), config: t.config }),
  );
  const groups = studyGroups(rows);
  assert.equal(groups.length, 9, 'every series listed, the two aliases included');
  const compound2 = groups.find((g) => g.label === 'compound x2')!;
  assert.equal(compound2.trials[0]!.config.strategy, 'compound');
  assert.ok(Math.abs(compound2.meanTop1! - 0.51) < 1e-12);
  const md = studyReportMarkdown({ id: 1, name: 's', kind: 'study', spec: { base: {}, data: 'd', budget: '1ep', batchSize: 64, seed: 0, repeats: 2, recipe: {}, numClasses: 10 }, createdAt: 0 }, rows);
  assert.match(md, /\| 2 \| compound \| .*\| same network as resolution x2 \(trained once\) \|/);
  assert.match(md, /- x2: tie between resolution, compound \(51\.00%\)/);
  assert.match(md, /\| 2 \| compound \| resolution \| \+0\.00 \| – \| – \| the same network \(trained once\): no comparison \|/);
  assert.match(md, /^- x2, compound: the same network as resolution here: no claim of its own to test; beats depth, width\.$/m);
  assert.match(md, /\| 2 \| compound \| depth \| \+9\.00 \|/, 'against the other dimensions, the shared result is compared as usual');
  const compoundLine = studySeries(rows).find((series) => series.name === 'compound')!;
  assert.deepEqual(compoundLine.points.map((p) => p.y.toFixed(2)), ['0.31', '0.51', '0.51']);
});

test('repeats: seed-major trial lists carrying their group and seed; the worker trains each with its own seed', async () => {
  const { gridSearchDefinition, repeatTrials } = await import('../../src/search/definitions.js');
  const base = { width: 0.25, depth: 0.2, resolution: 32, dropout: 0.2 };
  const options = { base, data: 'synthetic:train=8,val=4,classes=2,size=32', numClasses: 10, budget: '1ep', step: 0.1, tolerance: 0.1, runDir: '/tmp/unused', seed: 5 };
  const once = gridSearchDefinition(options);
  const thrice = gridSearchDefinition({ ...options, repeats: 3 });
  assert.equal(once.spec.repeats, undefined, 'a single run stores no repeats field, so older searches resume unchanged');
  assert.equal(thrice.spec.repeats, 3);
  assert.equal(thrice.trials.length, 3 * once.trials.length);
  thrice.trials.forEach((t, i) => {
    const original = once.trials[i % once.trials.length]!;
    const seed = 5 + Math.floor(i / once.trials.length);
    assert.equal(t.label, `${original.label} seed ${seed}`);
    assert.deepEqual(t.config, { ...original.config, group: original.label, seed });
    assert.equal(trialSettingsFromSpec(thrice.spec, t.config).seed, seed);
  });
  assert.equal(trialSettingsFromSpec(once.spec, once.trials[0]!.config).seed, 5, 'without repeats the search seed');
  assert.throws(() => repeatTrials(once.trials, 0, 0), /repeats must be an integer >= 1/);
});

test('grid definition: every grid point is trained once, points building the same network share one trial', async () => {
  const { gridSearchDefinition, networkKey } = await import('../../src/search/definitions.js');
  const { enumerateGrid } = await import('../../src/search/grid.js');
  const base = { width: 0.25, depth: 0.2, resolution: 32, dropout: 0.2 };
  const definition = gridSearchDefinition({ base, data: 'synthetic:train=8,val=4,classes=2,size=32', numClasses: 10, budget: '1ep', step: 0.05, tolerance: 0.1, runDir: '/tmp/unused' });
  const points = enumerateGrid({ step: 0.05, tolerance: 0.1 });
  const labels = definition.trials.flatMap((t) => [t.label, ...(t.config.aliases as { label: string }[]).map((a) => a.label)]);
  assert.equal(labels.length, points.length);
  assert.equal(new Set(labels).size, points.length);
  assert.equal(definition.spec.convergeMinWindow, undefined, 'an epoch budget stores no stop-rule window (its spec as before)');
  const converging = gridSearchDefinition({ base, data: 'synthetic:train=8,val=4,classes=2,size=32', numClasses: 10, budget: 'converge:12', step: 0.05, tolerance: 0.1, runDir: '/tmp/unused' });
  assert.equal(converging.spec.convergeMinWindow, CONVERGENCE_MIN_WINDOW, 'a converge budget stores the window its trials use');
  assert.equal(trialSettingsFromSpec(converging.spec).convergeMinWindow, CONVERGENCE_MIN_WINDOW);
  const keys = definition.trials.map((t) => networkKey(t.config.config as unknown as typeof base));
  assert.equal(new Set(keys).size, keys.length, 'no two trials build the same network');
  assert.ok(definition.trials.length < points.length, 'this small base has duplicate networks (depth 0.2·α ≤ 0.25 keeps every stage at one block)');
  // Each alias, scaled independently here, builds exactly its trial's network.
  const { scaleBase } = await import('../../src/search/match.js');
  let aliasCount = 0;
  for (const t of definition.trials) {
    for (const alias of t.config.aliases as { alpha: number; beta: number; gamma: number }[]) {
      aliasCount += 1;
      assert.equal(networkKey(scaleBase(base, alias)), networkKey(t.config.config as unknown as typeof base));
    }
  }
  assert.equal(aliasCount, points.length - definition.trials.length);
  assert.equal(definition.spec.grid && (definition.spec.grid as { gridPoints: number }).gridPoints, points.length);
});

test('grid definition with a MAC tolerance: exactly the networks within it of target x the base MACs are kept', async () => {
  const { gridSearchDefinition, networkKey } = await import('../../src/search/definitions.js');
  const { profileConfig } = await import('../../src/search/match.js');
  // A 16 px base with pinned stride-8 stages (issue 24's proxy shape): α·β²·γ² ≈ 2 spans 1.5x-3x its MACs there.
  const stages = ['r1_k3_s11_e1_i32_o16_se0.25', 'r2_k3_s11_e6_i16_o24_se0.25', 'r2_k5_s11_e6_i24_o40_se0.25', 'r3_k3_s22_e6_i40_o80_se0.25', 'r3_k5_s11_e6_i80_o112_se0.25', 'r4_k5_s22_e6_i112_o192_se0.25', 'r1_k3_s11_e6_i192_o320_se0.25'];
  const base = { width: 0.25, depth: 1.5, resolution: 16, dropout: 0.2, stages };
  const options = { base, data: 'synthetic:train=8,val=4,classes=2,size=16', numClasses: 10, budget: '1ep', step: 0.1, tolerance: 0.1, runDir: '/tmp/unused' };
  const all = gridSearchDefinition(options);
  const filtered = gridSearchDefinition({ ...options, macTolerance: 0.1 });
  const target = 2 * profileConfig(base, { numClasses: 10 }).macs;
  const inside = all.trials.filter((t) => Math.abs((t.config.macs as number) / target - 1) <= 0.1);
  assert.ok(inside.length > 0 && inside.length < all.trials.length, `the filter must keep some and drop some (${inside.length} of ${all.trials.length})`);
  assert.deepEqual(filtered.trials.map((t) => t.label), inside.map((t) => t.label));
  for (const t of filtered.trials) assert.equal(t.config.macs, profileConfig(t.config.config as unknown as typeof base, { numClasses: 10 }).macs);
  assert.equal(new Set(filtered.trials.map((t) => networkKey(t.config.config as unknown as typeof base))).size, filtered.trials.length);
  const grid = filtered.spec.grid as { macTolerance: number; outsideMacWindow: number };
  assert.equal(grid.macTolerance, 0.1);
  assert.equal(grid.outsideMacWindow, all.trials.length - inside.length);
  assert.equal((all.spec.grid as { macTolerance?: number }).macTolerance, undefined, 'stored only when given: older grid searches resume unchanged');
  assert.throws(() => gridSearchDefinition({ ...options, macTolerance: 0.0001 }), /no network of the grid has MACs within 0.0001 of 2 x the base's/);
  assert.throws(() => gridSearchDefinition({ ...options, macTolerance: -1 }), /macTolerance must be a number > 0/);
});

test('study report: the claim per compound series and factor holds only when it is > 2 SE ahead of all three dimensions', async () => {
  const config = { width: 0.5, depth: 0.5, resolution: 40, dropout: 0.2 };
  let seq = 0;
  const run = (strategy: string, factor: number, seed: number, valTop1: number | null, scaling?: string): TrialRow =>
    trial({
      id: ++seq, seq, label: `${strategy} x${factor} seed ${seed}`, valTop1, macs: 2, status: valTop1 === null ? 'pending' : 'done',
      config: { group: `${strategy} x${factor}`, seed, strategy, factor, ...(scaling === undefined ? {} : { scaling }), config },
    });
  const three = (strategy: string, factor: number, values: (number | null)[], scaling?: string): TrialRow[] => values.map((v, seed) => run(strategy, factor, seed, v, scaling));
  const trials = [
    // x2: compound-paper 0.70 ± 0.01 beats depth (0.60), width (0.62) and resolution (0.66 ± 0.01: z = 4.9).
    ...three('compound-paper', 2, [0.69, 0.7, 0.71], 'compound'), ...three('depth', 2, [0.59, 0.6, 0.61]), ...three('width', 2, [0.61, 0.62, 0.63]), ...three('resolution', 2, [0.65, 0.66, 0.67]),
    // x4: ahead of depth, level with width, behind resolution; and one width seed still to run.
    ...three('compound-paper', 4, [0.69, 0.7, 0.71], 'compound'), ...three('depth', 4, [0.5, 0.52, 0.54]), ...three('width', 4, [0.68, 0.72, null]), ...three('resolution', 4, [0.74, 0.75, 0.76]),
  ];
  const md = studyReportMarkdown({ id: 4, name: 's', kind: 'study', spec: { base: {}, data: 'd', budget: '1ep', batchSize: 64, seed: 0, repeats: 3, recipe: {}, numClasses: 10 }, createdAt: 0 }, trials);
  assert.match(md, /^- x2, compound-paper: \*\*holds\*\*; beats depth, width, resolution\.$/m);
  assert.match(md, /^- x4, compound-paper: \*\*does not hold\*\* \(interim: trials of these groups are still to run\); beats depth; not separated from width; beaten by resolution\.$/m);
  // One seed each: no standard error, no verdict.
  const single = studyReportMarkdown({ id: 4, name: 's', kind: 'study', spec: { base: {}, data: 'd', budget: '1ep', batchSize: 64, seed: 0, repeats: 1, recipe: {}, numClasses: 10 }, createdAt: 0 }, [
    run('compound-paper', 2, 0, 0.7, 'compound'), run('depth', 2, 0, 0.6), run('width', 2, 0, 0.6),
  ]);
  assert.match(single, /^- x2, compound-paper: not decided yet; no standard error yet against depth, width, resolution\.$/m, 'resolution not trained: undecided, not "holds"');
});
