/**
 * The launcher behind `effnet train --nproc-per-node N`: torchrun's agent for one host. It starts N workers with
 * torchrun's environment (environment.ts), waits for them, and when one fails (a non-zero exit or a signal) names
 * it, gives the others a grace period to fail on their own (a lost peer makes their collectives throw within
 * milliseconds) and then stops them. With restarts left it starts the whole group again (torchelastic's model: the
 * workers resume from the last checkpoint, which the caller's `argsFor(restart)` asks for), else it reports the
 * first failure. SIGINT/SIGTERM are passed on to the workers, which stop with a checkpoint; nothing is restarted then.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { workerVariables, type WorkerEnvironment } from './environment.js';

/** What {@link launchWorkers} needs. */
export interface LaunchOptions {
  /** The program each worker runs (e.g. process.execPath). */
  command: string;
  /** Its arguments at each start: restart 0 is the first start, 1.. the restarts (e.g. add --resume when a checkpoint exists). */
  argsFor: (restart: number) => string[];
  /** Workers on this host. */
  nprocPerNode: number;
  /** Hosts in all (default 1); this host's workers are ranks nodeRank·N .. nodeRank·N + N − 1. */
  nnodes?: number;
  /** This host's index, 0 ≤ nodeRank < nnodes (default 0). */
  nodeRank?: number;
  /** Rank 0's host as every worker reaches it. */
  masterAddr: string;
  /** The rendezvous port (rank 0's TCPStore). */
  masterPort: number;
  /** Whole-group restarts after a failure (default 0). */
  maxRestarts?: number;
  /** OMP_NUM_THREADS of each worker (libtorch's threads); default: the caller's environment's. */
  threadsPerWorker?: number;
  /** The workers' environment before torchrun's variables (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** How long the other workers may take to exit by themselves after a failure before they are stopped (default 10 s). */
  graceMs?: number;
  /** Launcher messages (failures, restarts); default stderr. */
  log?: (line: string) => void;
}

/** One worker's failure. */
export interface WorkerFailure {
  /** Global rank. */
  rank: number;
  /** Rank on this host. */
  localRank: number;
  /** Its process id. */
  pid: number;
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  /** The signal that ended it, or null. */
  signal: NodeJS.Signals | null;
  /** The start it belonged to (0 the first). */
  restart: number;
}

/** How a launch ended. */
export interface LaunchResult {
  /** 0 when every worker of the last start succeeded; else the exit status to report (see {@link launchWorkers}). */
  code: number;
  /** Restarts made. */
  restarts: number;
  /** The first failure of each failed start, in order. */
  failures: WorkerFailure[];
  /** The signal the launcher received and passed on, or null. */
  interruptedBy: NodeJS.Signals | null;
}

/** The exit code of a worker that refused its input (effnet's user errors): never restarted, passed on as it is. */
export const USER_ERROR_EXIT = 2;

/** How a worker's end reads in a message: 'exited with code 1' or 'was killed by SIGKILL'. */
export function describeExit(failure: Pick<WorkerFailure, 'code' | 'signal'>): string {
  return failure.signal !== null ? `was killed by ${failure.signal}` : `exited with code ${failure.code}`;
}

