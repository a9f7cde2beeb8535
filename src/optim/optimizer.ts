/**
 * The Optimizer base class: parameter groups with their own hyper-parameters, per-parameter state, one fused
 * update per group per step, and a serialisable state (JSON-able numbers plus named tensors).
 */
import { clone, keep, noGrad, tidy, to, type Tensor } from '../torch/index.js';

/** A hyper-parameter value: numbers, flags, or short number lists (AdamW's betas). */
export type HyperValue = number | boolean | readonly number[];

/** Hyper-parameters every optimizer has. */
export interface BaseHyperParams {
  /** Learning rate. */
  lr: number;
  /** Weight-decay factor (its exact meaning depends on the optimizer). */
  weightDecay: number;
}

/** A group of parameters with its resolved hyper-parameters (defaults filled in). */
export type ParamGroup<H extends BaseHyperParams> = H & { params: Tensor[] };

/** How a group is given to an optimizer: its parameters plus any hyper-parameters that differ from the defaults. */
export type ParamGroupSpec<H extends BaseHyperParams> = Partial<H> & { params: Tensor[] };

/** The JSON part of one group in a saved optimizer state. */
export type SavedParamGroup = { [hyper: string]: HyperValue } & {
  /** Positions of the group's parameters in the order of all groups' parameters concatenated. */
  params: number[];
};

/**
 * A saved optimizer state. Parameters are identified by their position in the concatenated parameter lists of
 * all groups (as PyTorch does), so it loads into an optimizer built the same way over another copy of the model.
 * `paramGroups` and `scalars` are plain JSON; `tensors` hold the per-parameter state:
 * - `scalars["<i>.step"]`: how many updates parameter i has received (a parameter without a gradient in a step
 *   is not updated and its count does not advance);
 * - `tensors["<i>.<name>"]`: its state tensors, named as PyTorch names them (momentum_buffer; exp_avg,
 *   exp_avg_sq, max_exp_avg_sq; square_avg, grad_avg).
 * The tensors returned by stateDict() are the optimizer's own (not copies): save them, do not dispose them.
 */
export interface OptimizerState {
  /** The optimizer's class name, e.g. 'AdamW'. */
  type: string;
  /** Hyper-parameters and parameter positions of each group. */
  paramGroups: SavedParamGroup[];
  /** Per-parameter counters, keyed "<index>.<name>". */
  scalars: Record<string, number>;
  /** Per-parameter state tensors, keyed "<index>.<name>". */
  tensors: Map<string, Tensor>;
}

/** What an optimizer keeps per parameter. */
export interface ParamState {
  /** Updates received so far. */
  step: number;
  /** State tensors by PyTorch name (kept tensors owned by the optimizer). */
  tensors: Map<string, Tensor>;
}

