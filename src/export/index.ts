/** ONNX export of EfficientNet models. */
export { exportEfficientNet, writeOnnx, exportMetadata, EXPORT_OPSET, INPUT_NAME, OUTPUT_NAME, type ExportOptions, type ExportedModel } from './efficientnet-onnx.js';
export { foldBatchNorm, type HostConv, type HostBatchNorm } from './batchnorm-fold.js';
export { OnnxGraphBuilder, type AttributeValue, type Dimension, type EncodeOptions } from './onnx-graph.js';
