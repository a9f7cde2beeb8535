/**
 * `effnet scale`: a base configuration scaled compoundly by (α, β, γ) — at a given φ, or to a MACs or params target
 * found with the exact profiler — printed with its per-stage profile and optionally written as a configuration file
 * (plain JSON {width, depth, resolution, dropout, stages?}; see src/card/config-file.ts).
 */
import { parseArgs } from 'node:util';
import { networkSpec, profileNetwork } from '../../efficientnet/index.js';
import { resolveBase, stagesOf, writeScaledConfig, type ScaledConfigJson } from '../../card/config-file.js';
import { UsageError, parseCount } from '../search-options.js';
import { intFlag, numberFlag } from '../options.js';
import { describeGridBest, gridBestFromStore, parseSearchReference } from '../../search/grid-best.js';
import { PAPER_COEFFICIENTS, matchTarget, profileConfig, strategyConfig, type Coefficients } from '../../search/match.js';

/** One line for `effnet --help`. */
export const summary = 'scale a base by α, β, γ to a φ or a MACs/params target; print the profile, write a config file';

const USAGE = `usage: effnet scale --base b0|SPEC [--alpha A --beta B --gamma G | --from-search DB[:NAME]] (--phi K | --target-macs N | --target-params N) [options]

  --base B             b0..b8, l2, v2-s/m/l/xl, lite0..4, v2-b0..b3, 'width=W,depth=D,resolution=R[,dropout=P]' or a .json configuration file
  --alpha/--beta/--gamma  compound bases (default the paper's ${PAPER_COEFFICIENTS.alpha}, ${PAPER_COEFFICIENTS.beta}, ${PAPER_COEFFICIENTS.gamma})
  --from-search DB[:NAME]  α, β, γ of the best configuration (mean over its repeats) of grid search NAME in the
                       store DB (effnet scale-search's --db: a .sqlite file or a postgres:// URL; NAME may be left
                       out when DB holds one grid search)
  --phi K              depth·α^K, width·β^K, resolution·γ^K (rounded to --resolution-multiple)
  --target-macs N      the φ whose profiled MACs are closest to N (400M, 1.8G, 2e9 ...)
  --target-params N    the φ whose parameter count is closest to N
  --num-classes N      classifier outputs (default 1000)
  --resolution-multiple M  resolution rounding (default 1 pixel)
  --json               machine-readable output
  --write FILE         write the scaled configuration as JSON (what --base and the trainer read)
`;

interface ScaleOutput {
  base: ScaledConfigJson;
  coefficients: Coefficients;
  phi: number;
  config: ScaledConfigJson;
  params: number;
  macs: number;
  baseParams: number;
  baseMacs: number;
  target: { metric: 'macs' | 'params'; value: number; relativeError: number } | null;
}

function format(n: number): string {
  return n.toLocaleString('en-US');
}

/** Runs the command; returns the exit code (user errors are thrown: exit 2 from main). */
export async function run(args: string[]): Promise<number> {
  return execute(args);
}

