/**
 * The static server behind `effnet serve-demo`: the page in web/, onnxruntime-web's module and wasm files from
 * node_modules, our compiled browser-safe inference modules from dist/src (classifier, preprocessing, top-k,
 * metadata: the same code Node runs), and the model at /model.onnx. It listens on 127.0.0.1 only, serves files
 * from those three folders only, and sends the cross-origin-isolation headers that let onnxruntime-web use
 * threads (SharedArrayBuffer).
 */
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

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

/** Maps a URL path to a file inside one of the served folders, or null. */
function resolveFile(urlPath: string): string | null {
  const mounts: [string, string, RegExp][] = [
    ['/ort/', join(ROOT, 'node_modules', 'onnxruntime-web', 'dist'), /^[\w.-]+\.(mjs|wasm)$/],
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

/**
 * Starts the demo server.
 * @throws when onnxruntime-web is missing or the port is taken
 */
export async function startDemoServer(options: DemoServerOptions = {}): Promise<DemoServer> {
  const model = options.model ?? null;
  if (!existsSync(join(ROOT, 'node_modules', 'onnxruntime-web', 'dist', 'ort.min.mjs'))) {
    throw new Error('serve-demo: node_modules/onnxruntime-web is missing; run `npm ci` (or scripts/setup.sh) first');
  }
  const server: Server = createServer((request, response) => {
    const headers: Record<string, string> = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cache-Control': 'no-store',
    };
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://127.0.0.1').pathname);
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { ...headers, 'Content-Type': 'text/plain' }).end('only GET and HEAD\n');
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
    const file = resolveFile(path);
    if (file === null) {
      response.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end(`not found: ${path}\n`);
      return;
    }
    const body = readFileSync(file);
    response.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': String(body.length) });
    response.end(request.method === 'HEAD' ? undefined : body);
  });
  const port = options.port ?? 8080;
  await new Promise<void>((resolvePromise, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(new Error(error.code === 'EADDRINUSE' ? `serve-demo: port ${port} is in use; pass another with --port` : `serve-demo: ${error.message}`));
    });
    server.listen(port, '127.0.0.1', () => resolvePromise());
  });
  const address = server.address();
  const actual = typeof address === 'object' && address !== null ? address.port : port;
  return {
    url: `http://127.0.0.1:${actual}/`,
    port: actual,
    close: () => new Promise<void>((resolvePromise) => {
      server.closeAllConnections();
      server.close(() => resolvePromise());
    }),
  };
}
