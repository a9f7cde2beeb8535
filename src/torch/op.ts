/**
 * Results of operator calls as Tensors, and the generic call of any ATen operator by schema name. Each typed wrapper
 * in src/torch/ops holds an `Op` (operator.ts).
 */
import { native, type NativeArgument, type NativeResult, type TensorHandle } from './native.js';
import { Op } from './operator.js';
import { Tensor } from './tensor.js';

export { Op } from './operator.js';

/** Wraps a tensor handle returned by the binding in a scope-tracked Tensor. */
export function wrap(handle: NativeResult): Tensor {
  return new Tensor(handle as TensorHandle);
}

/** Wraps each handle of a multi-output result. */
export function wrapAll(handles: NativeResult): Tensor[] {
  return (handles as TensorHandle[]).map((handle) => new Tensor(handle));
}

/** A JS value for a generic operator call: Tensors are passed by handle. */
export type OperatorArgument = Tensor | number | boolean | string | null | undefined | bigint | readonly OperatorArgument[];

/** What a generic operator call returns: Tensors for tensor results, plain values otherwise. */
export type OperatorResult = Tensor | number | boolean | string | null | undefined | OperatorResult[];

function toNative(value: OperatorArgument): NativeArgument {
  if (value instanceof Tensor) return value.handle;
  if (Array.isArray(value)) return value.map(toNative);
  return value as NativeArgument;
}

function fromNative(value: NativeResult, type: string): OperatorResult {
  if (value === null || value === undefined) return value;
  if (type.startsWith('Tensor') && !type.startsWith('Tensor[]') && typeof value === 'number') return new Tensor(value);
  if (Array.isArray(value)) {
    const element = type.endsWith('[]') ? type.slice(0, -2) : type;
    return value.map((item) => fromNative(item, element));
  }
  return value;
}

const generic = new Map<string, { op: Op; returns: string[]; args: string[] }>();

function containsTensor(value: OperatorArgument): boolean {
  if (value instanceof Tensor) return true;
  return Array.isArray(value) && value.some(containsTensor);
}

function shown(value: OperatorArgument): string {
  if (value instanceof Tensor) return value.toString();
  if (Array.isArray(value)) return `[${value.map(shown).join(', ')}]`;
  return typeof value === 'bigint' ? `${value}n` : String(value);
}

/**
 * Refuses values the binding would misread: tensors travel as slot numbers, so a plain number in a Tensor position
 * would silently name whatever tensor holds that slot, and a Tensor in a number position would pass its slot
 * number as the value.
 */
function checkArguments(name: string, types: readonly string[], args: readonly OperatorArgument[]): void {
  for (let i = 0; i < args.length && i < types.length; i++) {
    const value = args[i];
    const type = types[i]!;
    if (value === null || value === undefined) continue;
    const isList = type.endsWith('[]') || type.endsWith('[]?');
    if (type.startsWith('Tensor') && !isList) {
      if (!(value instanceof Tensor)) {
        throw new Error(
          `${name}: argument ${i} has type ${type} but got ${shown(value)}; pass a Tensor ` +
            `(for a number, make one with tensor()/full(), or call the operator's .Scalar overload)`,
        );
      }
    } else if (type.startsWith('Tensor') && isList) {
      const ok = Array.isArray(value) && value.every((item) => item instanceof Tensor || (item === null && type.startsWith('Tensor?')));
      if (!ok) throw new Error(`${name}: argument ${i} has type ${type} but got ${shown(value)}; pass an array of Tensors`);
    } else if (containsTensor(value)) {
      throw new Error(`${name}: argument ${i} has type ${type} but got ${shown(value)}; a Tensor cannot stand for a ${type}`);
    }
  }
}

/**
 * Calls any ATen operator by schema name with positional arguments (schema defaults fill the rest), for operators
 * that have no typed wrapper. Tensor results come back as Tensors; several results as an array.
 * @example callOperator('aten::hardswish', x)
 */
export function callOperator(name: string, ...args: OperatorArgument[]): OperatorResult {
  let entry = generic.get(name);
  if (entry === undefined) {
    const op = new Op(name);
    entry = { op, returns: native.operatorReturns(op.handle), args: native.operatorArguments(op.handle) };
    generic.set(name, entry);
  }
  checkArguments(name, entry.args, args);
  const result = native.call(entry.op.handle, ...args.map(toNative));
  if (entry.returns.length === 1) return fromNative(result, entry.returns[0]!);
  if (entry.returns.length === 0) return undefined;
  return (result as NativeResult[]).map((item, i) => fromNative(item, entry!.returns[i]!));
}
