/**
 * Reading PyTorch checkpoints written by torch.save in its zip format (the default since PyTorch 1.6): a zip with
 * `<archive>/data.pkl` (the pickled object; storages are persistent ids), `<archive>/data/<key>` (each storage's
 * raw little-endian bytes) and `<archive>/version`. The pickle is read by the allow-list unpickler in pickle.ts,
 * so a checkpoint can name only tensors, storages and OrderedDicts: nothing in it is ever executed.
 *
 * A state dict is found at the top level, or nested under 'state_dict' or 'model' as training checkpoints (timm,
 * torchvision references) store it. The legacy pre-1.6 format is refused with a message saying how to re-save.
 */
import type { Tensor } from '../torch/index.js';
import { BadFileError } from '../errors.js';
import { limit, limitVariable } from '../limits.js';
import { readInputFile } from '../input-file.js';
import {
  allocateTypedArray,
  elementSize,
  numelOf,
  toTensor,
  typedArrayFromBytes,
  type HostData,
  type HostTensor,
} from './host-tensor.js';
import { PickleDict, TorchTensorRef, describe, unpickle, type PickleValue } from './pickle.js';
import { ZipArchive, looksLikeZip } from './zip.js';

/** A torch.save checkpoint read into JS memory. */
export interface TorchCheckpoint {
  /** The state dict's tensors by name, in file order, as contiguous host tensors. */
  stateDict: Map<string, HostTensor>;
  /** Where the state dict was: null for the top level, else the key ('state_dict' or 'model'). */
  stateDictKey: 'state_dict' | 'model' | null;
  /** The whole unpickled object (e.g. to read a training checkpoint's 'epoch'). */
  root: PickleValue;
}

/** How many times its storages' bytes the copied views of a checkpoint may take (views and transposes are legal). */
const VIEW_COPY_RATIO = 4;
/** Copies of views always allowed, whatever the storages (small expanded buffers): 64 MiB. */
const VIEW_COPY_FLOOR = 64 * 2 ** 20;

/** The keys under which training checkpoints nest their state dict, in order of preference. */
export const NESTED_STATE_DICT_KEYS = ['state_dict', 'model'] as const;

const LEGACY_ADVICE =
  'it is in the legacy (pre-1.6) torch.save format, which is not supported; re-save it in Python with ' +
  'torch.save(torch.load(path), path, _use_new_zipfile_serialization=True)';

/**
 * Reads a torch.save zip checkpoint from bytes (no libtorch involved): unpickles `data.pkl` under the allow-list,
 * finds the state dict, and rebuilds every tensor from its storage honouring storage_offset, size and stride
 * (views and transposed tensors become contiguous copies). `source` names the file in errors.
 */
