#!/usr/bin/env node
/**
 * The `effnet` command line. Each command lives in src/cli/commands/<name>.ts and exports
 * `run(args: string[]): Promise<number>` (the exit code) and `summary` (one line for the help).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isParseArgsError, isUserError, UsageError } from '../errors.js';
import { withFlagHint } from './options.js';
import { printable } from '../printable.js';

/**
 * OpenMP's wait policy for libtorch's thread pool, unless the user chose one. libgomp reads OMP_WAIT_POLICY once,
 * when the native addon loads it, so this must run before any module that loads the addon (src/torch/native.ts) is
 * imported: this file imports only node: built-ins and the engine-free errors module statically and loads every command with a dynamic import below.
 * Passive waiting keeps idle OpenMP threads from spinning: with --threads 2 on a 2-core machine busy with other
 * processes, spinning threads slowed training steps about 30-fold (BENCHMARKS.md, bench/train). A value the user set
 * (e.g. OMP_WAIT_POLICY=active on a dedicated machine) is kept. Child processes (search workers) inherit the setting.
 * See docs/engine.md.
 */
process.env.OMP_WAIT_POLICY ??= 'passive';
// (The addon loads on the first engine call, not at import, so the order above holds whatever a command imports.)

/** A command module's shape. */
export interface CommandModule {
  summary: string;
  run(args: string[]): Promise<number>;
  /** The command's usage text: its flags are what a mistyped flag is matched against. */
  usage?: string;
}

const COMMANDS = ['demo', 'train', 'eval', 'info', 'scale', 'scale-search', 'scaling-study', 'nas', 'oneshot', 'search-worker', 'import', 'export', 'predict', 'serve-demo', 'version', 'setup'] as const;

const here = dirname(fileURLToPath(import.meta.url));

function commandPath(name: string): string {
  return join(here, 'commands', `${name}.js`);
}

async function loadCommand(name: string): Promise<CommandModule> {
  return (await import(commandPath(name))) as CommandModule;
}

async function help(): Promise<void> {
  const lines = ['usage: effnet <command> [options]   (effnet <command> --help for its options)', '', 'commands:'];
  for (const name of COMMANDS) {
    if (!existsSync(commandPath(name))) continue;
    const command = await loadCommand(name);
    lines.push(`  ${name.padEnd(13)} ${command.summary}`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    await help();
    return name === undefined ? 1 : 0;
  }
  if (!existsSync(commandPath(name))) {
    const known = COMMANDS.filter((command) => existsSync(commandPath(command)));
    process.stderr.write(`effnet: unknown command '${name}'; commands: ${known.join(', ')}\n`);
    return 2;
  }
  let usage: string | undefined;
  try {
    // Loading a command may load the libtorch binding: its absence is a user error too (exit 2, the build command).
    const command = await loadCommand(name);
    usage = command.usage;
    return await command.run(rest);
  } catch (error) {
    // A UserError (src/errors.ts) or a flag the parser refused: the user's to fix, so the message alone and exit 2.
    if (isUserError(error) || isParseArgsError(error)) {
      // Messages quote names from files (classes, archive members): escaped so that none rewrites the terminal.
      const message = withFlagHint((error as Error).message, usage).split('\n').map(printable).join('\n');
      const flagProblem = error instanceof UsageError || isParseArgsError(error);
      process.stderr.write(`effnet ${name}: ${message}\n${flagProblem ? `  (effnet ${name} --help lists the options)\n` : ''}`);
      if (process.env.EFFNET_DEBUG && error instanceof Error && error.stack) process.stderr.write(error.stack + '\n');
      return 2;
    }
    throw error;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`effnet: ${error instanceof Error ? error.message : String(error)}\n`);
    if (process.env.EFFNET_DEBUG && error instanceof Error && error.stack) process.stderr.write(error.stack + '\n');
    process.exitCode = 1;
  },
);
