/**
 * The scaled-configuration file: plain JSON `{ "width": w, "depth": d, "resolution": r, "dropout": p,
 * "stages"?: [block strings] }`. width/depth/resolution/dropout are exactly the options of
 * {@link customConfig}; `stages` (optional) are TF-style block strings (default: B0's seven) for the model's
 * `stages` option. `effnet scale --write` writes it, `--base <file>` and the trainer read it.
 */
import { writeFileSync } from 'node:fs';
import { makeDirectory } from '../directories.js';
import { readInputFile } from '../input-file.js';
import { dirname } from 'node:path';
import { EFFICIENTNET_B0_BLOCK_STRINGS, decodeArchitecture, encodeArchitecture, type StageArgs } from '../efficientnet/block-spec.js';
import { customConfig, EFFICIENTNET_V2_BLOCK_STRINGS, getVariant, isLiteVariant, isV2Variant, variantStages, type EfficientNetConfig } from '../efficientnet/variants.js';
import { UserError } from '../errors.js';
import { WRITTEN_SCALING_RULES, type WrittenScalingRule } from '../efficientnet/scaling.js';
import { smallImageStages } from './small-images.js';
import { describeSizeProblem, networkSizeProblem } from './model-card.js';

/** The JSON shape of a scaled configuration. */
export interface ScaledConfigJson {
  /** Width multiplier (> 0). */
  width: number;
  /** Depth multiplier (> 0). */
  depth: number;
  /** Input resolution in pixels (integer ≥ 32). */
  resolution: number;
  /** Classifier dropout in [0, 1). */
  dropout: number;
  /** Unscaled stages as TF block strings (`r1_k3_s11_e1_i32_o16_se0.25`, ...); absent means B0's. */
  stages?: string[];
  /**
   * 'lite': EfficientNet-Lite's scaling rule (stem, head, first and last repeats unscaled); 'efficientnetv2':
   * EfficientNetV2-B's (channels rounded without the 90% floor); absent: EfficientNet's.
   */
  scaling?: WrittenScalingRule;
  /** 'relu6': EfficientNet-Lite's activation; absent: SiLU. */
  activation?: 'relu6';
}

/** Thrown for a base or configuration file that cannot be used. */
export class ConfigFileError extends UserError {
  override name = 'ConfigFileError';
}

/**
 * Checks a parsed value against {@link ScaledConfigJson} (through customConfig and decodeArchitecture, so that every
 * rule of the model applies) and returns a clean copy.
 * @param where names the source in messages (a path or 'inline base')
 */
