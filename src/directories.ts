/**
 * Creating output directories. Node's own `mkdirSync(path, { recursive: true })` spins forever where the kernel
 * answers ENOENT for a child of an existing directory (`--out /proc/x` busy-looped at 100% CPU), so every output
 * directory of effnet is made here: walk up to the nearest existing ancestor, then create each missing level once.
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UserError } from './errors.js';

/** Raised when an output directory cannot be created (a user error: exit code 2). */
export class DirectoryError extends UserError {
  override name = 'DirectoryError';
}

/**
 * Creates `path` and its missing parents (like `mkdir -p`), failing once with a clear message instead of looping.
 * @throws DirectoryError naming the level that could not be created and why
 */
export function makeDirectory(path: string): void {
  const missing: string[] = [];
  let current = resolve(path);
  for (;;) {
    let isDirectory: boolean;
    try {
      isDirectory = statSync(current).isDirectory();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new DirectoryError(`cannot create ${path}: ${current} is not accessible (${code ?? (error as Error).message})`);
      missing.push(current);
      const parent = dirname(current);
      if (parent === current) throw new DirectoryError(`cannot create ${path}: no part of it exists`);
      current = parent;
      continue;
    }
    if (!isDirectory) throw new DirectoryError(`cannot create ${path}: ${current} is a file, not a directory`);
    break;
  }
  for (const directory of missing.reverse()) {
    try {
      mkdirSync(directory);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // Another process made it in between: fine if it is a directory.
      if (code === 'EEXIST' && statSync(directory, { throwIfNoEntry: false })?.isDirectory()) continue;
      throw new DirectoryError(`cannot create the directory ${directory} (${code ?? (error as Error).message}); choose a writable place`);
    }
  }
}
