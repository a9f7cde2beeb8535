/**
 * Item 5 of the hostile-input issue: images. A 148-byte JPEG that declares 20000×20000 (or 65500×65500, which
 * killed Node with a fatal OOM) is refused before any pixel is allocated, on the libjpeg path and on sharp's;
 * `predict` of /dev/zero or a FIFO is refused at once instead of reading forever or hanging; and EXIF orientation
 * is applied everywhere the CLI decodes (as the browser page already did), checked against Pillow's
 * ImageOps.exif_transpose byte for byte on the libjpeg path and against the orientation's definition on sharp's.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeImage, nativeJpegAvailable, type RgbImage } from '../../src/data/image.js';
import { jpegDeclaring, writeTinyFiles, type TinyFiles } from './craft.js';
import { assertUserError, harnessSkip, runEffnet } from './harness.js';

const skip = harnessSkip;
let dir = '';
let tiny: TinyFiles;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'effnet-hostile-images-'));
  tiny = await writeTinyFiles(join(dir, 'honest'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('a tiny JPEG declaring 20000x20000 or 65500x65500: refused before decoding, on both decoders', { skip }, async () => {
  for (const side of [20000, 65500]) {
    const file = join(dir, `declares-${side}.jpg`);
    writeFileSync(file, jpegDeclaring(side, side));
    for (const env of [{}, { EFFNET_NATIVE_JPEG: '0' }] as Record<string, string>[]) {
      const result = await runEffnet(['predict', tiny.onnx, file], { env });
      assertUserError(result, { message: /effnet predict: 1 of 1 images could not be classified/, maxSeconds: 15 });
      assert.match(result.stdout, /more pixels than effnet's limit of 100,000,000|over effnet's limit of 100,000,000 pixels.*EFFNET_LIMIT_IMAGE_PIXELS/);
    }
  }
});

test('predict /dev/zero or a FIFO: refused at once, not read forever or waited on', { skip }, async () => {
  const fifo = join(dir, 'pipe.png');
  execFileSync('mkfifo', [fifo]);
  for (const path of ['/dev/zero', fifo]) {
    const result = await runEffnet(['predict', tiny.onnx, path, '--json'], { timeoutS: 20 });
    assertUserError(result, { message: /1 of 1 images could not be classified/, maxSeconds: 10 });
    assert.match(result.stdout, /not a regular file/);
  }
  // As the model too.
  assertUserError(await runEffnet(['predict', '/dev/zero', tiny.image], { timeoutS: 20 }), { message: /not a regular file|does not exist|ONNX/, maxSeconds: 10 });
});

/** What Pillow shows: `ImageOps.exif_transpose(Image.open(f)).convert('RGB')`, as width, height, hex pixels. */
function pillowOriented(file: string): RgbImage {
  const script = "import sys\nfrom PIL import Image, ImageOps\nim = ImageOps.exif_transpose(Image.open(sys.argv[1])).convert('RGB')\nprint(im.size[0], im.size[1], im.tobytes().hex())";
  const [w, h, hex] = execFileSync('/usr/bin/python3', ['-c', script, file], { encoding: 'utf8', maxBuffer: 1 << 26 }).trim().split(' ');
  return { width: Number(w), height: Number(h), data: Uint8Array.from(Buffer.from(hex!, 'hex')) };
}

/** The orientation's definition (EXIF 2.3, tag 0x0112) applied to a raw image, independently of src/. */
function orientByDefinition(image: RgbImage, orientation: number): RgbImage {
  // Each orientation as the stored image's (column, row) of displayed pixel (x, y) in a W x H display.
  const { width: w, height: h } = image;
  const swap = orientation >= 5;
  const W = swap ? h : w;
  const H = swap ? w : h;
  const source: Record<number, (x: number, y: number) => [number, number]> = {
    1: (x, y) => [x, y], 2: (x, y) => [w - 1 - x, y], 3: (x, y) => [w - 1 - x, h - 1 - y], 4: (x, y) => [x, h - 1 - y],
    5: (x, y) => [y, x], 6: (x, y) => [y, h - 1 - x], 7: (x, y) => [w - 1 - y, h - 1 - x], 8: (x, y) => [w - 1 - y, x],
  };
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const [sx, sy] = source[orientation]!(x, y);
      data.set(image.data.subarray((sy * w + sx) * 3, (sy * w + sx) * 3 + 3), (y * W + x) * 3);
    }
  }
  return { width: W, height: H, data };
}

