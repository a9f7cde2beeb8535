/**
 * The compiled libtorch binding (native/). Everything else in src/torch talks to libtorch through this object;
 * nothing outside src/torch should import it.
 *
 * The addon loads on first use, never at import: importing effnet (or running `effnet predict model.onnx`, the
 * browser page's modules, `effnet info`) needs no libtorch. `native` starts as an object of stubs; the first call
 * of any of them loads the addon and replaces every stub by the addon's own function, so later calls cost nothing
 * extra. EFFNET_ADDON names another build of the addon (a CUDA build, or a path that does not exist to prove in a
 * test that a code path never loads it).
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UserError } from '../errors.js';
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
  /** native/src/distributed.cc: a TCPStore rendezvous and a Gloo process group (resolves to its handle). */
  initProcessGroup(host: string, port: number, rank: number, worldSize: number, timeoutMs: number, iface: string, deviceHost: string, prefix: string, serveStore: boolean): Promise<number>;
  allreduce(group: number, tensor: TensorHandle, op: 'sum' | 'product' | 'min' | 'max'): Promise<void>;
  broadcast(group: number, tensor: TensorHandle, root: number): Promise<void>;
  allgather(group: number, tensor: TensorHandle): Promise<TensorHandle[]>;
  barrier(group: number): Promise<void>;
  allreduceSumDifferentiable(group: number, tensor: TensorHandle): TensorHandle;
  storeSet(group: number, key: string, value: string): void;
  storeCheck(group: number, key: string): boolean;
  destroyProcessGroup(group: number): void;
  /** native/src/device.cc: CUDA devices the linked libtorch can use (0 with a CPU build). */
  cudaDeviceCount(): number;
  /** Whether the linked libtorch was built with CUDA. */
  cudaBuilt(): boolean;
  setBackendFlags(cudnnBenchmark: boolean, allowTF32: boolean): void;
  backendFlags(): { cudnnBenchmark: boolean; allowTF32CuDNN: boolean; allowTF32CuBLAS: boolean };
  autocastState(deviceType: 'cpu' | 'cuda'): { enabled: boolean; dtype: string };
  enterAutocast(deviceType: 'cpu' | 'cuda', dtype: 'bfloat16' | 'float16'): { enabled: boolean; dtype: string };
  exitAutocast(deviceType: 'cpu' | 'cuda', enabled: boolean, dtype: string): void;
}

/** The binding's functions (everything but the libtorchVersion string); the type check below keeps the list complete. */
const FUNCTIONS = [
  'fromTypedArray', 'toTypedArray', 'shape', 'strides', 'dtype', 'device', 'numel', 'requiresGrad', 'setRequiresGrad', 'isLeaf', 'gradFn', 'grad',
  'setGrad', 'dispose', 'disposeAll', 'liveTensors', 'sameTensor', 'findOperator', 'operatorSchema', 'operatorReturns', 'operatorArguments', 'call',
  'callVoid', 'backward', 'setGradEnabled', 'isGradEnabled', 'manualSeed', 'setNumThreads', 'getNumThreads', 'initProcessGroup', 'allreduce', 'broadcast',
  'allgather', 'barrier', 'allreduceSumDifferentiable', 'storeSet', 'storeCheck', 'destroyProcessGroup', 'cudaDeviceCount', 'cudaBuilt',
  'setBackendFlags', 'backendFlags', 'autocastState', 'enterAutocast', 'exitAutocast',
] as const satisfies readonly Exclude<keyof NativeBinding, 'libtorchVersion'>[];
type Unlisted = Exclude<keyof NativeBinding, (typeof FUNCTIONS)[number] | 'libtorchVersion'>;
const everyFunctionListed: [Unlisted] extends [never] ? true : Unlisted = true;
void everyFunctionListed;

/**
 * The libtorch binding cannot be used: not built, or built against another libtorch. The user's to fix (exit code 2),
 * with the command that builds it; ONNX-only work never raises it.
 */
export class BindingUnavailableError extends UserError {
  override name = 'BindingUnavailableError';
}

const BUILD_HINT =
  'Build it with `npm run setup` in a checkout (installs libtorch-dev with apt-get, then builds the addon), or with ' +
  '`npx effnet setup` in an installed package (builds against LIBTORCH=/path or Debian\'s libtorch; `--check` says what is missing); ' +
  'ONNX-only work (`effnet predict` of an .onnx file, the browser page, effnet/web) does not need it.';

function loadBinding(): NativeBinding {
  const override = process.env.EFFNET_ADDON;
  if (override !== undefined && override !== '') return requireBinding(override);
  const here = dirname(fileURLToPath(import.meta.url));
  // dist/src/torch -> repository root; src/torch when run from sources.
  const candidates = [
    join(here, '../../../native/build/Release/effnet_torch.node'),
    join(here, '../../native/build/Release/effnet_torch.node'),
  ];
  return requireBinding(candidates.find((candidate) => existsSync(candidate)) ?? candidates[0]!);
}

function requireBinding(path: string): NativeBinding {
  if (!existsSync(path)) throw new BindingUnavailableError(`the libtorch binding is not built (${path} is missing). ${BUILD_HINT}`);
  const require = createRequire(import.meta.url);
  try {
    return require(path) as NativeBinding;
  } catch (error) {
    throw new BindingUnavailableError(`the libtorch binding ${path} could not be loaded (${(error as Error).message.split('\n')[0]}). ${BUILD_HINT}`);
  }
}

let loaded: NativeBinding | null = null;

/** Loads the addon (once) and puts its functions in place of the stubs of {@link native}. */
function load(): NativeBinding {
  if (loaded === null) {
    const binding = loadBinding();
    for (const name of FUNCTIONS) (native as unknown as Record<string, unknown>)[name] = binding[name];
    loaded = binding;
  }
  return loaded;
}

/** The binding; its functions load the addon on first call (see the module comment). */
export const native = {} as NativeBinding;
for (const name of FUNCTIONS) {
  (native as unknown as Record<string, unknown>)[name] = (...args: unknown[]): unknown => (load()[name] as (...a: unknown[]) => unknown)(...args);
}
Object.defineProperty(native, 'libtorchVersion', { enumerable: true, get: () => load().libtorchVersion });
