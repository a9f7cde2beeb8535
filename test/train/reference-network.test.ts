/**
 * The PyTorch reference (bench/train/small_images_reference.py --config) builds the network effnet builds from the
 * same configuration file: every parameter's shape, in order, at the widths the scaling study trains. Its runs are
 * how effnet's training results are checked (docs/scaling.md compares a study trial with it), so a network that
 * differs (it once did: torchvision's head is 4x the last stage's channels, effnet's 1280 x width rounded to 8,
 * the same at B0-B7's widths but 512 against 528 at width 0.4125) would compare two different models.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { trialCard } from '../../src/search/trial.js';
import { createModelFromCard } from '../../src/card/build.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const dir = mkdtempSync(join(tmpdir(), 'effnet-reference-network-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

/** The scaling study's base stages (bench/scaling/base-w025-d15-16px.json). */
const STAGES = ['r1_k3_s11_e1_i32_o16_se0.25', 'r2_k3_s11_e6_i16_o24_se0.25', 'r2_k5_s11_e6_i24_o40_se0.25',
  'r3_k3_s22_e6_i40_o80_se0.25', 'r3_k5_s11_e6_i80_o112_se0.25', 'r4_k5_s22_e6_i112_o192_se0.25',
  'r1_k3_s11_e6_i192_o320_se0.25'];
const CLASSES = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];

function referenceShapes(configPath: string): string[] {
  const script = [
    'import json, sys',
    `sys.path.insert(0, ${JSON.stringify(join(REPO, 'bench/train'))})`,
    'import small_images_reference as ref',
    'c = json.load(open(sys.argv[1]))',
    'blocks = ref.parse_block_strings(c["stages"])',
    'm = ref.build_model(c["width"], c["depth"], c["dropout"], 0.0, 10, [b[5] for b in blocks], blocks=blocks)',
    'print(json.dumps([list(p.shape) for p in m.parameters()]))',
  ].join('\n');
  const shapes = JSON.parse(execFileSync('/usr/bin/python3', ['-c', script, configPath], { encoding: 'utf8' })) as number[][];
  return shapes.map((s) => s.join('x'));
}

// The study's base and its width-scaled networks at x2 and x4 (the widths as the MAC matcher stored them), plus
// B0's own width, where both head rules agree.
for (const width of [0.25, 0.4124999999999832, 0.6071428571430285, 1]) {
  test(`the reference builds effnet's network from a configuration file (width ${width})`, () => {
    const config = { width, depth: 1.5, resolution: 16, dropout: 0.2, stages: STAGES };
    const path = join(dir, `w${width}.json`);
    writeFileSync(path, JSON.stringify(config));
    const ours = createModelFromCard(trialCard(config, CLASSES, 0, 'reference-network test')).namedParameters()
      .map(([, t]) => t.shape.join('x'));
    const theirs = referenceShapes(path);
    assert.equal(theirs.length, ours.length, 'as many parameter tensors');
    assert.deepEqual(theirs, ours);
  });
}
