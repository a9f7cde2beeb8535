/**
 * Replays the optimizer fixture (test/fixtures/optim/optimizers.json, from scripts/fixtures/nn_optim.py): the same
 * initial float64 weights, the same gradients per step (some missing), two parameter groups and a learning-rate
 * change, for SGD, AdamW and RMSpropTF configurations.
 */
import { keep, tensor, tidy, type Tensor } from '../../src/torch/index.js';
import { AdamW, RMSpropTF, SGD, type Optimizer } from '../../src/optim/index.js';
import { loadFixture } from '../nn/fixture.js';

/** One optimizer configuration of the fixture. */
export interface OptimCase {
  name: string;
  optimizer: 'SGD' | 'AdamW' | 'RMSpropTF';
  defaults: Record<string, number | boolean | number[]>;
  group1: Record<string, number | boolean | number[]>;
  /** Parameter values (flattened) after each step. */
  after: number[][][];
}

/** The whole optimizer fixture. */
export interface OptimFixture {
  shapes: number[][];
  groups: number[][];
  noGrad: [number, number][];
  lrChange: { step: number; lr: number };
  init: number[][];
  grads: number[][][];
  cases: OptimCase[];
}

/** The parsed fixture. */
export const optimFixture = loadFixture<OptimFixture>('optim/optimizers.json');

function camel(key: string): string {
  return key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

function camelKeys(record: Record<string, number | boolean | number[]>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [camel(k), v]));
}

/** Fresh kept float64 parameters with the fixture's initial values (or `values`). */
export function makeParams(values: number[][] = optimFixture.init): Tensor[] {
  return values.map((data, i) => keep(tensor(data, optimFixture.shapes[i]!, { dtype: 'float64', requiresGrad: true })));
}

/** An optimizer of the case's kind over `params`, grouped as in the fixture. */
export function makeOptimizer(c: OptimCase, params: Tensor[], override: Record<string, unknown> = {}): Optimizer {
  const [g0, g1] = optimFixture.groups.map((indices) => indices.map((i) => params[i]!));
  const groups = [{ params: g0! }, { params: g1!, ...camelKeys(c.group1) }];
  const options = { ...camelKeys(c.defaults), ...override };
  switch (c.optimizer) {
    case 'SGD':
      return new SGD(groups, options as unknown as ConstructorParameters<typeof SGD>[1]);
    case 'AdamW':
      return new AdamW(groups, options as unknown as ConstructorParameters<typeof AdamW>[1]);
    case 'RMSpropTF':
      return new RMSpropTF(groups, options as unknown as ConstructorParameters<typeof RMSpropTF>[1]);
  }
}

/** Sets the fixture's gradients of `step` (null where the fixture has none) and applies its lr change. */
export function prepareStep(optimizer: Optimizer, params: Tensor[], step: number): void {
  if (step === optimFixture.lrChange.step) optimizer.lr = optimFixture.lrChange.lr;
  tidy(() => {
    params.forEach((p, i) => {
      const missing = optimFixture.noGrad.some(([s, j]) => s === step && j === i);
      p.grad = missing ? null : tensor(optimFixture.grads[step]![i]!, optimFixture.shapes[i]!, { dtype: 'float64' });
    });
  });
}

/** Frees parameters made by makeParams. */
export function disposeAll(tensors: Tensor[]): void {
  for (const t of tensors) t.dispose();
}
