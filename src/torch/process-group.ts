/**
 * c10d process groups (Gloo) through the binding: what data-parallel training and sync batch norm build on
 * (src/distributed/). A group is formed by a TCPStore rendezvous (rank 0 serves it at host:port, as torchrun's
 * MASTER_ADDR/MASTER_PORT) and Gloo's full mesh of connections. Every collective returns a Promise and waits off the
 * JS thread; collectives must be issued in the same order on every rank (c10d's own rule). In-place collectives
 * write into the tensors given; do not dispose or change them until the Promise settles.
 *
 * Failure behaviour (libtorch 1.13's Gloo): a peer that dies makes the survivors' pending collectives reject within
 * milliseconds ("Connection closed by peer"), a peer that never joins makes the rendezvous reject after the timeout,
 * and a group that has failed cannot be used again: exit and restart, as torchelastic does. A failed collective's
 * error names the lost ranks: before it rejects, each survivor checks in at the rendezvous store and waits a few
 * seconds for the others to do the same (see {@link ProcessGroup.lostRanks}).
 */
import { native } from './native.js';
import { Tensor } from './tensor.js';

/** Where and how to meet the other ranks. */
export interface ProcessGroupOptions {
  /** The rendezvous host (rank 0's address as the others reach it; MASTER_ADDR). */
  host: string;
  /** The rendezvous port rank 0 listens on (MASTER_PORT). */
  port: number;
  /** This process's rank, 0 ≤ rank < worldSize (RANK). */
  rank: number;
  /** Number of ranks (WORLD_SIZE). */
  worldSize: number;
  /** How long the rendezvous and each collective may wait for the others; default 60 s. */
  timeoutMs?: number;
  /** The network interface Gloo binds to (as GLOO_SOCKET_IFNAME); default: `hostname`, else the machine's hostname. */
  iface?: string;
  /** The address Gloo binds to and announces to the others; default: the machine's hostname (c10d's default device). */
  hostname?: string;
  /** Key prefix in the store, so that several groups can share one rendezvous; default 'default_pg'. */
  prefix?: string;
  /**
   * Whether this rank serves the rendezvous store at host:port; default: rank 0 does. False on every rank when a
   * launcher serves it already (torchrun's agent store, TORCHELASTIC_USE_AGENT_STORE=True).
   */
  serveStore?: boolean;
}

/** How {@link ProcessGroup.allreduce} combines the ranks' values. Gloo has no average: sum, then divide. */
export type ReduceOperation = 'sum' | 'product' | 'min' | 'max';

/** What to check when a rendezvous fails, from the error libtorch gave. */
function rendezvousHint(error: unknown, at: { host: string; port: number; worldSize: number; timeoutMs: number }): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/address already in use/i.test(message)) return ` (port ${at.port} is taken on this host: choose another MASTER_PORT / --rdzv port)`;
  if (/time(d)? ?out/i.test(message)) {
    return ` (not all ${at.worldSize} ranks joined ${at.host}:${at.port} within ${at.timeoutMs} ms: start every rank with the same address, port and world size, and check that rank 0's host is reachable on that port)`;
  }
  if (/refused|reset by peer|closed by peer/i.test(message)) return ` (a rank left during the rendezvous, or ${at.host}:${at.port} is not the rendezvous of this group)`;
  return '';
}

/** How long a survivor of a failed collective waits for the other survivors to check in, ms. */
export const CHECK_IN_WINDOW_MS = 2000;

/** How long rank 0, whose process serves the store, keeps serving after its own check-in window, ms. */
const STORE_GRACE_MS = 2000;

/** Errors already annotated with the lost ranks (so that a rethrow is not annotated twice). */
const annotated = new WeakSet<Error>();

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** One rank's side of a c10d Gloo process group. */
export class ProcessGroup {
  private handle: number | null;
  private checkedIn = false;
  private serves: boolean;

  private constructor(
    handle: number,
    /** This process's rank. */
    readonly rank: number,
    /** Number of ranks. */
    readonly worldSize: number,
    serves: boolean,
  ) {
    this.handle = handle;
    this.serves = serves;
  }

  /**
   * Joins the group: resolves once every rank has connected; rejects naming this rank and the rendezvous address when
   * the others do not come within the timeout or the address cannot be reached.
   */
  static async create(options: ProcessGroupOptions): Promise<ProcessGroup> {
    const { host, port, rank, worldSize } = options;
    const timeoutMs = options.timeoutMs ?? 60_000;
    let handle: number;
    try {
      handle = await native.initProcessGroup(host, port, rank, worldSize, timeoutMs, options.iface ?? '', options.hostname ?? '', options.prefix ?? 'default_pg', options.serveStore ?? rank === 0);
    } catch (error) {
      throw new Error(`${error instanceof Error ? error.message : String(error)}${rendezvousHint(error, { host, port, worldSize, timeoutMs })}`, { cause: error });
    }
    return new ProcessGroup(handle, rank, worldSize, options.serveStore ?? rank === 0);
  }

  private get id(): number {
    if (this.handle === null) throw new Error('this process group was destroyed; create a new one with ProcessGroup.create()');
    return this.handle;
  }

