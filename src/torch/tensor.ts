/**
 * The Tensor: a handle on a libtorch tensor plus the methods people expect. Memory is freed by scopes (`tidy`),
 * by `dispose()`, or, for tensors outside any scope, eventually by a finalizer.
 */
import { native, type NativeResult, type TensorHandle } from './native.js';
import { memoryFormatOf, scalarTypeOf, type DType, type MemoryFormat } from './dtype.js';
import { Op } from './operator.js';
import { keep, markScoped, track, untrack } from './scope.js';

// The operators behind Tensor's methods. They live here, not in ops/, so that this module imports no operator
// module: ops/*.ts import Tensor, and their functional forms of these methods call the methods.
const ADD = new Op('aten::add.Tensor');
const ADD_SCALAR = new Op('aten::add.Scalar');
const SUB = new Op('aten::sub.Tensor');
const SUB_SCALAR = new Op('aten::sub.Scalar');
const MUL = new Op('aten::mul.Tensor');
const MUL_SCALAR = new Op('aten::mul.Scalar');
const DIV = new Op('aten::div.Tensor');
const DIV_SCALAR = new Op('aten::div.Scalar');
const SUM = new Op('aten::sum');
const SUM_DIM = new Op('aten::sum.dim_IntList');
const MEAN = new Op('aten::mean');
const MEAN_DIM = new Op('aten::mean.dim');
const ARGMAX = new Op('aten::argmax');
const RESHAPE = new Op('aten::reshape');
const PERMUTE = new Op('aten::permute');
const FLATTEN = new Op('aten::flatten.using_ints');
const CONTIGUOUS = new Op('aten::contiguous');
const CLONE = new Op('aten::clone');
const TO_DEVICE = new Op('aten::to.device');
const PIN_MEMORY = new Op('aten::pin_memory');
const DETACH = new Op('aten::detach');
const TO_DTYPE = new Op('aten::to.dtype');

/** A reduction's dimensions as the list the schema takes. */
export function dimList(dims: number | readonly number[]): readonly number[] {
  return typeof dims === 'number' ? [dims] : dims;
}

function result(handle: NativeResult): Tensor {
  return new Tensor(handle as TensorHandle);
}

/** Numbers a tensor's elements can be copied into. */
export type TensorData = Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

/** A libtorch tensor. Created by the functions in src/torch (tensor, zeros, conv2d, ...), never by `new`. */
export class Tensor {
  /** @internal slot in the binding's table; -1 once disposed */
  _id: TensorHandle;
  /** @internal set by keep(): survives scopes */
  _kept = false;

  /** @internal wraps a handle the binding returned; use the creation functions instead */
  constructor(handle: TensorHandle) {
    this._id = handle;
    track(this);
  }

  /** The binding handle; throws if the tensor was disposed. */
  get handle(): TensorHandle {
    if (this._id < 0) {
      throw new Error('this tensor was disposed (its scope ended, or dispose() was called); keep() it or clone it inside the scope');
    }
    return this._id;
  }

  /** Sizes of each dimension. */
  get shape(): number[] {
    return native.shape(this.handle);
  }

  /** Number of dimensions. */
  get ndim(): number {
    return native.shape(this.handle).length;
  }

  /** Strides of each dimension, in elements. */
  get strides(): number[] {
    return native.strides(this.handle);
  }

  /** Element type. */
  get dtype(): DType {
    return native.dtype(this.handle) as DType;
  }

  /** Device, e.g. `cpu`. */
  get device(): string {
    return native.device(this.handle);
  }

  /** Number of elements. */
  get numel(): number {
    return native.numel(this.handle);
  }

  /** Whether autograd records operations on this tensor. */
  get requiresGrad(): boolean {
    return native.requiresGrad(this.handle);
  }

  set requiresGrad(flag: boolean) {
    native.setRequiresGrad(this.handle, flag);
  }

  /** Sets requiresGrad and returns this tensor, for chaining. */
  requiresGrad_(flag = true): this {
    native.setRequiresGrad(this.handle, flag);
    return this;
  }

  /** Whether this is a leaf of the autograd graph (made by the user, not by a recorded operation). */
  get isLeaf(): boolean {
    return native.isLeaf(this.handle);
  }

  /** Name of the autograd node that produced this tensor (e.g. `ConvolutionBackward0`), or null for leaves. */
  get gradFn(): string | null {
    return native.gradFn(this.handle);
  }

  /**
   * The gradient accumulated by backward(), as a new handle on it (a view of the same memory), or null.
   * The handle belongs to the current scope like any other tensor.
   */
  get grad(): Tensor | null {
    const handle = native.grad(this.handle);
    return handle === null ? null : new Tensor(handle);
  }

  set grad(value: Tensor | null) {
    native.setGrad(this.handle, value === null ? null : value.handle);
  }

  /** Back-propagates from this tensor (a scalar, or pass `grad` of the same shape). */
  backward(grad?: Tensor, options: { retainGraph?: boolean } = {}): void {
    native.backward(this.handle, grad === undefined ? null : grad.handle, options.retainGraph ?? false);
  }

  /** The value of a one-element tensor. */
  item(): number {
    const n = this.numel;
    if (n !== 1) throw new Error(`item(): the tensor has ${n} elements (shape [${this.shape.join(', ')}]); item() needs exactly one`);
    const data = native.toTypedArray(this.handle);
    return Number(data[0]);
  }

  /** A copy of the elements in row-major order, in the typed array matching the dtype. */
  data(): TensorData {
    return native.toTypedArray(this.handle);
  }

  /** A copy of the elements as float32 (converting if needed). */
  toFloat32Array(): Float32Array {
    if (this.dtype === 'float32') return native.toTypedArray(this.handle) as Float32Array;
    const converted = this.to('float32');
    try {
      return native.toTypedArray(converted.handle) as Float32Array;
    } finally {
      converted.dispose();
    }
  }

