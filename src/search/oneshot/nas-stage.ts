/**
 * The one-shot stage of `effnet nas --supernet DIR`: the search's candidates ranked with the shared weights of a
 * trained supernet, every ranked candidate stored in the experiment store (its `scores` table, one row per candidate
 * as it is measured) so that a killed search resumes where it stopped, and the top of the ranking handed to the
 * search stage, which trains it standalone through the existing trial runner (the confirmation), then compares the
 * best confirmed candidate with the space's base (`--compare`). The ranking is {@link rankWithSharedWeights}, the
 * same as `effnet oneshot search`'s; only where its records live differs.
 */
import { resolve } from 'node:path';
import { parseDataSpec, resolveData } from '../../data/spec.js';
import type { ExperimentStore, Json } from '../store.js';
import { bestDistinctNetworks, type NasSpec, type WarmCandidate } from '../nas/search.js';
import { SearchSpaceError } from '../nas/strategy.js';
import { rankWithSharedWeights, type RankedCandidate } from './search.js';
import { readSupernetDescription, type SupernetDescription } from './train.js';

/** What a one-shot search takes from its supernet: the space, the proxy size, and data with the same hold-out. */
export interface SupernetProxy {
  description: SupernetDescription;
  /** The supernet's data spec, with its hold-out fraction written in when the spec had none and it was not 0.1. */
  data: string;
  /** The supernet directory as an absolute path (stored in the search's spec). */
  dir: string;
}

/**
 * Reads the proxy of the supernet in `dir`. Trials open their data with the default hold-out (0.1, split seed 0);
 * a supernet trained with another `--val-split` gets it written into the spec as `val=F`, so that the trials
 * validate on the very images the shared-weight ranking measured.
 * @throws SearchSpaceError when `dir` holds no supernet
 */
export function supernetProxy(dir: string): SupernetProxy {
  const description = readSupernetDescription(dir);
  const valSplit = description.valSplit ?? 0.1;
  // Only a spec without its own hold-out (no val=, no split of the source's own) was split by the fraction.
  const data = valSplit !== 0.1 && parseDataSpec(description.data).val === null && resolveData(description.data, { valSplit }).holdOut !== null ? `${description.data},val=${valSplit}` : description.data;
  return { description, data, dir: resolve(dir) };
}

/**
 * Ranks the one-shot search's candidates (resuming from the store's scores of `searchId`), storing each as it is
 * measured; returns every ranked candidate in order of evaluation.
 * @throws SearchSpaceError when the search is not a one-shot search, or its stored ranking is another search's
 */
export async function rankIntoStore(
  store: ExperimentStore,
  searchId: number,
  spec: NasSpec,
  progress: { log?: (line: string) => void; onRanked?: (ranked: RankedCandidate, done: number, total: number) => void } = {},
): Promise<RankedCandidate[]> {
  const stage = spec.oneshot;
  if (stage === null) throw new SearchSpaceError('this architecture search has no one-shot stage (it was created without --supernet)');
  const recorded = store.scores(searchId).map((s) => s.record as unknown as RankedCandidate);
  const strategyOptions = spec.strategyOptions as { population?: number; sampleSize?: number };
  const { ranked } = await rankWithSharedWeights(
    {
      dir: stage.supernet,
      candidates: stage.candidates,
      strategy: spec.strategy,
      ...(strategyOptions.population === undefined ? {} : { population: strategyOptions.population }),
      ...(strategyOptions.sampleSize === undefined ? {} : { sampleSize: strategyOptions.sampleSize }),
      reward: spec.reward.kind,
      target: spec.reward.target,
      exponent: spec.reward.exponent,
      beta: spec.reward.beta,
      calibrationBatches: stage.calibration,
      validationImages: stage.valImages,
      seed: spec.seed,
      ...(progress.log === undefined ? {} : { log: progress.log }),
      ...(progress.onRanked === undefined ? {} : { onRanked: progress.onRanked }),
    },
    {
      recorded,
      append: (record) => store.recordScores(searchId, [{ seq: record.index, record: record as unknown as { [key: string]: Json } }]),
      where: `the stored ranking of this search (${store.location})`,
    },
  );
  return ranked;
}

/**
 * The `count` best candidates of a ranking by reward (ties: the earlier ranked first) that build distinct networks,
 * as the search stage's warm candidates: an evolution strategy proposes a good candidate again and again, and two
 * candidates can build one network (candidateNetworkKey: a skip a block cannot use, a one-block stage with layers
 * -1 and 0); each network is trained once.
 */
export function confirmationCandidates(spec: Pick<NasSpec, 'space' | 'resolution'>, ranked: readonly RankedCandidate[], count: number): WarmCandidate[] {
  return bestDistinctNetworks(spec, ranked, count).map((r) => ({ candidate: r.candidate, shared: r.accuracy }));
}
