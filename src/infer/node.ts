/**
 * Inference in Node: opens an exported model (ONNX bytes; src/export/model-file.ts turns effnet model files into
 * them) in onnxruntime-node, and classifies image files with a clear error per file that cannot be read or
 * decoded, without stopping the others. Nothing here needs the engine (libtorch).
 */
import { requireOptional } from '../optional-package.js';
import { decodeImage, type RgbImage } from '../data/image.js';
import { readInputFile } from '../input-file.js';
import { ImageClassifier, type OrtModuleLike } from './classifier.js';
import type { Prediction } from './topk.js';

/** onnxruntime-node (an optional dependency), loaded on first use. */
function onnxruntimeNode(): OrtModuleLike {
  return requireOptional<OrtModuleLike>('onnxruntime-node', 'inference in Node');
}

/**
 * The onnxruntime-node module behind the shared classifier interface. The package loads when a session or tensor is
 * first made, so that importing effnet works where it is not installed (a browser-only or training-only set-up).
 */
export const nodeRuntime: OrtModuleLike = {
  get InferenceSession() {
    return onnxruntimeNode().InferenceSession;
  },
  get Tensor() {
    return onnxruntimeNode().Tensor;
  },
};

/** Options of {@link openClassifier}; each default is stated. */
export interface OpenClassifierOptions {
  /** Intra-op threads of the session; default onnxruntime's (all cores). */
  threads?: number;
  /** Largest batch per session run; default 32. */
  maxBatch?: number;
  /** Names the model in messages; default '<model>'. */
  source?: string;
}

/** Opens a warm classifier over onnxruntime-node for the bytes of an exported model. */
export async function openClassifier(bytes: Uint8Array, options: OpenClassifierOptions = {}): Promise<ImageClassifier> {
  const sessionOptions: Record<string, unknown> = { graphOptimizationLevel: 'all' };
  if (options.threads !== undefined) sessionOptions.intraOpNumThreads = options.threads;
  return ImageClassifier.create(nodeRuntime, bytes, {
    source: options.source ?? '<model>',
    sessionOptions,
    ...(options.maxBatch === undefined ? {} : { maxBatch: options.maxBatch }),
  });
}

/** The outcome for one image file. */
export type ImageResult =
  | { path: string; ok: true; top: Prediction[]; warnings: string[] }
  | { path: string; ok: false; error: string };

/**
 * Reads and decodes one image file; every failure becomes one message naming the file and the cause. Only regular
 * files of at most EFFNET_LIMIT_IMAGE_FILE_BYTES are read (/dev/zero or a FIFO is refused, not read forever).
 */
export async function loadImageFile(path: string): Promise<RgbImage> {
  const bytes = readInputFile(path, 'imageFileBytes', 'image');
  if (bytes.length === 0) throw new Error(`${path} is empty (0 bytes); expected an image (JPEG, PNG, WebP, ...)`);
  return decodeImage(bytes, path);
}

/** Options of {@link classifyFiles}. */
export interface ClassifyFilesOptions {
  /** Classes per image; default 5. */
  top?: number;
}

/**
 * Classifies image files with one warm classifier. Files are decoded and sent to the session in groups of the
 * classifier's maxBatch; a file that cannot be read or decoded gets an error result and the others go on.
 * Results are in the order of `paths`.
 */
export async function classifyFiles(classifier: ImageClassifier, paths: readonly string[], options: ClassifyFilesOptions = {}): Promise<ImageResult[]> {
  const k = options.top ?? 5;
  const results: ImageResult[] = [];
  for (let start = 0; start < paths.length; start += classifier.maxBatch) {
    const group = paths.slice(start, start + classifier.maxBatch);
    const decoded = await Promise.all(
      group.map(async (path) => {
        try {
          return { path, image: await loadImageFile(path) };
        } catch (error) {
          return { path, error: (error as Error).message };
        }
      }),
    );
    const good = decoded.filter((d): d is { path: string; image: RgbImage } => 'image' in d);
    const classified = await classifier.classify(good.map((d) => d.image), k);
    const byPath = new Map<number, ImageResult>();
    good.forEach((d, i) => byPath.set(decoded.indexOf(d), { path: d.path, ok: true, ...classified[i]! }));
    decoded.forEach((d, i) => results.push(byPath.get(i) ?? { path: d.path, ok: false, error: (d as { error: string }).error }));
  }
  return results;
}
