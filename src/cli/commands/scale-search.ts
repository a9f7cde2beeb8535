/**
 * `effnet scale-search`: the compound-scaling grid search. Every (α, β, γ) on the grid with |α·β²·γ² − target| <=
 * tolerance scales the base (depth α, width β, resolution γ), is trained with one fixed recipe and budget by P
 * worker processes, and is recorded in the experiment store (SQLite, or PostgreSQL for workers on several hosts); the run resumes from the store after an interruption.
 */
import { parseArgs } from 'node:util';
import { numberFlag } from '../options.js';
import { UsageError } from '../search-options.js';
import { SEARCH_COMMAND_HELP, SEARCH_COMMAND_OPTIONS, executeSearchCommand } from '../search-command.js';
import { gridSearchDefinition } from '../../search/definitions.js';

/** One line for `effnet --help`. */
export const summary = 'grid search of α, β, γ under α·β²·γ² ≈ 2: train every grid point, store results in SQLite or PostgreSQL';

const USAGE = `usage: effnet scale-search --base B --data SPEC --budget 2ep|10min|converge [--grid-step 0.05] [--tolerance 0.1] [--parallel P] [--db runs/scale.sqlite]

  --grid-step S        α, β, γ take the values 1, 1+S, 1+2S, ... (default 0.05)
  --tolerance T        keep points with |α·β²·γ² − target| <= T (default 0.1)
  --target X           the FLOPs growth per φ (default 2)
  --mac-tolerance E    also keep only networks whose profiled MACs are within E of target x the base's (e.g. 0.1);
                       on small bases the rounding of pixels, channels and repeats makes α·β²·γ² a poor MAC model
${SEARCH_COMMAND_HELP}`;

/** Runs the command; returns the exit code (user errors are thrown: exit 2 from main). */
export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { ...SEARCH_COMMAND_OPTIONS, 'grid-step': { type: 'string' }, tolerance: { type: 'string' }, target: { type: 'string' }, 'mac-tolerance': { type: 'string' } }, strict: true });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const step = numberFlag('grid-step', values['grid-step']) ?? 0.05;
  const tolerance = numberFlag('tolerance', values.tolerance) ?? 0.1;
  const target = numberFlag('target', values.target) ?? 2;
  const macTolerance = numberFlag('mac-tolerance', values['mac-tolerance']);
  if (macTolerance !== undefined && !(macTolerance > 0)) throw new UsageError(`--mac-tolerance must be > 0 (e.g. 0.1), got ${macTolerance}`);
  return await executeSearchCommand('grid', values, (common) => gridSearchDefinition({ ...common, step, tolerance, target, ...(macTolerance === undefined ? {} : { macTolerance }) }));
}


/** The usage text (main.ts reads its flags to suggest the nearest one for a mistyped flag). */
export { USAGE as usage };
