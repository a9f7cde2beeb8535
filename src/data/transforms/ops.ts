/**
 * The image operations of AutoAugment / RandAugment, reproducing torchvision 0.14's PIL backend (which calls
 * Pillow 9.x): Pillow's arithmetic is replicated (float32 blends, fixed-point affine nearest-neighbour sampling,
 * the 3×3 SMOOTH filter, ITU-R 601 luma with Pillow's integer weights) so results match pixel for pixel.
 */
import type { RgbImage } from '../image.js';

const f32 = Math.fround;

/** Applies one 256-entry table to every channel. */
function applyLut(image: RgbImage, lut: Uint8Array | number[]): RgbImage {
  const out = new Uint8Array(image.data.length);
  for (let i = 0; i < out.length; i++) out[i] = lut[image.data[i]!]!;
  return { data: out, width: image.width, height: image.height };
}

/** Pillow's `Image.blend(a, b, alpha)` for 8-bit data (alpha is a C float; values clipped when extrapolating). */
export function blend(a: Uint8Array, b: Uint8Array, alpha: number): Uint8Array {
  const al = f32(alpha);
  const out = new Uint8Array(a.length);
  if (al >= 0 && al <= 1) {
    for (let i = 0; i < a.length; i++) out[i] = Math.trunc(f32(a[i]! + f32(al * (b[i]! - a[i]!))));
  } else {
    for (let i = 0; i < a.length; i++) {
      const t = f32(a[i]! + f32(al * (b[i]! - a[i]!)));
      out[i] = t <= 0 ? 0 : t >= 255 ? 255 : Math.trunc(t);
    }
  }
  return out;
}

/** Pillow's RGB → L conversion (ITU-R 601-2 luma, 16-bit fixed point with rounding). */
export function luma(image: RgbImage): Uint8Array {
  const n = image.width * image.height;
  const out = new Uint8Array(n);
  const d = image.data;
  for (let i = 0; i < n; i++) out[i] = (d[i * 3]! * 19595 + d[i * 3 + 1]! * 38470 + d[i * 3 + 2]! * 7471 + 0x8000) >>> 16;
  return out;
}

function withData(image: RgbImage, data: Uint8Array): RgbImage {
  return { data, width: image.width, height: image.height };
}

/** `F.adjust_brightness` (ImageEnhance.Brightness): blend with black. */
export function adjustBrightness(image: RgbImage, factor: number): RgbImage {
  return withData(image, blend(new Uint8Array(image.data.length), image.data, factor));
}

/** `F.adjust_saturation` (ImageEnhance.Color): blend with the greyscale image. */
export function adjustSaturation(image: RgbImage, factor: number): RgbImage {
  const l = luma(image);
  const gray = new Uint8Array(image.data.length);
  for (let i = 0; i < l.length; i++) gray[i * 3] = gray[i * 3 + 1] = gray[i * 3 + 2] = l[i]!;
  return withData(image, blend(gray, image.data, factor));
}

/** `F.adjust_contrast` (ImageEnhance.Contrast): blend with a flat image at the rounded mean luma. */
export function adjustContrast(image: RgbImage, factor: number): RgbImage {
  const l = luma(image);
  let sum = 0;
  for (const v of l) sum += v;
  const mean = Math.trunc(sum / l.length + 0.5);
  return withData(image, blend(new Uint8Array(image.data.length).fill(mean), image.data, factor));
}

/** Pillow's 3×3 SMOOTH filter (weights 1 1 1 / 1 5 1 / 1 1 1, /13) in float32; border pixels are copied. */
export function smooth(image: RgbImage): Uint8Array {
  const { width: w, height: h, data } = image;
  const out = data.slice();
  const k = f32(1 / 13);
  const kc = f32(5 / 13);
  const stride = w * 3;
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      for (let c = 0; c < 3; c++) {
        const p = y * stride + x * 3 + c;
        const row = (q: number, centre: boolean): number =>
          f32(f32(f32(data[q - 3]! * k) + f32(data[q]! * (centre ? kc : k))) + f32(data[q + 3]! * k));
        let ss = 0;
        ss = f32(ss + row(p + stride, false));
        ss = f32(ss + row(p, true));
        ss = f32(ss + row(p - stride, false));
        out[p] = ss <= 0 ? 0 : ss >= 255 ? 255 : Math.trunc(f32(ss + 0.5));
      }
    }
  }
  return out;
}

/** `F.adjust_sharpness` (ImageEnhance.Sharpness): blend with the SMOOTH-filtered image. */
export function adjustSharpness(image: RgbImage, factor: number): RgbImage {
  return withData(image, blend(smooth(image), image.data, factor));
}

/** `F.posterize`: keep the top `bits` bits of each channel. */
export function posterize(image: RgbImage, bits: number): RgbImage {
  if (!Number.isInteger(bits) || bits < 0 || bits > 8) throw new Error(`posterize: bits must be an integer in 0..8, got ${bits}`);
  const mask = ~(2 ** (8 - bits) - 1) & 0xff;
  return applyLut(image, Array.from({ length: 256 }, (_, i) => i & mask));
}

