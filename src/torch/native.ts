/**
 * The compiled libtorch binding (native/). Everything else in src/torch talks to libtorch through this object;
 * nothing outside src/torch should import it.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A tensor slot in the binding's per-thread table (a plain number; the JS Tensor owns it). */
export type TensorHandle = number;
/** A resolved operator in the binding's registry. */
export type OperatorHandle = number;

/** A value the binding accepts as an operator argument. */
export type NativeArgument =
  | TensorHandle
  | number
  | boolean
  | string
  | null
  | undefined
  | bigint
  | readonly NativeArgument[];

/** What the binding returns from an operator call: tensor handles, numbers, booleans, arrays of those. */
export type NativeResult = number | boolean | string | null | undefined | NativeResult[];

/** The functions exported by native/src/*.cc. */
export interface NativeBinding {
  readonly libtorchVersion: string;
  fromTypedArray(data: ArrayBufferView, shape: readonly number[], dtype?: 'bool'): TensorHandle;
  toTypedArray(tensor: TensorHandle): Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;
  shape(tensor: TensorHandle): number[];
  strides(tensor: TensorHandle): number[];
  dtype(tensor: TensorHandle): string;
  device(tensor: TensorHandle): string;
  numel(tensor: TensorHandle): number;
  requiresGrad(tensor: TensorHandle): boolean;
  setRequiresGrad(tensor: TensorHandle, flag: boolean): void;
  isLeaf(tensor: TensorHandle): boolean;
  gradFn(tensor: TensorHandle): string | null;
  grad(tensor: TensorHandle): TensorHandle | null;
  setGrad(tensor: TensorHandle, grad: TensorHandle | null): void;
  dispose(tensor: TensorHandle): void;
  disposeAll(tensors: readonly TensorHandle[] | Int32Array, count?: number): void;
  liveTensors(): number;
  sameTensor(a: TensorHandle, b: TensorHandle): boolean;
  findOperator(name: string): OperatorHandle;
  operatorSchema(op: OperatorHandle): string;
  operatorReturns(op: OperatorHandle): string[];
  /** The schema's argument types in order ("Tensor", "Tensor?", "int[]", "Scalar", ...). */
  operatorArguments(op: OperatorHandle): string[];
  call(op: OperatorHandle, ...args: NativeArgument[]): NativeResult;
  callVoid(op: OperatorHandle, ...args: NativeArgument[]): void;
  backward(tensor: TensorHandle, grad: TensorHandle | null, retainGraph: boolean): void;
  setGradEnabled(enabled: boolean): void;
  isGradEnabled(): boolean;
  manualSeed(seed: number): void;
  setNumThreads(threads: number): void;
  getNumThreads(): number;
}

function loadBinding(): NativeBinding {
  const here = dirname(fileURLToPath(import.meta.url));
  // dist/src/torch -> repository root; src/torch when run from sources.
  const candidates = [
    join(here, '../../../native/build/Release/effnet_torch.node'),
    join(here, '../../native/build/Release/effnet_torch.node'),
  ];
  const path = candidates.find((candidate) => existsSync(candidate));
  if (!path) {
    throw new Error(
      'effnet: the libtorch binding is not built (native/build/Release/effnet_torch.node is missing). ' +
        'Run `npm run setup` (it installs libtorch-dev and builds the addon).',
    );
  }
  const require = createRequire(import.meta.url);
  return require(path) as NativeBinding;
}

/** The loaded binding. */
export const native: NativeBinding = loadBinding();
