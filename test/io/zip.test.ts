import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ZipArchive, looksLikeZip } from '../../src/io/zip.js';
import { FIXTURES } from './fixtures.js';

const stored = readFileSync(join(FIXTURES, 'state_dict.pth'));

function contents(zip: ZipArchive): Map<string, Buffer> {
  return new Map(zip.names().map((name) => [name.replace(/^[^/]+\//, ''), Buffer.from(zip.read(name))]));
}

test('reads the stored entries torch.save wrote (sizes only in the central directory)', () => {
  const zip = new ZipArchive(stored, 'state_dict.pth');
  assert.ok(looksLikeZip(stored));
  assert.ok(zip.has('state_dict/data.pkl'));
  assert.ok(zip.has('state_dict/version'));
  for (const entry of zip.entries.values()) assert.equal(entry.method, 0, `${entry.name} is stored`);
  const pickle = zip.read('state_dict/data.pkl');
  assert.deepEqual([...pickle.subarray(0, 2)], [0x80, 0x02]);
  assert.equal(pickle[pickle.length - 1], 0x2e, 'the pickle ends with STOP');
  assert.equal(Buffer.from(zip.read('state_dict/version')).toString(), '3\n');
});

test('deflated and zip64 archives of the same files give the same bytes', () => {
  const reference = contents(new ZipArchive(stored));
  for (const name of ['state_dict_deflated.pth', 'state_dict_zip64.pth']) {
    const zip = new ZipArchive(readFileSync(join(FIXTURES, name)), name);
    if (name.includes('deflated')) assert.ok([...zip.entries.values()].some((e) => e.method === 8), 'some entries are deflated');
    assert.deepEqual(contents(zip), reference, name);
  }
});

test('a non-zip file and a truncated zip give clear errors', () => {
  const text = readFileSync(join(FIXTURES, 'not_a_zip.pth'));
  assert.ok(!looksLikeZip(text));
  assert.throws(() => new ZipArchive(text, 'not_a_zip.pth'), /zip file not_a_zip\.pth: is not a zip archive/);
  assert.throws(() => new ZipArchive(readFileSync(join(FIXTURES, 'truncated.pth')), 'cut.pth'), /zip file cut\.pth: has no end-of-central-directory record; the file is truncated/);
  assert.throws(() => new ZipArchive(new Uint8Array(10), 'tiny'), /too short for a zip archive/);
});

test('a corrupted entry fails its CRC check; a missing entry is named', () => {
  const copy = Buffer.from(stored);
  const zip = new ZipArchive(copy, 'flipped.pth');
  const entry = zip.entries.get('state_dict/data/0')!;
  const nameLength = copy.readUInt16LE(entry.localHeaderOffset + 26);
  const extraLength = copy.readUInt16LE(entry.localHeaderOffset + 28);
  copy[entry.localHeaderOffset + 30 + nameLength + extraLength] ^= 0xff;
  assert.throws(() => zip.read('state_dict/data/0'), /entry 'state_dict\/data\/0' has CRC-32 0x[0-9a-f]{8} but the directory says/);
  assert.throws(() => zip.read('state_dict/nope'), /no entry 'state_dict\/nope'; it holds state_dict\/data\.pkl/);
});

test('a central directory pointing past the end of the file is reported as truncated/corrupt', () => {
  const copy = Buffer.from(stored);
  const eocd = copy.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  copy.writeUInt32LE(copy.length, eocd + 16);
  assert.throws(() => new ZipArchive(copy, 'moved.pth'), /central directory .* reaches past the end of the \d+-byte file/);
});
