/** Reductions: sums, means, extrema, top-k. */
import { native } from '../native.js';
import { Op, wrap, wrapAll } from '../op.js';
import { dimList, type Tensor } from '../tensor.js';

const AMAX = new Op('aten::amax');
const AMIN = new Op('aten::amin');
const MAX_DIM = new Op('aten::max.dim');
const MIN_DIM = new Op('aten::min.dim');
const ARGMIN = new Op('aten::argmin');
const TOPK = new Op('aten::topk');
const VAR_DIM = new Op('aten::var.correction');
const NORM = new Op('aten::linalg_vector_norm');
const ALL = new Op('aten::all');
const ANY = new Op('aten::any');


/** Sum over `dims`, or of all elements when omitted. */
export function sum(x: Tensor, dims?: number | readonly number[], keepdim = false): Tensor {
  return x.sum(dims, keepdim);
}

/** Mean over `dims`, or of all elements when omitted. */
export function mean(x: Tensor, dims?: number | readonly number[], keepdim = false): Tensor {
  return x.mean(dims, keepdim);
}

/** Variance over `dims` with `correction` (1 = unbiased, 0 = population). */
export function variance(x: Tensor, dims: number | readonly number[], correction = 1, keepdim = false): Tensor {
  return wrap(native.call(VAR_DIM.handle, x.handle, dimList(dims), correction, keepdim));
}

/** Maximum over `dims` (all elements when omitted). */
export function amax(x: Tensor, dims: number | readonly number[] = [], keepdim = false): Tensor {
  return wrap(native.call(AMAX.handle, x.handle, dimList(dims), keepdim));
}

/** Minimum over `dims` (all elements when omitted). */
export function amin(x: Tensor, dims: number | readonly number[] = [], keepdim = false): Tensor {
  return wrap(native.call(AMIN.handle, x.handle, dimList(dims), keepdim));
}

/** Maximum values and their indices along `dim`. */
export function maxDim(x: Tensor, dim: number, keepdim = false): { values: Tensor; indices: Tensor } {
  const [values, indices] = wrapAll(native.call(MAX_DIM.handle, x.handle, dim, keepdim));
  return { values: values!, indices: indices! };
}

/** Minimum values and their indices along `dim`. */
export function minDim(x: Tensor, dim: number, keepdim = false): { values: Tensor; indices: Tensor } {
  const [values, indices] = wrapAll(native.call(MIN_DIM.handle, x.handle, dim, keepdim));
  return { values: values!, indices: indices! };
}

/** Index of the maximum along `dim` (of the flattened tensor when omitted). */
export function argmax(x: Tensor, dim?: number, keepdim = false): Tensor {
  return x.argmax(dim, keepdim);
}

/** Index of the minimum along `dim` (of the flattened tensor when omitted). */
export function argmin(x: Tensor, dim?: number, keepdim = false): Tensor {
  return wrap(native.call(ARGMIN.handle, x.handle, dim ?? null, keepdim));
}

/** The k largest (or smallest) values along `dim` and their indices, sorted. */
export function topk(
  x: Tensor,
  k: number,
  options: { dim?: number; largest?: boolean; sorted?: boolean } = {},
): { values: Tensor; indices: Tensor } {
  const [values, indices] = wrapAll(
    native.call(TOPK.handle, x.handle, k, options.dim ?? -1, options.largest ?? true, options.sorted ?? true),
  );
  return { values: values!, indices: indices! };
}

/** The p-norm of all elements (or over `dims`). */
export function vectorNorm(x: Tensor, ord = 2, dims: readonly number[] | null = null, keepdim = false): Tensor {
  return wrap(native.call(NORM.handle, x.handle, ord, dims, keepdim));
}

/** Whether every element is true (non-zero). */
export function all(x: Tensor): Tensor {
  return wrap(native.call(ALL.handle, x.handle));
}

/** Whether any element is true (non-zero). */
export function any(x: Tensor): Tensor {
  return wrap(native.call(ANY.handle, x.handle));
}
