/**
 * Eval preprocessing as a model's card describes it: resize the short side to floor(size / cropPct) (bicubic or bilinear,
 * PIL-exact), center crop size × size, normalise with mean/std, CHW float32. Pure TypeScript: it runs in Node and
 * in the browser (the same code, so both give the same input tensor for the same pixels).
 */
import type { RgbImage } from '../data/image.js';
import { compileTransform, evalResizeSize, type CompiledTransform } from '../data/transforms/pipeline.js';
import { Rng } from '../data/rng.js';
import type { ModelInfo } from './model-info.js';

/** Turns decoded images into the model's input batch. */
export class Preprocessor {
  private readonly transform: CompiledTransform;
  /** The eval transform draws no random numbers; the pipeline's signature still wants a generator. */
  private readonly rng = new Rng(0);
  /** Floats per image (3 × size × size). */
  readonly imageLength: number;
  /** The short-side size images are resized to before the crop. */
  readonly resizeTo: number;

  constructor(readonly info: Pick<ModelInfo, 'inputSize' | 'cropPct' | 'mean' | 'std'> & Partial<Pick<ModelInfo, 'interpolation'>>) {
    this.transform = compileTransform({ kind: 'eval', size: info.inputSize, cropPct: info.cropPct, interpolation: info.interpolation ?? 'bicubic', mean: info.mean, std: info.std });
    this.imageLength = 3 * info.inputSize * info.inputSize;
    this.resizeTo = evalResizeSize(info.inputSize, info.cropPct);
  }

  /** Writes one image's input at slot `index` of `batch` (an NCHW array). */
  into(image: RgbImage, batch: Float32Array, index: number): void {
    if (image.data.length !== image.width * image.height * 3) {
      throw new Error(`preprocess: a ${image.width}x${image.height} RGB image needs ${image.width * image.height * 3} bytes, got ${image.data.length}`);
    }
    this.transform(image, this.rng, batch, index * this.imageLength);
  }

  /** The NCHW input for `images`, in order. */
  batch(images: readonly RgbImage[]): Float32Array {
    const out = new Float32Array(images.length * this.imageLength);
    images.forEach((image, i) => this.into(image, out, i));
    return out;
  }

  /**
   * Notes about an image that will still be classified but less reliably: one much smaller than the model's
   * input is upscaled from almost no information.
   */
  warnings(image: RgbImage): string[] {
    const short = Math.min(image.width, image.height);
    if (short * 4 < this.resizeTo) {
      return [`the image is ${image.width}x${image.height}, far smaller than the model's ${this.info.inputSize}px input; it was upscaled and the prediction is unreliable`];
    }
    return [];
  }
}
