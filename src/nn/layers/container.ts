/** Containers of modules. */
import type { Tensor } from '../../torch/index.js';
import { Module } from '../module.js';

/** Runs its children in order, each on the previous one's output; children are named "0", "1", ... as in PyTorch. */
export class Sequential extends Module {
  private readonly layers: Module[] = [];

  constructor(...modules: Module[]) {
    super();
    for (const module of modules) this.append(module);
  }

  /** Adds a module at the end (named by its position); returns this. */
  append(module: Module): this {
    this.registerModule(String(this.layers.length), module);
    this.layers.push(module);
    return this;
  }

  /**
   * Replaces the child at `index` (PyTorch's `seq[i] = module`), keeping its name; returns the module it replaced,
   * which the caller owns (and disposes when done).
   */
  set(index: number, module: Module): Module {
    if (!Number.isInteger(index) || index < 0 || index >= this.layers.length) {
      throw new Error(`Sequential.set(${index}): index out of range for ${this.layers.length} modules`);
    }
    const previous = this.layers[index]!;
    this.registerModule(String(index), module);
    this.layers[index] = module;
    return previous;
  }

  /** Number of children. */
  get length(): number {
    return this.layers.length;
  }

  /** The child at `index` (negative counts from the end). */
  at(index: number): Module {
    const module = this.layers.at(index);
    if (module === undefined) {
      throw new Error(`Sequential.at(${index}): index out of range for ${this.layers.length} modules`);
    }
    return module;
  }

  /** The children in order. */
  [Symbol.iterator](): Iterator<Module> {
    return this.layers[Symbol.iterator]();
  }

  /** Feeds `input` through every child in order. */
  forward(input: Tensor): Tensor {
    let x = input;
    for (const module of this.layers) x = module.forward(x);
    return x;
  }
}
