/**
 * The TF.js column of bench/infer: TF.js cannot read ONNX, so this rebuilds the graph our exporter wrote (decoded
 * with onnx-proto) from TF.js ops, node by node, with the same folded weights: Conv → pad + conv2d /
 * depthwiseConv2d (NHWC), Sigmoid, Mul, Add, GlobalAveragePool → mean, Flatten → reshape, Gemm → matMul + add.
 * Only the op types our exporter emits are handled; anything else is refused by name.
 */
import onnxProto from 'onnx-proto';
import * as tf from '@tensorflow/tfjs';

type Attr = onnxProto.onnx.IAttributeProto;

function ints(attrs: Attr[], name: string): number[] {
  return (attrs.find((a) => a.name === name)?.ints ?? []).map(Number);
}

function int(attrs: Attr[], name: string, fallback: number): number {
  const a = attrs.find((x) => x.name === name);
  return a?.i === undefined || a.i === null ? fallback : Number(a.i);
}

function floats(raw: Uint8Array): Float32Array {
  const copy = new Uint8Array(raw); // aligned copy
  return new Float32Array(copy.buffer, 0, copy.length / 4);
}

/** One node of our exported graphs as TF.js ops (NHWC activations). */
function apply(node: onnxProto.onnx.INodeProto, inputs: tf.Tensor[]): tf.Tensor {
  const attrs = node.attribute ?? [];
  switch (node.opType) {
    case 'Conv': {
      const [top, left, bottom, right] = ints(attrs, 'pads');
      const [sh, sw] = ints(attrs, 'strides');
      let x = inputs[0] as tf.Tensor4D;
      if (top! + left! + bottom! + right! > 0) x = tf.pad(x, [[0, 0], [top!, bottom!], [left!, right!], [0, 0]]);
      const w = inputs[1] as tf.Tensor4D;
      const y = int(attrs, 'group', 1) > 1 ? tf.depthwiseConv2d(x, w, [sh!, sw!], 'valid') : tf.conv2d(x, w, [sh!, sw!], 'valid');
      return inputs[2] === undefined ? y : tf.add(y, inputs[2]);
    }
    case 'Sigmoid': return tf.sigmoid(inputs[0]!);
    case 'Mul': return tf.mul(inputs[0]!, inputs[1]!);
    case 'Add': return tf.add(inputs[0]!, inputs[1]!);
    case 'GlobalAveragePool': return tf.mean(inputs[0]!, [1, 2], true);
    case 'Flatten': return tf.reshape(inputs[0]!, [inputs[0]!.shape[0]!, -1]);
    case 'Gemm': return tf.add(tf.matMul(inputs[0] as tf.Tensor2D, inputs[1] as tf.Tensor2D, false, true), inputs[2]!);
    default: throw new Error(`buildTfjsGraph: op ${node.opType} is not one effnet's exporter writes`);
  }
}

/** A graph rebuilt from TF.js tensors: run(nchw) → logits. */
export interface TfjsGraph {
  /** Logits [batch, classes] for an NCHW float32 batch. */
  run(input: Float32Array, batch: number, size: number): Float32Array;
  /** Frees the weights. */
  dispose(): void;
}

/** Builds the TF.js version of an ONNX file written by effnet's exporter. */
export function buildTfjsGraph(bytes: Uint8Array): TfjsGraph {
  const model = onnxProto.onnx.ModelProto.decode(bytes);
  const graph = model.graph!;
  const weights = new Map<string, tf.Tensor>();
  const nodes = graph.node ?? [];
  const depthwise = new Set<string>();
  for (const node of nodes) {
    if (node.opType !== 'Conv') continue;
    const group = int(node.attribute ?? [], 'group', 1);
    if (group > 1) depthwise.add(node.input![1]!);
  }
  for (const init of graph.initializer ?? []) {
    const dims = (init.dims ?? []).map(Number);
    const data = floats(init.rawData!);
    const name = init.name!;
    if (dims.length === 4) {
      // ONNX [out, in/groups, kh, kw] → TF.js conv2d [kh, kw, in, out] or depthwise [kh, kw, channels, 1].
      const t = tf.tensor4d(data, dims as [number, number, number, number]);
      weights.set(name, depthwise.has(name) ? tf.transpose(t, [2, 3, 0, 1]) : tf.transpose(t, [2, 3, 1, 0]));
      t.dispose();
    } else {
      weights.set(name, tf.tensor(data, dims));
    }
  }
  const lastUse = new Map<string, number>();
  nodes.forEach((node, index) => {
    for (const name of node.input ?? []) lastUse.set(name, index);
  });
  const inputName = graph.input![0]!.name!;
  const outputName = graph.output![0]!.name!;
  return {
    run(input: Float32Array, batch: number, size: number): Float32Array {
      // Intermediates are freed right after their last use: a batch of 32 at 224px would not fit in wasm memory
      // if every activation lived until the end.
      const values = new Map<string, tf.Tensor>();
      values.set(inputName, tf.tidy(() => tf.transpose(tf.tensor4d(input, [batch, 3, size, size]), [0, 2, 3, 1])));
      const get = (name: string): tf.Tensor => values.get(name) ?? weights.get(name)!;
      try {
        nodes.forEach((node, index) => {
          const inputs = (node.input ?? []).map(get);
          const out = tf.tidy(() => apply(node, inputs));
          values.set(node.output![0]!, out);
          for (const name of node.input ?? []) {
            if (lastUse.get(name) === index && values.has(name)) {
              values.get(name)!.dispose();
              values.delete(name);
            }
          }
        });
        return values.get(outputName)!.dataSync() as Float32Array;
      } finally {
        for (const t of values.values()) t.dispose();
      }
    },
    dispose(): void {
      for (const t of weights.values()) t.dispose();
    },
  };
}

/** Switches TF.js to its wasm backend (SIMD build; threads as the platform allows). */
export async function useWasmBackend(threads: number): Promise<string> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  wasm.setThreadsCount(threads);
  await tf.setBackend('wasm');
  await tf.ready();
  return `${tf.getBackend()} (tfjs ${tf.version.tfjs}, ${wasm.getThreadsCount()} thread(s))`;
}
