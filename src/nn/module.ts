/**
 * The Module base class: a tree of named parameters, buffers and child modules, with train/eval mode and
 * state dictionaries whose keys follow PyTorch's dotted naming ("features.1.bn.bias").
 */
import { copy_, isFloatingDType, keep, noGrad, setData_, tidy, type DType, type Tensor } from '../torch/index.js';

/** What loadStateDict accepts: a Map or a plain object from dotted names to tensors. */
export type StateDictInput = Map<string, Tensor> | Record<string, Tensor>;

/** Options of Module.loadStateDict; each default is stated. */
export interface LoadStateDictOptions {
  /**
   * Default true: missing and unexpected keys are errors. When false they are reported and skipped (only the
   * matching keys load). Mis-shaped keys are errors either way, unless `replaceable` covers them.
   */
  strict?: boolean;
  /**
   * Keys of this module that keep their current values when the state lacks them or holds another shape (a head
   * replaced for another number of classes); they are reported as `replaced`, not as problems. Default none.
   */
  replaceable?: (key: string) => boolean;
  /** Keys of this module that may be absent from the state and then keep their values (BN counters); default none. */
  optional?: (key: string) => boolean;
  /**
   * The state's keys → this module's (a foreign checkpoint's naming). With a map, keys it does not name are
   * unexpected and messages name keys the state's way. Default: the state uses this module's names.
   */
  keyMap?: ReadonlyMap<string, string>;
  /** Names the state in the error message (e.g. 'b0.pth as torchvision weights'); default the module's class. */
  source?: string;
  /** What to check, appended to the error; default a reminder to build the model as the checkpoint was. */
  hint?: string;
}

/** What loadStateDict matched and did; keys are this module's names, problems the state's. */
export interface StateDictReport {
  /** Keys copied from the state. */
  loaded: string[];
  /** Keys of this module the state lacks (skipped when not strict; optional ones are not listed). */
  missing: string[];
  /** Keys of the state this module does not have (skipped when not strict). */
  unexpected: string[];
  /** Keys whose shapes differ, with both shapes. */
  misShaped: string[];
  /** Replaceable keys kept at their current values (e.g. the classifier of a fine-tuned model). */
  replaced: string[];
}

/** Keys a message names before it says how many more there are (the whole list stays in the error's report). */
const LISTED_KEYS = 12;

/**
 * The first {@link LISTED_KEYS} items, then '... and N more': a checkpoint of 100,000 foreign keys printed 12.6 MB
 * of stderr. Long keys are cut at 200 characters.
 */
function listSome(items: readonly string[], separator: string): string {
  const shown = items.slice(0, LISTED_KEYS).map((item) => (item.length > 200 ? `${item.slice(0, 200)}...` : item));
  return shown.join(separator) + (items.length > LISTED_KEYS ? `${separator}... and ${items.length - LISTED_KEYS} more` : '');
}

/** Thrown by loadStateDict when the state does not fit; nothing was copied. `report` says what was found. */
export class StateDictError extends Error {
  override name = 'StateDictError';
  constructor(message: string, readonly report: StateDictReport) {
    super(message);
  }
}

/**
 * Matches `state` against `own` under `options` (see {@link LoadStateDictOptions}) without copying anything: the
 * one key matcher behind Module.loadStateDict, weight import and fine-tuning.
 */
export function matchStateDict(own: ReadonlyMap<string, Tensor>, state: ReadonlyMap<string, Tensor>, options: LoadStateDictOptions = {}): { report: StateDictReport; pairs: [Tensor, Tensor][] } {
  const replaceable = options.replaceable ?? ((): boolean => false);
  const optional = options.optional ?? ((): boolean => false);
  const map = options.keyMap;
  const report: StateDictReport = { loaded: [], missing: [], unexpected: [], misShaped: [], replaced: [] };
  const byOurs = new Map<string, Tensor>();
  const theirName = new Map<string, string>();
  for (const [key, value] of state) {
    const ours = map === undefined ? key : map.get(key);
    if (ours === undefined || !own.has(ours)) report.unexpected.push(key);
    else {
      byOurs.set(ours, value);
      theirName.set(ours, key);
    }
  }
  if (map !== undefined) for (const [their, ours] of map) if (!theirName.has(ours)) theirName.set(ours, their);
  const pairs: [Tensor, Tensor][] = [];
  for (const [key, target] of own) {
    const value = byOurs.get(key);
    const name = theirName.get(key) ?? key;
    const fits = value !== undefined && sameShape(target.shape, value.shape);
    if (fits) {
      pairs.push([target, value]);
      report.loaded.push(key);
    } else if (replaceable(key)) {
      report.replaced.push(key);
    } else if (value === undefined) {
      if (!optional(key)) report.missing.push(name);
    } else {
      report.misShaped.push(`${name} (expected ${shapeText(target.shape)}, got ${shapeText(value.shape)})`);
    }
  }
  return { report, pairs };
}

