/** The one-line progress of a search: trials done / running / failed / pending and an ETA. */
import type { SearchCounts } from './store.js';

/** Formats seconds as '45s', '4m10s' or '1h05m'. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * Estimated seconds until every trial is finished: the mean wall time of the finished trials times the trials left
 * (a running trial counts as half done), divided by the number of parallel workers. NaN before any trial finished.
 */
export function estimateRemainingSeconds(counts: SearchCounts, meanTrialSeconds: number, parallel: number): number {
  if (!(meanTrialSeconds > 0) || !(parallel >= 1)) return NaN;
  const left = counts.pending + counts.running / 2;
  return (meanTrialSeconds * left) / Math.min(parallel, Math.max(1, counts.pending + counts.running));
}

/** 'trials 3/12 done, 2 running, 1 failed, 6 pending, elapsed 1m02s, ETA 4m10s'. */
export function formatProgress(counts: SearchCounts, elapsedSeconds: number, meanTrialSeconds: number, parallel: number): string {
  const eta = counts.pending + counts.running === 0 ? '0s' : formatDuration(estimateRemainingSeconds(counts, meanTrialSeconds, parallel));
  return `trials ${counts.done}/${counts.total} done, ${counts.running} running, ${counts.failed} failed, ${counts.pending} pending, elapsed ${formatDuration(elapsedSeconds)}, ETA ${eta}`;
}
