/**
 * Analytic gradients (backward() through the binding) against central finite differences in float64, for the
 * operators EfficientNet trains through. Bound: max elementwise |a − n| / max(1e-8, |a| + |n|) < 1e-5.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  adaptiveAvgPool2d,
  batchNorm,
  conv2d,
  crossEntropy,
  linear,
  liveTensorCount,
  ones,
  silu,
  tensor,
  zeros,
  type Tensor,
} from '../../src/torch/index.js';
import { gradcheck, randomInput, type GradcheckReport } from './gradcheck.js';

const BOUND = 1e-5;

function assertClose(report: GradcheckReport, label: string): void {
  for (const input of report.inputs) {
    assert.ok(input.maxAbsGradient > 1e-3, `${label}: gradient of ${input.name} is ~0 (${input.maxAbsGradient}); the check would be vacuous`);
    assert.ok(
      input.maxRelativeError < BOUND,
      `${label}: d/d${input.name} max relative error ${input.maxRelativeError.toExponential(2)} ≥ ${BOUND} ` +
        `(worst element ${input.worst.index}: analytic ${input.worst.analytic}, numeric ${input.worst.numeric}; ` +
        `norm-wise ${input.normRelativeError.toExponential(2)})`,
    );
  }
}

for (const { groups, stride } of [
  { groups: 1, stride: 1 },
  { groups: 1, stride: 2 },
  { groups: 3, stride: 1 },
  { groups: 3, stride: 2 },
]) {
  test(`conv2d gradients (groups=${groups}, stride=${stride}, padding=1, bias)`, () => {
    const before = liveTensorCount();
    const report = gradcheck(
      ([x, w, b]) => conv2d(x!, w!, b!, { stride, padding: 1, groups }),
      [
        randomInput('input', [2, 3, 5, 5], 11),
        randomInput('weight', [groups === 1 ? 4 : 3, 3 / groups, 3, 3], 12),
        randomInput('bias', [groups === 1 ? 4 : 3], 13),
      ],
    );
    assert.equal(report.inputs.length, 3);
    assertClose(report, 'conv2d');
    assert.equal(liveTensorCount(), before, 'gradcheck leaked tensors');
  });
}

test('batch_norm training-mode gradients w.r.t. input, weight and bias', () => {
  const report = gradcheck(
    ([x, w, b]) => {
      // Fresh running statistics per evaluation: training mode updates them in place.
      const runningMean = zeros([3], { dtype: 'float64' });
      const runningVar = ones([3], { dtype: 'float64' });
      return batchNorm(x!, runningMean, runningVar, w!, b!, true, 0.1, 1e-5);
    },
    [randomInput('input', [4, 3, 3, 3], 21, 2, 0.3), randomInput('weight', [3], 22, 0.5, 1), randomInput('bias', [3], 23)],
  );
  assertClose(report, 'batch_norm');
});

test('silu gradients', () => {
  assertClose(gradcheck(([x]) => silu(x!), [randomInput('input', [3, 7], 31, 4)]), 'silu');
});

test('linear gradients w.r.t. input, weight and bias', () => {
  const report = gradcheck(
    ([x, w, b]) => linear(x!, w!, b!),
    [randomInput('input', [3, 5], 41), randomInput('weight', [4, 5], 42), randomInput('bias', [4], 43)],
  );
  assertClose(report, 'linear');
});

for (const outputSize of [1, [3, 2]] as const) {
  test(`adaptive_avg_pool2d gradients (output ${JSON.stringify(outputSize)} from 7x5)`, () => {
    const report = gradcheck(([x]) => adaptiveAvgPool2d(x!, outputSize), [randomInput('input', [2, 3, 7, 5], 51)]);
    assertClose(report, 'adaptive_avg_pool2d');
  });
}

for (const labelSmoothing of [0, 0.1]) {
  for (const reduction of ['mean', 'sum'] as const) {
    test(`cross_entropy gradients (labelSmoothing=${labelSmoothing}, reduction=${reduction})`, () => {
      const target: Tensor = tensor([0, 3, 1, 1, 2], [5], { dtype: 'int64' });
      try {
        const report = gradcheck(
          ([logits]) => crossEntropy(logits!, target, { labelSmoothing, reduction }),
          [randomInput('logits', [5, 4], 61, 2)],
        );
        assertClose(report, 'cross_entropy');
      } finally {
        target.dispose();
      }
    });
  }
}

test('gradcheck detects a wrong gradient (the helper is not vacuous)', () => {
  // x·detach(x) has true gradient 2x, but backward() sees only x (the detached factor is a constant): a checker
  // that agreed here would be broken.
  const report = gradcheck(([x]) => x!.mul(x!.detach()), [randomInput('input', [6], 71, 1, 0.5)]);
  assert.ok(report.maxRelativeError > 0.1, `expected a large error, got ${report.maxRelativeError}`);
});
