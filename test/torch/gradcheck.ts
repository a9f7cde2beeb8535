/**
 * Gradient checking against central finite differences, in float64.
 *
 * A function f(inputs) → tensor is reduced to a scalar L = Σ f(inputs) ⊙ v with a fixed pseudo-random v (so every
 * output element contributes with a distinct weight). Analytic gradients of L come from the engine's backward();
 * numeric ones from (L(x + εeᵢ) − L(x − εeᵢ)) / 2ε for every element i of every checked input.
 *
 * Relative error, per element: |a − n| / max(1e-8, |a| + |n|), and its maximum over all elements is what the
 * tests bound. The norm-wise ‖a − n‖₂ / max(1e-8, ‖a‖₂ + ‖n‖₂) is reported too.
 */
import { mul, noGrad, sum, tensor, tidy, type Tensor } from '../../src/torch/index.js';

/** One input of the checked function. */
export interface GradcheckInput {
  /** Name used in reports. */
  name: string;
  /** Values (float64). */
  data: Float64Array;
  /** Shape of the tensor made from data. */
  shape: number[];
  /** Whether to check the gradient with respect to this input; default true. */
  check?: boolean;
}

/** Errors for one input. */
export interface InputReport {
  name: string;
  /** Maximum over elements of |a − n| / max(1e-8, |a| + |n|). */
  maxRelativeError: number;
  /** ‖a − n‖₂ / max(1e-8, ‖a‖₂ + ‖n‖₂). */
  normRelativeError: number;
  /** Element with the largest relative error, with both gradients there. */
  worst: { index: number; analytic: number; numeric: number };
  /** Largest |gradient| seen, to show the check is not vacuous. */
  maxAbsGradient: number;
}

/** Result of gradcheck(). */
export interface GradcheckReport {
  inputs: InputReport[];
  /** Maximum of maxRelativeError over the checked inputs. */
  maxRelativeError: number;
}

/** Options of gradcheck(). */
export interface GradcheckOptions {
  /** Finite-difference step; default 1e-6. */
  eps?: number;
  /** Seed of the projection weights v; default 1. */
  seed?: number;
}

/** Deterministic uniform values in [-1, 1) (mulberry32), so that reports are reproducible. */
export function seededValues(count: number, seed: number): Float64Array {
  let state = seed >>> 0;
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

interface Evaluation {
  loss: number;
  grads: Float64Array[];
}

function evaluate(
  f: (inputs: Tensor[]) => Tensor,
  inputs: readonly GradcheckInput[],
  data: readonly Float64Array[],
  projection: { values: Float64Array | null },
  withGrad: boolean,
  seed: number,
): Evaluation {
  return tidy(() => {
    const xs = inputs.map((input, i) => {
      const x = tensor(data[i]!, input.shape);
      if (withGrad && input.check !== false) x.requiresGrad = true;
      return x;
    });
    const out = f(xs);
    if (out.dtype !== 'float64') throw new Error(`gradcheck: the function must return float64, got ${out.dtype}`);
    if (projection.values === null) projection.values = seededValues(out.numel, seed);
    const v = tensor(projection.values, out.shape);
    const loss = sum(mul(out, v));
    const value = loss.item();
    if (!withGrad) return { loss: value, grads: [] };
    loss.backward();
    const grads = xs.map((x, i) => {
      const grad = x.grad;
      if (grad === null) return new Float64Array(inputs[i]!.data.length);
      return Float64Array.from(grad.data() as Float64Array);
    });
    return { loss: value, grads };
  });
}

/**
 * Compares backward() with central differences for every element of every checked input. The function must be
 * deterministic and return a float64 tensor; it runs 2·(checked elements) + 1 times, so keep inputs small.
 */
export function gradcheck(
  f: (inputs: Tensor[]) => Tensor,
  inputs: readonly GradcheckInput[],
  options: GradcheckOptions = {},
): GradcheckReport {
  const eps = options.eps ?? 1e-6;
  const seed = options.seed ?? 1;
  const data = inputs.map((input) => Float64Array.from(input.data));
  const projection: { values: Float64Array | null } = { values: null };
  const analytic = evaluate(f, inputs, data, projection, true, seed).grads;
  const reports: InputReport[] = [];
  inputs.forEach((input, k) => {
    if (input.check === false) return;
    const x = data[k]!;
    const a = analytic[k]!;
    const n = new Float64Array(x.length);
    noGrad(() => {
      for (let i = 0; i < x.length; i++) {
        const saved = x[i]!;
        x[i] = saved + eps;
        const plus = evaluate(f, inputs, data, projection, false, seed).loss;
        x[i] = saved - eps;
        const minus = evaluate(f, inputs, data, projection, false, seed).loss;
        x[i] = saved;
        n[i] = (plus - minus) / (2 * eps);
      }
    });
    let worst = { index: 0, analytic: a[0] ?? 0, numeric: n[0] ?? 0 };
    let maxRel = 0;
    let diff2 = 0;
    let a2 = 0;
    let n2 = 0;
    let maxAbs = 0;
    for (let i = 0; i < x.length; i++) {
      const ai = a[i]!;
      const ni = n[i]!;
      const rel = Math.abs(ai - ni) / Math.max(1e-8, Math.abs(ai) + Math.abs(ni));
      if (rel > maxRel || Number.isNaN(rel)) {
        maxRel = Number.isNaN(rel) ? Infinity : rel;
        worst = { index: i, analytic: ai, numeric: ni };
      }
      diff2 += (ai - ni) ** 2;
      a2 += ai * ai;
      n2 += ni * ni;
      maxAbs = Math.max(maxAbs, Math.abs(ai));
    }
    reports.push({
      name: input.name,
      maxRelativeError: maxRel,
      normRelativeError: Math.sqrt(diff2) / Math.max(1e-8, Math.sqrt(a2) + Math.sqrt(n2)),
      worst,
      maxAbsGradient: maxAbs,
    });
  });
  return { inputs: reports, maxRelativeError: Math.max(0, ...reports.map((r) => r.maxRelativeError)) };
}

/** A gradcheck input of `shape` filled with seeded values in [-scale, scale) (+ offset). */
export function randomInput(name: string, shape: number[], seed: number, scale = 1, offset = 0): GradcheckInput {
  const count = shape.reduce((p, d) => p * d, 1);
  const data = seededValues(count, seed).map((v) => v * scale + offset);
  return { name, data, shape };
}
