/**
 * Forward results of the wrapped operators against PyTorch 1.13 on the same inputs (fixtures written by
 * scripts/fixtures/torch_ops.py). Floating results must agree to 1e-6 (|ours − ref| ≤ 1e-6·max(1, |ref|), in
 * float64); integer and bool results exactly; shapes and dtypes exactly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  add,
  adaptiveAvgPool2d,
  argmax,
  batchNorm,
  cat,
  conv2d,
  crossEntropy,
  div,
  dropout,
  eq,
  ge,
  gt,
  linear,
  liveTensorCount,
  logSoftmax,
  lt,
  matmul,
  mean,
  mul,
  permute,
  relu,
  reshape,
  sigmoid,
  silu,
  softmax,
  sub,
  sum,
  tensor,
  tidy,
  topk,
  type Tensor,
} from '../../src/torch/index.js';

interface FixtureArray {
  dtype: 'float64' | 'int64' | 'bool';
  shape: number[];
  data: (number | boolean)[];
}

interface FixtureCase {
  op: string;
  inputs: Record<string, FixtureArray>;
  params: Record<string, unknown>;
  outputs: Record<string, FixtureArray>;
}

const fixturePath = new URL('../../../test/fixtures/torch/ops.json', import.meta.url);
const fixture = JSON.parse(readFileSync(fixturePath, 'utf8')) as { torch: string; cases: FixtureCase[] };

function toTensor(array: FixtureArray): Tensor {
  const values = array.data.map(Number);
  return tensor(values, array.shape, { dtype: array.dtype });
}

type IntList = number | number[];

/** Runs one fixture case through our operators; returns the outputs by the fixture's output names. */
function run(c: FixtureCase, x: Record<string, Tensor>): Record<string, Tensor> {
  const p = c.params;
  switch (c.op) {
    case 'conv2d':
      return {
        out: conv2d(x.input!, x.weight!, p.bias ? x.bias! : null, {
          stride: p.stride as IntList,
          padding: p.padding as IntList,
          dilation: p.dilation as IntList,
          groups: p.groups as number,
        }),
      };
    case 'batch_norm': {
      const out = batchNorm(x.input!, x.running_mean!, x.running_var!, x.weight!, x.bias!, p.training as boolean, p.momentum as number, p.eps as number);
      return { out, running_mean: x.running_mean!, running_var: x.running_var! };
    }
    case 'silu': return { out: silu(x.input!) };
    case 'sigmoid': return { out: sigmoid(x.input!) };
    case 'relu': return { out: relu(x.input!) };
    case 'linear': return { out: linear(x.input!, x.weight!, x.bias ?? null) };
    case 'matmul': return { out: matmul(x.a!, x.b!) };
    case 'adaptive_avg_pool2d': return { out: adaptiveAvgPool2d(x.input!, p.output_size as IntList) };
    case 'dropout': return { out: dropout(x.input!, p.p as number, p.training as boolean) };
    case 'add': return { out: add(x.a!, x.b!, p.alpha as number) };
    case 'sub': return { out: sub(x.a!, x.b!, p.alpha as number) };
    case 'mul': return { out: mul(x.a!, x.b!) };
    case 'div': return { out: div(x.a!, x.b!) };
    case 'add_scalar': return { out: add(x.a!, p.scalar as number) };
    case 'mul_scalar': return { out: mul(x.a!, p.scalar as number) };
    case 'div_scalar': return { out: div(x.a!, p.scalar as number) };
    case 'mean': return { out: p.dims === null ? mean(x.input!) : mean(x.input!, p.dims as number[], p.keepdim as boolean) };
    case 'sum': return { out: p.dims === null ? sum(x.input!) : sum(x.input!, p.dims as number[], p.keepdim as boolean) };
    case 'softmax': return { out: softmax(x.input!, p.dim as number) };
    case 'log_softmax': return { out: logSoftmax(x.input!, p.dim as number) };
    case 'cross_entropy':
      return {
        out: crossEntropy(x.input!, x.target!, {
          labelSmoothing: p.label_smoothing as number,
          reduction: p.reduction as 'mean' | 'sum' | 'none',
        }),
      };
    case 'reshape': return { out: reshape(x.input!, p.shape as number[]) };
    case 'permute': return { out: permute(x.input!, p.dims as number[]) };
    case 'cat': return { out: cat([x.a!, x.b!], p.dim as number) };
    case 'eq': return { out: eq(x.a!, x.b!) };
    case 'lt': return { out: lt(x.a!, x.b!) };
    case 'ge': return { out: ge(x.a!, x.b!) };
    case 'gt_scalar': return { out: gt(x.a!, p.scalar as number) };
    case 'argmax': return { out: argmax(x.input!, p.dim === null ? undefined : (p.dim as number)) };
    case 'topk': {
      const { values, indices } = topk(x.input!, p.k as number, { dim: p.dim as number, largest: p.largest as boolean });
      return { values, indices };
    }
    default:
      throw new Error(`fixture case '${c.op}' has no runner in forward-reference.test.ts; add one`);
  }
}

function compare(label: string, ours: Tensor, ref: FixtureArray): void {
  assert.deepEqual(ours.shape, ref.shape, `${label}: shape`);
  const expectedDtype = ref.dtype;
  assert.equal(ours.dtype, expectedDtype, `${label}: dtype`);
  const got = ours.toArray();
  if (ref.dtype !== 'float64') {
    assert.deepEqual(got, ref.data.map(Number), `${label}: values`);
    return;
  }
  let worst = 0;
  let at = -1;
  for (let i = 0; i < got.length; i++) {
    const expected = ref.data[i] as number;
    const err = Math.abs(got[i]! - expected) / Math.max(1, Math.abs(expected));
    if (!(err <= worst)) {
      worst = Number.isNaN(err) ? Infinity : err;
      at = i;
    }
  }
  assert.ok(worst <= 1e-6, `${label}: element ${at} is ${got[at]}, PyTorch ${String(ref.data[at])} (scaled error ${worst})`);
}

test('the fixture file holds the expected operator cases', () => {
  const ops = new Set(fixture.cases.map((c) => c.op));
  for (const op of ['conv2d', 'batch_norm', 'silu', 'sigmoid', 'relu', 'linear', 'matmul', 'adaptive_avg_pool2d', 'dropout',
    'add', 'sub', 'mul', 'div', 'mean', 'sum', 'softmax', 'log_softmax', 'cross_entropy', 'reshape', 'permute', 'cat',
    'eq', 'lt', 'argmax', 'topk']) {
    assert.ok(ops.has(op), `fixture lacks ${op}; regenerate with /usr/bin/python3 scripts/fixtures/torch_ops.py`);
  }
  assert.match(fixture.torch, /^1\.13/);
});

fixture.cases.forEach((c, index) => {
  test(`${c.op} #${index} ${JSON.stringify(c.params)} matches PyTorch`, () => {
    const before = liveTensorCount();
    tidy(() => {
      const inputs: Record<string, Tensor> = {};
      for (const [name, array] of Object.entries(c.inputs)) inputs[name] = toTensor(array);
      const outputs = run(c, inputs);
      for (const [name, ref] of Object.entries(c.outputs)) {
        const ours = outputs[name];
        assert.ok(ours !== undefined, `${c.op}: no output '${name}'`);
        compare(`${c.op} #${index} ${name}`, ours, ref);
      }
    });
    assert.equal(liveTensorCount(), before, 'tensors leaked past tidy()');
  });
});
