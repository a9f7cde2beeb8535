/**
 * What the multi-process tests share: a free port for a rendezvous, running one rank's script as its own process
 * (optionally inside a network namespace), reading the float32 state a rank wrote, comparing two states with the
 * tolerance of PyTorch's DDP test, and the rank scripts' exit convention.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** A port nothing listens on now (the OS picks it on loopback; closed again before the ranks use it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

/** Runs `script` with `args` under node (inside network namespace `netns` when given: `ip netns exec`); rejects with its stderr. */
export function runScript(script: string, args: string[], netns?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const command = netns === undefined ? [process.execPath, script, ...args] : ['ip', 'netns', 'exec', netns, process.execPath, script, ...args];
    const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${args.join(' ')} exited ${code}: ${stderr}`))));
  });
}

/** The float32 values of a file a rank wrote. */
export function readFloats(path: string): Float32Array {
  const bytes = readFileSync(path);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

/** PyTorch's DDP test tolerance. */
export const DDP_ATOL = 1e-5;
export const DDP_RTOL = 1.3e-6;

/** The largest excess of |a − b| over atol + rtol·|b| (≤ 0: within tolerance), and the largest |a − b|. */
export function compareStates(a: Float32Array, b: Float32Array, atol = DDP_ATOL, rtol = DDP_RTOL): { excess: number; maxAbs: number } {
  if (a.length !== b.length) throw new Error(`states of ${a.length} and ${b.length} values`);
  let excess = -Infinity;
  let maxAbs = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    maxAbs = Math.max(maxAbs, d);
    excess = Math.max(excess, d - atol - rtol * Math.abs(b[i]!));
  }
  return { excess, maxAbs };
}

/** A rank script's end: exit 0 when `work` resolves, else print the error (with its stack) and exit 1. */
export function exitWhenDone(work: Promise<void>): void {
  work.then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
