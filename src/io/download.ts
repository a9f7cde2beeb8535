/**
 * Downloading published weights by name into a local cache: torchvision's EfficientNet b0..b7 checkpoints (their
 * file names end in the first 8 hex digits of the file's sha256, which is checked as torchvision checks it) and
 * timm's Hugging Face hub repositories (`model.safetensors`). Files go to a temporary name in the cache directory
 * and are renamed into place only once complete and verified, so the cache never holds a partial file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, renameSync, rmSync } from 'node:fs';
import { makeDirectory } from '../directories.js';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { WeightSource } from './key-maps.js';

/** torchvision's published EfficientNet weights (ImageNet-1k; the DEFAULT of torchvision 0.14), by variant: b0..b7, v2-s/m/l. */
export const TORCHVISION_WEIGHT_URLS: Readonly<Record<string, string>> = Object.freeze({
  b0: 'https://download.pytorch.org/models/efficientnet_b0_rwightman-3dd342df.pth',
  b1: 'https://download.pytorch.org/models/efficientnet_b1-c27df63c.pth',
  b2: 'https://download.pytorch.org/models/efficientnet_b2_rwightman-bcdf34b7.pth',
  b3: 'https://download.pytorch.org/models/efficientnet_b3_rwightman-cf984f9c.pth',
  b4: 'https://download.pytorch.org/models/efficientnet_b4_rwightman-7eb33cd5.pth',
  b5: 'https://download.pytorch.org/models/efficientnet_b5_lukemelas-b6417697.pth',
  b6: 'https://download.pytorch.org/models/efficientnet_b6_lukemelas-c76e70fd.pth',
  b7: 'https://download.pytorch.org/models/efficientnet_b7_lukemelas-dcc49843.pth',
  'v2-s': 'https://download.pytorch.org/models/efficientnet_v2_s-dd5fe13b.pth',
  'v2-m': 'https://download.pytorch.org/models/efficientnet_v2_m-dc08266a.pth',
  'v2-l': 'https://download.pytorch.org/models/efficientnet_v2_l-59c71312.pth',
});

/** The Hugging Face hub URL of a timm model's weights, e.g. `tf_efficientnet_b0.aa_in1k` or `timm/efficientnet_b0.ra_in1k`. */
export function timmWeightUrl(name: string): string {
  const repo = name.includes('/') ? name : `timm/${name}`;
  if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(repo)) {
    throw new Error(`timm model name '${name}' is not a hub repository name such as 'timm/tf_efficientnet_b0.aa_in1k'`);
  }
  return `https://huggingface.co/${repo}/resolve/main/model.safetensors`;
}

/** The URL of a published checkpoint: torchvision by variant (b0..b7, v2-s/m/l, also `efficientnet_v2_s`), timm by hub model name. */
export function weightUrl(source: WeightSource, name: string): string {
  if (source === 'torchvision') {
    const key = name.toLowerCase().replace(/^efficientnet[-_]?/, '').replace(/^v2[-_]?([sml])$/, 'v2-$1');
    const url = TORCHVISION_WEIGHT_URLS[key];
    if (url === undefined) {
      throw new Error(`torchvision publishes EfficientNet weights for ${Object.keys(TORCHVISION_WEIGHT_URLS).join(', ')}; got '${name}'`);
    }
    return url;
  }
  return timmWeightUrl(name);
}

/** The cache directory: $EFFNET_CACHE, else ~/.cache/effnet. */
export function cacheDir(): string {
  const fromEnv = process.env.EFFNET_CACHE;
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : join(homedir(), '.cache', 'effnet');
}

