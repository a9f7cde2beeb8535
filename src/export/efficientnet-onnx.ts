/**
 * Writes an EfficientNet as an ONNX graph by walking its Module tree (no tracing): every conv + batch norm pair
 * becomes one Conv with the batch norm folded in, SiLU becomes Sigmoid × Mul and ReLU6 Clip(0, 6), squeeze-excitation
 * becomes GlobalAveragePool → Conv → activation → Conv → Sigmoid → Mul, the head pool + classifier become GlobalAveragePool →
 * Flatten → Gemm, and dropout / stochastic depth (identities in eval mode) are left out.
 *
 * Padding: symmetric convolutions keep their pads; TF "SAME" convolutions get explicit asymmetric pads computed
 * for the exported input size, the same numbers Conv2dSame computes at run time (samePadding). The spatial size is
 * therefore fixed in the graph (the preprocessing always produces it); the batch dimension is dynamic ('batch').
 */
import { writeFileAtomic } from '../io/safetensors.js';
import { BatchNorm2d, Conv2d, Dropout, Linear, Module, Sequential } from '../nn/index.js';
import { Conv2dNormActivation, Conv2dSame, ResidualBlock, SqueezeExcitation, samePadding, type ActivationKind } from '../efficientnet/layers.js';
import { checkOutIndices, type EfficientNet, type FeatureInfo } from '../efficientnet/model.js';
import { UserError } from '../errors.js';
import { efficientNetB0Stages } from '../efficientnet/block-spec.js';
import { cardOf, modelCardMismatch } from '../card/build.js';
import { FEATURES_METADATA_KEY, MODEL_CARD_KEY, ModelCardError, serializeModelCard, withEvalSize, type ModelCard } from '../card/model-card.js';
import { reflectIndex, ttaViews, type TtaView } from '../card/tta.js';
import { foldBatchNorm, type HostBatchNorm } from './batchnorm-fold.js';
import { OnnxGraphBuilder } from './onnx-graph.js';

/** The default-domain opset of exported graphs (13: Gemm, Conv, Sigmoid, Mul, Add, GlobalAveragePool, Flatten). */
export const EXPORT_OPSET = 13;
/** The graph input's name. */
export const INPUT_NAME = 'input';
/** The graph output's name (logits, before softmax). */
export const OUTPUT_NAME = 'logits';

/** One output of a feature-extractor export, as its metadata records it. */
export interface ExportedFeatureLevel extends FeatureInfo {
  /** The graph output's name: `feature_<index>`. */
  output: string;
  /** Its spatial size in the exported graph [height, width]. */
  size: [number, number];
}

/** Options of {@link exportEfficientNet}; each default is stated. */
export interface ExportOptions {
  /**
   * The model's card, stored whole as the `effnet.card` metadata entry (what predict and the browser page read);
   * it must describe `model`. Default: the card the model carries (cardOf: the card it was built, loaded, imported or
   * trained with, class names and eval transform included; a directly built model's is derived from it).
   */
  card?: ModelCard;
  /** Square input side the graph is built for; default the card's eval size. The card stored says this size. */
  imageSize?: number;
  /** Producer version recorded in the file; default '0.1.0'. */
  producerVersion?: string;
  /**
   * Export a backbone instead of a classifier: one graph output per feature level (`feature_<i>`, the maps of
   * EfficientNet.featureMaps for these levels, ascending), no head and no classifier; the levels go into the
   * `effnet.features` (FEATURES_METADATA_KEY) metadata entry beside the card. Default: the classifier (output `logits`).
   */
  features?: readonly number[];
}

/** An exported model: the ONNX bytes and what went into them. */
export interface ExportedModel {
  /** The serialised ModelProto. */
  bytes: Uint8Array;
  /** The metadata props written. */
  metadata: Map<string, string>;
  /** Node count per op type (a BatchNormalization count of zero shows every BN was folded). */
  opCounts: Map<string, number>;
}

type Spatial = [number, number];

interface Cursor {
  name: string;
  size: Spatial;
}

function batchNormArrays(bn: BatchNorm2d): HostBatchNorm {
  if (bn.runningMean === null || bn.runningVar === null) {
    throw new Error('exportEfficientNet: a BatchNorm2d without running statistics cannot be folded; build it with trackRunningStats');
  }
  return {
    weight: bn.weight === null ? null : bn.weight.toFloat32Array(),
    bias: bn.bias === null ? null : bn.bias.toFloat32Array(),
    runningMean: bn.runningMean.toFloat32Array(),
    runningVar: bn.runningVar.toFloat32Array(),
    eps: bn.eps,
  };
}

