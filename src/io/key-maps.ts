/**
 * Weight-key tables between effnet's module names (torchvision's) and other sources' names. torchvision's keys are
 * ours, so its table is the identity; timm's follows timm's EfficientNet module tree (`conv_stem`, `bn1`,
 * `blocks.i.j.*`, `conv_head`, `bn2`, `classifier`), built per block from the model's own structure.
 */

/**
 * What a key map reads of a model: the blocks of its scaled network (the parts of EfficientNet and its spec a map
 * needs, named here so that io/ imports nothing of efficientnet/) and the keys of its state dict.
 */
export interface KeyMapModel {
  /** The scaled network: per stage, per block, what decides the source's module names. */
  spec: { stages: readonly { blocks: readonly { fused: boolean; hasExpansion: boolean; seChannels: number }[] }[] };
  /** The model's own tensors by key. */
  stateDict(): Map<string, unknown>;
}

/** Where a checkpoint comes from, which decides how its keys are named. */
export type WeightSource = 'torchvision' | 'timm';

/** The known sources, for messages. */
export const WEIGHT_SOURCES: readonly WeightSource[] = ['torchvision', 'timm'];

const BN_TENSORS = ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'] as const;

function addConvBn(map: Map<string, string>, timmConv: string, timmBn: string, ours: string): void {
  map.set(`${timmConv}.weight`, `${ours}.0.weight`);
  for (const name of BN_TENSORS) map.set(`${timmBn}.${name}`, `${ours}.1.${name}`);
}

function addSqueezeExcite(map: Map<string, string>, timm: string, ours: string): void {
  for (const name of ['weight', 'bias']) {
    map.set(`${timm}.conv_reduce.${name}`, `${ours}.fc1.${name}`);
    map.set(`${timm}.conv_expand.${name}`, `${ours}.fc2.${name}`);
  }
}

/**
 * timm key → our key for every tensor of `model`. Blocks without an expansion conv are timm's
 * DepthwiseSeparableConv (`conv_dw`, `bn1`, `se`, `conv_pw`, `bn2`); the others its InvertedResidual (`conv_pw`,
 * `bn1`, `conv_dw`, `bn2`, `se`, `conv_pwl`, `bn3`); fused blocks its EdgeResidual (`conv_exp`, `bn1`, `se`,
 * `conv_pwl`, `bn2`), or its ConvBnAct (`conv`, `bn1`) when they have no expansion (V2's `cn` blocks).
 */
export function timmKeyMap(model: KeyMapModel): Map<string, string> {
  const map = new Map<string, string>();
  addConvBn(map, 'conv_stem', 'bn1', 'features.0');
  model.spec.stages.forEach((stage, i) => {
    stage.blocks.forEach((block, j) => {
      const timm = `blocks.${i}.${j}`;
      const ours = `features.${i + 1}.${j}.block`;
      let layer = 0;
      const hasSe = block.seChannels > 0;
      if (block.fused && !block.hasExpansion) {
        // timm's ConvBnAct (the `cn` blocks that open V2-S/M/L and V2-B): conv (kxk) + bn1.
        addConvBn(map, `${timm}.conv`, `${timm}.bn1`, `${ours}.${layer++}`);
        if (hasSe) addSqueezeExcite(map, `${timm}.se`, `${ours}.${layer++}`);
      } else if (block.fused) {
        // timm's EdgeResidual: conv_exp (kxk) + bn1, se, conv_pwl + bn2.
        addConvBn(map, `${timm}.conv_exp`, `${timm}.bn1`, `${ours}.${layer++}`);
        if (hasSe) addSqueezeExcite(map, `${timm}.se`, `${ours}.${layer++}`);
        addConvBn(map, `${timm}.conv_pwl`, `${timm}.bn2`, `${ours}.${layer++}`);
      } else if (block.hasExpansion) {
        addConvBn(map, `${timm}.conv_pw`, `${timm}.bn1`, `${ours}.${layer++}`);
        addConvBn(map, `${timm}.conv_dw`, `${timm}.bn2`, `${ours}.${layer++}`);
        if (hasSe) addSqueezeExcite(map, `${timm}.se`, `${ours}.${layer++}`);
        addConvBn(map, `${timm}.conv_pwl`, `${timm}.bn3`, `${ours}.${layer++}`);
      } else {
        addConvBn(map, `${timm}.conv_dw`, `${timm}.bn1`, `${ours}.${layer++}`);
        if (hasSe) addSqueezeExcite(map, `${timm}.se`, `${ours}.${layer++}`);
        addConvBn(map, `${timm}.conv_pw`, `${timm}.bn2`, `${ours}.${layer++}`);
      }
    });
  });
  addConvBn(map, 'conv_head', 'bn2', `features.${model.spec.stages.length + 1}`);
  map.set('classifier.weight', 'classifier.1.weight');
  map.set('classifier.bias', 'classifier.1.bias');
  return map;
}

/** source key → our key for every tensor of `model` (the identity for torchvision). */
export function keyMapFor(source: WeightSource, model: KeyMapModel): Map<string, string> {
  if (source === 'timm') return timmKeyMap(model);
  return new Map([...model.stateDict().keys()].map((key) => [key, key]));
}

/** Guesses a state dict's naming from its keys: 'timm', 'torchvision', or null when it looks like neither. */
export function detectWeightSource(keys: Iterable<string>): WeightSource | null {
  let timm = 0;
  let torchvision = 0;
  for (const key of keys) {
    if (/^(conv_stem|conv_head|blocks\.\d+\.\d+\.)/.test(key)) timm += 1;
    if (/^features\.\d+\./.test(key)) torchvision += 1;
  }
  if (timm === 0 && torchvision === 0) return null;
  return timm > torchvision ? 'timm' : 'torchvision';
}
