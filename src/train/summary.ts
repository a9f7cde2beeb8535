/**
 * The end-of-run summary of `effnet train`: best and last validation top-1/top-5 of the raw and the EMA weights
 * (read back from the run's metrics.jsonl, so epochs trained before a resume count too), wall time and throughput.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatDuration } from './progress.js';
import type { EpochMetrics } from './trainer.js';
import { RUN_FILES } from '../model-file/run-files.js';

/** A top-1/top-5 pair and the epoch it was measured at. */
export interface AccuracyAt {
  /** Epoch, from 1. */
  epoch: number;
  /** Top-1 accuracy in [0, 1]. */
  top1: number;
  /** Top-5 accuracy in [0, 1]. */
  top5: number;
}

/** What a finished (or interrupted) run reached. */
export interface RunSummary {
  /** Epochs completed in the run directory (all invocations). */
  epochs: number;
  /** Best raw-weights validation top-1 (with its top-5), or null without validation. */
  bestRaw: AccuracyAt | null;
  /** Last epoch's raw-weights validation accuracy. */
  lastRaw: AccuracyAt | null;
  /** Best EMA validation top-1 (with its top-5), or null without EMA. */
  bestEma: AccuracyAt | null;
  /** Last epoch's EMA validation accuracy. */
  lastEma: AccuracyAt | null;
  /**
   * Wall seconds of the whole run: this invocation's (set-up, training and evaluation) plus
   * {@link earlierSeconds}, so a resumed run is not under-reported.
   */
  wallSeconds: number;
  /** Of wallSeconds, the seconds earlier invocations spent training before this one resumed (0 for a fresh run). */
  earlierSeconds: number;
  /** Training images per second, averaged over the epochs this invocation ran (loader included). */
  imagesPerSecond: number | null;
}

/** Reads a run directory's metrics.jsonl (one EpochMetrics per line); [] when there is none. */
export function readMetrics(runDir: string): EpochMetrics[] {
  const path = join(runDir, RUN_FILES.metricsJsonl);
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim().length > 0)
    .map((line, i) => {
      try {
        return JSON.parse(line) as EpochMetrics;
      } catch (error) {
        throw new Error(`${path}: line ${i + 1} is not JSON (${(error as Error).message}); the metrics log is corrupt`);
      }
    });
}

function pick(rows: readonly EpochMetrics[], top1: (m: EpochMetrics) => number | null, top5: (m: EpochMetrics) => number | null): { best: AccuracyAt | null; last: AccuracyAt | null } {
  let best: AccuracyAt | null = null;
  let last: AccuracyAt | null = null;
  for (const row of rows) {
    const t1 = top1(row);
    const t5 = top5(row);
    if (t1 === null || t5 === null) continue;
    last = { epoch: row.epoch, top1: t1, top5: t5 };
    if (best === null || t1 > best.top1) best = last;
  }
  return { best, last };
}

/**
 * Summarises a run from all its metrics rows, this invocation's epochs and wall time, and the seconds earlier
 * invocations spent on it (a resumed run: Trainer.earlierSeconds, restored from the checkpoint; default 0).
 */
export function summarizeRun(all: readonly EpochMetrics[], ran: readonly EpochMetrics[], wallSeconds: number, earlierSeconds = 0): RunSummary {
  if (!(Number.isFinite(earlierSeconds) && earlierSeconds >= 0)) throw new Error(`summarizeRun: earlierSeconds must be a finite number >= 0, got ${earlierSeconds}`);
  const raw = pick(all, (m) => m.valTop1, (m) => m.valTop5);
  const ema = pick(all, (m) => m.emaTop1, (m) => m.emaTop5);
  const speeds = ran.map((m) => m.imagesPerSecond).filter((v) => Number.isFinite(v));
  return {
    epochs: all.length === 0 ? 0 : all[all.length - 1]!.epoch,
    bestRaw: raw.best,
    lastRaw: raw.last,
    bestEma: ema.best,
    lastEma: ema.last,
    wallSeconds: earlierSeconds + wallSeconds,
    earlierSeconds,
    imagesPerSecond: speeds.length === 0 ? null : speeds.reduce((a, b) => a + b, 0) / speeds.length,
  };
}

function pct(value: number): string {
  return `${(value * 100).toFixed(2)}%`;
}

function line(name: string, best: AccuracyAt | null, last: AccuracyAt | null): string {
  if (best === null || last === null) return `  ${name.padEnd(4)} (not evaluated)`;
  return `  ${name.padEnd(4)} best top-1 ${pct(best.top1)} (top-5 ${pct(best.top5)}, epoch ${best.epoch})   last top-1 ${pct(last.top1)} (top-5 ${pct(last.top5)}, epoch ${last.epoch})`;
}

/** The summary as the lines `effnet train` prints. */
export function formatSummary(summary: RunSummary): string {
  const lines = [`summary after ${summary.epochs} epoch(s):`, line('raw', summary.bestRaw, summary.lastRaw)];
  if (summary.bestEma !== null) lines.push(line('ema', summary.bestEma, summary.lastEma));
  const speed = summary.imagesPerSecond === null ? '' : `, ${Math.round(summary.imagesPerSecond)} img/s while training`;
  const earlier = summary.earlierSeconds > 0 ? `; ${formatDuration(summary.earlierSeconds)} of it before the resume` : '';
  lines.push(`  wall time ${formatDuration(summary.wallSeconds)} (${summary.wallSeconds.toFixed(1)} s${earlier})${speed}`);
  return lines.join('\n');
}
