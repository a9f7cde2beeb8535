/**
 * `effnet version`: the versions a bug report needs (effnet, Node, the libtorch the addon was built against and its
 * thread count, the BLAS library libtorch loaded, onnxruntime-node), loading the libtorch addon to read them; it
 * fails with the loader's message when the addon cannot load, which makes it the quickest check of an installation.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { getNumThreads, libtorchVersion } from '../../torch/index.js';

/** One line for `effnet --help`. */
export const summary = 'versions of effnet, Node, libtorch (loads the addon) and onnxruntime-node';

const USAGE = `usage: effnet version [--json]
`;

function packageVersion(name: string): string {
  const require = createRequire(import.meta.url);
  try {
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

/**
 * The BLAS shared library mapped into this process (read from /proc/self/maps once the addon has loaded), or
 * 'unknown' where the maps cannot be read. Debian's libtorch links libblas.so.3, which is whichever BLAS the system's
 * alternatives point at: the reference BLAS runs libtorch's matmul and linear ~30x slower than OpenBLAS (docs/engine.md).
 */
export function loadedBlasLibrary(): string {
  let maps: string;
  try {
    maps = readFileSync('/proc/self/maps', 'utf8');
  } catch {
    return 'unknown';
  }
  const paths = new Set(maps.split('\n').map((line) => line.slice(line.indexOf('/'))).filter((path) => isBlasPath(path)));
  return paths.size === 0 ? 'unknown' : [...paths].join(', ');
}

function isBlasPath(path: string): boolean {
  return path.startsWith('/') && /\/(libblas\.so|libopenblas[^/]*\.so|libmkl_rt\.so)[^/]*$/.test(path);
}

/** Whether `blas` (from {@link loadedBlasLibrary}) is Debian's reference BLAS, the slow one. */
export function isReferenceBlas(blas: string): boolean {
  return /\/blas\/libblas\.so/.test(blas);
}

/** Runs the command; returns 0. */
export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } }, strict: true });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const require = createRequire(import.meta.url);
  const effnet = (require('../../../../package.json') as { version: string }).version;
  const versions = { effnet, node: process.versions.node, libtorch: libtorchVersion(), libtorchThreads: getNumThreads(), blas: loadedBlasLibrary(), onnxruntimeNode: packageVersion('onnxruntime-node') };
  process.stdout.write(values.json ? `${JSON.stringify(versions)}\n` : `${Object.entries(versions).map(([key, value]) => `${key} ${value}`).join('\n')}\n`);
  if (isReferenceBlas(versions.blas)) {
    process.stderr.write('effnet: libtorch runs on the reference BLAS (slow matmul and linear); install OpenBLAS: apt-get install libopenblas0-openmp\n');
  }
  return 0;
}

/** The usage text (main.ts reads its flags to suggest the nearest one for a mistyped flag). */
export { USAGE as usage };
