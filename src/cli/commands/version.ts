/**
 * `effnet version`: the versions a bug report needs (effnet, Node, the libtorch the addon was built against and its
 * thread count, onnxruntime-node), loading the libtorch addon to read them; it fails with the loader's message when
 * the addon cannot load, which makes it the quickest check of an installation.
 */
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

/** Runs the command; returns 0. */
export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } }, strict: true });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const require = createRequire(import.meta.url);
  const effnet = (require('../../../../package.json') as { version: string }).version;
  const versions = { effnet, node: process.versions.node, libtorch: libtorchVersion(), libtorchThreads: getNumThreads(), onnxruntimeNode: packageVersion('onnxruntime-node') };
  process.stdout.write(values.json ? `${JSON.stringify(versions)}\n` : `${Object.entries(versions).map(([key, value]) => `${key} ${value}`).join('\n')}\n`);
  return 0;
}
