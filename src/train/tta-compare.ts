/**
 * Every test-time augmentation scored in one pass over a hold-out (`effnet eval --tta compare`): whether the
 * mirror and the translated views help depends on the data (on CIFAR-10 both add, on Fashion-MNIST the translated
 * views cost 1.5 points), so a user chooses the card's mode on their own hold-out. The widest mode's views are run
 * once and the narrower modes are sums of their first views, in the order {@link ttaLogits} sums them, so each
 * mode's scores equal a separate `effnet eval --tta MODE` bit for bit.
 */
import type { Module } from '../nn/index.js';
import type { DataLoader } from '../data/loader.js';
import { add, crossEntropy, mul, type Tensor } from '../torch/index.js';
import { TTA_MODES, ttaShift, ttaViews, type Tta } from '../card/tta.js';
import { countCorrect } from './metrics.js';
import { evaluateVariants, ttaView, type EvalResult, type EvaluateOptions } from './trainer.js';

/** One mode's scores: 'none' (the image alone) or a test-time augmentation. */
export interface TtaModeResult {
  /** The mode. */
  tta: Tta | 'none';
  /** Its scores over the hold-out. */
  result: EvalResult;
}

/**
 * The modes that apply at an input of `size` pixels: 'none', 'hflip' and, when the image is large enough for its
 * shift, 'hflip-shift' (src/card/tta.ts).
 */
export function ttaModesFor(size: number): (Tta | 'none')[] {
  return ['none', ...TTA_MODES.filter((mode) => mode !== 'hflip-shift' || 2 * ttaShift(size) < size)];
}

/**
 * Scores `model` on `loader` (epoch 0 order, eval mode, noGrad) under every mode of {@link ttaModesFor}, in one pass;
 * `onSkipped` is called with each image that could not be decoded (left out of every mode's scores).
 */
export async function evaluateTtaModes(model: Module, loader: DataLoader, channelsLast = false, options: Pick<EvaluateOptions, 'onSkipped'> = {}): Promise<TtaModeResult[]> {
  let modes: (Tta | 'none')[] = [];
  const results = await evaluateVariants(model, loader, channelsLast, options, (x, labels) => {
    const size = x.shape[2]!;
    modes = ttaModesFor(size);
    const widest = modes[modes.length - 1]!;
    // Every mode's views are the first views of the widest mode's (the image itself first), so each view runs once.
    const viewLogits = widest === 'none' ? [model.forward(x)] : ttaViews(widest, size).map((view) => model.forward(ttaView(x, view)));
    const logitsOf = (mode: Tta | 'none'): Tensor => {
      if (mode === 'none') return viewLogits[0]!;
      const count = ttaViews(mode, size).length;
      let sum = viewLogits[0]!;
      for (let i = 1; i < count; i++) sum = add(sum, viewLogits[i]!);
      return mul(sum, 1 / count);
    };
    return modes.map((mode) => {
      const logits = logitsOf(mode);
      return { loss: crossEntropy(logits, labels, { reduction: 'sum' }).item(), ...countCorrect(logits, labels, 5) };
    });
  });
  return modes.map((tta, i) => ({ tta, result: results[i]! }));
}