/** Options of Module.parameterCount. */
export interface ParameterCountOptions {
  /** Count only parameters with requiresGrad set; default false. */
  trainableOnly?: boolean;
}

const NAME_PATTERN = /^[^.]+$/;

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * A neural-network building block. Subclasses register their tensors and children in the constructor (the
 * registration order is the naming order) and implement `forward`.
 * @example
 * class Affine extends Module {
 *   readonly weight = this.registerParameter('weight', ones([3]));
 *   forward(x: Tensor): Tensor { return x.mul(this.weight); }
 * }
 */
export abstract class Module {
  /** Whether the module is in training mode (dropout active, batch norm uses batch statistics); default true. */
  training = true;

  private readonly ownParameters = new Map<string, Tensor>();
  private readonly ownBuffers = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  /** Runs the module on one input. Modules with other inputs add methods of their own. */
  abstract forward(input: Tensor): Tensor;

  private checkName(kind: string, name: string): void {
    if (!NAME_PATTERN.test(name)) {
      throw new Error(`register${kind}: name '${name}' is empty or contains '.'; use a plain name such as 'weight'`);
    }
    const taken =
      (kind !== 'Parameter' && this.ownParameters.has(name)) ||
      (kind !== 'Buffer' && this.ownBuffers.has(name)) ||
      (kind !== 'Module' && this.children.has(name));
    if (taken) {
      throw new Error(`register${kind}: name '${name}' is already used by another parameter, buffer or child module of ${this.constructor.name}; pick another name`);
    }
  }

  /**
   * Registers a trainable tensor under `name`: keeps it alive past every scope and turns on requiresGrad.
   * Registering a name again replaces (and disposes) the previous tensor.
   */
  registerParameter(name: string, value: Tensor): Tensor {
    this.checkName('Parameter', name);
    if (!value.isLeaf) {
      throw new Error(
        `registerParameter('${name}'): the tensor is the result of a recorded operation (${value.gradFn ?? 'non-leaf'}), ` +
          'but parameters must be leaves of the autograd graph; create it under noGrad() or pass value.detach()',
      );
    }
    const previous = this.ownParameters.get(name);
    keep(value);
    value.requiresGrad = true;
    this.ownParameters.set(name, value);
    if (previous !== undefined && previous !== value) previous.dispose();
    return value;
  }

  /**
   * Registers a non-trainable tensor that is part of the state (running statistics, counters): kept alive past
   * every scope. Registering a name again replaces (and disposes) the previous tensor.
   */
  registerBuffer(name: string, value: Tensor): Tensor {
    this.checkName('Buffer', name);
    const previous = this.ownBuffers.get(name);
    keep(value);
    this.ownBuffers.set(name, value);
    if (previous !== undefined && previous !== value) previous.dispose();
    return value;
  }

  /** Registers a child module under `name` (its tensors are then named `name.…`). */
  registerModule<M extends Module>(name: string, module: M): M {
    this.checkName('Module', name);
    if (module === (this as Module)) throw new Error(`registerModule('${name}'): a module cannot be its own child`);
    this.children.set(name, module);
    return module;
  }

  /** Direct children with their names, in registration order. */
  namedChildren(): [string, Module][] {
    return [...this.children.entries()];
  }

  /** Direct children, in registration order. */
  childModules(): Module[] {
    return [...this.children.values()];
  }

  /** This module (named '') and every descendant, depth first, each once, with dotted names. */
  namedModules(): [string, Module][] {
    const result: [string, Module][] = [];
    const seen = new Set<Module>();
    const visit = (prefix: string, module: Module): void => {
      if (seen.has(module)) return;
      seen.add(module);
      result.push([prefix, module]);
      for (const [name, child] of module.children) visit(prefix === '' ? name : `${prefix}.${name}`, child);
    };
    visit('', this);
    return result;
  }

  /** This module and every descendant. */
  modules(): Module[] {
    return this.namedModules().map(([, module]) => module);
  }

  private collect(kind: 'ownParameters' | 'ownBuffers'): [string, Tensor][] {
    const result: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    for (const [prefix, module] of this.namedModules()) {
      for (const [name, tensor] of module[kind]) {
        if (seen.has(tensor)) continue;
        seen.add(tensor);
        result.push([prefix === '' ? name : `${prefix}.${name}`, tensor]);
      }
    }
    return result;
  }

  /** Every parameter of the tree with its dotted name, in registration order; shared tensors appear once. */
  namedParameters(): [string, Tensor][] {
    return this.collect('ownParameters');
  }

