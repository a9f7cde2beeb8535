/**
 * Items 2 and 6 of the hostile-input issue: forged or careless model cards. A card in a model file (safetensors
 * metadata), in an ONNX file (metadata_props) or a `--config` file that describes a huge network (width 50,
 * `r1000000` repeats, a million classes) is refused before any model is built; a card that does not describe the
 * file's weights or graph (10 classes on a 4-output model) is refused at load; eval fields that would allocate
 * gigabytes or make NaN scores (cropPct 0.001, size 100000, std 1e-300) are refused. Each is the user's command
 * on files on disk: exit 2, a message naming the problem, bounded memory and time.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forgeOnnxCard, forgeSafetensorsCard, writeTinyFiles, type CardJson, type TinyFiles } from './craft.js';
import { assertBounded, assertUserError, harnessSkip, runEffnet } from './harness.js';

const skip = harnessSkip;
let dir = '';
let tiny: TinyFiles;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'effnet-hostile-cards-'));
  tiny = await writeTinyFiles(join(dir, 'honest'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Card edits that describe a network too big to build. */
const HUGE: Record<string, { edit: (card: CardJson) => void; message: RegExp }> = {
  'width 50': { edit: (c) => (c.architecture.width = 50), message: /width multiplier of 50, over effnet's limit of 16.*EFFNET_LIMIT_SCALE_MULTIPLIER/ },
  'r1000000 repeats': { edit: (c) => (c.architecture.stages[0] = c.architecture.stages[0]!.replace(/^r\d+/, 'r1000000')), message: /network of 100,006 blocks \(after depth scaling\), over effnet's limit of 512.*EFFNET_LIMIT_MODEL_BLOCKS/ },
  '10^6 classes': { edit: (c) => ((c.classes.count = 1_000_000), (c.classes.names = null)), message: /class count of 1,000,000, over effnet's limit of 100,000.*EFFNET_LIMIT_CLASSES/ },
  'width 15.9 (within the multiplier bound, over the parameter bound)': {
    edit: (c) => ((c.architecture.width = 15.9), (c.architecture.depth = 15.9)),
    message: /network of [\d,]+ parameters, over effnet's limit of 1,000,000,000/,
  },
};

test('a model file (safetensors) whose card describes a huge network: refused before anything is built', { skip }, async () => {
  const honest = readFileSync(tiny.model);
  for (const [name, { edit, message }] of Object.entries(HUGE)) {
    const forged = join(dir, `huge-${name.replace(/\W+/g, '-')}.safetensors`);
    forgeSafetensorsCard(honest, forged, edit);
    for (const args of [['predict', forged, tiny.image], ['export', '--checkpoint', forged, '--out', join(dir, 'x.onnx')]]) {
      assertUserError(await runEffnet(args), { message, maxSeconds: 20 });
    }
  }
});

test('an ONNX file whose card describes a huge network: refused', { skip }, async () => {
  const honest = readFileSync(tiny.onnx);
  for (const [name, { edit, message }] of Object.entries(HUGE)) {
    const forged = join(dir, `huge-${name.replace(/\W+/g, '-')}.onnx`);
    forgeOnnxCard(honest, forged, edit);
    assertUserError(await runEffnet(['predict', forged, tiny.image]), { message, maxSeconds: 20 });
  }
});

test('a --config file describing a huge network: refused before training starts', { skip }, async () => {
  const cases: [object, RegExp][] = [
    [{ width: 50, depth: 1, resolution: 32, dropout: 0.2 }, /width multiplier of 50/],
    [{ width: 1, depth: 1, resolution: 32, dropout: 0.2, stages: ['r1000000_k3_s11_e1_i32_o16_se0.25'] }, /network of 1,000,000 blocks .*over effnet's limit of 512/],
    [{ width: 1, depth: 1, resolution: 100000, dropout: 0.2 }, /resolution of 100,000 pixels, over effnet's limit of 2,048/],
  ];
  for (const [i, [config, message]] of cases.entries()) {
    const file = join(dir, `config-${i}.json`);
    writeFileSync(file, JSON.stringify(config));
    for (const args of [
      ['train', '--config', file, '--data', 'fashion-mnist', '--epochs', '1', '--out', join(dir, `run-${i}`)],
      ['scale', '--base', file, '--phi', '1'],
    ]) {
      assertUserError(await runEffnet(args), { message, maxSeconds: 20 });
    }
  }
});

test('a card that does not describe the weights in its file: refused before the model is built', { skip }, async () => {
  const honest = readFileSync(tiny.model);
  const cases: [(card: CardJson) => void, RegExp][] = [
    [(c) => ((c.classes.count = 10), (c.classes.names = null)), /classifier is \[4, \d+\] but the card says 10 classes/],
    [(c) => (c.architecture.width = 0.5), /card does not describe the weights/],
    [(c) => (c.architecture.stages[1] = c.architecture.stages[1]!.replace(/_k3_/, '_k5_')), /holds [\d,]+ parameters but the card's network has/],
  ];
  for (const [i, [edit, message]] of cases.entries()) {
    const forged = join(dir, `mismatch-${i}.safetensors`);
    forgeSafetensorsCard(honest, forged, edit);
    assertUserError(await runEffnet(['predict', forged, tiny.image]), { message });
  }
});

test('an ONNX file whose card disagrees with its graph or whose eval fields are absurd: refused, no scores printed', { skip }, async () => {
  const honest = readFileSync(tiny.onnx);
  const cases: [string, (card: CardJson) => void, RegExp][] = [
    ['10 classes on a 4-output graph', (c) => ((c.classes.count = 10), (c.classes.names = null)), /graph's output is \[N, 4\] but the card says \[N, 10\]/],
    ['eval size 64 on a 32 px graph', (c) => (c.eval.size = 64), /graph's input is \[N, 3, 32, 32\] but the card says \[N, 3, 64, 64\]/],
    ['cropPct 0.001', (c) => (c.eval.cropPct = 0.001), /eval resize to 32,000 pixels \(eval size 32 \/ cropPct 0.001\), over effnet's limit of 2,048/],
    ['size 100000', (c) => (c.eval.size = 100000), /eval size of 100,000 pixels, over/],
    ['std 1e-300', (c) => (c.eval.std = [1e-300, 1e-300, 1e-300]), /eval\.std' must be a list of 3 numbers \(R, G, B\) in \[0\.001, 1000\]/],
    ['mean 1e300', (c) => (c.eval.mean = [1e300, 0, 0]), /eval\.mean' must be/],
  ];
  for (const [name, edit, message] of cases) {
    const forged = join(dir, `onnx-${name.replace(/\W+/g, '-')}.onnx`);
    forgeOnnxCard(honest, forged, edit);
    const result = await runEffnet(['predict', forged, tiny.image, tiny.image, '--json']);
    assertUserError(result, { message, maxSeconds: 20 });
    assert.equal(result.stdout, '', `${name}: scores were printed`);
  }
  // The control: the honest file classifies both images, bounded.
  const control = await runEffnet(['predict', tiny.onnx, tiny.image, tiny.image, '--json']);
  assert.equal(control.code, 0, control.stderr);
  assert.equal(control.stdout.trim().split('\n').length, 2);
  assertBounded(control);
});
