/**
 * Transforms against torchvision 0.14 / Pillow references (test/fixtures/data/transforms.json, made by
 * scripts/fixtures/data.py), and the random transforms' parameter distributions and determinism.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { RgbImage } from '../../src/data/image.js';
import { Rng } from '../../src/data/rng.js';
import { applyOp, augmentationSpace, IMAGENET_POLICY, sampleAutoAugment, sampleRandAugment, type AugmentOp } from '../../src/data/transforms/augment.js';
import { centerCrop, crop, hflip, randomResizedCropBox, resizedCrop, resizeShortSide } from '../../src/data/transforms/geometry.js';
import { normalize } from '../../src/data/transforms/normalize.js';
import { compileTransform, evalResizeSize } from '../../src/data/transforms/pipeline.js';

interface Img { width: number; height: number; data: string }
const fx = JSON.parse(readFileSync(new URL('../../../test/fixtures/data/transforms.json', import.meta.url), 'utf8'));
const toImage = (o: Img): RgbImage => ({ width: o.width, height: o.height, data: new Uint8Array(Buffer.from(o.data, 'base64')) });
const toFloats = (s: string): Float32Array => {
  const b = Buffer.from(s, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
const input = toImage(fx.input);

function assertSameImage(actual: RgbImage, expected: RgbImage, what: string): void {
  assert.equal(actual.width, expected.width, `${what}: width`);
  assert.equal(actual.height, expected.height, `${what}: height`);
  let diff = 0;
  for (let i = 0; i < actual.data.length; i++) if (actual.data[i] !== expected.data[i]) diff++;
  assert.equal(diff, 0, `${what}: ${diff} of ${actual.data.length} bytes differ from torchvision`);
}

test('resized crop (crop + Pillow bicubic/bilinear) equals torchvision bit for bit', () => {
  for (const c of fx.resized_crop) {
    const [top, left, height, width] = c.box;
    const out = resizedCrop(input, { top, left, height, width }, c.size[1], c.size[0], c.filter);
    assertSameImage(out, toImage(c.out), `resized_crop ${JSON.stringify(c.box)} -> ${c.size} ${c.filter}`);
  }
});

test('resize of the short side, center crop (incl. padding) and flip equal torchvision', () => {
  for (const c of fx.resize_short) assertSameImage(resizeShortSide(input, c.size), toImage(c.out), `resize ${c.size}`);
  for (const c of fx.center_crop) assertSameImage(centerCrop(input, c.size[0], c.size[1]), toImage(c.out), `center_crop ${c.size}`);
  assertSameImage(hflip(input), toImage(fx.hflip), 'hflip');
  assert.deepEqual(crop(input, { top: -1, left: -1, height: 1, width: 1 }).data, new Uint8Array(3), 'outside the image is black');
});

test('normalisation and the eval transform equal ToTensor+Normalize (float32, exact)', () => {
  assert.deepEqual(normalize(input), toFloats(fx.normalize));
  for (const c of fx.eval) {
    assert.equal(evalResizeSize(c.size), c.resize);
    const out = new Float32Array(3 * c.size * c.size);
    compileTransform({ kind: 'eval', size: c.size })(input, new Rng(0), out, 0);
    assert.deepEqual(out, toFloats(c.out), `eval transform at ${c.size}`);
  }
});

test('every AutoAugment/RandAugment op equals torchvision _apply_op (PIL)', () => {
  for (const c of fx.ops) assertSameImage(applyOp(input, c.op as AugmentOp, c.magnitude), toImage(c.out), `${c.op}(${c.magnitude})`);
  const sq = toImage(fx.square.input);
  for (const c of fx.square.ops) assertSameImage(applyOp(sq, c.op as AugmentOp, c.magnitude), toImage(c.out), `square ${c.op}(${c.magnitude})`);
});

test('magnitude bins and the ImageNet policy equal torchvision', () => {
  for (const [kind, bins, key] of [['randaugment', 31, 'randaugment_space'], ['autoaugment', 10, 'autoaugment_space']] as const) {
    const ours = augmentationSpace(kind, bins, input.height, input.width);
    assert.deepEqual([...ours.keys()], Object.keys(fx[key]), `${kind} op order`);
    for (const [op, meta] of ours) {
      // torch's vectorised linspace can differ from start + i*step by one float32 ulp in some lanes.
      const ref: number[] = fx[key][op].magnitudes;
      assert.equal(meta.magnitudes.length, ref.length);
      meta.magnitudes.forEach((v, i) => assert.ok(Math.abs(v - ref[i]!) <= Math.abs(ref[i]!) * 2 ** -23, `${kind} ${op}[${i}]: ${v} vs ${ref[i]}`));
      assert.equal(meta.signed, fx[key][op].signed);
    }
  }
  assert.deepEqual(IMAGENET_POLICY.map((sub) => sub.map((s) => [...s])), fx.imagenet_policy);
});

test('random-resized-crop boxes: in bounds, area/ratio ranges, seeded determinism, center fallback', () => {
  const draw = (seed: number): string => JSON.stringify(Array.from({ length: 20 }, (_, k) => randomResizedCropBox(40, 30, new Rng(seed * 100 + k))));
  assert.equal(draw(1), draw(1));
  assert.notEqual(draw(1), draw(2));
  const rng = new Rng(7);
  const areas: number[] = [];
  let logRatioSum = 0;
  const N = 4000;
  for (let k = 0; k < N; k++) {
    const b = randomResizedCropBox(400, 300, rng);
    assert.ok(b.top >= 0 && b.left >= 0 && b.top + b.height <= 300 && b.left + b.width <= 400, JSON.stringify(b));
    const area = (b.width * b.height) / 120000;
    areas.push(area);
    assert.ok(area >= 0.075 && area <= 1.0, `area fraction ${area}`);
    const r = b.width / b.height;
    assert.ok(r >= 0.74 && r <= 1.35, `ratio ${r}`);
    logRatioSum += Math.log(r);
  }
  // Accepted (area, log ratio) pairs are uniform over the region where the box fits: E[area] by numeric integration.
  let num = 0;
  let numLog = 0;
  let den = 0;
  for (let a = 0; a < 400; a++) {
    for (let q = 0; q < 400; q++) {
      const s = 0.08 + (0.92 * (a + 0.5)) / 400;
      const r = Math.exp(Math.log(0.75) + (Math.log(4 / 3) - Math.log(0.75)) * ((q + 0.5) / 400));
      if (Math.sqrt(120000 * s * r) <= 400.5 && Math.sqrt((120000 * s) / r) <= 300.5) {
        num += s;
        numLog += Math.log(r);
        den += 1;
      }
    }
  }
  const mean = areas.reduce((a, b) => a + b, 0) / N;
  assert.ok(Math.abs(mean - num / den) < 0.015, `mean area ${mean}, expected ${num / den}`);
  assert.ok(Math.abs(logRatioSum / N - numLog / den) < 0.01, `mean log ratio ${logRatioSum / N}, expected ${numLog / den}`);
  // A 1x100 strip never fits: the fallback is the centered 1x1 box of ratio clamped to 3/4..4/3 (torchvision).
  assert.deepEqual(randomResizedCropBox(100, 1, new Rng(3)), { top: 0, left: 49, height: 1, width: 1 });
  assert.deepEqual(randomResizedCropBox(10, 100, new Rng(3), { scale: [0.99, 1], ratio: [0.75, 1.333] }), { top: 43, left: 0, height: 13, width: 10 });
});

test('RandAugment / AutoAugment draws: uniform ops, fair signs, policy probabilities, determinism', () => {
  const space = augmentationSpace('randaugment', 31, 30, 40);
  const counts = new Map<string, number>();
  let negatives = 0;
  let signedDraws = 0;
  const rng = new Rng(11);
  const N = 14000;
  for (let k = 0; k < N / 2; k++) {
    for (const d of sampleRandAugment(rng, { n: 2, m: 9 }, 30, 40)) {
      counts.set(d.op, (counts.get(d.op) ?? 0) + 1);
      const meta = space.get(d.op)!;
      if (meta.signed) {
        signedDraws++;
        if (d.magnitude < 0) negatives++;
        assert.equal(Math.abs(d.magnitude), meta.magnitudes[9]);
      }
    }
  }
  assert.equal(counts.size, 14);
  for (const [op, c] of counts) assert.ok(Math.abs(c - N / 14) < 5 * Math.sqrt(N / 14), `${op} drawn ${c} times, expected ~${N / 14}`);
  assert.ok(Math.abs(negatives / signedDraws - 0.5) < 0.02, `negative fraction ${negatives / signedDraws}`);
  const a = JSON.stringify(sampleRandAugment(new Rng(5), { n: 3, m: 5 }, 32, 32));
  assert.equal(a, JSON.stringify(sampleRandAugment(new Rng(5), { n: 3, m: 5 }, 32, 32)));
  // AutoAugment: sub-policy 2 is Equalize 0.8 then Equalize 0.6, so P(no op) = 0.2 * 0.4 overall = mean over policies.
  const arng = new Rng(13);
  let empty = 0;
  const M = 20000;
  for (let k = 0; k < M; k++) if (sampleAutoAugment(arng, 32, 32).length === 0) empty++;
  const expected = IMAGENET_POLICY.reduce((s, [p, q]) => s + (1 - p[1]) * (1 - q[1]), 0) / IMAGENET_POLICY.length;
  assert.ok(Math.abs(empty / M - expected) < 0.015, `no-op fraction ${empty / M}, expected ${expected}`);
  assert.throws(() => sampleRandAugment(new Rng(0), { n: 2, m: 31 }, 32, 32), /m must be an integer in 0..30/);
});

test('train transform: output is deterministic under a seed and flips about half the time', () => {
  const t = compileTransform({ kind: 'train', size: 16, augment: { kind: 'randaugment', n: 2, m: 9 } });
  const run = (seed: number): Float32Array => {
    const out = new Float32Array(3 * 16 * 16);
    t(input, new Rng(seed), out, 0);
    return out;
  };
  assert.deepEqual(run(42), run(42));
  assert.notDeepEqual(run(42), run(43));
  let flips = 0;
  for (let s = 0; s < 2000; s++) {
    const rng = new Rng(s);
    randomResizedCropBox(40, 30, rng);
    if (rng.next() < 0.5) flips++;
  }
  assert.ok(Math.abs(flips / 2000 - 0.5) < 0.04);
  assert.throws(() => compileTransform({ kind: 'train', size: 0 }), /positive integer/);
});
