/**
 * Supernet training with uniform, progressive and sandwich sampling: the paths drawn are a function of (seed, step)
 * (progressive phases against hand-computed values, the distillation loss against an independent sum); a run stopped
 * mid-epoch and resumed ends with exactly the weights of the uninterrupted run (bit for bit), and the reopened
 * supernet (supernet.json + last checkpoint) extracts candidates; a run directory that already holds a run, a resume
 * with another seed, and a directory without supernet.json are refused with user errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isUserError } from '../../../src/errors.js';
import { resolveSearchSpace, type SearchSpaceDocument } from '../../../src/search/nas/space.js';
import { openSupernet, referenceCandidate, trainSupernet, uniformPath, SUPERNET_FILE } from '../../../src/search/oneshot/train.js';
import { extractCandidate } from '../../../src/search/oneshot/extract.js';
import { loadCheckpoint } from '../../../src/model-file/checkpoint.js';
import { randn, setNumThreads, tidy } from '../../../src/torch/index.js';
import { progressivePath, progressivePhase, sandwichStudents } from '../../../src/search/oneshot/sampling.js';
import { Supernet } from '../../../src/search/oneshot/supernet.js';
import { calibrationData, disposeBatches } from '../../../src/search/oneshot/search.js';
import { writeImageFolder } from '../../train/cli-helpers.js';
import { openData } from '../../../src/data/spec.js';
import { SPLIT_SEED } from '../../../src/train/split-file.js';

const SPACE: SearchSpaceDocument = {
  name: 'tiny',
  base: ['r1_k3_s11_e1_i32_o16', 'r2_k3_s22_e6_i16_o24', 'r2_k5_s22_e6_i24_o40'],
  choices: { op: ['mbconv1', 'mbconv6', 'fused4'], kernel: [3, 5], se: [0, 0.25], skip: ['identity', 'none'], filters: [0.5, 1.0], layers: [-1, 0] },
};
const DATA = 'synthetic:train=96,val=32,classes=3,size=32,seed=2';
const RECIPE = { epochs: 2, optimizer: 'sgd' as const, lr: 0.05, schedule: 'cosine' as const, weightDecay: 5e-4 };

function options(out: string) {
  return { space: SPACE, data: DATA, resolution: 32, out, recipe: RECIPE, batchSize: 16, seed: 3, workers: 0 };
}

test('uniform paths are a function of (seed, step) and cover the choices', () => {
  const space = resolveSearchSpace(SPACE);
  assert.deepEqual(uniformPath(space, 1, 7), uniformPath(space, 1, 7));
  assert.notDeepEqual(uniformPath(space, 1, 7), uniformPath(space, 2, 7));
  const ops = new Set(Array.from({ length: 60 }, (_, step) => uniformPath(space, 1, step)['s2.op']));
  assert.deepEqual([...ops].sort(), ['fused4', 'mbconv1', 'mbconv6']);
  // The b0-style base is not a point of this space (its filters hold 1.0, its stage 3 kernel 5: it is), so the reference is the base.
  assert.equal(referenceCandidate(space)['s3.kernel'], 5);
});

test('a supernet run stopped mid-epoch and resumed equals the uninterrupted run bit for bit', async () => {
  setNumThreads(1);
  const root = mkdtempSync(join(tmpdir(), 'effnet-supernet-'));
  try {
    const whole = join(root, 'whole');
    const first = await trainSupernet(options(whole));
    assert.equal(first.stopped, false);
    assert.equal(first.epochs.length, 2);
    assert.ok(existsSync(join(whole, SUPERNET_FILE)));

    const parted = join(root, 'parted');
    const stoppedRun = await trainSupernet({ ...options(parted), onStep: (step, trainer) => (step === 8 ? trainer.stop() : undefined) });
    assert.equal(stoppedRun.stopped, true);
    const rest = await trainSupernet({ ...options(parted), resume: true });
    assert.equal(rest.stopped, false);

    const a = loadCheckpoint(join(whole, 'last.safetensors'));
    const b = loadCheckpoint(join(parted, 'last.safetensors'));
    try {
      assert.equal(a.progress.step, b.progress.step);
      assert.equal(a.model.size, b.model.size);
      for (const [key, tensor] of a.model) {
        assert.deepEqual(Array.from(b.model.get(key)!.toFloat32Array()), Array.from(tensor.toFloat32Array()), key);
      }
    } finally {
      a.dispose();
      b.dispose();
    }

    const { supernet, description } = openSupernet(whole);
    try {
      assert.deepEqual(description.classes.length, 3);
      const { model, card } = extractCandidate(supernet, description.reference);
      assert.equal(card.classes.count, 3);
      model.dispose();
    } finally {
      supernet.dispose();
    }

    await assert.rejects(trainSupernet(options(whole)), (e: unknown) => isUserError(e) && /already holds a supernet run/.test((e as Error).message));
    await assert.rejects(trainSupernet({ ...options(whole), seed: 4, resume: true }), (e: unknown) => isUserError(e) && /the seed \(3 vs 4\)/.test((e as Error).message));
    assert.throws(() => openSupernet(root), (e: unknown) => isUserError(e) && /supernet\.json is missing/.test((e as Error).message));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('progressive sampling: the reference alone first, then kernel, layers, filters, SE+skip and the op freed in turn', () => {
  const space = resolveSearchSpace(SPACE);
  const reference = referenceCandidate(space);
  // 600 steps in 6 equal phases of 100 (hand-computed: phase = floor(step · 6 / 600)).
  assert.deepEqual([0, 99, 100, 250, 399, 400, 599].map((step) => progressivePhase(step, 600)), [0, 0, 1, 2, 3, 4, 5]);
  assert.equal(progressivePhase(10_000, 600), 5, 'steps past the end stay in the last phase');
  const varies = (from: number, to: number): Set<string> => {
    const seen = new Set<string>();
    for (let step = from; step < to; step++) {
      const path = progressivePath(space, reference, 1, step, 600);
      for (const [dimension, choice] of Object.entries(path)) if (choice !== reference[dimension]) seen.add(dimension.split('.')[1]!);
    }
    return seen;
  };
  assert.deepEqual([...varies(0, 100)], []);
  assert.deepEqual([...varies(100, 200)].sort(), ['kernel']);
  assert.deepEqual([...varies(200, 300)].sort(), ['kernel', 'layers']);
  assert.deepEqual([...varies(300, 400)].sort(), ['filters', 'kernel', 'layers']);
  assert.deepEqual([...varies(400, 500)].sort(), ['filters', 'kernel', 'layers', 'se', 'skip']);
  assert.deepEqual([...varies(500, 600)].sort(), ['filters', 'kernel', 'layers', 'op', 'se', 'skip']);
  assert.deepEqual(progressivePath(space, reference, 1, 550, 600), progressivePath(space, reference, 1, 550, 600));
  const students = sandwichStudents(space, 1, 7, 3);
  assert.equal(students.length, 3);
  assert.notDeepEqual(students[0], students[1]);
  assert.deepEqual(students, sandwichStudents(space, 1, 7, 3));
  assert.notDeepEqual(students[0], uniformPath(space, 1, 7), 'students are other draws than the uniform path of the step');
});

test('in-place distillation: the auxiliary loss is each student\'s soft cross-entropy against the reference\'s probabilities (independent float64 sum)', () => {
  setNumThreads(1);
  const space = resolveSearchSpace(SPACE);
  const supernet = new Supernet(space, { numClasses: 3, resolution: 32, dropout: 0 });
  try {
    supernet.train();
    const reference = referenceCandidate(space);
    const students = sandwichStudents(space, 4, 2, 2);
    tidy(() => {
      const x = randn([4, 3, 32, 32]);
      supernet.activate(reference);
      supernet.setStudents(students);
      const logits = supernet.forward(x);
      const auxiliary = supernet.takeAuxiliaryLoss()!;
      assert.equal(supernet.takeAuxiliaryLoss(), null, 'handed over once');
      // The reference: the same paths run one by one (BN in training uses the batch's statistics, so the order of the
      // passes does not change the outputs), the loss summed in float64 here.
      const teacher = supernet.forwardPath(x, supernet.pathOf(reference)).toFloat32Array();
      assert.deepEqual(Array.from(logits.toFloat32Array()), Array.from(teacher));
      let expected = 0;
      for (const student of students) {
        const s = supernet.forwardPath(x, supernet.pathOf(student)).toFloat32Array();
        for (let n = 0; n < 4; n++) {
          const row = (values: Float32Array): number[] => Array.from(values.slice(n * 3, n * 3 + 3));
          const t = row(teacher);
          const tMax = Math.max(...t);
          const tSum = t.reduce((a, v) => a + Math.exp(v - tMax), 0);
          const sRow = row(s);
          const sMax = Math.max(...sRow);
          const logZ = sMax + Math.log(sRow.reduce((a, v) => a + Math.exp(v - sMax), 0));
          expected -= t.reduce((a, v, c) => a + (Math.exp(v - tMax) / tSum) * (sRow[c]! - logZ), 0) / 4;
        }
      }
      assert.ok(Math.abs(auxiliary.item() - expected) < 1e-5, `auxiliary ${auxiliary.item()} vs ${expected}`);
      supernet.eval();
      supernet.forward(x);
      assert.equal(supernet.takeAuxiliaryLoss(), null, 'no distillation in eval mode');
    });
  } finally {
    supernet.dispose();
  }
});

test('a sandwich run stopped mid-epoch and resumed equals the uninterrupted run bit for bit; a resume with other sampling is refused', async () => {
  setNumThreads(1);
  const root = mkdtempSync(join(tmpdir(), 'effnet-sandwich-'));
  try {
    const sandwich = (out: string) => ({ ...options(out), recipe: { ...RECIPE, epochs: 1 }, sampling: 'sandwich' as const, students: 2 });
    const whole = join(root, 'whole');
    assert.equal((await trainSupernet(sandwich(whole))).stopped, false);
    const parted = join(root, 'parted');
    assert.equal((await trainSupernet({ ...sandwich(parted), onStep: (step, trainer) => (step === 3 ? trainer.stop() : undefined) })).stopped, true);
    await assert.rejects(trainSupernet({ ...options(parted), recipe: { ...RECIPE, epochs: 1 }, resume: true }), (e: unknown) => isUserError(e) && /the path sampling \(sandwich vs uniform\)/.test((e as Error).message));
    await trainSupernet({ ...sandwich(parted), resume: true });
    const a = loadCheckpoint(join(whole, 'last.safetensors'));
    const b = loadCheckpoint(join(parted, 'last.safetensors'));
    try {
      for (const [key, tensor] of a.model) assert.deepEqual(Array.from(b.model.get(key)!.toFloat32Array()), Array.from(tensor.toFloat32Array()), key);
    } finally {
      a.dispose();
      b.dispose();
    }
    const progressive = join(root, 'progressive');
    const run = await trainSupernet({ ...options(progressive), recipe: { ...RECIPE, epochs: 1 }, sampling: 'progressive' });
    assert.equal(run.epochs.length, 1);
    await assert.rejects(trainSupernet({ ...options(join(root, 'bad')), sampling: 'sandwich', students: 9 }), (e: unknown) => isUserError(e) && /0 to 8 students/.test((e as Error).message));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the hold-out fraction a supernet was trained with is the one its ranking and fidelity data use', async () => {
  setNumThreads(1);
  const root = mkdtempSync(join(tmpdir(), 'effnet-supernet-split-'));
  try {
    const out = join(root, 'run');
    const images = join(root, 'images');
    await writeImageFolder(images, 10);
    await trainSupernet({ ...options(out), data: images, valSplit: 0.25, recipe: { ...RECIPE, epochs: 1 } });
    const { supernet, description } = openSupernet(out);
    supernet.dispose();
    assert.equal(description.valSplit, 0.25);
    const data = await calibrationData(description, { calibrationBatches: 1, calibrationBatchSize: 8, validationImages: 1000, seed: 0 });
    try {
      const quarter = (await openData(images, { valSplit: 0.25, splitSeed: SPLIT_SEED })).val.length;
      const tenth = (await openData(images, { valSplit: 0.1, splitSeed: SPLIT_SEED })).val.length;
      assert.ok(quarter > tenth);
      assert.equal(data.images, quarter, 'the hold-out of training (a quarter), not the default tenth');
    } finally {
      disposeBatches([...data.calibration, ...data.validation]);
    }
    await assert.rejects(trainSupernet({ ...options(out), data: images, valSplit: 0.1, recipe: { ...RECIPE, epochs: 1 }, resume: true }), (e: unknown) => isUserError(e) && /hold-out fraction \(0\.25 vs 0\.1\)/.test((e as Error).message));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
