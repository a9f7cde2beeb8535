/**
 * The one-shot supernet against its independent reference, the standalone network that a candidate's model card
 * builds (createModelFromCard, the EfficientNet modules): for candidates that exercise each sharing rule (filter and
 * expansion masking, a 3x3 kernel as the centre of the 5x5, layers dropped, fused blocks with and without
 * expansion, squeeze-excite and skip on and off), the extracted network's output equals the supernet path's output
 * in eval mode, its parameter gradients equal the shared weights' gradients on the path (and nothing off the path
 * gets a gradient), and a training-mode step moves the same running statistics. Bad spaces and options are
 * refused with a SupernetError.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { abs, amax, argmax, cat, crossEntropy, fill_, manualSeed, mean, noGrad, randint, randn, sub, sum, tidy, uniform_, zero_, type Tensor } from '../../../src/torch/index.js';
import { resolveSearchSpace, type ResolvedSearchSpace } from '../../../src/search/nas/space.js';
import { builtInSpace } from '../../../src/search/nas/spaces.js';
import { flatSearchSpace } from '../../../src/search/nas/space.js';
import { randomCandidate, SearchSpaceError, type Candidate } from '../../../src/search/nas/strategy.js';
import { Rng } from '../../../src/data/rng.js';
import { Supernet, SupernetError, type KernelSharing } from '../../../src/search/oneshot/supernet.js';
import { extractCandidate, pathStateDict } from '../../../src/search/oneshot/extract.js';
import { BatchNorm2d, type Module } from '../../../src/nn/index.js';
import { sharedWeightAccuracy } from '../../../src/search/oneshot/rank.js';
import { isUserError } from '../../../src/errors.js';

/** Three stages (stride 1, 2, 2: total stride 8, so 32 px needs no small-image change), every kind of choice. */
function tinySpace(): ResolvedSearchSpace {
  return resolveSearchSpace({
    name: 'tiny',
    base: ['r1_k3_s11_e1_i32_o16', 'r2_k3_s22_e6_i16_o24', 'r2_k5_s22_e6_i24_o40'],
    choices: {
      op: ['mbconv1', 'mbconv3', 'mbconv6', 'fused1', 'fused4'],
      kernel: [3, 5],
      se: [0, 0.25],
      skip: ['identity', 'none'],
      filters: [0.5, 1.0],
      layers: [-1, 0, 1],
    },
  });
}

function candidate(stages: [string, number, number, string, number, number][]): Candidate {
  const c: Candidate = {};
  stages.forEach(([op, kernel, se, skip, filters, layers], i) => {
    Object.assign(c, { [`s${i + 1}.op`]: op, [`s${i + 1}.kernel`]: kernel, [`s${i + 1}.se`]: se, [`s${i + 1}.skip`]: skip, [`s${i + 1}.filters`]: filters, [`s${i + 1}.layers`]: layers });
  });
  return c;
}

/** Candidates chosen so that each sharing rule is on at least one path, and the largest and smallest of the space. */
const CANDIDATES: Record<string, Candidate> = {
  largest: candidate([['mbconv6', 5, 0.25, 'identity', 1, 1], ['mbconv6', 5, 0.25, 'identity', 1, 1], ['fused4', 5, 0.25, 'identity', 1, 1]]),
  'smallest (layers dropped, half filters, 3x3 centre)': candidate([['mbconv1', 3, 0, 'none', 0.5, -1], ['mbconv1', 3, 0, 'none', 0.5, -1], ['fused1', 3, 0, 'none', 0.5, -1]]),
  'mixed (fused without expansion + SE, mbconv3 in 5x5)': candidate([['fused1', 5, 0.25, 'identity', 1, 0], ['mbconv3', 3, 0.25, 'identity', 0.5, 1], ['mbconv6', 3, 0, 'identity', 0.5, 0]]),
  'fused expansion with 3x3 centre, skip off': candidate([['mbconv3', 3, 0, 'identity', 0.5, 1], ['fused4', 3, 0.25, 'none', 1, 0], ['fused4', 3, 0.25, 'identity', 0.5, 1]]),
};

/** Random BN affine parameters and running statistics, so that eval-mode BN is not the identity. */
function randomiseNorms(supernet: Supernet): void {
  noGrad(() => {
    for (const module of supernet.modules()) {
      if (!(module instanceof BatchNorm2d)) continue;
      uniform_(module.weight!, 0.5, 1.5);
      uniform_(module.bias!, -0.2, 0.2);
      uniform_(module.runningMean!, -0.3, 0.3);
      uniform_(module.runningVar!, 0.5, 2);
    }
  });
}

function maxAbs(t: Tensor): number {
  return tidy(() => amax(abs(t)).item());
}

