/** Elementwise arithmetic, activations and comparisons. */
import { native } from '../native.js';
import { Op, wrap } from '../op.js';
import { Tensor } from '../tensor.js';

const POW = new Op('aten::pow.Tensor_Scalar');
const POW_TENSOR = new Op('aten::pow.Tensor_Tensor');
const NEG = new Op('aten::neg');
const ABS = new Op('aten::abs');
const EXP = new Op('aten::exp');
const LOG = new Op('aten::log');
const SQRT = new Op('aten::sqrt');
const RSQRT = new Op('aten::rsqrt');
const SIGMOID = new Op('aten::sigmoid');
const TANH = new Op('aten::tanh');
const RELU = new Op('aten::relu');
const SILU = new Op('aten::silu');
const GELU = new Op('aten::gelu');
const HARDSWISH = new Op('aten::hardswish');
const HARDSIGMOID = new Op('aten::hardsigmoid');
const CLAMP = new Op('aten::clamp');
const WHERE = new Op('aten::where.self');
const FLOOR = new Op('aten::floor');
const ROUND = new Op('aten::round');
const MAXIMUM = new Op('aten::maximum');
const MINIMUM = new Op('aten::minimum');
const EQ = new Op('aten::eq.Tensor');
const EQ_SCALAR = new Op('aten::eq.Scalar');
const NE = new Op('aten::ne.Tensor');
const NE_SCALAR = new Op('aten::ne.Scalar');
const LT = new Op('aten::lt.Tensor');
const LT_SCALAR = new Op('aten::lt.Scalar');
const LE = new Op('aten::le.Tensor');
const LE_SCALAR = new Op('aten::le.Scalar');
const GT = new Op('aten::gt.Tensor');
const GT_SCALAR = new Op('aten::gt.Scalar');
const GE = new Op('aten::ge.Tensor');
const GE_SCALAR = new Op('aten::ge.Scalar');
const ISFINITE = new Op('aten::isfinite');
const ISNAN = new Op('aten::isnan');
const LOGICAL_NOT = new Op('aten::logical_not');

/** a + b·alpha, broadcasting. */
export function add(a: Tensor, b: Tensor | number, alpha = 1): Tensor {
  return a.add(b, alpha);
}

/** a − b·alpha, broadcasting. */
export function sub(a: Tensor, b: Tensor | number, alpha = 1): Tensor {
  return a.sub(b, alpha);
}

/** a · b, broadcasting. */
export function mul(a: Tensor, b: Tensor | number): Tensor {
  return a.mul(b);
}

/** a / b (true division), broadcasting. */
export function div(a: Tensor, b: Tensor | number): Tensor {
  return a.div(b);
}

/** a to the power b. */
export function pow(a: Tensor, b: Tensor | number): Tensor {
  if (b instanceof Tensor) return wrap(native.call(POW_TENSOR.handle, a.handle, b.handle));
  return wrap(native.call(POW.handle, a.handle, b));
}

/** Elementwise maximum of two tensors. */
export function maximum(a: Tensor, b: Tensor): Tensor {
  return wrap(native.call(MAXIMUM.handle, a.handle, b.handle));
}

/** Elementwise minimum of two tensors. */
export function minimum(a: Tensor, b: Tensor): Tensor {
  return wrap(native.call(MINIMUM.handle, a.handle, b.handle));
}

/** −x. */
export function neg(x: Tensor): Tensor {
  return wrap(native.call(NEG.handle, x.handle));
}

/** |x|. */
export function abs(x: Tensor): Tensor {
  return wrap(native.call(ABS.handle, x.handle));
}

/** e^x. */
export function exp(x: Tensor): Tensor {
  return wrap(native.call(EXP.handle, x.handle));
}

/** Natural logarithm. */
export function log(x: Tensor): Tensor {
  return wrap(native.call(LOG.handle, x.handle));
}

