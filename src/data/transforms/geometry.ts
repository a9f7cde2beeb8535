/**
 * Geometric transforms on RGB images with torchvision's semantics (PIL backend): crop (zero padding outside the
 * image, as PIL's crop), horizontal flip, resize of the short side, center crop, and the random-resized-crop box.
 */
import type { RgbImage } from '../image.js';
import type { Rng } from '../rng.js';
import { resize, resizeRegion, type ResampleFilter } from './resample.js';

/** A crop box in pixels: top row, left column, height, width (torchvision's i, j, h, w). */
export interface CropBox {
  /** First row. */
  top: number;
  /** First column. */
  left: number;
  /** Rows. */
  height: number;
  /** Columns. */
  width: number;
}

/** Python's round(): to the nearest integer, ties to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Cuts `box` out of `image`; parts outside the image are black (as PIL's crop). */
export function crop(image: RgbImage, box: CropBox): RgbImage {
  const { top, left, height, width } = box;
  if (![top, left, height, width].every(Number.isInteger) || height <= 0 || width <= 0) {
    throw new Error(`crop: box ${JSON.stringify(box)} must have integer coordinates and positive size`);
  }
  const out = new Uint8Array(width * height * 3);
  const x0 = Math.max(0, left);
  const x1 = Math.min(image.width, left + width);
  if (x1 > x0) {
    for (let y = 0; y < height; y++) {
      const sy = top + y;
      if (sy < 0 || sy >= image.height) continue;
      out.set(image.data.subarray((sy * image.width + x0) * 3, (sy * image.width + x1) * 3), (y * width + (x0 - left)) * 3);
    }
  }
  return { data: out, width, height };
}

/** Mirrors an image left-right. */
export function hflip(image: RgbImage): RgbImage {
  const { width, height, data } = image;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) {
    const row = y * width * 3;
    for (let x = 0; x < width; x++) {
      const s = row + x * 3;
      const d = row + (width - 1 - x) * 3;
      out[d] = data[s]!;
      out[d + 1] = data[s + 1]!;
      out[d + 2] = data[s + 2]!;
    }
  }
  return { data: out, width, height };
}

/** torchvision `Resize(size)` with an int: the short side becomes `size`, the long side `int(size * long / short)`. */
export function resizeShortSide(image: RgbImage, size: number, filter: ResampleFilter = 'bicubic'): RgbImage {
  const { width: w, height: h } = image;
  const [short, long] = w <= h ? [w, h] : [h, w];
  if (short === size) return image;
  const newLong = Math.trunc((size * long) / short);
  return w <= h ? resize(image, size, newLong, filter) : resize(image, newLong, size, filter);
}

/** The box of torchvision's `CenterCrop` (negative top/left when the crop is larger than the image: zero padding). */
export function centerCropBox(width: number, height: number, cropHeight: number, cropWidth: number): CropBox {
  let top: number;
  let left: number;
  if (cropWidth > width || cropHeight > height) {
    const padLeft = cropWidth > width ? Math.floor((cropWidth - width) / 2) : 0;
    const padTop = cropHeight > height ? Math.floor((cropHeight - height) / 2) : 0;
    const padRight = cropWidth > width ? Math.floor((cropWidth - width + 1) / 2) : 0;
    const padBottom = cropHeight > height ? Math.floor((cropHeight - height + 1) / 2) : 0;
    const pw = width + padLeft + padRight;
    const ph = height + padTop + padBottom;
    top = roundHalfEven((ph - cropHeight) / 2) - padTop;
    left = roundHalfEven((pw - cropWidth) / 2) - padLeft;
  } else {
    top = roundHalfEven((height - cropHeight) / 2);
    left = roundHalfEven((width - cropWidth) / 2);
  }
  return { top, left, height: cropHeight, width: cropWidth };
}

/** torchvision `CenterCrop([height, width])`. */
export function centerCrop(image: RgbImage, cropHeight: number, cropWidth: number = cropHeight): RgbImage {
  return crop(image, centerCropBox(image.width, image.height, cropHeight, cropWidth));
}

/** Parameters of random-resized-crop: area fraction and aspect-ratio ranges. */
export interface RandomResizedCropParams {
  /** Range of the crop's area as a fraction of the image's (default [0.08, 1]). */
  scale: [number, number];
  /** Range of width/height (default [3/4, 4/3]), sampled log-uniformly. */
  ratio: [number, number];
}

/** Defaults of {@link RandomResizedCropParams}, as torchvision's. */
export const DEFAULT_RRC: RandomResizedCropParams = { scale: [0.08, 1], ratio: [3 / 4, 4 / 3] };

/**
 * torchvision's `RandomResizedCrop.get_params`: up to 10 attempts at a box with a uniformly drawn area fraction and
 * a log-uniformly drawn aspect ratio (sides rounded half-to-even) that fits, at a uniformly drawn position; if none
 * fits, a center crop of the whole image clamped to the ratio range. Draws come from `rng` in that order (area,
 * ratio, then top, left on success), so the result is a deterministic function of the generator state.
 */
export function randomResizedCropBox(width: number, height: number, rng: Rng, params: RandomResizedCropParams = DEFAULT_RRC): CropBox {
  const area = height * width;
  const logLo = Math.log(params.ratio[0]);
  const logHi = Math.log(params.ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(params.scale[0], params.scale[1]);
    const aspect = Math.exp(rng.uniform(logLo, logHi));
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = rng.int(height - h + 1);
      const left = rng.int(width - w + 1);
      return { top, left, height: h, width: w };
    }
  }
  const inRatio = width / height;
  const minRatio = Math.min(...params.ratio);
  const maxRatio = Math.max(...params.ratio);
  let w: number;
  let h: number;
  if (inRatio < minRatio) {
    w = width;
    h = roundHalfEven(w / minRatio);
  } else if (inRatio > maxRatio) {
    h = height;
    w = roundHalfEven(h * maxRatio);
  } else {
    w = width;
    h = height;
  }
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/** True when `box` has integer coordinates, positive size and lies inside a width × height image. */
export function boxInside(box: CropBox, width: number, height: number): boolean {
  const { top, left, height: h, width: w } = box;
  return [top, left, h, w].every(Number.isInteger) && top >= 0 && left >= 0 && h > 0 && w > 0 && top + h <= height && left + w <= width;
}

/**
 * torchvision `F.resized_crop` (PIL): crop `box`, then resize to width × height with Pillow's filter. A box inside
 * the image is resized in place (no copy of the crop); one reaching outside is cropped first (black padding).
 */
export function resizedCrop(image: RgbImage, box: CropBox, width: number, height: number, filter: ResampleFilter = 'bicubic'): RgbImage {
  if (boxInside(box, image.width, image.height)) return resizeRegion(image, box.left, box.top, box.width, box.height, width, height, filter);
  return resize(crop(image, box), width, height, filter);
}
