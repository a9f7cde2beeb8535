/**
 * ONNX bytes of any model a user points at: an .onnx file as it is, or an effnet model file, checkpoint or run
 * directory exported in memory with its model card. `effnet predict`, `effnet export` and `effnet serve-demo` take
 * models this way; the ONNX-only path (an .onnx file) never loads the engine.
 */
import { statSync } from 'node:fs';
import { readInputFile } from '../input-file.js';
import { UserError } from '../errors.js';
import { withEvalSize, type ModelCard } from '../card/model-card.js';
import { exportEfficientNet, type ExportedModel } from './efficientnet-onnx.js';

/** Options of {@link exportModelFile} and {@link modelBytes}. */
export interface ModelFileExportOptions {
  /** Square input side of the graph; default the card's eval size. */
  imageSize?: number;
  /** The EMA weights of a run directory or checkpoint; default false. */
  ema?: boolean;
  /** Feature levels to export as a backbone (see ExportOptions.features); default the classifier. */
  features?: readonly number[];
}

/** Whether `path` is an ONNX file by its name (.onnx), as opposed to an effnet model file or run directory. */
export function isOnnxPath(path: string): boolean {
  return /\.onnx$/i.test(path);
}

/**
 * Exports the model at `path` (model file, checkpoint or run directory; see model-file/open.ts) to ONNX in memory,
 * with the card the file now carries (its eval size the exported one). Loads the engine (the weights are read
 * through libtorch).
 */
export async function exportModelFile(path: string, options: ModelFileExportOptions = {}): Promise<ExportedModel & { source: string; card: ModelCard }> {
  // Loaded here, not at the top: predict of an .onnx file then never loads the training stack.
  const { openModel } = await import('../model-file/open.js');
  const opened = openModel(path, { ema: options.ema ?? false });
  try {
    const size = options.imageSize ?? opened.card.eval.size;
    const features = options.features === undefined ? {} : { features: options.features };
    return { ...exportEfficientNet(opened.model, { card: opened.card, imageSize: size, ...features }), source: opened.location.file, card: withEvalSize(opened.card, size) };
  } finally {
    opened.model.dispose();
  }
}

/**
 * The ONNX bytes of a model: an .onnx file read as it is (no engine needed), anything else exported in memory.
 * @throws UserError when the path does not exist
 */
export async function modelBytes(path: string, options: ModelFileExportOptions = {}): Promise<Uint8Array> {
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch {
    throw new UserError(`${path} does not exist; pass an .onnx file from \`effnet export\`, a run directory of \`effnet train\`, or an effnet model file`);
  }
  if (isFile && isOnnxPath(path)) {
    if (options.imageSize !== undefined) throw new UserError(`${path} is an ONNX file whose input size is fixed; --image-size applies to effnet model files only`);
    return readInputFile(path, 'onnxBytes', 'ONNX model');
  }
  return (await exportModelFile(path, options)).bytes;
}
