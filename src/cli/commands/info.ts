/**
 * `effnet info`: the per-stage table (operator, input resolution, channels, layers, params, MACs, activations) of one
 * EfficientNet configuration, or the family table of every registered variant, from the analytic profiler.
 */
import { parseArgs } from 'node:util';
import { intFlag, numberFlag, parseStrides, renamedFlag, UsageError } from '../options.js';
import { describeCard, type ModelCard } from '../../card/model-card.js';
import { configOfCard, resolveModelCard, stagesOfCard, type CardRequest, type ModelSource } from '../../card/resolve.js';
import { DEFAULT_COMPOUND_COEFFICIENTS } from '../../efficientnet/scaling.js';
import { profileNetwork, type NetworkProfile, type PaddingMode } from '../../efficientnet/profile.js';
import { getVariant, networkSpec, variantNames, type EfficientNetConfig } from '../../efficientnet/variants.js';

/** One line for `effnet --help`. */
export const summary = 'per-stage params and MACs of a variant or custom scaling (--all: the whole family)';

const USAGE = `usage: effnet info <variant> [options]        per-stage table of b0..b8, l2, v2-s, v2-m, v2-l, v2-xl, lite0..lite4, v2-b0..v2-b3
       effnet info --width W --depth D --image-size S [options]
       effnet info --phi K [--alpha A --beta B --gamma G] [options]
       effnet info --config FILE [options]         a configuration file of effnet scale --write
       effnet info --all [options]                 family table (params, MACs, resolution, dropout)

The configuration is resolved into a model card exactly as effnet train resolves the same flags (the small-image
stages and whole-image evaluation up to 64px), so both agree on every field.

options:
  --json                 machine-readable output
  --num-classes N        classifier outputs (default 1000)
  --input-size S|HxW     profile this input size instead (default: the configuration's resolution; the card keeps it)
  --padding same|symmetric   convolution padding convention (default symmetric)
  --width W --depth D --image-size S   custom multipliers and input size (each defaults to B0's 1, 1, 224), or
                         overrides of a variant's or a configuration file's (as effnet train's same flags)
  --strides S1,...,S7    first-block stride of each stage (overrides the small-image rule)
  --dropout P --drop-path P   classifier dropout and stochastic depth of the card
  --eval-crop-pct P      the card's eval crop fraction (default 1 up to 64px, else size / (size + 32))
  --card                 print the model card (JSON) instead of the profile
  --phi K --alpha A --beta B --gamma G compound scaling (defaults α=${DEFAULT_COMPOUND_COEFFICIENTS.alpha}, β=${DEFAULT_COMPOUND_COEFFICIENTS.beta}, γ=${DEFAULT_COMPOUND_COEFFICIENTS.gamma}); resolution = 224·γ^φ rounded to a multiple of 4
variants: ${variantNames().join(', ')}
`;


function parseImageSize(text: string | undefined): [number, number] | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d+)(?:x(\d+))?$/i.exec(text.trim());
  if (!match) throw new UsageError(`--input-size expects a size like 224 or 320x240 (height x width), got '${text}'`);
  const height = Number(match[1]);
  return [height, match[2] === undefined ? height : Number(match[2])];
}

function parsePadding(text: string | undefined): PaddingMode {
  if (text === undefined || text === 'symmetric') return 'symmetric';
  if (text === 'same') return 'same';
  throw new UsageError(`--padding expects 'same' or 'symmetric', got '${text}'`);
}

function formatCount(value: number): string {
  return value.toLocaleString('en-US');
}

function formatMacs(value: number): string {
  return value >= 1e9 ? `${(value / 1e9).toFixed(4)}B` : `${(value / 1e6).toFixed(2)}M`;
}