function relativeDifference(a: Tensor, b: Tensor): number {
  return tidy(() => maxAbs(sub(a, b)) / Math.max(maxAbs(b), 1e-12));
}

for (const sharing of ['centre', 'separate'] as KernelSharing[]) {
  test(`supernet (${sharing} kernels): each extracted candidate's eval output equals its path's, within 1e-5`, () => {
    manualSeed(3);
    const supernet = new Supernet(tinySpace(), { numClasses: 7, resolution: 32, kernelSharing: sharing });
    randomiseNorms(supernet);
    supernet.eval();
    const images = randn([4, 3, 32, 32]);
    try {
      for (const [name, c] of Object.entries(CANDIDATES)) {
        const { model, card } = extractCandidate(supernet, c);
        try {
          model.eval();
          tidy(() =>
            noGrad(() => {
              const expected = model.forward(images);
              const actual = supernet.forwardPath(images, supernet.pathOf(c));
              assert.deepEqual(actual.shape, [4, 7]);
              const difference = relativeDifference(actual, expected);
              assert.ok(difference < 1e-5, `${name}: relative difference ${difference}`);
            }),
          );
          assert.equal(card.classes.count, 7);
          assert.equal(card.architecture.resolution, 32);
        } finally {
          model.dispose();
        }
      }
    } finally {
      images.dispose();
      supernet.dispose();
    }
  });
}

/** Element [i, j, y, x] of a 4-d tensor read as a flat array (row-major). */
function at4(values: Float32Array, shape: readonly number[], i: number, j: number, y: number, x: number): number {
  return values[((i * shape[1]! + j) * shape[2]! + y) * shape[3]! + x]!;
}

test('extraction takes the centre 3x3 of a 5x5 kernel, the first channels, and the first blocks of a stage (read off the raw arrays)', () => {
  manualSeed(7);
  const supernet = new Supernet(tinySpace(), { numClasses: 3, resolution: 32 });
  // Stage 2 at half filters (24 -> 16 channels... rounded: 16), mbconv3, 3x3, one layer fewer (1 of its 3 positions).
  const c = candidate([['mbconv1', 5, 0, 'identity', 0.5, 0], ['mbconv3', 3, 0, 'identity', 0.5, -1], ['mbconv6', 5, 0, 'identity', 1, 0]]);
  const { model } = extractCandidate(supernet, c);
  try {
    const shared = new Map(supernet.namedParameters());
    const own = new Map(model.namedParameters());
    const compare = (ownKey: string, sharedKey: string, offset: number): void => {
      const mine = own.get(ownKey)!;
      const theirs = shared.get(sharedKey)!;
      const [a, b] = [mine.toFloat32Array(), theirs.toFloat32Array()];
      const [o, i, kh, kw] = mine.shape as [number, number, number, number];
      for (let r = 0; r < o; r++) for (let q = 0; q < i; q++) for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) {
        assert.equal(at4(a, mine.shape, r, q, y, x), at4(b, theirs.shape, r, q, y + offset, x + offset), `${ownKey}[${r},${q},${y},${x}]`);
      }
    };
    // Stage 1 at half filters: 8 of 16 output channels; stage 2's first block: 8 inputs, mid 24 (8 x 3), 3x3 of 5x5.
    assert.deepEqual(own.get('features.1.0.block.1.0.weight')!.shape, [8, 32, 1, 1]);
    compare('features.1.0.block.1.0.weight', 'stages.0.0.mbconv.project.weight', 0);
    assert.deepEqual(own.get('features.2.0.block.0.0.weight')!.shape, [24, 8, 1, 1]);
    compare('features.2.0.block.0.0.weight', 'stages.1.0.mbconv.expand.weight', 0);
    assert.deepEqual(own.get('features.2.0.block.1.0.weight')!.shape, [24, 1, 3, 3]);
    compare('features.2.0.block.1.0.weight', 'stages.1.0.mbconv.depthwise.weight', 1);
    // One layer fewer: stage 2 has 1 block (base 2, -1), from position 0; the next stage reads its 16 channels.
    assert.ok(!own.has('features.2.1.block.0.0.weight'));
    compare('features.3.0.block.0.0.weight', 'stages.2.0.mbconv.expand.weight', 0);
    assert.deepEqual(own.get('features.3.0.block.0.0.weight')!.shape, [96, 16, 1, 1]);
  } finally {
    model.dispose();
    supernet.dispose();
  }
});

