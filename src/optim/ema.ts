/**
 * Exponential moving average of a model's weights, as the EfficientNet reference (TF's ExponentialMovingAverage
 * with num_updates) and timm's ModelEmaV2: after each optimizer step, every floating parameter is updated as
 * ema ← d·ema + (1 − d)·param with d = min(decay, (1 + n) / (10 + n)), n the number of updates so far, so short
 * runs are not dominated by the initial weights. Buffers (BN running statistics, counters) are copied as they are
 * (TF's and the reference's behaviour), or, with `buffers: 'average'`, floating buffers are averaged like the
 * parameters (timm's ModelEmaV2), so averaged weights meet averaged statistics; integer buffers are always copied.
 */
import { clone, copy_, foreachAdd_, foreachMul_, keep, noGrad, tidy, type Tensor } from '../torch/index.js';
import type { Module } from '../nn/index.js';

/** Options of ModelEma. */
export interface ModelEmaOptions {
  /** The upper bound of the decay; default 0.9999 (the paper). */
  decay?: number;
  /** Adapt the decay to short runs with min(decay, (1 + n) / (10 + n)); default true. */
  warmup?: boolean;
  /** What happens to floating buffers (BN running mean/var): 'copy' (default) or 'average' like the parameters. */
  buffers?: EmaBufferMode;
}

/** How ModelEma treats floating buffers: copied from the model, or averaged like the parameters. */
export type EmaBufferMode = 'copy' | 'average';

const FLOATING = new Set(['float32', 'float64', 'float16', 'bfloat16']);

/** What ModelEma.stateDict returns: the averaged tensors by the model's state-dict names, and the update count. */
export interface ModelEmaState {
  /** Updates applied so far. */
  updates: number;
  /** Averaged parameters and copied buffers, keyed as the model's stateDict (the EMA's own tensors, not copies). */
  tensors: Map<string, Tensor>;
}

/** The moving average of one model's state; it owns kept copies of every parameter and buffer. */
export class ModelEma {
  /** The upper bound of the decay. */
  readonly decay: number;
  /** Whether the decay follows (1 + n) / (10 + n) early on. */
  readonly warmup: boolean;
  /** How floating buffers are treated. */
  readonly buffers: EmaBufferMode;
  private count = 0;
  private readonly averaged = new Map<string, Tensor>();
  private readonly averagedNames: string[];
  private readonly copiedNames: string[];

  /** Starts the average at the model's current weights. */
  constructor(model: Module, options: ModelEmaOptions = {}) {
    const decay = options.decay ?? 0.9999;
    if (!(Number.isFinite(decay) && decay >= 0 && decay <= 1)) throw new Error(`ModelEma: decay must be a number in [0, 1], got ${decay}`);
    this.decay = decay;
    this.warmup = options.warmup ?? true;
    const buffers = options.buffers ?? 'copy';
    if (buffers !== 'copy' && buffers !== 'average') throw new Error(`ModelEma: buffers must be 'copy' or 'average', got ${String(buffers)}`);
    this.buffers = buffers;
    const parameters = model.namedParameters().map(([name]) => name);
    const paramSet = new Set(parameters);
    const state = model.stateDict();
    const bufferNames = [...state.keys()].filter((name) => !paramSet.has(name));
    const averagedBuffers = buffers === 'average' ? bufferNames.filter((name) => FLOATING.has(state.get(name)!.dtype)) : [];
    // Averaged buffers join the parameters' fused update; the rest are copied.
    this.averagedNames = [...parameters, ...averagedBuffers];
    this.copiedNames = bufferNames.filter((name) => !averagedBuffers.includes(name));
    noGrad(() => {
      for (const [name, value] of model.stateDict()) this.averaged.set(name, keep(clone(value.detach())));
    });
  }

  /** Updates applied so far. */
  get updates(): number {
    return this.count;
  }

  /** The decay the next update uses. */
  currentDecay(): number {
    return this.warmup ? Math.min(this.decay, (1 + this.count) / (10 + this.count)) : this.decay;
  }

  private sources(model: Module): { params: Tensor[]; averages: Tensor[]; buffers: [Tensor, Tensor][] } {
    const state = model.stateDict();
    const lookup = (name: string): Tensor => {
      const value = state.get(name);
      if (value === undefined) throw new Error(`ModelEma: the model has no '${name}'; update the EMA with the model it was created from`);
      return value;
    };
    return {
      params: this.averagedNames.map(lookup),
      averages: this.averagedNames.map((name) => this.averaged.get(name)!),
      buffers: this.copiedNames.map((name) => [this.averaged.get(name)!, lookup(name)]),
    };
  }

  /** Folds the model's current parameters (and floating buffers when averaging them) into the average (one fused update) and copies the other buffers. */
  update(model: Module): void {
    const decay = this.currentDecay();
    const { params, averages, buffers } = this.sources(model);
    noGrad(() =>
      tidy(() => {
        if (averages.length > 0) {
          foreachMul_(averages, decay);
          foreachAdd_(averages, params, 1 - decay);
        }
        for (const [target, source] of buffers) copy_(target, source);
      }),
    );
    this.count += 1;
  }

  /** The averaged state (the EMA's own tensors: do not dispose them) and the update count. */
  stateDict(): ModelEmaState {
    return { updates: this.count, tensors: new Map(this.averaged) };
  }

  /** Restores a state saved by stateDict() (tensors are copied into the EMA's own; the source may be freed). */
  loadStateDict(state: ModelEmaState): void {
    if (!(Number.isInteger(state.updates) && state.updates >= 0)) throw new Error(`ModelEma.loadStateDict: updates must be a non-negative integer, got ${state.updates}`);
    const problems: string[] = [];
    for (const [name, target] of this.averaged) {
      const value = state.tensors.get(name);
      if (value === undefined) problems.push(`missing '${name}'`);
      else if (value.shape.join(',') !== target.shape.join(',')) problems.push(`'${name}' has shape [${value.shape.join(', ')}], expected [${target.shape.join(', ')}]`);
    }
    for (const name of state.tensors.keys()) if (!this.averaged.has(name)) problems.push(`unexpected '${name}'`);
    if (problems.length > 0) throw new Error(`ModelEma.loadStateDict: the state does not fit this model: ${problems.join('; ')}`);
    noGrad(() => {
      for (const [name, target] of this.averaged) copy_(target, state.tensors.get(name)!);
    });
    this.count = state.updates;
  }

  /** Copies the averaged weights into `model` (e.g. an evaluation copy). */
  copyTo(model: Module): void {
    model.loadStateDict(this.averaged);
  }

  /** Frees the averaged tensors. */
  dispose(): void {
    for (const tensor of this.averaged.values()) tensor.dispose();
    this.averaged.clear();
  }
}
