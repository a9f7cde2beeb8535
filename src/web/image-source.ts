/**
 * What a web page holds, as the classifier's RgbImage: an `<img>`, a canvas (DOM or offscreen), an `ImageBitmap`,
 * `ImageData`, a `Blob`/`File` of an encoded image, or raw RGBA/RGB bytes. The browser decodes (its own JPEG/PNG/WebP
 * decoders, EXIF orientation applied as the page shows the image: `<img>` does it by default, a Blob goes through
 * `createImageBitmap` with `imageOrientation: 'from-image'`, without colour-space conversion or alpha
 * premultiplication); the pixels are read back through a 2D canvas and alpha is dropped, as the model card's eval
 * transform says. No DOM typings are needed: the few browser APIs used are described structurally here, so the
 * module also compiles (and is tested for its raw paths) under Node.
 */
import type { RgbImage } from '../data/image.js';

export type { RgbImage };

/** Raw pixels: RGBA (4 bytes per pixel, as ImageData holds them) or RGB (3), row-major, top row first. */
export interface RawPixels {
  /** width × height × channels bytes. */
  data: Uint8Array | Uint8ClampedArray;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Bytes per pixel: 4 (RGBA, the default) or 3 (RGB). */
  channels?: 3 | 4;
}

/** The part of `ImageData` used (it is also a {@link RawPixels} with 4 channels). */
interface ImageDataLike {
  readonly data: Uint8ClampedArray;
  readonly width: number;
  readonly height: number;
}

/** Something a 2D canvas can draw: an `<img>`, a canvas, an `ImageBitmap`, a video frame. */
export interface DrawableImage {
  readonly width: number;
  readonly height: number;
  /** `<img>`: the decoded image's own size (width/height are the element's layout size). */
  readonly naturalWidth?: number;
  readonly naturalHeight?: number;
  /** `<img>`: whether decoding finished. */
  readonly complete?: boolean;
  /** `<img>`: resolves once the image is decoded. */
  decode?(): Promise<void>;
}

/** The part of `Blob` used. */
export interface BlobLike {
  readonly size: number;
  readonly type: string;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** Anything {@link imageFromSource} accepts. */
export type ImageSource = DrawableImage | BlobLike | RawPixels | ImageDataLike;

interface Context2dLike {
  drawImage(image: unknown, dx: number, dy: number): void;
  getImageData(sx: number, sy: number, sw: number, sh: number): ImageDataLike;
}

interface CanvasLike {
  getContext(kind: '2d', options?: Record<string, unknown>): Context2dLike | null;
}

interface BrowserGlobals {
  OffscreenCanvas?: new (width: number, height: number) => CanvasLike;
  document?: { createElement(tag: 'canvas'): CanvasLike & { width: number; height: number } };
  createImageBitmap?: (source: unknown, options?: Record<string, unknown>) => Promise<DrawableImage & { close?(): void }>;
}

function isBlob(source: ImageSource): source is BlobLike {
  return typeof (source as BlobLike).arrayBuffer === 'function' && typeof (source as BlobLike).size === 'number';
}

function isRaw(source: ImageSource): source is RawPixels {
  const data = (source as RawPixels).data;
  return data instanceof Uint8Array || data instanceof Uint8ClampedArray;
}

/**
 * RGB bytes from RGBA or RGB ones (alpha dropped, colours as stored).
 * @throws when the byte count does not match width × height × channels
 */
export function rgbFromRaw(raw: RawPixels): RgbImage {
  const channels = raw.channels ?? 4;
  const { width, height } = raw;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`effnet/web: an image needs a positive integer width and height, got ${width}x${height}`);
  }
  if (channels !== 3 && channels !== 4) throw new Error(`effnet/web: raw pixels have 3 (RGB) or 4 (RGBA) channels, got ${String(channels)}`);
  if (raw.data.length !== width * height * channels) {
    throw new Error(`effnet/web: a ${width}x${height} image of ${channels} channels has ${width * height * channels} bytes, got ${raw.data.length}`);
  }
  if (channels === 3) return { data: Uint8Array.from(raw.data), width, height };
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, o = 0; o < data.length; i += 4, o += 3) {
    data[o] = raw.data[i]!;
    data[o + 1] = raw.data[i + 1]!;
    data[o + 2] = raw.data[i + 2]!;
  }
  return { data, width, height };
}

/** A 2D context of a fresh canvas of the given size (offscreen when the browser has it). */
function canvasContext(width: number, height: number): Context2dLike {
  const globals = globalThis as unknown as BrowserGlobals;
  let canvas: CanvasLike;
  if (globals.OffscreenCanvas !== undefined) {
    canvas = new globals.OffscreenCanvas(width, height);
  } else if (globals.document !== undefined) {
    const element = globals.document.createElement('canvas');
    element.width = width;
    element.height = height;
    canvas = element;
  } else {
    throw new Error('effnet/web: drawing an image needs a browser canvas (OffscreenCanvas or document); in Node, decode files with effnet (loadImageFile) instead');
  }
  const context = canvas.getContext('2d', { willReadFrequently: true });
  if (context === null) throw new Error('effnet/web: the browser gave no 2D canvas context');
  return context;
}

/** The pixels of something a canvas can draw, at its natural size. */
async function rgbFromDrawable(image: DrawableImage): Promise<RgbImage> {
  if (image.complete === false && typeof image.decode === 'function') await image.decode();
  const width = image.naturalWidth ?? image.width;
  const height = image.naturalHeight ?? image.height;
  if (!(width > 0 && height > 0)) throw new Error(`effnet/web: the image has no pixels (${width}x${height}); wait until it has loaded, or check its source`);
  const context = canvasContext(width, height);
  context.drawImage(image, 0, 0);
  return rgbFromRaw(context.getImageData(0, 0, width, height));
}

/**
 * The RGB pixels of a page's image, as the classifier takes them.
 * @throws when the source holds no pixels, or a Blob cannot be decoded by the browser
 */
export async function imageFromSource(source: ImageSource): Promise<RgbImage> {
  if (isRaw(source)) return rgbFromRaw(source);
  if (isBlob(source)) {
    const globals = globalThis as unknown as BrowserGlobals;
    if (globals.createImageBitmap === undefined) throw new Error('effnet/web: decoding a Blob needs the browser (createImageBitmap)');
    let bitmap;
    try {
      bitmap = await globals.createImageBitmap(source, { imageOrientation: 'from-image', colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    } catch (error) {
      throw new Error(`effnet/web: the browser cannot decode this ${source.type || 'file'} of ${source.size} bytes (${error instanceof Error ? error.message : String(error)})`);
    }
    try {
      return await rgbFromDrawable(bitmap);
    } finally {
      bitmap.close?.();
    }
  }
  return rgbFromDrawable(source as DrawableImage);
}