test('supernet: gradients on a path equal the extracted network\'s, and only the path gets gradient', () => {
  manualSeed(4);
  const supernet = new Supernet(tinySpace(), { numClasses: 5, resolution: 32, dropout: 0 });
  const images = randn([6, 3, 32, 32]);
  const labels = randint(0, 5, [6]);
  try {
    for (const [name, c] of Object.entries(CANDIDATES)) {
      const { model } = extractCandidate(supernet, c);
      try {
        model.train();
        model.setRegularization({ dropout: 0, stochasticDepth: 0 });
        supernet.train();
        for (const p of supernet.parameters()) p.grad = null;
        tidy(() => {
          crossEntropy(model.forward(images), labels).backward();
          crossEntropy(supernet.forwardPath(images, supernet.pathOf(c)), labels).backward();
          const shared = pathStateDict(supernet, supernet.pathOf(c), { gradients: true });
          const own = new Map(model.namedParameters());
          assert.equal(shared.size, own.size, `${name}: one gradient per parameter of the network`);
          let pathL1 = 0;
          for (const [key, parameter] of own) {
            const expected = parameter.grad!;
            const actual = shared.get(key);
            assert.ok(actual !== undefined, `${name}: no shared gradient for ${key}`);
            const difference = maxAbs(sub(actual, expected));
            assert.ok(difference <= 1e-5 * Math.max(maxAbs(expected), 1e-3), `${name}: ${key} differs by ${difference}`);
            pathL1 += sum(abs(actual)).item();
          }
          // Every shared parameter is used at most once on a path, so the path's slices hold all the gradient there is.
          let totalL1 = 0;
          for (const p of supernet.parameters()) {
            const g = p.grad;
            if (g !== null) totalL1 += sum(abs(g)).item();
          }
          assert.ok(Math.abs(totalL1 - pathL1) <= 1e-6 * totalL1, `${name}: gradient off the path: ${totalL1 - pathL1}`);
        });
      } finally {
        model.dispose();
      }
    }
  } finally {
    images.dispose();
    labels.dispose();
    supernet.dispose();
  }
});

test('supernet: a training-mode forward moves the running statistics of the path slices as the standalone network moves its own', () => {
  manualSeed(5);
  const supernet = new Supernet(tinySpace(), { numClasses: 3, resolution: 32 });
  const c = CANDIDATES['mixed (fused without expansion + SE, mbconv3 in 5x5)']!;
  const { model } = extractCandidate(supernet, c);
  const images = randn([5, 3, 32, 32]);
  try {
    model.train();
    model.setRegularization({ dropout: 0, stochasticDepth: 0 });
    supernet.train();
    tidy(() =>
      noGrad(() => {
        model.forward(images);
        supernet.forwardPath(images, supernet.pathOf(c));
        const shared = pathStateDict(supernet, supernet.pathOf(c));
        let buffers = 0;
        for (const [key, buffer] of model.namedBuffers()) {
          const view = shared.get(key)!;
          if (key.endsWith('num_batches_tracked')) assert.equal(view.item(), buffer.item(), key);
          else {
            // Absolute tolerance: the means after a projection BN are ~1e-10 (zero up to rounding) on both sides.
            const difference = maxAbs(sub(view, buffer));
            assert.ok(difference <= 1e-5 * Math.max(maxAbs(buffer), 1e-2), `${key}: differs by ${difference}`);
          }
          buffers++;
        }
        assert.ok(buffers > 20);
      }),
    );
  } finally {
    images.dispose();
    model.dispose();
    supernet.dispose();
  }
});

test('supernet of the built-in b0 space: positions per stage, random candidates extract, forward and run through activate()', () => {
  manualSeed(6);
  const space = resolveSearchSpace(builtInSpace('b0'));
  const supernet = new Supernet(space, { numClasses: 10, resolution: 32 });
  try {
    // B0's repeats 1, 2, 2, 3, 3, 4, 1 plus the largest layer change (+1).
    assert.deepEqual(supernet.positions, [2, 3, 3, 4, 4, 5, 2]);
    const rng = new Rng(9);
    supernet.eval();
    const images = randn([2, 3, 32, 32]);
    for (let i = 0; i < 3; i++) {
      const c = randomCandidate(flatSearchSpace(space), rng);
      const { model } = extractCandidate(supernet, c);
      try {
        model.eval();
        tidy(() =>
          noGrad(() => {
            supernet.activate(c);
            const difference = relativeDifference(supernet.forward(images), model.forward(images));
            assert.ok(difference < 1e-5, `random candidate ${i}: ${difference}`);
          }),
        );
      } finally {
        model.dispose();
      }
    }
    images.dispose();
  } finally {
    supernet.dispose();
  }
});

