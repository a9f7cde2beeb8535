/**
 * What an exported model says about itself: the `effnet.*` entries of the ONNX metadata_props (written by
 * src/export) and how to read them back, both in Node and in the browser. onnxruntime's JavaScript API does not
 * expose custom metadata, so {@link readOnnxMetadata} reads metadata_props straight from the model bytes with a
 * minimal protobuf walk (no dependency, no full decode of the weights).
 */

/** Metadata keys written into exported models. */
export const METADATA_KEYS = {
  /** Version of this metadata layout. */
  format: 'effnet.format',
  /** The EfficientNet configuration (JSON). */
  config: 'effnet.config',
  /** The model options after defaults (JSON). */
  options: 'effnet.options',
  /** The unscaled stages (JSON). */
  stages: 'effnet.stages',
  /** Square input side in pixels. */
  inputSize: 'effnet.input_size',
  /** Normalisation mean, RGB on the 0..1 scale (JSON array of 3). */
  mean: 'effnet.mean',
  /** Normalisation std (JSON array of 3). */
  std: 'effnet.std',
  /** Fraction of the resized image kept by the center crop. */
  cropPct: 'effnet.crop_pct',
  /** Resampling filter of the resize ('bicubic'). */
  interpolation: 'effnet.interpolation',
  /** Class names (JSON array of strings, one per output), absent when the model has none. */
  classNames: 'effnet.class_names',
} as const;

/** The metadata format version written by this code. */
export const METADATA_FORMAT = 1;

/** Everything inference needs to know about a model. */
export interface ModelInfo {
  /** Square input side the graph was exported for. */
  inputSize: number;
  /** Normalisation mean (RGB, 0..1 scale). */
  mean: [number, number, number];
  /** Normalisation std. */
  std: [number, number, number];
  /** Center-crop fraction: images are resized so the short side is floor(inputSize / cropPct), then cropped. */
  cropPct: number;
  /** Class names, one per output. */
  classNames: string[];
  /** Classifier outputs. */
  numClasses: number;
  /** The variant's name ('b0', 'custom', ...) when recorded, else 'unknown'. */
  variant: string;
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

/** Calls `visit(field, start, end)` for each length-delimited field of a message; skips the other wire types. */
function walkMessage(bytes: Uint8Array, start: number, end: number, visit: (field: number, from: number, to: number) => void): void {
  let pos = start;
  while (pos < end) {
    const [key, afterKey] = readVarint(bytes, pos);
    const field = Math.floor(key / 8);
    const wire = key % 8;
    pos = afterKey;
    if (wire === 0) pos = readVarint(bytes, pos)[1];
    else if (wire === 1) pos += 8;
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
    throw new Error(
      `${source} is not a readable ONNX model (${(error as Error).message}); expected a file written by \`effnet export\``,
    );
  }
  return props;
}

function parseJson(props: ReadonlyMap<string, string>, key: string, source: string): unknown {
  const text = props.get(key);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new Error(`${source}: metadata ${key} is not valid JSON (${(error as Error).message}); re-export the model with \`effnet export\``);
  }
}

function triple(value: unknown, key: string, source: string): [number, number, number] {
  if (!Array.isArray(value) || value.length !== 3 || !value.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new Error(`${source}: metadata ${key} must be a list of 3 numbers, got ${JSON.stringify(value)}`);
  }
  return [value[0], value[1], value[2]] as [number, number, number];
}

/**
 * Reads a model's {@link ModelInfo} from its metadata props. `numClasses` (from the graph's output shape or the
 * first run) fills class names `class 0`.. when the model has none.
 * @throws when the effnet entries are missing or malformed, naming the entry and what to do
 */
export function modelInfoFromMetadata(props: ReadonlyMap<string, string>, numClasses: number, source = '<model>'): ModelInfo {
  const format = props.get(METADATA_KEYS.format);
  if (format === undefined) {
    throw new Error(
      `${source} has no '${METADATA_KEYS.format}' metadata: it was not exported by effnet, so its preprocessing is unknown; ` +
        'export the model with `effnet export --checkpoint MODEL --out model.onnx`',
    );
  }
  if (Number(format) > METADATA_FORMAT) {
    throw new Error(`${source}: metadata format ${format} is newer than this effnet reads (${METADATA_FORMAT}); upgrade effnet`);
  }
  const inputSize = Number(props.get(METADATA_KEYS.inputSize));
  if (!Number.isInteger(inputSize) || inputSize < 1) {
    throw new Error(`${source}: metadata ${METADATA_KEYS.inputSize} must be a positive integer, got '${props.get(METADATA_KEYS.inputSize)}'`);
  }
  const cropPct = Number(props.get(METADATA_KEYS.cropPct));
  if (!(cropPct > 0 && cropPct <= 1)) {
    throw new Error(`${source}: metadata ${METADATA_KEYS.cropPct} must be in (0, 1], got '${props.get(METADATA_KEYS.cropPct)}'`);
  }
  const mean = triple(parseJson(props, METADATA_KEYS.mean, source), METADATA_KEYS.mean, source);
  const std = triple(parseJson(props, METADATA_KEYS.std, source), METADATA_KEYS.std, source);
  const names = parseJson(props, METADATA_KEYS.classNames, source);
  let classNames: string[];
  if (names === undefined || names === null) {
    classNames = Array.from({ length: numClasses }, (_, i) => `class ${i}`);
  } else if (Array.isArray(names) && names.every((n) => typeof n === 'string') && names.length === numClasses) {
    classNames = names as string[];
  } else {
    throw new Error(`${source}: metadata ${METADATA_KEYS.classNames} must be a list of ${numClasses} strings (one per output)`);
  }
  const config = parseJson(props, METADATA_KEYS.config, source) as { name?: unknown } | undefined;
  const variant = config !== undefined && typeof config.name === 'string' ? config.name : 'unknown';
  return { inputSize, mean, std, cropPct, classNames, numClasses, variant };
}
