/**
 * The graph side of int8 export, on the ModelProto of an effnet-exported classifier or backbone (any graph of
 * Conv, Gemm, SiLU as Sigmoid × Mul, Clip, squeeze-excitation, Add): which nodes are quantized, which tensors need
 * an activation range, the graph that outputs those tensors for calibration, and the QDQ graph itself.
 *
 * The QDQ form (onnxruntime's default for static quantization): every quantized activation tensor t is followed by
 * QuantizeLinear → DequantizeLinear and its quantized consumers read the dequantized copy; weights are stored as
 * int8 per output channel behind a DequantizeLinear (axis 0), biases as int32. The graph stays valid float ONNX that
 * any runtime reads; onnxruntime fuses each DQ → Conv → Q into one QLinearConv (and the same for Add, Mul, Sigmoid,
 * GlobalAveragePool), which is where the speed comes from.
 *
 * Nodes are grouped by their part of the network, found from the graph's structure alone: 'stem' (the first
 * convolution and its activation), 'se' (squeeze-excitation: a GlobalAveragePool feeding a convolution, through the Mul that scales the
 * block's features), 'head' (the last convolution, its activation and the final pool), 'classifier' (Gemm), 'blocks'
 * (everything else). A group can be kept in float.
 */
import onnxProto from 'onnx-proto';
import { quantizeBias, quantizeWeightPerChannel, uint8Quantization, type ActivationQuantization } from './ranges.js';

const { onnx } = onnxProto;
type ModelProto = onnxProto.onnx.ModelProto;
type NodeProto = onnxProto.onnx.INodeProto;
type TensorProto = onnxProto.onnx.ITensorProto;

/** The parts of the network int8 export can keep in float. */
export const QUANTIZATION_GROUPS = ['stem', 'blocks', 'se', 'head', 'classifier'] as const;
/** One of {@link QUANTIZATION_GROUPS}. */
export type QuantizationGroup = (typeof QUANTIZATION_GROUPS)[number];

/** Operators that get quantized inputs and outputs (onnxruntime has integer kernels for each in QDQ form). */
const QUANTIZED_OPS = new Set(['Conv', 'Gemm', 'Add', 'Mul', 'Sigmoid', 'GlobalAveragePool']);

const DT = onnx.TensorProto.DataType;

/** What {@link planQuantization} decided for a graph. */
export interface QuantizationPlan {
  /** Indices (in graph order) of the nodes that run quantized. */
  nodes: Set<number>;
  /** The activation tensors that get a QuantizeLinear/DequantizeLinear pair, in graph order. */
  tensors: string[];
  /** The group of every node, by index. */
  groups: QuantizationGroup[];
  /** Nodes per group that run quantized, for reports. */
  quantizedPerGroup: Map<QuantizationGroup, number>;
  /**
   * Clip nodes (ReLU6) folded into the quantization of their output: their input gets no QDQ pair, and the writer
   * drops them where the output's range lies inside the clip bounds, so that a runtime sees Conv → QuantizeLinear
   * and fuses a QLinearConv (see {@link writeQdqModel}).
   */
  foldedClips: Set<number>;
  /**
   * Every tensor a range is calibrated for: {@link tensors} and the inputs of folded Clips, which a plan keeping the
   * Clip's output in float quantizes instead (so one calibration serves every plan of the same graph).
   */
  calibrated: string[];
}

interface GraphIndex {
  nodes: NodeProto[];
  initializers: Map<string, TensorProto>;
  producer: Map<string, number>;
  consumers: Map<string, number[]>;
  inputs: Set<string>;
  outputs: Set<string>;
}

/** Decodes ONNX bytes (each call a fresh, independent object). */
export function decodeModel(bytes: Uint8Array): ModelProto {
  return onnx.ModelProto.decode(bytes);
}

function indexGraph(model: ModelProto): GraphIndex {
  const graph = model.graph;
  if (graph === null || graph === undefined) throw new Error('int8 export: the ONNX model has no graph');
  const nodes = graph.node ?? [];
  const producer = new Map<string, number>();
  const consumers = new Map<string, number[]>();
  nodes.forEach((node, i) => {
    for (const out of node.output ?? []) producer.set(out, i);
    for (const input of node.input ?? []) {
      if (input === '') continue;
      const list = consumers.get(input) ?? [];
      if (!list.includes(i)) list.push(i);
      consumers.set(input, list);
    }
  });
  return {
    nodes,
    initializers: new Map((graph.initializer ?? []).map((t) => [t.name!, t])),
    producer,
    consumers,
    inputs: new Set((graph.input ?? []).map((v) => v.name!)),
    outputs: new Set((graph.output ?? []).map((v) => v.name!)),
  };
}

