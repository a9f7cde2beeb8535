/**
 * The in-memory image type of the data pipeline (8-bit RGB, row-major, interleaved HWC) and decoding of encoded
 * files into it: JPEGs with libjpeg through our small native addon (native/src/jpeg_decode.cc, the same library
 * calls as Pillow, so the pixels equal `PIL.Image.open(f).convert('RGB')`, and synchronous, without sharp's
 * per-call cost), everything else (PNG, WebP, GIF, TIFF, and JPEGs libjpeg warns about) with sharp.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type SharpModule from 'sharp';
import type { OutputInfo } from 'sharp';
import { BadFileError } from '../errors.js';
import { checkLimit, limit, limitVariable } from '../limits.js';
import { readJpegHeader } from './jpeg-header.js';
import { requireOptional } from '../optional-package.js';

/** An 8-bit RGB image: `data[(y * width + x) * 3 + c]`, c = 0 (red), 1 (green), 2 (blue). */
export interface RgbImage {
  /** height × width × 3 bytes. */
  data: Uint8Array;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
}

/** Allocates a black RGB image. */
export function blankImage(width: number, height: number): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`image size must be positive integers, got ${width}x${height}`);
  }
  return { data: new Uint8Array(width * height * 3), width, height };
}

/** Expands a one-channel (greyscale) buffer of width × height bytes to RGB by repeating each value three times. */
export function grayToRgb(gray: Uint8Array, width: number, height: number): RgbImage {
  const n = width * height;
  if (gray.length < n) throw new Error(`grayToRgb: ${gray.length} bytes cannot hold a ${width}x${height} greyscale image (needs ${n})`);
  const data = new Uint8Array(n * 3);
  for (let i = 0, o = 0; i < n; i++, o += 3) {
    const v = gray[i]!;
    data[o] = v;
    data[o + 1] = v;
    data[o + 2] = v;
  }
  return { data, width, height };
}

interface JpegBinding {
  available: boolean;
  decodeJpeg(bytes: Uint8Array): RgbImage | null;
}

/** The effnet_image addon, or null when it is not built (or EFFNET_NATIVE_JPEG=0 asks for sharp only). */
function loadJpegBinding(): JpegBinding | null {
  if (process.env.EFFNET_NATIVE_JPEG === '0') return null;
  const here = dirname(fileURLToPath(import.meta.url));
  // dist/src/data -> repository root; src/data when run from sources.
  const path = [join(here, '../../../native/build/Release/effnet_image.node'), join(here, '../../native/build/Release/effnet_image.node')].find((p) => existsSync(p));
  if (!path) return null;
  try {
    const binding = createRequire(import.meta.url)(path) as JpegBinding;
    return binding.available ? binding : null;
  } catch {
    return null; // built for another Node version, or libjpeg missing at run time: sharp decodes everything
  }
}

const jpeg = loadJpegBinding();

/** True when JPEGs are decoded by the native libjpeg path (else sharp decodes them). */
export function nativeJpegAvailable(): boolean {
  return jpeg !== null;
}

/**
 * Decodes a JPEG synchronously with libjpeg exactly as Pillow does (`Image.open(f).convert('RGB')`: greyscale
 * replicated, CMYK converted with Pillow's formula; pixels as stored, no EXIF orientation). Returns null when the
 * native decoder is not built, the bytes are not a JPEG whose frame header can be read, or libjpeg reports
 * anything (a warning such as truncated or corrupt data, an unsupported precision): then use {@link decodeImage},
 * which falls back to sharp and reports errors.
 * @throws LimitError when the header declares more pixels than EFFNET_LIMIT_IMAGE_PIXELS (checked before libjpeg allocates)
 */
export function decodeJpegSync(bytes: Uint8Array, source = '<buffer>'): RgbImage | null {
  if (jpeg === null) return null;
  const header = readJpegHeader(bytes);
  if (header === null) return null;
  checkLimit('imagePixels', header.width * header.height, `image ${source} (${header.width}x${header.height})`, 'pixels');
  return jpeg.decodeJpeg(bytes);
}

/**
 * The image as a viewer shows it, given its EXIF orientation (1..8): 2 mirrored, 3 rotated 180°, 4 flipped, 5
 * transposed, 6 rotated 90° clockwise, 7 transversed, 8 rotated 90° counter-clockwise. What Pillow's
 * ImageOps.exif_transpose, sharp's auto-orientation and browsers do.
 */
