/**
 * The NASWOT zero-cost score: the engine's kernel equals a brute-force Hamming count over the same activation codes;
 * the LU log-determinant matches determinants computed by hand; identical images give a singular kernel; the score
 * of a 32 px candidate of the default space takes under a second and less than one training step of the same model on the same batch
 * (medians of three, measured in the same run).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEfficientNet, customConfig, EFFICIENTNET_B0_BLOCK_STRINGS, observeActivations } from '../../src/efficientnet/index.js';
import { smallImageStages } from '../../src/card/small-images.js';
import { addCodeAgreements, logAbsDeterminant, naswotScore } from '../../src/search/nas/zero-cost.js';
import { candidateOf, decodeCandidate, resolveSearchSpace } from '../../src/search/nas/space.js';
import { builtInSpace } from '../../src/search/nas/spaces.js';
import { cat, crossEntropy, manualSeed, narrow, noGrad, randint, randn, tidy } from '../../src/torch/index.js';

function smallModel(): ReturnType<typeof createEfficientNet> {
  return createEfficientNet(customConfig({ width: 0.25, depth: 0.25, resolution: 32 }), { numClasses: 3, stages: smallImageStages(32) });
}

test('log|det| by LU matches hand-computed determinants', () => {
  assert.ok(Math.abs(logAbsDeterminant(Float64Array.from([4, 1, 2, 3]), 2) - Math.log(10)) < 1e-12); // 4·3 − 1·2
  // [[0, 2, 1], [1, 0, 0], [3, 1, 2]] needs a pivot; det = 0·(0−0) − 2·(2−0) + 1·(1−0) = −3
  assert.ok(Math.abs(logAbsDeterminant(Float64Array.from([0, 2, 1, 1, 0, 0, 3, 1, 2]), 3) - Math.log(3)) < 1e-12);
  assert.equal(logAbsDeterminant(Float64Array.from([1, 2, 2, 4]), 2), -Infinity);
});

test("the score's kernel equals a brute-force Hamming count of the same codes", () => {
  manualSeed(1);
  const model = smallModel();
  try {
    const images = randn([6, 3, 32, 32]);
    // The codes as plain arrays, collected independently through the same observer hook.
    const brute = new Float64Array(36);
    let units = 0;
    model.train();
    tidy(() =>
      noGrad(() =>
        observeActivations(
          (x) => {
            const m = x.numel / 6;
            units += m;
            const values = x.toFloat32Array();
            addCodeAgreements(brute, Array.from(values, (v) => (v > 0 ? 1 : 0)), 6, m);
          },
          () => void model.forward(images),
        ),
      ),
    );
    // The forward above moved the running statistics, which training-mode forwards do not read.
    {
      const result = naswotScore(model, images);
      assert.equal(result.units, units);
      for (let i = 0; i < 36; i++) assert.equal(result.kernel[i], brute[i], `K[${Math.floor(i / 6)}][${i % 6}]`);
      // The diagonal is N_A (an image agrees with itself on every unit); the score is log|det K|.
      for (let i = 0; i < 6; i++) assert.equal(result.kernel[i * 7], units);
      assert.equal(result.score, logAbsDeterminant(result.kernel, 6));
      assert.ok(Number.isFinite(result.score));
      // Two identical images have identical codes: K is singular.
      const twice = tidy(() => cat([narrow(images, 0, 0, 3), narrow(images, 0, 0, 1)], 0));
      assert.equal(naswotScore(model, twice).score, -Infinity);
    }
  } finally {
    model.dispose();
  }
});

test('a zero-cost score of a 32 px candidate of the default space takes under a second and less than one training step of it (B0, batch 64)', () => {
  // The bound is a second. Screening is worth having only if scoring a candidate is cheaper than training
  // it, so the score is also held to a reference measured in the same run on the same machine: one forward and
  // backward pass of the same model on the same batch, the unit a trial repeats thousands of times. (With Debian's
  // reference BLAS instead of OpenBLAS the score took 1.05 s, about one training step: test/cli/version.test.ts
  // checks which BLAS libtorch loaded.)
  const space = resolveSearchSpace(builtInSpace('b0'));
  const stages = smallImageStages(32, decodeCandidate(space, candidateOf(space, EFFICIENTNET_B0_BLOCK_STRINGS)));
  manualSeed(2);
  const images = randn([64, 3, 32, 32]);
  const labels = randint(0, 10, [64]);
  const scoreTimes: number[] = [];
  const stepTimes: number[] = [];
  for (let r = 0; r < 3; r++) {
    const model = createEfficientNet(customConfig({ width: 1, depth: 1, resolution: 32 }), { numClasses: 10, stages });
    try {
      let started = performance.now();
      const { score } = naswotScore(model, images);
      scoreTimes.push((performance.now() - started) / 1000);
      assert.ok(Number.isFinite(score));
      model.train();
      started = performance.now();
      tidy(() => crossEntropy(model.forward(images), labels).backward());
      stepTimes.push((performance.now() - started) / 1000);
    } finally {
      model.dispose();
    }
  }
  const median = (values: number[]): number => values.sort((a, b) => a - b)[1]!;
  const scoreSeconds = median(scoreTimes);
  const stepSeconds = median(stepTimes);
  console.log(`NASWOT score of B0 at 32 px, batch 64: median ${scoreSeconds.toFixed(3)} s; one training step ${stepSeconds.toFixed(3)} s (ratio ${(scoreSeconds / stepSeconds).toFixed(2)})`);
  assert.ok(scoreSeconds < 1, `score ${scoreSeconds.toFixed(3)} s`);
  assert.ok(scoreSeconds < stepSeconds, `score ${scoreSeconds.toFixed(3)} s vs training step ${stepSeconds.toFixed(3)} s`);
});
