/**
 * The static server behind `effnet serve-demo`: the page in web/, onnxruntime-web's module and wasm files from
 * wherever npm installed it, our compiled browser-safe inference modules from dist/src (classifier, preprocessing, top-k,
 * metadata: the same code Node runs), and the model at /model.onnx. It listens on 127.0.0.1 only, serves files
 * from those three folders only, and sends the cross-origin-isolation headers that let onnxruntime-web use
 * threads (SharedArrayBuffer).
 *
 * Any web page the user visits can send requests to it, so every request is treated as hostile: a path that does
 * not decode is a 400 (never an exception), a Host header other than the server's own address is refused (a
 * DNS-rebinding page would otherwise read /model.onnx as same-origin), and files are streamed with back-pressure,
 * so stalled clients hold a few kilobytes each instead of a copy of the file.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { pipeline } from 'node:stream';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MissingPackageError, missingMessage, resolveOptional } from '../optional-package.js';

/** Options of {@link startDemoServer}; each default is stated. */
export interface DemoServerOptions {
  /** TCP port; default 8080; 0 picks a free one. */
  port?: number;
  /** The ONNX bytes served at /model.onnx (src/export/model-file.ts makes them of any model); default none (the page asks for one). */
  model?: Uint8Array | null;
}

/** A running demo server. */
export interface DemoServer {
  /** The page's address, e.g. http://127.0.0.1:8080/. */
  url: string;
  /** The port it listens on. */
  port: number;
  /** Stops the server. */
  close(): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root (this file is dist/src/infer/demo-server.js). */
const ROOT = resolve(here, '..', '..', '..');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
};

/** onnxruntime-web's dist/ folder, wherever npm installed the package (its `require` entry lives there), or null. */
function ortWebFolder(): string | null {
  const entry = resolveOptional('onnxruntime-web');
  return entry === null || !existsSync(join(dirname(entry), 'ort.min.mjs')) ? null : dirname(entry);
}

/** Maps a URL path to a file inside one of the served folders (`ortFolder`: onnxruntime-web's dist/), or null. */
function resolveFile(urlPath: string, ortFolder: string): string | null {
  const mounts: [string, string, RegExp][] = [
    ['/ort/', ortFolder, /^[\w.-]+\.(mjs|wasm)$/],
    ['/lib/', join(ROOT, 'dist', 'src'), /^[\w/.-]+\.js$/],
    ['/', join(ROOT, 'web'), /^[\w.-]+\.(html|js|css|svg)$/],
  ];
  for (const [prefix, folder, allowed] of mounts) {
    if (!urlPath.startsWith(prefix)) continue;
    const rest = urlPath.slice(prefix.length) || 'index.html';
    if (!allowed.test(rest) || rest.includes('..')) return null;
    const file = normalize(join(folder, rest));
    if (!file.startsWith(folder + sep)) return null;
    return existsSync(file) && statSync(file).isFile() ? file : null;
  }
  return null;
}

/** The request's path, percent-decoded, or null when it does not decode (`/%`, `/%E0%A4%A`). */
function requestPath(request: IncomingMessage): string | null {
  try {
    return decodeURIComponent(new URL(request.url ?? '/', 'http://127.0.0.1').pathname);
  } catch {
    return null;
  }
}

/**
 * Whether the Host header names this server (127.0.0.1 or localhost at its port). A page on another name that
 * resolves to 127.0.0.1 (DNS rebinding) sends its own name and is refused.
 */
export function isOwnHost(host: string | undefined, port: number): boolean {
  return host === `127.0.0.1:${port}` || host === `localhost:${port}`;
}

/**
 * Starts the demo server.
 * @throws when onnxruntime-web is missing or the port is taken
 */
export async function startDemoServer(options: DemoServerOptions = {}): Promise<DemoServer> {
  const model = options.model ?? null;
  const ortFolder = ortWebFolder();
  if (ortFolder === null) throw new MissingPackageError(missingMessage('onnxruntime-web', 'serve-demo'));
  const server: Server = createServer((request, response) => {
    const headers: Record<string, string> = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cache-Control': 'no-store',
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { ...headers, 'Content-Type': 'text/plain' }).end('only GET and HEAD\n');
      return;
    }
    if (!isOwnHost(request.headers.host, listening)) {
      response.writeHead(421, { ...headers, 'Content-Type': 'text/plain' }).end(`this server answers requests for http://127.0.0.1:${listening}/ only\n`);
      return;
    }
    const path = requestPath(request);
    if (path === null) {
      response.writeHead(400, { ...headers, 'Content-Type': 'text/plain' }).end('bad request: the path is not valid percent-encoding\n');
      return;
    }
    if (path === '/model.onnx') {
      if (model === null) {
        response.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end('no model given: start `effnet serve-demo --model MODEL`, or pick an .onnx file on the page\n');
      } else {
        response.writeHead(200, { ...headers, 'Content-Type': TYPES['.onnx']!, 'Content-Length': String(model.length) }).end(model);
      }
      return;
    }
    const file = resolveFile(path, ortFolder);
    if (file === null) {
      response.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end(`not found: ${JSON.stringify(path)}\n`);
      return;
    }
    const size = statSync(file).size;
    response.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': String(size) });
    if (request.method === 'HEAD') {
      response.end();
      return;
    }
    // Streamed: a client that stops reading holds one chunk, not the file (the 28 MB wasm, many times over).
    pipeline(createReadStream(file), response, () => undefined);
  });
  let listening = options.port ?? 8080;
  const port = options.port ?? 8080;
  await new Promise<void>((resolvePromise, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(new Error(error.code === 'EADDRINUSE' ? `serve-demo: port ${port} is in use; pass another with --port` : `serve-demo: ${error.message}`));
    });
    server.listen(port, '127.0.0.1', () => resolvePromise());
  });
  const address = server.address();
  const actual = typeof address === 'object' && address !== null ? address.port : port;
  listening = actual;
  return {
    url: `http://127.0.0.1:${actual}/`,
    port: actual,
    close: () => new Promise<void>((resolvePromise) => {
      server.closeAllConnections();
      server.close(() => resolvePromise());
    }),
  };
}