test('supernet: bad options and candidates are refused with user errors', () => {
  const space = tinySpace();
  assert.throws(() => new Supernet(space, { numClasses: 3, resolution: 16 }), (e: unknown) => e instanceof SupernetError && isUserError(e) && /integer >= 32 px/.test(e.message));
  // Above 64 px the small-image rule keeps the base's strides: six stride-2 stages (total stride 128) do not fit 96 px.
  const deep = resolveSearchSpace({ ...builtInSpace('b0'), base: ['r1_k3_s22_e1_i32_o16', 'r1_k3_s22_e6_i16_o24', 'r1_k3_s22_e6_i24_o40', 'r1_k3_s22_e6_i40_o80', 'r1_k3_s22_e6_i80_o112', 'r1_k3_s22_e6_i112_o192'] });
  assert.throws(() => new Supernet(deep, { numClasses: 3, resolution: 96 }), (e: unknown) => e instanceof SupernetError && /smaller than the space's total stride 128/.test(e.message));
  assert.throws(() => new Supernet(space, { numClasses: 3, resolution: 32, kernelSharing: 'middle' as KernelSharing }), SupernetError);
  assert.throws(() => new Supernet(space, { numClasses: 0, resolution: 32 }), SupernetError);
  assert.throws(() => new Supernet(space, { numClasses: 3, resolution: 32, dropPath: 1 }), SupernetError);
  const supernet = new Supernet(space, { numClasses: 3, resolution: 32 });
  try {
    assert.throws(() => supernet.forward(randn([1, 3, 32, 32])), /no path is active/);
    const bad = { ...CANDIDATES.largest!, 's2.kernel': 7 };
    assert.throws(() => supernet.pathOf(bad), SearchSpaceError);
  } finally {
    supernet.dispose();
  }
});

test('BN recalibration gives the path the statistics of all calibration images (the standalone network with a cumulative average as reference), and shared-weight accuracy is the extracted network\'s', () => {
  manualSeed(8);
  const supernet = new Supernet(tinySpace(), { numClasses: 4, resolution: 32 });
  const c = CANDIDATES['fused expansion with 3x3 centre, skip off']!;
  const batches = [0, 1, 2].map(() => ({ images: randn([4, 3, 32, 32]), labels: randint(0, 4, [4]) }));
  const validation = [{ images: randn([9, 3, 32, 32]), labels: randint(0, 4, [9]) }];
  try {
    // Stale statistics first: one training-mode pass of another candidate through shared norms.
    supernet.train();
    tidy(() => noGrad(() => void supernet.forwardPath(randn([4, 3, 32, 32]), supernet.pathOf(CANDIDATES.largest!))));
    const path = supernet.pathOf(c);
    const accuracy = sharedWeightAccuracy(supernet, path, batches, validation);
    // Reference: the extracted network, its norms reset to a cumulative average, fed the same batches.
    const { model } = extractCandidate(supernet, c);
    try {
      model.setRegularization({ dropout: 0, stochasticDepth: 0 });
      const norms = model.modules().filter((m): m is BatchNorm2d => m instanceof BatchNorm2d);
      noGrad(() =>
        norms.forEach((bn) => {
          zero_(bn.runningMean!);
          fill_(bn.runningVar!, 1);
          zero_(bn.numBatchesTracked!);
          bn.momentum = null;
        }),
      );
      model.train();
      for (const batch of batches) tidy(() => noGrad(() => void model.forward(batch.images)));
      tidy(() => {
        const shared = pathStateDict(supernet, path);
        for (const [key, buffer] of model.namedBuffers()) {
          if (key.endsWith('num_batches_tracked')) {
            assert.equal(shared.get(key)!.item(), 3, key);
            continue;
          }
          const difference = maxAbs(sub(shared.get(key)!, buffer));
          assert.ok(difference <= 1e-5 * Math.max(maxAbs(buffer), 1e-2), `${key}: differs by ${difference}`);
        }
      });
      // Independent of both: the stem's running mean is the mean of the stem convolution's output over all 12 images.
      const stemMean = tidy(() => noGrad(() => {
        const conv = (model.features.at(0) as unknown as { conv: Module }).conv;
        return mean(conv.forward(cat(batches.map((b) => b.images))), [0, 2, 3]).toFloat32Array();
      }));
      const recorded = model.namedBuffers().find(([k]) => k === 'features.0.1.running_mean')![1].toFloat32Array();
      stemMean.forEach((v, i) => assert.ok(Math.abs(v - recorded[i]!) < 1e-5, `stem channel ${i}: ${v} vs ${recorded[i]}`));
      model.eval();
      const predicted = tidy(() => noGrad(() => Array.from(argmax(model.forward(validation[0]!.images), 1).toArray() as number[])));
      const truth = Array.from(validation[0]!.labels.toArray() as number[]);
      assert.equal(accuracy, predicted.filter((p, i) => p === truth[i]).length / truth.length);
    } finally {
      model.dispose();
    }
  } finally {
    supernet.dispose();
  }
});