  /**
   * Combines `tensor` (dense, the same shape and dtype on every rank) across ranks, in place. One tensor per call:
   * Gloo reads several tensors of one call as copies on several devices, so to reduce many, flatten them into one
   * (src/distributed/data-parallel.ts does, in buckets).
   */
  allreduce(tensor: Tensor, op: ReduceOperation = 'sum'): Promise<void> {
    return this.naming(native.allreduce(this.id, tensor.handle, op));
  }

  /** Copies rank `root`'s `tensor` into every rank's, in place (one tensor per call, as allreduce). */
  broadcast(tensor: Tensor, root = 0): Promise<void> {
    return this.naming(native.broadcast(this.id, tensor.handle, root));
  }

  /** Every rank's `tensor`, in rank order (new tensors the caller owns). */
  async allgather(tensor: Tensor): Promise<Tensor[]> {
    const handles = await this.naming(native.allgather(this.id, tensor.handle));
    return handles.map((h) => new Tensor(h));
  }

  /** `pending`, its rejection annotated with the lost ranks. */
  private async naming<T>(pending: Promise<T>): Promise<T> {
    try {
      return await pending;
    } catch (error) {
      throw this.withLostRanks(error);
    }
  }

  /**
   * The ranks that did not check in at the rendezvous store within {@link CHECK_IN_WINDOW_MS} after a failure:
   * this rank checks in, then waits for the others (blocking: the group is unusable anyway). Survivors of a lost peer
   * all come here within milliseconds of each other (their collectives fail together), or later once their own
   * collective fails; check-ins stay in the store, so a late survivor still sees the early ones. When the store does
   * not answer, its server is gone: rank 0's process (or, under torchrun, its agent). Rank 0 keeps serving a few
   * seconds longer than the window, so that later survivors can still check in. Called once per group; a second
   * call returns the first answer.
   */
  lostRanks(): { lost: number[]; storeGone: boolean } {
    if (this.lostAnswer !== null) return this.lostAnswer;
    const key = (rank: number): string => `effnet/survivor/${rank}`;
    const others = [...Array(this.worldSize).keys()].filter((r) => r !== this.rank);
    let answer: { lost: number[]; storeGone: boolean };
    try {
      native.storeSet(this.id, key(this.rank), String(process.pid));
      this.checkedIn = true;
      const started = performance.now();
      let missing = others;
      while (missing.length > 0 && performance.now() - started < CHECK_IN_WINDOW_MS) {
        sleepSync(50);
        missing = missing.filter((r) => !native.storeCheck(this.id, key(r)));
      }
      answer = { lost: missing, storeGone: false };
    } catch {
      answer = { lost: this.serves ? [] : [0], storeGone: true };
    }
    if (this.serves && this.checkedIn) sleepSync(STORE_GRACE_MS);
    this.lostAnswer = answer;
    return answer;
  }

  private lostAnswer: { lost: number[]; storeGone: boolean } | null = null;

  /**
   * `error` (a failed collective's) with the lost ranks appended, e.g. "…: Connection closed by peer […]; lost rank 2
   * (did not check in within 2 s; 0 and 1 did)". Errors that are not c10d's pass through unchanged.
   */
  withLostRanks(error: unknown): unknown {
    if (!(error instanceof Error) || annotated.has(error) || !/^c10d /.test(error.message) || this.handle === null) return error;
    const { lost, storeGone } = this.lostRanks();
    const alive = [...Array(this.worldSize).keys()].filter((r) => !lost.includes(r));
    const what = storeGone
      ? `the rendezvous store no longer answers, so the lost ranks cannot be told${this.serves ? '' : ' (its server, rank 0 or the launcher, is lost or has already exited after the failure)'}`
      : lost.length === 0
        ? `no rank is lost (all ${this.worldSize} checked in): a collective was issued out of order, or it timed out`
        : `lost rank${lost.length === 1 ? '' : 's'} ${lost.join(', ')} (did not check in within ${CHECK_IN_WINDOW_MS / 1000} s; ${alive.join(', ')} did)`;
    const named = new Error(`${error.message}; ${what}`, { cause: error });
    annotated.add(named);
    return named;
  }

  /**
   * The sum over ranks of `tensor` as a new tensor autograd records: its backward allreduces the incoming gradient,
   * which is the exact adjoint when every rank's loss uses the sum (sync batch norm's statistics). Synchronous: the
   * JS thread waits for the collective, in the forward and again in the backward pass, so every rank must run the
   * same forward and backward.
   */
  allreduceSumDifferentiable(tensor: Tensor): Tensor {
    try {
      return new Tensor(native.allreduceSumDifferentiable(this.id, tensor.handle));
    } catch (error) {
      throw this.withLostRanks(error);
    }
  }

  /** Resolves once every rank has reached it. */
  barrier(): Promise<void> {
    return this.naming(native.barrier(this.id));
  }

  /** Leaves the group (closes this rank's connections); pending collectives settle first. */
  destroy(): void {
    if (this.handle === null) return;
    native.destroyProcessGroup(this.handle);
    this.handle = null;
  }
}