export function orientImage(image: RgbImage, orientation: number): RgbImage {
  if (orientation <= 1 || orientation > 8) return image;
  const { width: w, height: h, data } = image;
  const swap = orientation >= 5;
  const width = swap ? h : w;
  const height = swap ? w : h;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let sx: number;
      let sy: number;
      switch (orientation) {
        case 2: sx = w - 1 - x; sy = y; break;
        case 3: sx = w - 1 - x; sy = h - 1 - y; break;
        case 4: sx = x; sy = h - 1 - y; break;
        case 5: sx = y; sy = x; break;
        case 6: sx = y; sy = h - 1 - x; break;
        case 7: sx = w - 1 - y; sy = h - 1 - x; break;
        default: sx = w - 1 - y; sy = x; break; // 8
      }
      const from = (sy * w + sx) * 3;
      const to = (y * width + x) * 3;
      out[to] = data[from]!;
      out[to + 1] = data[from + 1]!;
      out[to + 2] = data[from + 2]!;
    }
  }
  return { data: out, width, height };
}

let sharpModule: typeof SharpModule | null = null;
/** sharp (an optional dependency), loaded and configured on first use. */
function loadSharp(): typeof SharpModule {
  if (sharpModule !== null) return sharpModule;
  const sharp = requireOptional<typeof SharpModule>('sharp', 'decoding this image');
  // Many tiny images: libvips' operation cache only costs memory here, and parallelism comes from our workers.
  sharp.cache(false);
  sharp.concurrency(1);
  sharpModule = sharp;
  return sharp;
}

/**
 * Decodes an encoded image (any format sharp reads: JPEG, PNG, WebP, GIF, TIFF, ...) into 8-bit RGB, oriented as
 * its EXIF orientation says (as viewers, the browser page and Pillow's exif_transpose show it: a phone photo taken
 * upright is upright, in training, eval, predict and the page alike). JPEGs go through {@link decodeJpegSync}
 * (Pillow's pixels) when it can; otherwise sharp: greyscale becomes three equal channels, an alpha channel is
 * dropped, 16-bit images are reduced to 8 bits, the colour space is converted to sRGB. Images of more pixels than
 * EFFNET_LIMIT_IMAGE_PIXELS are refused before decoding. Truncated or corrupt data throws a BadFileError (sharp's
 * `failOn: 'warning'`), with `source` in the message: callers that must not stop on one bad file catch it
 * (datasets report it per sample).
 */
export async function decodeImage(bytes: Uint8Array, source = '<buffer>'): Promise<RgbImage> {
  const fast = decodeJpegSync(bytes, source);
  if (fast) return orientImage(fast, readJpegHeader(bytes)!.orientation);
  const sharp = loadSharp();
  let result: { data: Buffer; info: OutputInfo };
  try {
    result = await sharp(bytes, { failOn: 'warning', limitInputPixels: Math.min(limit('imagePixels'), 2 ** 53 - 1) })
      .rotate()
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    // libvips reports several lines (one per failing tile, in an order that depends on its threads): one line here.
    const reason = (error instanceof Error ? error.message : String(error)).trim().split(/\s*\n\s*/).join('; ');
    if (/pixel limit/i.test(reason)) {
      throw new BadFileError(`image ${source} has more pixels than effnet's limit of ${limit('imagePixels').toLocaleString('en-US')}; if it is trusted, raise the limit with ${limitVariable('imagePixels')}=N (docs/security.md)`);
    }
    throw new BadFileError(`cannot decode image ${source} (${bytes.length} bytes): ${reason}; the file is corrupt, truncated or not an image`);
  }
  const { data, info } = result;
  const pixels = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (info.channels === 3) return { data: pixels, width: info.width, height: info.height };
  if (info.channels === 1) return grayToRgb(pixels, info.width, info.height);
  if (info.channels === 4 || info.channels === 2) {
    // removeAlpha should have dropped alpha; keep the colour channels if a format still reports one.
    const rgb = blankImage(info.width, info.height);
    const n = info.width * info.height;
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < 3; c++) rgb.data[i * 3 + c] = pixels[i * info.channels + (info.channels === 2 ? 0 : c)]!;
    }
    return rgb;
  }
  throw new BadFileError(`cannot decode image ${source}: sharp returned ${info.channels} channels; expected 1 or 3`);
}
