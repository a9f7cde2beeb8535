/**
 * Where a training epoch's time goes (`effnet train --profile`): waiting for the data loader, the forward pass with
 * the loss, the backward pass, the gradient all-reduce of data-parallel runs, the optimizer step, the EMA update,
 * evaluation and checkpoints, in wall seconds per epoch. The phases are timed on the host around each part of the
 * step; on the CPU every operator has finished when it returns, so the split is exact (on a GPU, kernels run
 * asynchronously and a phase's time lands where the host next waits for the device). The split tells a user, or a
 * search sizing its trials, what to change: a loader-bound run wants more loader workers or cache=memory, a
 * compute-bound one a smaller network or image size.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';

/** The phases of an epoch, in the order a step meets them. */
export const PROFILE_PHASES = ['data', 'forward', 'backward', 'allreduce', 'optimizer', 'ema', 'eval', 'checkpoint'] as const;

/** One phase's name. */
export type ProfilePhase = (typeof PROFILE_PHASES)[number];

/** One epoch's split: seconds per phase, the epoch's wall seconds, and what is in none of the phases. */
export interface EpochProfile {
  /** Epoch number, from 1. */
  epoch: number;
  /** Wall seconds of the epoch, training and evaluation and checkpoints included. */
  wallSeconds: number;
  /** Seconds per phase. */
  seconds: Record<ProfilePhase, number>;
  /** Wall seconds outside every phase (event-loop turns, progress output, bookkeeping). */
  otherSeconds: number;
}

/** The profile's file name inside a run directory: one JSON line per epoch. */
export const PROFILE_FILE = 'profile.jsonl';

/** Accumulates the phases of one epoch. */
export class EpochTimer {
  private readonly totals = Object.fromEntries(PROFILE_PHASES.map((p) => [p, 0])) as Record<ProfilePhase, number>;
  private readonly started = performance.now();

  /** Adds the time since `since` (a performance.now() value) to `phase`; returns now, to chain phases. */
  add(phase: ProfilePhase, since: number): number {
    const now = performance.now();
    this.totals[phase] += (now - since) / 1000;
    return now;
  }

  /** Times `fn` as `phase`. */
  time<T>(phase: ProfilePhase, fn: () => T): T {
    const start = performance.now();
    try {
      return fn();
    } finally {
      this.add(phase, start);
    }
  }

  /** Times an async `fn` as `phase`. */
  async timeAsync<T>(phase: ProfilePhase, fn: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      return await fn();
    } finally {
      this.add(phase, start);
    }
  }

  /** The epoch's profile so far. */
  finish(epoch: number): EpochProfile {
    const wallSeconds = (performance.now() - this.started) / 1000;
    const inPhases = PROFILE_PHASES.reduce((sum, p) => sum + this.totals[p], 0);
    return { epoch, wallSeconds, seconds: { ...this.totals }, otherSeconds: Math.max(0, wallSeconds - inPhases) };
  }
}

/** One line for people: `profile epoch 3: data 12.1 s (9%) | forward 51.0 s (40%) | ...`. */
export function formatProfile(profile: EpochProfile): string {
  const share = (s: number): string => `${s.toFixed(1)} s (${Math.round((100 * s) / Math.max(profile.wallSeconds, 1e-9))}%)`;
  const parts = PROFILE_PHASES.filter((p) => profile.seconds[p] > 0 || p === 'data').map((p) => `${p} ${share(profile.seconds[p])}`);
  parts.push(`other ${share(profile.otherSeconds)}`);
  return `profile epoch ${profile.epoch} (${profile.wallSeconds.toFixed(1)} s): ${parts.join(' | ')}`;
}

/** Appends an epoch's profile to DIR/profile.jsonl. */
export function appendProfile(runDir: string, profile: EpochProfile): void {
  appendFileSync(join(runDir, PROFILE_FILE), `${JSON.stringify(profile)}\n`);
}