export function validateScaledConfig(value: unknown, where: string): ScaledConfigJson {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigFileError(`${where}: expected a JSON object {width, depth, resolution, dropout, stages?}, got ${JSON.stringify(value)}`);
  }
  const record = value as Record<string, unknown>;
  const known = new Set(['width', 'depth', 'resolution', 'dropout', 'stages', 'name', 'phi', 'scaling', 'activation']);
  for (const key of Object.keys(record)) {
    if (!known.has(key)) throw new ConfigFileError(`${where}: unknown key '${key}'; a configuration has width, depth, resolution, dropout and optionally stages, scaling ('lite' or 'efficientnetv2') and activation ('relu6')`);
  }
  if (record.scaling !== undefined && !(WRITTEN_SCALING_RULES as readonly unknown[]).includes(record.scaling)) {
    throw new ConfigFileError(`${where}: 'scaling' must be 'lite' (EfficientNet-Lite's rule), 'efficientnetv2' (EfficientNetV2-B's) or absent, got ${JSON.stringify(record.scaling)}`);
  }
  if (record.activation !== undefined && record.activation !== 'relu6') throw new ConfigFileError(`${where}: 'activation' must be 'relu6' or absent (SiLU), got ${JSON.stringify(record.activation)}`);
  const family = familyOf({ scaling: record.scaling as string | undefined, activation: record.activation as string | undefined });
  for (const key of ['width', 'depth', 'resolution'] as const) {
    if (typeof record[key] !== 'number') throw new ConfigFileError(`${where}: '${key}' must be a number, got ${JSON.stringify(record[key])}`);
  }
  if (record.dropout !== undefined && typeof record.dropout !== 'number') throw new ConfigFileError(`${where}: 'dropout' must be a number in [0, 1), got ${JSON.stringify(record.dropout)}`);
  let stages: string[] | undefined;
  if (record.stages !== undefined) {
    if (!Array.isArray(record.stages) || !record.stages.every((s) => typeof s === 'string')) {
      throw new ConfigFileError(`${where}: 'stages' must be an array of block strings like "r2_k3_s22_e6_i16_o24_se0.25"`);
    }
    stages = [...(record.stages as string[])];
  }
  let config: EfficientNetConfig;
  try {
    config = customConfig({
      width: record.width as number,
      depth: record.depth as number,
      resolution: record.resolution as number,
      ...(record.dropout === undefined ? {} : { dropout: record.dropout as number }),
    });
    const decoded = decodeArchitecture(stages ?? EFFICIENTNET_B0_BLOCK_STRINGS);
    // Bounded before anything is built or profiled block by block (the class count is the model's: 1 here).
    const tooBig = networkSizeProblem(decoded, config.width, config.depth, config.resolution, 1);
    if (tooBig !== null) throw new ConfigFileError(`${where} describes ${describeSizeProblem(tooBig)}`);
  } catch (error) {
    if (error instanceof ConfigFileError) throw error;
    throw new ConfigFileError(`${where}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return { width: config.width, depth: config.depth, resolution: config.resolution, dropout: config.dropout, ...(stages === undefined ? {} : { stages }), ...family };
}

/** The model configuration (name 'custom') a scaled configuration describes, its family's rules included. */
export function toEfficientNetConfig(config: ScaledConfigJson): EfficientNetConfig {
  return { ...customConfig({ width: config.width, depth: config.depth, resolution: config.resolution, dropout: config.dropout }), ...familyOf(config) };
}

/**
 * The family fields of a configuration or a model config: Lite's or V2-B's scaling rule and ReLU6 when it has them,
 * nothing for EfficientNet's rule and SiLU (which are never written, so configurations of the other families stay as
 * they were).
 */
export function familyOf(config: { scaling?: string | undefined; activation?: string | undefined }): { scaling?: WrittenScalingRule; activation?: 'relu6' } {
  const scaling = WRITTEN_SCALING_RULES.find((rule) => rule === config.scaling);
  return { ...(scaling === undefined ? {} : { scaling }), ...(config.activation === 'relu6' ? { activation: 'relu6' as const } : {}) };
}

/** The unscaled stages of a configuration: its block strings decoded, or B0's. */
export function stagesOf(config: ScaledConfigJson): StageArgs[] {
  return decodeArchitecture(config.stages ?? EFFICIENTNET_B0_BLOCK_STRINGS);
}

/** Reads and validates a configuration file. */
export function readScaledConfig(path: string): ScaledConfigJson {
  let text: string;
  try {
    text = readInputFile(path, 'headerBytes', 'configuration file').toString('utf8');
  } catch (error) {
    throw new ConfigFileError(`cannot read configuration file ${path}: ${error instanceof Error ? error.message : String(error)}; check the path`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigFileError(`${path} is not valid JSON (${error instanceof Error ? error.message : String(error)}); expected {width, depth, resolution, dropout, stages?}`);
  }
  return validateScaledConfig(parsed, path);
}

/** Writes a configuration file (creating its folder), pretty-printed. */
export function writeScaledConfig(path: string, config: ScaledConfigJson): void {
  const clean = validateScaledConfig(config, path);
  makeDirectory(dirname(path));
  writeFileSync(path, JSON.stringify(clean, null, 2) + '\n');
}

/**
 * Resolves a `--base` argument: a registered variant ('b0'..'b8', 'l2', 'v2-s', 'v2-m', 'v2-l'), an inline spec
 * 'width=0.25,depth=0.25,resolution=32[,dropout=0.2][,stages=b0|small]', or a path to a configuration file (ending
 * in .json). `stages=small` fixes the base's stages to those `effnet train` uses for that resolution
 * (smallImageStages: B0's with the earliest stride-2 stages at stride 1, total stride 16 at 32px); the stages then
 * stay fixed for every scaled configuration, so scaling the resolution does not change the architecture.
 * @throws ConfigFileError naming what was accepted
 */
export function resolveBase(text: string): ScaledConfigJson {
  const trimmed = String(text ?? '').trim();
  if (trimmed === '') throw new ConfigFileError("--base is required: a variant (b0..b8, l2, v2-s, v2-m, v2-l, v2-xl, lite0..lite4, v2-b0..v2-b3), 'width=W,depth=D,resolution=R[,dropout=P]' or a .json configuration file");
  if (trimmed.includes('=')) {
    const record: Record<string, number | string[]> = {};
    let stagesChoice: string | null = null;
    for (const part of trimmed.split(',')) {
      const [key, raw] = part.split('=').map((s) => s.trim());
      if (key === 'stages') {
        if (raw !== 'b0' && raw !== 'small') throw new ConfigFileError(`base '${text}': stages must be 'b0' or 'small' (B0's stages with the early strides removed for images of 64px or less, as effnet train does), got '${raw ?? ''}'`);
        stagesChoice = raw;
        continue;
      }
      const value = Number(raw);
      if (!key || raw === undefined || raw === '' || !Number.isFinite(value)) {
        throw new ConfigFileError(`base '${text}': '${part}' is not key=number; write e.g. 'width=0.25,depth=0.25,resolution=32'`);
      }
      record[key] = value;
    }
    if (stagesChoice === 'small' && typeof record.resolution === 'number') {
      record.stages = encodeArchitecture(smallImageStages(record.resolution));
    }
    return validateScaledConfig(record, `base '${text}'`);
  }
  if (trimmed.endsWith('.json')) return readScaledConfig(trimmed);
  try {
    const variant = getVariant(trimmed);
    // EfficientNetV2 and Lite bring their own stages (Lite: B0's without SE); b0..l2 are B0's (no stages written).
    const stages = isV2Variant(variant.name)
      ? { stages: [...EFFICIENTNET_V2_BLOCK_STRINGS[variant.name]!] }
      : isLiteVariant(variant.name)
        ? { stages: encodeArchitecture(variantStages(variant.name)) }
        : {};
    return { width: variant.width, depth: variant.depth, resolution: variant.resolution, dropout: variant.dropout, ...stages, ...familyOf(variant) };
  } catch (error) {
    throw new ConfigFileError(
      `unknown base '${text}': ${error instanceof Error ? error.message : String(error)}; or give 'width=W,depth=D,resolution=R' or a .json configuration file`,
    );
  }
}
