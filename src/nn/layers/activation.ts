/** Elementwise activations as modules. */
import { clamp, relu, sigmoid, silu, type Tensor } from '../../torch/index.js';
import { Module } from '../module.js';

/** x·sigmoid(x) (swish), as torch.nn.SiLU. */
export class SiLU extends Module {
  /** Applies SiLU elementwise. */
  forward(input: Tensor): Tensor {
    return silu(input);
  }
}

/** max(x, 0), as torch.nn.ReLU. */
export class ReLU extends Module {
  /** Applies ReLU elementwise. */
  forward(input: Tensor): Tensor {
    return relu(input);
  }
}

/** min(max(x, 0), 6), as torch.nn.ReLU6 (EfficientNet-Lite's and MobileNetV2's activation). */
export class ReLU6 extends Module {
  /** Applies ReLU6 elementwise. */
  forward(input: Tensor): Tensor {
    return clamp(input, 0, 6);
  }
}

/** 1 / (1 + e^−x), as torch.nn.Sigmoid. */
export class Sigmoid extends Module {
  /** Applies the logistic function elementwise. */
  forward(input: Tensor): Tensor {
    return sigmoid(input);
  }
}
