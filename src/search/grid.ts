/**
 * The compound-scaling grid: every (α, β, γ) on a grid of step s starting at 1 (α, β, γ ∈ {1, 1+s, 1+2s, ...})
 * whose FLOPs growth α·β²·γ² lies within `tolerance` of `target` (the paper's constraint α·β²·γ² ≈ 2).
 */
import { UserError } from '../errors.js';

/** Thrown for a grid that cannot be built (bad step or tolerance, or a constraint no grid point meets). */
export class GridError extends UserError {
  override name = 'GridError';
}

/** Options of {@link enumerateGrid}. */
export interface GridOptions {
  /** Grid step s (> 0); α, β, γ take the values 1 + k·s, k = 0, 1, 2, ... */
  step: number;
  /** Largest allowed |α·β²·γ² − target| (> 0). */
  tolerance: number;
  /** The FLOPs growth per unit φ to meet; default 2 (the paper's). */
  target?: number;
}

/** One grid point. */
export interface GridPoint {
  /** Depth base α. */
  alpha: number;
  /** Width base β. */
  beta: number;
  /** Resolution base γ. */
  gamma: number;
  /** α·β²·γ². */
  flopsGrowth: number;
}

/**
 * Comparisons allow this much floating-point slack, relative to the target: grid values such as 1 + 3·0.05 are not
 * exact binary fractions, and a point lying exactly on the tolerance boundary must count as inside.
 */
const SLACK = 1e-9;

/** The grid value 1 + k·s, rounded to 12 decimals so that 1 + 3·0.05 prints and compares as 1.15. */
export function gridValue(k: number, step: number): number {
  return Number((1 + k * step).toFixed(12));
}

/**
 * Every grid point meeting the constraint, ordered by α, then β, then γ.
 * @throws GridError for step ≤ 0, tolerance ≤ 0, target < 1 or a constraint that no grid point meets.
 */
export function enumerateGrid(options: GridOptions): GridPoint[] {
  const { step, tolerance } = options;
  const target = options.target ?? 2;
  if (typeof step !== 'number' || !Number.isFinite(step) || step <= 0) {
    throw new GridError(`grid step must be a finite number > 0 (e.g. 0.05), got ${String(step)}`);
  }
  if (typeof tolerance !== 'number' || !Number.isFinite(tolerance) || tolerance <= 0) {
    throw new GridError(`tolerance must be a finite number > 0 (e.g. 0.1: accept |α·β²·γ² − ${target}| ≤ 0.1), got ${String(tolerance)}`);
  }
  if (typeof target !== 'number' || !Number.isFinite(target) || target <= 0) {
    throw new GridError(`target FLOPs growth must be a finite number > 0 (the paper uses 2), got ${String(target)}`);
  }
  const high = target + tolerance;
  const slack = SLACK * Math.max(1, target);
  if (high < 1 - slack) {
    throw new GridError(`no grid point can meet |α·β²·γ² − ${target}| ≤ ${tolerance}: with α, β, γ ≥ 1 the product is at least 1; raise the target or the tolerance`);
  }
  // α ≤ high (β, γ ≥ 1), β² ≤ high / α, γ² ≤ high / (α·β²): each loop stops once the product alone exceeds high.
  const points: GridPoint[] = [];
  for (let a = 0; ; a += 1) {
    const alpha = gridValue(a, step);
    if (alpha > high + slack) break;
    for (let b = 0; ; b += 1) {
      const beta = gridValue(b, step);
      if (alpha * beta * beta > high + slack) break;
      for (let g = 0; ; g += 1) {
        const gamma = gridValue(g, step);
        const flopsGrowth = alpha * beta * beta * gamma * gamma;
        if (flopsGrowth > high + slack) break;
        if (Math.abs(flopsGrowth - target) <= tolerance + slack) points.push({ alpha, beta, gamma, flopsGrowth });
      }
    }
  }
  if (points.length === 0) {
    throw new GridError(
      `no point of the grid with step ${step} meets |α·β²·γ² − ${target}| ≤ ${tolerance}; use a smaller step or a larger tolerance`,
    );
  }
  return points;
}