interface Started {
  child: ChildProcess;
  worker: WorkerEnvironment;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Runs the workers until they all succeed, or a start fails with no restart left. The result's code is 0, the
 * workers' status after a passed-on signal (130/143 when they stopped with a checkpoint), 2 when a worker refused
 * its input (exit code 2: a user error, not restarted), or 1 after a failure with no restart left.
 */
export async function launchWorkers(options: LaunchOptions): Promise<LaunchResult> {
  const nnodes = options.nnodes ?? 1;
  const nodeRank = options.nodeRank ?? 0;
  const perNode = options.nprocPerNode;
  if (!(Number.isInteger(perNode) && perNode >= 1)) throw new RangeError(`launchWorkers: nprocPerNode must be a positive integer, got ${perNode}`);
  if (!(Number.isInteger(nodeRank) && nodeRank >= 0 && nodeRank < nnodes)) throw new RangeError(`launchWorkers: nodeRank ${nodeRank} is not in 0..${nnodes - 1}`);
  const maxRestarts = options.maxRestarts ?? 0;
  const graceMs = options.graceMs ?? 10_000;
  const log = options.log ?? ((line: string): void => void process.stderr.write(`${line}\n`));
  const failures: WorkerFailure[] = [];
  let interruptedBy: NodeJS.Signals | null = null;
  let current: Started[] = [];
  const onSignal = (signal: NodeJS.Signals): void => {
    interruptedBy = signal;
    for (const { child } of current) if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    for (let restart = 0; ; restart++) {
      current = startWorkers(options, restart, nnodes, nodeRank);
      const failure = await firstFailure(current, restart);
      if (failure === null) return { code: 0, restarts: restart, failures, interruptedBy };
      if (interruptedBy !== null) {
        // The workers were told to stop: wait for their checkpoint, and report how they ended.
        const ends = await Promise.all(current.map((s) => s.exit));
        const code = ends.find((e) => e.code !== 0)?.code ?? 1;
        return { code: code === null ? 1 : code, restarts: restart, failures, interruptedBy };
      }
      failures.push(failure);
      log(`effnet launch: rank ${failure.rank} (local rank ${failure.localRank}, pid ${failure.pid}) ${describeExit(failure)}; stopping the group`);
      await stopAll(current, graceMs);
      if (failure.code === USER_ERROR_EXIT) {
        // A user error (bad flags, data, rendezvous address): every restart would fail the same way.
        log(`effnet launch: rank ${failure.rank} refused the run (exit code ${USER_ERROR_EXIT}, its message is above); not restarting`);
        return { code: USER_ERROR_EXIT, restarts: restart, failures, interruptedBy };
      }
      if (restart >= maxRestarts) {
        log(`effnet launch: the group failed: rank ${failure.rank} ${describeExit(failure)}` + (maxRestarts > 0 ? ` (after ${restart} restart${restart === 1 ? '' : 's'}, --max-restarts ${maxRestarts})` : ''));
        return { code: 1, restarts: restart, failures, interruptedBy };
      }
      log(`effnet launch: restarting the group (restart ${restart + 1} of ${maxRestarts}) from the last checkpoint`);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function startWorkers(options: LaunchOptions, restart: number, nnodes: number, nodeRank: number): Started[] {
  const perNode = options.nprocPerNode;
  const args = options.argsFor(restart);
  const started: Started[] = [];
  for (let localRank = 0; localRank < perNode; localRank++) {
    const worker: WorkerEnvironment = {
      rank: nodeRank * perNode + localRank,
      worldSize: nnodes * perNode,
      localRank,
      localWorldSize: perNode,
      masterAddr: options.masterAddr,
      masterPort: options.masterPort,
      restartCount: restart,
      agentStore: false,
    };
    const env = { ...(options.env ?? process.env), ...workerVariables(worker), ...(options.threadsPerWorker === undefined ? {} : { OMP_NUM_THREADS: String(options.threadsPerWorker) }) };
    const child = spawn(options.command, args, { env, stdio: ['ignore', 'inherit', 'inherit'] });
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', () => resolve({ code: 127, signal: null }));
    });
    started.push({ child, worker, exit });
  }
  return started;
}

/** Resolves with the first failing worker of this start, or null once every worker has exited with 0. */
function firstFailure(started: Started[], restart: number): Promise<WorkerFailure | null> {
  return new Promise((resolve) => {
    let succeeded = 0;
    let settled = false;
    for (const { child, worker, exit } of started) {
      void exit.then(({ code, signal }) => {
        if (settled) return;
        if (code === 0) {
          succeeded += 1;
          if (succeeded === started.length) {
            settled = true;
            resolve(null);
          }
          return;
        }
        settled = true;
        resolve({ rank: worker.rank, localRank: worker.localRank, pid: child.pid ?? -1, code, signal, restart });
      });
    }
  });
}

/** Waits up to graceMs for every worker to exit, then sends SIGTERM, and SIGKILL 5 s later to any still running. */
async function stopAll(started: Started[], graceMs: number): Promise<void> {
  const all = Promise.all(started.map((s) => s.exit));
  const within = (ms: number): Promise<boolean> =>
    Promise.race([all.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms).unref())]);
  if (await within(graceMs)) return;
  for (const { child } of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  if (await within(5_000)) return;
  for (const { child } of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await all;
}
