/**
 * Image resizing that reproduces Pillow's `Image.resize` (Resample.c, Pillow 9.x) bit for bit for 8-bit RGB: a
 * separable convolution whose filter support widens with the downscale factor (antialiasing), coefficients
 * normalised per output pixel and quantised to 22-bit fixed point, horizontal pass first, each pass rounded and
 * clipped to 8 bits. torchvision's PIL path (Resize, RandomResizedCrop) calls exactly this, so our crops match
 * torchvision's pixel for pixel.
 *
 * The passes run in 32-bit integer arithmetic as Pillow's (its accumulators are C ints, sized so that they cannot
 * overflow), read a sub-rectangle of the source in place (a crop costs no copy), and hand each finished output row
 * to a sink, so that callers can write rows straight into their final layout (see {@link resizeRegionRows}).
 */
import type { RgbImage } from '../image.js';

/** Interpolation filters (Pillow's names). */
export type ResampleFilter = 'bicubic' | 'bilinear';

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);

function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

function triangle(x: number): number {
  if (x < 0) x = -x;
  return x < 1 ? 1 - x : 0;
}

const FILTERS: Record<ResampleFilter, { fn: (x: number) => number; support: number }> = {
  bicubic: { fn: bicubic, support: 2 },
  bilinear: { fn: triangle, support: 1 },
};

