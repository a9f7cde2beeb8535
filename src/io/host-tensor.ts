/**
 * Tensors held in JS memory while they travel between weight files and libtorch: a dtype, a shape and a typed
 * array of the elements in row-major order. The file readers (safetensors, torch checkpoints) produce these
 * without touching libtorch, so they are testable on their own; `toTensor` turns one into a libtorch tensor.
 */
import { tensor, type DType, type Tensor } from '../torch/index.js';

/**
 * The typed array holding a host tensor's elements. float16 and bfloat16 elements are kept as their raw 16-bit
 * patterns in a Uint16Array (JS has no half-precision arrays); bool elements are 0/1 bytes in a Uint8Array.
 */
export type HostData = Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array | Uint16Array;

/** A tensor in JS memory: `data` has exactly product(shape) elements of `dtype`, row-major. */
export interface HostTensor {
  /** Element type. */
  dtype: DType;
  /** Sizes of each dimension ([] for a scalar). */
  shape: number[];
  /** The elements, in the typed array `typedArrayNameFor(dtype)` names. */
  data: HostData;
}

const BYTES: Record<DType, number> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/** Bytes per element of a dtype. */
export function elementSize(dtype: DType): number {
  const size = BYTES[dtype];
  if (size === undefined) throw new Error(`unknown dtype '${String(dtype)}'; expected one of ${Object.keys(BYTES).join(', ')}`);
  return size;
}

/** Number of elements of a shape (1 for the scalar shape []). */
export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** The name of the typed array class that holds `dtype` elements in a HostTensor. */
export function typedArrayNameFor(dtype: DType): string {
  switch (dtype) {
    case 'float32': return 'Float32Array';
    case 'float64': return 'Float64Array';
    case 'float16': case 'bfloat16': return 'Uint16Array';
    case 'int64': return 'BigInt64Array';
    case 'int32': return 'Int32Array';
    case 'int16': return 'Int16Array';
    case 'int8': return 'Int8Array';
    case 'uint8': case 'bool': return 'Uint8Array';
    default: throw new Error(`unknown dtype '${String(dtype)}'`);
  }
}

/**
 * A typed array of `dtype` elements copied from little-endian bytes (`bytes.length` must be a multiple of the
 * element size). The copy gives the array its own, aligned memory, whatever the alignment inside `bytes`.
 */
export function typedArrayFromBytes(dtype: DType, bytes: Uint8Array): HostData {
  if (!LITTLE_ENDIAN) {
    throw new Error('weight files are little-endian and this host is big-endian; reading them needs a byte swap this loader does not do (use a little-endian machine)');
  }
  const size = elementSize(dtype);
  if (bytes.byteLength % size !== 0) {
    throw new Error(`${bytes.byteLength} bytes do not hold a whole number of ${dtype} elements (${size} bytes each)`);
  }
  const copy = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(copy).set(bytes);
  const n = bytes.byteLength / size;
  switch (dtype) {
    case 'float32': return new Float32Array(copy, 0, n);
    case 'float64': return new Float64Array(copy, 0, n);
    case 'float16': case 'bfloat16': return new Uint16Array(copy, 0, n);
    case 'int64': return new BigInt64Array(copy, 0, n);
    case 'int32': return new Int32Array(copy, 0, n);
    case 'int16': return new Int16Array(copy, 0, n);
    case 'int8': return new Int8Array(copy, 0, n);
    case 'uint8': case 'bool': return new Uint8Array(copy, 0, n);
    default: throw new Error(`unknown dtype '${String(dtype)}'`);
  }
}

/** An empty typed array of `n` elements of `dtype`. */
export function allocateTypedArray(dtype: DType, n: number): HostData {
  return typedArrayFromBytes(dtype, new Uint8Array(n * elementSize(dtype)));
}

