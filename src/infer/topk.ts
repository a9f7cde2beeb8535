/** Softmax and top-k over logits, with class names. */

/** One predicted class. */
export interface Prediction {
  /** Class name (from the model's metadata, or `class N`). */
  label: string;
  /** Output index. */
  index: number;
  /** Softmax probability. */
  probability: number;
}

/** Softmax of `logits[offset .. offset + length)` in float64 (max-subtracted, so large logits do not overflow). */
export function softmax(logits: ArrayLike<number>, offset = 0, length = logits.length - offset): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < length; i++) max = Math.max(max, logits[offset + i]!);
  const out = new Float64Array(length);
  let sum = 0;
  for (let i = 0; i < length; i++) {
    out[i] = Math.exp(logits[offset + i]! - max);
    sum += out[i]!;
  }
  for (let i = 0; i < length; i++) out[i]! /= sum;
  return out;
}

/**
 * The k most probable classes of one row of logits, most probable first (ties: lower index first).
 * @throws when k is not a positive integer
 */
export function topK(logits: ArrayLike<number>, classNames: readonly string[], k: number, offset = 0): Prediction[] {
  if (!Number.isInteger(k) || k < 1) throw new Error(`top-k: k must be a positive integer, got ${k}`);
  const probabilities = softmax(logits, offset, classNames.length);
  const order = Array.from(probabilities.keys()).sort((a, b) => probabilities[b]! - probabilities[a]! || a - b);
  return order.slice(0, Math.min(k, classNames.length)).map((index) => ({
    label: classNames[index]!,
    index,
    probability: probabilities[index]!,
  }));
}
