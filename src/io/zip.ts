/**
 * A minimal ZIP reader for weight archives (torch.save's zip format), driven by the central directory: stored
 * entries (what torch writes) and deflated ones (via node:zlib), zip64 sizes and offsets (torch writes them for
 * large files), CRC-32 checked on every read. Encryption, multi-disk archives and other methods are refused.
 */
import { crc32, inflateRawSync } from 'node:zlib';
import { BadFileError } from '../errors.js';
import { limit, limitVariable } from '../limits.js';

/** One file in a zip archive, as the central directory describes it. */
export interface ZipEntry {
  /** The entry's path inside the archive, e.g. `archive/data.pkl`. */
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  /** Size of the data as stored in the archive. */
  compressedSize: number;
  /** Size of the data once extracted. */
  size: number;
  /** CRC-32 of the extracted data. */
  crc32: number;
  /** Offset of the entry's local file header. */
  localHeaderOffset: number;
}

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;

/** A zip archive held in memory; read entries with `read(name)`. */
export class ZipArchive {
  /** Entries by name, in central directory order. */
  readonly entries: ReadonlyMap<string, ZipEntry>;

  /**
   * Parses the central directory of `bytes`; `source` names the file in errors. Throws a clear Error when the
   * bytes are not a zip archive or the archive is truncated.
   */
  constructor(
    private readonly bytes: Uint8Array,
    readonly source = '<buffer>',
  ) {
    this.entries = readCentralDirectory(bytes, source);
  }

  /** Whether the archive holds an entry of this name. */
  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** The names of all entries. */
  names(): string[] {
    return [...this.entries.keys()];
  }

  /**
   * The extracted bytes of one entry (a view into the archive for stored entries), CRC-checked. Throws naming the
   * entry if it is missing, truncated, corrupt or uses an unsupported method.
   */
  read(name: string): Uint8Array {
    const entry = this.entries.get(name);
    if (entry === undefined) throw new BadFileError(`zip file ${this.source}: no entry '${name}'; it holds ${this.names().slice(0, 8).join(', ')}${this.entries.size > 8 ? ', ...' : ''}`);
    const fail = (problem: string): never => {
      throw new BadFileError(`zip file ${this.source}: entry '${name}' ${problem}`);
    };
    const bytes = this.bytes;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (entry.localHeaderOffset + 30 > bytes.byteLength) fail('starts past the end of the file; the file is truncated');
    if (view.getUint32(entry.localHeaderOffset, true) !== LOCAL_SIGNATURE) fail('has no local file header where the central directory points; the file is corrupt');
    const nameLength = view.getUint16(entry.localHeaderOffset + 26, true);
    const extraLength = view.getUint16(entry.localHeaderOffset + 28, true);
    const start = entry.localHeaderOffset + 30 + nameLength + extraLength;
    const end = start + entry.compressedSize;
    if (end > bytes.byteLength) fail(`needs bytes ${start}..${end} but the file has ${bytes.byteLength}; the file is truncated`);
    const raw = bytes.subarray(start, end);
    let data: Uint8Array;
    if (entry.method === 0) {
      data = raw;
    } else if (entry.method === 8) {
      // Inflated to at most the size the directory declares: a member that would inflate further (a zip bomb whose
      // directory lies) stops there instead of filling memory first and failing the size check after.
      if (entry.size > limit('weightBytes')) {
        fail(`declares ${entry.size.toLocaleString('en-US')} bytes once inflated, over effnet's limit of ${limit('weightBytes').toLocaleString('en-US')} (${limitVariable('weightBytes')} raises it)`);
      }
      try {
        data = inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.size) });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
          return fail(`inflates to more than the ${entry.size} bytes its directory entry declares; the file is corrupt or a decompression bomb`);
        }
        return fail(`could not be inflated (${(error as Error).message}); the file is corrupt`);
      }
    } else {
      return fail(`uses compression method ${entry.method}; only stored (0) and deflate (8) are supported`);
    }
    if (data.byteLength !== entry.size) fail(`extracted to ${data.byteLength} bytes but the directory says ${entry.size}; the file is corrupt`);
    const checksum = crc32(data) >>> 0;
    if (checksum !== entry.crc32) fail(`has CRC-32 ${hex(checksum)} but the directory says ${hex(entry.crc32)}; the file is corrupt`);
    return data;
  }
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

/** Whether `bytes` begin like a zip archive (a local file header or an empty archive's end record). */
export function looksLikeZip(bytes: Uint8Array): boolean {
  if (bytes.byteLength < 4) return false;
  const signature = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  return signature === LOCAL_SIGNATURE || signature === EOCD_SIGNATURE;
}

