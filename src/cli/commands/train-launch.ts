/**
 * The data-parallel side of `effnet train`: its launcher flags (--nproc-per-node, --nnodes, --node-rank, --rdzv,
 * --max-restarts), turning them into a launch of N `effnet train` workers (src/distributed/launch.ts), and, in a worker,
 * reading torchrun's environment into the run's distributed options (--sync-bn, --dist-bn, --dist-timeout).
 */
import { availableParallelism } from 'node:os';
import { createServer } from 'node:net';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { launchWorkers, readWorkerEnvironment, type LaunchResult } from '../../distributed/index.js';
import type { DistributedRunOptions } from '../../train/run.js';
import { RUN_FILES } from '../../model-file/run-files.js';
import { choiceFlag, intFlag, numberFlag, threadCountFlag, UsageError } from '../options.js';

/** The flags only the launcher reads; they are not passed on to the workers. */
export const LAUNCHER_FLAGS = ['nproc-per-node', 'nnodes', 'node-rank', 'rdzv', 'max-restarts'] as const;

/** The parsed launcher and worker flags of `effnet train`. */
export interface DistributedFlags {
  'nproc-per-node'?: string | undefined;
  nnodes?: string | undefined;
  'node-rank'?: string | undefined;
  rdzv?: string | undefined;
  'max-restarts'?: string | undefined;
  'sync-bn'?: boolean | undefined;
  'dist-bn'?: string | undefined;
  'dist-timeout'?: string | undefined;
  threads?: string | undefined;
  resume?: boolean | undefined;
  out?: string | undefined;
  'batch-size'?: string | undefined;
}

/** `args` without the launcher's own flags (`--flag value` and `--flag=value` forms). */
export function withoutLauncherFlags(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const name = LAUNCHER_FLAGS.find((flag) => arg === `--${flag}` || arg.startsWith(`--${flag}=`));
    if (name === undefined) {
      out.push(arg);
      continue;
    }
    if (arg === `--${name}`) i += 1; // its value
  }
  return out;
}

