/**
 * Item 3 of the hostile-input issue (and the deep pickle of item 10): decompression and view bombs in weight
 * files, as a user meets them: `effnet import` of a .pth, `effnet predict` of a model file. A 1 KB torch.save file
 * whose tensor is a stride-0 view of one element (3.6 GB once expanded), a zip member that inflates to 1 GiB while
 * its directory says 100 bytes, a safetensors header of 97 MB or of 150,000 empty tensors, and a pickle nested
 * 200,000 deep: each is refused with exit 2, in bounded memory and time.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflatedZeros, nestedListPickle, rawSafetensors, torchSavePickle, zipArchive, writeTinyFiles, type TinyFiles } from './craft.js';
import { assertUserError, harnessSkip, runEffnet } from './harness.js';

const skip = harnessSkip;
let dir = '';
let tiny: TinyFiles;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'effnet-hostile-weights-'));
  tiny = await writeTinyFiles(join(dir, 'honest'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function importArgs(file: string): string[] {
  return ['import', '--from', 'torchvision', file, '--variant', 'b0', '--out', join(dir, 'imported.safetensors')];
}

test('a .pth whose tensor is a stride-0 view of a 1-element storage (3.6 GB expanded): refused', { skip }, async () => {
  const file = join(dir, 'view-bomb.pth');
  const pickle = torchSavePickle([{ name: 'classifier.1.weight', key: '0', numel: 1, size: [30000, 30000], stride: [0, 0] }]);
  writeFileSync(file, zipArchive([
    { name: 'archive/data.pkl', data: pickle },
    { name: 'archive/data/0', data: new Uint8Array(4) },
    { name: 'archive/version', data: Buffer.from('3\n') },
  ]));
  assert.ok(statSync(file).size < 2048);
  assertUserError(await runEffnet(importArgs(file)), { message: /view bomb/ });
});

test('a .pth zip member that inflates to 1 GiB while its directory declares 100 bytes: refused at 100', { skip }, async () => {
  const file = join(dir, 'zip-bomb.pth');
  const pickle = torchSavePickle([{ name: 'classifier.1.weight', key: '0', numel: 25, size: [25], stride: [1] }]);
  const bomb = await deflatedZeros(2 ** 30);
  writeFileSync(file, zipArchive([
    { name: 'archive/data.pkl', data: pickle },
    { name: 'archive/data/0', data: new Uint8Array(100), declaredSize: 100, compressed: { bytes: bomb, crc: 0 } },
    { name: 'archive/version', data: Buffer.from('3\n') },
  ]));
  assertUserError(await runEffnet(importArgs(file)), { message: /inflates to more than the 100 bytes its directory entry declares/ });
});

test('a safetensors file with a 97 MB header, or a header of 150,000 empty tensors: refused quickly', { skip }, async () => {
  const huge = join(dir, 'huge-header.safetensors');
  let text = '{';
  for (let i = 0; text.length < 97e6; i++) text += `"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},`;
  writeFileSync(huge, rawSafetensors(text.slice(0, -1) + '}'));
  assertUserError(await runEffnet(['predict', huge, tiny.image]), { message: /header length field says 9\d,\d*|header length field says 9\d+ bytes, over the limit/, maxSeconds: 10 });

  const many = join(dir, 'many-tensors.safetensors');
  const entries: string[] = [];
  for (let i = 0; i < 150_000; i++) entries.push(`"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`);
  writeFileSync(many, rawSafetensors(`{${entries.join(',')}}`));
  for (const args of [['predict', many, tiny.image], importArgs(many)]) {
    assertUserError(await runEffnet(args), { message: /lists 150,000 tensors, over effnet's limit of 100,000/, maxSeconds: 15 });
  }
});

test('a .pth whose pickle nests 200,000 containers: a clear error, not a stack overflow', { skip }, async () => {
  const file = join(dir, 'deep.pth');
  writeFileSync(file, zipArchive([{ name: 'archive/data.pkl', data: nestedListPickle(200_000) }, { name: 'archive/version', data: Buffer.from('3\n') }]));
  assertUserError(await runEffnet(importArgs(file)), { message: /torch checkpoint .*deep\.pth: the saved object is list of 1 items, not a state dict/ });
  // Nested tuples (MARK ... TUPLE) are what overflowed the stack while describing the object.
  const tuples = Buffer.concat([Buffer.from([0x80, 2]), Buffer.alloc(200_000, 0x28), Buffer.alloc(200_000, 0x74), Buffer.from([0x2e])]);
  const tupleFile = join(dir, 'deep-tuples.pth');
  writeFileSync(tupleFile, zipArchive([{ name: 'archive/data.pkl', data: tuples }, { name: 'archive/version', data: Buffer.from('3\n') }]));
  assertUserError(await runEffnet(importArgs(tupleFile)), { message: /nested more than 1000 deep/ });
});
