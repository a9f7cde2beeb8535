/** Shapes, layouts, dtypes and indexing: views, copies, joins. */
import { native } from '../native.js';
import type { DType, MemoryFormat } from '../dtype.js';
import { Op, wrap, wrapAll } from '../op.js';
import type { Tensor } from '../tensor.js';

const VIEW = new Op('aten::view');
const TRANSPOSE = new Op('aten::transpose.int');
const SQUEEZE_DIM = new Op('aten::squeeze.dim');
const UNSQUEEZE = new Op('aten::unsqueeze');
const EXPAND = new Op('aten::expand');
const CAT = new Op('aten::cat');
const STACK = new Op('aten::stack');
const SPLIT = new Op('aten::split.Tensor');
const CHUNK = new Op('aten::chunk');
const NARROW = new Op('aten::narrow');
const SELECT = new Op('aten::select.int');
const INDEX_SELECT = new Op('aten::index_select');
const GATHER = new Op('aten::gather');
const PAD = new Op('aten::constant_pad_nd');
const FLIP = new Op('aten::flip');
const REFLECTION_PAD2D = new Op('aten::reflection_pad2d');
const ONE_HOT = new Op('aten::one_hot');

/** The same data with a new shape (one dimension may be -1); a view when possible, a copy otherwise. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  return x.reshape(shape);
}

/** A view with a new shape; the tensor must be compatible (e.g. contiguous). */
export function view(x: Tensor, shape: readonly number[]): Tensor {
  return wrap(native.call(VIEW.handle, x.handle, shape));
}

/** Dimensions reordered. */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  return x.permute(dims);
}

/** Two dimensions swapped. */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  return wrap(native.call(TRANSPOSE.handle, x.handle, dim0, dim1));
}

/** Dimensions startDim..endDim merged into one. */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  return x.flatten(startDim, endDim);
}

/** Dimension `dim` removed if it has size 1. */
export function squeeze(x: Tensor, dim: number): Tensor {
  return wrap(native.call(SQUEEZE_DIM.handle, x.handle, dim));
}

/** A size-1 dimension inserted at `dim`. */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  return wrap(native.call(UNSQUEEZE.handle, x.handle, dim));
}

/** A broadcast view to `shape` (-1 keeps a dimension). */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  return wrap(native.call(EXPAND.handle, x.handle, shape));
}

/** Tensors joined along an existing dimension. */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  return wrap(native.call(CAT.handle, tensors.map((t) => t.handle), dim));
}

/** Tensors joined along a new dimension. */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  return wrap(native.call(STACK.handle, tensors.map((t) => t.handle), dim));
}

/** Pieces of `size` along `dim` (the last may be smaller). */
export function split(x: Tensor, size: number, dim = 0): Tensor[] {
  return wrapAll(native.call(SPLIT.handle, x.handle, size, dim));
}

/** `chunks` nearly equal pieces along `dim`. */
export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  return wrapAll(native.call(CHUNK.handle, x.handle, chunks, dim));
}

/** A view of `length` elements along `dim` from `start`. */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  return wrap(native.call(NARROW.handle, x.handle, dim, start, length));
}

/** The slice at `index` along `dim` (that dimension removed). */
export function select(x: Tensor, dim: number, index: number): Tensor {
  return wrap(native.call(SELECT.handle, x.handle, dim, index));
}

/** Rows (along `dim`) picked by an int64 index tensor. */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  return wrap(native.call(INDEX_SELECT.handle, x.handle, dim, index.handle));
}

/** Values gathered along `dim` at int64 `index`. */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  return wrap(native.call(GATHER.handle, x.handle, dim, index.handle));
}

/** A tensor laid out contiguously in `format` (this tensor's memory if it already is). */
export function contiguous(x: Tensor, format: MemoryFormat = 'contiguous'): Tensor {
  return x.contiguous(format);
}

/** A copy with its own memory; autograd flows through it. */
export function clone(x: Tensor, format: MemoryFormat = 'preserve'): Tensor {
  return x.clone(format);
}

/** The same memory, cut from the autograd graph. */
export function detach(x: Tensor): Tensor {
  return x.detach();
}

/** Converted to `dtype` (the same memory, as a new handle, when it already has it). */
export function to(x: Tensor, dtype: DType): Tensor {
  return x.to(dtype);
}

/**
 * Constant padding; `pads` lists (before, after) pairs starting from the last dimension, as torch.nn.functional.pad.
 */
export function pad(x: Tensor, pads: readonly number[], value = 0): Tensor {
  return wrap(native.call(PAD.handle, x.handle, pads, value));
}

/** Reversed along `dims`. */
export function flip(x: Tensor, dims: readonly number[]): Tensor {
  return wrap(native.call(FLIP.handle, x.handle, dims));
}

/**
 * Reflection padding of the last two dimensions by (left, right, top, bottom) pixels, as torch's
 * reflection_pad2d: pixel −k is pixel k (the edge is not repeated); each pad must be smaller than its side.
 */
export function reflectionPad2d(x: Tensor, pads: readonly [number, number, number, number]): Tensor {
  return wrap(native.call(REFLECTION_PAD2D.handle, x.handle, pads));
}

/** One-hot int64 encoding of class indices. */
export function oneHot(indices: Tensor, numClasses = -1): Tensor {
  return wrap(native.call(ONE_HOT.handle, indices.handle, numClasses));
}
