/**
 * Sample efficiency of the search strategies on objectives with a known optimum (src/search/nas/synthetic.ts): the
 * additive one on the 42-dimension space shaped like the default, and with `--objectives` the interacting ones
 * (pairwise, conditional, higher-order) on a 16-dimension space small enough for exhaustive search of the optimum.
 * Reports the mean true score of the best-observed candidate over many seeds at each trial budget (and its gap to
 * the optimum), against random search in standard errors, through the same ask/tell code the architecture search runs.
 * No PyTorch counterpart: the reference here is random search on the same seeds. PPO runs with MnasNet's settings
 * and, as `ppo-fast`, with a controller learning rate and batch suited to a few hundred trials.
 */
import { integerOptions, listOption, loadAverage, parseBenchArgs } from '../common.js';
import { cellSpace, compareStrategies, meanOf, mnasLikeSpace, OBJECTIVE_KINDS, sdOf, smallInteractingSpace, standardErrorsAbove, syntheticObjective, type ComparedStrategy, type ObjectiveKind } from '../../src/search/nas/synthetic.js';

const USAGE = `usage: node dist/bench/search/sample-efficiency.bench.js [--seeds 100] [--budgets 50,100,200]
       [--strategies random,evolution,reinforce,ppo,ppo-fast] [--objectives additive] [--json]
  --objectives any of ${OBJECTIVE_KINDS.join(', ')} (the interacting ones on a 4-stage space of 1,679,616 candidates)`;

const KNOWN: Record<string, ComparedStrategy> = {
  random: { name: 'random' },
  evolution: { name: 'evolution' },
  reinforce: { name: 'reinforce' },
  ppo: { name: 'ppo' },
  'ppo-fast': { name: 'ppo', label: 'ppo-fast', options: { learningRate: 0.005, ppoBatch: 10 } },
};

const values = parseBenchArgs('sample-efficiency', USAGE, {
  seeds: { type: 'string', default: '100' },
  budgets: { type: 'string', default: '50,100,200' },
  strategies: { type: 'string', default: 'random,evolution,reinforce,ppo,ppo-fast' },
  objectives: { type: 'string', default: 'additive' },
  json: { type: 'boolean', default: false },
});
const { seeds } = integerOptions('sample-efficiency', values, ['seeds'], { seeds: 2 });
const budgets = values.budgets.split(',').map(Number);
if (budgets.some((b) => !Number.isInteger(b) || b < 1)) {
  process.stderr.write(`sample-efficiency: --budgets expects positive integers, got '${values.budgets}'\n${USAGE}\n`);
  process.exit(2);
}
const names = listOption('sample-efficiency', 'strategies', values.strategies, Object.keys(KNOWN) as (keyof typeof KNOWN)[]);
if (!names.includes('random')) names.unshift('random');

const kinds = listOption('sample-efficiency', 'objectives', values.objectives, OBJECTIVE_KINDS);
process.stderr.write(`sample-efficiency: ${seeds} seeds, budgets ${budgets.join(', ')}, load average ${loadAverage()}\n`);
const allRows = kinds.flatMap((kind: ObjectiveKind) => {
  const space = kind === 'additive' ? mnasLikeSpace() : kind === 'cell' ? cellSpace() : smallInteractingSpace();
  const optimum = meanOf(Array.from({ length: seeds }, (_, seed) => syntheticObjective(kind, seed, space).optimum));
  const results = names.map((name) => {
    const [result] = compareStrategies(space, [KNOWN[name]!], budgets, seeds, 0.3, kind);
    process.stderr.write(`  ${kind} / ${result!.label}: ${(result!.ms / 1000).toFixed(1)} s\n`);
    return result!;
  });
  const random = results.find((r) => r.label === 'random')!;
  return results.flatMap((result) =>
    budgets.map((budget, at) => ({
      objective: kind,
      optimum,
      strategy: result.label,
      trials: budget,
      meanBest: meanOf(result.bestScores[at]!),
      standardError: sdOf(result.bestScores[at]!) / Math.sqrt(seeds),
      overRandom: result === random ? 0 : standardErrorsAbove(result.bestScores[at]!, random.bestScores[at]!),
      msPerTrial: result.ms / (seeds * Math.max(...budgets)),
    })),
  );
});
if (values.json) {
  process.stdout.write(`${JSON.stringify(allRows)}\n`);
} else {
  process.stdout.write('| objective (mean optimum) | strategy | trials | mean best true score ± se | vs random (standard errors) | ms per ask+tell |\n|---|---|---|---|---|---|\n');
  for (const row of allRows) {
    process.stdout.write(`| ${row.objective} (${row.optimum.toFixed(2)}) | ${row.strategy} | ${row.trials} | ${row.meanBest.toFixed(3)} ± ${row.standardError.toFixed(3)} | ${row.strategy === 'random' ? '–' : row.overRandom.toFixed(1)} | ${row.msPerTrial.toFixed(2)} |\n`);
  }
}