/** The cache file name of a URL: its last path segment, prefixed by the hub repository for timm URLs. */
export function cacheFileName(url: string): string {
  const parsed = new URL(url);
  const segments = parsed.pathname.split('/').filter((s) => s !== '');
  const hub = /^\/([^/]+)\/([^/]+)\/resolve\/[^/]+\/(.+)$/.exec(parsed.pathname);
  if (parsed.hostname === 'huggingface.co' && hub !== null) return `${hub[1]}--${hub[2]}--${hub[3]!.replace(/\//g, '--')}`;
  const last = segments[segments.length - 1];
  if (last === undefined) throw new Error(`cannot name a cache file after URL ${url}: it has no file name`);
  return last;
}

/**
 * The sha256 prefix a file name promises, as torchvision reads it (`name-<hex>.ext`: the hex digits after the last
 * '-' are the start of the file's sha256), or null when the name carries none.
 */
export function expectedHashPrefix(fileName: string): string | null {
  const match = /-([a-f0-9]{8,64})\.[A-Za-z0-9]+$/.exec(fileName);
  return match === null ? null : match[1]!;
}

/** The sha256 of a file, as lowercase hex. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/** Throws when a file's sha256 does not start with the prefix its name promises (no-op for names without one). */
export async function verifyHashPrefix(path: string, fileName: string): Promise<void> {
  const prefix = expectedHashPrefix(fileName);
  if (prefix === null) return;
  const digest = await sha256File(path);
  if (!digest.startsWith(prefix)) {
    throw new Error(
      `checksum mismatch for ${fileName}: its name promises a sha256 starting with ${prefix}, but the file at ${path} has ${digest}; ` +
        'the file is corrupt or was replaced: delete it and download again',
    );
  }
}

/** Options of {@link downloadWeights}. */
export interface DownloadOptions {
  /** Cache directory; default {@link cacheDir}(). */
  cacheDir?: string;
  /** Progress callback: bytes received so far and the total (null when the server does not say). */
  onProgress?: (received: number, total: number | null) => void;
}

/**
 * The local path of a checkpoint URL: the cached file when present (its checksum is verified again), else the
 * file downloaded into the cache (to a temporary name, verified, then renamed). Network failures throw an error
 * naming the URL and where to put a file downloaded by other means.
 */
export async function downloadWeights(url: string, options: DownloadOptions = {}): Promise<string> {
  const directory = options.cacheDir ?? cacheDir();
  const fileName = cacheFileName(url);
  const target = join(directory, fileName);
  if (existsSync(target)) {
    await verifyHashPrefix(target, fileName);
    return target;
  }
  makeDirectory(directory);
  const temporary = join(directory, `.${fileName}.${process.pid}.${randomBytes(6).toString('hex')}.part`);
  const offline = `download the file by other means and place it at ${target} (or pass the file itself to effnet import)`;
  try {
    let response: Response;
    try {
      response = await fetch(url, { redirect: 'follow' });
    } catch (error) {
      const cause = (error as Error & { cause?: Error }).cause;
      const reason = cause?.message ?? (error as Error).message;
      throw new Error(`could not download ${url}: ${reason}. This machine may be offline; ${offline}`);
    }
    if (!response.ok || response.body === null) {
      throw new Error(`could not download ${url}: the server answered HTTP ${response.status} ${response.statusText}; ${offline}`);
    }
    const totalHeader = response.headers.get('content-length');
    const total = totalHeader === null ? null : Number(totalHeader);
    let received = 0;
    const body = Readable.fromWeb(response.body as unknown as WebReadableStream<Uint8Array>);
    body.on('data', (chunk: Buffer) => {
      received += chunk.length;
      options.onProgress?.(received, total);
    });
    try {
      await pipeline(body, createWriteStream(temporary, { flags: 'wx' }));
    } catch (error) {
      throw new Error(`download of ${url} broke off after ${received} bytes: ${(error as Error).message}; try again, or ${offline}`);
    }
    if (total !== null && Number.isFinite(total) && received !== total) {
      throw new Error(`download of ${url} is incomplete: got ${received} of ${total} bytes; try again`);
    }
    await verifyHashPrefix(temporary, fileName);
    renameSync(temporary, target);
    return target;
  } finally {
    rmSync(temporary, { force: true });
  }
}
