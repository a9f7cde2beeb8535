/**
 * Mixup (Zhang et al. 2018), the regularizer EfficientNetV2's progressive learning grows with the image size: each
 * batch is blended with a permutation of itself, x' = λ·x + (1 − λ)·x[π], and the loss is the same blend of the two
 * labels' losses, with λ ~ Beta(α, α) drawn once per batch. λ and π are seeded per optimizer step (deriveSeed(seed,
 * MIXUP_SEED_TAG, step)), so a resumed run draws the same ones.
 */
import { Rng, deriveSeed, permutation } from '../data/rng.js';

/** The seed tag of mixup's draws (distinct from the loader's and libtorch's). */
export const MIXUP_SEED_TAG = 0x6d697875;

/** A Gamma(shape, 1) sample (Marsaglia & Tsang 2000; shape < 1 through Gamma(shape + 1)·U^(1/shape)). */
export function sampleGamma(shape: number, rng: Rng): number {
  if (!(shape > 0)) throw new Error(`sampleGamma: shape must be > 0, got ${shape}`);
  if (shape < 1) return sampleGamma(shape + 1, rng) * Math.pow(1 - rng.next(), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    // A standard normal by Box-Muller.
    const z = Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
    const v = (1 + c * z) ** 3;
    if (v <= 0) continue;
    const u = 1 - rng.next();
    if (Math.log(u) < 0.5 * z * z + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** A Beta(α, α) sample. */
export function sampleBeta(alpha: number, rng: Rng): number {
  const a = sampleGamma(alpha, rng);
  const b = sampleGamma(alpha, rng);
  return a / (a + b);
}

/** How one batch is mixed: the weight of the batch as it is, and the permutation it is blended with. */
export interface MixupPlan {
  /** λ in [0, 1]. */
  lambda: number;
  /** π: row i is blended with row π[i]. */
  permutation: Int32Array;
}

/** The plan of the batch of `step` (`count` images) for mixup α, or null when α is 0 (no mixup). */
export function mixupPlan(alpha: number, count: number, seed: number, step: number): MixupPlan | null {
  if (!(alpha > 0)) return null;
  const rng = new Rng(deriveSeed(seed, MIXUP_SEED_TAG, step));
  const lambda = sampleBeta(alpha, rng);
  return { lambda, permutation: permutation(count, rng) };
}
