/**
 * An allow-list unpickler for what torch.save writes for a state dict (pickle protocol 2; the protocol 3/4
 * framing and byte opcodes are read too). It only ever builds data: there is no code to run, and every GLOBAL /
 * STACK_GLOBAL is checked against `ALLOWED_GLOBALS` the moment it is read, so a pickle naming anything else
 * (`os.system`, `builtins.eval`, `subprocess.Popen`, `torch.storage._load_from_bytes`, ...) throws an Error naming
 * that global before any later opcode is even looked at.
 *
 * Python values map to JS as: None → null, bool → boolean, int → number (bigint beyond 2^53), float → number,
 * str → string, bytes → Uint8Array, list → array, tuple → PickleTuple, dict / OrderedDict → PickleDict,
 * the allowed torch globals → TorchStorageRef / TorchTensorRef (descriptions; the caller reads the storage bytes).
 */
import type { DType } from '../torch/index.js';
import { BadFileError } from '../errors.js';
import { limit, limitVariable } from '../limits.js';

/** A Python tuple. */
export class PickleTuple {
  /** @param items the tuple's elements */
  constructor(readonly items: readonly PickleValue[]) {}
}

/** A Python dict or collections.OrderedDict (insertion ordered either way), with attributes set by BUILD. */
export class PickleDict extends Map<PickleValue, PickleValue> {
  /** Instance attributes from BUILD, e.g. the `_metadata` that nn.Module.state_dict() attaches. */
  readonly attributes = new Map<string, PickleValue>();

  /** @param className `dict` or `collections.OrderedDict` */
  constructor(readonly className: 'dict' | 'collections.OrderedDict' = 'dict') {
    super();
  }
}

/** An allow-listed global used as a value, e.g. the storage class `torch.FloatStorage` inside a persistent id. */
export class PickleGlobal {
  /** @param module the Python module @param name the attribute */
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}

  /** `module.name`. */
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A storage named by a persistent id ('storage', storage_type, key, location, numel) of torch.save. */
export class TorchStorageRef {
  /**
   * @param dtype element type, from the storage class
   * @param key the storage's record name: its bytes are the zip entry `<archive>/data/<key>`
   * @param location the device it was saved from, e.g. `cpu` or `cuda:0`
   * @param numel number of elements in the storage
   */
  constructor(
    readonly dtype: DType,
    readonly key: string,
    readonly location: string,
    readonly numel: number,
  ) {}
}

/** A tensor as torch._utils._rebuild_tensor_v2 describes it: a strided view of a storage. */
export class TorchTensorRef {
  /**
   * @param storage where the elements live
   * @param storageOffset index of the first element in the storage
   * @param size sizes of each dimension
   * @param stride strides of each dimension, in elements
   * @param requiresGrad the saved requires_grad flag
   */
  constructor(
    readonly storage: TorchStorageRef,
    readonly storageOffset: number,
    readonly size: readonly number[],
    readonly stride: readonly number[],
    readonly requiresGrad: boolean,
  ) {}
}

/** Any value the unpickler can produce. */
export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleValue[]
  | PickleTuple
  | PickleDict
  | PickleGlobal
  | TorchStorageRef
  | TorchTensorRef;

/** Storage classes and the dtypes of their elements. */
export const STORAGE_DTYPES: Readonly<Record<string, DType>> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};

/** The only globals a pickle may name: everything else throws. */
export const ALLOWED_GLOBALS: readonly string[] = [
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  ...Object.keys(STORAGE_DTYPES).map((name) => `torch.${name}`),
];
const ALLOWED = new Set(ALLOWED_GLOBALS);

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Options of `unpickle`. */
export interface UnpickleOptions {
  /** Names the pickle (e.g. `model.pth:archive/data.pkl`) in error messages; default `<pickle>`. */
  source?: string;
}

/**
 * Reads one pickle into JS values (see the module comment for the mapping). Throws an Error naming the source and
 * the problem on a global outside `ALLOWED_GLOBALS`, an unsupported opcode, a malformed torch construct, or a
 * truncated pickle.
 */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions = {}): PickleValue {
  return new Unpickler(bytes, options.source ?? '<pickle>').run();
}

class Unpickler {
  private position = 0;
  private readonly view: DataView;
  private stack: PickleValue[] = [];
  private readonly marks: PickleValue[][] = [];
  private readonly memo = new Map<number, PickleValue>();