test('EXIF orientation 1..8 is applied: JPEGs equal Pillow exif_transpose byte for byte, TIFFs the definition', { skip: !nativeJpegAvailable() }, async () => {
  const w = 23;
  const h = 14;
  const raw = new Uint8Array(w * h * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 37 + (i % 3) * 80) % 256;
  for (let orientation = 1; orientation <= 8; orientation++) {
    const jpeg = join(dir, `o${orientation}.jpg`);
    await sharp(Buffer.from(raw), { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 95 }).withMetadata({ orientation }).toFile(jpeg);
    const ours = await decodeImage(readFileSync(jpeg), jpeg);
    const pillow = pillowOriented(jpeg);
    assert.deepEqual([ours.width, ours.height], [pillow.width, pillow.height], `orientation ${orientation}`);
    assert.ok(Buffer.from(ours.data).equals(Buffer.from(pillow.data)), `orientation ${orientation}: pixels differ from Pillow's`);

    const tiff = await sharp(Buffer.from(raw), { raw: { width: w, height: h, channels: 3 } }).tiff({ compression: 'lzw' }).withMetadata({ orientation }).toBuffer();
    const viaSharp = await decodeImage(tiff, `o${orientation}.tif`);
    const expected = orientByDefinition({ width: w, height: h, data: raw }, orientation);
    assert.deepEqual([viaSharp.width, viaSharp.height], [expected.width, expected.height]);
    assert.ok(Buffer.from(viaSharp.data).equals(Buffer.from(expected.data)), `orientation ${orientation}: sharp path`);
  }
});

test('predict of a photo stored sideways (orientation 6) equals predict of the upright image', { skip }, async () => {
  const w = 40;
  const h = 30;
  const upright = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) upright.set(y < h / 2 ? [220, 30 + x, 30] : [30, 30, 220 - y], (y * w + x) * 3);
  // Stored turned 90° counter-clockwise (h wide, w tall), with orientation 6 telling viewers to turn it clockwise:
  // stored row r, column c holds upright pixel (x = w - 1 - r, y = c).
  const stored = new Uint8Array(w * h * 3);
  for (let r = 0; r < w; r++) for (let c = 0; c < h; c++) stored.set(upright.subarray((c * w + (w - 1 - r)) * 3, (c * w + (w - 1 - r)) * 3 + 3), (r * h + c) * 3);
  const write = (pixels: Uint8Array, width: number, height: number, file: string, orientation?: number): Promise<unknown> => {
    const image = sharp(Buffer.from(pixels), { raw: { width, height, channels: 3 } }).tiff({ compression: 'lzw' });
    return (orientation === undefined ? image : image.withMetadata({ orientation })).toFile(join(dir, file));
  };
  await write(upright, w, h, 'upright.tif');
  await write(stored, h, w, 'sideways.tif', 6);
  await write(stored, h, w, 'sideways-unmarked.tif');
  const result = await runEffnet(['predict', tiny.onnx, ...['upright.tif', 'sideways.tif', 'sideways-unmarked.tif'].map((f) => join(dir, f)), '--json', '--top', '4']);
  assert.equal(result.code, 0, result.stderr);
  const [first, second, control] = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { top: { index: number; probability: number }[] });
  const same = (a: typeof first, b: typeof first): boolean => a!.top.every((p, i) => p.index === b!.top[i]!.index && Math.abs(p.probability - b!.top[i]!.probability) < 1e-6);
  assert.ok(same(first, second), `sideways with orientation 6 ${JSON.stringify(second)} vs upright ${JSON.stringify(first)}`);
  assert.ok(!same(first, control), 'the control (the same pixels without the orientation tag) should score differently');
});
