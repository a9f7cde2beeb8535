/**
 * c10d process groups (Gloo) through the binding: what data-parallel training and sync batch norm build on
 * (src/dist/). A group is formed by a TCPStore rendezvous (rank 0 serves it at host:port, as torchrun's
 * MASTER_ADDR/MASTER_PORT) and Gloo's full mesh of connections. Every collective returns a Promise and waits off the
 * JS thread; collectives must be issued in the same order on every rank (c10d's own rule). In-place collectives
 * write into the tensors given; do not dispose or change them until the Promise settles.
 *
 * Failure behaviour (libtorch 1.13's Gloo): a peer that dies makes the survivors' pending collectives reject within
 * milliseconds ("Connection closed by peer"), a peer that never joins makes the rendezvous reject after the timeout,
 * and a group that has failed cannot be used again: exit and restart, as torchelastic does.
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

/** One rank's side of a c10d Gloo process group. */
export class ProcessGroup {
  private handle: number | null;

  private constructor(
    handle: number,
    /** This process's rank. */
    readonly rank: number,
    /** Number of ranks. */
    readonly worldSize: number,
  ) {
    this.handle = handle;
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
    return new ProcessGroup(handle, rank, worldSize);
  }

  private get id(): number {
    if (this.handle === null) throw new Error('this process group was destroyed; create a new one with ProcessGroup.create()');
    return this.handle;
  }

  /**
   * Combines `tensor` (dense, the same shape and dtype on every rank) across ranks, in place. One tensor per call:
   * Gloo reads several tensors of one call as copies on several devices, so to reduce many, flatten them into one
   * (src/dist/data-parallel.ts does, in buckets).
   */
  allreduce(tensor: Tensor, op: ReduceOperation = 'sum'): Promise<void> {
    return native.allreduce(this.id, tensor.handle, op);
  }

  /** Copies rank `root`'s `tensor` into every rank's, in place (one tensor per call, as allreduce). */
  broadcast(tensor: Tensor, root = 0): Promise<void> {
    return native.broadcast(this.id, tensor.handle, root);
  }

  /** Every rank's `tensor`, in rank order (new tensors the caller owns). */
  async allgather(tensor: Tensor): Promise<Tensor[]> {
    const handles = await native.allgather(this.id, tensor.handle);
    return handles.map((h) => new Tensor(h));
  }

  /**
   * The sum over ranks of `tensor` as a new tensor autograd records: its backward allreduces the incoming gradient,
   * which is the exact adjoint when every rank's loss uses the sum (sync batch norm's statistics). Synchronous: the
   * JS thread waits for the collective, in the forward and again in the backward pass, so every rank must run the
   * same forward and backward.
   */
  allreduceSumDifferentiable(tensor: Tensor): Tensor {
    return new Tensor(native.allreduceSumDifferentiable(this.id, tensor.handle));
  }

  /** Resolves once every rank has reached it. */
  barrier(): Promise<void> {
    return native.barrier(this.id);
  }

  /** Leaves the group (closes this rank's connections); pending collectives settle first. */
  destroy(): void {
    if (this.handle === null) return;
    native.destroyProcessGroup(this.handle);
    this.handle = null;
  }
}
