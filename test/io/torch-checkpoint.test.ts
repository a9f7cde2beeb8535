import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { liveTensorCount } from '../../src/torch/index.js';
import { loadTorchCheckpoint, readTorchCheckpoint, rebuildTensor } from '../../src/io/torch-checkpoint.js';
import { halfBitsToFloat32 } from '../../src/io/host-tensor.js';
import { PickleDict, TorchStorageRef, TorchTensorRef } from '../../src/io/pickle.js';
import { FIXTURES, assertValues, loadExpected } from './fixtures.js';

const expected = loadExpected();

for (const [file, want] of Object.entries(expected.checkpoints)) {
  test(`${file}: every tensor has PyTorch's dtype, shape and exact values`, () => {
    const checkpoint = readTorchCheckpoint(readFileSync(join(FIXTURES, file)), file);
    assert.equal(checkpoint.stateDictKey, want.stateDictKey);
    if (want.epoch !== undefined) assert.equal((checkpoint.root as PickleDict).get('epoch'), want.epoch);
    assert.deepEqual([...checkpoint.stateDict.keys()].sort(), Object.keys(want.tensors).sort());
    for (const [name, tensor] of Object.entries(want.tensors)) {
      const host = checkpoint.stateDict.get(name)!;
      assert.equal(host.dtype, tensor.dtype, `${name} dtype`);
      assert.deepEqual(host.shape, tensor.shape, `${name} shape`);
      const values = host.dtype === 'float16' || host.dtype === 'bfloat16' ? halfBitsToFloat32(host.dtype, host.data as Uint16Array) : host.data;
      assertValues(values, tensor, name);
    }
  });
}

test('loadTorchCheckpoint creates owned libtorch tensors (halves as float32) and leaks nothing once disposed', () => {
  const before = liveTensorCount();
  const tensors = loadTorchCheckpoint(join(FIXTURES, 'tensors.pth'));
  try {
    for (const [name, want] of Object.entries(expected.checkpoints['tensors.pth']!.tensors)) {
      const t = tensors.get(name)!;
      const dtype = want.dtype === 'float16' || want.dtype === 'bfloat16' ? 'float32' : want.dtype;
      assert.equal(t.dtype, dtype, `${name} dtype`);
      assert.deepEqual(t.shape, want.shape, `${name} shape`);
      assertValues(t.data(), want, name);
    }
    assert.deepEqual(tensors.get('transposed')!.strides, [3, 1], 'views are rebuilt as contiguous copies');
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
  assert.equal(liveTensorCount(), before);
  const nested = loadTorchCheckpoint(join(FIXTURES, 'checkpoint.pth'));
  assert.equal(nested.get('bn.num_batches_tracked')!.dtype, 'int64');
  assert.equal(nested.get('bn.num_batches_tracked')!.item(), 7);
  for (const t of nested.values()) t.dispose();
});

const PWNED = ['os-system', 'eval', 'popen', 'nested', 'stack-global'].map((tag) => `/tmp/effnet-pwned-${tag}`);

for (const [file, { global }] of Object.entries(expected.malicious)) {
  test(`${file}: refused naming ${global}, with no side effect and no tensor created`, () => {
    for (const path of PWNED) rmSync(path, { force: true });
    const before = liveTensorCount();
    const path = join(FIXTURES, file);
    assert.throws(() => loadTorchCheckpoint(path), (error: Error) => {
      assert.ok(error.message.includes(`pickle ${path}:archive/data.pkl: refusing global '${global}'`), error.message);
      return true;
    });
    assert.equal(liveTensorCount(), before);
    for (const pwned of PWNED) assert.ok(!existsSync(pwned), `${pwned} must not exist`);
  });
}

test('the legacy format, a truncated file, a non-zip file and a missing file give clear errors', () => {
  const legacy = join(FIXTURES, 'legacy.pth');
  assert.throws(() => loadTorchCheckpoint(legacy), (error: Error) =>
    error.message.startsWith(`torch checkpoint ${legacy}: it is in the legacy (pre-1.6) torch.save format`) &&
    error.message.includes('_use_new_zipfile_serialization=True'));
  const truncated = join(FIXTURES, 'truncated.pth');
  assert.throws(() => loadTorchCheckpoint(truncated), new RegExp(`zip file ${truncated}: has no end-of-central-directory record; the file is truncated`));
  const text = join(FIXTURES, 'not_a_zip.pth');
  assert.throws(() => loadTorchCheckpoint(text), new RegExp(`torch checkpoint ${text}: is not a torch.save checkpoint`));
  assert.throws(() => loadTorchCheckpoint(join(FIXTURES, 'absent.pth')), /could not read torch checkpoint .*absent\.pth/);
});

test('rebuildTensor follows size, stride and storage offset, and refuses views outside the storage', () => {
  const storage = new Float32Array(Array.from({ length: 30 }, (_, i) => i));
  const ref = (offset: number, size: number[], stride: number[]): TorchTensorRef =>
    new TorchTensorRef(new TorchStorageRef('float32', '0', 'cpu', 30), offset, size, stride, false);
  // A [2, 3, 4] contiguous block at offset 2, permuted to [4, 2, 3]: element (i, j, k) = 2 + 12j + 4k + i.
  const permuted = rebuildTensor(ref(2, [4, 2, 3], [1, 12, 4]), storage);
  const want: number[] = [];
  for (let i = 0; i < 4; i++) for (let j = 0; j < 2; j++) for (let k = 0; k < 3; k++) want.push(2 + 12 * j + 4 * k + i);
  assert.deepEqual([...permuted.data as Float32Array], want);
  assert.deepEqual(permuted.shape, [4, 2, 3]);
  assert.deepEqual([...rebuildTensor(ref(29, [], []), storage).data as Float32Array], [29]);
  assert.deepEqual(rebuildTensor(ref(0, [0, 5], [5, 1]), storage).shape, [0, 5]);
  assert.throws(() => rebuildTensor(ref(2, [4, 2, 3], [1, 18, 4]), storage), /reaches element 31 of a storage of 30 elements/);
});
