/**
 * What an exported model says about itself: its model card (src/card/model-card.ts), stored whole as the
 * `effnet.card` entry of the ONNX metadata_props by src/export, and how to read it back, both in Node and in the
 * browser. onnxruntime's JavaScript API does not expose custom metadata, so {@link readOnnxMetadata} reads
 * metadata_props straight from the model bytes with a minimal protobuf walk (no dependency, no full decode of the
 * weights).
 *
 * Files exported before the card existed carry `effnet.format` 1 and separate `effnet.*` keys; their crop fraction
 * was size / (size + 32) at every size, wrong for small-image models, so they are refused with the command that
 * re-exports them.
 */
import { MODEL_CARD_KEY, ModelCardError, parseModelCardJson, type ModelCard } from '../card/model-card.js';

/** The metadata key of the earlier layout (format 1, before the model card). */
export const LEGACY_FORMAT_KEY = 'effnet.format';

/** Everything inference needs to know about a model: the card's eval transform and classes, flattened. */
export interface ModelInfo {
  /** Square input side the graph was exported for. */
  inputSize: number;
  /** Normalisation mean (RGB, 0..1 scale). */
  mean: [number, number, number];
  /** Normalisation std. */
  std: [number, number, number];
  /** Center-crop fraction: images are resized so the short side is floor(inputSize / cropPct), then cropped. */
  cropPct: number;
  /** Resize filter of the eval transform. */
  interpolation: 'bicubic' | 'bilinear';
  /** Class names, one per output ('class 0'.. when the model has none). */
  classNames: string[];
  /** Classifier outputs. */
  numClasses: number;
  /** The variant's name ('b0', 'custom', ...). */
  variant: string;
  /** The whole card. */
  card: ModelCard;
}

function readVarint(bytes: Uint8Array, at: number): [number, number] {
  let value = 0;
  let factor = 1;
  let pos = at;
  for (;;) {
    if (pos >= bytes.length) throw new Error('truncated varint');
    const byte = bytes[pos++]!;
    value += (byte & 0x7f) * factor;
    if ((byte & 0x80) === 0) return [value, pos];
    factor *= 128;
    if (factor > 2 ** 63) throw new Error('varint longer than 64 bits');
  }
}

/**
 * Calls `visit(field, start, end)` for each length-delimited field of a message and `varint(field, value)` for
 * each varint field; skips the other wire types.
 */
function walkMessage(bytes: Uint8Array, start: number, end: number, visit: (field: number, from: number, to: number) => void, varint?: (field: number, value: number) => void): void {
  let pos = start;
  while (pos < end) {
    const [key, afterKey] = readVarint(bytes, pos);
    const field = Math.floor(key / 8);
    const wire = key % 8;
    pos = afterKey;
    if (wire === 0) {
      const [value, after] = readVarint(bytes, pos);
      varint?.(field, value);
      pos = after;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const [length, afterLength] = readVarint(bytes, pos);
      pos = afterLength + length;
      if (pos > end) throw new Error(`field ${field} runs past the end of its message`);
      visit(field, afterLength, pos);
    } else throw new Error(`unsupported protobuf wire type ${wire} (field ${field})`);
  }
  if (pos !== end) throw new Error('message does not end on a field boundary');
}

const MODEL_METADATA_PROPS = 14; // ModelProto.metadata_props
const ENTRY_KEY = 1;
const ENTRY_VALUE = 2;

/**
 * The metadata_props of a serialised ONNX ModelProto, in file order.
 * @throws when the bytes are not a well-formed protobuf message (e.g. not an ONNX file, or truncated)
 */
export function readOnnxMetadata(bytes: Uint8Array, source = '<model>'): Map<string, string> {
  const props = new Map<string, string>();
  const decoder = new TextDecoder('utf-8', { fatal: true });
  try {
    walkMessage(bytes, 0, bytes.length, (field, from, to) => {
      if (field !== MODEL_METADATA_PROPS) return;
      let key = '';
      let value = '';
      walkMessage(bytes, from, to, (entryField, a, b) => {
        if (entryField === ENTRY_KEY) key = decoder.decode(bytes.subarray(a, b));
        else if (entryField === ENTRY_VALUE) value = decoder.decode(bytes.subarray(a, b));
      });
      props.set(key, value);
    });
  } catch (error) {
    throw new ModelCardError(
      `${source} is not a readable ONNX model (${(error as Error).message}); expected a file written by \`effnet export\``,
    );
  }
  return props;
}

const MODEL_GRAPH = 7; // ModelProto.graph
const GRAPH_INPUT = 11; // GraphProto.input
const GRAPH_OUTPUT = 12; // GraphProto.output
const VALUE_TYPE = 2; // ValueInfoProto.type
const TYPE_TENSOR = 1; // TypeProto.tensor_type
const TENSOR_SHAPE = 2; // TypeProto.Tensor.shape
const SHAPE_DIM = 1; // TensorShapeProto.dim
const DIM_VALUE = 1; // Dimension.dim_value (a symbolic dim_param leaves it null)

/** The declared shapes of a graph's first input and first output: one entry per axis, null for a symbolic one. */
export interface OnnxIoShapes {
  input: (number | null)[] | null;
  output: (number | null)[] | null;
}

