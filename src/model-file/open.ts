/**
 * Opening any model a user points at: a model file (`model.safetensors`, `effnet import`'s output), a training
 * checkpoint (`last.safetensors`, `best.safetensors`; raw or EMA weights), or a run directory. Every reader of a
 * trained model (`effnet eval`, `predict`, `export`, `serve-demo`, `train --from`) opens it here and takes the
 * network, the classes and the eval transform from its model card and nothing else.
 *
 * A run directory means its final model (`model.safetensors`, or `model_ema.safetensors` for the EMA weights) when
 * the run finished, else its last checkpoint (`last.safetensors`), so a stopped run can be evaluated too.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelCard } from '../card/model-card.js';
import type { EfficientNet } from '../efficientnet/model.js';
import { UserError } from '../errors.js';
import { cardFromMetadata, loadModel, modelWithWeights } from './weights.js';
import { readSafetensorsMetadata } from '../io/safetensors.js';
import { CHECKPOINT_METADATA_KEY, checkpointCardFromMetadata, loadCheckpoint } from './checkpoint.js';
import { RUN_FILES } from './run-files.js';

/** Raised for a path that holds no model effnet can open (a user error). */
export class ModelFileError extends UserError {
  override name = 'ModelFileError';
}

/** File names of a run directory. */

/** Options of {@link locateModel}, {@link readModelCard} and {@link openModel}. */
export interface OpenModelOptions {
  /** The EMA weights: a run's model_ema.safetensors, or a checkpoint's EMA; default false (the raw weights). */
  ema?: boolean;
}

/** Where a model's weights are. */
export interface ModelLocation {
  /** The file. */
  file: string;
  /** 'model' for a model file, 'checkpoint' for a training checkpoint. */
  kind: 'model' | 'checkpoint';
  /** Which weights of the file: the raw ones or a checkpoint's EMA. */
  weights: 'raw' | 'ema';
}

function describeDirectory(dir: string): string {
  const names = readdirSync(dir).filter((name) => name.endsWith('.safetensors') || name.endsWith('.onnx'));
  return names.length === 0 ? 'no .safetensors files' : names.join(', ');
}

/**
 * Resolves a path (file or run directory) to the weights to open.
 * @throws ModelFileError when nothing is there, or the EMA weights are asked for where there are none
 */
export function locateModel(path: string, options: OpenModelOptions = {}): ModelLocation {
  const ema = options.ema ?? false;
  if (!existsSync(path)) throw new ModelFileError(`${path} does not exist; pass a run directory, its model.safetensors, or a last/best.safetensors checkpoint`);
  if (statSync(path).isDirectory()) {
    const finished = join(path, ema ? RUN_FILES.emaModel : RUN_FILES.model);
    if (existsSync(finished)) return { file: finished, kind: 'model', weights: 'raw' };
    const last = join(path, RUN_FILES.last);
    if (existsSync(last)) return locateModel(last, options);
    const ending = ema ? `${RUN_FILES.emaModel} (the run's EMA weights; runs with --no-ema have none)` : RUN_FILES.model;
    throw new ModelFileError(`${path} is a directory without ${ending} or ${RUN_FILES.last} (it holds ${describeDirectory(path)}); pass a run directory of effnet train or a model file`);
  }
  let metadata: Record<string, string>;
  try {
    metadata = readSafetensorsMetadata(path);
  } catch (error) {
    throw new ModelFileError(`${path} is not an effnet model file (${(error as Error).message}); pass a .safetensors model or checkpoint written by effnet (an .onnx file is for \`effnet predict\`)`);
  }
  if (metadata[CHECKPOINT_METADATA_KEY] !== undefined) return { file: path, kind: 'checkpoint', weights: ema ? 'ema' : 'raw' };
  if (ema) {
    throw new ModelFileError(`--ema needs a training checkpoint (last.safetensors or best.safetensors) or a run directory; ${path} is a model file (a run's EMA weights are in ${RUN_FILES.emaModel})`);
  }
  return { file: path, kind: 'model', weights: 'raw' };
}

/** The card of the model at `path` (file or run directory), read from the metadata only (no weights loaded). */
export function readModelCard(path: string, options: OpenModelOptions = {}): { card: ModelCard; location: ModelLocation } {
  const location = locateModel(path, options);
  const metadata = readSafetensorsMetadata(location.file);
  if (location.kind === 'model') return { card: cardFromMetadata(metadata, location.file), location };
  return { card: cardOfCheckpoint(checkpointCardFromMetadata(metadata, location.file), location.file), location };
}

function cardOfCheckpoint(card: ModelCard | null, file: string): ModelCard {
  if (card === null) throw new ModelFileError(`${file}: the checkpoint has no model card (nor a config.model description); it was not written by effnet train`);
  return card;
}

/** A model opened for evaluation or export. */
export interface OpenedModel {
  /** The model with its weights, in eval mode (the caller disposes it). */
  model: EfficientNet;
  /** Its card. */
  card: ModelCard;
  /** Which file and weights were opened. */
  location: ModelLocation;
}

/**
 * Opens the model at `path` (a model file, a checkpoint, or a run directory; see the module comment): rebuilds the
 * network of its card and loads the weights strictly.
 * @throws ModelFileError / ModelCardError / WeightsMismatchError (user errors) naming the file and what to do
 */
export function openModel(path: string, options: OpenModelOptions = {}): OpenedModel {
  const location = locateModel(path, options);
  if (location.kind === 'model') {
    const { model, card } = loadModel(location.file);
    return { model, card, location };
  }
  const checkpoint = loadCheckpoint(location.file);
  try {
    const card = cardOfCheckpoint(checkpoint.card, location.file);
    if (location.weights === 'ema' && checkpoint.ema === null) {
      throw new ModelFileError(`${location.file}: the run had no EMA (--no-ema); use the raw weights (drop --ema)`);
    }
    const weights = location.weights === 'ema' ? checkpoint.ema!.tensors : checkpoint.model;
    return { model: modelWithWeights(card, weights, location.file), card, location };
  } finally {
    checkpoint.dispose();
  }
}
