/**
 * Fine-tuning helpers: load pretrained weights into a model whose classifier head differs (a new number of
 * classes), and freeze parts of a model (parameters stop receiving updates; their batch norms can be pinned to
 * evaluation mode so that their running statistics stay as trained).
 */
import type { Tensor } from '../torch/index.js';
import { BatchNorm2d, type Module, type StateDictReport } from '../nn/index.js';

/** Options of loadPretrained. */
export interface LoadPretrainedOptions {
  /** Name prefixes of the head, kept at their fresh initialisation when the weights do not fit it; default ['classifier.']. */
  headPrefixes?: readonly string[];
}

function under(name: string, prefixes: readonly string[]): boolean {
  return prefixes.some((prefix) => name.startsWith(prefix));
}

/**
 * Copies `weights` into `model` through Module.loadStateDict (the one key matcher). Every key outside the head must
 * be present with the same shape (else it throws before copying anything: the weights are for another
 * architecture); head keys that are missing or mis-shaped keep the model's initialisation, so a model built for a
 * new number of classes gets a fresh classifier (`replaced` in the report).
 */
export function loadPretrained(model: Module, weights: ReadonlyMap<string, Tensor>, options: LoadPretrainedOptions = {}): StateDictReport {
  const head = options.headPrefixes ?? ['classifier.'];
  return model.loadStateDict(new Map(weights), {
    replaceable: (key) => under(key, head),
    source: 'loadPretrained',
    hint: `the weights must fit this model outside its head (${head.join(', ')}); build the model with the variant the weights were trained for`,
  });
}

/** Options of freeze. */
export interface FreezeOptions {
  /** Also pin the batch norms under the prefixes to evaluation mode (running statistics frozen); default true. */
  batchNorm?: boolean;
}

/**
 * Freezes every parameter whose dotted name starts with one of `prefixes` (requiresGrad off, so optimizers built
 * afterwards, e.g. through paramGroupsWithWeightDecay, leave them out). With batchNorm (default) the BatchNorm2d
 * modules under the prefixes stay in evaluation mode even when model.train() is called. Returns the names of the
 * frozen parameters; throws when a prefix matches nothing (a typo would otherwise train everything).
 */
export function freeze(model: Module, prefixes: readonly string[], options: FreezeOptions = {}): string[] {
  const frozen: string[] = [];
  const matched = new Set<string>();
  for (const [name, param] of model.namedParameters()) {
    const prefix = prefixes.find((p) => name.startsWith(p));
    if (prefix === undefined) continue;
    matched.add(prefix);
    param.requiresGrad = false;
    frozen.push(name);
  }
  const unmatched = prefixes.filter((p) => !matched.has(p));
  if (unmatched.length > 0) {
    throw new Error(`freeze: no parameter name starts with ${unmatched.map((p) => `'${p}'`).join(', ')}; names look like '${model.namedParameters()[0]?.[0] ?? ''}'`);
  }
  if (options.batchNorm ?? true) {
    for (const [name, module] of model.namedModules()) {
      if (!(module instanceof BatchNorm2d) || !under(`${name}.`, prefixes)) continue;
      // Pin the mode: Module.train() assigns `training` on every module, so an accessor that ignores writes keeps it off.
      Object.defineProperty(module, 'training', { get: () => false, set: () => undefined, configurable: true });
    }
  }
  return frozen;
}
