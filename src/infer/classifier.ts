/**
 * One image classifier over an ONNX Runtime session, the same code for onnxruntime-node (Node) and onnxruntime-web
 * (browser): the caller passes the runtime module in, so this file imports neither and runs in both. The session
 * is created once and reused (warm) for every call; inputs are batched up to `maxBatch`.
 */
import type { RgbImage } from '../data/image.js';
import { FEATURES_METADATA_KEY, ModelCardError } from '../card/model-card.js';
import { cardGraphMismatch, modelInfoFromMetadata, readOnnxIoShapes, readOnnxMetadata, type ModelInfo } from './model-info.js';
import { Preprocessor } from './preprocess.js';
import { topK, type Prediction } from './topk.js';

/** The part of an ONNX Runtime tensor we use. */
export interface OrtTensorLike {
  readonly dims: readonly number[];
  readonly data: unknown;
  dispose?(): void;
}

/** The part of an ONNX Runtime inference session we use. */
export interface OrtSessionLike {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensorLike>): Promise<Record<string, OrtTensorLike>>;
  release(): Promise<void>;
}

/** The part of the onnxruntime-node / onnxruntime-web module we use (both expose this API). */
export interface OrtModuleLike {
  /** The session factory. */
  InferenceSession: {
    /** A session over the serialised model bytes. */
    create(model: Uint8Array, options?: Record<string, unknown>): Promise<OrtSessionLike>;
  };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensorLike;
}

/** Options of {@link ImageClassifier.create}; each default is stated. */
export interface ClassifierOptions {
  /** Session options passed to InferenceSession.create; default graph optimisations 'all'. */
  sessionOptions?: Record<string, unknown>;
  /** Largest batch sent to the session at once; default 32. */
  maxBatch?: number;
  /** Names the model in error messages; default '<model>'. */
  source?: string;
}

/** The classification of one image. */
export interface Classification {
  /** The top-k classes, most probable first. */
  top: Prediction[];
  /** Notes that do not stop classification (e.g. a tiny image upscaled). */
  warnings: string[];
}

/** An exported EfficientNet behind a warm ONNX Runtime session. */
export class ImageClassifier {
  /** The input pipeline the model's metadata describes. */
  readonly preprocessor: Preprocessor;
  private readonly inputName: string;
  private readonly outputName: string;

  private constructor(
    private readonly ort: OrtModuleLike,
    private readonly session: OrtSessionLike,
    /** What the model's metadata says. */
    readonly info: ModelInfo,
    /** Largest batch per session run. */
    readonly maxBatch: number,
  ) {
    this.preprocessor = new Preprocessor(info);
    this.inputName = session.inputNames[0]!;
    this.outputName = session.outputNames[0]!;
  }

  /**
   * Opens a session over the ONNX bytes of a model exported by effnet and reads its metadata.
   * @throws when the bytes are not an effnet-exported ONNX model, or the runtime rejects the graph
   */
  static async create(ort: OrtModuleLike, model: Uint8Array, options: ClassifierOptions = {}): Promise<ImageClassifier> {
    const source = options.source ?? '<model>';
    const maxBatch = options.maxBatch ?? 32;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new Error(`ImageClassifier: maxBatch must be a positive integer, got ${maxBatch}`);
    const metadata = readOnnxMetadata(model, source);
    if (metadata.has(FEATURES_METADATA_KEY)) {
      throw new ModelCardError(`${source} is a backbone (exported with --features: feature maps, no classifier); classify with a model exported without --features`);
    }
    const info = modelInfoFromMetadata(metadata, source);
    const mismatch = cardGraphMismatch(info.card, readOnnxIoShapes(model, source));
    if (mismatch.length > 0) {
      throw new ModelCardError(`${source}: the model card does not describe the graph (${mismatch.join('; ')}); the file was edited or forged: re-export it with \`effnet export\``);
    }
    // Outside the try: a runtime that is not installed (MissingPackageError) is the user's to fix, not a load failure.
    const sessions = ort.InferenceSession;
    let session: OrtSessionLike;
    try {
      session = await sessions.create(model, { graphOptimizationLevel: 'all', ...(options.sessionOptions ?? {}) });
    } catch (error) {
      throw new Error(`ONNX Runtime could not load ${source}: ${error instanceof Error ? error.message : String(error)}`);
    }
    return new ImageClassifier(ort, session, info, maxBatch);
  }

  /**
   * Logits for a preprocessed NCHW batch of `count` images (row-major [count, classes]); runs in chunks of maxBatch.
   * @throws when the array length does not match count × 3 × size × size
   */
  async logits(input: Float32Array, count: number): Promise<Float32Array> {
    const per = this.preprocessor.imageLength;
    if (input.length !== count * per) {
      throw new Error(`ImageClassifier.logits: ${count} images of 3x${this.info.inputSize}x${this.info.inputSize} need ${count * per} floats, got ${input.length}`);
    }
    const classes = this.info.numClasses;
    const out = new Float32Array(count * classes);
    const size = this.info.inputSize;
    for (let start = 0; start < count; start += this.maxBatch) {
      const n = Math.min(this.maxBatch, count - start);
      const chunk = start === 0 && n === count ? input : input.subarray(start * per, (start + n) * per);
      const feed = new this.ort.Tensor('float32', chunk, [n, 3, size, size]);
      const result = await this.session.run({ [this.inputName]: feed });
      const logits = result[this.outputName]!;
      const data = logits.data as Float32Array;
      if (data.length !== n * classes) {
        throw new Error(`ImageClassifier.logits: the model returned ${data.length} scores for ${n} images of ${classes} classes; the model and its card disagree`);
      }
      out.set(data, start * classes);
      logits.dispose?.();
      feed.dispose?.();
    }
    return out;
  }

  /** Top-k classes for each decoded image, in order. */
  async classify(images: readonly RgbImage[], k = 5): Promise<Classification[]> {
    if (images.length === 0) return [];
    const input = this.preprocessor.batch(images);
    return this.classifyLogits(images, await this.logits(input, images.length), k);
  }

  /**
   * Top-k classes from logits already computed for `images` (row i belongs to images[i]); lets a caller time
   * preprocessing and inference apart.
   * @throws when the logits do not hold one row per image
   */
  classifyLogits(images: readonly RgbImage[], logits: Float32Array, k = 5): Classification[] {
    const classes = this.info.numClasses;
    if (logits.length !== images.length * classes) {
      throw new Error(`ImageClassifier.classifyLogits: ${images.length} images need ${images.length * classes} logits, got ${logits.length}`);
    }
    const bad = logits.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      throw new ModelCardError(`the model produced a non-finite score (${logits[bad]}) for image ${Math.floor(bad / classes) + 1}; its weights or its card's normalisation (mean ${JSON.stringify(this.info.mean)}, std ${JSON.stringify(this.info.std)}) are broken`);
    }
    return images.map((image, i) => ({
      top: topK(logits, this.info.classNames, k, i * classes),
      warnings: this.preprocessor.warnings(image),
    }));
  }

  /** Frees the session. */
  async release(): Promise<void> {
    await this.session.release();
  }
}
