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
import sharp, { type OutputInfo } from 'sharp';

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
 * replicated, CMYK converted with Pillow's formula). Returns null when the native decoder is not built, the bytes
 * are not a JPEG, or libjpeg reports anything (a warning such as truncated or corrupt data, an unsupported
 * precision): then use {@link decodeImage}, which falls back to sharp and reports errors.
 */
export function decodeJpegSync(bytes: Uint8Array): RgbImage | null {
  if (jpeg === null || bytes.length < 3 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return null;
  return jpeg.decodeJpeg(bytes);
}

let sharpConfigured = false;
function configureSharp(): void {
  if (sharpConfigured) return;
  // Many tiny images: libvips' operation cache only costs memory here, and parallelism comes from our workers.
  sharp.cache(false);
  sharp.concurrency(1);
  sharpConfigured = true;
}

/**
 * Decodes an encoded image (any format sharp reads: JPEG, PNG, WebP, GIF, TIFF, ...) into 8-bit RGB. JPEGs go
 * through {@link decodeJpegSync} (Pillow's pixels) when it can; otherwise sharp: greyscale becomes three equal
 * channels, an alpha channel is dropped, 16-bit images are reduced to 8 bits, the colour space is converted to
 * sRGB. Truncated or corrupt data throws (sharp's `failOn: 'warning'`), with `source` in the message: callers that
 * must not stop on one bad file catch it (datasets report it per sample).
 */
export async function decodeImage(bytes: Uint8Array, source = '<buffer>'): Promise<RgbImage> {
  const fast = decodeJpegSync(bytes);
  if (fast) return fast;
  configureSharp();
  let result: { data: Buffer; info: OutputInfo };
  try {
    result = await sharp(bytes, { failOn: 'warning' })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    // libvips reports several lines (one per failing tile, in an order that depends on its threads): one line here.
    const reason = (error instanceof Error ? error.message : String(error)).trim().split(/\s*\n\s*/).join('; ');
    throw new Error(`cannot decode image ${source} (${bytes.length} bytes): ${reason}; the file is corrupt, truncated or not an image`);
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
  throw new Error(`cannot decode image ${source}: sharp returned ${info.channels} channels; expected 1 or 3`);
}