/** Every node reachable forward from the outputs of `starts` (not the starts themselves). */
function downstream(index: GraphIndex, starts: readonly number[]): Set<number> {
  const seen = new Set<number>();
  const queue = [...starts];
  while (queue.length > 0) {
    const node = index.nodes[queue.pop()!]!;
    for (const out of node.output ?? []) {
      for (const c of index.consumers.get(out) ?? []) {
        if (!seen.has(c)) {
          seen.add(c);
          queue.push(c);
        }
      }
    }
  }
  return seen;
}

/** The group of every node (see the module comment). */
export function nodeGroups(model: ModelProto): QuantizationGroup[] {
  const index = indexGraph(model);
  const groups: QuantizationGroup[] = index.nodes.map((node) => (node.opType === 'Gemm' ? 'classifier' : 'blocks'));
  const firstConv = index.nodes.findIndex((node) => node.opType === 'Conv');
  if (firstConv >= 0) {
    // The stem: its convolution and the activation right after it (Sigmoid × Mul, or Clip).
    groups[firstConv] = 'stem';
    const stemOut = index.nodes[firstConv]!.output![0]!;
    for (const c of index.consumers.get(stemOut) ?? []) {
      const op = index.nodes[c]!.opType;
      if (op === 'Clip' || op === 'Mul') groups[c] = 'stem';
      if (op === 'Sigmoid') {
        groups[c] = 'stem';
        for (const m of index.consumers.get(index.nodes[c]!.output![0]!) ?? []) if (index.nodes[m]!.opType === 'Mul') groups[m] = 'stem';
      }
    }
  }
  index.nodes.forEach((node, i) => {
    if (node.opType !== 'GlobalAveragePool') return;
    const next = (index.consumers.get(node.output![0]!) ?? []).map((c) => index.nodes[c]!);
    if (next.some((n) => n.opType === 'Conv')) {
      // Squeeze-excitation: forward from the pool until the Mul that takes a tensor from outside the branch.
      const branch = new Set<number>([i]);
      const produced = new Set<string>(node.output ?? []);
      const queue = [i];
      while (queue.length > 0) {
        for (const out of index.nodes[queue.shift()!]!.output ?? []) {
          for (const c of index.consumers.get(out) ?? []) {
            if (branch.has(c)) continue;
            const consumer = index.nodes[c]!;
            branch.add(c);
            const outside = (consumer.input ?? []).some((t) => !produced.has(t) && !index.initializers.has(t));
            for (const o of consumer.output ?? []) produced.add(o);
            if (!outside) queue.push(c);
          }
        }
      }
      for (const b of branch) groups[b] = 'se';
    } else if (next.some((n) => n.opType === 'Flatten')) {
      // The head: back from the final pool to the nearest convolution, with the activation between.
      groups[i] = 'head';
      const queue = [index.producer.get(node.input![0]!)];
      while (queue.length > 0) {
        const p = queue.pop();
        if (p === undefined || groups[p] === 'head') continue;
        groups[p] = 'head';
        if (index.nodes[p]!.opType === 'Conv') continue;
        for (const input of index.nodes[p]!.input ?? []) queue.push(index.producer.get(input));
      }
    }
  });
  return groups;
}

function isFloatInitializer(index: GraphIndex, name: string | undefined): boolean {
  const t = name === undefined ? undefined : index.initializers.get(name);
  return t !== undefined && t.dataType === DT.FLOAT;
}

/**
 * Which nodes run quantized and which tensors need ranges: the nodes of {@link QUANTIZED_OPS} outside the groups
 * kept in float, except what follows the classifier (test-time averaging, outputs) and convolutions or Gemms whose
 * weights are not float initializers; Add and Mul only between two activations. Tensors in `floatTensors` get no
 * QDQ pair: their consumers read them in float (a convolution then keeps int8 weights, dequantized, and a float bias).
 */