  constructor(
    private readonly bytes: Uint8Array,
    private readonly source: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private fail(problem: string): never {
    throw new BadFileError(`pickle ${this.source}: ${problem}`);
  }

  private need(n: number, what: string): number {
    const at = this.position;
    if (at + n > this.bytes.byteLength) this.fail(`truncated: ${what} at byte ${at} needs ${n} bytes but the pickle ends at ${this.bytes.byteLength}`);
    this.position += n;
    return at;
  }

  private u8(): number {
    return this.bytes[this.need(1, 'a 1-byte argument')]!;
  }

  private u16(): number {
    return this.view.getUint16(this.need(2, 'a 2-byte argument'), true);
  }

  private u32(): number {
    return this.view.getUint32(this.need(4, 'a 4-byte argument'), true);
  }

  private u64(): number {
    const value = this.view.getBigUint64(this.need(8, 'an 8-byte argument'), true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`a length of ${value} bytes is impossible; the pickle is corrupt`);
    return Number(value);
  }

  private take(n: number, what: string): Uint8Array {
    const at = this.need(n, what);
    return this.bytes.subarray(at, at + n);
  }

  private text(n: number): string {
    const raw = this.take(n, 'a string');
    try {
      return utf8.decode(raw);
    } catch {
      return this.fail(`a string at byte ${this.position - n} is not valid UTF-8; the pickle is corrupt`);
    }
  }

  private line(): string {
    const start = this.position;
    const end = this.bytes.indexOf(0x0a, start);
    if (end < 0) this.fail(`truncated: a GLOBAL name at byte ${start} has no terminating newline`);
    this.position = end + 1;
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset + start, end - start).toString('latin1');
  }

  private push(value: PickleValue): void {
    this.stack.push(value);
  }

  private pop(what: string): PickleValue {
    if (this.stack.length === 0) this.fail(`${what} found no value above the last MARK; the pickle is corrupt`);
    return this.stack.pop()!;
  }

  private top(what: string): PickleValue {
    const value = this.stack[this.stack.length - 1];
    if (value === undefined) this.fail(`${what} needs a value on the stack; the pickle is corrupt`);
    return value;
  }

  private popMark(what: string): PickleValue[] {
    const items = this.stack;
    const previous = this.marks.pop();
    if (previous === undefined) this.fail(`${what} without a preceding MARK; the pickle is corrupt`);
    this.stack = previous;
    return items;
  }

  private resolveGlobal(module: string, name: string): PickleGlobal {
    const qualified = `${module}.${name}`;
    if (!ALLOWED.has(qualified)) {
      this.fail(
        `refusing global '${qualified}': only ${ALLOWED_GLOBALS.join(', ')} are allowed in a weight file. ` +
          'This file may run code when loaded by Python; if you trust it, load it in Python and re-save only the ' +
          'state dict (torch.save(model.state_dict(), path)) or convert it to safetensors',
      );
    }
    return new PickleGlobal(module, name);
  }

  private memoPut(index: number): void {
    this.memo.set(index, this.top('BINPUT'));
  }

  private memoGet(index: number): void {
    const value = this.memo.get(index);
    if (value === undefined) this.fail(`BINGET of memo slot ${index}, which was never set; the pickle is corrupt`);
    this.push(value);
  }

  private int(value: PickleValue, what: string): number {
    if (typeof value !== 'number' || !Number.isInteger(value)) this.fail(`${what} must be an integer, got ${describe(value)}`);
    return value;
  }

  private intTuple(value: PickleValue, what: string): number[] {
    if (!(value instanceof PickleTuple)) this.fail(`${what} must be a tuple of integers, got ${describe(value)}`);
    return value.items.map((item) => this.int(item, `${what} element`));
  }

