/**
 * Items 9 and 10 of the hostile-input issue: flags that started 1000 threads or workers, `--out /proc/x` that
 * busy-looped forever; a missing-key error that printed 12.6 MB; corrupt files that exited 1 or 2 depending on
 * the reader (now 2: a bad input file is the user's to fix); class names from a card that rewrote the terminal.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forgeOnnxCard, rawSafetensors, tarArchive, writeTinyFiles, zipArchive, type TinyFiles } from './craft.js';
import { assertUserError, harnessSkip, runEffnet } from './harness.js';

const skip = harnessSkip;
const DATA = 'synthetic:train=16,val=8,classes=4,size=32';
let dir = '';
let tiny: TinyFiles;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'effnet-hostile-flags-'));
  tiny = await writeTinyFiles(join(dir, 'honest'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('--threads, --workers, --nproc-per-node far beyond the cores: refused naming the core count', { skip }, async () => {
  const cores = availableParallelism();
  const message = new RegExp(`asks for more than 4x this machine's ${cores} cores; use at most ${cores}`);
  const out = join(dir, 'never');
  for (const args of [
    ['train', '--data', DATA, '--out', out, '--threads', '1000'],
    ['train', '--data', DATA, '--out', out, '--workers', '1000'],
    ['train', '--data', DATA, '--out', out, '--nproc-per-node', '1000'],
    ['eval', '--checkpoint', tiny.model, '--data', DATA, '--threads', '1000'],
    ['predict', tiny.onnx, tiny.image, '--threads', '1000'],
    ['search-worker', '--db', join(dir, 'none.sqlite'), '--threads', '1000'],
    ['demo', '--threads', '1000'],
    ['scale-search', '--base', 'b0', '--data', DATA, '--budget', '1steps', '--db', join(dir, 'grid.sqlite'), '--threads', '1000'],
    ['scale-search', '--base', 'b0', '--data', DATA, '--budget', '1steps', '--db', join(dir, 'grid.sqlite'), '--parallel', '1000'],
    ['nas', '--data', DATA, '--budget', '1steps', '--db', join(dir, 'nas.sqlite'), '--loader-workers', '1000'],
  ]) {
    assertUserError(await runEffnet(args), { message, maxStderrBytes: 8192 });
  }
});

test('--out /proc/x (and a file as the run directory): one clear error, at once', { skip }, async () => {
  const file = join(dir, 'a-file');
  writeFileSync(file, 'x');
  for (const [out, message] of [['/proc/x', /cannot create the directory \/proc\/x \(ENOENT\)/], [join(file, 'run'), /is a file, not a directory/]] as const) {
    assertUserError(await runEffnet(['train', '--data', DATA, '--out', out, '--epochs', '1']), { message, maxSeconds: 10 });
  }
});

test('a checkpoint of 5,000 foreign keys: the error names a dozen and counts the rest', { skip }, async () => {
  const entries: string[] = [];
  for (let i = 0; i < 5000; i++) entries.push(`"${'very.long.foreign.module.name.'.repeat(5)}${i}.weight":{"dtype":"F32","shape":[1],"data_offsets":[${i * 4},${i * 4 + 4}]}`);
  const file = join(dir, 'foreign.safetensors');
  writeFileSync(file, rawSafetensors(`{${entries.join(',')}}`, new Uint8Array(5000 * 4)));
  const result = await runEffnet(['import', '--from', 'timm', file, '--variant', 'b0', '--out', join(dir, 'imported.safetensors')], { timeoutS: 60 });
  assertUserError(result, { message: /\d+ missing keys: .*\.\.\. and \d+ more.*5000 unexpected keys: .*\.\.\. and 4988 more/, maxStderrBytes: 8192, maxSeconds: 60 });
});

test('corrupt or foreign files exit 2 whatever reader meets them', { skip }, async () => {
  const truncated = join(dir, 'truncated.safetensors');
  writeFileSync(truncated, readFileSync(tiny.model).subarray(0, 5000));
  const notOnnx = join(dir, 'not.onnx');
  writeFileSync(notOnnx, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]));
  const badZip = join(dir, 'bad.pth');
  writeFileSync(badZip, zipArchive([{ name: 'archive/data.pkl', data: Buffer.from([0x80, 2, 0x63]) }]));
  const badTar = join(dir, 'bad.tar');
  const tar = tarArchive([{ name: 'red/a.png', data: Buffer.alloc(10) }]);
  tar[148] = 0x37; // checksum field
  writeFileSync(badTar, tar);
  const gz = join(dir, 'bad.tar.gz');
  writeFileSync(gz, Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]));
  const badConfig = join(dir, 'config.json');
  writeFileSync(badConfig, '{"width": ');
  const cases: [string[], RegExp][] = [
    [['predict', truncated, tiny.image], /safetensors file .*truncated\.safetensors/],
    [['export', '--checkpoint', truncated, '--out', join(dir, 'x.onnx')], /safetensors file .*truncated\.safetensors/],
    [['eval', '--checkpoint', truncated, '--data', DATA], /safetensors file .*truncated\.safetensors/],
    [['predict', notOnnx, tiny.image], /not a readable ONNX model/],
    [['import', '--from', 'torchvision', badZip, '--variant', 'b0', '--out', join(dir, 'y.safetensors')], /bad\.pth/],
    [['train', '--data', badTar, '--out', join(dir, 'run-tar'), '--epochs', '1'], /checksum mismatch/],
    [['train', '--data', gz, '--out', join(dir, 'run-gz'), '--epochs', '1'], /gzip data is corrupt or truncated/],
    [['train', '--config', badConfig, '--data', DATA, '--out', join(dir, 'run-config'), '--epochs', '1'], /is not valid JSON/],
  ];
  for (const [args, message] of cases) assertUserError(await runEffnet(args), { message });
});

test('class names with control and bidi characters are escaped in the table (JSON keeps them, escaped by JSON)', { skip }, async () => {
  const names = ['\u001b[2Jant', '\u202egod', 'cat\u0007', 'dog'];
  const forged = join(dir, 'names.onnx');
  forgeOnnxCard(readFileSync(tiny.onnx), forged, (card) => (card.classes.names = names));
  const table = await runEffnet(['predict', forged, tiny.image, '--top', '4']);
  assert.equal(table.code, 0, table.stderr);
  assert.doesNotMatch(table.stdout, /[\u0000-\u0009\u000b-\u001f\u007f\u202e]/, 'a raw control or bidi character reached the terminal');
  assert.match(table.stdout, /\\u\{001B\}\[2Jant/);
  assert.match(table.stdout, /\\u\{202E\}god/);
  const json = await runEffnet(['predict', forged, tiny.image, '--top', '4', '--json']);
  const line = JSON.parse(json.stdout) as { top: { label: string }[] };
  assert.deepEqual(line.top.map((p) => p.label).sort(), [...names].sort());
});
