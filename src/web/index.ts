/**
 * effnet/web: the browser-safe part of effnet, for bundlers (esbuild, Vite, webpack). The classifier over an
 * onnxruntime-web session (the caller passes `onnxruntime-web` in, so its wasm files stay where the app serves
 * them), the model card's preprocessing, top-k, and {@link classifyImages} for what a page holds (`<img>`, canvas,
 * ImageBitmap, ImageData, Blob/File, raw RGBA). Nothing here imports a Node built-in, the engine or native code:
 * test/web/web-entry.test.ts bundles this entry for the browser and classifies in Chromium.
 */
import type { Classification, ImageClassifier } from '../infer/classifier.js';
import { imageFromSource, type ImageSource } from './image-source.js';

export { ImageClassifier, type Classification, type ClassifierOptions, type OrtModuleLike, type OrtSessionLike, type OrtTensorLike } from '../infer/classifier.js';
export { Preprocessor } from '../infer/preprocess.js';
export { softmax, topK, type Prediction } from '../infer/topk.js';
export { readOnnxMetadata, modelInfoFromMetadata, type ModelInfo } from '../infer/model-info.js';
export { imageFromSource, rgbFromRaw, type BlobLike, type DrawableImage, type ImageSource, type RawPixels, type RgbImage } from './image-source.js';

/** Classifies page images (any {@link ImageSource}) in one batch; the top `k` classes of each, in order. */
export async function classifyImages(classifier: ImageClassifier, sources: readonly ImageSource[], k = 5): Promise<Classification[]> {
  const images = await Promise.all(sources.map((source) => imageFromSource(source)));
  return classifier.classify(images, k);
}