  private reduce(callable: PickleValue, args: PickleValue): PickleValue {
    if (!(callable instanceof PickleGlobal)) this.fail(`REDUCE needs a callable global, got ${describe(callable)}; the pickle is corrupt`);
    if (!(args instanceof PickleTuple)) this.fail(`REDUCE of ${callable.qualifiedName} needs an argument tuple, got ${describe(args)}`);
    const a = args.items;
    switch (callable.qualifiedName) {
      case 'collections.OrderedDict': {
        const dict = new PickleDict('collections.OrderedDict');
        if (a.length === 0) return dict;
        const pairs = a[0];
        if (a.length === 1 && Array.isArray(pairs)) {
          for (const pair of pairs) {
            if (!(pair instanceof PickleTuple) || pair.items.length !== 2) this.fail(`OrderedDict(...) items must be (key, value) tuples, got ${describe(pair)}`);
            dict.set(pair.items[0]!, pair.items[1]!);
          }
          return dict;
        }
        return this.fail(`OrderedDict takes no arguments or a list of pairs here, got ${a.length} arguments`);
      }
      case 'torch._utils._rebuild_tensor_v2': {
        if (a.length !== 6 && a.length !== 7) this.fail(`_rebuild_tensor_v2 takes 6 or 7 arguments, got ${a.length}`);
        const storage = a[0];
        if (!(storage instanceof TorchStorageRef)) this.fail(`_rebuild_tensor_v2's storage must be a persistent storage id, got ${describe(storage!)}`);
        const offset = this.int(a[1]!, '_rebuild_tensor_v2 storage_offset');
        const size = this.intTuple(a[2]!, '_rebuild_tensor_v2 size');
        const stride = this.intTuple(a[3]!, '_rebuild_tensor_v2 stride');
        if (size.length !== stride.length) this.fail(`_rebuild_tensor_v2 has size (${size.join(', ')}) but stride (${stride.join(', ')}) of another length`);
        const requiresGrad = a[4];
        if (typeof requiresGrad !== 'boolean') this.fail(`_rebuild_tensor_v2 requires_grad must be a bool, got ${describe(requiresGrad!)}`);
        const hooks = a[5];
        if (!(hooks instanceof PickleDict) || hooks.size > 0) {
          this.fail('_rebuild_tensor_v2 backward_hooks must be an empty OrderedDict; hooks cannot be restored from a weight file');
        }
        return new TorchTensorRef(storage, offset, size, stride, requiresGrad);
      }
      case 'torch._utils._rebuild_parameter': {
        if (a.length !== 3) this.fail(`_rebuild_parameter takes 3 arguments, got ${a.length}`);
        const data = a[0];
        if (!(data instanceof TorchTensorRef)) this.fail(`_rebuild_parameter's data must be a tensor, got ${describe(data!)}`);
        const requiresGrad = a[1];
        if (typeof requiresGrad !== 'boolean') this.fail(`_rebuild_parameter requires_grad must be a bool, got ${describe(requiresGrad!)}`);
        return new TorchTensorRef(data.storage, data.storageOffset, data.size, data.stride, requiresGrad);
      }
      default:
        return this.fail(`${callable.qualifiedName} is allowed only as a value (a storage type), not as a call`);
    }
  }

  private persistent(pid: PickleValue): TorchStorageRef {
    if (!(pid instanceof PickleTuple) || pid.items.length !== 5 || pid.items[0] !== 'storage') {
      this.fail(`persistent id ${describe(pid)} is not ('storage', storage_type, key, location, numel)`);
    }
    const [, type, key, location, numel] = pid.items;
    if (!(type instanceof PickleGlobal) || type.module !== 'torch' || STORAGE_DTYPES[type.name] === undefined) {
      this.fail(`persistent id names storage type ${describe(type!)}; expected one of ${Object.keys(STORAGE_DTYPES).map((n) => `torch.${n}`).join(', ')}`);
    }
    if (typeof key !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(key) || key.includes('..')) {
      this.fail(`persistent id storage key ${describe(key!)} must be a plain record name`);
    }
    if (typeof location !== 'string') this.fail(`persistent id location must be a string, got ${describe(location!)}`);
    const count = this.int(numel!, 'persistent id numel');
    if (count < 0) this.fail(`persistent id numel is ${count}`);
    return new TorchStorageRef(STORAGE_DTYPES[type.name]!, key, location, count);
  }