  /** The elements as a plain number array (int64 values beyond 2^53 lose precision). */
  toArray(): number[] {
    return Array.from(native.toTypedArray(this.handle) as ArrayLike<number | bigint>, Number);
  }

  /** Frees the tensor's memory now. Later use of this object throws. Disposing twice is harmless. */
  dispose(): void {
    if (this._id < 0) return;
    untrack(this);
    native.dispose(this._id);
    this._id = -1;
  }

  /** Whether the tensor was disposed. */
  get isDisposed(): boolean {
    return this._id < 0;
  }

  /** Keeps this tensor alive past the end of enclosing scopes (dispose it by hand later). */
  keep(): this {
    return keep(this);
  }

  /** Whether two tensors are the same libtorch tensor (not merely equal values). */
  isSame(other: Tensor): boolean {
    return native.sameTensor(this.handle, other.handle);
  }

  /** A new tensor sharing this one's memory, detached from the autograd graph. */
  detach(): Tensor {
    return result(native.call(DETACH.handle, this.handle));
  }

  /** A copy with its own memory (gradients flow through it), in `format` (default: this tensor's layout). */
  clone(format: MemoryFormat = 'preserve'): Tensor {
    return result(native.call(CLONE.handle, this.handle, memoryFormatOf(format)));
  }

  /** A tensor with the given dtype (this tensor itself, as a new handle, when it already has it). */
  to(dtype: DType): Tensor {
    return result(native.call(TO_DTYPE.handle, this.handle, scalarTypeOf(dtype)));
  }

  /**
   * This tensor on `device` ('cpu', 'cuda:0', ...): itself (a new handle) when it is there already, else a copy;
   * `nonBlocking` lets a copy from pinned host memory overlap with GPU work (as PyTorch's non_blocking=True).
   * Gradients flow through the copy.
   */
  toDevice(device: string, options: { nonBlocking?: boolean } = {}): Tensor {
    return result(native.call(TO_DEVICE.handle, this.handle, device, scalarTypeOf(this.dtype), options.nonBlocking ?? false, false, null));
  }

  /** A copy in page-locked host memory, which the GPU can read asynchronously (needs a CUDA libtorch). */
  pinMemory(): Tensor {
    return result(native.call(PIN_MEMORY.handle, this.handle, null));
  }

  /** A tensor laid out contiguously in the given memory format. */
  contiguous(format: MemoryFormat = 'contiguous'): Tensor {
    return result(native.call(CONTIGUOUS.handle, this.handle, memoryFormatOf(format)));
  }

  /** A tensor of the same data with a new shape (one dimension may be -1). */
  reshape(shape: readonly number[]): Tensor {
    return result(native.call(RESHAPE.handle, this.handle, shape));
  }

  /** Reorders dimensions. */
  permute(dims: readonly number[]): Tensor {
    return result(native.call(PERMUTE.handle, this.handle, dims));
  }

  /** Flattens dimensions startDim..endDim into one. */
  flatten(startDim = 0, endDim = -1): Tensor {
    return result(native.call(FLATTEN.handle, this.handle, startDim, endDim));
  }

  /** Elementwise this + other·alpha, broadcasting. */
  add(other: Tensor | number, alpha = 1): Tensor {
    // alpha = 1 is the schema default: leaving it out skips a Scalar conversion on this hot path.
    if (other instanceof Tensor) return result(alpha === 1 ? native.call(ADD.handle, this.handle, other.handle) : native.call(ADD.handle, this.handle, other.handle, alpha));
    return result(native.call(ADD_SCALAR.handle, this.handle, other, alpha));
  }

  /** Elementwise this − other·alpha. */
  sub(other: Tensor | number, alpha = 1): Tensor {
    if (other instanceof Tensor) return result(alpha === 1 ? native.call(SUB.handle, this.handle, other.handle) : native.call(SUB.handle, this.handle, other.handle, alpha));
    return result(native.call(SUB_SCALAR.handle, this.handle, other, alpha));
  }

  /** Elementwise product. */
  mul(other: Tensor | number): Tensor {
    if (other instanceof Tensor) return result(native.call(MUL.handle, this.handle, other.handle));
    return result(native.call(MUL_SCALAR.handle, this.handle, other));
  }

  /** Elementwise quotient. */
  div(other: Tensor | number): Tensor {
    if (other instanceof Tensor) return result(native.call(DIV.handle, this.handle, other.handle));
    return result(native.call(DIV_SCALAR.handle, this.handle, other));
  }

  /** Mean over `dims` (all when omitted). */
  mean(dims?: number | readonly number[], keepdim = false): Tensor {
    if (dims === undefined) return result(native.call(MEAN.handle, this.handle));
    return result(native.call(MEAN_DIM.handle, this.handle, dimList(dims), keepdim));
  }

  /** Sum over `dims` (all when omitted). */
  sum(dims?: number | readonly number[], keepdim = false): Tensor {
    if (dims === undefined) return result(native.call(SUM.handle, this.handle));
    return result(native.call(SUM_DIM.handle, this.handle, dimList(dims), keepdim));
  }

  /** Indices of the maxima along `dim`. */
  argmax(dim?: number, keepdim = false): Tensor {
    return result(native.call(ARGMAX.handle, this.handle, dim ?? null, keepdim));
  }

  /** "Tensor(float32[2, 3])", or "Tensor(disposed)". */
  toString(): string {
    if (this._id < 0) return 'Tensor(disposed)';
    return `Tensor(${this.dtype}[${this.shape.join(', ')}]${this.requiresGrad ? ', requiresGrad' : ''})`;
  }
}

markScoped(Tensor.prototype);
