/**
 * The architecture search space as data: MnasNet's factorized hierarchical space (Tan et al. 2019, sec. 4) around a
 * base network's stages. The base fixes the number of stages and each stage's stride; per stage the search chooses
 * the block op (MBConv of expansion e, `mbconv<e>`, or fused MBConv, `fused<e>`), the kernel, the squeeze-excite
 * ratio, the skip (identity or none), the output filters as a ratio of the base stage's (rounded to a multiple of 8
 * as width scaling rounds) and the layers as a change of the base's repeats (at least 1 layer).
 *
 * A space is a JSON document ({@link SearchSpaceDocument}); {@link flatSearchSpace} turns it into the categorical
 * `{ dimension: choices[] }` every strategy searches (dimensions `s1.op`, `s1.kernel`, ..., `s7.layers`), and
 * {@link decodeCandidate} turns a candidate into block strings of the existing grammar, so a found architecture is a
 * model card like any other. {@link candidateOf} is the inverse: it finds the point of a space that a given network
 * is (B0 is a point of the default space; MnasNet-A1 of the MobileNetV2-centred one).
 */
import { decodeArchitecture, EFFICIENTNET_B0_STEM_CHANNELS, encodeArchitecture, type StageArgs } from '../../efficientnet/block-spec.js';
import { roundFilters } from '../../efficientnet/scaling.js';
import { SearchSpaceError, type Candidate, type Choice, type SearchSpace } from './strategy.js';

/** The per-stage choice lists of a space. Every list needs at least one choice and no duplicates. */
export interface StageChoices {
  /** Block ops: `mbconv<e>` (MBConv with expansion e; `mbconv1` is depthwise separable) or `fused<e>`. */
  op: string[];
  /** Kernel sizes (odd, ≥ 1). */
  kernel: number[];
  /** Squeeze-excite ratios in [0, 1] (0: none). */
  se: number[];
  /** Skip: 'identity' (the residual where shapes allow) or 'none'. */
  skip: string[];
  /** Output filters as ratios of the base stage's (> 0); rounded to a multiple of 8 as roundFilters does. */
  filters: number[];
  /** Changes of the base stage's repeats (integers; the result is at least 1). */
  layers: number[];
}

/** A search space document (the JSON a `--space` file holds). */
export interface SearchSpaceDocument {
  /** A name for reports and the store. */
  name: string;
  /** Free text: where the space comes from. */
  description?: string;
  /** The base network's unscaled stages as TF block strings (stem 32 → stage 1); strides come from here. */
  base: string[];
  /** The choices of every stage. */
  choices: StageChoices;
  /** Per-stage replacements of choice lists, keyed by the stage's number from 1 (e.g. `{"5": {"filters": [...]}}`). */
  stages?: Record<string, Partial<StageChoices>>;
}

/** The dimensions of one stage, in the order candidates list them. */
export const STAGE_DIMENSIONS = ['op', 'kernel', 'se', 'skip', 'filters', 'layers'] as const;

/** One dimension of a stage. */
export type StageDimension = (typeof STAGE_DIMENSIONS)[number];

/** The dimension name of stage `stage` (1-based) and `dimension`, e.g. `s3.kernel`. */
export function dimensionName(stage: number, dimension: StageDimension): string {
  return `s${stage}.${dimension}`;
}

/** The expansion ratio and block kind an op string names. */
export interface BlockOp {
  /** Fused MBConv or MBConv. */
  fused: boolean;
  /** Expansion ratio (> 0). */
  expandRatio: number;
}

/** Decodes `mbconv6`, `fused4`, ... @throws SearchSpaceError for anything else */
export function parseBlockOp(op: string): BlockOp {
  const match = /^(mbconv|fused)(\d+(?:\.\d+)?)$/.exec(String(op));
  if (match === null || !(Number(match[2]) > 0)) {
    throw new SearchSpaceError(`block op ${JSON.stringify(op)} is not 'mbconv<e>' or 'fused<e>' with an expansion e > 0 (e.g. 'mbconv6', 'fused4')`);
  }
  return { fused: match[1] === 'fused', expandRatio: Number(match[2]) };
}

/** The op string of a stage. */
export function blockOpOf(stage: Pick<StageArgs, 'fused' | 'expandRatio'>): string {
  return `${stage.fused ? 'fused' : 'mbconv'}${stage.expandRatio}`;
}

function isUnique(values: readonly Choice[]): boolean {
  return new Set(values.map((v) => JSON.stringify(v))).size === values.length;
}

