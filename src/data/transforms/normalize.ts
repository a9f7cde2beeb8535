/**
 * torchvision's `ToTensor()` followed by `Normalize(mean, std)`, computed in float32 exactly as PyTorch does
 * (`x / 255`, then `(x - mean) / std`, each step rounded to float32), written as CHW into a Float32Array.
 */
import type { RgbImage } from '../image.js';

/** ImageNet channel means (RGB, on the 0..1 scale). */
export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
/** ImageNet channel standard deviations (RGB, on the 0..1 scale). */
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

/** Per-channel lookup tables byte → normalised float32 value. */
export function normalizationTables(mean: readonly number[] = IMAGENET_MEAN, std: readonly number[] = IMAGENET_STD): Float32Array[] {
  if (mean.length !== 3 || std.length !== 3) throw new Error(`normalize: mean and std need 3 values (RGB), got ${mean.length} and ${std.length}`);
  if (std.some((s) => !(s > 0))) throw new Error(`normalize: std values must be positive, got [${std.join(', ')}]`);
  const f = Math.fround;
  return [0, 1, 2].map((c) => {
    const table = new Float32Array(256);
    const m = f(mean[c]!);
    const s = f(std[c]!);
    for (let v = 0; v < 256; v++) table[v] = f(f(f(v / 255) - m) / s);
    return table;
  });
}

/**
 * Writes `image` normalised as 3 × height × width floats into `out` starting at `offset` (a slot of an NCHW batch).
 * `tables` come from {@link normalizationTables}.
 */
export function normalizeInto(image: RgbImage, tables: Float32Array[], out: Float32Array, offset = 0): void {
  const n = image.width * image.height;
  if (offset + 3 * n > out.length) throw new Error(`normalizeInto: ${3 * n} values at offset ${offset} do not fit in an array of ${out.length}`);
  const [t0, t1, t2] = tables as [Float32Array, Float32Array, Float32Array];
  const d = image.data;
  for (let i = 0; i < n; i++) {
    out[offset + i] = t0[d[i * 3]!]!;
    out[offset + n + i] = t1[d[i * 3 + 1]!]!;
    out[offset + 2 * n + i] = t2[d[i * 3 + 2]!]!;
  }
}

/**
 * A row sink (for {@link resizeRegionRows} in ./resample.ts) that writes each RGB row of a width × height image
 * normalised into the CHW slot of `out` at `offset`, mirrored left-right when `flip` is set: the same floats as
 * hflip then {@link normalizeInto}, without the intermediate images.
 */
export function normalizedRowSink(tables: Float32Array[], out: Float32Array, offset: number, width: number, height: number, flip: boolean): (y: number, row: Uint8Array) => void {
  const n = width * height;
  if (offset + 3 * n > out.length) throw new Error(`normalizedRowSink: ${3 * n} values at offset ${offset} do not fit in an array of ${out.length}`);
  const [t0, t1, t2] = tables as [Float32Array, Float32Array, Float32Array];
  return (y, row) => {
    const o = offset + y * width;
    if (flip) {
      for (let x = 0, i = 0, d = o + width - 1; x < width; x++, i += 3, d--) {
        out[d] = t0[row[i]!]!;
        out[d + n] = t1[row[i + 1]!]!;
        out[d + 2 * n] = t2[row[i + 2]!]!;
      }
    } else {
      for (let x = 0, i = 0, d = o; x < width; x++, i += 3, d++) {
        out[d] = t0[row[i]!]!;
        out[d + n] = t1[row[i + 1]!]!;
        out[d + 2 * n] = t2[row[i + 2]!]!;
      }
    }
  };
}

/** Convenience: a new Float32Array (CHW) with the normalised image. */
export function normalize(image: RgbImage, mean: readonly number[] = IMAGENET_MEAN, std: readonly number[] = IMAGENET_STD): Float32Array {
  const out = new Float32Array(3 * image.width * image.height);
  normalizeInto(image, normalizationTables(mean, std), out);
  return out;
}