export function planQuantization(model: ModelProto, keepFloat: readonly QuantizationGroup[] = [], floatTensors: ReadonlySet<string> = new Set()): QuantizationPlan {
  const index = indexGraph(model);
  const groups = nodeGroups(model);
  const afterClassifier = downstream(index, index.nodes.flatMap((node, i) => (node.opType === 'Gemm' ? [i] : [])));
  const nodes = new Set<number>();
  index.nodes.forEach((node, i) => {
    const op = node.opType ?? '';
    if (!QUANTIZED_OPS.has(op) || afterClassifier.has(i) || keepFloat.includes(groups[i]!)) return;
    const inputs = (node.input ?? []).filter((t) => t !== '');
    if (op === 'Conv' || op === 'Gemm') {
      if (!isFloatInitializer(index, inputs[1]) || (inputs[2] !== undefined && !isFloatInitializer(index, inputs[2])) || index.initializers.has(inputs[0]!)) return;
      if (op === 'Gemm' && !(node.attribute ?? []).some((a) => a.name === 'transB' && Number(a.i) === 1)) return;
    } else if (inputs.some((t) => index.initializers.has(t))) {
      return;
    }
    nodes.add(i);
  });
  const tensors: string[] = [];
  const seen = new Set<string>();
  const add = (t: string): void => {
    if (t === '' || seen.has(t) || index.initializers.has(t) || index.outputs.has(t) || floatTensors.has(t)) return;
    seen.add(t);
    tensors.push(t);
  };
  index.nodes.forEach((node, i) => {
    if (!nodes.has(i)) return;
    const op = node.opType!;
    const activationInputs = op === 'Conv' || op === 'Gemm' ? [node.input![0]!] : (node.input ?? []);
    activationInputs.forEach(add);
    if (op !== 'Gemm') (node.output ?? []).forEach(add);
  });
  // ReLU6 (Clip with constant bounds) between a quantized node and quantized consumers: quantizing its output alone
  // carries the clip (uint8 saturates at the range's ends), so its input keeps no pair of its own.
  const foldedClips = new Set<number>();
  index.nodes.forEach((node, i) => {
    const [x, lo, hi] = node.input ?? [];
    const y = node.output?.[0];
    if (node.opType !== 'Clip' || x === undefined || y === undefined || !isFloatInitializer(index, lo) || !isFloatInitializer(index, hi)) return;
    const producer = index.producer.get(x);
    if (producer === undefined || !nodes.has(producer) || !seen.has(y)) return;
    if ((index.consumers.get(x) ?? []).length !== 1 || !(index.consumers.get(y) ?? []).every((c) => nodes.has(c))) return;
    foldedClips.add(i);
  });
  const folded = new Set([...foldedClips].map((i) => index.nodes[i]!.input![0]!));
  const kept = tensors.filter((t) => !folded.has(t));
  const quantizedPerGroup = new Map<QuantizationGroup, number>();
  for (const i of nodes) quantizedPerGroup.set(groups[i]!, (quantizedPerGroup.get(groups[i]!) ?? 0) + 1);
  return { nodes, tensors: kept, groups, quantizedPerGroup, foldedClips, calibrated: tensors };
}

/**
 * The model with every tensor of `tensors` that a node produces added as a graph output (float32, shape unknown),
 * for the calibration runs; graph inputs are not repeated (the caller has them).
 */
export function calibrationModel(bytes: Uint8Array, tensors: readonly string[]): Uint8Array {
  const model = decodeModel(bytes);
  const index = indexGraph(model);
  for (const t of tensors) {
    if (index.inputs.has(t) || index.outputs.has(t)) continue;
    model.graph!.output!.push(onnx.ValueInfoProto.create({ name: t, type: { tensorType: { elemType: DT.FLOAT } } }));
  }
  return onnx.ModelProto.encode(model).finish();
}

function floatValues(tensor: TensorProto): Float32Array {
  if (tensor.rawData !== null && tensor.rawData !== undefined && tensor.rawData.length > 0) {
    const raw = tensor.rawData;
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const out = new Float32Array(raw.byteLength / 4);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
    return out;
  }
  return Float32Array.from(tensor.floatData ?? []);
}

function rawTensor(name: string, dataType: number, dims: readonly number[], bytes: Uint8Array): TensorProto {
  return onnx.TensorProto.create({ name, dataType, dims: [...dims], rawData: bytes });
}

function littleEndian(values: Float32Array | Int32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  if (values instanceof Float32Array) for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  else for (let i = 0; i < values.length; i++) view.setInt32(i * 4, values[i]!, true);
  return out;
}

