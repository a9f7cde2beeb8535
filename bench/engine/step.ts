/**
 * The training step the engine bench times (bench/engine/engine.bench.ts, part b): forward, cross entropy, backward
 * and an SGD step of the bench's ConvNet, the same as engine_reference.py's PyTorch step.
 */
import { crossEntropy, type Tensor } from '../../src/torch/index.js';
import type { Module } from '../../src/nn/index.js';
import { SGD, type Optimizer } from '../../src/optim/index.js';

/**
 * One training step: forward, cross entropy, backward, optimizer update. Returns the loss and the logits (in the
 * caller's scope; run it inside tidy()).
 */
export function trainStep(model: Module, optimizer: Optimizer, images: Tensor, labels: Tensor): { loss: Tensor; logits: Tensor } {
  const logits = model.forward(images);
  const loss = crossEntropy(logits, labels);
  optimizer.zeroGrad();
  loss.backward();
  optimizer.step();
  return { loss, logits };
}

/** The optimizer the demo (and the engine benchmark) uses: SGD, Nesterov momentum 0.9, weight decay 5e-4. */
export function demoOptimizer(model: Module, lr: number): SGD {
  return new SGD(model.parameters(), { lr, momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
}
