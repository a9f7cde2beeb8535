import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, tidy } from '../../src/torch/index.js';
import {
  bfloat16BitsToFloat32,
  float16BitsToFloat32,
  float32ToBFloat16Bits,
  float32ToFloat16Bits,
  float32ToHalfBits,
  fromTensor,
  toTensor,
  typedArrayFromBytes,
} from '../../src/io/host-tensor.js';
import { loadExpected } from './fixtures.js';

const reference = loadExpected().safetensors['reference.safetensors']!.tensors;

test('half bit patterns decode to the values PyTorch printed for them', () => {
  for (const [name, decode] of [['f16', float16BitsToFloat32], ['bf16', bfloat16BitsToFloat32]] as const) {
    const want = reference[name]!;
    const bits = want.bits!.map((b) => b & 0xffff);
    assert.deepEqual(bits.map((b) => decode(b)), want.values, name);
    assert.deepEqual(bits.map((b) => (name === 'f16' ? float32ToFloat16Bits : float32ToBFloat16Bits)(decode(b))), bits, `${name} re-encodes exactly`);
  }
});

test('every float16 bit pattern survives decode -> encode (NaNs stay NaN)', () => {
  for (let bits = 0; bits < 0x10000; bits++) {
    const value = float16BitsToFloat32(bits);
    if (Number.isNaN(value)) assert.ok(Number.isNaN(float16BitsToFloat32(float32ToFloat16Bits(value))));
    else assert.equal(float32ToFloat16Bits(value), bits, `bits 0x${bits.toString(16)}`);
  }
});

test('float32 -> half rounding matches libtorch (ties to even, subnormals, overflow)', () => {
  const values = new Float32Array([
    1 + 2 ** -11, 1 + 3 * 2 ** -11, 65504, 65520, 65519.99, 1e-8, 2 ** -25, 3 * 2 ** -26, 2 ** -24 * 1.5, -7.3e-5,
    0.1, 1 / 3, 3.4e38, -1e-40, 1 + 2 ** -8, 1 + 3 * 2 ** -8, Infinity, -Infinity,
  ]);
  tidy(() => {
    const source = tensor(values);
    for (const dtype of ['float16', 'bfloat16'] as const) {
      const libtorch = source.to(dtype).toFloat32Array();
      const ours = float32ToHalfBits(dtype, values);
      const decode = dtype === 'float16' ? float16BitsToFloat32 : bfloat16BitsToFloat32;
      assert.deepEqual([...ours].map((b) => decode(b)), [...libtorch], dtype);
    }
  });
});

test('toTensor / fromTensor move host tensors in and out of libtorch', () => {
  tidy(() => {
    const bytes = new Uint8Array(new Int32Array([5, -6, 7, 8]).buffer);
    const host = { dtype: 'int32' as const, shape: [2, 2], data: typedArrayFromBytes('int32', bytes.subarray(0, 16)) };
    const t = toTensor(host);
    assert.equal(t.dtype, 'int32');
    assert.deepEqual(t.toArray(), [5, -6, 7, 8]);
    assert.deepEqual(fromTensor(t), host);
    t.dispose();
    const half = tensor([0.5, 3]).to('float16');
    assert.deepEqual(fromTensor(half), { dtype: 'float16', shape: [2], data: new Uint16Array([0x3800, 0x4200]) });
    assert.throws(() => toTensor({ dtype: 'int64', shape: [1], data: new Float32Array(1) }), /int64 host tensor must hold a BigInt64Array, got Float32Array/);
    assert.throws(() => typedArrayFromBytes('float32', new Uint8Array(6)), /6 bytes do not hold a whole number of float32 elements/);
  });
});
