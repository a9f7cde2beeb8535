/**
 * Measured latency as the search's cost, MnasNet's original objective: the candidate (its model card, weights as
 * initialised: latency does not depend on their values) exported to ONNX with batch norm folded, then the median
 * wall time of `runs` batch-1 inferences in onnxruntime-node on this machine, after `warmup` runs. What is measured
 * is what `effnet predict` and the browser page run.
 */
import type * as OnnxRuntime from 'onnxruntime-node';
import { requireOptional } from '../../optional-package.js';
import { createModelFromCard } from '../../card/build.js';
import type { ModelCard } from '../../card/model-card.js';
import { exportEfficientNet } from '../../export/efficientnet-onnx.js';

/** Options of {@link measureLatency}; each default is stated. */
export interface LatencyOptions {
  /** Timed runs; default 30. */
  runs?: number;
  /** Untimed runs first; default 5. */
  warmup?: number;
  /** onnxruntime intra-op threads; default 1 (one core of a phone-like budget, and no contention with training). */
  threads?: number;
}

/** A latency measurement. */
export interface LatencyResult {
  /** Median of the timed runs, milliseconds. */
  medianMs: number;
  /** Every timed run, milliseconds, in order. */
  runsMs: number[];
}

/** Measures the batch-1 ONNX latency of the network `card` describes, at its eval size. */
export async function measureLatency(card: ModelCard, options: LatencyOptions = {}): Promise<LatencyResult> {
  const runs = options.runs ?? 30;
  const warmup = options.warmup ?? 5;
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`measureLatency: runs must be a positive integer, got ${runs}`);
  const model = createModelFromCard(card);
  let bytes: Uint8Array;
  try {
    model.eval();
    bytes = exportEfficientNet(model, { card }).bytes;
  } finally {
    model.dispose();
  }
  const ort = requireOptional<typeof OnnxRuntime>('onnxruntime-node', 'measuring latency (nas --latency)');
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', intraOpNumThreads: options.threads ?? 1, interOpNumThreads: 1 });
  try {
    const size = card.eval.size;
    const channels = card.architecture.inChannels;
    const input = new ort.Tensor('float32', new Float32Array(channels * size * size).fill(0.5), [1, channels, size, size]);
    for (let i = 0; i < warmup; i++) await session.run({ [session.inputNames[0]!]: input });
    const runsMs: number[] = [];
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      await session.run({ [session.inputNames[0]!]: input });
      runsMs.push(performance.now() - started);
    }
    const sorted = [...runsMs].sort((a, b) => a - b);
    const middle = Math.floor(sorted.length / 2);
    const medianMs = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
    return { medianMs, runsMs };
  } finally {
    await session.release();
  }
}