  /** Every parameter of the tree, in registration order. */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, tensor]) => tensor);
  }

  /** Every buffer of the tree with its dotted name, in registration order. */
  namedBuffers(): [string, Tensor][] {
    return this.collect('ownBuffers');
  }

  /** Every buffer of the tree, in registration order. */
  buffers(): Tensor[] {
    return this.namedBuffers().map(([, tensor]) => tensor);
  }

  /** Sets training mode on this module and every descendant; returns this. */
  train(mode = true): this {
    for (const module of this.modules()) module.training = mode;
    return this;
  }

  /** Sets evaluation mode on this module and every descendant; returns this. */
  eval(): this {
    return this.train(false);
  }

  /** Calls `fn` on every module of the tree (children before their parent, as PyTorch's apply); returns this. */
  apply(fn: (module: Module) => void): this {
    for (const child of this.children.values()) child.apply(fn);
    fn(this);
    return this;
  }

  /**
   * Parameters and buffers by dotted name (PyTorch's state_dict keys and order: per module, its parameters, then
   * its buffers). The tensors are the module's own, not copies: do not dispose or modify them.
   */
  stateDict(): Map<string, Tensor> {
    const result = new Map<string, Tensor>();
    for (const [prefix, module] of this.namedModules()) {
      const dotted = (name: string): string => (prefix === '' ? name : `${prefix}.${name}`);
      for (const [name, tensor] of module.ownParameters) result.set(dotted(name), tensor);
      for (const [name, tensor] of module.ownBuffers) result.set(dotted(name), tensor);
    }
    return result;
  }

  /**
   * Copies values from `state` into this module's parameters and buffers in place (so references held elsewhere,
   * e.g. by an optimizer, stay valid), converting dtypes where they differ, and returns what matched. Every
   * problem is checked before anything is copied, and all are reported in one StateDictError.
   */
  loadStateDict(state: StateDictInput, options: LoadStateDictOptions = {}): StateDictReport {
    const strict = options.strict ?? true;
    const source = state instanceof Map ? state : new Map(Object.entries(state));
    const { report, pairs } = matchStateDict(this.stateDict(), source, options);
    const problems: string[] = [];
    if (strict && report.missing.length > 0) problems.push(`${report.missing.length} missing keys: ${listSome(report.missing, ', ')}`);
    if (strict && report.unexpected.length > 0) problems.push(`${report.unexpected.length} unexpected keys: ${listSome(report.unexpected, ', ')}`);
    if (report.misShaped.length > 0) problems.push(`${report.misShaped.length} mis-shaped keys: ${listSome(report.misShaped, '; ')}`);
    if (problems.length > 0) {
      const hint = options.hint ?? 'check that the model was built with the same configuration as the checkpoint' + (strict ? ', or pass { strict: false } to load only the matching keys' : '');
      throw new StateDictError(`${options.source ?? `loadStateDict(${this.constructor.name})`}: the state does not fit this module: ${problems.join('; ')}. Nothing was loaded; ${hint}.`, report);
    }
    noGrad(() => {
      for (const [target, value] of pairs) {
        if (target !== value) copy_(target, value);
      }
    });
    return report;
  }

  /**
   * Moves every parameter and buffer (and any gradient) to `target.device` and/or converts the floating-point ones
   * to `target.dtype`, in place: each tensor stays the same object, so layers, optimizers and EMAs that hold it see
   * the change (PyTorch's `module.to()`). Integer buffers (batch counters) keep their dtype. Returns this module.
   */
  to(target: { device?: string; dtype?: DType }): this {
    noGrad(() =>
      tidy(() => {
        for (const tensor of [...this.parameters(), ...this.buffers()]) {
          const dtype = target.dtype !== undefined && isFloatingDType(tensor.dtype) ? target.dtype : tensor.dtype;
          const device = target.device ?? tensor.device;
          if (dtype === tensor.dtype && device === tensor.device) continue;
          const moved = (device === tensor.device ? tensor : tensor.toDevice(device)).to(dtype);
          const grad = tensor.grad;
          setData_(tensor, moved);
          if (grad !== null) tensor.grad = (device === grad.device ? grad : grad.toDevice(device)).to(dtype);
        }
      }),
    );
    return this;
  }

  /** The device of the module's first parameter (or buffer), 'cpu' for a module without tensors. */
  get device(): string {
    return (this.parameters()[0] ?? this.buffers()[0])?.device ?? 'cpu';
  }

  /** Number of scalar parameters (elements), optionally only of those that require gradients. */
  parameterCount(options: ParameterCountOptions = {}): number {
    let count = 0;
    for (const tensor of this.parameters()) {
      if (options.trainableOnly && !tensor.requiresGrad) continue;
      count += tensor.numel;
    }
    return count;
  }

  /** Frees every parameter and buffer of the tree; the module must not be used afterwards. */
  dispose(): void {
    for (const module of this.modules()) {
      for (const tensor of module.ownParameters.values()) tensor.dispose();
      for (const tensor of module.ownBuffers.values()) tensor.dispose();
    }
  }
}