function table(header: string[], rows: string[][], rightAligned: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (rightAligned[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function describe(config: EfficientNetConfig): string {
  const short = (value: number): number => Number(value.toFixed(4));
  const phi = config.phi === null ? '' : `, φ ${short(config.phi)}`;
  return `EfficientNet-${config.name} (width ${short(config.width)}, depth ${short(config.depth)}, resolution ${config.resolution}, dropout ${config.dropout}${phi})`;
}

function profileJson(config: EfficientNetConfig, profile: NetworkProfile): object {
  return {
    config,
    imageSize: profile.imageSize,
    numClasses: profile.numClasses,
    padding: profile.padding,
    params: profile.params,
    macs: profile.macs,
    activations: profile.activations,
    stages: profile.stages.map(({ blocks: _blocks, ...row }) => row),
  };
}

function stageTable(config: EfficientNetConfig, profile: NetworkProfile, card: ModelCard): string {
  const rows = profile.stages.map((r) => [
    r.name,
    r.operator,
    `${r.inputSize[0]}x${r.inputSize[1]}`,
    String(r.outChannels),
    String(r.layers),
    formatCount(r.params),
    formatMacs(r.macs),
    formatCount(r.activations),
  ]);
  rows.push(['total', '', '', '', String(profile.stages.reduce((s, r) => s + r.layers, 0)), formatCount(profile.params), formatMacs(profile.macs), formatCount(profile.activations)]);
  const strides = stagesOfCard(card).map((stage) => stage.stride).join(',');
  const title =
    `${describe(config)}\ninput ${profile.imageSize[0]}x${profile.imageSize[1]}, ${profile.numClasses} classes, ${profile.padding} padding, ` +
    `stage strides ${strides}, drop-path ${card.architecture.stochasticDepth}\nmodel card: ${describeCard(card)}`;
  return `${title}\n\n${table(['stage', 'operator', 'resolution', 'channels', 'layers', 'params', 'MACs', 'activations'], rows, [false, false, true, true, true, true, true, true])}\n`;
}

/**
 * The model card the flags name, through the resolver effnet train uses (src/card/resolve.ts), so that both agree
 * on every field of the same configuration (small-image stages up to 64px included).
 */
function resolveInfoCard(positionals: string[], values: Record<string, string | boolean | undefined>, numClasses: number, padding: PaddingMode): ModelCard {
  const str = (key: string): string | undefined => values[key] as string | undefined;
  const custom = ['width', 'depth', 'image-size'].filter((k) => str(k) !== undefined);
  const compound = ['phi', 'alpha', 'beta', 'gamma'].filter((k) => str(k) !== undefined);
  const config = str('config');
  if (positionals.length > 1) throw new UsageError(`expected one variant name, got ${positionals.length}: ${positionals.join(' ')}`);
  const named = [positionals.length > 0, compound.length > 0, config !== undefined].filter(Boolean).length;
  if (named === 0 && custom.length === 0) throw new UsageError(`name a variant (${variantNames().join(', ')}), give --width/--depth/--image-size, --phi or --config, or use --all`);
  if (named > 1) throw new UsageError('give only one of: a variant name, --phi/--alpha/--beta/--gamma, --config (each may take --width/--depth/--image-size overrides, as effnet train does)');
  if (compound.length > 0 && custom.length > 0) throw new UsageError('--phi sets width, depth and resolution; drop --width/--depth/--image-size (or give them without --phi)');
  let source: ModelSource;
  const overrides: Omit<CardRequest, 'source' | 'classes'> = { padding };
  const width = numberFlag('width', str('width'));
  const depth = numberFlag('depth', str('depth'));
  const sizeText = str('image-size');
  if (sizeText !== undefined && /x/i.test(sizeText)) {
    throw new UsageError(`--image-size is the network's input size, one number as in effnet train (got '${sizeText}'); to profile a non-square input use --input-size HxW`);
  }
  const resolution = numberFlag('image-size', sizeText);
  if (config !== undefined) {
    source = { kind: 'config-file', path: config };
  } else if (positionals.length === 1) {
    source = { kind: 'variant', name: positionals[0]! };
  } else if (compound.length === 0) {
    source = { kind: 'custom', width: width ?? 1, depth: depth ?? 1 };
  } else {
    const phi = numberFlag('phi', str('phi'));
    if (phi === undefined) throw new UsageError('--alpha/--beta/--gamma need --phi');
    source = {
      kind: 'compound',
      phi,
      alpha: numberFlag('alpha', str('alpha')) ?? DEFAULT_COMPOUND_COEFFICIENTS.alpha,
      beta: numberFlag('beta', str('beta')) ?? DEFAULT_COMPOUND_COEFFICIENTS.beta,
      gamma: numberFlag('gamma', str('gamma')) ?? DEFAULT_COMPOUND_COEFFICIENTS.gamma,
    };
  }
  if (source.kind !== 'custom') {
    if (width !== undefined) overrides.width = width;
    if (depth !== undefined) overrides.depth = depth;
  }
  if (resolution !== undefined) overrides.resolution = resolution;
  const dropout = numberFlag('dropout', str('dropout'));
  const dropPath = numberFlag('drop-path', str('drop-path'));
  const cropPct = numberFlag('eval-crop-pct', str('eval-crop-pct'));
  if (dropout !== undefined) overrides.dropout = dropout;
  if (dropPath !== undefined) overrides.stochasticDepth = dropPath;
  if (cropPct !== undefined) overrides.eval = { cropPct };
  if (str('strides') !== undefined) overrides.strides = parseStrides(str('strides')!);
  return resolveModelCard({ source, classes: numClasses, ...overrides });
}

const VALUE_OPTIONS = ['width', 'depth', 'image-size', 'phi', 'alpha', 'beta', 'gamma', 'num-classes', 'input-size', 'padding', 'dropout', 'drop-path', 'eval-crop-pct', 'strides', 'config'];

/** Joins `--phi -1` into `--phi=-1`: parseArgs would take a negative number for an option and refuse it. */
function joinNegativeValues(args: string[]): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i]!;
    const next = args[i + 1];
    if (arg.startsWith('--') && VALUE_OPTIONS.includes(arg.slice(2)) && next !== undefined && /^-(\d|\.\d)/.test(next)) {
      joined.push(`${arg}=${next}`);
      i += 1;
    } else {
      joined.push(arg);
    }
  }
  return joined;
}

