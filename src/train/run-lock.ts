/**
 * One training run per run directory at a time. Two `effnet train` into the same --out used to both exit 0 with
 * interleaved metrics and each other's models; now the first takes DIR/train.lock (its pid, host, boot and
 * command, created exclusively) and the second is refused naming the holder. A lock left by a process that no
 * longer runs (killed, machine rebooted) is taken over, so a crash never blocks a resume.
 */
import { closeSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { DirectoryError, makeDirectory } from '../directories.js';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../errors.js';

/** The lock file's name inside a run directory. */
export const RUN_LOCK_FILE = 'train.lock';

/** Raised when another live process trains into the directory (a user error: exit code 2). */
export class RunLockedError extends UserError {
  override name = 'RunLockedError';
}

/** Raised when the run directory cannot be created or written (a user error: exit code 2). */
export class RunDirectoryError extends UserError {
  override name = 'RunDirectoryError';
}

/** What the lock file records about its holder. */
interface LockRecord {
  pid: number;
  host: string;
  boot: string;
  started: string;
  command: string;
}

/** A held lock; release() removes the file if it is still this process's. */
export interface RunLock {
  /** The lock file. */
  path: string;
  /** Removes the lock (idempotent). */
  release(): void;
}

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readRecord(path: string): LockRecord | null {
  try {
    const value = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockRecord>;
    return typeof value.pid === 'number' && typeof value.host === 'string' ? (value as LockRecord) : null;
  } catch {
    return null;
  }
}

/**
 * Takes the run directory's lock (creating the directory).
 * @throws RunLockedError when a live process on this machine holds it, or one on another host (which cannot be
 * checked from here; the message says how to clear it)
 */
export function acquireRunLock(dir: string): RunLock {
  try {
    makeDirectory(dir);
    // A directory that cannot hold a file (read-only, /proc, a full disk) is found here, before any training.
    const probe = join(dir, `.write-test.${process.pid}`);
    closeSync(openSync(probe, 'w'));
    rmSync(probe, { force: true });
  } catch (error) {
    if (error instanceof DirectoryError) throw error;
    throw new RunDirectoryError(`cannot write the run directory ${dir} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); choose a writable --out`);
  }
  const path = join(dir, RUN_LOCK_FILE);
  const record: LockRecord = { pid: process.pid, host: hostname(), boot: bootId(), started: new Date().toISOString(), command: process.argv.slice(1).join(' ') };
  const text = `${JSON.stringify(record)}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      try {
        writeSync(fd, text);
      } finally {
        closeSync(fd);
      }
      return lockAt(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = readRecord(path);
    if (holder !== null && holder.pid !== process.pid) {
      const sameMachine = holder.host === record.host && holder.boot === record.boot;
      if (!sameMachine) {
        throw new RunLockedError(`${dir} is in use by effnet train on host ${holder.host} (pid ${holder.pid}, since ${holder.started}); wait for it, or remove ${path} if that run is gone`);
      }
      if (alive(holder.pid)) {
        throw new RunLockedError(`${dir} is in use by another effnet train (pid ${holder.pid}, since ${holder.started}: ${holder.command}); wait for it to finish, stop it, or choose another --out`);
      }
    }
    // Stale (its process is gone) or unreadable: replace it atomically, then check the replacement is ours.
    const temporary = `${path}.${process.pid}.tmp`;
    const fd = openSync(temporary, 'w', 0o644);
    try {
      writeSync(fd, text);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
    if (readRecord(path)?.pid === process.pid) return lockAt(path);
  }
  throw new RunLockedError(`${dir}: could not take ${path}; another effnet train is starting in the same directory`);
}

function lockAt(path: string): RunLock {
  let held = true;
  return {
    path,
    release(): void {
      if (!held) return;
      held = false;
      if (readRecord(path)?.pid === process.pid) rmSync(path, { force: true });
    },
  };
}
