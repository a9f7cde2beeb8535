/**
 * The engine bench's small ConvNet (once effnet demo's) for 28×28 greyscale images (Fashion-MNIST): three
 * conv-BN-ReLU blocks (16, 32, 64 channels, 3×3, no conv bias) with 2×2 max pooling after each (28 → 14 → 7 → 3), then a linear classifier over
 * the flattened 64×3×3 features. 29,178 parameters. bench/engine/engine_reference.py builds the same network in
 * PyTorch; keep the two in step.
 */
import { BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, type Module, ReLU, Sequential } from '../../src/nn/index.js';

/** Channel widths of the demo network's three conv blocks. */
export const DEMO_CHANNELS: readonly number[] = [16, 32, 64];

/** Number of classes the demo network predicts. */
export const DEMO_CLASSES = 10;

/**
 * Builds the demo ConvNet (parameters initialised from libtorch's generator: call manualSeed first for a
 * reproducible network). Input [N, 1, 28, 28] float32, output logits [N, 10].
 */
export function buildDemoConvNet(channels: readonly number[] = DEMO_CHANNELS, classes = DEMO_CLASSES): Sequential {
  const net = new Sequential();
  let inChannels = 1;
  let size = 28;
  for (const out of channels) {
    net.append(new Conv2d(inChannels, out, 3, { padding: 1, bias: false }));
    net.append(new BatchNorm2d(out));
    net.append(new ReLU());
    net.append(new MaxPool2d(2));
    inChannels = out;
    size = Math.floor(size / 2);
  }
  net.append(new Flatten());
  net.append(new Linear(inChannels * size * size, classes));
  return net;
}
