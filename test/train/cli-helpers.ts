/** Helpers of the `effnet train` / `effnet eval` CLI tests: a tiny synthetic image folder and a CLI runner. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

/** The compiled CLI entry point. */
export const CLI = join(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

/** Class names of the synthetic folder and the colour channel each one brightens. */
export const CLASSES = ['blue', 'green', 'red'] as const;

/**
 * Writes `root/<class>/<i>.png`: `perClass` 20x20 PNGs per class, class c bright in channel (2 - c) (so 'blue' has a
 * bright blue channel), with deterministic noise.
 */
export async function writeImageFolder(root: string, perClass: number): Promise<void> {
  let state = 12345;
  const noise = (): number => {
    state = (state * 1103515245 + 12345) >>> 0;
    return (state >>> 16) % 48;
  };
  for (const [c, name] of CLASSES.entries()) {
    mkdirSync(join(root, name), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const pixels = Buffer.alloc(20 * 20 * 3);
      for (let p = 0; p < 20 * 20; p++) {
        for (let ch = 0; ch < 3; ch++) pixels[p * 3 + ch] = (ch === 2 - c ? 190 : 30) + noise();
      }
      await sharp(pixels, { raw: { width: 20, height: 20, channels: 3 } }).png().toFile(join(root, name, `${i}.png`));
    }
  }
}

/** What a finished CLI process left. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts `effnet ...args` (one libtorch thread, so parallel test files do not oversubscribe the cores). */
export function startCli(args: readonly string[]): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], { env: { ...process.env, OMP_NUM_THREADS: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Collects a process's output and waits for its exit. */
export function finished(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Runs `effnet ...args` to completion. */
export function runCli(args: readonly string[]): Promise<CliResult> {
  return finished(startCli(args));
}

/** The arguments of a tiny training run (custom width/depth 0.1 at 32px, one thread, no loader workers). */
export function tinyTrainArgs(data: string, out: string, epochs: number, extra: readonly string[] = []): string[] {
  return [
    'train', '--model', 'custom', '--width', '0.1', '--depth', '0.1', '--image-size', '32', '--data', data, '--val-split', '0.25',
    '--epochs', String(epochs), '--batch-size', '4', '--workers', '0', '--threads', '1', '--lr', '0.01', '--out', out, ...extra,
  ];
}
