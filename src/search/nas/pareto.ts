/**
 * Two-objective trade-offs of an architecture search: accuracy (higher is better) against a cost (MACs or latency,
 * lower is better). The Pareto front is the set of candidates no other candidate beats on both; its hypervolume is
 * the area it dominates above a reference point (accuracy 0, the largest cost seen), the usual single number for
 * comparing fronts.
 */

/** One evaluated candidate on the plane. */
export interface TradeOffPoint {
  /** Accuracy (or any higher-is-better score). */
  accuracy: number;
  /** Cost (lower is better, > 0). */
  cost: number;
  /** Which candidate. */
  id: number;
}

/**
 * The non-dominated points, cheapest first: a point is dominated when another has at least its accuracy at no more
 * cost and is strictly better on one of them. Of exact duplicates, the first in input order is kept.
 */
export function paretoFront(points: readonly TradeOffPoint[]): TradeOffPoint[] {
  const sorted = points
    .map((point, order) => ({ point, order }))
    .sort((a, b) => a.point.cost - b.point.cost || b.point.accuracy - a.point.accuracy || a.order - b.order);
  const front: TradeOffPoint[] = [];
  let best = -Infinity;
  for (const { point } of sorted) {
    if (point.accuracy > best) {
      front.push(point);
      best = point.accuracy;
    }
  }
  return front;
}

/**
 * The area dominated by `front` inside the box from the reference point (accuracy `reference.accuracy`, cost
 * `reference.cost`): Σ over the front, cheapest first, of (reference cost − cost) × (accuracy − the previous
 * accuracy). Points beyond the reference contribute nothing.
 */
export function hypervolume(points: readonly TradeOffPoint[], reference: { accuracy: number; cost: number }): number {
  const front = paretoFront(points).filter((p) => p.cost < reference.cost && p.accuracy > reference.accuracy);
  let volume = 0;
  let previous = reference.accuracy;
  for (const point of front) {
    volume += (reference.cost - point.cost) * (point.accuracy - previous);
    previous = point.accuracy;
  }
  return volume;
}