function readCentralDirectory(bytes: Uint8Array, source: string): Map<string, ZipEntry> {
  const fail = (problem: string): never => {
    throw new BadFileError(`zip file ${source}: ${problem}`);
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 22) fail(`is ${bytes.byteLength} bytes long, too short for a zip archive; the file is truncated or not a zip file`);

  // The end-of-central-directory record is the last 22 bytes plus a comment of up to 65535 bytes.
  let eocd = -1;
  const lowest = Math.max(0, bytes.byteLength - 22 - 0xffff);
  for (let i = bytes.byteLength - 22; i >= lowest; i--) {
    if (view.getUint32(i, true) === EOCD_SIGNATURE && i + 22 + view.getUint16(i + 20, true) === bytes.byteLength) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    fail(looksLikeZip(bytes)
      ? 'has no end-of-central-directory record; the file is truncated (re-download or re-save it)'
      : 'is not a zip archive (no end-of-central-directory record)');
  }
  if (view.getUint16(eocd + 4, true) !== 0 || view.getUint16(eocd + 6, true) !== 0) fail('is a multi-disk archive, which is not supported');
  let count = view.getUint16(eocd + 10, true);
  let directorySize = view.getUint32(eocd + 12, true);
  let directoryOffset = view.getUint32(eocd + 16, true);

  if (count === 0xffff || directorySize === 0xffffffff || directoryOffset === 0xffffffff) {
    const locator = eocd - 20;
    if (locator < 0 || view.getUint32(locator, true) !== ZIP64_LOCATOR_SIGNATURE) {
      fail('has 32-bit directory fields at their zip64 marker values but no zip64 locator; the file is corrupt');
    }
    const record = safeNumber(view.getBigUint64(locator + 8, true), 'zip64 end record offset', fail);
    if (record + 56 > bytes.byteLength || view.getUint32(record, true) !== ZIP64_EOCD_SIGNATURE) {
      fail('the zip64 locator points to no zip64 end-of-central-directory record; the file is corrupt');
    }
    count = safeNumber(view.getBigUint64(record + 32, true), 'entry count', fail);
    directorySize = safeNumber(view.getBigUint64(record + 40, true), 'central directory size', fail);
    directoryOffset = safeNumber(view.getBigUint64(record + 48, true), 'central directory offset', fail);
  }
  if (directoryOffset + directorySize > bytes.byteLength) {
    fail(`the central directory (${directorySize} bytes at ${directoryOffset}) reaches past the end of the ${bytes.byteLength}-byte file; the file is truncated or corrupt`);
  }

  const entries = new Map<string, ZipEntry>();
  let p = directoryOffset;
  for (let index = 0; index < count; index++) {
    if (p + 46 > bytes.byteLength || view.getUint32(p, true) !== CENTRAL_SIGNATURE) {
      fail(`central directory entry ${index} of ${count} is missing or damaged; the file is corrupt`);
    }
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    const crc = view.getUint32(p + 16, true);
    let compressedSize = view.getUint32(p + 20, true);
    let size = view.getUint32(p + 24, true);
    const nameLength = view.getUint16(p + 28, true);
    const extraLength = view.getUint16(p + 30, true);
    const commentLength = view.getUint16(p + 32, true);
    let localHeaderOffset = view.getUint32(p + 42, true);
    const next = p + 46 + nameLength + extraLength + commentLength;
    if (next > bytes.byteLength) fail(`central directory entry ${index} runs past the end of the file; the file is truncated`);
    const name = Buffer.from(bytes.buffer, bytes.byteOffset + p + 46, nameLength).toString('utf8');
    if (flags & 1) fail(`entry '${name}' is encrypted, which is not supported`);

    // The zip64 extra field (id 1) holds, in this order, only the fields whose 32-bit slots are 0xffffffff.
    if (size === 0xffffffff || compressedSize === 0xffffffff || localHeaderOffset === 0xffffffff) {
      let q = p + 46 + nameLength;
      const extraEnd = q + extraLength;
      let found = false;
      while (q + 4 <= extraEnd) {
        const id = view.getUint16(q, true);
        const length = view.getUint16(q + 2, true);
        if (id === 1) {
          let r = q + 4;
          const take = (what: string): number => {
            if (r + 8 > q + 4 + length) fail(`entry '${name}': the zip64 extra field lacks its ${what}; the file is corrupt`);
            const value = safeNumber(view.getBigUint64(r, true), what, fail);
            r += 8;
            return value;
          };
          if (size === 0xffffffff) size = take('size');
          if (compressedSize === 0xffffffff) compressedSize = take('compressed size');
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = take('local header offset');
          found = true;
          break;
        }
        q += 4 + length;
      }
      if (!found) fail(`entry '${name}' has 32-bit fields at their zip64 marker values but no zip64 extra field; the file is corrupt`);
    }
    entries.set(name, { name, method, compressedSize, size, crc32: crc, localHeaderOffset });
    p = next;
  }
  return entries;
}

function safeNumber(value: bigint, what: string, fail: (problem: string) => never): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) fail(`the ${what} ${value} is beyond any file this reader can hold; the file is corrupt`);
  return Number(value);
}
