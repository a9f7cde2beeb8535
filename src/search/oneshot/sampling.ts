/**
 * Which paths a supernet trains at each step. Every rule is a pure function of (seed, step), so that a resumed run
 * trains exactly the paths the uninterrupted one did.
 *
 * - `uniform` (SPOS, Guo et al. 2020): one candidate drawn uniformly from the whole space.
 * - `progressive` (after Once-for-All's progressive shrinking, Cai et al. 2020): the run is cut into equal phases;
 *   the first trains the reference candidate alone, and each later phase lets one more group of dimensions vary
 *   uniformly (kernel, then layers, then filters, then SE and skip, then the op), the others held at the reference's
 *   choice. Our diagnosis (docs/nas.md) found each dimension alone trains almost like a fixed path while all of them
 *   at once, the op above all, do not: this order brings the hardest last.
 * - `sandwich` (BigNAS's sandwich rule with in-place distillation, Yu et al. 2020): the reference path trains on the
 *   labels and `students` uniform paths learn its predictions (Supernet.setStudents), all in one step, at about
 *   (1 + students)× the cost.
 * - `reinforce` (TuNAS, Bender et al. 2020): the path drawn from a controller (reinforce.ts) that learns from each
 *   path's reward on a held-out batch; its draws depend on (seed, step) and the controller's state, which the
 *   checkpoints carry.
 */
import { deriveSeed, Rng } from '../../data/rng.js';
import { dimensionName, flatSearchSpace, STAGE_DIMENSIONS, type ResolvedSearchSpace, type StageDimension } from '../nas/space.js';
import { randomCandidate, type Candidate } from '../nas/strategy.js';
import { SupernetError } from './supernet.js';

/** The path-sampling rules of supernet training (see the module comment). */
export const PATH_SAMPLINGS = ['uniform', 'progressive', 'sandwich', 'reinforce'] as const;

/** One of {@link PATH_SAMPLINGS}. */
export type PathSampling = (typeof PATH_SAMPLINGS)[number];

/** The order in which `progressive` sampling frees dimension groups, after a first phase of the reference alone. */
export const PROGRESSIVE_GROUPS: readonly (readonly StageDimension[])[] = Object.freeze([['kernel'], ['layers'], ['filters'], ['se', 'skip'], ['op']]);

/** A tag mixed into the path seeds (exported for the controller's draws) so that they differ from the loader's and the Trainer's seeds. */
export const PATH_SEED_TAG = 0x5a7e;

/** A candidate drawn uniformly from the space at `step` of a run with `seed` (`index` tells apart draws of one step). */
export function uniformPath(space: ResolvedSearchSpace, seed: number, step: number, index = 0): Candidate {
  const parts = index === 0 ? [seed, PATH_SEED_TAG, step] : [seed, PATH_SEED_TAG, step, index];
  return randomCandidate(flatSearchSpace(space), new Rng(deriveSeed(...parts)));
}

/** The phase (0 = the reference alone .. PROGRESSIVE_GROUPS.length = everything varies) of `step` out of `totalSteps`. */
export function progressivePhase(step: number, totalSteps: number): number {
  if (!(Number.isInteger(totalSteps) && totalSteps > 0)) throw new SupernetError(`progressive sampling needs the run's step count, got ${totalSteps}`);
  const phases = PROGRESSIVE_GROUPS.length + 1;
  return Math.min(phases - 1, Math.floor((step * phases) / totalSteps));
}

/**
 * The candidate `progressive` sampling trains at `step` of `totalSteps`: the dimensions of the groups freed by its
 * phase drawn uniformly, every other dimension at `reference`'s choice.
 */
export function progressivePath(space: ResolvedSearchSpace, reference: Candidate, seed: number, step: number, totalSteps: number): Candidate {
  const phase = progressivePhase(step, totalSteps);
  const free = new Set(PROGRESSIVE_GROUPS.slice(0, phase).flat());
  const drawn = uniformPath(space, seed, step);
  const candidate: Candidate = { ...reference };
  space.stageChoices.forEach((_, index) => {
    for (const dimension of STAGE_DIMENSIONS) {
      const name = dimensionName(index + 1, dimension);
      if (free.has(dimension)) candidate[name] = drawn[name]!;
    }
  });
  return candidate;
}

/** The student candidates of `sandwich` sampling at `step`: `count` uniform draws. */
export function sandwichStudents(space: ResolvedSearchSpace, seed: number, step: number, count: number): Candidate[] {
  return Array.from({ length: count }, (_, i) => uniformPath(space, seed, step, i + 1));
}
