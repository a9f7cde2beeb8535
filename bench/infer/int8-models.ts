/**
 * The float and int8 EfficientNet-B0 (224 px) both int8 benchmarks time: {@link randomB0} exported to ONNX, then
 * quantized by `effnet export --int8`'s code (min-max calibration on seeded random inputs, every part quantized, no
 * float fallback). Calibration runs in onnxruntime-node; the bytes are what any runtime then loads.
 */
import * as ort from 'onnxruntime-node';
import { exportEfficientNet } from '../../src/export/index.js';
import { quantizeInt8 } from '../../src/export/quantize/int8.js';
import type { OrtModuleLike } from '../../src/infer/classifier.js';
import { Rng } from '../../src/data/rng.js';
import { randomB0 } from './random-b0.js';

/** The input size of the benchmarked B0. */
export const B0_SIZE = 224;

/** `count` images of seeded noise in [-2, 2), NCHW at {@link B0_SIZE}. */
export function randomBatch(count: number, rng: Rng): Float32Array {
  return Float32Array.from({ length: count * 3 * B0_SIZE * B0_SIZE }, () => (rng.next() - 0.5) * 4);
}

/** The float and int8 model bytes of a seeded B0; `sessionOptions` are the calibration session's. */
export async function b0FloatAndInt8(sessionOptions: Record<string, unknown>): Promise<{ floatBytes: Uint8Array; int8Bytes: Uint8Array }> {
  const model = randomB0();
  const floatBytes = exportEfficientNet(model).bytes;
  model.dispose();
  const calibration = [{ data: randomBatch(8, new Rng(1)), count: 8 }];
  const runtime = ort as unknown as OrtModuleLike;
  const int8 = await quantizeInt8(floatBytes, { runtime, calibration, method: { kind: 'minmax' }, calibrationData: 'random', sessionOptions });
  return { floatBytes, int8Bytes: int8.bytes };
}
