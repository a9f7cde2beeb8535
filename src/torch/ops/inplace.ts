/**
 * In-place updates (optimizers, EMA, initialisation) and the fused multi-tensor `_foreach_*` operators that update
 * every parameter in one call. Each returns nothing: the target tensor is changed.
 */
import { native } from '../native.js';
import { Op } from '../op.js';
import { Tensor } from '../tensor.js';

const ADD_ = new Op('aten::add_.Tensor');
const ADD_SCALAR_ = new Op('aten::add_.Scalar');
const SUB_ = new Op('aten::sub_.Tensor');
const MUL_ = new Op('aten::mul_.Tensor');
const MUL_SCALAR_ = new Op('aten::mul_.Scalar');
const DIV_ = new Op('aten::div_.Tensor');
const DIV_SCALAR_ = new Op('aten::div_.Scalar');
const ADDCMUL_ = new Op('aten::addcmul_');
const ADDCDIV_ = new Op('aten::addcdiv_');
const LERP_ = new Op('aten::lerp_.Scalar');
const COPY_ = new Op('aten::copy_');
const SET_DATA = new Op('aten::set_data');
const ZERO_ = new Op('aten::zero_');
const FILL_ = new Op('aten::fill_.Scalar');
const CLAMP_ = new Op('aten::clamp_');
const SQRT_ = new Op('aten::sqrt_');
const NORMAL_ = new Op('aten::normal_');
const UNIFORM_ = new Op('aten::uniform_');
const BERNOULLI_ = new Op('aten::bernoulli_.float');

const FOREACH_ADD_LIST_ = new Op('aten::_foreach_add_.List');
const FOREACH_ADD_SCALAR_ = new Op('aten::_foreach_add_.Scalar');
const FOREACH_MUL_SCALAR_ = new Op('aten::_foreach_mul_.Scalar');
const FOREACH_MUL_LIST_ = new Op('aten::_foreach_mul_.List');
const FOREACH_DIV_LIST_ = new Op('aten::_foreach_div_.List');
const FOREACH_ADDCMUL_ = new Op('aten::_foreach_addcmul_.Scalar');
const FOREACH_ADDCDIV_ = new Op('aten::_foreach_addcdiv_.Scalar');
const FOREACH_SQRT = new Op('aten::_foreach_sqrt');
const FOREACH_ZERO_ = new Op('aten::_foreach_zero_');
const FOREACH_ADD_SCALAR = new Op('aten::_foreach_add.Scalar');

function handles(tensors: readonly Tensor[]): number[] {
  return tensors.map((t) => t.handle);
}

/** target += other·alpha. */
export function add_(target: Tensor, other: Tensor | number, alpha = 1): void {
  if (other instanceof Tensor) native.callVoid(ADD_.handle, target.handle, other.handle, alpha);
  else native.callVoid(ADD_SCALAR_.handle, target.handle, other, alpha);
}

/** target −= other·alpha. */
export function sub_(target: Tensor, other: Tensor, alpha = 1): void {
  native.callVoid(SUB_.handle, target.handle, other.handle, alpha);
}

/** target *= other. */
export function mul_(target: Tensor, other: Tensor | number): void {
  if (other instanceof Tensor) native.callVoid(MUL_.handle, target.handle, other.handle);
  else native.callVoid(MUL_SCALAR_.handle, target.handle, other);
}

/** target /= other. */
export function div_(target: Tensor, other: Tensor | number): void {
  if (other instanceof Tensor) native.callVoid(DIV_.handle, target.handle, other.handle);
  else native.callVoid(DIV_SCALAR_.handle, target.handle, other);
}

/** target += value·a·b. */
export function addcmul_(target: Tensor, a: Tensor, b: Tensor, value = 1): void {
  native.callVoid(ADDCMUL_.handle, target.handle, a.handle, b.handle, value);
}

/** target += value·a/b. */
export function addcdiv_(target: Tensor, a: Tensor, b: Tensor, value = 1): void {
  native.callVoid(ADDCDIV_.handle, target.handle, a.handle, b.handle, value);
}

/** target += weight·(end − target). */
export function lerp_(target: Tensor, end: Tensor, weight: number): void {
  native.callVoid(LERP_.handle, target.handle, end.handle, weight);
}

/** target ← source (broadcast and converted to target's dtype). */
export function copy_(target: Tensor, source: Tensor): void {
  native.callVoid(COPY_.handle, target.handle, source.handle);
}

/**
 * Makes `target` hold `source`'s data (device, dtype, memory) while staying the same tensor: everything holding
 * `target` (a layer, an optimizer, an EMA) sees the change. PyTorch's `param.data = new`, what `module.to()` is
 * built on.
 */
export function setData_(target: Tensor, source: Tensor): void {
  native.callVoid(SET_DATA.handle, target.handle, source.handle);
}

/** target ← 0. */
export function zero_(target: Tensor): void {
  native.callVoid(ZERO_.handle, target.handle);
}

/** target ← value. */
export function fill_(target: Tensor, value: number): void {
  native.callVoid(FILL_.handle, target.handle, value);
}

/** target ← clamp(target, min, max). */
export function clamp_(target: Tensor, min: number | null, max: number | null = null): void {
  native.callVoid(CLAMP_.handle, target.handle, min, max);
}

/** target ← sqrt(target). */
export function sqrt_(target: Tensor): void {
  native.callVoid(SQRT_.handle, target.handle);
}

/** target ← draws from N(mean, std²). */
export function normal_(target: Tensor, mean = 0, std = 1): void {
  native.callVoid(NORMAL_.handle, target.handle, mean, std);
}

/** target ← draws from U(low, high). */
export function uniform_(target: Tensor, low = 0, high = 1): void {
  native.callVoid(UNIFORM_.handle, target.handle, low, high);
}