export function readTorchCheckpoint(bytes: Uint8Array, source = '<buffer>'): TorchCheckpoint {
  const fail = (problem: string): never => {
    throw new BadFileError(`torch checkpoint ${source}: ${problem}`);
  };
  if (bytes.byteLength >= 2 && bytes[0] === 0x80 && bytes[1]! <= 5) fail(LEGACY_ADVICE);
  if (bytes.byteLength >= 262 && Buffer.from(bytes.buffer, bytes.byteOffset + 257, 5).toString('latin1') === 'ustar') fail(LEGACY_ADVICE);
  if (!looksLikeZip(bytes)) {
    fail('is not a torch.save checkpoint (it is neither a zip archive nor a legacy pickle); expected a file written by torch.save');
  }
  const zip = new ZipArchive(bytes, source);
  const pickleName = zip.names().find((name) => /^[^/]+\/data\.pkl$/.test(name));
  if (pickleName === undefined) fail(`the zip archive has no '<archive>/data.pkl' entry, so it was not written by torch.save (entries: ${zip.names().slice(0, 6).join(', ')})`);
  const prefix = pickleName!.slice(0, -'data.pkl'.length);
  const byteorderName = `${prefix}byteorder`;
  if (zip.has(byteorderName)) {
    const order = Buffer.from(zip.read(byteorderName)).toString('latin1').trim();
    if (order !== 'little') fail(`its storages are ${order}-endian; only little-endian checkpoints are supported (re-save on a little-endian machine)`);
  }

  const pickleEntry = zip.entries.get(pickleName!)!;
  if (pickleEntry.size > limit('headerBytes')) {
    fail(`its pickle '${pickleName}' is ${pickleEntry.size.toLocaleString('en-US')} bytes, over effnet's limit of ${limit('headerBytes').toLocaleString('en-US')} (${limitVariable('headerBytes')} raises it); a state dict's pickle is a few hundred KB`);
  }
  const root = unpickle(zip.read(pickleName!), { source: `${source}:${pickleName}` });
  if (!(root instanceof PickleDict)) fail(`the saved object is ${describe(root)}, not a state dict (a dict of tensors)`);
  const top = root as PickleDict;
  let stateDict = top;
  let stateDictKey: TorchCheckpoint['stateDictKey'] = null;
  for (const key of NESTED_STATE_DICT_KEYS) {
    const nested = top.get(key);
    if (nested instanceof PickleDict) {
      stateDict = nested;
      stateDictKey = key;
      break;
    }
  }

  // What the tensors may cost: their storages as stored, and copies of strided views of them. A stride-0 view
  // (an `expand`) of a tiny storage would otherwise become gigabytes (a 753-byte file became 3.3 GB), so the
  // copies together may not exceed VIEW_COPY_RATIO times the storages' bytes (or VIEW_COPY_FLOOR, whichever is more).
  const budget = limit('weightBytes');
  let storageBytes = 0;
  let copiedBytes = 0;
  const storages = new Map<string, HostData>();
  const storageOf = (ref: TorchTensorRef): HostData => {
    const { key, dtype, numel } = ref.storage;
    const cached = storages.get(key);
    if (cached !== undefined) return cached;
    const entry = `${prefix}data/${key}`;
    if (!zip.has(entry)) fail(`storage '${key}' is missing: no zip entry '${entry}'; the file is incomplete`);
    storageBytes += zip.entries.get(entry)!.size;
    if (storageBytes > budget) fail(`its storages hold more than effnet's limit of ${budget.toLocaleString('en-US')} bytes (${limitVariable('weightBytes')} raises it)`);
    const raw = zip.read(entry);
    const expected = numel * elementSize(dtype);
    if (raw.byteLength !== expected) fail(`storage '${key}' holds ${raw.byteLength} bytes but ${numel} ${dtype} elements need ${expected}; the file is corrupt`);
    const data = typedArrayFromBytes(dtype, raw);
    storages.set(key, data);
    return data;
  };

  const tensors = new Map<string, HostTensor>();
  for (const [name, value] of stateDict) {
    const where = stateDictKey === null ? '' : ` (under '${stateDictKey}')`;
    if (typeof name !== 'string') fail(`the state dict${where} has a key ${describe(name)}; state dict keys are strings`);
    if (!(value instanceof TorchTensorRef)) {
      fail(`state dict entry '${String(name)}'${where} is ${describe(value)}, not a tensor; expected a dict of tensors (save model.state_dict())`);
    }
    const ref = value as TorchTensorRef;
    const storage = storageOf(ref);
    const numel = numelOf(ref.size);
    const shares = ref.storageOffset === 0 && numel === storage.length;
    if (!shares) {
      copiedBytes += numel * elementSize(ref.storage.dtype);
      if (copiedBytes > Math.min(budget, Math.max(VIEW_COPY_RATIO * storageBytes, VIEW_COPY_FLOOR))) {
        fail(`its tensors are views (stride ${ref.stride.join(', ')} in '${String(name)}') that would copy ${copiedBytes.toLocaleString('en-US')} bytes or more out of ${storageBytes.toLocaleString('en-US')} bytes of storages; refused as a view bomb (a state dict's tensors are its storages, slices of them, or small expanded buffers)`);
      }
    }
    try {
      tensors.set(name as string, rebuildTensor(ref, storage));
    } catch (error) {
      fail(`tensor '${String(name)}': ${(error as Error).message}`);
    }
  }
  return { stateDict: tensors, stateDictKey, root };
}

