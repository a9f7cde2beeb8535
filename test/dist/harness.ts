/**
 * What the multi-process tests share: a free port for a rendezvous, running one rank's script as its own process
 * (optionally inside a network namespace), reading the float32 state a rank wrote or a safetensors file's floats, comparing two states with the
 * tolerance of PyTorch's DDP test, and the rank scripts' exit convention.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { decodeSafetensors } from '../../src/io/safetensors.js';

/**
 * The float tensors of a safetensors file whose names `keep` accepts, in name order, concatenated as float32 (a
 * float64 buffer is rounded): a model file or checkpoint as one array for {@link compareStates}.
 */
export function fileValues(path: string, keep: (name: string) => boolean = () => true): Float32Array {
  const { tensors } = decodeSafetensors(readFileSync(path), path);
  const parts = [...tensors.entries()]
    .filter(([name, t]) => keep(name) && (t.data instanceof Float32Array || t.data instanceof Float64Array))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([, t]) => Float32Array.from(t.data as Float32Array | Float64Array));
  const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    all.set(p, offset);
    offset += p.length;
  }
  return all;
}

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

/** Whether this process may create network namespaces (root with iproute2). */
export function canUseNamespaces(): boolean {
  if (process.getuid?.() !== 0) return false;
  return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).status === 0;
}

/** Two "hosts": network namespaces joined by a veth pair, each with its device and address. */
export interface TwoHosts {
  names: [string, string];
  devices: [string, string];
  addresses: [string, string];
}

/** Runs `work` with two fresh network namespaces joined by a veth pair (10.77.0.1 and .2), deleted afterwards. Needs root. */
export async function withTwoHosts<T>(work: (hosts: TwoHosts) => Promise<T>): Promise<T> {
  const tag = `${process.pid % 100000}`;
  const hosts: TwoHosts = { names: [`effA${tag}`, `effB${tag}`], devices: [`va${tag}`, `vb${tag}`], addresses: ['10.77.0.1', '10.77.0.2'] };
  const ip = (...args: string[]): void => {
    const result = spawnSync('ip', args, { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`ip ${args.join(' ')}: ${result.stderr}`);
  };
  try {
    for (const name of hosts.names) ip('netns', 'add', name);
    ip('link', 'add', hosts.devices[0], 'type', 'veth', 'peer', 'name', hosts.devices[1]);
    for (const i of [0, 1] as const) {
      ip('link', 'set', hosts.devices[i], 'netns', hosts.names[i]);
      ip('-n', hosts.names[i], 'addr', 'add', `${hosts.addresses[i]}/24`, 'dev', hosts.devices[i]);
      ip('-n', hosts.names[i], 'link', 'set', 'lo', 'up');
      ip('-n', hosts.names[i], 'link', 'set', hosts.devices[i], 'up');
    }
    return await work(hosts);
  } finally {
    for (const name of hosts.names) spawnSync('ip', ['netns', 'del', name]);
  }
}
