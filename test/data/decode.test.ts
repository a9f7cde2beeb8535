/**
 * The native JPEG decoder (native/src/jpeg_decode.cc) against Pillow: JPEGs of several kinds written by Pillow and
 * by sharp are decoded by `PIL.Image.open(f).convert('RGB')` (via /usr/bin/python3) and by ours, byte for byte;
 * files it must not handle (truncated, not a JPEG) fall back to sharp. Then the fused train transform (resize of
 * the crop box in place, flip and normalisation written into the batch slot) against torchvision's
 * RandomResizedCrop(bicubic) + flip + ToTensor + Normalize on the same boxes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeImage, decodeJpegSync, nativeJpegAvailable, type RgbImage } from '../../src/data/image.js';
import { Rng } from '../../src/data/rng.js';
import { hflip, randomResizedCropBox, resizedCrop } from '../../src/data/transforms/geometry.js';
import { normalizationTables, normalizeInto } from '../../src/data/transforms/normalize.js';
import { compileTransform } from '../../src/data/transforms/pipeline.js';

const PIL_JPEGS = String.raw`
import io, os, sys
from PIL import Image
out = sys.argv[1]
def pattern(w, h, mode):
    im = Image.new('RGB', (w, h))
    im.putdata([((x * 13 + y * 7) % 256, (x * y + 50) % 256, (255 - x * 9 + y * 3) % 256) for y in range(h) for x in range(w)])
    return im.convert(mode) if mode != 'RGB' else im
cases = {
    'q90_420.jpg': (pattern(37, 29, 'RGB'), dict(quality=90, subsampling=2)),
    'q75_444.jpg': (pattern(32, 32, 'RGB'), dict(quality=75, subsampling=0)),
    'q60_422.jpg': (pattern(41, 23, 'RGB'), dict(quality=60, subsampling=1)),
    'progressive.jpg': (pattern(50, 35, 'RGB'), dict(quality=85, progressive=True)),
    'optimized.jpg': (pattern(17, 9, 'RGB'), dict(quality=95, optimize=True)),
    'gray.jpg': (pattern(19, 21, 'L'), dict(quality=80)),
    'cmyk.jpg': (pattern(24, 16, 'CMYK'), dict(quality=90)),
    'tiny.jpg': (pattern(1, 1, 'RGB'), dict(quality=90)),
}
for name, (im, kw) in cases.items():
    im.save(os.path.join(out, name), 'JPEG', **kw)
names = sorted(os.listdir(out))
for name in names:
    if not name.endswith('.jpg'):
        continue
    im = Image.open(os.path.join(out, name)).convert('RGB')
    with open(os.path.join(out, name + '.rgb'), 'wb') as f:
        f.write(im.tobytes())
    print(name, im.size[0], im.size[1])
`;

/** Writes Pillow's and sharp's JPEGs into `dir`, returns name -> Pillow's decoded image. */
async function pillowDecodes(dir: string): Promise<Map<string, RgbImage>> {
  const rgb = Buffer.from(Array.from({ length: 33 * 27 * 3 }, (_, i) => (i * 11 + (i % 7) * 40) % 256));
  const raw = () => sharp(rgb, { raw: { width: 33, height: 27, channels: 3 } });
  writeFileSync(join(dir, 'sharp_mozjpeg.jpg'), await raw().jpeg({ quality: 70 }).toBuffer());
  writeFileSync(join(dir, 'sharp_progressive_444.jpg'), await raw().jpeg({ quality: 88, progressive: true, chromaSubsampling: '4:4:4' }).toBuffer());
  const listing = execFileSync('/usr/bin/python3', ['-c', PIL_JPEGS, dir], { encoding: 'utf8' });
  const out = new Map<string, RgbImage>();
  for (const line of listing.trim().split('\n')) {
    const [name, w, h] = line.split(' ');
    out.set(name!, { data: new Uint8Array(readFileSync(join(dir, `${name}.rgb`))), width: Number(w), height: Number(h) });
  }
  return out;
}