/** The operator and group of the node that produces each tensor (graph inputs: 'input'), for reports. */
export function tensorProducers(model: ModelProto): Map<string, { op: string; group: QuantizationGroup | 'input' }> {
  const groups = nodeGroups(model);
  const out = new Map<string, { op: string; group: QuantizationGroup | 'input' }>();
  for (const input of model.graph?.input ?? []) out.set(input.name!, { op: 'input', group: 'input' });
  (model.graph?.node ?? []).forEach((node, i) => {
    for (const o of node.output ?? []) out.set(o, { op: node.opType ?? '?', group: groups[i]! });
  });
  return out;
}

/** Counts of what {@link writeQdqModel} wrote. */
export interface QdqSummary {
  /** Quantized weight tensors (int8, per channel). */
  weights: number;
  /** Activation tensors with a QuantizeLinear/DequantizeLinear pair. */
  activations: number;
  /** Nodes that run quantized, per group. */
  quantizedPerGroup: Map<QuantizationGroup, number>;
}

/**
 * The QDQ model of `bytes` under `plan`, with the uint8 parameters of every planned tensor from `ranges`
 * (range per tensor name). Float weights and biases of quantized nodes are replaced by their int8/int32 forms;
 * the metadata is left as it is (the caller updates the card).
 * @throws when a planned tensor has no range
 */
