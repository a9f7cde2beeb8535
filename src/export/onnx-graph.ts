/**
 * A small builder for ONNX graphs (nodes, float initializers, inputs and outputs) over the onnx-proto schema
 * (protobufjs), and the encoder of the final ModelProto. It knows nothing about EfficientNet.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** ONNX's element type code for float32 (TensorProto.DataType.FLOAT). */
const FLOAT = 1;

/** An attribute value: an integer, a float, a string, or a list of integers. */
export type AttributeValue = { int: number } | { float: number } | { string: string } | { ints: readonly number[] };

/** One dimension of a graph input or output: a fixed size or a symbolic name (dynamic). */
export type Dimension = number | string;

function attribute(name: string, value: AttributeValue): onnxProto.onnx.IAttributeProto {
  const A = onnx.AttributeProto.AttributeType;
  if ('int' in value) return { name, type: A.INT, i: value.int };
  if ('float' in value) return { name, type: A.FLOAT, f: value.float };
  if ('string' in value) return { name, type: A.STRING, s: new TextEncoder().encode(value.string) };
  return { name, type: A.INTS, ints: [...value.ints] };
}

function valueInfo(name: string, dims: readonly Dimension[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** Options of {@link OnnxGraphBuilder.encode}. */
export interface EncodeOptions {
  /** The default-domain opset version the graph is written for. */
  opset: number;
  /** ModelProto.producer_name. */
  producerName: string;
  /** ModelProto.producer_version. */
  producerVersion: string;
  /** metadata_props entries, in order. */
  metadata: ReadonlyMap<string, string>;
  /** ModelProto.doc_string. */
  docString?: string;
}

/** Accumulates a graph; names are made unique by a counter per prefix. */
export class OnnxGraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly counters = new Map<string, number>();
  private readonly used = new Set<string>();

  constructor(readonly graphName: string) {}

  /** A fresh name `prefix_N` not used before in this graph. */
  name(prefix: string): string {
    let n = this.counters.get(prefix) ?? 0;
    let candidate = `${prefix}_${n}`;
    while (this.used.has(candidate)) candidate = `${prefix}_${++n}`;
    this.counters.set(prefix, n + 1);
    this.used.add(candidate);
    return candidate;
  }

  /** Declares a float32 graph input. */
  addInput(name: string, dims: readonly Dimension[]): string {
    this.used.add(name);
    this.inputs.push(valueInfo(name, dims));
    return name;
  }

  /** Declares a float32 graph output (the tensor must be produced by a node). */
  addOutput(name: string, dims: readonly Dimension[]): void {
    this.outputs.push(valueInfo(name, dims));
  }

  /**
   * A float32 constant (stored as raw little-endian bytes); returns its name.
   * @throws when the data length does not match the dimensions
   */
  addInitializer(prefix: string, data: Float32Array, dims: readonly number[]): string {
    const count = dims.reduce((a, b) => a * b, 1);
    if (count !== data.length) {
      throw new Error(`OnnxGraphBuilder.addInitializer(${prefix}): dims [${dims.join(', ')}] hold ${count} values, data has ${data.length}`);
    }
    const name = this.name(prefix);
    const bytes = new Uint8Array(data.byteLength);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i]!, true);
    this.initializers.push({ name, dataType: FLOAT, dims: [...dims], rawData: bytes });
    return name;
  }

  /**
   * Appends a node of the default domain; returns the names of its outputs (fresh names unless given).
   * @param outputs how many outputs, or their names
   */
  addNode(opType: string, inputs: readonly string[], attributes: Record<string, AttributeValue> = {}, outputs: number | readonly string[] = 1): string[] {
    const outNames = typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.name(opType.toLowerCase())) : [...outputs];
    for (const o of outNames) this.used.add(o);
    this.nodes.push({
      opType,
      name: this.name(`${opType}_node`),
      input: [...inputs],
      output: outNames,
      attribute: Object.entries(attributes).map(([k, v]) => attribute(k, v)),
    });
    return outNames;
  }

  /** How many nodes of each op type the graph has (for tests and summaries). */
  opCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const node of this.nodes) counts.set(node.opType!, (counts.get(node.opType!) ?? 0) + 1);
    return counts;
  }

  /** The serialised ModelProto. */
  encode(options: EncodeOptions): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: options.opset }],
      producerName: options.producerName,
      producerVersion: options.producerVersion,
      docString: options.docString ?? '',
      graph: {
        name: this.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
      metadataProps: [...options.metadata].map(([key, value]) => ({ key, value })),
    });
    return onnx.ModelProto.encode(model).finish();
  }
}