function execute(args: string[]): number {
  const { values } = parseArgs({
    args,
    options: {
      base: { type: 'string' }, alpha: { type: 'string' }, beta: { type: 'string' }, gamma: { type: 'string' }, phi: { type: 'string' },
      'target-macs': { type: 'string' }, 'target-params': { type: 'string' }, 'num-classes': { type: 'string' },
      'resolution-multiple': { type: 'string' }, json: { type: 'boolean' }, write: { type: 'string' }, 'from-search': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.base === undefined) throw new UsageError(`--base is required\n${USAGE}`);
  const base = resolveBase(values.base);
  let coefficients: Coefficients = {
    alpha: numberFlag('alpha', values.alpha) ?? PAPER_COEFFICIENTS.alpha,
    beta: numberFlag('beta', values.beta) ?? PAPER_COEFFICIENTS.beta,
    gamma: numberFlag('gamma', values.gamma) ?? PAPER_COEFFICIENTS.gamma,
  };
  if (values['from-search'] !== undefined) {
    if (values.alpha ?? values.beta ?? values.gamma) throw new UsageError('give either --from-search or --alpha/--beta/--gamma, not both');
    const reference = parseSearchReference(values['from-search']);
    const best = gridBestFromStore(reference.store, reference.name);
    coefficients = { alpha: best.alpha, beta: best.beta, gamma: best.gamma };
    process.stderr.write(`${describeGridBest(best)}\n`);
  }
  for (const [name, value] of Object.entries(coefficients)) if (!(value > 0)) throw new UsageError(`--${name} must be > 0, got ${value}`);
  const numClasses = intFlag('num-classes', values['num-classes'], 1) ?? 1000;
  const multiple = intFlag('resolution-multiple', values['resolution-multiple'], 1) ?? 1;
  const phi = numberFlag('phi', values.phi);
  const targetMacs = parseCount('target-macs', values['target-macs']);
  const targetParams = parseCount('target-params', values['target-params']);
  const given = [phi, targetMacs, targetParams].filter((v) => v !== undefined).length;
  if (given !== 1) throw new UsageError(`give exactly one of --phi, --target-macs, --target-params\n${USAGE}`);

  const baseCost = profileConfig(base, { numClasses });
  let config: ScaledConfigJson;
  let chosenPhi: number;
  let target: ScaleOutput['target'] = null;
  if (phi !== undefined) {
    config = strategyConfig(base, 'compound', phi, coefficients, multiple);
    chosenPhi = phi;
  } else {
    const metric = targetMacs !== undefined ? 'macs' : 'params';
    const value = (targetMacs ?? targetParams)!;
    const match = matchTarget(base, { strategy: 'compound', metric, target: value, coefficients, numClasses, resolutionMultiple: multiple, maxRelativeError: Infinity });
    config = match.config;
    chosenPhi = match.multiplier;
    target = { metric, value, relativeError: match.relativeError };
  }
  const profile = profileNetwork(networkSpec(config, stagesOf(config)), { imageSize: config.resolution, numClasses });
  const output: ScaleOutput = { base, coefficients, phi: chosenPhi, config, params: profile.params, macs: profile.macs, baseParams: baseCost.params, baseMacs: baseCost.macs, target };
  if (values.write !== undefined) writeScaledConfig(values.write, config);
  if (values.json) {
    process.stdout.write(JSON.stringify({ ...output, stages: profile.stages.map(({ blocks: _blocks, ...row }) => row) }, null, 2) + '\n');
    return 0;
  }
  const lines = [
    `base: width ${base.width}, depth ${base.depth}, ${base.resolution}px (${format(baseCost.params)} params, ${format(baseCost.macs)} MACs)`,
    `α = ${coefficients.alpha}, β = ${coefficients.beta}, γ = ${coefficients.gamma}, φ = ${chosenPhi.toFixed(4)}`,
    `scaled: width ${config.width.toFixed(4)}, depth ${config.depth.toFixed(4)}, resolution ${config.resolution}px, dropout ${config.dropout}`,
    `params ${format(profile.params)} (x${(profile.params / baseCost.params).toFixed(3)}), MACs ${format(profile.macs)} (x${(profile.macs / baseCost.macs).toFixed(3)})` +
      (target === null ? '' : `; target ${format(target.value)} ${target.metric}, off by ${(target.relativeError * 100).toFixed(2)}%`),
    '',
    `${'stage'.padEnd(11)}${'operator'.padEnd(19)}${'input'.padStart(10)}${'channels'.padStart(10)}${'layers'.padStart(8)}${'params'.padStart(12)}${'MACs'.padStart(15)}`,
    ...profile.stages.map(
      (row) =>
        `${row.name.padEnd(11)}${row.operator.padEnd(19)}${`${row.inputSize[0]}x${row.inputSize[1]}`.padStart(10)}${String(row.outChannels).padStart(10)}` +
        `${String(row.layers).padStart(8)}${format(row.params).padStart(12)}${format(row.macs).padStart(15)}`,
    ),
  ];
  if (values.write !== undefined) lines.push('', `wrote ${values.write}`);
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

/** The usage text (main.ts reads its flags to suggest the nearest one for a mistyped flag). */
export { USAGE as usage };
