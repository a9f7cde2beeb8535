/**
 * Cards and models: build the network a card describes, and describe a model built directly through the library
 * (`createEfficientNet`) with a card. The only place where a card's architecture turns into model options.
 */
import { createEfficientNet, type EfficientNet } from '../efficientnet/model.js';
import { MODEL_CARD_VERSION, ModelCardError, parseModelCard, type CardOrigin, type ModelCard } from './model-card.js';
import { architectureOf, configOfCard, evalCardFor, stagesOfCard, type EvalOverrides } from './resolve.js';

/** A new, freshly initialised model of the card's architecture and class count (in training mode). */
export function createModelFromCard(card: ModelCard): EfficientNet {
  const a = card.architecture;
  return createEfficientNet(configOfCard(card), {
    numClasses: card.classes.count,
    dropout: a.dropout,
    stochasticDepth: a.stochasticDepth,
    padding: a.padding,
    batchNorm: { ...a.batchNorm },
    inChannels: a.inChannels,
    stages: stagesOfCard(card),
  });
}

/** Options of {@link cardOfModel}. */
export interface CardOfModelOptions {
  /** Class names, one per output; default none. */
  classNames?: readonly string[] | null;
  /** Eval transform fields; default the resolver's rule at the model's resolution. */
  eval?: EvalOverrides & { size?: number };
  /** Where the model came from; default 'a model built through the library'. */
  origin?: CardOrigin;
}

/**
 * The card of a model built directly (createEfficientNet with any options), for saving it: its architecture as the
 * model reports it, the eval transform by the resolver's rule unless given.
 */
export function cardOfModel(model: EfficientNet, options: CardOfModelOptions = {}): ModelCard {
  const names = options.classNames ?? null;
  if (names !== null && names.length !== model.options.numClasses) {
    throw new ModelCardError(`got ${names.length} class names for a model with ${model.options.numClasses} outputs; pass one name per class`);
  }
  const { config } = model;
  const size = options.eval?.size ?? config.resolution;
  const card: ModelCard = {
    version: MODEL_CARD_VERSION,
    architecture: architectureOf(config, model.options, model.spec.stages.map((stage) => stage.base)),
    classes: { count: model.options.numClasses, names: names === null ? null : [...names] },
    eval: { ...evalCardFor(config.resolution, options.eval), size },
    origin: options.origin ?? { kind: 'model', detail: `a ${config.name} model built through the library` },
  };
  return parseModelCard(card, 'cardOfModel');
}

/**
 * The fields in which `model` differs from the architecture and classes of `card` (empty when it is the card's
 * network), so that writers refuse to store a card next to weights of another network.
 */
export function modelCardMismatch(model: EfficientNet, card: ModelCard): string[] {
  const own = cardOfModel(model).architecture;
  const a = card.architecture;
  const out: string[] = [];
  for (const key of Object.keys(a) as (keyof typeof a)[]) {
    if (key === 'name') continue;
    if (JSON.stringify(own[key]) !== JSON.stringify(a[key])) out.push(`architecture.${key} (model ${JSON.stringify(own[key])}, card ${JSON.stringify(a[key])})`);
  }
  if (model.options.numClasses !== card.classes.count) out.push(`classes.count (model ${model.options.numClasses}, card ${card.classes.count})`);
  return out;
}
