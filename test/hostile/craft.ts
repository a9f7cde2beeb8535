/**
 * Generators of the hostile-input tests: honest files made through the library (a tiny model file, its ONNX
 * export, images), and the forged or broken versions an attacker or a careless user would hand to effnet. Each
 * forgery is written byte by byte here, from the format's specification, not through the reader under test.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDeflateRaw, deflateRawSync, crc32, gzipSync } from 'node:zlib';
import onnxProto from 'onnx-proto';
import sharp from 'sharp';
import { resolveModelCard } from '../../src/card/resolve.js';
import { createModelFromCard } from '../../src/card/build.js';
import { saveModel } from '../../src/model-file/weights.js';
import { decodeSafetensors, encodeSafetensors } from '../../src/io/safetensors.js';
import { exportEfficientNet } from '../../src/export/efficientnet-onnx.js';
import { MODEL_CARD_KEY } from '../../src/card/model-card.js';

/** A card as plain JSON, for editing. */
export type CardJson = {
  architecture: Record<string, unknown> & { stages: string[] };
  classes: { count: number; names: string[] | null };
  eval: Record<string, unknown>;
  [key: string]: unknown;
};

/** The honest files of a tiny 4-class model (width 0.1, depth 0.1, 32 px): its model file, its ONNX export, a PNG. */
export interface TinyFiles {
  model: string;
  onnx: string;
  image: string;
}

/** Writes {@link TinyFiles} under `dir`. */
export async function writeTinyFiles(dir: string): Promise<TinyFiles> {
  mkdirSync(dir, { recursive: true });
  const card = resolveModelCard({ source: { kind: 'custom', width: 0.1, depth: 0.1 }, resolution: 32, classes: ['ant', 'bee', 'cat', 'dog'] });
  const model = createModelFromCard(card);
  model.eval();
  const files = { model: join(dir, 'tiny.safetensors'), onnx: join(dir, 'tiny.onnx'), image: join(dir, 'image.png') };
  saveModel(files.model, model, { card });
  writeFileSync(files.onnx, exportEfficientNet(model, { card }).bytes);
  model.dispose();
  await sharp(Buffer.alloc(40 * 30 * 3, 90), { raw: { width: 40, height: 30, channels: 3 } }).png().toFile(files.image);
  return files;
}

/** Copies a safetensors model file with its card edited by `edit`. */
export function forgeSafetensorsCard(source: Uint8Array, target: string, edit: (card: CardJson) => void): void {
  const decoded = decodeSafetensors(source);
  const card = JSON.parse(decoded.metadata[MODEL_CARD_KEY]!) as CardJson;
  edit(card);
  writeFileSync(target, encodeSafetensors(decoded.tensors, { ...decoded.metadata, [MODEL_CARD_KEY]: JSON.stringify(card) }));
}

/** Copies an ONNX model with the card in its metadata_props edited by `edit`. */
export function forgeOnnxCard(source: Uint8Array, target: string, edit: (card: CardJson) => void): void {
  const model = onnxProto.onnx.ModelProto.decode(source);
  const entry = model.metadataProps!.find((p) => p.key === MODEL_CARD_KEY)!;
  const card = JSON.parse(entry.value!) as CardJson;
  edit(card);
  entry.value = JSON.stringify(card);
  writeFileSync(target, onnxProto.onnx.ModelProto.encode(model).finish());
}

