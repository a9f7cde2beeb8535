/**
 * Hands a grid search's result to the next step of the method without copying numbers by hand: the best α, β, γ
 * of a grid search in a store, for `effnet scale --from-search DB[:NAME]` and `effnet scaling-study --from-search`.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { gridBest, singleDimensionNote, type GridBest } from './report.js';
import { isPostgresUrl } from './sql-driver.js';
import { ExperimentStore, type SearchRow } from './store.js';

/**
 * Splits `DB[:NAME]`: the text after the last ':' is a search name when it is not empty, holds no '/' and is not a
 * port number (so 'postgres://host:5432/db' is a store without a name and 'runs/scale.sqlite:grid' names 'grid').
 */
export function parseSearchReference(text: string): { store: string; name: string | undefined } {
  const colon = text.lastIndexOf(':');
  const tail = colon < 0 ? '' : text.slice(colon + 1);
  if (colon <= 0 || tail === '' || tail.includes('/') || /^\d+$/.test(tail)) return { store: text, name: undefined };
  return { store: text.slice(0, colon), name: tail };
}

/**
 * The best configuration of grid search `name` in the store at `location` (a SQLite file or a PostgreSQL URL);
 * without a name, the store's only grid search.
 * @throws UsageError when the store holds no such grid search, several without a name, or none with a finished trial
 */
export function gridBestFromStore(location: string, name: string | undefined, flag = '--from-search'): GridBest {
  const postgres = isPostgresUrl(location);
  // Opening an SQLite path creates the file: a mistyped path would leave an empty store behind and say "no search".
  if (!postgres && !existsSync(location)) throw new UsageError(`${flag}: no store at ${location}; give the --db of the scale-search run (a .sqlite file or a postgres:// URL)`);
  const store = ExperimentStore.open(postgres ? location : resolve(location));
  try {
    const grids = store.listSearches().filter((s) => s.kind === 'grid');
    const search: SearchRow | undefined = name !== undefined ? grids.find((s) => s.name === name) : grids.length === 1 ? grids[0] : undefined;
    if (search === undefined) {
      const there = grids.map((s) => s.name).join(', ');
      if (name !== undefined) throw new UsageError(`${flag}: no grid search named '${name}' in ${store.location}${grids.length > 0 ? ` (grid searches there: ${there})` : ''}`);
      throw new UsageError(
        grids.length === 0
          ? `${flag}: ${store.location} holds no grid search; run effnet scale-search first`
          : `${flag}: ${store.location} holds ${grids.length} grid searches (${there}); name one as DB:NAME`,
      );
    }
    const best = gridBest(search, store.trials(search.id));
    if (best === null) throw new UsageError(`${flag}: grid search '${search.name}' has no finished trial yet; run or resume it first`);
    return best;
  } finally {
    store.close();
  }
}

/** One line naming where the coefficients came from, for stderr. */
export function describeGridBest(best: GridBest): string {
  const seeds = best.top1.length > 1 ? `, mean of ${best.top1.length} seeds` : '';
  const partial = best.finishedTrials < best.totalTrials ? `; ${best.finishedTrials} of ${best.totalTrials} trials finished, so the best may still change` : '';
  return `using α = ${best.alpha}, β = ${best.beta}, γ = ${best.gamma} from grid search '${best.search}' (${best.label}, top-1 ${(best.meanTop1 * 100).toFixed(2)}%${seeds}${partial}).${singleDimensionNote(best.alpha, best.beta, best.gamma)}`;
}

/**
 * The warning for a study whose seeds repeat those of the grid trials that made `best` the best, or null when they
 * are disjoint. Why it matters: at x2 the compound network with the searched α, β, γ is usually the grid's winner
 * itself (φ = 1), and a trial at one thread is deterministic for its seed, so training it again with the same seeds
 * reproduces the very scores that selected it, luck included (the winner's curse), and biases compound upward.
 */
export function selectionSeedWarning(best: GridBest, seed: number, repeats: number): string | null {
  const study = Array.from({ length: repeats }, (_, i) => seed + i);
  const shared = best.seeds.filter((s) => study.includes(s));
  if (shared.length === 0) return null;
  const range = repeats === 1 ? `seed ${seed}` : `seeds ${seed}-${seed + repeats - 1}`;
  return (
    `warning: the study's ${range} repeat seed${shared.length === 1 ? '' : 's'} ${shared.join(', ')} of the grid trials that made ${best.label} the best of '${best.search}'; ` +
    `at x2 its compound network is usually that winner, and those trainings (deterministic for their seed at one thread) would reproduce the scores that selected it (the winner's curse). ` +
    `Give --seed ${Math.max(...best.seeds) + 1} for seeds the grid did not use.`
  );
}
