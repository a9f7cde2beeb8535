/** Creating tensors: from JS data, constants, ranges and random draws. */
import { native } from '../native.js';
import { scalarTypeOf, type DType } from '../dtype.js';
import { Op, wrap } from '../op.js';
import type { Tensor } from '../tensor.js';

const EMPTY = new Op('aten::empty.memory_format');
const ZEROS = new Op('aten::zeros');
const ONES = new Op('aten::ones');
const FULL = new Op('aten::full');
const RANDN = new Op('aten::randn');
const RAND = new Op('aten::rand');
const RANDINT = new Op('aten::randint.low');
const ARANGE = new Op('aten::arange.start_step');
const ZEROS_LIKE = new Op('aten::zeros_like');
const ONES_LIKE = new Op('aten::ones_like');
const FULL_LIKE = new Op('aten::full_like');
const RANDPERM = new Op('aten::randperm');

/** Options of the creation functions. */
export interface CreationOptions {
  /** Element type; default float32 (int64 for randint and randperm). */
  dtype?: DType;
  /** Whether autograd tracks the new tensor; default false. */
  requiresGrad?: boolean;
  /** Where the tensor lives: 'cpu' (default) or 'cuda:N' (src/torch/device.ts). */
  device?: string;
}

function product(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function finish(result: Tensor, options: CreationOptions): Tensor {
  if (options.requiresGrad) result.requiresGrad = true;
  return result;
}

/**
 * A tensor holding a copy of `data`. A typed array decides the dtype (Float32Array → float32, Float64Array →
 * float64, BigInt64Array → int64, Int32Array → int32, Uint8Array → uint8); a number array becomes float32 unless
 * `dtype` says otherwise. `shape` defaults to one dimension of data.length.
 */
export function tensor(
  data: ArrayLike<number> | BigInt64Array | readonly number[],
  shape?: readonly number[],
  options: CreationOptions = {},
): Tensor {
  const dims = shape ?? [data.length];
  if (product(dims) !== data.length) {
    throw new Error(`tensor(): shape [${dims.join(', ')}] holds ${product(dims)} elements but data has ${data.length}`);
  }
  let array: ArrayBufferView;
  const dtype = options.dtype;
  if (ArrayBuffer.isView(data) && dtype === undefined) {
    array = data as ArrayBufferView;
  } else {
    switch (dtype ?? 'float32') {
      case 'float32': array = Float32Array.from(data as ArrayLike<number>); break;
      case 'float64': array = Float64Array.from(data as ArrayLike<number>); break;
      case 'int32': array = Int32Array.from(data as ArrayLike<number>); break;
      case 'int16': array = Int16Array.from(data as ArrayLike<number>); break;
      case 'int8': array = Int8Array.from(data as ArrayLike<number>); break;
      case 'uint8': case 'bool': array = Uint8Array.from(data as ArrayLike<number>, (v) => (dtype === 'bool' ? (v ? 1 : 0) : v)); break;
      case 'int64': array = data instanceof BigInt64Array ? data : BigInt64Array.from(data as ArrayLike<number>, (v) => BigInt(Math.trunc(v))); break;
      default: throw new Error(`tensor(): cannot create a ${dtype} tensor from JS data; create float32 and convert with .to()`);
    }
  }
  const host = wrap(native.fromTypedArray(array, dims, dtype === 'bool' ? 'bool' : undefined));
  return finish(options.device === undefined || options.device === 'cpu' ? host : host.toDevice(options.device), options);
}

// The trailing `dtype, layout, device` arguments of the factory operators (layout: the default, strided).
function placement(options: CreationOptions, defaultDtype: DType): [number, null, string | null] {
  return [scalarTypeOf(options.dtype ?? defaultDtype), null, options.device ?? null];
}

/** An uninitialised tensor. */
export function empty(shape: readonly number[], options: CreationOptions = {}): Tensor {
  return finish(wrap(native.call(EMPTY.handle, shape, ...placement(options, 'float32'))), options);
}

/** A tensor of zeros. */
export function zeros(shape: readonly number[], options: CreationOptions = {}): Tensor {
  return finish(wrap(native.call(ZEROS.handle, shape, ...placement(options, 'float32'))), options);
}

/** A tensor of ones. */
export function ones(shape: readonly number[], options: CreationOptions = {}): Tensor {
  return finish(wrap(native.call(ONES.handle, shape, ...placement(options, 'float32'))), options);
}

/** A tensor filled with `value`. */
export function full(shape: readonly number[], value: number, options: CreationOptions = {}): Tensor {
  return finish(wrap(native.call(FULL.handle, shape, value, ...placement(options, 'float32'))), options);
}

/** Standard normal draws from libtorch's generator (seed it with manualSeed). */
export function randn(shape: readonly number[], options: CreationOptions = {}): Tensor {
  return finish(wrap(native.call(RANDN.handle, shape, ...placement(options, 'float32'))), options);
}

/** Uniform draws in [0, 1). */
export function rand(shape: readonly number[], options: CreationOptions = {}): Tensor {
  return finish(wrap(native.call(RAND.handle, shape, ...placement(options, 'float32'))), options);
}

/** Integers drawn uniformly from [low, high). */
export function randint(low: number, high: number, shape: readonly number[], options: CreationOptions = {}): Tensor {
  return finish(wrap(native.call(RANDINT.handle, low, high, shape, ...placement(options, 'int64'))), options);
}

/** A random permutation of 0..n-1 (int64). */
export function randperm(n: number, options: CreationOptions = {}): Tensor {
  return finish(wrap(native.call(RANDPERM.handle, n, ...placement(options, 'int64'))), options);
}

/** Values start, start+step, ... below end. Integer arguments give int64 unless dtype says otherwise. */
export function arange(start: number, end: number, step = 1, options: CreationOptions = {}): Tensor {
  const integral = Number.isInteger(start) && Number.isInteger(end) && Number.isInteger(step);
  const dtype = options.dtype ?? (integral ? 'int64' : 'float32');
  return finish(wrap(native.call(ARANGE.handle, start, end, step, ...placement({ ...options, dtype }, dtype))), options);
}

/** Zeros with the shape, dtype and device of `like`. */
export function zerosLike(like: Tensor): Tensor {
  return wrap(native.call(ZEROS_LIKE.handle, like.handle));
}

/** Ones with the shape, dtype and device of `like`. */
export function onesLike(like: Tensor): Tensor {
  return wrap(native.call(ONES_LIKE.handle, like.handle));
}

/** `value` everywhere, with the shape, dtype and device of `like`. */
export function fullLike(like: Tensor, value: number): Tensor {
  return wrap(native.call(FULL_LIKE.handle, like.handle, value));
}
