import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ALLOWED_GLOBALS, PickleDict, PickleTuple, TorchTensorRef, unpickle, type PickleValue } from '../../src/io/pickle.js';
import { ZipArchive } from '../../src/io/zip.js';
import { FIXTURES, loadExpected } from './fixtures.js';

/** The value plain_object() in scripts/fixtures/weights.py pickles, spelled in our JS mapping. */
function plainExpected(): Map<PickleValue, unknown> {
  return new Map<PickleValue, unknown>([
    ['ints', [0, 1, 255, 256, 65535, 65536, -1, -(2 ** 31), 2 ** 31 - 1, 2 ** 31, 2n ** 53n + 1n, -(2n ** 70n), 2n ** 63n - 1n]],
    ['floats', [0.5, -1e300, 3.141592653589793]],
    ['text', 'h\u00e9llo \u2713'],
    ['flags', [true, false, null]],
    ['pair', [1, 2]],
    ['triple', [1, 2, 3]],
    ['quad', [1, 2, 3, 4]],
    ['empty', []],
    ['nested', new Map<PickleValue, unknown>([['a', []], [7, 'seven']])],
    ['shared', [[1], [1]]],
  ]);
}

/** PickleValue -> plain JS for deep comparison (tuples become arrays, dicts Maps). */
function plain(value: PickleValue): unknown {
  if (value instanceof PickleTuple) return value.items.map(plain);
  if (value instanceof PickleDict) return new Map([...value].map(([k, v]) => [k, plain(v)]));
  if (Array.isArray(value)) return value.map(plain);
  return value;
}

for (const protocol of [2, 4]) {
  test(`reads what Python's pickler writes (protocol ${protocol}): ints, longs, floats, text, tuples, lists, dicts, memo`, () => {
    const value = unpickle(readFileSync(join(FIXTURES, `plain_p${protocol}.pkl`)), { source: `plain_p${protocol}.pkl` });
    assert.ok(value instanceof PickleDict);
    assert.deepEqual(plain(value), plainExpected());
    assert.ok(value.get('pair') instanceof PickleTuple, 'tuples stay tuples');
    const shared = value.get('shared') as PickleValue[];
    assert.equal(shared[0], shared[1], 'a memoized object is the same object when fetched again');
  });
}

test('the allow-list is exactly the state-dict globals', () => {
  assert.deepEqual([...ALLOWED_GLOBALS].sort(), [
    'collections.OrderedDict',
    'torch.BFloat16Storage', 'torch.BoolStorage', 'torch.ByteStorage', 'torch.CharStorage', 'torch.DoubleStorage',
    'torch.FloatStorage', 'torch.HalfStorage', 'torch.IntStorage', 'torch.LongStorage', 'torch.ShortStorage',
    'torch._utils._rebuild_parameter', 'torch._utils._rebuild_tensor_v2',
  ]);
});

test('a torch state dict unpickles to an OrderedDict of tensor refs with _metadata attributes', () => {
  const zip = new ZipArchive(readFileSync(join(FIXTURES, 'state_dict.pth')));
  const root = unpickle(zip.read('state_dict/data.pkl'));
  assert.ok(root instanceof PickleDict);
  assert.equal(root.className, 'collections.OrderedDict');
  const expected = loadExpected().checkpoints['state_dict.pth']!.tensors;
  assert.deepEqual([...root.keys()].sort(), Object.keys(expected).sort());
  assert.equal([...root.keys()][0], 'conv.weight', 'module order is kept');
  for (const [name, want] of Object.entries(expected)) {
    const ref = root.get(name);
    assert.ok(ref instanceof TorchTensorRef, name);
    assert.deepEqual([...ref.size], want.shape, name);
    assert.equal(ref.storage.dtype, want.dtype, name);
  }
  const metadata = root.attributes.get('_metadata');
  assert.ok(metadata instanceof PickleDict);
  assert.deepEqual([...metadata.keys()], ['', 'conv', 'bn', 'fc']);
  assert.equal((metadata.get('bn') as PickleDict).get('version'), 2);
});

for (const [file, { global }] of Object.entries(loadExpected().malicious)) {
  test(`refuses the global in ${file} (${global}) by name`, () => {
    const zip = new ZipArchive(readFileSync(join(FIXTURES, file)));
    assert.throws(() => unpickle(zip.read('archive/data.pkl'), { source: file }), (error: Error) => {
      assert.ok(error.message.startsWith(`pickle ${file}: refusing global '${global}'`), error.message);
      assert.match(error.message, /only collections\.OrderedDict, .* are allowed/);
      return true;
    });
  });
}

/** A protocol-2 pickle from opcode bytes and strings (strings become BINUNICODE). */
function pickle(...parts: (number[] | string)[]): Uint8Array {
  const chunks: Buffer[] = [Buffer.from([0x80, 2])];
  for (const part of parts) {
    if (typeof part === 'string') {
      const text = Buffer.from(part, 'utf8');
      const length = Buffer.alloc(4);
      length.writeUInt32LE(text.length);
      chunks.push(Buffer.from('X'), length, text);
    } else {
      chunks.push(Buffer.from(part));
    }
  }
  return Buffer.concat(chunks);
}
const op = (text: string): number[] => [...Buffer.from(text, 'latin1')];

test('malformed pickles give clear errors', () => {
  assert.throws(() => unpickle(pickle(op('ctorch\nFloatStorage\n'), op(')R.'))), /torch\.FloatStorage is allowed only as a value \(a storage type\), not as a call/);
  assert.throws(() => unpickle(pickle(op('(i__main__\nX\n.'))), /unsupported opcode 0x69 \('i'\) at byte 3/);
  assert.throws(() => unpickle(pickle(op('h\x05.'))), /BINGET of memo slot 5, which was never set/);
  assert.throws(() => unpickle(pickle('abc').subarray(0, 8), { source: 'cut.pkl' }), /pickle cut\.pkl: truncated: a string at byte 7 needs 3 bytes but the pickle ends at 8/);
  assert.throws(() => unpickle(pickle('abc')), /ends at byte 10 without a STOP opcode/);
  assert.throws(() => unpickle(pickle(op('}'), 'k', op('u.'))), /SETITEMS without a preceding MARK/);
  assert.throws(() => unpickle(pickle(op('ccollections\nOrderedDict\n)R('), 'k', op('ctorch\nFloatStorage\n'), 'x', 'y', op('tQu.'))), /persistent id tuple\("k", torch\.FloatStorage, "x", "y"\) is not \('storage', storage_type, key, location, numel\)/);
  assert.throws(() => unpickle(pickle(op('ctorch\nFloatStorage\n('), 'storage', op('ctorch\nFloatStorage\n'), '../../etc/passwd', 'cpu', op('K\x01tQ.'))), /storage key "..\/..\/etc\/passwd" must be a plain record name/);
});
