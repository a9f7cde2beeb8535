/**
 * Training checkpoints: everything a run needs to continue bit for bit — model weights, optimizer state, EMA,
 * schedule position (the optimizer step), epoch, loader position, random-number state and the run's
 * configuration — in ONE safetensors file. Tensors are prefixed `model.`, `optim.` and `ema.`; the rest is JSON
 * in the metadata entry `effnet.checkpoint`. Files are written atomically (temporary file, fsync, rename), so a
 * crash mid-write leaves the previous checkpoint intact.
 */
import { loadSafetensors, saveSafetensors } from '../io/safetensors.js';
import type { Tensor } from '../torch/index.js';
import type { OptimizerState, SavedParamGroup } from '../optim/index.js';
import type { ModelEmaState } from '../optim/ema.js';
import type { LoaderPosition } from '../data/loader.js';
import { MODEL_CARD_KEY, parseModelCardJson, serializeModelCard, type ModelCard } from '../card/model-card.js';
import { cardFromLegacyDescription } from '../card/legacy.js';

/** The metadata key that holds the checkpoint's JSON. */
export const CHECKPOINT_METADATA_KEY = 'effnet.checkpoint';
/** The format version this module writes and reads. */
export const CHECKPOINT_VERSION = 1;

/** A JSON value (what the configuration may hold). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * Random-number state. Every random draw of a run is derived from `seed`: the loader's order and augmentation
 * from (seed, epoch, index), and libtorch's generator (dropout, stochastic depth) is re-seeded before each
 * optimizer step with deriveSeed(seed, TORCH_SEED_TAG, step); so (seed, step) is the complete state.
 */
export interface RngState {
  /** The run's seed. */
  seed: number;
  /** How libtorch's generator is seeded, for readers of the file. */
  torchSeeding: string;
}

/** Where the run stands. */
export interface TrainingProgressState {
  /** Epochs completed. */
  epoch: number;
  /** Optimizer steps taken (the schedule's position). */
  step: number;
  /** The loader's next batch. */
  position: LoaderPosition;
  /** Best validation top-1 so far (NaN-free; -1 before any evaluation) and its epoch. */
  best: { top1: number; epoch: number };
  /** Random-number state. */
  rng: RngState;
}

/** What a checkpoint holds. Tensors are not copied when saving. */
export interface CheckpointState {
  /** The model's stateDict. */
  model: Map<string, Tensor>;
  /** The optimizer's stateDict. */
  optimizer: OptimizerState;
  /** The EMA's stateDict, or null when the run has no EMA. */
  ema: ModelEmaState | null;
  /** Where the run stands. */
  progress: TrainingProgressState;
  /** The run's configuration (recipe, data), as JSON. */
  config: { [key: string]: JsonValue };
  /** The model card of the run's model (stored as the `effnet.card` metadata entry), or null for a bare Module. */
  card?: ModelCard | null;
}

/** A loaded checkpoint: its tensors belong to the caller; call dispose() when done. */
export interface LoadedCheckpoint extends CheckpointState {
  /** The card (from `effnet.card`, or from the `config.model` description of checkpoints written before cards), or null. */
  card: ModelCard | null;
  /** Frees every tensor of the checkpoint. */
  dispose(): void;
}

interface CheckpointJson {
  version: number;
  optimizer: { type: string; paramGroups: SavedParamGroup[]; scalars: Record<string, number> };
  ema: { updates: number } | null;
  progress: TrainingProgressState;
  config: { [key: string]: JsonValue };
}

/** Writes `state` to `path` as one safetensors file, atomically. */
export function saveCheckpoint(path: string, state: CheckpointState): void {
  const tensors = new Map<string, Tensor>();
  for (const [name, value] of state.model) tensors.set(`model.${name}`, value);
  for (const [name, value] of state.optimizer.tensors) tensors.set(`optim.${name}`, value);
  if (state.ema !== null) for (const [name, value] of state.ema.tensors) tensors.set(`ema.${name}`, value);
  const json: CheckpointJson = {
    version: CHECKPOINT_VERSION,
    optimizer: { type: state.optimizer.type, paramGroups: state.optimizer.paramGroups, scalars: state.optimizer.scalars },
    ema: state.ema === null ? null : { updates: state.ema.updates },
    progress: state.progress,
    config: state.config,
  };
  const card = state.card ?? null;
  saveSafetensors(path, tensors, {
    format: 'effnet-checkpoint',
    [CHECKPOINT_METADATA_KEY]: JSON.stringify(json),
    ...(card === null ? {} : { [MODEL_CARD_KEY]: serializeModelCard(card) }),
  });
}