/** `F.solarize`: invert values at or above `threshold`. */
export function solarize(image: RgbImage, threshold: number): RgbImage {
  return applyLut(image, Array.from({ length: 256 }, (_, i) => (i < threshold ? i : 255 - i)));
}

/** `F.invert`. */
export function invert(image: RgbImage): RgbImage {
  return applyLut(image, Array.from({ length: 256 }, (_, i) => 255 - i));
}

function channelHistogram(image: RgbImage, c: number): Float64Array {
  const h = new Float64Array(256);
  for (let i = c; i < image.data.length; i += 3) h[image.data[i]!]!++;
  return h;
}

function perChannelLut(image: RgbImage, makeLut: (hist: Float64Array) => number[]): RgbImage {
  const luts = [0, 1, 2].map((c) => makeLut(channelHistogram(image, c)));
  const out = new Uint8Array(image.data.length);
  for (let i = 0; i < out.length; i++) out[i] = luts[i % 3]![image.data[i]!]!;
  return withData(image, out);
}

/** `F.autocontrast` (ImageOps.autocontrast, cutoff 0): stretch each channel's [min, max] to [0, 255]. */
export function autocontrast(image: RgbImage): RgbImage {
  return perChannelLut(image, (h) => {
    let lo = 0;
    while (lo < 256 && h[lo] === 0) lo++;
    let hi = 255;
    while (hi >= 0 && h[hi] === 0) hi--;
    if (hi <= lo) return Array.from({ length: 256 }, (_, i) => i);
    const scale = 255 / (hi - lo);
    const offset = -lo * scale;
    return Array.from({ length: 256 }, (_, i) => Math.min(255, Math.max(0, Math.trunc(i * scale + offset))));
  });
}

/** `F.equalize` (Pillow 9.4's ImageOps.equalize: step = (total - last bin) // 255, values clipped to 255): per-channel histogram equalisation. */
export function equalize(image: RgbImage): RgbImage {
  return perChannelLut(image, (h) => {
    const histo: number[] = [];
    for (const v of h) if (v) histo.push(v);
    const identity = Array.from({ length: 256 }, (_, i) => i);
    if (histo.length <= 1) return identity;
    const step = Math.floor((histo.reduce((a, b) => a + b, 0) - histo[histo.length - 1]!) / 255);
    if (!step) return identity;
    const lut: number[] = [];
    let n = Math.floor(step / 2);
    for (let i = 0; i < 256; i++) {
      lut.push(Math.min(255, Math.floor(n / step)));
      n += h[i]!;
    }
    return lut;
  });
}

/**
 * Pillow's `Image.transform(size, AFFINE, matrix, NEAREST)` with black fill: `matrix` maps output pixel centres
 * to input coordinates (`x_in = a·x + b·y + c`, `y_in = d·x + e·y + f`). Uses Pillow's pure-scale path when the
 * matrix has no rotation or shear, else its 16.16 fixed-point path, so sampling decisions are identical.
 */
export function affineNearest(image: RgbImage, matrix: readonly number[]): RgbImage {
  const [a0, a1, a2, a3, a4, a5] = matrix as [number, number, number, number, number, number];
  const { width: w, height: h, data } = image;
  const out = new Uint8Array(data.length);
  const coord = (v: number): number => (v < 0 ? -1 : Math.trunc(v));
  if (a1 === 0 && a3 === 0) {
    const xintab = new Int32Array(w);
    let xo = a2 + a0 * 0.5;
    let yo = a5 + a4 * 0.5;
    let xmin = w;
    let xmax = 0;
    for (let x = 0; x < w; x++) {
      const xin = coord(xo);
      if (xin >= 0 && xin < w) {
        xmax = x + 1;
        if (x < xmin) xmin = x;
        xintab[x] = xin;
      }
      xo += a0;
    }
    for (let y = 0; y < h; y++) {
      const yi = coord(yo);
      if (yi >= 0 && yi < h) {
        for (let x = xmin; x < xmax; x++) {
          const s = (yi * w + xintab[x]!) * 3;
          const d = (y * w + x) * 3;
          out[d] = data[s]!;
          out[d + 1] = data[s + 1]!;
          out[d + 2] = data[s + 2]!;
        }
      }
      yo += a4;
    }
    return withData(image, out);
  }
  const fits = (x: number, y: number): boolean => Math.abs(x * a0 + y * a1 + a2) < 32768 && Math.abs(x * a3 + y * a4 + a5) < 32768;
  if (!(fits(0, 0) && fits(w, h) && fits(0, h) && fits(w, 0))) {
    throw new Error(`affineNearest: matrix [${matrix.join(', ')}] maps the ${w}x${h} image beyond ±32768 pixels; use a smaller transform`);
  }
  const fix = (v: number): number => {
    const t = v * 65536 + 0.5;
    return t < 0 ? Math.floor(t) : Math.trunc(t);
  };
  const f0 = fix(a0);
  const f1 = fix(a1);
  const f3 = fix(a3);
  const f4 = fix(a4);
  let f2 = fix(a2 + a1 * 0.5 + a0 * 0.5);
  let f5 = fix(a5 + a4 * 0.5 + a3 * 0.5);
  for (let y = 0; y < h; y++) {
    let xx = f2;
    let yy = f5;
    for (let x = 0; x < w; x++) {
      const xin = xx >> 16;
      if (xin >= 0 && xin < w) {
        const yin = yy >> 16;
        if (yin >= 0 && yin < h) {
          const s = (yin * w + xin) * 3;
          const d = (y * w + x) * 3;
          out[d] = data[s]!;
          out[d + 1] = data[s + 1]!;
          out[d + 2] = data[s + 2]!;
        }
      }
      xx = (xx + f0) | 0;
      yy = (yy + f3) | 0;
    }
    f2 = (f2 + f1) | 0;
    f5 = (f5 + f4) | 0;
  }
  return withData(image, out);
}

