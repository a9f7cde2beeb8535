/**
 * The in-memory image type of the data pipeline (8-bit RGB, row-major, interleaved HWC) and decoding of encoded
 * files (JPEG, PNG, WebP, ...) into it with sharp.
 */
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

let sharpConfigured = false;
function configureSharp(): void {
  if (sharpConfigured) return;
  // Many tiny images: libvips' operation cache only costs memory here, and parallelism comes from our workers.
  sharp.cache(false);
  sharp.concurrency(1);
  sharpConfigured = true;
}

/**
 * Decodes an encoded image (any format sharp reads: JPEG, PNG, WebP, GIF, TIFF, ...) into 8-bit RGB. Greyscale
 * becomes three equal channels; an alpha channel is dropped; 16-bit images are reduced to 8 bits; the colour space
 * is converted to sRGB. Truncated or corrupt data throws (sharp's `failOn: 'warning'`), with `source` in the
 * message: callers that must not stop on one bad file catch it (datasets report it per sample).
 */
export async function decodeImage(bytes: Uint8Array, source = '<buffer>'): Promise<RgbImage> {
  configureSharp();
  let result: { data: Buffer; info: OutputInfo };
  try {
    result = await sharp(bytes, { failOn: 'warning' })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw new Error(`cannot decode image ${source} (${bytes.length} bytes): ${error instanceof Error ? error.message : String(error)}; the file is corrupt, truncated or not an image`);
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
