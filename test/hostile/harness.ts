/**
 * The harness of the hostile-input tests: runs `effnet ...` as a user would, on crafted files, under
 * /usr/bin/time (peak resident memory of the whole process, even when it is killed) and a wall-clock limit, and
 * checks what a user error must look like: exit code 2, a message that says what was wrong, no stack trace, a
 * bounded amount of output, bounded memory and time.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../train/cli-helpers.js';

/** Peak resident memory a refused input may cost the process, in MiB (Node + libtorch start at ~200). */
export const MEMORY_LIMIT_MB = 500;

/** Wall time a refused input may take, in seconds, by default. */
export const TIME_LIMIT_S = 30;

/** What a command left behind. */
export interface HostileResult {
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  /** The signal that ended it (the harness's SIGKILL at the time limit included). */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Peak resident set size of the process in MiB, from /usr/bin/time. */
  peakMb: number;
  /** Wall time in seconds. */
  seconds: number;
  /** Whether the harness killed it at the time limit. */
  timedOut: boolean;
  /** What the command left in its working directory (a fresh empty one unless `cwd` was given). */
  written: string[];
}

/** Options of {@link runEffnet}. */
export interface RunOptions {
  /** Seconds before the process is killed; default {@link TIME_LIMIT_S}. */
  timeoutS?: number;
  /** Working directory; default a fresh empty one, whose contents come back as `written`. */
  cwd?: string;
  /** Extra environment. */
  env?: Record<string, string>;
  /** Output kept per stream, in bytes (the rest counted only); default 1 MiB. */
  keepBytes?: number;
}

const TIME = '/usr/bin/time';

/** Why the hostile tests cannot run here, or null (they need /usr/bin/time: Debian's `time` package). */
export const harnessSkip: string | false = existsSync(TIME) ? false : `${TIME} is missing (apt-get install time; scripts/setup.sh does)`;

/** Runs `effnet ...args` under /usr/bin/time with a time limit. */
export async function runEffnet(args: readonly string[], options: RunOptions = {}): Promise<HostileResult & { stderrBytes: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-hostile-rss-'));
  const rssFile = join(dir, 'rss');
  const cwd = options.cwd ?? mkdtempSync(join(tmpdir(), 'effnet-hostile-cwd-'));
  const keep = options.keepBytes ?? 2 ** 20;
  const started = process.hrtime.bigint();
  const child = spawn(TIME, ['-f', '%M', '-o', rssFile, process.execPath, CLI, ...args], {
    cwd,
    detached: true,
    env: { ...process.env, OMP_NUM_THREADS: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let stderrBytes = 0;
  child.stdout.on('data', (chunk: Buffer) => {
    if (stdout.length < keep) stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderrBytes += chunk.length;
    if (stderr.length < keep) stderr += chunk.toString();
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    // /usr/bin/time forwards nothing; kill the command itself (time's only child) and then time.
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  }, (options.timeoutS ?? TIME_LIMIT_S) * 1000);
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c, s) => resolve({ code: c, signal: s }));
  });
  clearTimeout(timer);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  let peakMb = NaN;
  try {
    // time writes "Command terminated by signal N" before the figure when the command was killed.
    const lines = readFileSync(rssFile, 'utf8').trim().split('\n');
    peakMb = Number(lines[lines.length - 1]) / 1024;
  } catch {
    // no figure: peakMb stays NaN and the memory assertion fails, saying so
  }
  // /usr/bin/time exits with the command's code, or 128 + the signal when the command was killed by one.
  const killedBy = /Command terminated by signal (\d+)/.exec(readSafe(rssFile));
  rmSync(dir, { recursive: true, force: true });
  const written = readdirSync(cwd, { recursive: true }).map(String);
  if (options.cwd === undefined) rmSync(cwd, { recursive: true, force: true });
  const commandSignal = killedBy === null ? signal : (`signal ${killedBy[1]}` as NodeJS.Signals);
  return { code: killedBy === null ? code : null, signal: commandSignal, stdout, stderr, stderrBytes, peakMb, seconds, timedOut, written };
}

function readSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Options of {@link assertUserError}. */
export interface UserErrorExpectation {
  /** What the message must say. */
  message: RegExp;
  /** Peak memory bound in MiB; default {@link MEMORY_LIMIT_MB}. */
  maxMb?: number;
  /** Time bound in seconds; default {@link TIME_LIMIT_S}. */
  maxSeconds?: number;
  /** Bound on the bytes of stderr; default 4 KiB. */
  maxStderrBytes?: number;
}

/**
 * Asserts a refusal as a user should see it: exit code 2 (not a signal, not 1), the expected message, no stack
 * trace, at most `maxStderrBytes` of stderr, peak memory and wall time under their bounds, and nothing written in
 * its working directory (the outputs the tests name are elsewhere; each test checks those it owns).
 */
export function assertUserError(result: HostileResult & { stderrBytes: number }, expected: UserErrorExpectation): void {
  const context = `exit ${result.code} signal ${result.signal} after ${result.seconds.toFixed(1)} s, ${result.peakMb.toFixed(0)} MiB; stderr: ${result.stderr.slice(0, 2000)}`;
  assert.equal(result.timedOut, false, `killed at the time limit: ${context}`);
  assert.equal(result.code, 2, `expected exit 2 (a user error): ${context}`);
  assert.match(result.stderr, expected.message, context);
  assert.doesNotMatch(result.stderr, /\n\s+at .+:\d+:\d+\)?\n/, `a stack trace was printed: ${context}`);
  assert.ok(result.stderrBytes <= (expected.maxStderrBytes ?? 4096), `stderr is ${result.stderrBytes} bytes: ${context}`);
  assert.deepEqual(result.written, [], `a refused command wrote into its working directory: ${context}`);
  assertBounded(result, expected);
}

/** Asserts peak memory and wall time under their bounds (for commands that succeed too). */
export function assertBounded(result: HostileResult, bounds: { maxMb?: number; maxSeconds?: number } = {}): void {
  const maxMb = bounds.maxMb ?? MEMORY_LIMIT_MB;
  assert.ok(Number.isFinite(result.peakMb), 'no peak memory figure from /usr/bin/time');
  assert.ok(result.peakMb <= maxMb, `peak memory ${result.peakMb.toFixed(0)} MiB over the ${maxMb} MiB bound`);
  assert.ok(result.seconds <= (bounds.maxSeconds ?? TIME_LIMIT_S), `took ${result.seconds.toFixed(1)} s`);
}
