/**
 * The safetensors weight format (https://github.com/huggingface/safetensors): an 8-byte little-endian unsigned
 * header length N, N bytes of UTF-8 JSON, then the raw little-endian tensor bytes. The JSON maps each tensor name
 * to `{"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}` (offsets relative to the start of the data
 * section) and may hold `"__metadata__": {string: string}`.
 *
 * `encodeSafetensors` / `decodeSafetensors` work on Buffers and host tensors (no libtorch);
 * `saveSafetensors` / `loadSafetensors` work on files and libtorch tensors.
 * Supported dtypes: F32, F64, F16, BF16, I64, I32, I16, I8, U8, BOOL.
 */
import { closeSync, constants, fsyncSync, fstatSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { DType, Tensor } from '../torch/index.js';
import { BadFileError, isUserError } from '../errors.js';
import { limit, limitVariable } from '../limits.js';
import { readInputFile } from '../input-file.js';
import {
  elementSize,
  fromTensor,
  matchesDType,
  numelOf,
  toTensor,
  typedArrayFromBytes,
  typedArrayNameFor,
  type HostTensor,
} from './host-tensor.js';

/** safetensors dtype names and ours. */
const FILE_TO_DTYPE: Record<string, DType> = {
  F32: 'float32',
  F64: 'float64',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};
const DTYPE_TO_FILE: Record<DType, string> = Object.fromEntries(
  Object.entries(FILE_TO_DTYPE).map(([file, dtype]) => [dtype, file]),
) as Record<DType, string>;

/**
 * The largest JSON header the reference implementation accepts. effnet's own bound is lower (limit('headerBytes'),
 * 64 MiB by default; B7's header is ~ 70 KB): a 97 MB header of empty tensors took 2.8 GB and 43 s to parse.
 */
export const MAX_HEADER_BYTES = 100_000_000;

/** The header bound in force: the lower of the reference's and effnet's (EFFNET_LIMIT_HEADER_BYTES). */
function headerBound(): number {
  return Math.min(MAX_HEADER_BYTES, limit('headerBytes'));
}

/** The contents of a safetensors file in JS memory. */
export interface DecodedSafetensors {
  /** Tensors by name, in the order of their data offsets. float16/bfloat16 data are raw bit patterns (Uint16Array). */
  tensors: Map<string, HostTensor>;
  /** The `__metadata__` object, or {} when the file has none. */
  metadata: Record<string, string>;
}

/** A loaded safetensors file: libtorch tensors the caller owns (keep()-ed; dispose them) and the metadata. */
export interface LoadedSafetensors {
  /** Tensors by name. F16 and BF16 tensors are converted to float32. */
  tensors: Map<string, Tensor>;
  /** The `__metadata__` object, or {} when the file has none. */
  metadata: Record<string, string>;
}

function fail(source: string, problem: string): never {
  throw new BadFileError(`safetensors file ${source}: ${problem}`);
}

/**
 * Encodes host tensors and optional string metadata as a safetensors file image. Tensors are laid out by
 * decreasing element size, then name, and the header is padded with spaces to a multiple of 8 bytes, so every
 * tensor starts at an offset aligned to its element size (as the reference writer does). float16/bfloat16 host
 * tensors must carry raw bit patterns (Uint16Array; see float32ToHalfBits).
 */
export function encodeSafetensors(tensors: ReadonlyMap<string, HostTensor>, metadata?: Record<string, string>): Buffer {
  const entries = [...tensors.entries()];
  for (const [name, host] of entries) {
    if (name === '__metadata__') throw new Error("encodeSafetensors: '__metadata__' is reserved for the metadata object; rename the tensor");
    if (DTYPE_TO_FILE[host.dtype] === undefined) {
      throw new Error(`encodeSafetensors: tensor '${name}' has dtype '${host.dtype}', which safetensors cannot store; expected one of ${Object.keys(DTYPE_TO_FILE).join(', ')}`);
    }
    if (!matchesDType(host.dtype, host.data)) {
      throw new Error(`encodeSafetensors: tensor '${name}' is ${host.dtype} and must hold a ${typedArrayNameFor(host.dtype)}, got ${host.data.constructor.name}`);
    }
    if (host.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      throw new Error(`encodeSafetensors: tensor '${name}' has shape [${host.shape.join(', ')}]; sizes must be non-negative integers`);
    }
    if (numelOf(host.shape) !== host.data.length) {
      throw new Error(`encodeSafetensors: tensor '${name}' has shape [${host.shape.join(', ')}] (${numelOf(host.shape)} elements) but ${host.data.length} data elements`);
    }
  }
  if (metadata !== undefined) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') {
        throw new Error(`encodeSafetensors: metadata '${key}' is a ${typeof value}; safetensors metadata values must be strings (JSON.stringify it)`);
      }
    }
  }
  entries.sort(([nameA, a], [nameB, b]) => elementSize(b.dtype) - elementSize(a.dtype) || (nameA < nameB ? -1 : nameA > nameB ? 1 : 0));

  const header: Record<string, unknown> = {};
  if (metadata !== undefined && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, host] of entries) {
    const end = offset + host.data.byteLength;
    header[name] = { dtype: DTYPE_TO_FILE[host.dtype], shape: host.shape, data_offsets: [offset, end] };
    offset = end;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  const out = Buffer.alloc(8 + padded + offset, 0x20);
  out.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(out, 8);
  let position = 8 + padded;
  for (const [, host] of entries) {
    out.set(new Uint8Array(host.data.buffer, host.data.byteOffset, host.data.byteLength), position);
    position += host.data.byteLength;
  }
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Decodes a safetensors file image into host tensors and metadata, validating everything: the header length
 * against the file size, the JSON, each entry's dtype, shape and offsets, that the byte count matches the shape,
 * and that the tensors tile the data section exactly (no overlap, no gap, nothing out of range, no trailing bytes).
 * `source` names the file in error messages. float16/bfloat16 tensors keep their raw bit patterns (Uint16Array).
 */
export function decodeSafetensors(bytes: Uint8Array, source = '<buffer>'): DecodedSafetensors {
  if (bytes.byteLength < 8) {
    fail(source, `is ${bytes.byteLength} bytes long, shorter than the 8-byte header length; the file is truncated or not safetensors`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(bytes.byteLength - 8)) {
    fail(source, `the header length field says ${headerLength} bytes but only ${bytes.byteLength - 8} bytes follow it; the file is truncated or not safetensors`);
  }
  const n = Number(headerLength);
  if (n > headerBound()) fail(source, `the header is ${n.toLocaleString('en-US')} bytes, over the limit of ${headerBound().toLocaleString('en-US')} (${limitVariable('headerBytes')} raises it); this is not a sane safetensors file`);
  if (n < 2) fail(source, `the header is ${n} bytes; a safetensors header is a JSON object of at least 2 bytes`);
  const text = Buffer.from(bytes.buffer, bytes.byteOffset + 8, n).toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    fail(source, `the header is not valid JSON (${(error as Error).message}); the file is corrupt or not safetensors`);
  }
  if (!isRecord(parsed)) fail(source, 'the header is not a JSON object');

  let metadata: Record<string, string> = {};
  const rawMetadata = parsed.__metadata__;
  if (rawMetadata !== undefined && rawMetadata !== null) {
    if (!isRecord(rawMetadata)) fail(source, '"__metadata__" must be an object of string values');
    for (const [key, value] of Object.entries(rawMetadata)) {
      if (typeof value !== 'string') fail(source, `"__metadata__" value '${key}' is ${JSON.stringify(value)}; metadata values must be strings`);
    }
    metadata = rawMetadata as Record<string, string>;
  }

  const count = Object.keys(parsed).length - (parsed.__metadata__ === undefined ? 0 : 1);
  if (count > limit('tensors')) fail(source, `the header lists ${count.toLocaleString('en-US')} tensors, over effnet's limit of ${limit('tensors').toLocaleString('en-US')} (${limitVariable('tensors')} raises it)`);
  const dataStart = 8 + n;
  const dataLength = bytes.byteLength - dataStart;
  const layout: { name: string; dtype: DType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, entry] of Object.entries(parsed)) {
    if (name === '__metadata__') continue;
    if (!isRecord(entry)) fail(source, `tensor '${name}': the entry must be an object with dtype, shape and data_offsets`);
    const fileDType = entry.dtype;
    if (typeof fileDType !== 'string') fail(source, `tensor '${name}': "dtype" is missing or not a string`);
    const dtype = FILE_TO_DTYPE[fileDType];
    if (dtype === undefined) {
      fail(source, `tensor '${name}': unsupported dtype '${fileDType}'; supported: ${Object.keys(FILE_TO_DTYPE).join(', ')}`);
    }
    const shape = entry.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      fail(source, `tensor '${name}': "shape" must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    const offsets = entry.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)) {
      fail(source, `tensor '${name}': "data_offsets" must be [begin, end] with non-negative integers, got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) fail(source, `tensor '${name}': data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataLength) {
      fail(source, `tensor '${name}': data_offsets [${begin}, ${end}] reach past the ${dataLength}-byte data section; the file is truncated or corrupt`);
    }
    const expected = numelOf(shape as number[]) * elementSize(dtype);
    if (end - begin !== expected) {
      fail(source, `tensor '${name}': shape [${(shape as number[]).join(', ')}] of ${fileDType} needs ${expected} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`);
    }
    layout.push({ name, dtype, shape: shape as number[], begin, end });
  }

  layout.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous = '';
  for (const item of layout) {
    if (item.begin < covered) {
      fail(source, `tensor '${item.name}': data_offsets [${item.begin}, ${item.end}] overlap tensor '${previous}', which ends at ${covered}`);
    }
    if (item.begin > covered) {
      fail(source, `tensor '${item.name}': data_offsets begin at ${item.begin} but the previous tensor ends at ${covered}; the data section has a gap`);
    }
    covered = item.end;
    previous = item.name;
  }
  if (covered !== dataLength) {
    fail(source, `the tensors cover ${covered} bytes of data but ${dataLength} bytes follow the header; the file is corrupt`);
  }

  const tensors = new Map<string, HostTensor>();
  for (const item of layout) {
    const slice = bytes.subarray(dataStart + item.begin, dataStart + item.end);
    tensors.set(item.name, { dtype: item.dtype, shape: item.shape, data: typedArrayFromBytes(item.dtype, slice) });
  }
  return { tensors, metadata };
}

/**
 * Writes `content` to `path` atomically: into a temporary file in the same directory, fsync-ed, then renamed over
 * `path`, so a crash leaves either the old file or the new one, never a partial file.
 */
export function writeFileAtomic(path: string, content: Uint8Array): void {
  const directory = dirname(path);
  const temporary = join(directory, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let fd = -1;
  try {
    fd = openSync(temporary, 'wx', 0o644);
    let written = 0;
    while (written < content.byteLength) written += writeSync(fd, content, written, content.byteLength - written);
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameSync(temporary, path);
  } catch (error) {
    if (fd >= 0) closeSync(fd);
    rmSync(temporary, { force: true });
    throw new Error(`could not write ${path}: ${(error as Error).message}`);
  }
  // Persist the rename itself; some file systems do not allow fsync on a directory, which is harmless.
  try {
    const dirFd = openSync(directory, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch {
    // The data file is already synced and renamed.
  }
}

/**
 * Saves libtorch tensors (any device, any supported dtype; non-contiguous tensors are written in row-major order)
 * and optional string metadata to a safetensors file, atomically (temporary file, fsync, rename). Synchronous.
 */
export function saveSafetensors(path: string, tensors: ReadonlyMap<string, Tensor>, metadata?: Record<string, string>): void {
  const hosts = new Map<string, HostTensor>();
  for (const [name, value] of tensors) {
    try {
      hosts.set(name, fromTensor(value));
    } catch (error) {
      throw new Error(`saveSafetensors(${path}): could not read tensor '${name}': ${(error as Error).message}`);
    }
  }
  let image: Buffer;
  try {
    image = encodeSafetensors(hosts, metadata);
  } catch (error) {
    throw new Error(`saveSafetensors(${path}): ${(error as Error).message}`);
  }
  writeFileAtomic(path, image);
}

/**
 * Loads a safetensors file into libtorch tensors created with `tensor()` and keep()-ed: the caller owns them and
 * must dispose them. F16 and BF16 tensors are converted to float32 (exactly); every other dtype keeps its type.
 * The whole file is validated before any tensor is created, so a bad file throws and allocates nothing.
 */
export function loadSafetensors(path: string): LoadedSafetensors {
  const bytes = readInputFile(path, 'weightBytes', 'safetensors file');
  const decoded = decodeSafetensors(bytes, path);
  const tensors = new Map<string, Tensor>();
  try {
    for (const [name, host] of decoded.tensors) tensors.set(name, toTensor(host));
  } catch (error) {
    for (const created of tensors.values()) created.dispose();
    // The user's to fix as it is (e.g. the libtorch binding is not built): passed on unchanged.
    if (isUserError(error)) throw error;
    throw new Error(`safetensors file ${path}: could not create tensors: ${(error as Error).message}`);
  }
  return { tensors, metadata: decoded.metadata };
}

/**
 * The `__metadata__` of a safetensors file without reading its tensors (only the 8-byte length and the header), so
 * that a reader can tell a model file from a checkpoint, or read a model card, cheaply.
 * @throws when the file cannot be read or its header is not a safetensors header
 */
export function readSafetensorsMetadata(path: string): Record<string, string> {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw new BadFileError(`could not read safetensors file ${path}: ${(error as Error).message}`);
  }
  try {
    if (!fstatSync(fd).isFile()) fail(path, 'is not a regular file; expected a safetensors file on disk');
    const head = Buffer.alloc(8);
    if (readSync(fd, head, 0, 8, 0) < 8) fail(path, 'is shorter than the 8-byte header length; the file is truncated or not safetensors');
    const length = head.readBigUInt64LE(0);
    if (length < 2n) fail(path, `the header length field says ${length} bytes; this is not a safetensors file`);
    if (length > BigInt(headerBound())) fail(path, `the header length field says ${length} bytes, over the limit of ${headerBound().toLocaleString('en-US')} (${limitVariable('headerBytes')} raises it); this is not a sane safetensors file`);
    const header = Buffer.alloc(Number(length));
    if (readSync(fd, header, 0, header.length, 8) < header.length) fail(path, `the header is cut short (${length} bytes announced); the file is truncated`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(header.toString('utf8'));
    } catch (error) {
      fail(path, `the header is not valid JSON (${(error as Error).message}); the file is corrupt or not safetensors`);
    }
    if (!isRecord(parsed)) fail(path, 'the header is not a JSON object');
    const raw = parsed.__metadata__;
    if (raw === undefined || raw === null) return {};
    if (!isRecord(raw) || !Object.values(raw).every((v) => typeof v === 'string')) fail(path, '"__metadata__" must be an object of string values');
    return raw as Record<string, string>;
  } finally {
    closeSync(fd);
  }
}