interface Coeffs {
  ksize: number;
  bounds: Int32Array; // xmin, count per output pixel
  kk: Int32Array; // fixed-point weights, ksize per output pixel
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for the input span [in0, in1) mapped onto outSize pixels. */
function precompute(inSize: number, in0: number, in1: number, outSize: number, filter: ResampleFilter): Coeffs {
  const { fn, support: baseSupport } = FILTERS[filter];
  const scale = (in1 - in0) / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = baseSupport * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = in0 + (xx + 0.5) * scale;
    let ww = 0;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    for (let x = 0; x < xmax; x++) {
      const w = fn((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x]! / ww : k[x]!;
      kk[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

/**
 * Receives output row `y` of a resize as width × 3 bytes (RGB). The array is scratch space that the next row
 * overwrites: copy what you keep.
 */
export type RowSink = (y: number, row: Uint8Array) => void;

// Scratch buffers reused across calls (one resize at a time per thread; sinks must not start another resize).
let scratchH: Uint8ClampedArray = new Uint8ClampedArray(0);
let scratchRow: Uint8ClampedArray = new Uint8ClampedArray(0);
function scratch(current: Uint8ClampedArray, size: number): Uint8ClampedArray {
  return current.length >= size ? current : new Uint8ClampedArray(Math.max(size, current.length * 2));
}

/**
 * Horizontal pass: `rows` output rows of `width` pixels into `out` (row stride width × 3), reading source rows
 * `srcRow0`.. of `data` (row stride `srcStride` bytes) from byte column `srcCol0`. Writing to a clamped array
 * is Pillow's clip8 of `sum >> 22`.
 */
function horizontalPass(
  data: Uint8Array, srcStride: number, srcRow0: number, srcCol0: number, rows: number, width: number, c: Coeffs, out: Uint8ClampedArray,
): void {
  const { ksize, bounds, kk } = c;
  for (let y = 0; y < rows; y++) {
    const inRow = (srcRow0 + y) * srcStride + srcCol0;
    let o = y * width * 3;
    for (let xx = 0; xx < width; xx++) {
      const kOff = xx * ksize;
      const n = bounds[xx * 2 + 1]!;
      let p = inRow + bounds[xx * 2]! * 3;
      let s0 = HALF;
      let s1 = HALF;
      let s2 = HALF;
      for (let x = 0; x < n; x++, p += 3) {
        const w = kk[kOff + x]!;
        s0 = (s0 + Math.imul(data[p]!, w)) | 0;
        s1 = (s1 + Math.imul(data[p + 1]!, w)) | 0;
        s2 = (s2 + Math.imul(data[p + 2]!, w)) | 0;
      }
      out[o++] = s0 >> PRECISION_BITS;
      out[o++] = s1 >> PRECISION_BITS;
      out[o++] = s2 >> PRECISION_BITS;
    }
  }
}

/**
 * Vertical pass producing output row `yy` into `row` (`count` bytes): input row r of the pass starts at byte
 * `base + r × stride` of `data`, where r is relative to `rowOffset`.
 */
function verticalRow(
  data: Uint8Array | Uint8ClampedArray, stride: number, base: number, rowOffset: number, count: number, c: Coeffs, yy: number, row: Uint8ClampedArray,
): void {
  const kOff = yy * c.ksize;
  const n = c.bounds[yy * 2 + 1]!;
  const kk = c.kk;
  let p = base + (c.bounds[yy * 2]! - rowOffset) * stride;
  if (n === 4) {
    const w0 = kk[kOff]!;
    const w1 = kk[kOff + 1]!;
    const w2 = kk[kOff + 2]!;
    const w3 = kk[kOff + 3]!;
    const s1 = stride;
    const s2 = 2 * stride;
    const s3 = 3 * stride;
    for (let i = 0; i < count; i++, p++) {
      row[i] = (HALF + Math.imul(data[p]!, w0) + Math.imul(data[p + s1]!, w1) + Math.imul(data[p + s2]!, w2) + Math.imul(data[p + s3]!, w3)) >> PRECISION_BITS;
    }
    return;
  }
  if (n === 5) {
    const w0 = kk[kOff]!;
    const w1 = kk[kOff + 1]!;
    const w2 = kk[kOff + 2]!;
    const w3 = kk[kOff + 3]!;
    const w4 = kk[kOff + 4]!;
    const s1 = stride;
    const s2 = 2 * stride;
    const s3 = 3 * stride;
    const s4 = 4 * stride;
    for (let i = 0; i < count; i++, p++) {
      row[i] = (HALF + Math.imul(data[p]!, w0) + Math.imul(data[p + s1]!, w1) + Math.imul(data[p + s2]!, w2) + Math.imul(data[p + s3]!, w3)
        + Math.imul(data[p + s4]!, w4)) >> PRECISION_BITS;
    }
    return;
  }
  for (let i = 0; i < count; i++, p++) {
    let s = HALF;
    for (let t = 0, q = p; t < n; t++, q += stride) s = (s + Math.imul(data[q]!, kk[kOff + t]!)) | 0;
    row[i] = s >> PRECISION_BITS;
  }
}

/**
 * The general resampler: `data` holds an image whose rows are `srcStride` bytes apart; the resized image is the
 * `inWidth` × `inHeight` rectangle starting at pixel (`left`, `top`), itself sub-selected by Pillow's fractional
 * `box` (in the rectangle's coordinates). Rows go to `sink` in order.
 */
function resample(
  data: Uint8Array, srcStride: number, left: number, top: number, inWidth: number, inHeight: number,
  box: readonly [number, number, number, number], width: number, height: number, filter: ResampleFilter, sink: RowSink,
): void {
  const [x0, y0, x1, y1] = box;
  const rowBytes = width * 3;
  const needH = width !== inWidth || x0 !== 0 || x1 !== inWidth;
  const needV = height !== inHeight || y0 !== 0 || y1 !== inHeight;
  if (!needH && !needV) {
    for (let y = 0; y < height; y++) {
      const start = (top + y) * srcStride + left * 3;
      sink(y, data.subarray(start, start + rowBytes));
    }
    return;
  }
  scratchRow = scratch(scratchRow, rowBytes);
  const row = scratchRow.subarray(0, rowBytes);
  const rowView = new Uint8Array(row.buffer, row.byteOffset, rowBytes);
  const horiz = needH ? precompute(inWidth, x0, x1, width, filter) : null;
  const vert = needV ? precompute(inHeight, y0, y1, height, filter) : null;
  if (horiz && !vert) {
    for (let y = 0; y < height; y++) {
      horizontalPass(data, srcStride, top + y, left * 3, 1, width, horiz, row);
      sink(y, rowView);
    }
    return;
  }
  const v = vert!;
  if (!horiz) {
    for (let yy = 0; yy < height; yy++) {
      verticalRow(data, srcStride, top * srcStride + left * 3, 0, rowBytes, v, yy, row);
      sink(yy, rowView);
    }
    return;
  }
  // Only the rows the vertical pass reads.
  const first = v.bounds[0]!;
  const last = v.bounds[height * 2 - 2]! + v.bounds[height * 2 - 1]!;
  const rows = last - first;
  scratchH = scratch(scratchH, rows * rowBytes);
  const tmp = scratchH;
  horizontalPass(data, srcStride, top + first, left * 3, rows, width, horiz, tmp);
  for (let yy = 0; yy < height; yy++) {
    verticalRow(tmp, rowBytes, 0, first, rowBytes, v, yy, row);
    sink(yy, rowView);
  }
}

function checkSize(what: string, width: number, height: number, filter: ResampleFilter): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`${what}: target size must be positive integers, got ${width}x${height}`);
  }
  if (!(filter in FILTERS)) throw new Error(`${what}: unknown filter "${filter}"; expected ${Object.keys(FILTERS).join(' or ')}`);
}

/**
 * Resizes the whole-pixel rectangle (`left`, `top`, `regionWidth` × `regionHeight`) of `image` to width × height,
 * exactly as Pillow resizes `image.crop(rectangle)`, without copying the rectangle, and hands each output row to
 * `sink` (row y as width × 3 RGB bytes, a scratch view valid until the sink returns). The rectangle must lie inside
 * the image.
 */
export function resizeRegionRows(
  image: RgbImage, left: number, top: number, regionWidth: number, regionHeight: number, width: number, height: number,
  filter: ResampleFilter, sink: RowSink,
): void {
  checkSize('resizeRegionRows', width, height, filter);
  if (![left, top, regionWidth, regionHeight].every(Number.isInteger) || left < 0 || top < 0 || regionWidth <= 0 || regionHeight <= 0
    || left + regionWidth > image.width || top + regionHeight > image.height) {
    throw new Error(`resizeRegionRows: region ${regionWidth}x${regionHeight} at (${left}, ${top}) must be whole pixels inside the ${image.width}x${image.height} image`);
  }
  resample(image.data, image.width * 3, left, top, regionWidth, regionHeight, [0, 0, regionWidth, regionHeight], width, height, filter, sink);
}

/** A sink that copies rows into a new width × height RGB image. */
function collect(width: number, height: number): { image: RgbImage; sink: RowSink } {
  const image: RgbImage = { data: new Uint8Array(width * height * 3), width, height };
  const rowBytes = width * 3;
  return { image, sink: (y, row) => image.data.set(row, y * rowBytes) };
}

/**
 * Resizes `image` to width × height with Pillow's algorithm. `box` = [left, top, right, bottom] selects the source
 * region in (fractional) pixel coordinates, as Pillow's `resize(size, filter, box)`; default the whole image.
 */
export function resize(image: RgbImage, width: number, height: number, filter: ResampleFilter = 'bicubic', box?: [number, number, number, number]): RgbImage {
  checkSize('resize', width, height, filter);
  const b = box ?? [0, 0, image.width, image.height];
  const [x0, y0, x1, y1] = b;
  if (x0 < 0 || y0 < 0 || x1 > image.width || y1 > image.height || x1 <= x0 || y1 <= y0) {
    throw new Error(`resize: box [${x0}, ${y0}, ${x1}, ${y1}] is not inside the ${image.width}x${image.height} image with positive size`);
  }
  const out = collect(width, height);
  resample(image.data, image.width * 3, 0, 0, image.width, image.height, b, width, height, filter, out.sink);
  return out.image;
}

/** Pillow's `image.crop(rectangle).resize((width, height), filter)` for a whole-pixel rectangle inside the image, without the crop's copy. */
export function resizeRegion(image: RgbImage, left: number, top: number, regionWidth: number, regionHeight: number, width: number, height: number, filter: ResampleFilter = 'bicubic'): RgbImage {
  const out = collect(width, height);
  resizeRegionRows(image, left, top, regionWidth, regionHeight, width, height, filter, out.sink);
  return out.image;
}