/** A safetensors file image from a raw JSON header and data bytes (nothing validated: forgeries welcome). */
export function rawSafetensors(header: string, data: Uint8Array = new Uint8Array(0)): Buffer {
  const json = Buffer.from(header, 'utf8');
  const out = Buffer.alloc(8 + json.length + data.length);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** One member of {@link zipArchive}: its name, data, and optional overrides of what the directory declares. */
export interface ZipMember {
  name: string;
  data: Uint8Array;
  /** Deflate the member (method 8); default stored. */
  deflate?: boolean;
  /** The uncompressed size the directory declares; default the true size. */
  declaredSize?: number;
  /** Already-deflated bytes stored as they are (method 8), with `crc` (the data's CRC-32 a reader checks last). */
  compressed?: { bytes: Uint8Array; crc: number };
}

/** A zip archive (PKWARE APPNOTE: local headers, central directory, end record), written field by field. */
export function zipArchive(members: readonly ZipMember[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const member of members) {
    const name = Buffer.from(member.name, 'utf8');
    const stored = member.compressed ? Buffer.from(member.compressed.bytes) : member.deflate ? deflateRawSync(member.data) : Buffer.from(member.data);
    const size = member.declaredSize ?? member.data.length;
    const crc = member.compressed ? member.compressed.crc : crc32(member.data) >>> 0;
    const method = member.deflate || member.compressed ? 8 : 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(stored.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    locals.push(local, name, stored);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(stored.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += 30 + name.length + stored.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(members.length, 8);
  end.writeUInt16LE(members.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** `bytes` zero bytes deflated (raw deflate), streamed so that the generator never holds them. */
export async function deflatedZeros(bytes: number): Promise<Buffer> {
  const deflate = createDeflateRaw({ level: 9 });
  const chunks: Buffer[] = [];
  deflate.on('data', (chunk: Buffer) => chunks.push(chunk));
  const done = new Promise<void>((resolve, reject) => {
    deflate.on('end', resolve);
    deflate.on('error', reject);
  });
  const block = Buffer.alloc(16 * 2 ** 20);
  for (let written = 0; written < bytes; written += block.length) {
    const piece = block.subarray(0, Math.min(block.length, bytes - written));
    if (!deflate.write(piece)) await new Promise((resolve) => deflate.once('drain', resolve));
  }
  deflate.end();
  await done;
  return Buffer.concat(chunks);
}

/** Pickle opcodes of protocol 2 that the torch.save forgeries use. */
const P = {
  PROTO: 0x80, EMPTY_DICT: 0x7d, EMPTY_TUPLE: 0x29, MARK: 0x28, BINUNICODE: 0x58, GLOBAL: 0x63, BININT: 0x4a, BININT1: 0x4b,
  TUPLE: 0x74, REDUCE: 0x52, BINPERSID: 0x51, SETITEM: 0x73, SETITEMS: 0x75, STOP: 0x2e, NEWFALSE: 0x89, EMPTY_LIST: 0x5d, APPEND: 0x61,
} as const;

function pickleString(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  const out = Buffer.alloc(5 + bytes.length);
  out[0] = P.BINUNICODE;
  out.writeUInt32LE(bytes.length, 1);
  bytes.copy(out, 5);
  return out;
}

function pickleInt(value: number): Buffer {
  const out = Buffer.alloc(5);
  out[0] = P.BININT;
  out.writeInt32LE(value, 1);
  return out;
}

function pickleTuple(items: Buffer[]): Buffer {
  return Buffer.concat([Buffer.from([P.MARK]), ...items, Buffer.from([P.TUPLE])]);
}

/** A tensor of a torch.save forgery: float32 storage `key` of `numel` elements viewed with size, stride, offset. */
export interface ForgedTensor {
  name: string;
  key: string;
  numel: number;
  size: number[];
  stride: number[];
  offset?: number;
}

/**
 * The data.pkl of torch.save for a dict of tensors, as torch writes it (protocol 2): each value is
 * `torch._utils._rebuild_tensor_v2(persistent_load(('storage', torch.FloatStorage, key, 'cpu', numel)), offset,
 * size, stride, False, OrderedDict())`.
 */
export function torchSavePickle(tensors: readonly ForgedTensor[]): Buffer {
  const parts: Buffer[] = [Buffer.from([P.PROTO, 2, P.EMPTY_DICT])];
  for (const t of tensors) {
    parts.push(pickleString(t.name));
    parts.push(Buffer.from(`${String.fromCharCode(P.GLOBAL)}torch._utils\n_rebuild_tensor_v2\n`, 'latin1'));
    const persistent = pickleTuple([
      pickleString('storage'),
      Buffer.from(`${String.fromCharCode(P.GLOBAL)}torch\nFloatStorage\n`, 'latin1'),
      pickleString(t.key),
      pickleString('cpu'),
      pickleInt(t.numel),
    ]);
    const args = pickleTuple([
      Buffer.concat([persistent, Buffer.from([P.BINPERSID])]),
      pickleInt(t.offset ?? 0),
      pickleTuple(t.size.map(pickleInt)),
      pickleTuple(t.stride.map(pickleInt)),
      Buffer.from([P.NEWFALSE]),
      Buffer.concat([Buffer.from(`${String.fromCharCode(P.GLOBAL)}collections\nOrderedDict\n`, 'latin1'), Buffer.from([P.EMPTY_TUPLE, P.REDUCE])]),
    ]);
    parts.push(args, Buffer.from([P.REDUCE, P.SETITEM]));
  }
  parts.push(Buffer.from([P.STOP]));
  return Buffer.concat(parts);
}

/** A pickle of `depth` lists nested in one another (protocol 2). */
export function nestedListPickle(depth: number): Buffer {
  const parts: Buffer[] = [Buffer.from([P.PROTO, 2])];
  for (let i = 0; i < depth; i++) parts.push(Buffer.from([P.EMPTY_LIST]));
  for (let i = 0; i < depth - 1; i++) parts.push(Buffer.from([P.APPEND]));
  parts.push(Buffer.from([P.STOP]));
  return Buffer.concat(parts);
}

/** One tar member: a name, data, a type flag ('0' file, 'x' pax header, 'L' GNU long name) and header overrides. */
export interface TarMember {
  name: string;
  data: Uint8Array;
  type?: string;
  /** The size field as written (octal text); default the data's length. */
  sizeField?: string;
}

/** A ustar archive written header by header (POSIX 1003.1-1988 layout), two zero blocks at the end. */
export function tarArchive(members: readonly TarMember[]): Buffer {
  const blocks: Buffer[] = [];
  for (const member of members) {
    const header = Buffer.alloc(512);
    header.write(member.name.slice(0, 100), 0, 'utf8');
    header.write('0000644\0', 100, 'latin1');
    header.write('0000000\0', 108, 'latin1');
    header.write('0000000\0', 116, 'latin1');
    header.write((member.sizeField ?? member.data.length.toString(8).padStart(11, '0')) + '\0', 124, 'latin1');
    header.write('00000000000\0', 136, 'latin1');
    header.write(member.type ?? '0', 156, 'latin1');
    header.write('ustar\0', 257, 'latin1');
    header.write('00', 263, 'latin1');
    header.fill(0x20, 148, 156);
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    blocks.push(header, Buffer.from(member.data));
    const pad = (512 - (member.data.length % 512)) % 512;
    if (pad > 0) blocks.push(Buffer.alloc(pad));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** A pax extended header's data: records "LEN key=value\n" with LEN counting the whole record. */
export function paxRecords(records: Record<string, string>): Buffer {
  let text = '';
  for (const [key, value] of Object.entries(records)) {
    const body = ` ${key}=${value}\n`;
    let length = body.length + 1;
    while (String(length).length + body.length !== length) length = String(length).length + body.length;
    text += `${length}${body}`;
  }
  return Buffer.from(text, 'utf8');
}

/** A .tar.gz of `members`. */
export function tarGz(members: readonly TarMember[]): Buffer {
  return gzipSync(tarArchive(members));
}

/** A PNG of w × h pixels of one grey value, as bytes. */
export function pngBytes(width: number, height: number, value = 128): Promise<Buffer> {
  return sharp(Buffer.alloc(width * height * 3, value), { raw: { width, height, channels: 3 } }).png().toBuffer();
}

/**
 * A baseline JPEG header that declares `width` × `height` but holds no image data: SOI, DQT, SOF0 (3 components),
 * DHT, SOS, EOI. Any decoder must read the header (and its dimensions) before it finds the data missing.
 */
export function jpegDeclaring(width: number, height: number): Buffer {
  const segment = (marker: number, body: number[]): number[] => [0xff, marker, ((body.length + 2) >> 8) & 0xff, (body.length + 2) & 0xff, ...body];
  const dqt = segment(0xdb, [0x00, ...new Array<number>(64).fill(1)]);
  const sof = segment(0xc0, [8, (height >> 8) & 0xff, height & 0xff, (width >> 8) & 0xff, width & 0xff, 3, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0]);
  // One DC table (class 0, id 0) with a single 1-bit code for category 0, and one AC table with only EOB.
  const dht = segment(0xc4, [0x00, 1, ...new Array<number>(15).fill(0), 0x00, 0x10, 1, ...new Array<number>(15).fill(0), 0x00]);
  const sos = segment(0xda, [3, 1, 0x00, 2, 0x00, 3, 0x00, 0, 63, 0]);
  return Buffer.from([0xff, 0xd8, ...dqt, ...sof, ...dht, ...sos, 0x00, 0x00, 0xff, 0xd9]);
}