/**
 * The shapes a serialised ONNX model declares for its first graph input and first graph output (a protobuf walk
 * like {@link readOnnxMetadata}: the weights are skipped, not decoded). An axis is null when it is symbolic (the
 * batch).
 * @throws ModelCardError when the bytes are not a well-formed protobuf message
 */
export function readOnnxIoShapes(bytes: Uint8Array, source = '<model>'): OnnxIoShapes {
  const shapes: OnnxIoShapes = { input: null, output: null };
  const shapeOf = (from: number, to: number): (number | null)[] | null => {
    let dims: (number | null)[] | null = null;
    walkMessage(bytes, from, to, (field, a, b) => {
      if (field !== VALUE_TYPE) return;
      walkMessage(bytes, a, b, (typeField, c, d) => {
        if (typeField !== TYPE_TENSOR) return;
        walkMessage(bytes, c, d, (tensorField, e, f) => {
          if (tensorField !== TENSOR_SHAPE) return;
          dims = [];
          walkMessage(bytes, e, f, (shapeField, g, h) => {
            if (shapeField !== SHAPE_DIM) return;
            let value: number | null = null;
            walkMessage(bytes, g, h, () => undefined, (dimField, v) => {
              if (dimField === DIM_VALUE) value = v;
            });
            dims!.push(value);
          });
        });
      });
    });
    return dims;
  };
  try {
    walkMessage(bytes, 0, bytes.length, (field, from, to) => {
      if (field !== MODEL_GRAPH) return;
      walkMessage(bytes, from, to, (graphField, a, b) => {
        if (graphField === GRAPH_INPUT && shapes.input === null) shapes.input = shapeOf(a, b);
        else if (graphField === GRAPH_OUTPUT && shapes.output === null) shapes.output = shapeOf(a, b);
      });
    });
  } catch (error) {
    throw new ModelCardError(`${source} is not a readable ONNX model (${(error as Error).message}); expected a file written by \`effnet export\``);
  }
  return shapes;
}

/**
 * How a card disagrees with the graph it came with: the input must be [batch, 3, size, size] at the card's eval
 * size and the output [batch, classes]. Empty when they agree. A card edited by hand (10 classes on a 4-output
 * model) would otherwise print classes that do not exist and read one image's scores as another's.
 */
export function cardGraphMismatch(card: ModelCard, shapes: OnnxIoShapes): string[] {
  const out: string[] = [];
  const show = (dims: (number | null)[] | null): string => (dims === null ? 'undeclared' : `[${dims.map((d) => (d === null ? 'N' : String(d))).join(', ')}]`);
  const size = card.eval.size;
  const input = shapes.input;
  if (input === null || input.length !== 4 || input[1] !== 3 || input[2] !== size || input[3] !== size) {
    out.push(`the graph's input is ${show(input)} but the card says [N, 3, ${size}, ${size}]`);
  }
  const output = shapes.output;
  if (output === null || output.length !== 2 || output[1] !== card.classes.count) {
    out.push(`the graph's output is ${show(output)} but the card says [N, ${card.classes.count}] (${card.classes.count} classes)`);
  }
  return out;
}

/**
 * The card in a model's metadata props.
 * @throws ModelCardError when there is none (naming how to export or re-export the model) or it is malformed
 */
export function cardFromOnnxMetadata(props: ReadonlyMap<string, string>, source = '<model>'): ModelCard {
  const text = props.get(MODEL_CARD_KEY);
  if (text !== undefined) return parseModelCardJson(text, source);
  if (props.has(LEGACY_FORMAT_KEY)) {
    throw new ModelCardError(
      `${source} was exported by an earlier effnet (metadata format ${props.get(LEGACY_FORMAT_KEY)}, no model card), whose crop fraction was wrong for ` +
        'models trained below 64px; re-export it from its model file: `effnet export --checkpoint RUN_DIR_OR_MODEL.safetensors --out model.onnx`',
    );
  }
  throw new ModelCardError(
    `${source} has no '${MODEL_CARD_KEY}' metadata: it was not exported by effnet, so its preprocessing is unknown; ` +
      'export the model with `effnet export --checkpoint MODEL --out model.onnx`',
  );
}

/** The {@link ModelInfo} of a card. */
export function modelInfoFromCard(card: ModelCard): ModelInfo {
  const count = card.classes.count;
  return {
    inputSize: card.eval.size,
    mean: [...card.eval.mean] as [number, number, number],
    std: [...card.eval.std] as [number, number, number],
    cropPct: card.eval.cropPct,
    interpolation: card.eval.interpolation,
    classNames: card.classes.names ?? Array.from({ length: count }, (_, i) => `class ${i}`),
    numClasses: count,
    variant: card.architecture.name,
    card,
  };
}

/** Reads a model's {@link ModelInfo} from its metadata props (see {@link cardFromOnnxMetadata}). */
export function modelInfoFromMetadata(props: ReadonlyMap<string, string>, source = '<model>'): ModelInfo {
  return modelInfoFromCard(cardFromOnnxMetadata(props, source));
}