test('native JPEG decoding equals PIL.Image.open(f).convert("RGB") byte for byte; other files fall back to sharp', { skip: nativeJpegAvailable() ? false : 'the effnet_image addon is not built with libjpeg (native/build/Release/effnet_image.node)' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-jpeg-'));
  try {
    const expected = await pillowDecodes(dir);
    assert.equal(expected.size, 10);
    for (const [name, ref] of expected) {
      const bytes = new Uint8Array(readFileSync(join(dir, name)));
      const ours = decodeJpegSync(bytes);
      assert.ok(ours, `${name}: the native decoder declined a valid JPEG`);
      assert.deepEqual([ours.width, ours.height], [ref.width, ref.height], `${name}: size`);
      let diff = 0;
      for (let i = 0; i < ref.data.length; i++) if (ours.data[i] !== ref.data[i]) diff++;
      assert.equal(diff, 0, `${name}: ${diff} of ${ref.data.length} bytes differ from Pillow`);
      assert.deepEqual(await decodeImage(bytes, name), ours, `${name}: decodeImage takes the native path`);
    }
    const ok = new Uint8Array(readFileSync(join(dir, 'q90_420.jpg')));
    const truncated = ok.subarray(0, Math.floor(ok.length / 2));
    assert.equal(decodeJpegSync(truncated), null, 'a truncated JPEG (libjpeg warns) is left to sharp');
    await assert.rejects(decodeImage(truncated, 'cut.jpg'), /cannot decode image cut\.jpg/);
    const png = await sharp(Buffer.alloc(12, 200), { raw: { width: 2, height: 2, channels: 3 } }).png().toBuffer();
    assert.equal(decodeJpegSync(png), null, 'a PNG is not for the JPEG decoder');
    assert.deepEqual([...(await decodeImage(png)).data], Array(12).fill(200), 'PNG through sharp');
    assert.equal(decodeJpegSync(new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3])), null, 'garbage after a JPEG signature');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const CIFAR = new URL('../../../../shared/data/cifar10-train.tar.gz', import.meta.url).pathname;

test('CIFAR-10 JPEGs decode as Pillow decodes them (first 300 of the archive, when present)', { skip: existsSync(CIFAR) && nativeJpegAvailable() ? false : `needs ${CIFAR} and the native decoder` }, async () => {
  const { TarImageDataset } = await import('../../src/data/tar-dataset.js');
  const ds = TarImageDataset.open(CIFAR);
  const n = Math.min(300, ds.length);
  const script = String.raw`
import hashlib, io, sys, tarfile
from PIL import Image
want = set(sys.argv[2:])
with tarfile.open(sys.argv[1], 'r:*') as tar:
    for m in tar:
        if m.name in want:
            im = Image.open(io.BytesIO(tar.extractfile(m).read())).convert('RGB')
            print(m.name, hashlib.sha256(im.tobytes()).hexdigest())
`;
  const names = Array.from({ length: n }, (_, i) => ds.names[i]!);
  const ref = new Map(execFileSync('/usr/bin/python3', ['-c', script, CIFAR, ...names], { encoding: 'utf8', maxBuffer: 1 << 24 }).trim().split('\n').map((l) => l.split(' ') as [string, string]));
  assert.equal(ref.size, n);
  const { createHash } = await import('node:crypto');
  for (let i = 0; i < n; i++) {
    const img = decodeJpegSync(ds.encoded(i));
    assert.ok(img, `${names[i]}: declined`);
    assert.equal(createHash('sha256').update(img.data).digest('hex'), ref.get(names[i]!), `${names[i]}: pixels differ from Pillow`);
  }
});

const TORCHVISION_RRC = String.raw`
import json, sys, torch
from PIL import Image
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode
spec = json.load(sys.stdin)
img = Image.frombytes('RGB', (spec['width'], spec['height']), bytes(spec['data']))
outs = []
for c in spec['cases']:
    t = F.resized_crop(img, c['top'], c['left'], c['height'], c['width'], [c['size'], c['size']], InterpolationMode.BICUBIC)
    if c['flip']:
        t = F.hflip(t)
    x = F.normalize(F.to_tensor(t), [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    outs.append(x.numpy().tobytes().hex())
print(json.dumps(outs))
`;

test('the fused train transform equals torchvision RandomResizedCrop(bicubic) + flip + ToTensor + Normalize', () => {
  const width = 45;
  const height = 38;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 29 + ((i / 3) | 0) * 3) % 256;
  const image: RgbImage = { data, width, height };
  const cases: { top: number; left: number; height: number; width: number; size: number; flip: boolean; ours: Float32Array; unfused: Float32Array }[] = [];
  const tables = normalizationTables();
  for (const [k, size] of [32, 128, 20, 45, 7].entries()) {
    for (let s = 0; s < 4; s++) {
      const seed = 1000 * k + s;
      // Replay the transform's draws: box first, then the flip.
      const rng = new Rng(seed);
      const box = randomResizedCropBox(width, height, rng);
      const flip = rng.next() < 0.5;
      const ours = new Float32Array(3 * size * size + 5);
      compileTransform({ kind: 'train', size })(image, new Rng(seed), ours, 5);
      let img = resizedCrop(image, box, size, size);
      if (flip) img = hflip(img);
      const unfused = new Float32Array(3 * size * size);
      normalizeInto(img, tables, unfused, 0);
      cases.push({ ...box, size, flip, ours: ours.subarray(5), unfused });
    }
  }
  assert.ok(cases.some((c) => c.flip) && cases.some((c) => !c.flip), 'both flip outcomes are covered');
  const input = JSON.stringify({ width, height, data: [...data], cases: cases.map(({ ours: _o, unfused: _u, ...c }) => c) });
  const ref = JSON.parse(execFileSync('/usr/bin/python3', ['-c', TORCHVISION_RRC], { input, encoding: 'utf8', maxBuffer: 1 << 26 })) as string[];
  cases.forEach((c, i) => {
    const b = Buffer.from(ref[i]!, 'hex');
    const expected = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    const what = `box ${c.width}x${c.height} at (${c.left}, ${c.top}) -> ${c.size}px, flip ${c.flip}`;
    assert.deepEqual(c.ours, expected, `fused: ${what}`);
    assert.deepEqual(c.unfused, expected, `unfused: ${what}`);
  });
});

test('terminating worker threads in the middle of native decodes does not abort the process', { skip: nativeJpegAvailable() ? false : 'the native decoder is not built' }, async () => {
  const { Worker } = await import('node:worker_threads');
  const jpeg = await sharp(Buffer.alloc(64 * 64 * 3, 90), { raw: { width: 64, height: 64, channels: 3 } }).jpeg().toBuffer();
  const imageModule = new URL('../../src/data/image.js', import.meta.url).href;
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(${JSON.stringify(imageModule)}).then(({ decodeJpegSync }) => {
      const bytes = new Uint8Array(workerData);
      parentPort.postMessage('ready');
      for (;;) if (decodeJpegSync(bytes) === null) throw new Error('declined');
    });`;
  for (let round = 0; round < 30; round++) {
    const worker = new Worker(code, { eval: true, workerData: jpeg });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });
    await new Promise((r) => setTimeout(r, round % 5));
    await worker.terminate();
  }
});