  run(): PickleValue {
    const bytes = this.bytes;
    for (;;) {
      if (this.position >= bytes.byteLength) this.fail(`truncated: the pickle ends at byte ${bytes.byteLength} without a STOP opcode`);
      const at = this.position;
      const op = bytes[this.position++]!;
      switch (op) {
        case 0x80: { // PROTO
          const protocol = this.u8();
          if (protocol > 5) this.fail(`pickle protocol ${protocol} is not supported (expected 2 to 5)`);
          break;
        }
        case 0x95: // FRAME: an 8-byte frame length; the frame's opcodes follow inline
          this.u64();
          break;
        case 0x2e: // STOP
          return this.pop('STOP');
        case 0x28: // MARK
          if (this.marks.length >= limit('pickleDepth')) this.fail(`containers are nested more than ${limit('pickleDepth')} deep (${limitVariable('pickleDepth')} raises the bound); no state dict is, the pickle is forged or corrupt`);
          this.marks.push(this.stack);
          this.stack = [];
          break;
        case 0x7d: // EMPTY_DICT
          this.push(new PickleDict('dict'));
          break;
        case 0x5d: // EMPTY_LIST
          this.push([]);
          break;
        case 0x29: // EMPTY_TUPLE
          this.push(new PickleTuple([]));
          break;
        case 0x58: // BINUNICODE
          this.push(this.text(this.u32()));
          break;
        case 0x8c: // SHORT_BINUNICODE
          this.push(this.text(this.u8()));
          break;
        case 0x8d: // BINUNICODE8
          this.push(this.text(this.u64()));
          break;
        case 0x43: // SHORT_BINBYTES
          this.push(this.take(this.u8(), 'bytes').slice());
          break;
        case 0x42: // BINBYTES
          this.push(this.take(this.u32(), 'bytes').slice());
          break;
        case 0x8e: // BINBYTES8
          this.push(this.take(this.u64(), 'bytes').slice());
          break;
        case 0x4a: // BININT
          this.push(this.view.getInt32(this.need(4, 'BININT'), true));
          break;
        case 0x4b: // BININT1
          this.push(this.u8());
          break;
        case 0x4d: // BININT2
          this.push(this.u16());
          break;
        case 0x8a: // LONG1
          this.push(this.long(this.u8()));
          break;
        case 0x8b: { // LONG4
          const n = this.view.getInt32(this.need(4, 'LONG4'), true);
          if (n < 0 || n > 64) this.fail(`LONG4 of ${n} bytes; integers in weight files fit in 64 bytes`);
          this.push(this.long(n));
          break;
        }
        case 0x47: // BINFLOAT (big-endian)
          this.push(this.view.getFloat64(this.need(8, 'BINFLOAT'), false));
          break;
        case 0x4e: // NONE
          this.push(null);
          break;
        case 0x88: // NEWTRUE
          this.push(true);
          break;
        case 0x89: // NEWFALSE
          this.push(false);
          break;
        case 0x74: // TUPLE
          this.push(new PickleTuple(this.popMark('TUPLE')));
          break;
        case 0x85: // TUPLE1
          this.push(new PickleTuple([this.pop('TUPLE1')]));
          break;
        case 0x86: { // TUPLE2
          const b = this.pop('TUPLE2');
          const a = this.pop('TUPLE2');
          this.push(new PickleTuple([a, b]));
          break;
        }
        case 0x87: { // TUPLE3
          const c = this.pop('TUPLE3');
          const b = this.pop('TUPLE3');
          const a = this.pop('TUPLE3');
          this.push(new PickleTuple([a, b, c]));
          break;
        }
        case 0x6c: // LIST
          this.push(this.popMark('LIST'));
          break;
        case 0x64: { // DICT
          const items = this.popMark('DICT');
          const dict = new PickleDict('dict');
          this.setItems(dict, items, 'DICT');
          this.push(dict);
          break;
        }
        case 0x73: { // SETITEM
          const value = this.pop('SETITEM');
          const key = this.pop('SETITEM');
          const dict = this.top('SETITEM');
          if (!(dict instanceof PickleDict)) this.fail(`SETITEM on ${describe(dict)}, not a dict`);
          dict.set(key, value);
          break;
        }
        case 0x75: { // SETITEMS
          const items = this.popMark('SETITEMS');
          const dict = this.top('SETITEMS');
          if (!(dict instanceof PickleDict)) this.fail(`SETITEMS on ${describe(dict)}, not a dict`);
          this.setItems(dict, items, 'SETITEMS');
          break;
        }
        case 0x61: { // APPEND
          const value = this.pop('APPEND');
          const list = this.top('APPEND');
          if (!Array.isArray(list)) this.fail(`APPEND on ${describe(list)}, not a list`);
          list.push(value);
          break;
        }
        case 0x65: { // APPENDS
          const items = this.popMark('APPENDS');
          const list = this.top('APPENDS');
          if (!Array.isArray(list)) this.fail(`APPENDS on ${describe(list)}, not a list`);
          for (const item of items) list.push(item);
          break;
        }
        case 0x71: // BINPUT
          this.memoPut(this.u8());
          break;
        case 0x72: // LONG_BINPUT
          this.memoPut(this.u32());
          break;
        case 0x94: // MEMOIZE
          this.memoPut(this.memo.size);
          break;
        case 0x68: // BINGET
          this.memoGet(this.u8());
          break;
        case 0x6a: // LONG_BINGET
          this.memoGet(this.u32());
          break;
        case 0x63: { // GLOBAL: "module\nname\n"
          const module = this.line();
          const name = this.line();
          this.push(this.resolveGlobal(module, name));
          break;
        }
        case 0x93: { // STACK_GLOBAL
          const name = this.pop('STACK_GLOBAL');
          const module = this.pop('STACK_GLOBAL');
          if (typeof module !== 'string' || typeof name !== 'string') this.fail('STACK_GLOBAL needs a module and a name string');
          this.push(this.resolveGlobal(module, name));
          break;
        }
        case 0x52: { // REDUCE
          const args = this.pop('REDUCE');
          const callable = this.pop('REDUCE');
          this.push(this.reduce(callable, args));
          break;
        }
        case 0x62: { // BUILD
          const state = this.pop('BUILD');
          const target = this.top('BUILD');
          if (!(target instanceof PickleDict) || !(state instanceof PickleDict)) {
            this.fail(`BUILD of ${describe(target)} with state ${describe(state)}; only attributes on a dict are supported`);
          }
          for (const [key, value] of state) {
            if (typeof key !== 'string') this.fail(`BUILD attribute name ${describe(key)} is not a string`);
            target.attributes.set(key, value);
          }
          break;
        }
        case 0x51: // BINPERSID
          this.push(this.persistent(this.pop('BINPERSID')));
          break;
        case 0x30: // POP
          if (this.stack.length > 0) this.stack.pop();
          else this.popMark('POP');
          break;
        case 0x31: // POP_MARK
          this.popMark('POP_MARK');
          break;
        case 0x32: // DUP
          this.push(this.top('DUP'));
          break;
        default:
          this.fail(`unsupported opcode 0x${op.toString(16).padStart(2, '0')} ('${String.fromCharCode(op)}') at byte ${at}; a torch.save state dict does not use it`);
      }
    }
  }

