/**
 * Who holds a lock on a file: SQLite locks its database (and, in WAL mode, its -shm index) with POSIX fcntl locks,
 * which Linux lists in /proc/locks as `id: POSIX ADVISORY WRITE <pid> <major>:<minor>:<inode> <start> <end>`.
 * Matching the inodes of the database files names the process that keeps the database busy.
 */
import { readFileSync, statSync } from 'node:fs';

/** A process holding a lock on one of the files. */
export interface LockHolder {
  /** Its process id. */
  pid: number;
  /** Its command line, when readable. */
  command: string | null;
  /** 'READ' or 'WRITE'. */
  mode: string;
  /** The file it locks. */
  file: string;
}

/**
 * The processes other than this one that hold POSIX locks on any of `paths`: those with a WRITE lock when there are
 * some, else every holder (empty where /proc is unavailable).
 */
export function findLockHolders(paths: readonly string[]): LockHolder[] {
  const byInode = new Map<string, string>();
  for (const path of paths) {
    try {
      byInode.set(String(statSync(path).ino), path);
    } catch {
      // a missing -wal or -shm file holds no lock
    }
  }
  let table: string;
  try {
    table = readFileSync('/proc/locks', 'utf8');
  } catch {
    return [];
  }
  const holders = new Map<number, LockHolder>();
  for (const line of table.split('\n')) {
    const fields = line.trim().split(/\s+/);
    // "1:" "POSIX" "ADVISORY" "WRITE" "1234" "08:01:5678" "0" "EOF"
    if (fields.length < 6 || fields[1] !== 'POSIX') continue;
    const pid = Number(fields[4]);
    const inode = fields[5]!.split(':')[2];
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || inode === undefined) continue;
    const file = byInode.get(inode);
    if (file === undefined) continue;
    const previous = holders.get(pid);
    if (previous !== undefined && previous.mode === 'WRITE') continue;
    let command: string | null = null;
    try {
      command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ') || null;
    } catch {
      command = null;
    }
    holders.set(pid, { pid, command, mode: fields[3]!, file });
  }
  // Every WAL connection keeps a shared (READ) lock on the -shm file while open; the writer is the one to name.
  const all = [...holders.values()];
  const writers = all.filter((h) => h.mode === 'WRITE');
  return writers.length > 0 ? writers : all;
}

/** Whether a process with this id runs on this machine (signal 0 probes without sending anything; zombies count as gone). */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // A zombie (exited, not yet reaped: e.g. a killed worker whose parent died too, under an init that does not reap)
  // still answers signal 0 but runs nothing.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true;
  }
}
