/**
 * A search's trials grouped by configuration (a configuration's repeats with different seeds), shared by the
 * reports (src/search/report.ts) and the learning curves (src/search/curves.ts).
 */
import type { TrialRow } from './store.js';

/**
 * The trainings of one configuration: a single trial, or its repeats with different seeds (`--repeats`, trials
 * sharing `config.group`).
 */
export interface TrialGroup {
  /** The configuration's label (a repeat's label without its seed). */
  label: string;
  /** Its trials, in the store's order. */
  trials: TrialRow[];
  /** Its finished trials' validation top-1, in the store's order. */
  top1: number[];
  /** Their mean, or null when none has finished. */
  meanTop1: number | null;
  /** Their sample standard deviation, or null with fewer than two. */
  sdTop1: number | null;
}

/**
 * Groups trials by configuration: the repeats sharing a `config.group`; a trial without one (a search without
 * repeats) is a group of its own. In order of each configuration's first trial.
 */
export function groupTrials(trials: readonly TrialRow[]): TrialGroup[] {
  const groups = new Map<string, { label: string; members: TrialRow[] }>();
  for (const t of [...trials].sort((a, b) => a.seq - b.seq)) {
    const key = typeof t.config.group === 'string' ? `group ${t.config.group}` : `trial ${t.id}`;
    const group = groups.get(key) ?? { label: typeof t.config.group === 'string' ? t.config.group : t.label, members: [] };
    group.members.push(t);
    groups.set(key, group);
  }
  return [...groups.values()].map(({ label, members }) => {
    const top1 = members.filter((t) => t.status === 'done' && t.valTop1 !== null).map((t) => t.valTop1!);
    const mean = top1.length === 0 ? null : top1.reduce((sum, v) => sum + v, 0) / top1.length;
    const sd = mean === null || top1.length < 2 ? null : Math.sqrt(top1.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (top1.length - 1));
    return { label, trials: members, top1, meanTop1: mean, sdTop1: sd };
  });
}