function isTensorList(value: readonly unknown[]): value is readonly Tensor[] {
  return value.every((item) => typeof item === 'object' && item !== null && !('params' in item));
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Base of the optimizers. Subclasses implement `updateGroup`, which receives the parameters of one group that
 * have a gradient and updates them with fused `_foreach_*` operators. `step()` runs under noGrad inside one
 * memory scope, so temporaries are freed and only kept state tensors survive.
 */
export abstract class Optimizer<H extends BaseHyperParams = BaseHyperParams> {
  /** The groups, each with its parameters and hyper-parameters (change them freely, e.g. for schedules). */
  readonly paramGroups: ParamGroup<H>[];
  /** The hyper-parameters groups fall back to. */
  readonly defaults: Readonly<H>;
  private readonly state = new Map<Tensor, ParamState>();

  /**
   * @param params the parameters (one group), or groups with per-group hyper-parameters
   * @param defaults hyper-parameters for groups that do not set them
   */
  constructor(params: readonly ParamGroupSpec<H>[] | readonly Tensor[], defaults: H) {
    this.defaults = { ...defaults };
    if (params.length === 0) {
      throw new Error(`${this.constructor.name}: got an empty parameter list; pass module.parameters() or parameter groups`);
    }
    const specs: readonly ParamGroupSpec<H>[] = isTensorList(params)
      ? [{ params: [...params] } as ParamGroupSpec<H>]
      : (params as readonly ParamGroupSpec<H>[]);
    const seen = new Set<Tensor>();
    this.paramGroups = specs.map((spec, index) => {
      const group = { ...defaults, ...spec, params: [...spec.params] } as ParamGroup<H>;
      for (const key of Object.keys(spec)) {
        if (key !== 'params' && !(key in defaults)) {
          throw new Error(
            `${this.constructor.name}: parameter group ${index} sets unknown hyper-parameter '${key}'; known: ${Object.keys(defaults).join(', ')}`,
          );
        }
      }
      for (const p of group.params) {
        if (seen.has(p)) throw new Error(`${this.constructor.name}: a parameter appears in more than one group (group ${index}); give each parameter to one group only`);
        seen.add(p);
      }
      this.validate(group, index);
      return group;
    });
  }

  /** Checks one group's hyper-parameters; throws a descriptive error when one is out of range. */
  protected abstract validate(group: H, index: number): void;

  /**
   * Updates the parameters of one group that have gradients. `states[i]` belongs to `params[i]`; its `step` has
   * already been advanced for this update. Runs under noGrad inside the step's memory scope.
   */
  protected abstract updateGroup(group: H, params: Tensor[], grads: Tensor[], states: ParamState[]): void;

  /** Checks a number hyper-parameter. */
  protected static requireRange(optimizer: string, index: number, name: string, value: unknown, min: number, max = Infinity, minInclusive = true): void {
    const ok = typeof value === 'number' && Number.isFinite(value) && (minInclusive ? value >= min : value > min) && value <= max;
    if (!ok) {
      const range = `${minInclusive ? '[' : '('}${min}, ${max === Infinity ? '∞)' : `${max}]`}`;
      throw new Error(`${optimizer}: group ${index} has ${name} = ${String(value)}; expected a number in ${range}`);
    }
  }

  /** Keeps a new state tensor for `state` under `name` (the optimizer owns and later frees it). */
  protected setState(state: ParamState, name: string, value: Tensor): Tensor {
    keep(value);
    const previous = state.tensors.get(name);
    state.tensors.set(name, value);
    if (previous !== undefined && previous !== value) previous.dispose();
    return value;
  }

  private stateOf(param: Tensor): ParamState {
    let state = this.state.get(param);
    if (state === undefined) {
      state = { step: 0, tensors: new Map() };
      this.state.set(param, state);
    }
    return state;
  }

  /** Performs one update of every parameter that has a gradient; parameters whose grad is null are skipped. */
  step(): void {
    noGrad(() =>
      tidy(() => {
        for (const group of this.paramGroups) {
          const params: Tensor[] = [];
          const grads: Tensor[] = [];
          for (const param of group.params) {
            const grad = param.grad;
            if (grad === null) continue;
            params.push(param);
            grads.push(grad);
          }
          if (params.length === 0) continue;
          const states = params.map((param) => this.stateOf(param));
          for (const state of states) state.step += 1;
          this.updateGroup(group, params, grads, states);
        }
      }),
    );
  }

  /** Drops every parameter's gradient (sets it to null, as PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const group of this.paramGroups) {
      for (const param of group.params) param.grad = null;
    }
  }

  /** The first group's learning rate (schedules set every group through the setter). */
  get lr(): number {
    return this.paramGroups[0]!.lr;
  }

  /** Sets the learning rate of every group. */
  set lr(value: number) {
    if (!(typeof value === 'number' && Number.isFinite(value) && value >= 0)) {
      throw new Error(`${this.constructor.name}: lr must be a finite number >= 0, got ${String(value)}`);
    }
    for (const group of this.paramGroups) group.lr = value;
  }

  private allParams(): Tensor[] {
    return this.paramGroups.flatMap((group) => group.params);
  }

  /** The optimizer's state, in the format documented at OptimizerState (tensors not copied). */
  stateDict(): OptimizerState {
    let offset = 0;
    const paramGroups = this.paramGroups.map((group) => {
      const saved: { [key: string]: HyperValue } = {};
      for (const [key, value] of Object.entries(group)) {
        if (key === 'params') continue;
        saved[key] = Array.isArray(value) ? [...(value as number[])] : (value as HyperValue);
      }
      const indices = group.params.map((_, i) => offset + i);
      offset += group.params.length;
      return { ...saved, params: indices } as SavedParamGroup;
    });
    const scalars: Record<string, number> = {};
    const tensors = new Map<string, Tensor>();
    this.allParams().forEach((param, index) => {
      const state = this.state.get(param);
      if (state === undefined) return;
      scalars[`${index}.step`] = state.step;
      for (const [name, tensor] of state.tensors) tensors.set(`${index}.${name}`, tensor);
    });
    return { type: this.constructor.name, paramGroups, scalars, tensors };
  }

  /**
   * Restores a state saved by stateDict() of an optimizer of the same type built over the same parameter layout.
   * Hyper-parameters are taken from the saved groups; state tensors are copied (converted to each parameter's
   * device and dtype), so the source may be disposed afterwards. Everything is checked before anything changes.
   */
  loadStateDict(saved: OptimizerState): void {
    const name = this.constructor.name;
    if (saved.type !== name) {
      throw new Error(`${name}.loadStateDict: the state was saved by ${saved.type}; load it into a ${saved.type}`);
    }
    if (saved.paramGroups.length !== this.paramGroups.length) {
      throw new Error(`${name}.loadStateDict: the state has ${saved.paramGroups.length} parameter groups, this optimizer ${this.paramGroups.length}; build the optimizer with the same groups`);
    }
    const params = this.allParams();
    let offset = 0;
    saved.paramGroups.forEach((group, g) => {
      const own = this.paramGroups[g]!;
      const expected = own.params.map((_, i) => offset + i);
      offset += own.params.length;
      if (group.params.length !== expected.length || group.params.some((v, i) => v !== expected[i])) {
        throw new Error(`${name}.loadStateDict: group ${g} holds parameters [${group.params.join(', ')}] in the state but [${expected.join(', ')}] here; build the optimizer with the same groups in the same order`);
      }
      for (const key of Object.keys(group)) {
        if (key !== 'params' && !(key in this.defaults)) {
          throw new Error(`${name}.loadStateDict: group ${g} has unknown hyper-parameter '${key}'; known: ${Object.keys(this.defaults).join(', ')}`);
        }
      }
      this.validate({ ...this.defaults, ...group } as unknown as H, g);
    });
    const problems: string[] = [];
    const parsed = new Map<number, { step: number; tensors: Map<string, Tensor> }>();
    const entry = (index: number) => {
      let e = parsed.get(index);
      if (e === undefined) {
        e = { step: 0, tensors: new Map() };
        parsed.set(index, e);
      }
      return e;
    };
    const parseKey = (key: string): [number, string] | null => {
      const dot = key.indexOf('.');
      const index = Number(key.slice(0, dot));
      if (dot < 1 || !Number.isInteger(index) || index < 0 || index >= params.length) {
        problems.push(`key '${key}' does not name a parameter index below ${params.length}`);
        return null;
      }
      return [index, key.slice(dot + 1)];
    };
    for (const [key, value] of Object.entries(saved.scalars)) {
      const parsedKey = parseKey(key);
      if (parsedKey === null) continue;
      if (parsedKey[1] !== 'step' || !Number.isInteger(value) || value < 0) {
        problems.push(`scalar '${key}' = ${value} is not a step count`);
        continue;
      }
      entry(parsedKey[0]).step = value;
    }
    for (const [key, value] of saved.tensors) {
      const parsedKey = parseKey(key);
      if (parsedKey === null) continue;
      const param = params[parsedKey[0]]!;
      if (!sameShape(param.shape, value.shape)) {
        problems.push(`tensor '${key}' has shape [${value.shape.join(', ')}] but parameter ${parsedKey[0]} has [${param.shape.join(', ')}]`);
        continue;
      }
      entry(parsedKey[0]).tensors.set(parsedKey[1], value);
    }
    if (problems.length > 0) {
      throw new Error(`${name}.loadStateDict: the state does not fit this optimizer: ${problems.join('; ')}`);
    }
    saved.paramGroups.forEach((group, g) => {
      const own = this.paramGroups[g]!;
      for (const [key, value] of Object.entries(group)) {
        if (key === 'params') continue;
        (own as unknown as Record<string, unknown>)[key] = Array.isArray(value) ? [...value] : value;
      }
    });
    this.disposeState();
    noGrad(() =>
      tidy(() => {
        for (const [index, loaded] of parsed) {
          const param = params[index]!;
          const state: ParamState = { step: loaded.step, tensors: new Map() };
          for (const [key, value] of loaded.tensors) {
            // A checkpoint's tensors are on the CPU; the state lives where its parameter does.
            const placed = value.device === param.device ? value : value.toDevice(param.device);
            const copy = placed.dtype === param.dtype ? clone(placed) : to(placed, param.dtype);
            this.setState(state, key, copy);
          }
          this.state.set(param, state);
        }
      }),
    );
  }

  private disposeState(): void {
    for (const state of this.state.values()) {
      for (const tensor of state.tensors.values()) tensor.dispose();
    }
    this.state.clear();
  }

  /** Frees the optimizer's state tensors (not the parameters); the optimizer starts afresh if stepped again. */
  dispose(): void {
    this.disposeState();
  }
}
