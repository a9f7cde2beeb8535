/**
 * Supernet training with uniform single-path sampling: the paths drawn are a function of (seed, step); a run stopped
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
import { loadCheckpoint } from '../../../src/train/checkpoint.js';
import { setNumThreads } from '../../../src/torch/index.js';

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