/** Square root. */
export function sqrt(x: Tensor): Tensor {
  return wrap(native.call(SQRT.handle, x.handle));
}

/** 1 / sqrt(x). */
export function rsqrt(x: Tensor): Tensor {
  return wrap(native.call(RSQRT.handle, x.handle));
}

/** Largest integer not above x. */
export function floor(x: Tensor): Tensor {
  return wrap(native.call(FLOOR.handle, x.handle));
}

/** Round half to even. */
export function round(x: Tensor): Tensor {
  return wrap(native.call(ROUND.handle, x.handle));
}

/** 1 / (1 + e^−x). */
export function sigmoid(x: Tensor): Tensor {
  return wrap(native.call(SIGMOID.handle, x.handle));
}

/** Hyperbolic tangent. */
export function tanh(x: Tensor): Tensor {
  return wrap(native.call(TANH.handle, x.handle));
}

/** max(x, 0). */
export function relu(x: Tensor): Tensor {
  return wrap(native.call(RELU.handle, x.handle));
}

/** x · sigmoid(x) (also called swish), EfficientNet's activation. */
export function silu(x: Tensor): Tensor {
  return wrap(native.call(SILU.handle, x.handle));
}

/** Gaussian error linear unit (exact form, or the tanh approximation). */
export function gelu(x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  return wrap(native.call(GELU.handle, x.handle, approximate));
}

/** x · relu6(x + 3) / 6. */
export function hardswish(x: Tensor): Tensor {
  return wrap(native.call(HARDSWISH.handle, x.handle));
}

/** relu6(x + 3) / 6. */
export function hardsigmoid(x: Tensor): Tensor {
  return wrap(native.call(HARDSIGMOID.handle, x.handle));
}

/** x limited to [min, max] (either bound may be null). */
export function clamp(x: Tensor, min: number | null, max: number | null = null): Tensor {
  return wrap(native.call(CLAMP.handle, x.handle, min, max));
}

/** condition ? a : b, elementwise. */
export function where(condition: Tensor, a: Tensor, b: Tensor): Tensor {
  return wrap(native.call(WHERE.handle, condition.handle, a.handle, b.handle));
}

function compare(tensorOp: Op, scalarOp: Op, a: Tensor, b: Tensor | number): Tensor {
  if (b instanceof Tensor) return wrap(native.call(tensorOp.handle, a.handle, b.handle));
  return wrap(native.call(scalarOp.handle, a.handle, b));
}

/** a == b (bool tensor). */
export function eq(a: Tensor, b: Tensor | number): Tensor {
  return compare(EQ, EQ_SCALAR, a, b);
}

/** a != b (bool tensor). */
export function ne(a: Tensor, b: Tensor | number): Tensor {
  return compare(NE, NE_SCALAR, a, b);
}

/** a < b (bool tensor). */
export function lt(a: Tensor, b: Tensor | number): Tensor {
  return compare(LT, LT_SCALAR, a, b);
}

/** a <= b (bool tensor). */
export function le(a: Tensor, b: Tensor | number): Tensor {
  return compare(LE, LE_SCALAR, a, b);
}

/** a > b (bool tensor). */
export function gt(a: Tensor, b: Tensor | number): Tensor {
  return compare(GT, GT_SCALAR, a, b);
}

/** a >= b (bool tensor). */
export function ge(a: Tensor, b: Tensor | number): Tensor {
  return compare(GE, GE_SCALAR, a, b);
}

/** Whether each element is finite (bool tensor). */
export function isfinite(x: Tensor): Tensor {
  return wrap(native.call(ISFINITE.handle, x.handle));
}

/** Whether each element is NaN (bool tensor). */
export function isnan(x: Tensor): Tensor {
  return wrap(native.call(ISNAN.handle, x.handle));
}

/** Logical not (bool tensor). */
export function logicalNot(x: Tensor): Tensor {
  return wrap(native.call(LOGICAL_NOT.handle, x.handle));
}