function checkChoiceList(where: string, dimension: StageDimension, values: unknown): void {
  if (!Array.isArray(values) || values.length === 0) {
    throw new SearchSpaceError(`${where}: '${dimension}' must be a non-empty array of choices, got ${JSON.stringify(values)}`);
  }
  if (!isUnique(values as Choice[])) throw new SearchSpaceError(`${where}: '${dimension}' lists a choice twice: ${JSON.stringify(values)}`);
  for (const value of values as unknown[]) {
    const bad = (rule: string): never => {
      throw new SearchSpaceError(`${where}: '${dimension}' choice ${JSON.stringify(value)} is not valid: ${rule}`);
    };
    switch (dimension) {
      case 'op':
        if (typeof value !== 'string') bad("an op is a string like 'mbconv6' or 'fused4'");
        parseBlockOp(value as string);
        break;
      case 'kernel':
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value % 2 !== 1) bad('a kernel is an odd integer ≥ 1');
        break;
      case 'se':
        if (typeof value !== 'number' || !(value >= 0 && value <= 1)) bad('a squeeze-excite ratio is a number in [0, 1]');
        break;
      case 'skip':
        if (value !== 'identity' && value !== 'none') bad("a skip is 'identity' or 'none'");
        break;
      case 'filters':
        if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) bad("a filter ratio is a number > 0 (× the base stage's channels)");
        break;
      case 'layers':
        if (typeof value !== 'number' || !Number.isInteger(value)) bad("a layer change is an integer added to the base stage's repeats");
        break;
    }
  }
}

/** A validated space: the document, its decoded base and each stage's resolved choices. */
export interface ResolvedSearchSpace {
  /** The document as given (validated). */
  document: SearchSpaceDocument;
  /** The base's stages. */
  base: StageArgs[];
  /** Each stage's choice lists after the per-stage replacements. */
  stageChoices: StageChoices[];
}

/**
 * Validates a space document (any JSON value) and resolves its per-stage choices.
 * @param where names the source in messages (a path or a built-in name)
 * @throws SearchSpaceError naming the first problem: a missing or unknown key, an empty or duplicated choice list,
 *   an invalid choice, a base that does not decode, a stage override for a stage the base does not have
 */
export function resolveSearchSpace(value: unknown, where = 'search space'): ResolvedSearchSpace {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new SearchSpaceError(`${where}: expected a JSON object {name, base, choices, stages?}, got ${JSON.stringify(value)}`);
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!['name', 'description', 'base', 'choices', 'stages'].includes(key)) {
      throw new SearchSpaceError(`${where}: unknown key '${key}'; a space has name, description, base, choices and stages`);
    }
  }
  if (typeof record.name !== 'string' || record.name === '') throw new SearchSpaceError(`${where}: 'name' must be a non-empty string`);
  if (!Array.isArray(record.base) || record.base.length === 0 || !record.base.every((s) => typeof s === 'string')) {
    throw new SearchSpaceError(`${where}: 'base' must be a non-empty array of block strings (one per stage), e.g. EfficientNet-B0's`);
  }
  let base: StageArgs[];
  try {
    // The space's candidates chain from B0's 32-channel stem (decodeCandidate), so its base must start there.
    base = decodeArchitecture(record.base as string[], { stemChannels: EFFICIENTNET_B0_STEM_CHANNELS });
  } catch (error) {
    throw new SearchSpaceError(`${where}: 'base': ${error instanceof Error ? error.message : String(error)}`);
  }
  const choices = record.choices;
  if (choices === null || typeof choices !== 'object' || Array.isArray(choices)) {
    throw new SearchSpaceError(`${where}: 'choices' must be an object with ${STAGE_DIMENSIONS.join(', ')}`);
  }
  const checkChoices = (context: string, object: Record<string, unknown>, partial: boolean): void => {
    for (const key of Object.keys(object)) {
      if (!(STAGE_DIMENSIONS as readonly string[]).includes(key)) {
        throw new SearchSpaceError(`${context}: unknown dimension '${key}'; the dimensions are ${STAGE_DIMENSIONS.join(', ')}`);
      }
    }
    for (const dimension of STAGE_DIMENSIONS) {
      if (object[dimension] === undefined && partial) continue;
      checkChoiceList(context, dimension, object[dimension]);
    }
  };
  checkChoices(`${where}: choices`, choices as Record<string, unknown>, false);
  const overrides = record.stages ?? {};
  if (overrides === null || typeof overrides !== 'object' || Array.isArray(overrides)) {
    throw new SearchSpaceError(`${where}: 'stages' must be an object keyed by stage number ("1".."${base.length}")`);
  }
  for (const [key, override] of Object.entries(overrides as Record<string, unknown>)) {
    const stage = Number(key);
    if (!Number.isInteger(stage) || stage < 1 || stage > base.length || String(stage) !== key) {
      throw new SearchSpaceError(`${where}: stages key '${key}' is not a stage number of the base (1..${base.length})`);
    }
    if (override === null || typeof override !== 'object' || Array.isArray(override)) {
      throw new SearchSpaceError(`${where}: stages.${key} must be an object of choice lists`);
    }
    checkChoices(`${where}: stages.${key}`, override as Record<string, unknown>, true);
  }
  const document = structuredClone(record) as unknown as SearchSpaceDocument;
  const stageChoices = base.map((_, index) => ({ ...document.choices, ...(document.stages?.[String(index + 1)] ?? {}) }) as StageChoices);
  return { document, base, stageChoices };
}

