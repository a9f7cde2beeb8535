/**
 * Cards and models: build the network a card describes, and describe a model built directly through the library
 * (`createEfficientNet`) with a card. The only place where a card's architecture turns into model options.
 */
import { createEfficientNet, type EfficientNet } from '../efficientnet/model.js';
import { profileNetwork } from '../efficientnet/profile.js';
import { networkSpec } from '../efficientnet/variants.js';
import { MODEL_CARD_VERSION, ModelCardError, parseModelCard, type CardOrigin, type ModelCard } from './model-card.js';
import { architectureOf, configOfCard, evalCardFor, stagesOfCard, type EvalOverrides } from './resolve.js';

/**
 * The card each model carries (as timm models carry their pretrained_cfg): the one it was built from or given by
 * {@link attachCard}. Kept beside the model, not in it, so that efficientnet/ stays below card/.
 */
const carried = new WeakMap<EfficientNet, ModelCard>();

/** A new, freshly initialised model of the card's architecture and class count (in training mode), carrying the card. */
export function createModelFromCard(card: ModelCard): EfficientNet {
  const a = card.architecture;
  const model = createEfficientNet(configOfCard(card), {
    numClasses: card.classes.count,
    dropout: a.dropout,
    stochasticDepth: a.stochasticDepth,
    padding: a.padding,
    batchNorm: { ...a.batchNorm },
    inChannels: a.inChannels,
    stages: stagesOfCard(card),
  });
  carried.set(model, card);
  return model;
}

/**
 * Gives `model` the card it carries from now on (what saving and exporting it write unless told otherwise).
 * @throws ModelCardError when the card describes another network or class count
 */
export function attachCard(model: EfficientNet, card: ModelCard): void {
  const mismatch = modelCardMismatch(model, card);
  if (mismatch.length > 0) throw new ModelCardError(`attachCard: the card does not describe this model: ${mismatch.join('; ')}`);
  carried.set(model, card);
}

/**
 * The card of `model`: the one it carries (every model effnet builds from a card, loads, imports or trains carries
 * one, with its class names and eval transform) while it still describes the model; otherwise — a model built
 * directly with createEfficientNet, or changed since (a new classifier) — the card {@link cardOfModel} describes it with.
 */
export function cardOf(model: EfficientNet): ModelCard {
  const own = carried.get(model);
  if (own !== undefined && modelCardMismatch(model, own).length === 0) return own;
  return cardOfModel(model);
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
  // Both sides' keys: the optional family fields (scaling, activation) are absent on one side when they differ.
  for (const key of new Set([...Object.keys(a), ...Object.keys(own)]) as Set<keyof typeof a>) {
    if (key === 'name') continue;
    if (JSON.stringify(own[key]) !== JSON.stringify(a[key])) out.push(`architecture.${key} (model ${JSON.stringify(own[key])}, card ${JSON.stringify(a[key])})`);
  }
  if (model.options.numClasses !== card.classes.count) out.push(`classes.count (model ${model.options.numClasses}, card ${card.classes.count})`);
  return out;
}

/** State-dict entries that are buffers, not parameters (the profiler counts parameters). */
const BUFFER_KEY = /\.(running_mean|running_var|num_batches_tracked)$/;

/**
 * How a file's tensors (name → shape) disagree with the network its card describes, from the card alone: the
 * stem's input channels, the classifier's outputs and the total parameter count of the analytic profile. Empty
 * when they agree. Readers call it before building the model, so a card that does not describe its weights (forged,
 * or edited by hand) is refused before anything of the card's size is allocated.
 */
export function cardWeightsMismatch(card: ModelCard, shapes: ReadonlyMap<string, readonly number[]>): string[] {
  const a = card.architecture;
  const out: string[] = [];
  const spec = networkSpec(configOfCard(card), stagesOfCard(card));
  const classifier = shapes.get('classifier.1.weight');
  if (classifier === undefined) {
    out.push("the file has no classifier ('classifier.1.weight')");
  } else if (classifier.length !== 2 || classifier[0] !== card.classes.count || classifier[1] !== spec.headChannels) {
    out.push(`the classifier is [${classifier.join(', ')}] but the card says ${card.classes.count} classes from ${spec.headChannels} features`);
  }
  const stem = shapes.get('features.0.0.weight');
  if (stem === undefined) {
    out.push("the file has no stem convolution ('features.0.0.weight')");
  } else if (stem[0] !== spec.stemChannels || stem[1] !== a.inChannels) {
    out.push(`the stem convolution is [${stem.join(', ')}] but the card says ${spec.stemChannels} channels from ${a.inChannels} input channels`);
  }
  const expected = profileNetwork(spec, { imageSize: a.resolution, numClasses: card.classes.count, inputChannels: a.inChannels, padding: a.padding }).params;
  let held = 0;
  for (const [name, shape] of shapes) if (!BUFFER_KEY.test(name)) held += shape.reduce((product, d) => product * d, 1);
  if (held !== expected) out.push(`the file holds ${held.toLocaleString('en-US')} parameters but the card's network has ${expected.toLocaleString('en-US')}`);
  return out;
}