const radians = (deg: number): number => deg * (Math.PI / 180);

/** torchvision's `_get_inverse_affine_matrix` (angle and shear in degrees). */
export function inverseAffineMatrix(center: [number, number], angle: number, translate: [number, number], scale: number, shear: [number, number]): number[] {
  const rot = radians(angle);
  const sx = radians(shear[0]);
  const sy = radians(shear[1]);
  const [cx, cy] = center;
  const [tx, ty] = translate;
  const a = Math.cos(rot - sy) / Math.cos(sy);
  const b = (-Math.cos(rot - sy) * Math.tan(sx)) / Math.cos(sy) - Math.sin(rot);
  const c = Math.sin(rot - sy) / Math.cos(sy);
  const d = (-Math.sin(rot - sy) * Math.tan(sx)) / Math.cos(sy) + Math.cos(rot);
  const m = [d, -b, 0, -c, a, 0].map((v) => v / scale);
  m[2]! += m[0]! * (-cx - tx) + m[1]! * (-cy - ty);
  m[5]! += m[3]! * (-cx - tx) + m[4]! * (-cy - ty);
  m[2]! += cx;
  m[5]! += cy;
  return m;
}

/** `F.affine` for the PIL backend with nearest sampling and black fill; `center` defaults to the image centre. */
export function affine(image: RgbImage, angle: number, translate: [number, number], scale: number, shear: [number, number], center?: [number, number]): RgbImage {
  const c: [number, number] = center ?? [image.width * 0.5, image.height * 0.5];
  return affineNearest(image, inverseAffineMatrix(c, angle, translate, scale, shear));
}

function pyMod360(a: number): number {
  let m = a % 360;
  if (m !== 0 && m < 0) m += 360;
  return m;
}

const round15 = (x: number): number => Number(x.toFixed(15));

/** Pillow's `Image.transpose(ROTATE_90 / 180 / 270)` (counter-clockwise). */
function rotateQuarter(image: RgbImage, quarterTurns: 1 | 2 | 3): RgbImage {
  const { width: w, height: h, data } = image;
  const ow = quarterTurns === 2 ? w : h;
  const oh = quarterTurns === 2 ? h : w;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let ox: number;
      let oy: number;
      if (quarterTurns === 1) [ox, oy] = [y, w - 1 - x];
      else if (quarterTurns === 2) [ox, oy] = [w - 1 - x, h - 1 - y];
      else [ox, oy] = [h - 1 - y, x];
      const s = (y * w + x) * 3;
      const d = (oy * ow + ox) * 3;
      out[d] = data[s]!;
      out[d + 1] = data[s + 1]!;
      out[d + 2] = data[s + 2]!;
    }
  }
  return { data: out, width: ow, height: oh };
}

/** `F.rotate` (PIL, nearest, no expand, black fill): counter-clockwise by `angle` degrees about the centre. */
export function rotate(image: RgbImage, angle: number): RgbImage {
  const a = pyMod360(angle);
  if (a === 0) return withData(image, image.data.slice());
  if (a === 180) return rotateQuarter(image, 2);
  if ((a === 90 || a === 270) && image.width === image.height) return rotateQuarter(image, a === 90 ? 1 : 3);
  const w = image.width;
  const h = image.height;
  const cx = w / 2;
  const cy = h / 2;
  const r = -radians(a);
  const m = [round15(Math.cos(r)), round15(Math.sin(r)), 0, round15(-Math.sin(r)), round15(Math.cos(r)), 0];
  const [ma, mb, , md, me] = m as [number, number, number, number, number];
  m[2] = ma * -cx + mb * -cy + 0;
  m[5] = md * -cx + me * -cy + 0;
  m[2]! += cx;
  m[5]! += cy;
  return affineNearest(image, m);
}
