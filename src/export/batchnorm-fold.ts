/**
 * Folding an eval-mode batch norm into the convolution before it: y = γ·(conv(x) + b − μ)/√(σ² + ε) + β becomes
 * one convolution with weight W·s and bias β + (b − μ)·s, s = γ/√(σ² + ε) per output channel.
 */

/** A convolution's parameters as host arrays: weight [out, in/groups, kh, kw] flattened, bias [out] or null. */
export interface HostConv {
  weight: Float32Array;
  bias: Float32Array | null;
  outChannels: number;
}

/** A batch norm's eval-mode parameters as host arrays, each [channels]; affine parameters null when absent. */
export interface HostBatchNorm {
  weight: Float32Array | null;
  bias: Float32Array | null;
  runningMean: Float32Array;
  runningVar: Float32Array;
  eps: number;
}

/**
 * The folded convolution (new arrays; the inputs are not changed). Computed in float64 and rounded once to float32,
 * so the only error against conv-then-BN is that final rounding.
 * @throws when the batch norm's channel count differs from the convolution's output channels
 */
export function foldBatchNorm(conv: HostConv, bn: HostBatchNorm): { weight: Float32Array; bias: Float32Array } {
  const out = conv.outChannels;
  if (bn.runningMean.length !== out || bn.runningVar.length !== out) {
    throw new Error(
      `foldBatchNorm: the batch norm has ${bn.runningMean.length} channels but the convolution has ${out} outputs; ` +
        'they must be the same layer pair (conv followed by its BN)',
    );
  }
  if (conv.weight.length % out !== 0) {
    throw new Error(`foldBatchNorm: weight of ${conv.weight.length} values cannot be split into ${out} output channels`);
  }
  const perChannel = conv.weight.length / out;
  const weight = new Float32Array(conv.weight.length);
  const bias = new Float32Array(out);
  for (let c = 0; c < out; c++) {
    const gamma = bn.weight === null ? 1 : bn.weight[c]!;
    const beta = bn.bias === null ? 0 : bn.bias[c]!;
    const scale = gamma / Math.sqrt(bn.runningVar[c]! + bn.eps);
    for (let i = c * perChannel; i < (c + 1) * perChannel; i++) weight[i] = conv.weight[i]! * scale;
    const b = conv.bias === null ? 0 : conv.bias[c]!;
    bias[c] = beta + (b - bn.runningMean[c]!) * scale;
  }
  return { weight, bias };
}
