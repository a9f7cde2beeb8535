/**
 * `effnet scaling-study`: the base and, for each MAC factor, the base matched to factor x its MACs by depth only,
 * width only, resolution only and compound scaling, all trained with one recipe and budget; writes report.md and
 * an SVG chart of validation accuracy against MACs (the paper's Figure 8). Resumes from the SQLite store.
 */
import { parseArgs } from 'node:util';
import { UsageError, parseFactors, resolveStorePath } from '../search-options.js';
import { numberFlag } from '../options.js';
import { SEARCH_COMMAND_HELP, SEARCH_COMMAND_OPTIONS, executeSearchCommand } from '../search-command.js';
import { scalingStudyDefinition, type ExtraCompoundSeries } from '../../search/definitions.js';
import { PAPER_COEFFICIENTS } from '../../search/match.js';
import { describeGridBest, gridBestFromStore, selectionSeedWarning } from '../../search/grid-best.js';
import type { GridBest } from '../../search/report.js';

/** One line for `effnet --help`. */
export const summary = 'depth / width / resolution / compound scaling at equal MACs, trained and charted (Figure 8)';

const USAGE = `usage: effnet scaling-study --base B --data SPEC --budget 2ep|10min|converge [--factors 2,4,8] [--alpha A --beta B --gamma G | --from-search NAME] [--also-paper]

  --factors F          MAC multiples of the base (default 2,4,8)
  --alpha/--beta/--gamma  compound bases (default the paper's ${PAPER_COEFFICIENTS.alpha}, ${PAPER_COEFFICIENTS.beta}, ${PAPER_COEFFICIENTS.gamma})
  --from-search NAME   take α, β, γ from the best finished configuration (mean over its --repeats) of that grid
                       search in the same --db (warns when --seed/--repeats reuse the seeds that selected it:
                       give the study seeds the grid did not use)
  --also-paper         also train compound scaling with the paper's α, β, γ as a fifth series 'compound-paper',
                       against the same depth/width/resolution trials (needs other coefficients than the paper's)
  --mac-tolerance E    every matched configuration within E of its MAC target (default 0.05)
${SEARCH_COMMAND_HELP}`;

/** Runs the command; returns the exit code (user errors are thrown: exit 2 from main). */
export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      ...SEARCH_COMMAND_OPTIONS, factors: { type: 'string' }, alpha: { type: 'string' }, beta: { type: 'string' }, gamma: { type: 'string' },
      'from-search': { type: 'string' }, 'mac-tolerance': { type: 'string' }, 'also-paper': { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const factors = parseFactors(values.factors ?? '2,4,8');
  let coefficients = {
    alpha: numberFlag('alpha', values.alpha) ?? PAPER_COEFFICIENTS.alpha,
    beta: numberFlag('beta', values.beta) ?? PAPER_COEFFICIENTS.beta,
    gamma: numberFlag('gamma', values.gamma) ?? PAPER_COEFFICIENTS.gamma,
  };
  let searched: GridBest | null = null;
  if (values['from-search'] !== undefined) {
    if (values.alpha ?? values.beta ?? values.gamma) throw new UsageError('give either --from-search or --alpha/--beta/--gamma, not both');
    const best = gridBestFromStore(resolveStorePath(values.db, 'runs/scale.sqlite'), values['from-search']);
    coefficients = { alpha: best.alpha, beta: best.beta, gamma: best.gamma };
    process.stderr.write(`${describeGridBest(best)}\n`);
    searched = best;
  }
  const macTolerance = numberFlag('mac-tolerance', values['mac-tolerance']) ?? 0.05;
  if (!(macTolerance > 0)) throw new UsageError(`--mac-tolerance must be > 0, got ${macTolerance}`);
  const extraCompound: ExtraCompoundSeries[] = [];
  if (values['also-paper']) {
    const same = (['alpha', 'beta', 'gamma'] as const).every((k) => Math.abs(coefficients[k] - PAPER_COEFFICIENTS[k]) < 1e-9);
    if (same) throw new UsageError(`--also-paper: the compound coefficients already are the paper's (${PAPER_COEFFICIENTS.alpha}, ${PAPER_COEFFICIENTS.beta}, ${PAPER_COEFFICIENTS.gamma}); drop the flag or give --from-search / --alpha --beta --gamma`);
    extraCompound.push({ name: 'compound-paper', coefficients: { ...PAPER_COEFFICIENTS } });
  }
  return await executeSearchCommand('study', values, (common) => {
    const warning = searched === null ? null : selectionSeedWarning(searched, common.seed ?? 0, common.repeats ?? 1);
    if (warning !== null) process.stderr.write(`${warning}\n`);
    return scalingStudyDefinition({ ...common, factors, coefficients, macTolerance, extraCompound });
  });
}

/** The usage text (main.ts reads its flags to suggest the nearest one for a mistyped flag). */
export { USAGE as usage };