/** target ← Bernoulli(p) draws (0 or 1). */
export function bernoulli_(target: Tensor, p: number): void {
  native.callVoid(BERNOULLI_.handle, target.handle, p);
}

/** targets[i] += others[i]·alpha, fused. */
export function foreachAdd_(targets: readonly Tensor[], others: readonly Tensor[] | number, alpha = 1): void {
  if (typeof others === 'number') native.callVoid(FOREACH_ADD_SCALAR_.handle, handles(targets), others);
  else native.callVoid(FOREACH_ADD_LIST_.handle, handles(targets), handles(others), alpha);
}

/** targets[i] *= scalar (or others[i]), fused. */
export function foreachMul_(targets: readonly Tensor[], others: readonly Tensor[] | number): void {
  if (typeof others === 'number') native.callVoid(FOREACH_MUL_SCALAR_.handle, handles(targets), others);
  else native.callVoid(FOREACH_MUL_LIST_.handle, handles(targets), handles(others));
}

/** targets[i] /= others[i], fused. */
export function foreachDiv_(targets: readonly Tensor[], others: readonly Tensor[]): void {
  native.callVoid(FOREACH_DIV_LIST_.handle, handles(targets), handles(others));
}

/** targets[i] += value·a[i]·b[i], fused. */
export function foreachAddcmul_(targets: readonly Tensor[], a: readonly Tensor[], b: readonly Tensor[], value = 1): void {
  native.callVoid(FOREACH_ADDCMUL_.handle, handles(targets), handles(a), handles(b), value);
}

/** targets[i] += value·a[i]/b[i], fused. */
export function foreachAddcdiv_(targets: readonly Tensor[], a: readonly Tensor[], b: readonly Tensor[], value = 1): void {
  native.callVoid(FOREACH_ADDCDIV_.handle, handles(targets), handles(a), handles(b), value);
}

/** New tensors sqrt(x[i]). */
export function foreachSqrt(tensors: readonly Tensor[]): Tensor[] {
  return (native.call(FOREACH_SQRT.handle, handles(tensors)) as number[]).map((h) => new Tensor(h));
}

/** New tensors x[i] + scalar. */
export function foreachAddScalar(tensors: readonly Tensor[], scalar: number): Tensor[] {
  return (native.call(FOREACH_ADD_SCALAR.handle, handles(tensors), scalar) as number[]).map((h) => new Tensor(h));
}

/** targets[i] ← 0, fused. */
export function foreachZero_(targets: readonly Tensor[]): void {
  native.callVoid(FOREACH_ZERO_.handle, handles(targets));
}

const FOREACH_ADD_LIST = new Op('aten::_foreach_add.List');
const FOREACH_MUL_LIST = new Op('aten::_foreach_mul.List');
const FOREACH_SUB_LIST_ = new Op('aten::_foreach_sub_.List');
const FOREACH_SQRT_ = new Op('aten::_foreach_sqrt_');
const FOREACH_DIV_SCALAR_ = new Op('aten::_foreach_div_.Scalar');
const FOREACH_ADDCMUL = new Op('aten::_foreach_addcmul.Scalar');
const FOREACH_MAXIMUM_LIST_ = new Op('aten::_foreach_maximum_.List');

function tensorsOf(result: unknown): Tensor[] {
  return (result as number[]).map((h) => new Tensor(h));
}

/** New tensors a[i] + b[i]·alpha, fused (the inputs are not changed). */
export function foreachAdd(a: readonly Tensor[], b: readonly Tensor[], alpha = 1): Tensor[] {
  return tensorsOf(native.call(FOREACH_ADD_LIST.handle, handles(a), handles(b), alpha));
}

/** New tensors a[i]·b[i], fused. */
export function foreachMul(a: readonly Tensor[], b: readonly Tensor[]): Tensor[] {
  return tensorsOf(native.call(FOREACH_MUL_LIST.handle, handles(a), handles(b)));
}

/** targets[i] −= others[i]·alpha, fused. */
export function foreachSub_(targets: readonly Tensor[], others: readonly Tensor[], alpha = 1): void {
  native.callVoid(FOREACH_SUB_LIST_.handle, handles(targets), handles(others), alpha);
}

/** targets[i] ← sqrt(targets[i]), fused. */
export function foreachSqrt_(targets: readonly Tensor[]): void {
  native.callVoid(FOREACH_SQRT_.handle, handles(targets));
}

/** targets[i] /= scalar, fused. */
export function foreachDivScalar_(targets: readonly Tensor[], scalar: number): void {
  native.callVoid(FOREACH_DIV_SCALAR_.handle, handles(targets), scalar);
}

/** New tensors x[i] + value·a[i]·b[i], fused. */
export function foreachAddcmul(tensors: readonly Tensor[], a: readonly Tensor[], b: readonly Tensor[], value = 1): Tensor[] {
  return tensorsOf(native.call(FOREACH_ADDCMUL.handle, handles(tensors), handles(a), handles(b), value));
}

/** targets[i] ← max(targets[i], others[i]) elementwise, fused. */
export function foreachMaximum_(targets: readonly Tensor[], others: readonly Tensor[]): void {
  native.callVoid(FOREACH_MAXIMUM_LIST_.handle, handles(targets), handles(others));
}

const FOREACH_SUB_LIST = new Op('aten::_foreach_sub.List');

/** New tensors a[i] − b[i]·alpha, fused. */
export function foreachSub(a: readonly Tensor[], b: readonly Tensor[], alpha = 1): Tensor[] {
  return tensorsOf(native.call(FOREACH_SUB_LIST.handle, handles(a), handles(b), alpha));
}