class EfficientNetWriter {
  constructor(private readonly graph: OnnxGraphBuilder) {}

  /** Conv (+ folded BN) with explicit pads; returns the output and its spatial size. */
  conv(conv: Conv2d, bn: BatchNorm2d | null, x: Cursor): Cursor {
    const [kh, kw] = conv.kernelSize;
    const [sh, sw] = conv.stride;
    const [dh, dw] = conv.dilation;
    let pads: [number, number, number, number];
    if (conv instanceof Conv2dSame) {
      const [top, bottom] = samePadding(x.size[0], kh, sh, dh);
      const [left, right] = samePadding(x.size[1], kw, sw, dw);
      pads = [top, left, bottom, right];
    } else {
      pads = [conv.padding[0], conv.padding[1], conv.padding[0], conv.padding[1]];
    }
    let weight = conv.weight.toFloat32Array();
    let bias = conv.bias === null ? null : conv.bias.toFloat32Array();
    if (bn !== null) {
      ({ weight, bias } = foldBatchNorm({ weight, bias, outChannels: conv.outChannels }, batchNormArrays(bn)));
    }
    const inputs = [x.name, this.graph.addInitializer('conv_w', weight, conv.weight.shape)];
    if (bias !== null) inputs.push(this.graph.addInitializer('conv_b', bias, [conv.outChannels]));
    const [out] = this.graph.addNode('Conv', inputs, {
      kernel_shape: { ints: [kh, kw] },
      strides: { ints: [sh, sw] },
      pads: { ints: pads },
      dilations: { ints: [dh, dw] },
      group: { int: conv.groups },
    });
    const size: Spatial = [
      Math.floor((x.size[0] + pads[0] + pads[2] - dh * (kh - 1) - 1) / sh) + 1,
      Math.floor((x.size[1] + pads[1] + pads[3] - dw * (kw - 1) - 1) / sw) + 1,
    ];
    if (size[0] < 1 || size[1] < 1) {
      throw new Error(`exportEfficientNet: a ${kh}x${kw}/${sh} convolution leaves no output for a ${x.size[0]}x${x.size[1]} input; export at a larger --image-size`);
    }
    return { name: out!, size };
  }

  /** The activation: SiLU as Sigmoid × Mul, ReLU6 as Clip(0, 6) (opset 13: the bounds are inputs). */
  activation(kind: ActivationKind, x: Cursor): Cursor {
    if (kind === 'relu6') {
      const bounds = this.relu6Bounds ?? [this.graph.addInitializer('relu6_min', new Float32Array([0]), []), this.graph.addInitializer('relu6_max', new Float32Array([6]), [])];
      this.relu6Bounds = bounds;
      const [out] = this.graph.addNode('Clip', [x.name, bounds[0], bounds[1]]);
      return { name: out!, size: x.size };
    }
    const [gate] = this.graph.addNode('Sigmoid', [x.name]);
    const [out] = this.graph.addNode('Mul', [x.name, gate!]);
    return { name: out!, size: x.size };
  }

  /** ReLU6's two scalar initializers, written once per graph. */
  private relu6Bounds: [string, string] | null = null;

  convNormActivation(block: Conv2dNormActivation, x: Cursor): Cursor {
    const y = this.conv(block.conv, block.bn, x);
    return block.activation === null ? y : this.activation(block.activation, y);
  }

  squeezeExcitation(se: SqueezeExcitation, x: Cursor): Cursor {
    const [pooled] = this.graph.addNode('GlobalAveragePool', [x.name]);
    const squeezed = this.activation(se.activation, this.conv(se.fc1, null, { name: pooled!, size: [1, 1] }));
    const expanded = this.conv(se.fc2, null, squeezed);
    const [scale] = this.graph.addNode('Sigmoid', [expanded.name]);
    const [out] = this.graph.addNode('Mul', [x.name, scale!]);
    return { name: out!, size: x.size };
  }

  residualBlock(block: ResidualBlock, x: Cursor): Cursor {
    const y = this.module(block.block, x);
    if (!block.hasResidual) return y;
    const [out] = this.graph.addNode('Add', [y.name, x.name]);
    return { name: out!, size: y.size };
  }