/** Whether `data` is the typed array class a HostTensor of `dtype` must hold. */
export function matchesDType(dtype: DType, data: HostData): boolean {
  return data.constructor.name === typedArrayNameFor(dtype);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The float32 value of an IEEE half-precision bit pattern (exact: every half is a float32). */
export function float16BitsToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** The float32 value of a bfloat16 bit pattern (exact: bfloat16 is the top half of a float32). */
export function bfloat16BitsToFloat32(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0]!;
}

/** The nearest IEEE half-precision bit pattern to `value` (round to nearest, ties to even; overflow to ±inf). */
export function float32ToFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0);
  // Half exponent = exponent - 127 + 15.
  const halfExponent = exponent - 112;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // Subnormal half (or zero): shift the mantissa with its implicit bit into place, rounding to nearest even.
    if (halfExponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - halfExponent;
    const half = mantissa >>> shift;
    const remainder = mantissa & ((1 << shift) - 1);
    const midpoint = 1 << (shift - 1);
    const rounded = remainder > midpoint || (remainder === midpoint && (half & 1) === 1) ? half + 1 : half;
    return sign | rounded;
  }
  const half = (halfExponent << 10) | (mantissa >>> 13);
  const remainder = mantissa & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  const rounded = remainder > 0x1000 || (remainder === 0x1000 && (half & 1) === 1) ? half + 1 : half;
  return sign | rounded;
}

/** The nearest bfloat16 bit pattern to `value` (round to nearest, ties to even; NaN stays NaN). */
export function float32ToBFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return ((x >>> 16) | 0x40) & 0xffff;
  const rounding = 0x7fff + ((x >>> 16) & 1);
  return ((x + rounding) >>> 16) & 0xffff;
}

/** float32 values of a float16 or bfloat16 host tensor's bit patterns. */
export function halfBitsToFloat32(dtype: 'float16' | 'bfloat16', bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const convert = dtype === 'float16' ? float16BitsToFloat32 : bfloat16BitsToFloat32;
  for (let i = 0; i < bits.length; i++) out[i] = convert(bits[i]!);
  return out;
}

/** float16 or bfloat16 bit patterns nearest to float32 values. */
export function float32ToHalfBits(dtype: 'float16' | 'bfloat16', values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  const convert = dtype === 'float16' ? float32ToFloat16Bits : float32ToBFloat16Bits;
  for (let i = 0; i < values.length; i++) out[i] = convert(values[i]!);
  return out;
}

/**
 * A libtorch tensor holding a copy of a host tensor, keep()-ed: the caller owns it and disposes it. float16 and
 * bfloat16 host tensors become float32 tensors (exactly: every half value is a float32), because the binding
 * creates tensors from JS typed arrays and JS has no half-precision arrays; convert with `.to('float16')` if
 * needed.
 */
export function toTensor(host: HostTensor): Tensor {
  if (!matchesDType(host.dtype, host.data)) {
    throw new Error(`toTensor: a ${host.dtype} host tensor must hold a ${typedArrayNameFor(host.dtype)}, got ${host.data.constructor.name}`);
  }
  let created: Tensor;
  if (host.dtype === 'float16' || host.dtype === 'bfloat16') {
    created = tensor(halfBitsToFloat32(host.dtype, host.data as Uint16Array), host.shape);
  } else if (host.dtype === 'bool') {
    created = tensor(host.data as Uint8Array, host.shape, { dtype: 'bool' });
  } else {
    created = tensor(host.data as Exclude<HostData, Uint16Array>, host.shape);
  }
  return created.keep();
}

/**
 * A host copy of a libtorch tensor, in its own dtype. float16/bfloat16 tensors are read as float32 (exact) and
 * stored as their half bit patterns; the conversion back is exact because the values are representable.
 */
export function fromTensor(source: Tensor): HostTensor {
  const dtype = source.dtype;
  const shape = source.shape;
  if (dtype === 'float16' || dtype === 'bfloat16') {
    return { dtype, shape, data: float32ToHalfBits(dtype, source.toFloat32Array()) };
  }
  return { dtype, shape, data: source.data() };
}