export function writeQdqModel(bytes: Uint8Array, plan: QuantizationPlan, ranges: ReadonlyMap<string, [number, number]>): { model: ModelProto; summary: QdqSummary } {
  const model = decodeModel(bytes);
  const index = indexGraph(model);
  const graph = model.graph!;
  const params = new Map<string, ActivationQuantization>();
  for (const t of plan.tensors) {
    const range = ranges.get(t);
    if (range === undefined) throw new Error(`int8 export: no calibrated range for tensor '${t}'`);
    params.set(t, uint8Quantization(range[0], range[1]));
  }
  const used = new Set<string>([...index.producer.keys(), ...index.initializers.keys(), ...index.inputs]);
  const fresh = (base: string): string => {
    let name = base;
    for (let k = 1; used.has(name); k++) name = `${base}_${k}`;
    used.add(name);
    return name;
  };
  const newInitializers: TensorProto[] = [];
  const scalar = (name: string, value: number): string => {
    const n = fresh(name);
    newInitializers.push(rawTensor(n, DT.FLOAT, [], littleEndian(new Float32Array([value]))));
    return n;
  };
  // A folded Clip goes when its output's range lies inside its bounds: the QuantizeLinear of that output then reads
  // the Clip's input (its saturation is the clip), and the consumers read the pair's DequantizeLinear as before.
  const dropped = new Set<number>();
  const quantizedFrom = new Map<string, string>();
  for (const i of plan.foldedClips) {
    const [x, lo, hi] = index.nodes[i]!.input!;
    const y = index.nodes[i]!.output![0]!;
    const range = params.get(y);
    const [min, max] = [floatValues(index.initializers.get(lo!)!)[0]!, floatValues(index.initializers.get(hi!)!)[0]!];
    if (range === undefined || range.scale * (0 - range.zeroPoint) < min - 1e-6 || range.scale * (255 - range.zeroPoint) > max + 1e-6) continue;
    dropped.add(i);
    quantizedFrom.set(y, x!);
  }
  // Weights and biases replaced by quantized ones, and the bounds of dropped Clips: removed unless still read.
  const replaced = new Set<string>([...dropped].flatMap((i) => index.nodes[i]!.input!.slice(1)));
  // One Q → DQ pair per planned tensor, inserted right after the tensor's producer (or first, for graph inputs).
  const dequantized = new Map<string, string>();
  const pairAfter = new Map<number, NodeProto[]>();
  const pairsFirst: NodeProto[] = [];
  for (const t of plan.tensors) {
    const p = params.get(t)!;
    const scale = scalar(`${t}_scale`, p.scale);
    const zero = fresh(`${t}_zero_point`);
    newInitializers.push(rawTensor(zero, DT.UINT8, [], new Uint8Array([p.zeroPoint])));
    const q = fresh(`${t}_quantized`);
    const dq = fresh(`${t}_dequantized`);
    const pair = [
      onnx.NodeProto.create({ opType: 'QuantizeLinear', name: fresh(`${t}_QuantizeLinear`), input: [quantizedFrom.get(t) ?? t, scale, zero], output: [q] }),
      onnx.NodeProto.create({ opType: 'DequantizeLinear', name: fresh(`${t}_DequantizeLinear`), input: [q, scale, zero], output: [dq] }),
    ];
    dequantized.set(t, dq);
    const producer = index.producer.get(t);
    if (producer === undefined) pairsFirst.push(...pair);
    else pairAfter.set(producer, [...(pairAfter.get(producer) ?? []), ...pair]);
  }
  // Weights (int8 per channel) and biases (int32) of quantized Conv and Gemm nodes.
  let weights = 0;
  const weightNodes = new Map<number, NodeProto[]>();
  index.nodes.forEach((node, i) => {
    const inputs = node.input!;
    // Every reader of a planned tensor reads its DequantizeLinear, float nodes too: the QuantizeLinear is then its
    // producer's only reader, which is what lets a runtime fuse the producer (Conv → Q into QLinearConv).
    if (!plan.nodes.has(i)) {
      node.input = inputs.map((t) => dequantized.get(t) ?? t);
      return;
    }
    node.input = inputs.map((t, k) => ((node.opType === 'Conv' || node.opType === 'Gemm') && k > 0 ? t : dequantized.get(t) ?? t));
    if (node.opType !== 'Conv' && node.opType !== 'Gemm') return;
    const weight = index.initializers.get(inputs[1]!)!;
    const dims = (weight.dims ?? []).map(Number);
    const q = quantizeWeightPerChannel(floatValues(weight), dims[0]!);
    const wq = fresh(`${weight.name}_quantized`);
    const ws = fresh(`${weight.name}_scale`);
    const wz = fresh(`${weight.name}_zero_point`);
    newInitializers.push(
      rawTensor(wq, DT.INT8, dims, new Uint8Array(q.values.buffer, q.values.byteOffset, q.values.byteLength)),
      rawTensor(ws, DT.FLOAT, [dims[0]!], littleEndian(q.scales)),
      rawTensor(wz, DT.INT8, [dims[0]!], new Uint8Array(dims[0]!)),
    );
    const wdq = fresh(`${weight.name}_dequantized`);
    const extra = [onnx.NodeProto.create({ opType: 'DequantizeLinear', name: fresh(`${weight.name}_DequantizeLinear`), input: [wq, ws, wz], output: [wdq], attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }] })];
    node.input[1] = wdq;
    replaced.add(weight.name!);
    weights++;
    // A bias is int32 at the input's scale; an input without a range (weights-only plans) keeps its bias in float.
    const inputScale = params.get(inputs[0]!)?.scale;
    if (inputs[2] !== undefined && inputs[2] !== '' && inputScale !== undefined) {
      const bias = index.initializers.get(inputs[2])!;
      const b = quantizeBias(floatValues(bias), inputScale, q.scales);
      const bq = fresh(`${bias.name}_quantized`);
      const bs = fresh(`${bias.name}_scale`);
      const bz = fresh(`${bias.name}_zero_point`);
      newInitializers.push(rawTensor(bq, DT.INT32, [b.values.length], littleEndian(b.values)), rawTensor(bs, DT.FLOAT, [b.values.length], littleEndian(b.scales)), rawTensor(bz, DT.INT32, [b.values.length], new Uint8Array(4 * b.values.length)));
      const bdq = fresh(`${bias.name}_dequantized`);
      extra.push(onnx.NodeProto.create({ opType: 'DequantizeLinear', name: fresh(`${bias.name}_DequantizeLinear`), input: [bq, bs, bz], output: [bdq], attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }] }));
      node.input[2] = bdq;
      replaced.add(bias.name!);
    }
    weightNodes.set(i, extra);
  });
  const ordered: NodeProto[] = [...pairsFirst];
  index.nodes.forEach((node, i) => {
    ordered.push(...(weightNodes.get(i) ?? []), ...(dropped.has(i) ? [] : [node]), ...(pairAfter.get(i) ?? []));
  });
  const stillUsed = new Set(ordered.flatMap((n) => n.input ?? []));
  graph.node = ordered;
  graph.initializer = [...(graph.initializer ?? []).filter((t) => !replaced.has(t.name!) || stillUsed.has(t.name!)), ...newInitializers];
  return { model, summary: { weights, activations: plan.tensors.length, quantizedPerGroup: plan.quantizedPerGroup } };
}

/** The serialised ModelProto. */
export function encodeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}
