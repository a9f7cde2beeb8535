/**
 * The fidelity harness: Kendall's τ-b against hand-counted pairs (ties included), MAC-stratified candidates (one per
 * stratum, ascending), the summary's bookkeeping of converged, short and repeated trainings, and a whole run on a
 * tiny supernet that resumes without redoing any measurement, refuses another run's settings and names a damaged
 * record line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isUserError } from '../../../src/errors.js';
import { profileConfig } from '../../../src/search/match.js';
import { candidateConfig } from '../../../src/search/nas/search.js';
import { resolveSearchSpace, type SearchSpaceDocument } from '../../../src/search/nas/space.js';
import { kendallTau, measureFidelity, stratifiedCandidates, summariseFidelity, type FidelityRecord } from '../../../src/search/oneshot/fidelity.js';
import { trainSupernet } from '../../../src/search/oneshot/train.js';
import { setNumThreads } from '../../../src/torch/index.js';

const SPACE: SearchSpaceDocument = {
  name: 'tiny',
  base: ['r1_k3_s11_e1_i32_o16', 'r2_k3_s22_e6_i16_o24', 'r2_k5_s22_e6_i24_o40'],
  choices: { op: ['mbconv1', 'mbconv6', 'fused4'], kernel: [3, 5], se: [0, 0.25], skip: ['identity', 'none'], filters: [0.5, 1.0], layers: [-1, 0] },
};

test('Kendall τ-b: hand-counted concordant, discordant and tied pairs', () => {
  assert.equal(kendallTau([1, 2, 3, 4], [10, 20, 30, 40]), 1);
  assert.equal(kendallTau([1, 2, 3, 4], [4, 3, 2, 1]), -1);
  // (1,2) and (1,3) concordant, (2,3) discordant: (2 − 1) / 3.
  assert.ok(Math.abs(kendallTau([1, 2, 3], [1, 3, 2]) - 1 / 3) < 1e-12);
  // x = [1, 1, 2]: one pair tied in x only; 2 concordant: 2 / sqrt((2 + 1) · 2).
  assert.ok(Math.abs(kendallTau([1, 1, 2], [1, 2, 3]) - 2 / Math.sqrt(6)) < 1e-12);
  // x = [1,2,3,4,5], y = [3,4,1,2,5]: 6 concordant, 4 discordant of 10 pairs.
  assert.ok(Math.abs(kendallTau([1, 2, 3, 4, 5], [3, 4, 1, 2, 5]) - 0.2) < 1e-12);
  assert.ok(Number.isNaN(kendallTau([1, 2], [1, 2])));
  assert.ok(Number.isNaN(kendallTau([1, 1, 1], [1, 2, 3])));
});

test('stratified candidates: one per MAC stratum of the seeded pool, ascending, reproducible', () => {
  const space = resolveSearchSpace(SPACE);
  const picked = stratifiedCandidates(space, 32, 10, 5, 7, 100);
  assert.deepEqual(picked, stratifiedCandidates(space, 32, 10, 5, 7, 100));
  const macs = picked.map((c) => profileConfig(candidateConfig(space, c, 32), { numClasses: 10 }).macs);
  assert.deepEqual([...macs].sort((a, b) => a - b), macs);
  assert.ok(macs[4]! > macs[0]!, 'the strata span the MAC range');
  assert.throws(() => stratifiedCandidates(space, 32, 10, 2, 7), (e: unknown) => isUserError(e) && /at least 3 candidates/.test((e as Error).message));
});

test('the summary pairs converged, short and repeated trainings by epochs and seed', () => {
  const signals = (candidate: number, shared: number, macs: number): FidelityRecord[] => [
    { kind: 'signals', candidate, naswot: -shared, params: macs, macs },
    { kind: 'shared', candidate, supernet: 'a', top1: shared },
    { kind: 'shared', candidate, supernet: 'b', top1: -shared },
  ];
  const run = (candidate: number, epochs: number, seed: number, top1: number): FidelityRecord => ({ kind: 'standalone', candidate, epochs, seed, top1, seconds: 2 });
  const records = [
    ...signals(0, 0.1, 5), ...signals(1, 0.2, 4), ...signals(2, 0.3, 3),
    run(0, 1, 4, 0.3), run(1, 1, 4, 0.2), run(2, 1, 4, 0.1),
    run(0, 6, 4, 0.5), run(1, 6, 4, 0.6), run(2, 6, 4, 0.7),
    run(0, 6, 5, 0.55), run(1, 6, 5, 0.65), run(2, 6, 5, 0.6),
  ];
  const report = summariseFidelity(records, { epochs: 6, shortEpochs: 1, candidates: 3, seed: 4 });
  const by = Object.fromEntries(report.signals.map((s) => [s.signal, s]));
  assert.equal(by['shared-weight accuracy (a)']!.tau, 1);
  assert.equal(by['shared-weight accuracy (b)']!.tau, -1);
  assert.equal(by['standalone accuracy at 1 epoch']!.tau, -1);
  assert.equal(by['NASWOT score']!.tau, -1);
  assert.equal(by['MACs']!.tau, -1);
  assert.ok(Math.abs(report.seedCeiling!.tau - 1 / 3) < 1e-12);
  assert.equal(report.seconds, 18);
});

test('a fidelity run on a tiny supernet measures every signal, resumes without redoing anything, and refuses other settings', async () => {
  setNumThreads(1);
  const root = mkdtempSync(join(tmpdir(), 'effnet-fidelity-'));
  try {
    const supernet = join(root, 'supernet');
    await trainSupernet({ space: SPACE, data: 'synthetic:train=96,val=48,classes=3,size=32,seed=2', resolution: 32, out: supernet, recipe: { epochs: 1, optimizer: 'sgd', lr: 0.05, schedule: 'cosine' }, batchSize: 16, seed: 3, workers: 0 });
    const out = join(root, 'fidelity');
    const settings = { supernet, out, candidates: 3, epochs: 2, shortEpochs: 1, seedRepeats: 3, batchSize: 16, calibrationBatches: 1, validationImages: 48, workers: 0 };
    const report = await measureFidelity(settings);
    assert.equal(report.signals.find((s) => s.signal === 'shared-weight accuracy')!.n, 3);
    assert.equal(report.signals.length, 5, 'one shared-weight row, short training, NASWOT, params, MACs');
    assert.equal(report.seedCeiling?.n, 3);
    const lines = readFileSync(join(out, 'fidelity.jsonl'), 'utf8').trim().split('\n');
    assert.equal(lines.length, 3 + 3 + 3 + 3 + 3, 'signals, shared-weight accuracy, short, converged and repeated trainings of 3 candidates');
    assert.ok(existsSync(join(out, 'fidelity.md')));
    const again = await measureFidelity(settings);
    assert.deepEqual(again, report);
    assert.equal(readFileSync(join(out, 'fidelity.jsonl'), 'utf8').trim().split('\n').length, lines.length, 'nothing measured twice');
    await assert.rejects(measureFidelity({ ...settings, epochs: 3 }), (e: unknown) => isUserError(e) && /other settings/.test((e as Error).message));
    appendFileSync(join(out, 'fidelity.jsonl'), '{"kind": "standalone", "cand\n');
    await assert.rejects(measureFidelity(settings), (e: unknown) => isUserError(e) && /fidelity\.jsonl line 16 is not valid JSON/.test((e as Error).message));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
