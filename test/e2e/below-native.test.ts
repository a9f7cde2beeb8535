/**
 * A network smaller than its data (issue 24's proxy: a 16 px network on 32 px images), through files on disk as a
 * user goes: `effnet train --image-size 16` on a folder of 32x32 PNGs; then the same images down-sampled by PIL
 * (Image.resize to 16x16, bicubic, which antialiases when it shrinks: what the card's eval transform says) written
 * as 16x16 PNGs. `effnet predict` on the 32 px files must give the probabilities it gives on PIL's 16 px files, and
 * `effnet eval` of the run on the 32 px folder the top-1 and loss it gives on PIL's folder: the model's own
 * down-sampling is PIL's. The network really is at 16 px (total stride 8, 2x2 last map).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { runCli } from '../train/cli-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'effnet-below-native-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const CLASSES = ['a', 'b', 'c'];
const PER_CLASS = 10;

/** 32x32 PNGs with class-dependent stripes and per-pixel noise (detail a 16 px resize must average away). */
async function writeFolder(root: string): Promise<string[]> {
  let state = 99;
  const noise = (): number => {
    state = (state * 1103515245 + 12345) >>> 0;
    return (state >>> 16) % 96;
  };
  const files: string[] = [];
  for (const [c, name] of CLASSES.entries()) {
    mkdirSync(join(root, name), { recursive: true });
    for (let i = 0; i < PER_CLASS; i++) {
      const pixels = Buffer.alloc(32 * 32 * 3);
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          const stripe = (c === 0 ? x : c === 1 ? y : x + y) % 4 < 2 ? 120 : 0;
          for (let ch = 0; ch < 3; ch++) pixels[(y * 32 + x) * 3 + ch] = Math.min(255, 40 + stripe + noise() + (ch === c ? 40 : 0));
        }
      }
      const path = join(root, name, `${String(i).padStart(2, '0')}.png`);
      await sharp(pixels, { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(path);
      files.push(path);
    }
  }
  return files;
}

function probabilities(stdout: string): number[][] {
  return stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { top: { index: number; probability: number }[] })
    .map((r) => [...r.top].sort((a, b) => a.index - b.index).map((t) => t.probability));
}

test('a 16 px network on 32 px files: predict and eval down-sample as PIL does (bicubic with antialias)', { timeout: 300_000 }, async () => {
  const native = join(dir, 'native');
  const files = await writeFolder(native);
  const run = join(dir, 'run');
  const trained = await runCli(['train', '--model', 'custom', '--width', '0.25', '--depth', '0.25', '--image-size', '16', '--data', `folder:${native},val=9`, '--epochs', '2', '--batch-size', '7', '--threads', '1', '--workers', '0', '--out', run]);
  assert.equal(trained.code, 0, trained.stderr);
  assert.match(trained.stdout, /total stride 8\) at 16px/);

  // PIL's down-sampling of the same files, written as PNGs of the same names.
  const small = join(dir, 'pil16');
  const script = [
    'import sys, os',
    'from PIL import Image',
    'src, dst = sys.argv[1], sys.argv[2]',
    'for c in sorted(os.listdir(src)):',
    '    os.makedirs(os.path.join(dst, c), exist_ok=True)',
    '    for f in sorted(os.listdir(os.path.join(src, c))):',
    '        Image.open(os.path.join(src, c, f)).convert("RGB").resize((16, 16), Image.BICUBIC).save(os.path.join(dst, c, f))',
  ].join('\n');
  const pil = spawnSync('/usr/bin/python3', ['-c', script, native, small], { encoding: 'utf8' });
  assert.equal(pil.status, 0, pil.stderr);
  const smallFiles = files.map((f) => f.replace(native, small));

  const onNative = await runCli(['predict', run, ...files, '--json', '--top', '3', '--threads', '1']);
  const onPil = await runCli(['predict', run, ...smallFiles, '--json', '--top', '3', '--threads', '1']);
  assert.equal(onNative.code, 0, onNative.stderr);
  assert.equal(onPil.code, 0, onPil.stderr);
  const [a, b] = [probabilities(onNative.stdout), probabilities(onPil.stdout)];
  assert.equal(a.length, files.length);
  let max = 0;
  a.forEach((row, i) => row.forEach((p, k) => (max = Math.max(max, Math.abs(p - b[i]![k]!)))));
  assert.ok(max < 1e-6, `predict on 32 px files vs PIL's 16 px files: max |probability difference| ${max}`);
  // The images get different probabilities, so equal rows are not a constant model's.
  const spread = Math.max(...a.flat()) - Math.min(...a.flat());
  assert.ok(spread > 1e-3, 'the model distinguishes the images (the comparison can fail)');

  const evaluate = async (data: string): Promise<{ top1: number; loss: number; images: number }> => {
    const result = await runCli(['eval', '--checkpoint', run, '--data', data, '--json', '--threads', '1', '--workers', '0']);
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout.trim().split('\n').pop()!);
  };
  const [e32, e16] = [await evaluate(`folder:${native},val=9`), await evaluate(`folder:${small},val=9`)];
  assert.equal(e32.images, 9);
  assert.equal(e32.top1, e16.top1);
  assert.ok(Math.abs(e32.loss - e16.loss) < 1e-6, `eval loss ${e32.loss} vs ${e16.loss}`);
});