  private setItems(dict: PickleDict, items: PickleValue[], what: string): void {
    if (items.length % 2 !== 0) this.fail(`${what} has an odd number of items (${items.length}); the pickle is corrupt`);
    for (let i = 0; i < items.length; i += 2) dict.set(items[i]!, items[i + 1]!);
  }

  private long(n: number): number | bigint {
    const raw = this.take(n, 'LONG');
    if (n === 0) return 0;
    let value = 0n;
    for (let i = n - 1; i >= 0; i--) value = (value << 8n) | BigInt(raw[i]!);
    if (raw[n - 1]! & 0x80) value -= 1n << BigInt(8 * n);
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  }
}

/** A short description of a pickled value for error messages. */
export function describe(value: PickleValue, depth = 0): string {
  if (value === null) return 'None';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value !== 'object') return String(value);
  if (value instanceof PickleTuple) {
    // Bounded in depth and length: a forged pickle of tuples nested 100,000 deep overflowed the stack here.
    if (depth >= 2) return `tuple of ${value.items.length} items`;
    const shown = value.items.slice(0, 8).map((item) => describe(item, depth + 1));
    return `tuple(${shown.join(', ')}${value.items.length > 8 ? `, ... ${value.items.length - 8} more` : ''})`;
  }
  if (value instanceof PickleDict) return `${value.className} of ${value.size} items`;
  if (value instanceof PickleGlobal) return value.qualifiedName;
  if (value instanceof TorchStorageRef) return `storage '${value.key}' (${value.dtype})`;
  if (value instanceof TorchTensorRef) return `tensor [${value.size.join(', ')}] (${value.storage.dtype})`;
  if (value instanceof Uint8Array) return `bytes of length ${value.length}`;
  return `list of ${value.length} items`;
}