  module(module: Module, x: Cursor): Cursor {
    if (module instanceof Conv2dNormActivation) return this.convNormActivation(module, x);
    if (module instanceof SqueezeExcitation) return this.squeezeExcitation(module, x);
    if (module instanceof ResidualBlock) return this.residualBlock(module, x);
    if (module instanceof Sequential) {
      let y = x;
      for (const [, child] of module.namedChildren()) y = this.module(child, y);
      return y;
    }
    throw new Error(
      `exportEfficientNet: no ONNX form for module ${module.constructor.name}; ` +
        'the exporter knows Conv2dNormActivation, SqueezeExcitation, MBConv, FusedMBConv and Sequential',
    );
  }

  /** The pooled classifier; its output is named `outputName` (the graph's `logits`, unless something follows). */
  classifier(classifier: Sequential, x: Cursor, outputName: string = OUTPUT_NAME): string {
    const [pooled] = this.graph.addNode('GlobalAveragePool', [x.name]);
    const [flat] = this.graph.addNode('Flatten', [pooled!], { axis: { int: 1 } });
    let current = flat!;
    for (const [, child] of classifier.namedChildren()) {
      if (child instanceof Dropout) continue; // identity in eval mode
      if (!(child instanceof Linear)) {
        throw new Error(`exportEfficientNet: the classifier holds ${child.constructor.name}; expected Dropout and Linear`);
      }
      const inputs = [current, this.graph.addInitializer('fc_w', child.weight.toFloat32Array(), child.weight.shape)];
      if (child.bias !== null) inputs.push(this.graph.addInitializer('fc_b', child.bias.toFloat32Array(), [child.outFeatures]));
      [current] = this.graph.addNode('Gemm', inputs, { transB: { int: 1 } }, [outputName]) as [string];
    }
    return current;
  }
}

/**
 * The metadata props {@link exportEfficientNet} writes: the model card at the exported size under `effnet.card`.
 * @throws ModelCardError when the card describes another network than `model`
 */
export function exportMetadata(model: EfficientNet, imageSize: number, card: ModelCard): Map<string, string> {
  const mismatch = modelCardMismatch(model, card);
  if (mismatch.length > 0) throw new ModelCardError(`exportEfficientNet: the card does not describe this model: ${mismatch.join('; ')}`);
  return new Map([[MODEL_CARD_KEY, serializeModelCard(withEvalSize(card, imageSize))]]);
}

/**
 * Exports `model` (its eval-mode computation, whatever mode it is in) as an ONNX ModelProto: input `input`
 * [batch, C, S, S], output `logits` [batch, classes], S = imageSize; with `features`, outputs `feature_<i>`
 * [batch, channels, S/reduction, S/reduction] instead.
 * @throws for an input size smaller than the network's total stride, or class names of the wrong count
 */
export function exportEfficientNet(model: EfficientNet, options: ExportOptions = {}): ExportedModel {
  const card = options.card ?? cardOf(model);
  const imageSize = options.imageSize ?? card.eval.size;
  if (!Number.isInteger(imageSize) || imageSize < model.spec.totalStride) {
    throw new Error(
      `exportEfficientNet: image size must be an integer of at least ${model.spec.totalStride} (the network's total stride), got ${imageSize}`,
    );
  }
  const metadata = exportMetadata(model, imageSize, card);
  const graph = new OnnxGraphBuilder(`effnet_${model.config.name}`);
  const input = graph.addInput(INPUT_NAME, ['batch', model.options.inChannels, imageSize, imageSize]);
  const writer = new EfficientNetWriter(graph);
  if (options.features === undefined && card.eval.tta !== undefined) {
    writeTtaAveraged(model, writer, graph, input, imageSize, ttaViews(card.eval.tta, imageSize));
    graph.addOutput(OUTPUT_NAME, ['batch', model.options.numClasses]);
  } else if (options.features === undefined) {
    const features = writer.module(model.features, { name: input, size: [imageSize, imageSize] });
    writer.classifier(model.classifier, features);
    graph.addOutput(OUTPUT_NAME, ['batch', model.options.numClasses]);
  } else {
    const levels = writeFeatureOutputs(model, writer, graph, { name: input, size: [imageSize, imageSize] }, options.features);
    metadata.set(FEATURES_METADATA_KEY, JSON.stringify(levels));
  }
  const stagesNote = JSON.stringify(model.spec.stages.map((s) => s.base)) === JSON.stringify(efficientNetB0Stages()) ? 'B0 stages' : 'custom stages';
  const bytes = graph.encode({
    opset: EXPORT_OPSET,
    producerName: 'effnet',
    producerVersion: options.producerVersion ?? '0.1.0',
    metadata,
    docString: `EfficientNet ${model.config.name} (width ${model.config.width}, depth ${model.config.depth}, ${stagesNote}) at ${imageSize}px; batch norm folded`,
  });
  return { bytes, metadata, opCounts: graph.opCounts() };
}

