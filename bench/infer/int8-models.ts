/**
 * The float and int8 models both int8 benchmarks time: a registered variant (B0 by default; Lite0 is the family
 * that quantizes without SiLU) with seeded weights and randomised batch norms, exported to ONNX, then quantized by
 * `effnet export --int8`'s code (min-max calibration on seeded random inputs, every part quantized, no float
 * fallback). Calibration runs in onnxruntime-node; the bytes are what any runtime then loads.
 */
import * as ort from 'onnxruntime-node';
import { exportEfficientNet } from '../../src/export/index.js';
import { quantizeInt8 } from '../../src/export/quantize/int8.js';
import type { OrtModuleLike } from '../../src/infer/classifier.js';
import { Rng } from '../../src/data/rng.js';
import { randomVariant } from './random-b0.js';

/** `count` images of seeded noise in [-2, 2), NCHW at `size`. */
export function randomBatch(count: number, rng: Rng, size: number): Float32Array {
  return Float32Array.from({ length: count * 3 * size * size }, () => (rng.next() - 0.5) * 4);
}

/** The float and int8 model bytes of the seeded variant `name` and its input size; `sessionOptions` are the calibration session's. */
export async function floatAndInt8(name: string, sessionOptions: Record<string, unknown>): Promise<{ floatBytes: Uint8Array; int8Bytes: Uint8Array; size: number }> {
  const model = randomVariant(name);
  const size = model.config.resolution;
  const floatBytes = exportEfficientNet(model).bytes;
  model.dispose();
  const calibration = [{ data: randomBatch(8, new Rng(1), size), count: 8 }];
  const runtime = ort as unknown as OrtModuleLike;
  const int8 = await quantizeInt8(floatBytes, { runtime, calibration, method: { kind: 'minmax' }, calibrationData: 'random', sessionOptions });
  return { floatBytes, int8Bytes: int8.bytes, size };
}
