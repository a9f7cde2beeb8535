/** Memory layout of a module's parameters. */
import { callOperator, clone, noGrad, tidy } from '../torch/index.js';
import type { Module } from './module.js';

/**
 * Re-lays the 4-D parameters (conv kernels) of `model` out as channels_last, in place, as PyTorch's
 * `model.to(memory_format=torch.channels_last)` does: the same parameter objects get new strides, so optimizers
 * built before or after see the same tensors. libtorch's convolutions then run in NHWC, which on CPU is markedly
 * faster for training. It uses clone() rather than contiguous(): a kernel with one input channel ([out, 1, k, k])
 * already counts as channels_last-contiguous, so contiguous() would keep its NCHW strides and the first
 * convolution would stay NCHW.
 */
export function toChannelsLast(model: Module): void {
  noGrad(() =>
    tidy(() => {
      for (const parameter of model.parameters()) {
        if (parameter.ndim !== 4) continue;
        callOperator('aten::set_.source_Tensor', parameter, clone(parameter, 'channels_last'));
      }
    }),
  );
}
