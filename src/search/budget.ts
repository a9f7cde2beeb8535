/**
 * A trial's training budget: whole epochs (`2ep`), wall-clock minutes (`10min`) or optimizer steps (`20steps`, for
 * tests and smoke runs). Every trial of a search gets the same budget and the same recipe.
 */
import { UserError } from '../errors.js';

/** A parsed budget. */
export type Budget = { kind: 'epochs'; value: number } | { kind: 'minutes'; value: number } | { kind: 'steps'; value: number };

/** Thrown for a budget string that cannot be parsed. */
export class BudgetError extends UserError {
  override name = 'BudgetError';
}

/** Parses '2ep' / '2epochs', '10min' / '1.5min', '20steps'. */
export function parseBudget(text: string): Budget {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ep|epoch|epochs|min|m|minutes|step|steps)\s*$/i.exec(String(text ?? ''));
  if (!match) throw new BudgetError(`budget '${text}' is not understood; write whole epochs ('2ep'), minutes ('10min') or steps ('20steps')`);
  const value = Number(match[1]);
  const unit = match[2]!.toLowerCase();
  if (unit.startsWith('ep') || unit.startsWith('step')) {
    if (!Number.isInteger(value) || value < 1) throw new BudgetError(`budget '${text}': ${unit.startsWith('ep') ? 'epochs' : 'steps'} must be a whole number ≥ 1`);
    return { kind: unit.startsWith('ep') ? 'epochs' : 'steps', value };
  }
  if (!(value > 0)) throw new BudgetError(`budget '${text}': minutes must be > 0`);
  return { kind: 'minutes', value };
}

/** The budget written back as text ('2ep', '10min', '20steps'). */
export function formatBudget(budget: Budget): string {
  return budget.kind === 'epochs' ? `${budget.value}ep` : budget.kind === 'minutes' ? `${budget.value}min` : `${budget.value}steps`;
}
