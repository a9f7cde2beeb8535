/**
 * `effnet setup`: builds the libtorch binding (native/) of this effnet installation against the libtorch it finds
 * (LIBTORCH, else Debian's libtorch-dev under /usr), or with `--check` only reports what a build would use. It is
 * what an installed package needs after `npm install effnet` (which builds nothing), and it never installs system
 * packages: whatever is missing is named with the command that would install it, for the user to run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { UserError } from '../../errors.js';

/** One line for `effnet --help`. */
export const summary = "build the libtorch binding against LIBTORCH or Debian's libtorch (--check: only report)";

const USAGE = `usage: effnet setup [--check]

Builds native/ (the libtorch binding) with node-gyp against LIBTORCH (an unpacked libtorch distribution or a pip
torch's package folder, CUDA builds included) or, without it, Debian's libtorch-dev under /usr. Installs nothing:
what is missing is named with the command that installs it.

  --check   report the libtorch, compiler, node-gyp and addon a build would use, and build nothing
`;

/** This installation's root: dist/src/cli/commands/setup.js → four folders up. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

/** Where node-gyp puts the addon (what src/torch/native.ts loads). */
const ADDON = join(ROOT, 'native', 'build', 'Release', 'effnet_torch.node');

/** The libtorch build settings of native/libtorch-config.cjs (the script binding.gyp runs). */
interface LibtorchConfig {
  includeDirs: string[];
  libDir: string;
  abi: number;
  cuda: boolean;
}

/** What a build needs, found or not: each item's description, or why it is missing and how to get it. */
interface Finding {
  what: string;
  found: string | null;
  missing?: string;
}

function findLibtorch(): Finding & { config: LibtorchConfig | null } {
  const require = createRequire(join(ROOT, 'package.json'));
  const where = process.env.LIBTORCH ? `LIBTORCH=${process.env.LIBTORCH}` : "Debian's libtorch-dev (LIBTORCH not set)";
  try {
    const { libtorchBuildConfig } = require(join(ROOT, 'native', 'libtorch-config.cjs')) as { libtorchBuildConfig: (root: string | undefined) => LibtorchConfig };
    const config = libtorchBuildConfig(process.env.LIBTORCH || undefined);
    return { what: 'libtorch', found: `${config.libDir} (headers ${config.includeDirs[0]}, C++ ABI ${config.abi}${config.cuda ? ', CUDA' : ''}; ${where})`, config };
  } catch (error) {
    return {
      what: 'libtorch',
      found: null,
      config: null,
      missing: `${(error as Error).message} [${where}]; for Debian's: sudo apt-get install libtorch-dev libgloo-dev`,
    };
  }
}

function findCompiler(): Finding {
  const run = spawnSync('c++', ['--version'], { encoding: 'utf8' });
  if (run.error !== undefined || run.status !== 0) return { what: 'C++ compiler', found: null, missing: 'no c++ on PATH; for Debian: sudo apt-get install g++ make' };
  return { what: 'C++ compiler', found: run.stdout.split('\n')[0]!.trim() };
}

/** node-gyp: this installation's own (a development checkout), else the one npm ships with Node. */
function findNodeGyp(): Finding & { script: string | null } {
  const candidates: string[] = [];
  try {
    candidates.push(createRequire(join(ROOT, 'package.json')).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not a dependency of this installation
  }
  candidates.push(join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const script = candidates.find((candidate) => existsSync(candidate)) ?? null;
  return script === null
    ? { what: 'node-gyp', found: null, script, missing: 'neither this installation nor npm has node-gyp; npm install -g node-gyp' }
    : { what: 'node-gyp', found: script, script };
}

/** Whether the built addon loads, in a child process (a failed load must not take this one down). */
function addonLoads(): { ok: boolean; message: string } {
  if (!existsSync(ADDON)) return { ok: false, message: `${ADDON} is not built` };
  const run = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(ADDON)})`], { encoding: 'utf8' });
  return run.status === 0 ? { ok: true, message: `${ADDON} loads` } : { ok: false, message: `${ADDON} does not load: ${run.stderr.trim().split('\n')[0]}` };
}

/** Runs the command; returns the exit code (0 built or all found; user errors are thrown: exit 2). */
export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { check: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } }, strict: true });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const libtorch = findLibtorch();
  const gyp = findNodeGyp();
  const findings: Finding[] = [libtorch, findCompiler(), gyp];
  for (const finding of findings) process.stdout.write(`${finding.what}: ${finding.found ?? `MISSING — ${finding.missing}`}\n`);
  const missing = findings.filter((finding) => finding.found === null);
  if (values.check) {
    const addon = addonLoads();
    process.stdout.write(`addon: ${addon.message}\n`);
    if (missing.length > 0) throw new UserError(`cannot build the libtorch binding: ${missing.map((m) => m.what).join(', ')} missing (above)`);
    return 0;
  }
  if (missing.length > 0) throw new UserError(`cannot build the libtorch binding: ${missing.map((m) => m.what).join(', ')} missing (above); nothing was built`);
  process.stdout.write(`building ${join(ROOT, 'native')} ...\n`);
  const build = spawnSync(process.execPath, [gyp.script!, 'rebuild', '--directory', join(ROOT, 'native'), '-j', String(availableParallelism())], { stdio: 'inherit' });
  if (build.status !== 0) throw new Error(`node-gyp failed (exit ${build.status ?? build.signal}); its output is above`);
  const addon = addonLoads();
  if (!addon.ok) throw new Error(`the build finished but ${addon.message}`);
  process.stdout.write(`addon: ${addon.message}; effnet's engine commands are ready (check: npx effnet version)\n`);
  return 0;
}

/** The usage text (main.ts reads its flags to suggest the nearest one for a mistyped flag). */
export { USAGE as usage };