function runInfo(args: string[]): number {
  const { values, positionals } = parseArgs({
    args: joinNegativeValues(args),
    allowPositionals: true,
    strict: true,
    options: {
      all: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      width: { type: 'string' },
      depth: { type: 'string' },
      'image-size': { type: 'string' },
      resolution: { type: 'string' },
      phi: { type: 'string' },
      alpha: { type: 'string' },
      beta: { type: 'string' },
      gamma: { type: 'string' },
      'num-classes': { type: 'string' },
      'input-size': { type: 'string' },
      padding: { type: 'string' },
      dropout: { type: 'string' },
      'drop-path': { type: 'string' },
      'eval-crop-pct': { type: 'string' },
      strides: { type: 'string' },
      config: { type: 'string' },
      card: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const numClasses = intFlag('num-classes', values['num-classes']) ?? 1000;
  const padding = parsePadding(values.padding);
  renamedFlag(values, 'resolution', 'image-size', "one name for a network's input size in every command, effnet train's");
  const imageSize = parseImageSize(values['input-size']);

  if (values.all) {
    const extra = positionals.length > 0 || ['width', 'depth', 'image-size', 'phi', 'alpha', 'beta', 'gamma', 'input-size'].some((k) => (values as Record<string, unknown>)[k] !== undefined);
    if (extra) throw new UsageError('--all prints every registered variant at its own resolution; drop the variant name and the --width/--depth/--image-size/--phi/--input-size options');
    const family = variantNames().map((name) => {
      const config = getVariant(name);
      const profile = profileNetwork(networkSpec(config), { imageSize: config.resolution, numClasses, padding });
      return { config, params: profile.params, macs: profile.macs, activations: profile.activations };
    });
    if (values.json) {
      process.stdout.write(JSON.stringify({ numClasses, padding, variants: family.map((f) => ({ ...f.config, params: f.params, macs: f.macs, activations: f.activations })) }, null, 2) + '\n');
    } else {
      const rows = family.map(({ config, params, macs, activations }) => [
        config.name,
        String(config.width),
        String(config.depth),
        String(config.resolution),
        String(config.dropout),
        formatCount(params),
        formatMacs(macs),
        formatCount(activations),
      ]);
      process.stdout.write(`EfficientNet family, ${numClasses} classes, ${padding} padding, MACs at each native resolution\n\n`);
      process.stdout.write(table(['variant', 'width', 'depth', 'resolution', 'dropout', 'params', 'MACs', 'activations'], rows, [false, true, true, true, true, true, true, true]) + '\n');
    }
    return 0;
  }

  const card = resolveInfoCard(positionals, values as Record<string, string | boolean | undefined>, numClasses, padding);
  if (values.card) {
    process.stdout.write(JSON.stringify(card, null, 2) + '\n');
    return 0;
  }
  const config = configOfCard(card);
  const profile = profileNetwork(networkSpec(config, stagesOfCard(card)), { imageSize: imageSize ?? config.resolution, numClasses, padding });
  process.stdout.write(values.json ? JSON.stringify({ ...profileJson(config, profile), card }, null, 2) + '\n' : stageTable(config, profile, card));
  return 0;
}

/** Runs `effnet info`; bad input is thrown as a user error (exit code 2 from the dispatcher). */
export async function run(args: string[]): Promise<number> {
  return runInfo(args);
}

/** The usage text (main.ts reads its flags to suggest the nearest one for a mistyped flag). */
export { USAGE as usage };
