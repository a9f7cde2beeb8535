/**
 * torchrun's worker environment (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT): what
 * our launcher (launch.ts) sets for each worker and what `torchrun --no-python` sets too, so that either can start
 * `effnet train` ranks. Read and checked in one place, with errors that name the variable and what to set.
 */
import { UserError } from '../errors.js';

/** A worker environment that is incomplete or contradicts itself (a user error: exit code 2). */
export class DistributedEnvironmentError extends UserError {
  override name = 'DistributedEnvironmentError';
}

/** Where this process stands in a data-parallel group, as torchrun describes it. */
export interface WorkerEnvironment {
  /** Global rank, 0 ≤ rank < worldSize (RANK). */
  rank: number;
  /** Number of ranks over all hosts (WORLD_SIZE). */
  worldSize: number;
  /** Rank among this host's workers (LOCAL_RANK). */
  localRank: number;
  /** Workers on this host (LOCAL_WORLD_SIZE). */
  localWorldSize: number;
  /** Rank 0's host: the rendezvous store's address (MASTER_ADDR). */
  masterAddr: string;
  /** The rendezvous store's port (MASTER_PORT). */
  masterPort: number;
  /** How many times the launcher has restarted the group before this start (TORCHELASTIC_RESTART_COUNT; 0 when unset). */
  restartCount: number;
  /**
   * Whether the launcher serves the rendezvous store itself, so that every rank joins it as a client under
   * `/worker/attempt_<restartCount>` (torchrun's agent store: TORCHELASTIC_USE_AGENT_STORE=True); else rank 0 serves it.
   */
  agentStore: boolean;
}

/** The variables a worker needs; LOCAL_* and the restart count have defaults. */
export const WORKER_VARIABLES = ['RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'] as const;

function integer(env: NodeJS.ProcessEnv, name: string, min: number, fallback?: number): number {
  const text = env[name];
  if (text === undefined || text === '') {
    if (fallback !== undefined) return fallback;
    throw new DistributedEnvironmentError(`${name} is not set; a data-parallel worker needs ${WORKER_VARIABLES.join(', ')} (start it with effnet train --nproc-per-node N, or torchrun --no-python)`);
  }
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new DistributedEnvironmentError(`${name} must be an integer >= ${min}, got '${text}'`);
  return value;
}

/**
 * This process's worker environment, or null when none of RANK and WORLD_SIZE is set (a single-process run).
 * @throws DistributedEnvironmentError when it is set but incomplete or inconsistent (e.g. RANK ≥ WORLD_SIZE)
 */
export function readWorkerEnvironment(env: NodeJS.ProcessEnv = process.env): WorkerEnvironment | null {
  if ((env.RANK ?? '') === '' && (env.WORLD_SIZE ?? '') === '') return null;
  const worldSize = integer(env, 'WORLD_SIZE', 1);
  const rank = integer(env, 'RANK', 0);
  if (rank >= worldSize) throw new DistributedEnvironmentError(`RANK ${rank} is not below WORLD_SIZE ${worldSize}; ranks run from 0 to WORLD_SIZE - 1`);
  const localWorldSize = integer(env, 'LOCAL_WORLD_SIZE', 1, worldSize);
  const localRank = integer(env, 'LOCAL_RANK', 0, rank % localWorldSize);
  if (localRank >= localWorldSize) throw new DistributedEnvironmentError(`LOCAL_RANK ${localRank} is not below LOCAL_WORLD_SIZE ${localWorldSize}`);
  const masterAddr = env.MASTER_ADDR ?? '';
  if (masterAddr === '') throw new DistributedEnvironmentError(`MASTER_ADDR is not set; it is rank 0's host as the other ranks reach it (e.g. 127.0.0.1 on one machine)`);
  const masterPort = integer(env, 'MASTER_PORT', 1);
  if (masterPort > 65535) throw new DistributedEnvironmentError(`MASTER_PORT must be a TCP port (1..65535), got ${masterPort}`);
  const restartCount = integer(env, 'TORCHELASTIC_RESTART_COUNT', 0, 0);
  return { rank, worldSize, localRank, localWorldSize, masterAddr, masterPort, restartCount, agentStore: env.TORCHELASTIC_USE_AGENT_STORE === 'True' };
}

/** The variables that describe `worker` (what the launcher puts into each worker's environment). */
export function workerVariables(worker: WorkerEnvironment): Record<string, string> {
  return {
    RANK: String(worker.rank),
    WORLD_SIZE: String(worker.worldSize),
    LOCAL_RANK: String(worker.localRank),
    LOCAL_WORLD_SIZE: String(worker.localWorldSize),
    GROUP_RANK: String(Math.floor(worker.rank / worker.localWorldSize)),
    MASTER_ADDR: worker.masterAddr,
    MASTER_PORT: String(worker.masterPort),
    TORCHELASTIC_RESTART_COUNT: String(worker.restartCount),
    ...(worker.agentStore ? { TORCHELASTIC_USE_AGENT_STORE: 'True' } : {}),
  };
}