/**
 * The contiguous row-major elements of a strided view of a storage: element (i0, i1, ...) is
 * storage[offset + i0*stride0 + i1*stride1 + ...]. When the view is exactly the whole storage in order, the result
 * shares `storage` rather than copying it (treat both as read-only). Throws if the view reaches outside the storage.
 */
export function rebuildTensor(ref: TorchTensorRef, storage: HostData): HostTensor {
  const { size, stride, storageOffset } = ref;
  const dtype = ref.storage.dtype;
  if (size.some((d) => d < 0) || stride.some((s) => s < 0) || storageOffset < 0) {
    throw new Error(`size (${size.join(', ')}), stride (${stride.join(', ')}) and offset ${storageOffset} must be non-negative`);
  }
  const n = numelOf(size);
  const shape = [...size];
  if (n === 0) return { dtype, shape, data: allocateTypedArray(dtype, 0) };
  let last = storageOffset;
  for (let d = 0; d < size.length; d++) last += (size[d]! - 1) * stride[d]!;
  if (last >= storage.length) {
    throw new Error(`size (${size.join(', ')}) with stride (${stride.join(', ')}) from offset ${storageOffset} reaches element ${last} of a storage of ${storage.length} elements; the file is corrupt`);
  }
  let contiguous = true;
  for (let d = size.length - 1, expected = 1; d >= 0; d--) {
    if (size[d] !== 1 && stride[d] !== expected) contiguous = false;
    expected *= size[d]!;
  }
  const out = allocateTypedArray(dtype, n);
  const source = storage as unknown as { [i: number]: number | bigint };
  const target = out as unknown as { [i: number]: number | bigint };
  if (contiguous) {
    // The usual case: the tensor is its whole storage; share the array (it is only ever read) instead of copying.
    if (storageOffset === 0 && n === storage.length) return { dtype, shape, data: storage };
    (out as Uint8Array).set(storage.subarray(storageOffset, storageOffset + n) as Uint8Array);
    return { dtype, shape, data: out };
  }
  // Walk the index like an odometer, keeping the storage position in step.
  const rank = size.length;
  const index = new Array<number>(rank).fill(0);
  let position = storageOffset;
  for (let i = 0; i < n; i++) {
    target[i] = source[position]!;
    for (let d = rank - 1; d >= 0; d--) {
      index[d]!++;
      position += stride[d]!;
      if (index[d]! < size[d]!) break;
      position -= index[d]! * stride[d]!;
      index[d] = 0;
    }
  }
  return { dtype, shape, data: out };
}

/**
 * Loads the state dict of a torch.save checkpoint file into libtorch tensors, keep()-ed: the caller owns them and
 * disposes them. The state dict may be the saved object itself or nested under 'state_dict' / 'model'. Tensors
 * keep their dtype, except float16/bfloat16, which become float32 (exactly). Everything is read and validated
 * before any tensor is created, so a bad file throws and allocates nothing. Synchronous.
 */
export function loadTorchCheckpoint(path: string): Map<string, Tensor> {
  const bytes = readInputFile(path, 'weightBytes', 'torch checkpoint');
  const checkpoint = readTorchCheckpoint(bytes, path);
  const tensors = new Map<string, Tensor>();
  try {
    for (const [name, host] of checkpoint.stateDict) tensors.set(name, toTensor(host));
  } catch (error) {
    for (const created of tensors.values()) created.dispose();
    throw new Error(`torch checkpoint ${path}: could not create tensors: ${(error as Error).message}`);
  }
  return tensors;
}