/** The categorical space the strategies search: one dimension per stage and choice (`s1.op` ... `sN.layers`). */
export function flatSearchSpace(space: ResolvedSearchSpace): SearchSpace {
  const flat: Record<string, Choice[]> = {};
  space.stageChoices.forEach((choices, index) => {
    for (const dimension of STAGE_DIMENSIONS) flat[dimensionName(index + 1, dimension)] = [...choices[dimension]];
  });
  return flat;
}

/** The number of distinct candidates of the space (the product of its choice counts). */
export function spaceSize(space: ResolvedSearchSpace): number {
  return Object.values(flatSearchSpace(space)).reduce((product, choices) => product * choices.length, 1);
}

/**
 * The unscaled stages a candidate describes: per stage the base's stride, the chosen op, kernel, SE and skip, the
 * base's output channels × the filter ratio (rounded to a multiple of 8), the base's repeats + the layer change (at
 * least 1), input channels chained from the stem's 32.
 * @throws SearchSpaceError for a candidate that misses a dimension or holds a choice the space does not have
 */
export function decodeCandidate(space: ResolvedSearchSpace, candidate: Candidate): StageArgs[] {
  const flat = flatSearchSpace(space);
  for (const [dimension, choices] of Object.entries(flat)) {
    const value = candidate[dimension];
    if (value === undefined) throw new SearchSpaceError(`candidate has no '${dimension}'; a candidate of space '${space.document.name}' sets ${Object.keys(flat).length} dimensions`);
    if (!choices.includes(value)) throw new SearchSpaceError(`candidate's '${dimension}' is ${JSON.stringify(value)}, not one of ${JSON.stringify(choices)}`);
  }
  let previous = space.base[0]!.inChannels;
  return space.base.map((base, index) => {
    const pick = <T extends Choice>(dimension: StageDimension): T => candidate[dimensionName(index + 1, dimension)] as T;
    const op = parseBlockOp(pick<string>('op'));
    const stage: StageArgs = {
      repeats: Math.max(1, base.repeats + pick<number>('layers')),
      kernel: pick<number>('kernel'),
      stride: base.stride,
      expandRatio: op.expandRatio,
      inChannels: previous,
      outChannels: roundFilters(base.outChannels, pick<number>('filters')),
      seRatio: pick<number>('se'),
      skip: pick<string>('skip') === 'identity',
      fused: op.fused,
    };
    previous = stage.outChannels;
    return stage;
  });
}

/** The candidate's block strings (TF dialect): what its model card and configuration file hold. */
export function candidateBlockStrings(space: ResolvedSearchSpace, candidate: Candidate): string[] {
  return encodeArchitecture(decodeCandidate(space, candidate));
}

/**
 * The point of the space that is the network `blockStrings` describe (e.g. B0 in the default space), found stage by
 * stage; the result decodes back to exactly those block strings.
 * @throws SearchSpaceError naming the first stage and dimension the network's value is not a choice of
 */
export function candidateOf(space: ResolvedSearchSpace, blockStrings: readonly string[]): Candidate {
  const stages = decodeArchitecture(blockStrings, { stemChannels: EFFICIENTNET_B0_STEM_CHANNELS });
  if (stages.length !== space.base.length) {
    throw new SearchSpaceError(`the network has ${stages.length} stages; space '${space.document.name}' has ${space.base.length}`);
  }
  const candidate: Candidate = {};
  stages.forEach((stage, index) => {
    const base = space.base[index]!;
    const choices = space.stageChoices[index]!;
    const where = `stage ${index + 1} ('${blockStrings[index]}')`;
    if (stage.stride !== base.stride) throw new SearchSpaceError(`${where}: stride ${stage.stride} differs from the base's ${base.stride}; strides are fixed by the base`);
    const find = <T extends Choice>(dimension: StageDimension, matches: (choice: T) => boolean, shown: unknown): void => {
      const found = (choices[dimension] as T[]).find(matches);
      if (found === undefined) throw new SearchSpaceError(`${where}: ${dimension} ${JSON.stringify(shown)} is not a choice of the space (${JSON.stringify(choices[dimension])})`);
      candidate[dimensionName(index + 1, dimension)] = found;
    };
    find<string>('op', (op) => parseBlockOp(op).fused === stage.fused && parseBlockOp(op).expandRatio === stage.expandRatio, blockOpOf(stage));
    find<number>('kernel', (k) => k === stage.kernel, stage.kernel);
    find<number>('se', (se) => se === stage.seRatio, stage.seRatio);
    find<string>('skip', (skip) => (skip === 'identity') === stage.skip, stage.skip ? 'identity' : 'none');
    find<number>('filters', (ratio) => roundFilters(base.outChannels, ratio) === stage.outChannels, `${stage.outChannels} channels`);
    find<number>('layers', (delta) => Math.max(1, base.repeats + delta) === stage.repeats, `${stage.repeats} repeats`);
  });
  return candidate;
}
