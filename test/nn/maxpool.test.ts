/**
 * MaxPool2d (src/nn/layers/pooling.ts) against a direct loop over the pooling windows (the definition of
 * torch.nn.MaxPool2d: out[y][x] = max over the window at (y·stride − padding, x·stride − padding), padding never
 * chosen, output size floor((size + 2·padding − kernel) / stride) + 1).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { manualSeed, randn, tidy } from '../../src/torch/index.js';
import { MaxPool2d, Sequential } from '../../src/nn/index.js';

function reference(x: Float32Array, [n, c, h, w]: number[], k: [number, number], s: [number, number], p: [number, number]): { data: number[]; shape: number[] } {
  const oh = Math.floor((h + 2 * p[0] - k[0]) / s[0]) + 1;
  const ow = Math.floor((w + 2 * p[1] - k[1]) / s[1]) + 1;
  const data: number[] = [];
  for (let b = 0; b < n * c; b++) {
    for (let y = 0; y < oh; y++) {
      for (let xo = 0; xo < ow; xo++) {
        let best = -Infinity;
        for (let dy = 0; dy < k[0]; dy++) {
          for (let dx = 0; dx < k[1]; dx++) {
            const iy = y * s[0] - p[0] + dy;
            const ix = xo * s[1] - p[1] + dx;
            if (iy >= 0 && iy < h && ix >= 0 && ix < w) best = Math.max(best, x[(b * h + iy) * w + ix]!);
          }
        }
        data.push(best);
      }
    }
  }
  return { data, shape: [n, c, oh, ow] };
}

test('MaxPool2d equals the window maximum for square, rectangular, strided and padded cases', () => {
  manualSeed(3);
  const cases: { args: ConstructorParameters<typeof MaxPool2d>; k: [number, number]; s: [number, number]; p: [number, number] }[] = [
    { args: [2], k: [2, 2], s: [2, 2], p: [0, 0] },
    { args: [3, 2, 1], k: [3, 3], s: [2, 2], p: [1, 1] },
    { args: [[2, 3], [1, 2]], k: [2, 3], s: [1, 2], p: [0, 0] },
  ];
  for (const { args, k, s, p } of cases) {
    tidy(() => {
      const shape = [2, 3, 7, 9];
      const x = randn(shape);
      const pool = new MaxPool2d(...args);
      const y = pool.forward(x);
      const expected = reference(x.toFloat32Array(), shape, k, s, p);
      assert.deepEqual(y.shape, expected.shape, JSON.stringify(args));
      assert.deepEqual([...y.toFloat32Array()], expected.data.map((v) => Math.fround(v)), JSON.stringify(args));
    });
  }
  assert.equal(new Sequential(new MaxPool2d(2)).stateDict().size, 0, 'no parameters or buffers');
  assert.throws(() => new MaxPool2d(0), /kernel size must be integers >= 1/);
  assert.throws(() => new MaxPool2d(2, 2, 2), /padding 2 exceeds half the kernel size 2/);
});