/** Parses `--rdzv HOST:PORT` (an IPv6 host in brackets: [::1]:29500). */
export function parseRendezvous(text: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(text);
  const port = match ? Number(match[2]) : NaN;
  if (!match || !(port >= 1 && port <= 65535)) throw new UsageError(`--rdzv takes HOST:PORT, rank 0's host as every node reaches it and a free port (e.g. 10.0.0.1:29500), got '${text}'`);
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

/** A TCP port nothing listens on now on `host` (the OS picks it). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

/**
 * The worker flags checked (the launcher checks them before it starts anyone, each worker again): --dist-bn's value
 * as the run option (undefined when not given), --dist-timeout in seconds.
 */
export function workerFlags(values: DistributedFlags): { batchNorm: 'reduce' | 'broadcast' | 'none' | undefined; timeoutSeconds: number | undefined } {
  const batchNorm = choiceFlag('dist-bn', values['dist-bn'], ['reduce', 'broadcast', 'none'] as const);
  if (values['sync-bn'] && batchNorm !== undefined) throw new UsageError('--dist-bn sets how per-rank batch-norm statistics are made equal; with --sync-bn they are equal already, drop one of the two');
  return { batchNorm, timeoutSeconds: numberFlag('dist-timeout', values['dist-timeout'], Number.MIN_VALUE) };
}

/** The worker side: this process's data-parallel options from torchrun's environment, or null for a one-process run. */
export function distributedRunOptionsFrom(values: DistributedFlags, env: NodeJS.ProcessEnv = process.env): DistributedRunOptions | null {
  const worker = readWorkerEnvironment(env);
  const { batchNorm, timeoutSeconds: timeout } = workerFlags(values);
  if (worker === null || worker.worldSize === 1) {
    const given = (['sync-bn', 'dist-bn', 'dist-timeout'] as const).filter((flag) => values[flag] !== undefined && values[flag] !== false);
    if (given.length > 0 && worker === null) {
      throw new UsageError(`--${given[0]} is for data-parallel runs; add --nproc-per-node N (or start the workers with torchrun --no-python)`);
    }
    return null;
  }
  return {
    worker,
    syncBatchNorm: values['sync-bn'] ?? false,
    batchNormStatistics: batchNorm === undefined ? 'reduce' : batchNorm === 'none' ? null : batchNorm,
    timeoutMs: (timeout ?? 300) * 1000,
    ...(env.GLOO_SOCKET_IFNAME ? { iface: env.GLOO_SOCKET_IFNAME } : {}),
  };
}

/** Whether these flags ask for the launcher (--nproc-per-node). */
export function isLaunch(values: DistributedFlags): boolean {
  return values['nproc-per-node'] !== undefined;
}

/**
 * The launcher side: starts `--nproc-per-node` workers of `effnet <command>` with `args` (less the launcher's flags),
 * threads per worker = cores / workers unless --threads is given, and on a restart adds --resume once a checkpoint
 * exists. Returns the exit code (0, 130/143 after a passed-on signal, 1 after a failure with no restart left).
 * @param command the effnet command the workers run before `args`: ['train'] (default) or ['oneshot'] (whose args
 *   begin with its subcommand)
 */
export async function launchTraining(values: DistributedFlags, args: readonly string[], log: (line: string) => void, command: readonly string[] = ['train']): Promise<LaunchResult> {
  const nprocPerNode = threadCountFlag('nproc-per-node', values['nproc-per-node'], 1)!;
  const nnodes = intFlag('nnodes', values.nnodes, 1) ?? 1;
  const nodeRank = intFlag('node-rank', values['node-rank'], 0) ?? 0;
  const maxRestarts = intFlag('max-restarts', values['max-restarts'], 0) ?? 0;
  if (nodeRank >= nnodes) throw new UsageError(`--node-rank ${nodeRank} must be below --nnodes ${nnodes} (nodes are numbered 0..${nnodes - 1})`);
  if (nnodes > 1 && values.rdzv === undefined) throw new UsageError(`--nnodes ${nnodes} needs --rdzv HOST:PORT: node 0's address as every node reaches it, the same on every node`);
  if (readWorkerEnvironment() !== null) throw new UsageError('--nproc-per-node starts workers itself; this process already runs as a worker (RANK/WORLD_SIZE are set): drop one of the two launchers');
  const batchSize = intFlag('batch-size', values['batch-size'], 1) ?? 32;
  if (batchSize % (nnodes * nprocPerNode) !== 0) {
    throw new UsageError(`--batch-size ${batchSize} is the global batch and must divide evenly over ${nnodes * nprocPerNode} ranks; choose a multiple of ${nnodes * nprocPerNode}`);
  }
  const rendezvous = values.rdzv === undefined ? { host: '127.0.0.1', port: await freePort('127.0.0.1') } : parseRendezvous(values.rdzv);
  const workerArgs = withoutLauncherFlags(args);
  const runDir = values.out;
  const threadsPerWorker = values.threads === undefined ? Math.max(1, Math.floor(availableParallelism() / nprocPerNode)) : undefined;
  log(
    `effnet launch: ${nprocPerNode} worker(s) on this node (node ${nodeRank} of ${nnodes}, ranks ${nodeRank * nprocPerNode}..${(nodeRank + 1) * nprocPerNode - 1} of ${nnodes * nprocPerNode}), ` +
      `rendezvous ${rendezvous.host}:${rendezvous.port}, ${threadsPerWorker ?? values.threads} thread(s) each${maxRestarts > 0 ? `, up to ${maxRestarts} restart(s)` : ''}`,
  );
  return launchWorkers({
    command: process.execPath,
    argsFor: (restart) => {
      const resume = restart > 0 && !values.resume && runDir !== undefined && existsSync(join(runDir, RUN_FILES.last));
      return [process.argv[1]!, ...command, ...workerArgs, ...(resume ? ['--resume'] : [])];
    },
    nprocPerNode,
    nnodes,
    nodeRank,
    masterAddr: rendezvous.host,
    masterPort: rendezvous.port,
    maxRestarts,
    ...(threadsPerWorker === undefined ? {} : { threadsPerWorker }),
    log,
  });
}
