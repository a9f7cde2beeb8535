/**
 * Weight initialisation as torch.nn.init does it, drawing from libtorch's default generator in the same order and
 * with the same bounds, so that after manualSeed(s) a layer starts from the same numbers as in PyTorch.
 */
import { noGrad, uniform_, fill_, type Tensor } from '../torch/index.js';

/** fan_in and fan_out of a weight, as torch.nn.init._calculate_fan_in_and_fan_out ([out, in, ...kernel]). */
export function fanInAndOut(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) {
    throw new Error(`fanInAndOut: a weight needs at least 2 dimensions to have fans, got shape [${shape.join(', ')}]`);
  }
  let receptive = 1;
  for (const d of shape.slice(2)) receptive *= d;
  return { fanIn: shape[1]! * receptive, fanOut: shape[0]! * receptive };
}

/** The gain of torch.nn.init.calculate_gain('leaky_relu', negativeSlope). */
export function leakyReluGain(negativeSlope: number): number {
  return Math.sqrt(2.0 / (1 + negativeSlope * negativeSlope));
}

/**
 * Fills `weight` in place from U(−b, b), b = gain·sqrt(3 / fan_in) with the leaky-ReLU gain for slope `a`
 * (torch.nn.init.kaiming_uniform_ with mode 'fan_in').
 */
export function kaimingUniform_(weight: Tensor, a = 0): void {
  const { fanIn } = fanInAndOut(weight.shape);
  const std = leakyReluGain(a) / Math.sqrt(fanIn);
  const bound = Math.sqrt(3.0) * std;
  noGrad(() => uniform_(weight, -bound, bound));
}

/**
 * PyTorch's default initialisation of a convolution or linear layer: kaiming_uniform_(a = sqrt(5)) for the
 * weight, then U(−1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias.
 */
export function resetLinearLike_(weight: Tensor, bias: Tensor | null): void {
  kaimingUniform_(weight, Math.sqrt(5));
  if (bias === null) return;
  const { fanIn } = fanInAndOut(weight.shape);
  if (fanIn === 0) return;
  const bound = 1 / Math.sqrt(fanIn);
  noGrad(() => uniform_(bias, -bound, bound));
}

/** Fills `tensor` with `value` in place, outside autograd (torch.nn.init.constant_). */
export function constant_(tensor: Tensor, value: number): void {
  noGrad(() => fill_(tensor, value));
}
