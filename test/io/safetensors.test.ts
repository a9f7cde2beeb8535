import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { arange, liveTensorCount, tensor, tidy, type Tensor } from '../../src/torch/index.js';
import { decodeSafetensors, encodeSafetensors, loadSafetensors, saveSafetensors } from '../../src/io/safetensors.js';
import { elementSize, type HostTensor } from '../../src/io/host-tensor.js';
import { FIXTURES, WEIGHTS_SCRIPT, assertValues, loadExpected, pythonUnavailable, type ExpectedTensor } from './fixtures.js';

const expected = loadExpected().safetensors['reference.safetensors']!;
const reference = readFileSync(join(FIXTURES, 'reference.safetensors'));

function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'effnet-safetensors-'));
}

/** A safetensors image from a header object and data bytes, for building corrupt files. */
function image(header: unknown, data: Uint8Array, lengthField?: bigint): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const out = Buffer.alloc(8 + json.length + data.length);
  out.writeBigUInt64LE(lengthField ?? BigInt(json.length), 0);
  json.copy(out, 8);
  out.set(data, 8 + json.length);
  return out;
}

function assertHost(host: HostTensor | undefined, want: ExpectedTensor, name: string): void {
  assert.ok(host, `tensor '${name}' is present`);
  assert.equal(host.dtype, want.dtype, `${name} dtype`);
  assert.deepEqual(host.shape, want.shape, `${name} shape`);
  if (want.bits) {
    assert.deepEqual([...host.data as Uint16Array], want.bits.map((b) => b & 0xffff), `${name} bits`);
  } else {
    assertValues(host.data, want, name);
  }
}

test('decodes a Python-written file: every dtype, shape, value and the metadata', () => {
  const decoded = decodeSafetensors(reference, 'reference.safetensors');
  assert.deepEqual(decoded.metadata, expected.metadata);
  assert.deepEqual([...decoded.tensors.keys()].sort(), Object.keys(expected.tensors).sort());
  for (const [name, want] of Object.entries(expected.tensors)) assertHost(decoded.tensors.get(name), want, name);
});

test('loadSafetensors makes libtorch tensors; F16 and BF16 arrive as float32 with exact values', () => {
  const before = liveTensorCount();
  const { tensors, metadata } = loadSafetensors(join(FIXTURES, 'reference.safetensors'));
  try {
    assert.deepEqual(metadata, expected.metadata);
    for (const [name, want] of Object.entries(expected.tensors)) {
      const t = tensors.get(name)!;
      const wantDType = want.dtype === 'float16' || want.dtype === 'bfloat16' ? 'float32' : want.dtype;
      assert.equal(t.dtype, wantDType, `${name} dtype`);
      assert.deepEqual(t.shape, want.shape, `${name} shape`);
      assertValues(t.data(), want, name);
    }
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
  assert.equal(liveTensorCount(), before);
});

test('ours -> ours: encode then decode returns the same tensors, aligned, header padded to 8 bytes', () => {
  const original = decodeSafetensors(reference).tensors;
  const bytes = encodeSafetensors(original, { epoch: '3' });
  const headerLength = Number(bytes.readBigUInt64LE(0));
  assert.equal(headerLength % 8, 0);
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    assert.equal((8 + headerLength + entry.data_offsets[0]) % elementSize(original.get(name)!.dtype), 0, `${name} is aligned`);
  }
  const back = decodeSafetensors(bytes);
  assert.deepEqual(back.metadata, { epoch: '3' });
  assert.equal(back.tensors.size, original.size);
  for (const [name, host] of original) assert.deepEqual(back.tensors.get(name), host, name);
});

