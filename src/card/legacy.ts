/**
 * Model files written before the model card existed (weights format 1: the safetensors entry `effnet` with
 * config, options, stages and class names; checkpoints' `config.model` with the same record) described the network
 * but not the eval transform. Every writer of that time validated and served with one rule, the one the card's
 * resolver still applies by default (crop_pct 1 up to 64px, size / (size + 32) above, ImageNet mean and std,
 * bicubic), so those files get exactly the card of the preprocessing they were trained and validated with.
 *
 * ONNX files of that time are another matter: their `effnet.crop_pct` was size / (size + 32) at every size, wrong
 * for small-image models (a 32px model was served a 50% crop), so readers refuse them with the command that
 * converts them (re-export from the model file); see infer/model-info.ts.
 */
import type { StageArgs } from '../efficientnet/block-spec.js';
import type { EfficientNetConfig } from '../efficientnet/variants.js';
import { MODEL_CARD_VERSION, ModelCardError, parseModelCard, type ModelCard } from './model-card.js';
import { architectureOf, evalCardFor, type ArchitectureOptions } from './resolve.js';

/** The metadata key of the format-1 description. */
export const LEGACY_METADATA_KEY = 'effnet';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The card of a format-1 description (the parsed JSON of the `effnet` entry, or a checkpoint's `config.model`).
 * @throws ModelCardError when it is not a complete format-1 record
 */
export function cardFromLegacyDescription(value: unknown, source: string): ModelCard {
  if (!isRecord(value) || value.format !== 1 || !isRecord(value.config) || !isRecord(value.options) || !Array.isArray(value.stages)) {
    throw new ModelCardError(`${source}: the '${LEGACY_METADATA_KEY}' description lacks format 1, config, options or stages; the file is corrupt or not effnet's`);
  }
  const config = value.config as Record<string, unknown>;
  const options = value.options as Record<string, unknown>;
  const names = value.classNames;
  const resolution = config.resolution as number;
  const card = {
    version: MODEL_CARD_VERSION,
    architecture: architectureOf(config as unknown as EfficientNetConfig, options as unknown as ArchitectureOptions, value.stages as StageArgs[]),
    classes: { count: options.numClasses, names: names === undefined ? null : names },
    eval: evalCardFor(resolution),
    origin: { kind: 'legacy', detail: `${source} (weights format 1; eval transform by the rule of that time)` },
  };
  return parseModelCard(card, `${source} (weights format 1)`);
}
