/**
 * A trial's training budget: whole epochs (`2ep`), wall-clock minutes (`10min`), optimizer steps (`20steps`, for
 * tests and smoke runs) or "until converged" (`converge`, `converge:60`: the hold-out is scored after every epoch;
 * once it has stopped gaining the learning rate anneals to 0 over a fifth more epochs and the trial stops; at most
 * the given epochs in all). Every trial of a search gets the same
 * budget and the same recipe.
 */
import { UserError } from '../errors.js';

/** A parsed budget. */
export type Budget = { kind: 'epochs'; value: number } | { kind: 'minutes'; value: number } | { kind: 'steps'; value: number } | { kind: 'converge'; value: number };

/** The epoch cap of `converge` without one: generous, since the rule, not the cap, is meant to end a trial. */
export const DEFAULT_CONVERGE_MAX_EPOCHS = 100;

/**
 * The rule of a `converge` budget: after epoch e (at least {@link CONVERGENCE_MIN_EPOCHS}), the trial has converged
 * when the best hold-out top-1 of all e epochs exceeds the best of the epochs before the last fifth of them
 * (floor(e / 5), at least {@link CONVERGENCE_MIN_WINDOW}) by less than {@link CONVERGENCE_MIN_GAIN} (0.3 points).
 */
export const CONVERGENCE_MIN_GAIN = 0.003;
/** The fraction of the epochs so far over which the gain is measured. */
export const CONVERGENCE_WINDOW = 0.2;
/** No trial is judged converged before this many epochs (one- or two-epoch windows are all noise). */
export const CONVERGENCE_MIN_EPOCHS = 10;
/**
 * The fewest epochs the gain is measured over. A fifth of 10-14 epochs is 2, inside the epoch-to-epoch noise of a
 * 5,000-image hold-out: in the converged scaling run (docs/scaling.md) that window stopped 3 of 23 trials at epochs
 * 12-14 on a two-epoch stall while they were still gaining, and a window of 3 or 4 epochs stopped none of them
 * there and changed no other trial.
 */
export const CONVERGENCE_MIN_WINDOW = 4;
/** The smallest window of searches stored before {@link CONVERGENCE_MIN_WINDOW} existed (one epoch). */
export const LEGACY_CONVERGENCE_MIN_WINDOW = 1;

/**
 * Whether a trial whose hold-out top-1 after each epoch so far is `valTop1` (fractions, in epoch order) has
 * converged by the rule of {@link CONVERGENCE_MIN_GAIN}: comparing bests, not last values, so one noisy epoch
 * neither stops a trial nor keeps it running. `minWindow` is the fewest epochs the gain is measured over (a stored
 * search's own, {@link LEGACY_CONVERGENCE_MIN_WINDOW} for those stored before the field).
 */
export function hasConverged(valTop1: readonly number[], minWindow = CONVERGENCE_MIN_WINDOW): boolean {
  if (!Number.isInteger(minWindow) || minWindow < 1) throw new RangeError(`hasConverged: minWindow must be a whole number >= 1, got ${minWindow}`);
  const epochs = valTop1.length;
  if (epochs < CONVERGENCE_MIN_EPOCHS) return false;
  const window = Math.min(epochs - 1, Math.max(minWindow, Math.floor(epochs * CONVERGENCE_WINDOW)));
  const before = Math.max(...valTop1.slice(0, epochs - window));
  return Math.max(...valTop1) - before < CONVERGENCE_MIN_GAIN;
}

/**
 * The epochs a converged trial anneals for after the rule said so at epoch `epoch`: a fifth of the epochs so far
 * ({@link CONVERGENCE_WINDOW}, rounded, at least one), in which the learning rate falls from where it is to 0 along
 * a cosine. Without it a trial would stop at the undecayed rate of a cosine spanning the cap, below what the same
 * network reaches when its run ends there by design.
 */
export function annealEpochs(epoch: number): number {
  return Math.max(1, Math.round(epoch * CONVERGENCE_WINDOW));
}

/**
 * The spec field that records the stop rule's smallest window: `{ convergeMinWindow }` when any of `budgets` (budget
 * strings; undefined ones skipped) is a converge budget, else nothing, so that specs without one stay as they were
 * stored before the field existed and resume unchanged.
 */
export function convergeWindowField(...budgets: (string | undefined)[]): { convergeMinWindow?: number } {
  return budgets.some((b) => b !== undefined && parseBudget(b).kind === 'converge') ? { convergeMinWindow: CONVERGENCE_MIN_WINDOW } : {};
}

/** Thrown for a budget string that cannot be parsed. */
export class BudgetError extends UserError {
  override name = 'BudgetError';
}

/** Parses '2ep' / '2epochs', '10min' / '1.5min', '20steps', 'converge' / 'converge:60'. */
export function parseBudget(text: string): Budget {
  const converge = /^\s*converge(?:\s*:\s*(\S+))?\s*$/i.exec(String(text ?? ''));
  if (converge) {
    const max = converge[1] === undefined ? DEFAULT_CONVERGE_MAX_EPOCHS : Number(converge[1].replace(/(ep|epochs?)$/i, ''));
    if (!Number.isInteger(max) || max < CONVERGENCE_MIN_EPOCHS) {
      throw new BudgetError(`budget '${text}': the epoch cap of converge must be a whole number >= ${CONVERGENCE_MIN_EPOCHS} (the rule judges no trial before ${CONVERGENCE_MIN_EPOCHS} epochs), e.g. converge:60`);
    }
    return { kind: 'converge', value: max };
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ep|epoch|epochs|min|m|minutes|step|steps)\s*$/i.exec(String(text ?? ''));
  if (!match) throw new BudgetError(`budget '${text}' is not understood; write whole epochs ('2ep'), minutes ('10min'), steps ('20steps') or 'converge[:MAX_EPOCHS]'`);
  const value = Number(match[1]);
  const unit = match[2]!.toLowerCase();
  if (unit.startsWith('ep') || unit.startsWith('step')) {
    if (!Number.isInteger(value) || value < 1) throw new BudgetError(`budget '${text}': ${unit.startsWith('ep') ? 'epochs' : 'steps'} must be a whole number ≥ 1`);
    return { kind: unit.startsWith('ep') ? 'epochs' : 'steps', value };
  }
  if (!(value > 0)) throw new BudgetError(`budget '${text}': minutes must be > 0`);
  return { kind: 'minutes', value };
}

/** The budget written back as text ('2ep', '10min', '20steps', 'converge:100'). */
export function formatBudget(budget: Budget): string {
  switch (budget.kind) {
    case 'epochs':
      return `${budget.value}ep`;
    case 'minutes':
      return `${budget.value}min`;
    case 'steps':
      return `${budget.value}steps`;
    case 'converge':
      return `converge:${budget.value}`;
  }
}