function checkpointCard(metadata: Record<string, string>, config: { [key: string]: JsonValue }, path: string): ModelCard | null {
  const text = metadata[MODEL_CARD_KEY];
  if (text !== undefined) return parseModelCardJson(text, path);
  // Checkpoints of effnet train written before cards described the model as weights format 1 under config.model.
  const legacy = config.model;
  const isLegacy = typeof legacy === 'object' && legacy !== null && !Array.isArray(legacy) && legacy.format === 1;
  return isLegacy ? cardFromLegacyDescription(legacy, path) : null;
}

/**
 * The model card of a checkpoint from its metadata alone (readSafetensorsMetadata): the `effnet.card` entry, or the
 * card of the `config.model` description written before cards; null when it has neither.
 */
export function checkpointCardFromMetadata(metadata: Record<string, string>, path: string): ModelCard | null {
  const text = metadata[CHECKPOINT_METADATA_KEY];
  if (text === undefined) throw new Error(`${path} has no '${CHECKPOINT_METADATA_KEY}' metadata; it is not a training checkpoint`);
  let json: CheckpointJson;
  try {
    json = JSON.parse(text) as CheckpointJson;
  } catch (error) {
    throw new Error(`${path}: the checkpoint metadata is not valid JSON (${(error as Error).message}); the file is corrupt`);
  }
  return checkpointCard(metadata, json.config ?? {}, path);
}

/** Reads a checkpoint written by saveCheckpoint; throws a clear error for any other file. */
export function loadCheckpoint(path: string): LoadedCheckpoint {
  const loaded = loadSafetensors(path);
  const all = [...loaded.tensors.values()];
  const disposeAll = (): void => {
    for (const t of all) t.dispose();
  };
  try {
    const text = loaded.metadata[CHECKPOINT_METADATA_KEY];
    if (text === undefined) {
      throw new Error(`${path} is a safetensors file without '${CHECKPOINT_METADATA_KEY}' metadata: it holds weights, not a training checkpoint; use it with --from (fine-tuning) instead of --resume`);
    }
    let json: CheckpointJson;
    try {
      json = JSON.parse(text) as CheckpointJson;
    } catch (error) {
      throw new Error(`${path}: the checkpoint metadata is not valid JSON (${(error as Error).message}); the file is corrupt`);
    }
    if (json.version !== CHECKPOINT_VERSION) {
      throw new Error(`${path}: checkpoint format version ${String(json.version)}, but this build reads version ${CHECKPOINT_VERSION}`);
    }
    const model = new Map<string, Tensor>();
    const optimTensors = new Map<string, Tensor>();
    const emaTensors = new Map<string, Tensor>();
    for (const [name, value] of loaded.tensors) {
      if (name.startsWith('model.')) model.set(name.slice(6), value);
      else if (name.startsWith('optim.')) optimTensors.set(name.slice(6), value);
      else if (name.startsWith('ema.')) emaTensors.set(name.slice(4), value);
      else throw new Error(`${path}: unexpected tensor '${name}'; checkpoint tensors start with model., optim. or ema.`);
    }
    if (json.ema === null && emaTensors.size > 0) throw new Error(`${path}: the checkpoint says it has no EMA but holds ema. tensors; the file is corrupt`);
    const card = checkpointCard(loaded.metadata, json.config, path);
    return {
      model,
      card,
      optimizer: { ...json.optimizer, tensors: optimTensors },
      ema: json.ema === null ? null : { updates: json.ema.updates, tensors: emaTensors },
      progress: json.progress,
      config: json.config,
      dispose: disposeAll,
    };
  } catch (error) {
    disposeAll();
    throw error;
  }
}
