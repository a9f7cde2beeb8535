/**
 * Image resizing that reproduces Pillow's `Image.resize` (Resample.c, Pillow 9.x) bit for bit for 8-bit RGB: a
 * separable convolution whose filter support widens with the downscale factor (antialiasing), coefficients
 * normalised per output pixel and quantised to 22-bit fixed point, horizontal pass first, each pass rounded and
 * clipped to 8 bits. torchvision's PIL path (Resize, RandomResizedCrop) calls exactly this, so our crops match
 * torchvision's pixel for pixel.
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

function clip8(v: number): number {
  if (v >= ONE * 256) return 255;
  if (v <= 0) return 0;
  return Math.floor(v / ONE);
}

/**
 * Resizes `image` to width × height with Pillow's algorithm. `box` = [left, top, right, bottom] selects the source
 * region in (fractional) pixel coordinates, as Pillow's `resize(size, filter, box)`; default the whole image.
 */
export function resize(image: RgbImage, width: number, height: number, filter: ResampleFilter = 'bicubic', box?: [number, number, number, number]): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`resize: target size must be positive integers, got ${width}x${height}`);
  }
  if (!(filter in FILTERS)) throw new Error(`resize: unknown filter "${filter}"; expected ${Object.keys(FILTERS).join(' or ')}`);
  const [x0, y0, x1, y1] = box ?? [0, 0, image.width, image.height];
  if (x0 < 0 || y0 < 0 || x1 > image.width || y1 > image.height || x1 <= x0 || y1 <= y0) {
    throw new Error(`resize: box [${x0}, ${y0}, ${x1}, ${y1}] is not inside the ${image.width}x${image.height} image with positive size`);
  }
  if (width === image.width && height === image.height && x0 === 0 && y0 === 0 && x1 === width && y1 === height) {
    return { data: image.data.slice(), width, height };
  }
  const needH = width !== image.width || x0 !== 0 || x1 !== width;
  const needV = height !== image.height || y0 !== 0 || y1 !== height;
  const horiz = precompute(image.width, x0, x1, width, filter);
  const vert = precompute(image.height, y0, y1, height, filter);
  let src = image;
  let rowOffset = 0;
  if (needH) {
    // Only the rows the vertical pass reads.
    const first = vert.bounds[0]!;
    const last = vert.bounds[height * 2 - 2]! + vert.bounds[height * 2 - 1]!;
    const rows = needV ? last - first : image.height;
    const start = needV ? first : 0;
    const out = new Uint8Array(width * rows * 3);
    const inData = image.data;
    const inStride = image.width * 3;
    const { ksize, bounds, kk } = horiz;
    for (let y = 0; y < rows; y++) {
      const inRow = (y + start) * inStride;
      const outRow = y * width * 3;
      for (let xx = 0; xx < width; xx++) {
        const xmin = bounds[xx * 2]!;
        const xmax = bounds[xx * 2 + 1]!;
        const kOff = xx * ksize;
        let s0 = HALF;
        let s1 = HALF;
        let s2 = HALF;
        for (let x = 0; x < xmax; x++) {
          const w = kk[kOff + x]!;
          const p = inRow + (x + xmin) * 3;
          s0 += inData[p]! * w;
          s1 += inData[p + 1]! * w;
          s2 += inData[p + 2]! * w;
        }
        const o = outRow + xx * 3;
        out[o] = clip8(s0);
        out[o + 1] = clip8(s1);
        out[o + 2] = clip8(s2);
      }
    }
    src = { data: out, width, height: rows };
    rowOffset = needV ? first : 0;
  }
  if (!needV) return src;
  const out = new Uint8Array(width * height * 3);
  const inData = src.data;
  const stride = src.width * 3;
  const { ksize, bounds, kk } = vert;
  for (let yy = 0; yy < height; yy++) {
    const ymin = bounds[yy * 2]! - rowOffset;
    const ymax = bounds[yy * 2 + 1]!;
    const kOff = yy * ksize;
    const outRow = yy * stride;
    for (let xc = 0; xc < stride; xc++) {
      let s = HALF;
      for (let y = 0; y < ymax; y++) s += inData[(y + ymin) * stride + xc]! * kk[kOff + y]!;
      out[outRow + xc] = clip8(s);
    }
  }
  return { data: out, width, height };
}
