/**
 * A run directory that describes itself (as timm writes args.yaml): DIR/run.json holds the command that started
 * the run, the flags that define it (model, data, recipe, seed: everything but where and how fast it runs), and the
 * resolved run (the model card, every schedule field with the learning rate as scaled to the batch, the data spec and
 * hold-out). `effnet train --resume --out DIR` takes the run's flags from it, so nothing has to be retyped (flags
 * given again must agree); `effnet eval --checkpoint DIR` takes the run's data and hold-out from it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/safetensors.js';
import { UserError } from '../errors.js';
import type { JsonValue } from '../model-file/checkpoint.js';
import { RUN_FILES } from '../model-file/run-files.js';

/** The description's file name inside a run directory. */

/** The layout version this code writes and reads. */
export const RUN_DESCRIPTION_VERSION = 1;

/** A flag's value as the command line gave it: text, or true for a switch. */
export type FlagValue = string | boolean;

/** DIR/run.json. */
export interface RunDescription {
  /** {@link RUN_DESCRIPTION_VERSION}. */
  version: number;
  /** The command that started the run (argv after the program), for people. */
  command: string[];
  /** The flags that define the run, as given (see {@link isRunControlFlag} for those left out). */
  flags: Record<string, FlagValue>;
  /** What the flags resolved to when the run started: card, recipe, batch size, seed, data. */
  resolved: { [key: string]: JsonValue };
}

/** Raised for a run.json that cannot be read or that disagrees with the flags given (a user error: exit code 2). */
export class RunDescriptionError extends UserError {
  override name = 'RunDescriptionError';
}

/**
 * Flags that say where and how fast a run goes, not what it computes: they may differ between a run's invocations
 * (resume on another machine, with other threads or loader workers, another device, or another number of
 * data-parallel ranks with their batch-norm settings) and are not stored.
 */
const RUN_CONTROL_FLAGS = new Set(['out', 'resume', 'threads', 'workers', 'device', 'help', 'write-split', 'nproc-per-node', 'nnodes', 'node-rank', 'rdzv', 'max-restarts', 'dist-timeout', 'sync-bn', 'dist-bn', 'profile']);

/** Whether `flag` (without its dashes) is a run-control flag, left out of the description. */
export function isRunControlFlag(flag: string): boolean {
  return RUN_CONTROL_FLAGS.has(flag);
}

/** The defining flags among parsed values (undefined and false switches are absent). */
export function definingFlags(values: Readonly<Record<string, FlagValue | undefined>>): Record<string, FlagValue> {
  const out: Record<string, FlagValue> = {};
  for (const [flag, value] of Object.entries(values)) {
    if (value === undefined || value === false || isRunControlFlag(flag)) continue;
    out[flag] = value;
  }
  return out;
}

/** Writes DIR/run.json atomically. */
export function writeRunDescription(dir: string, description: RunDescription): void {
  writeFileAtomic(join(dir, RUN_FILES.description), Buffer.from(`${JSON.stringify(description, null, 2)}\n`));
}

/**
 * DIR/run.json, or null when the run has none (a run started before run.json existed).
 * @throws RunDescriptionError when the file is there but unreadable or of another layout
 */
export function readRunDescription(dir: string): RunDescription | null {
  const path = join(dir, RUN_FILES.description);
  if (!existsSync(path)) return null;
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new RunDescriptionError(`${path} is not valid JSON (${(error as Error).message}); it was edited or damaged: restore it, or give every flag of the run again`);
  }
  const record = value as Partial<RunDescription>;
  if (typeof value !== 'object' || value === null || record.version !== RUN_DESCRIPTION_VERSION || typeof record.flags !== 'object' || record.flags === null) {
    throw new RunDescriptionError(`${path} is not a run description of version ${RUN_DESCRIPTION_VERSION}; was it written by another effnet?`);
  }
  for (const [flag, flagValue] of Object.entries(record.flags)) {
    if (typeof flagValue !== 'string' && flagValue !== true) throw new RunDescriptionError(`${path}: flag '${flag}' has the value ${JSON.stringify(flagValue)}; expected text or true`);
  }
  return record as RunDescription;
}

/**
 * Flags a resume may change: `--epochs`, to extend a run (a finished run resumed with more epochs trains the new ones
 * only; the schedule follows the new count from there), and `--fix-res`/`--fix-res-lr`, which act after training
 * (a finished run resumed with --fix-res N is adapted to its test size).
 */
const EXTENDABLE_FLAGS = new Set(['epochs', 'fix-res', 'fix-res-lr']);

/**
 * The flags of a resumed run: the run's own (from run.json) with the ones given again, which must agree. A flag the
 * run did not set may not be added, and one it set may not change (the run would silently become another run),
 * except --epochs, which extends it.
 * @throws RunDescriptionError naming the first disagreement and what to do
 */
export function mergeResumeFlags(stored: Readonly<Record<string, FlagValue>>, given: Readonly<Record<string, FlagValue | undefined>>, dir: string): Record<string, FlagValue> {
  const merged: Record<string, FlagValue> = { ...stored };
  for (const [flag, value] of Object.entries(definingFlags(given))) {
    const before = stored[flag];
    if (EXTENDABLE_FLAGS.has(flag)) {
      merged[flag] = value;
      continue;
    }
    if (before === undefined) {
      throw new RunDescriptionError(`--${flag} ${value === true ? '' : `${value} `}was not set when the run in ${dir} started (${join(dir, RUN_FILES.description)}); drop it to continue the run as it started, or start a new run`.replace('  ', ' '));
    }
    if (before !== value) {
      throw new RunDescriptionError(`--${flag} ${value} differs from the run's --${flag} ${before} (${join(dir, RUN_FILES.description)}); drop it to continue the run as it started, or start a new run`);
    }
  }
  return merged;
}