test('saveSafetensors/loadSafetensors round trip libtorch tensors, including half, bool and non-contiguous ones', () => {
  const dir = scratch();
  try {
    const path = join(dir, 'weights.safetensors');
    tidy(() => {
      const base = arange(0, 6, 1, { dtype: 'float32' }).reshape([2, 3]).mul(0.25);
      const saved = new Map<string, Tensor>([
        ['w', base.permute([1, 0])],
        ['half', tensor([0.5, -2, 1024, 0.0001]).to('float16')],
        ['bf', tensor([0.5, -2, 3e30, 0.1]).to('bfloat16')],
        ['steps', tensor(new BigInt64Array([7n, -(2n ** 62n)]))],
        ['mask', tensor([1, 0, 1], [3], { dtype: 'bool' })],
        ['bytes', tensor(new Uint8Array([0, 255]))],
        ['i16', tensor(new Int16Array([-3, 300]))],
      ]);
      saveSafetensors(path, saved, { source: 'test' });
      const { tensors, metadata } = loadSafetensors(path);
      try {
        assert.deepEqual(metadata, { source: 'test' });
        assert.deepEqual(tensors.get('w')!.shape, [3, 2]);
        assert.deepEqual(tensors.get('w')!.toArray(), [0, 0.75, 0.25, 1, 0.5, 1.25]);
        for (const name of ['half', 'bf']) {
          assert.equal(tensors.get(name)!.dtype, 'float32');
          assert.deepEqual(tensors.get(name)!.toArray(), [...saved.get(name)!.toFloat32Array()]);
        }
        assert.deepEqual([...tensors.get('steps')!.data() as BigInt64Array], [7n, -(2n ** 62n)]);
        assert.equal(tensors.get('mask')!.dtype, 'bool');
        assert.deepEqual(tensors.get('mask')!.toArray(), [1, 0, 1]);
        assert.equal(tensors.get('bytes')!.dtype, 'uint8');
        assert.equal(tensors.get('i16')!.dtype, 'int16');
        assert.deepEqual(tensors.get('i16')!.toArray(), [-3, 300]);
      } finally {
        for (const t of tensors.values()) t.dispose();
      }
    });
    assert.deepEqual(readdirSync(dir), ['weights.safetensors'], 'no temporary file is left behind');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ours -> Python: a file we wrote reads back with the fixture script\'s independent reader', (t) => {
  const reason = pythonUnavailable();
  if (reason !== null) {
    t.skip(`skipped: ${reason}`);
    return;
  }
  const dir = scratch();
  try {
    const path = join(dir, 'ours.safetensors');
    const original = decodeSafetensors(reference).tensors;
    writeFileSync(path, encodeSafetensors(original, { made: 'by effnet' }));
    const run = spawnSync('/usr/bin/python3', [WEIGHTS_SCRIPT, 'verify-safetensors', path], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(run.status, 0, `python reader failed: ${run.stderr}`);
    const python = JSON.parse(run.stdout) as { metadata: Record<string, string>; tensors: Record<string, ExpectedTensor> };
    assert.deepEqual(python.metadata, { made: 'by effnet' });
    assert.deepEqual(Object.keys(python.tensors).sort(), Object.keys(expected.tensors).sort());
    for (const [name, want] of Object.entries(expected.tensors)) {
      assert.equal(python.tensors[name]!.dtype, want.dtype, name);
      assert.deepEqual(python.tensors[name]!.shape, want.shape, name);
      assert.deepEqual(python.tensors[name]!.values, want.values, name);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const four = new Uint8Array(16);

const corruptions: [string, Buffer, RegExp][] = [
  ['shorter than the length field', Buffer.from([1, 2, 3]), /shorter than the 8-byte header length/],
  ['header length beyond the file', image({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4), 1000n), /header length field says 1000 bytes but only \d+ bytes follow/],
  ['header that is not JSON', Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{abc')]), /not valid JSON/],
  ['unknown dtype', image({ a: { dtype: 'F8_E4M3', shape: [4], data_offsets: [0, 4] } }, new Uint8Array(4)), /tensor 'a': unsupported dtype 'F8_E4M3'/],
  ['shape/byte-count mismatch', image({ a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 16] } }, four), /shape \[2, 3\] of F32 needs 24 bytes but data_offsets \[0, 16\] hold 16/],
  ['overlapping offsets', image({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, four), /tensor 'b': data_offsets \[8, 16\] overlap tensor 'a'/],
  ['offsets out of range', image({ a: { dtype: 'F32', shape: [8], data_offsets: [0, 32] } }, four), /reach past the 16-byte data section/],
  ['a gap between tensors', image({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, four), /the data section has a gap/],
  ['trailing bytes', image({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, four), /cover 8 bytes of data but 16 bytes follow/],
  ['negative shape', image({ a: { dtype: 'F32', shape: [-4], data_offsets: [0, 16] } }, four), /"shape" must be an array of non-negative integers/],
  ['non-string metadata', image({ __metadata__: { epoch: 3 } }, new Uint8Array(0)), /metadata values must be strings/],
  ['bad data_offsets', image({ a: { dtype: 'F32', shape: [4], data_offsets: [0] } }, four), /"data_offsets" must be \[begin, end\]/],
];

for (const [what, bytes, message] of corruptions) {
  test(`rejects a corrupt file: ${what}`, () => {
    assert.throws(() => decodeSafetensors(bytes, 'bad.safetensors'), (error: Error) => {
      assert.match(error.message, /^safetensors file bad\.safetensors: /);
      assert.match(error.message, message);
      return true;
    });
  });
}

test('a truncated file on disk throws naming the file and allocates no tensor', () => {
  const dir = scratch();
  try {
    const path = join(dir, 'cut.safetensors');
    writeFileSync(path, reference.subarray(0, reference.length - 10));
    const before = liveTensorCount();
    assert.throws(() => loadSafetensors(path), (error: Error) => error.message.includes(path) && /truncated or corrupt|cover/.test(error.message));
    assert.equal(liveTensorCount(), before);
    assert.throws(() => loadSafetensors(join(dir, 'missing.safetensors')), /could not read safetensors file .*missing\.safetensors/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('encodeSafetensors refuses bad input with clear messages', () => {
  assert.throws(() => encodeSafetensors(new Map([['a', { dtype: 'float32', shape: [3], data: new Float32Array(2) }]])), /shape \[3\] \(3 elements\) but 2 data elements/);
  assert.throws(() => encodeSafetensors(new Map([['a', { dtype: 'float16', shape: [2], data: new Float32Array(2) }]])), /float16 and must hold a Uint16Array, got Float32Array/);
  assert.throws(() => encodeSafetensors(new Map(), { n: 3 as unknown as string }), /metadata 'n' is a number/);
  assert.throws(() => encodeSafetensors(new Map([['__metadata__', { dtype: 'uint8', shape: [0], data: new Uint8Array(0) }]])), /reserved/);
});

test('a failed save leaves the previous file intact and no temporary file', () => {
  const dir = scratch();
  try {
    const path = join(dir, 'keep.safetensors');
    writeFileSync(path, reference);
    tidy(() => {
      const bad = new Map<string, Tensor>([['x', tensor([1, 2])]]);
      assert.throws(() => saveSafetensors(path, bad, { n: 1 as unknown as string }), /saveSafetensors\(.*keep\.safetensors\): .*metadata 'n'/);
      assert.throws(() => saveSafetensors(join(dir, 'no-such-dir', 'x.safetensors'), bad), /could not write .*no-such-dir/);
    });
    assert.deepEqual(readFileSync(path), reference);
    assert.deepEqual(readdirSync(dir), ['keep.safetensors']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
