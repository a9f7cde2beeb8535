/**
 * A minimal reader of tar archives held in memory (POSIX ustar, GNU long names, pax `path`/`size` records): it
 * lists regular-file members with their byte offsets so that their contents can be sliced without unpacking.
 * `.tar.gz`/`.tgz` input is gunzipped in memory first (detected from the content).
 */
import { gunzipSync } from 'node:zlib';
import { BadFileError } from '../errors.js';
import { limit, limitVariable } from '../limits.js';

/** One regular file inside an archive. */
export interface TarMember {
  /** Path inside the archive, `/`-separated, without a leading `./`. */
  name: string;
  /** Offset of the member's first content byte in the (uncompressed) archive. */
  offset: number;
  /** Content length in bytes. */
  size: number;
}

const BLOCK = 512;

function readString(block: Uint8Array, start: number, length: number): string {
  let end = start;
  while (end < start + length && block[end] !== 0) end++;
  return Buffer.from(block.buffer, block.byteOffset + start, end - start).toString('utf8');
}

function readOctal(block: Uint8Array, start: number, length: number, where: string): number {
  if (block[start]! & 0x80) {
    // GNU base-256 encoding for sizes of 8 GiB and more.
    let value = block[start]! & 0x7f;
    for (let i = 1; i < length; i++) value = value * 256 + block[start + i]!;
    return value;
  }
  const text = readString(block, start, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new BadFileError(`${where}: bad octal field "${text}" in a tar header; the archive is corrupt`);
  return parseInt(text, 8);
}

/**
 * The records of a pax extended header: "LENGTH key=value\n", LENGTH counting the whole record in bytes. A record
 * that does not parse is an error, not the end of the header (that silently cut archives short).
 */
function parsePax(data: Uint8Array, where: string): Map<string, string> {
  const records = new Map<string, string>();
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let pos = 0;
  while (pos < bytes.length) {
    if (bytes[pos] === 0) break; // padding after the last record
    const space = bytes.indexOf(0x20, pos);
    const lengthText = space < 0 ? '' : bytes.toString('latin1', pos, space);
    const length = /^[1-9]\d{0,9}$/.test(lengthText) ? Number(lengthText) : NaN;
    if (!(length > lengthText.length + 1) || pos + length > bytes.length || bytes[pos + length - 1] !== 0x0a) {
      throw new BadFileError(`${where}: a pax extended header has a malformed record at byte ${pos}; the archive is corrupt`);
    }
    const record = bytes.toString('utf8', space + 1, pos + length - 1);
    const eq = record.indexOf('=');
    if (eq <= 0) throw new BadFileError(`${where}: a pax record at byte ${pos} has no key=value; the archive is corrupt`);
    records.set(record.slice(0, eq), record.slice(eq + 1));
    pos += length;
  }
  return records;
}

/** A pax `size` record's value: a decimal count of bytes, nothing else (-1536 and 'abc' looped or ended the archive). */
function paxSize(text: string, where: string): number {
  const value = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value)) throw new BadFileError(`${where}: a pax size record says '${text}', not a byte count; the archive is corrupt`);
  return value;
}

/**
 * A member's path made safe to use as a dataset name, or an error: relative, '/'-separated, without '.' or '..'
 * segments. A member named '../x/a.png' or '/etc/a.png' is refused: it would name a class '..', and it is how
 * archives escape the folder they are unpacked into.
 */
function memberName(name: string, where: string): string {
  const clean = name.replace(/^(\.\/)+/, '');
  const segments = clean.split('/');
  if (clean.startsWith('/') || segments.some((s) => s === '..') || clean.includes('\0')) {
    throw new BadFileError(`${where}: the archive holds a member named ${JSON.stringify(name)}, a path that leaves the archive's folder; refused (re-create the archive from inside its folder)`);
  }
  return segments.filter((s) => s !== '' && s !== '.').join('/');
}

/** True when the bytes start with the gzip magic number. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Gunzips `bytes` if they are gzip data, otherwise returns them unchanged; `where` names the file in errors. */
export function maybeGunzip(bytes: Uint8Array, where: string): Uint8Array {
  if (!isGzip(bytes)) return bytes;
  const bound = limit('archiveBytes');
  try {
    return gunzipSync(bytes, { maxOutputLength: Math.min(bound, 2 ** 32) });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new BadFileError(`${where} decompresses to more than effnet's limit of ${bound.toLocaleString('en-US')} bytes for a dataset archive; if it is trusted, raise the limit with ${limitVariable('archiveBytes')}=N (docs/security.md), or use an image folder`);
    }
    throw new BadFileError(`${where}: gzip data is corrupt or truncated (${error instanceof Error ? error.message : String(error)}); re-create or re-download the archive`);
  }
}

/**
 * Lists the regular files of an uncompressed tar archive in archive order. Checks each header's checksum and that
 * every member lies within the archive; a damaged archive throws an error naming the offset.
 */
export function listTar(archive: Uint8Array, where = '<tar>'): TarMember[] {
  const members: TarMember[] = [];
  let pos = 0;
  let longName: string | null = null;
  let pax: Map<string, string> | null = null;
  let ended = false;
  while (pos + BLOCK <= archive.length) {
    const header = archive.subarray(pos, pos + BLOCK);
    if (header.every((b) => b === 0)) {
      ended = true; // end-of-archive marker
      break;
    }
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
    const stored = readOctal(header, 148, 8, `${where} at offset ${pos}`);
    if (stored !== sum) {
      throw new BadFileError(`${where}: tar header checksum mismatch at offset ${pos} (stored ${stored}, computed ${sum}); the archive is corrupt or not a tar file`);
    }
    let size = readOctal(header, 124, 12, `${where} at offset ${pos}`);
    const type = String.fromCharCode(header[156]!);
    let name = readString(header, 0, 100);
    if (readString(header, 257, 5) === 'ustar') {
      const prefix = readString(header, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    if (pax?.has('size')) size = paxSize(pax.get('size')!, `${where} at offset ${pos}`);
    const dataStart = pos + BLOCK;
    if ((type === 'L' || type === 'x' || type === 'g') && size > limit('tarHeaderBytes')) {
      throw new BadFileError(`${where}: an extended header at offset ${pos} is ${size.toLocaleString('en-US')} bytes, over effnet's limit of ${limit('tarHeaderBytes').toLocaleString('en-US')} (${limitVariable('tarHeaderBytes')} raises it); the archive is corrupt`);
    }
    if (dataStart + size > archive.length) {
      throw new BadFileError(`${where}: member "${name}" at offset ${pos} declares ${size} bytes but the archive ends after ${archive.length - dataStart}; it is truncated`);
    }
    const data = archive.subarray(dataStart, dataStart + size);
    if (type === 'L') {
      longName = readString(data, 0, data.length);
    } else if (type === 'x') {
      pax = parsePax(data, `${where} at offset ${pos}`);
    } else if (type !== 'g') {
      if (pax?.has('path')) name = pax.get('path')!;
      else if (longName !== null) name = longName;
      if (type === '0' || type === '\0' || type === '7') {
        members.push({ name: memberName(name, where), offset: dataStart, size });
      }
      longName = null;
      pax = null;
    }
    pos = dataStart + Math.ceil(size / BLOCK) * BLOCK;
  }
  // An archive cut at a block boundary would otherwise lose its last members (or classes) without a word.
  if (!ended) throw new BadFileError(`${where}: the archive ends at byte ${archive.length} without its end-of-archive blocks; it is truncated (re-create or re-download it)`);
  return members;
}
