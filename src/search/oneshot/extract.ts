/**
 * Extraction: a candidate of a supernet as a standalone network with its model card, its weights copied from the
 * shared ones (the slices its path runs through). The result is an ordinary EfficientNet: it trains, fine-tunes,
 * scales, exports and predicts like any model, and its output equals the supernet's path output.
 */
import { createModelFromCard } from '../../card/build.js';
import type { ModelCard } from '../../card/model-card.js';
import { resolveModelCard } from '../../card/resolve.js';
import type { EfficientNet } from '../../efficientnet/model.js';
import type { NetworkSpec } from '../../efficientnet/scaling.js';
import type { BatchNorm2d } from '../../nn/index.js';
import { narrow, tidy, type Tensor } from '../../torch/index.js';
import { candidateConfig } from '../nas/search.js';
import type { Candidate } from '../nas/strategy.js';
import type { Supernet } from './supernet.js';

/**
 * The state dict of the standalone network of `path`, under torchvision's names (`features.0.0.weight`, ...,
 * `classifier.1.bias`), each tensor a view of the supernet's shared weights and running statistics (call inside
 * tidy()). With `gradients`, the views are of the parameters' gradients instead, and buffers are left out: the
 * gradient a path's standalone network would get, read off the supernet.
 * @throws Error with `gradients` when a parameter on the path has no gradient
 */
export function pathStateDict(supernet: Supernet, path: NetworkSpec, options: { gradients?: boolean } = {}): Map<string, Tensor> {
  const gradients = options.gradients ?? false;
  const of = (parameter: Tensor): Tensor => {
    if (!gradients) return parameter;
    const grad = parameter.grad;
    if (grad === null) throw new Error('pathStateDict: a parameter on the path has no gradient; run backward through this path first');
    return grad;
  };
  const state = new Map<string, Tensor>();
  const normState = (prefix: string, bn: BatchNorm2d, channels: number): void => {
    const part = (t: Tensor): Tensor => (t.shape[0] === channels ? t : narrow(t, 0, 0, channels));
    state.set(`${prefix}.weight`, part(of(bn.weight!)));
    state.set(`${prefix}.bias`, part(of(bn.bias!)));
    if (gradients) return;
    state.set(`${prefix}.running_mean`, part(bn.runningMean!));
    state.set(`${prefix}.running_var`, part(bn.runningVar!));
    state.set(`${prefix}.num_batches_tracked`, bn.numBatchesTracked!);
  };
  const { stem, head, classifierWeight, classifierBias } = supernet.fixedParts();
  state.set('features.0.0.weight', stem.slice(path.stemChannels, 3, path.stemKernel, of));
  normState('features.0.1', stem.bn, path.stemChannels);
  let lastOut = path.stemChannels;
  for (const stage of path.stages) {
    for (const block of stage.blocks) {
      const shared = supernet.blockAt(stage.index, block.indexInStage);
      let layer = 0;
      const prefix = (): string => `features.${stage.index + 1}.${block.indexInStage}.block.${layer}`;
      const conv = (weight: Tensor, bn: BatchNorm2d, channels: number): void => {
        state.set(`${prefix()}.0.weight`, weight);
        normState(`${prefix()}.1`, bn, channels);
        layer++;
      };
      const squeezeExcite = (se: NonNullable<typeof shared.mbconv>['se'], channels: number): void => {
        const [w1, b1, w2, b2] = se!.slices(channels, block.seChannels, of);
        state.set(`${prefix()}.fc1.weight`, w1);
        state.set(`${prefix()}.fc1.bias`, b1);
        state.set(`${prefix()}.fc2.weight`, w2);
        state.set(`${prefix()}.fc2.bias`, b2);
        layer++;
      };
      if (block.fused) {
        const op = shared.fused!;
        const convChannels = block.hasExpansion ? block.midChannels : block.outChannels;
        conv(op.conv.slice(convChannels, block.inChannels, block.kernel, of), op.conv.bn, convChannels);
        if (block.seChannels > 0) squeezeExcite(op.se, convChannels);
        if (block.hasExpansion) conv(op.project!.slice(block.outChannels, block.midChannels, 1, of), op.project!.bn, block.outChannels);
      } else {
        const op = shared.mbconv!;
        if (block.hasExpansion) conv(op.expand!.slice(block.midChannels, block.inChannels, 1, of), op.expand!.bn, block.midChannels);
        conv(op.depthwise.slice(block.midChannels, 1, block.kernel, of), op.depthwise.bn, block.midChannels);
        if (block.seChannels > 0) squeezeExcite(op.se, block.midChannels);
        conv(op.project.slice(block.outChannels, block.midChannels, 1, of), op.project.bn, block.outChannels);
      }
      lastOut = block.outChannels;
    }
  }
  const headIndex = path.stages.length + 1;
  state.set(`features.${headIndex}.0.weight`, head.slice(path.headChannels, lastOut, 1, of));
  normState(`features.${headIndex}.1`, head.bn, path.headChannels);
  state.set('classifier.1.weight', of(classifierWeight));
  state.set('classifier.1.bias', of(classifierBias));
  return state;
}

/** A candidate extracted from a supernet: the standalone network and its card. */
export interface ExtractedCandidate {
  /** The network, its weights copied from the supernet (training mode, as every new model). */
  model: EfficientNet;
  /** Its model card: the card a standalone trial of the same candidate gets. */
  card: ModelCard;
}

/**
 * The standalone network of `candidate` with the supernet's shared weights and running statistics copied in (the
 * slices its path uses), and its model card. The copy is strict: every tensor of the network is written.
 * @throws SearchSpaceError for a candidate that is not a point of the supernet's space
 */
export function extractCandidate(supernet: Supernet, candidate: Candidate, classNames: readonly string[] | null = null): ExtractedCandidate {
  const path = supernet.pathOf(candidate);
  const config = candidateConfig(supernet.space, candidate, supernet.options.resolution);
  const card = resolveModelCard({
    source: { kind: 'search-trial', config, detail: `a candidate of space '${supernet.space.document.name}' extracted from its supernet` },
    classes: classNames ?? supernet.options.numClasses,
    batchNorm: supernet.options.batchNorm,
  });
  const model = createModelFromCard(card);
  try {
    tidy(() => {
      model.loadStateDict(pathStateDict(supernet, path), { source: 'the supernet path', hint: 'the supernet and the candidate card disagree on a shape (a bug: please report it)' });
    });
  } catch (error) {
    model.dispose();
    throw error;
  }
  return { model, card };
}
