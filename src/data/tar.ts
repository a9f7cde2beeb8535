/**
 * A minimal reader of tar archives held in memory (POSIX ustar, GNU long names, pax `path`/`size` records): it
 * lists regular-file members with their byte offsets so that their contents can be sliced without unpacking.
 * `.tar.gz`/`.tgz` input is gunzipped in memory first (detected from the content).
 */
import { gunzipSync } from 'node:zlib';

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
  if (!/^[0-7]+$/.test(text)) throw new Error(`${where}: bad octal field "${text}" in a tar header; the archive is corrupt`);
  return parseInt(text, 8);
}

function parsePax(data: Uint8Array): Map<string, string> {
  const records = new Map<string, string>();
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
  let pos = 0;
  while (pos < text.length) {
    const space = text.indexOf(' ', pos);
    if (space < 0) break;
    const length = parseInt(text.slice(pos, space), 10);
    if (!(length > 0)) break;
    const record = text.slice(space + 1, pos + length - 1);
    const eq = record.indexOf('=');
    if (eq > 0) records.set(record.slice(0, eq), record.slice(eq + 1));
    pos += length;
  }
  return records;
}

/** True when the bytes start with the gzip magic number. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Gunzips `bytes` if they are gzip data, otherwise returns them unchanged; `where` names the file in errors. */
export function maybeGunzip(bytes: Uint8Array, where: string): Uint8Array {
  if (!isGzip(bytes)) return bytes;
  try {
    return gunzipSync(bytes);
  } catch (error) {
    throw new Error(`${where}: gzip data is corrupt or truncated (${error instanceof Error ? error.message : String(error)}); re-create or re-download the archive`);
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
  while (pos + BLOCK <= archive.length) {
    const header = archive.subarray(pos, pos + BLOCK);
    if (header.every((b) => b === 0)) break; // end-of-archive marker
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
    const stored = readOctal(header, 148, 8, `${where} at offset ${pos}`);
    if (stored !== sum) {
      throw new Error(`${where}: tar header checksum mismatch at offset ${pos} (stored ${stored}, computed ${sum}); the archive is corrupt or not a tar file`);
    }
    let size = readOctal(header, 124, 12, `${where} at offset ${pos}`);
    const type = String.fromCharCode(header[156]!);
    let name = readString(header, 0, 100);
    if (readString(header, 257, 5) === 'ustar') {
      const prefix = readString(header, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    if (pax?.has('size')) size = Number(pax.get('size'));
    const dataStart = pos + BLOCK;
    if (dataStart + size > archive.length) {
      throw new Error(`${where}: member "${name}" at offset ${pos} declares ${size} bytes but the archive ends after ${archive.length - dataStart}; it is truncated`);
    }
    const data = archive.subarray(dataStart, dataStart + size);
    if (type === 'L') {
      longName = readString(data, 0, data.length);
    } else if (type === 'x') {
      pax = parsePax(data);
    } else if (type !== 'g') {
      if (pax?.has('path')) name = pax.get('path')!;
      else if (longName !== null) name = longName;
      if (type === '0' || type === '\0' || type === '7') {
        members.push({ name: name.replace(/^(\.\/)+/, ''), offset: dataStart, size });
      }
      longName = null;
      pax = null;
    }
    pos = dataStart + Math.ceil(size / BLOCK) * BLOCK;
  }
  return members;
}
