/** Inference: ONNX Runtime sessions (Node and browser), preprocessing from model metadata, top-k with labels. */
export { ImageClassifier, type ClassifierOptions, type Classification, type OrtModuleLike, type OrtSessionLike, type OrtTensorLike } from './classifier.js';
export { Preprocessor } from './preprocess.js';
export { softmax, topK, type Prediction } from './topk.js';
export { readOnnxMetadata, cardFromOnnxMetadata, modelInfoFromCard, modelInfoFromMetadata, LEGACY_FORMAT_KEY, type ModelInfo } from './model-info.js';
export { openClassifier, classifyFiles, loadImageFile, nodeRuntime, type ImageResult, type OpenClassifierOptions, type ClassifyFilesOptions } from './node.js';