/**
 * The card's test-time augmentation inside the graph: the batch's V views (src/card/tta.ts) go through the network
 * as one batch of V·N, and `logits` = (view 1 + view 2 + ... + view V) × 1/V in the views' order, as ttaLogits
 * computes in training. Each view is a selection of pixels, written as MatMuls by 0/1 matrices — the rows moved
 * (left factor [H, H]) and the columns mirrored and moved (right factor [W, W]), reflected borders included —
 * exact (every other product is 0) and needing only float initializers; Split without sizes cuts the V·N batch into
 * V equal parts whatever N is.
 */
function writeTtaAveraged(model: EfficientNet, writer: EfficientNetWriter, graph: OnnxGraphBuilder, input: string, imageSize: number, views: readonly TtaView[]): void {
  const n = imageSize;
  const viewNames = views.map((view, v) => {
    let name = input;
    if (view.dy !== 0) {
      // row i of the view is row reflect(i − dy) of the image: rows[i, reflect(i − dy)] = 1, view = rows · image.
      const rows = new Float32Array(n * n);
      for (let i = 0; i < n; i++) rows[i * n + reflectIndex(i - view.dy, n)] = 1;
      [name] = graph.addNode('MatMul', [graph.addInitializer(`tta_rows_${v}`, rows, [n, n]), name]) as [string];
    }
    if (view.mirror || view.dx !== 0) {
      // column j of the view is column reflect(j − dx) of the (mirrored) image: columns[source, j] = 1, view = image · columns.
      const columns = new Float32Array(n * n);
      for (let j = 0; j < n; j++) {
        const moved = reflectIndex(j - view.dx, n);
        columns[(view.mirror ? n - 1 - moved : moved) * n + j] = 1;
      }
      const plainMirror = view.mirror && view.dx === 0;
      [name] = graph.addNode('MatMul', [name, graph.addInitializer(plainMirror ? 'mirror' : `tta_columns_${v}`, columns, [n, n])]) as [string];
    }
    return name;
  });
  const [batch] = graph.addNode('Concat', viewNames, { axis: { int: 0 } });
  const features = writer.module(model.features, { name: batch!, size: [imageSize, imageSize] });
  const viewLogits = writer.classifier(model.classifier, features, graph.name(views.length === 2 ? 'pair_logits' : 'view_logits'));
  const parts = graph.addNode('Split', [viewLogits], { axis: { int: 0 } }, views.length);
  let sum = parts[0]!;
  for (const part of parts.slice(1)) [sum] = graph.addNode('Add', [sum, part]) as [string];
  const mean = views.length === 2 ? graph.addInitializer('half', new Float32Array([0.5]), []) : graph.addInitializer('tta_mean', new Float32Array([1 / views.length]), []);
  graph.addNode('Mul', [sum, mean], {}, [OUTPUT_NAME]);
}

/** Writes the stem and the stages up to the last wanted level, with an Identity output `feature_<i>` per level. */
function writeFeatureOutputs(model: EfficientNet, writer: EfficientNetWriter, graph: OnnxGraphBuilder, input: Cursor, wanted: readonly number[]): ExportedFeatureLevel[] {
  const info = model.featureInfo();
  let levels: number[];
  try {
    levels = checkOutIndices(wanted, info.length);
  } catch (error) {
    throw new UserError(`exportEfficientNet: ${(error as Error).message}`);
  }
  const written: ExportedFeatureLevel[] = [];
  const last = Math.max(...levels);
  let x = writer.module(model.features.at(0), input);
  let stage = 0;
  for (const level of info) {
    if (level.index > last) break;
    for (; stage <= level.stage; stage++) x = writer.module(model.features.at(stage + 1), x);
    if (!levels.includes(level.index)) continue;
    const output = `feature_${level.index}`;
    graph.addNode('Identity', [x.name], {}, [output]);
    graph.addOutput(output, ['batch', level.channels, x.size[0], x.size[1]]);
    written.push({ ...level, output, size: [x.size[0], x.size[1]] });
  }
  return written;
}

/** Exports `model` to `path` atomically (written beside it, fsync-ed, then renamed). */
export function writeOnnx(path: string, model: EfficientNet, options: ExportOptions = {}): ExportedModel {
  const exported = exportEfficientNet(model, options);
  writeFileAtomic(path, exported.bytes);
  return exported;
}
