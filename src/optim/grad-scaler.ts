/**
 * Loss scaling for float16 mixed precision (torch.cuda.amp.GradScaler's algorithm). Float16 gradients underflow to
 * zero below ~6e-8, so the loss is multiplied by a large scale before backward and the gradients divided by it before
 * the optimizer step. A step whose gradients hold an inf or NaN (the scale was too large) is skipped and the scale
 * halved; after `growthInterval` good steps in a row it doubles. bfloat16 has float32's range and needs none of this.
 *
 * On CUDA the unscale-and-check is libtorch's fused `_amp_foreach_non_finite_check_and_unscale_` (one kernel for all
 * gradients); elsewhere (libtorch 1.13 has no CPU kernel for it) a composite of isfinite/all and a fused multiply.
 * The scale and the growth counter are kept on the host: deciding whether to step reads `found_inf` on the host
 * anyway (as PyTorch's own GradScaler.step does), and the update rule is then a few scalar operations — the same
 * rule as libtorch's `_amp_update_scale_`, growth included only when the grown scale is finite.
 */
import { all, callOperator, foreachMul_, full, isfinite, mul, noGrad, stack, tidy, zeros, type Tensor } from '../torch/index.js';
import type { Optimizer } from './optimizer.js';

/** Options of {@link GradScaler}, with torch.cuda.amp.GradScaler's defaults. */
export interface GradScalerOptions {
  /** The first scale; default 2^16. */
  initScale?: number;
  /** Factor after `growthInterval` finite steps in a row; default 2. */
  growthFactor?: number;
  /** Factor after a step with an inf or NaN gradient; default 0.5. */
  backoffFactor?: number;
  /** Finite steps in a row before the scale grows; default 2000. */
  growthInterval?: number;
}

/** What a GradScaler keeps across checkpoints. */
export interface GradScalerState {
  /** The current scale. */
  scale: number;
  /** Finite steps in a row since the last change of the scale. */
  growthTracker: number;
  /** Steps skipped because of inf/NaN gradients, in all. */
  skippedSteps: number;
}

/** Dynamic loss scaling for float16 training; see the module comment for the algorithm. */
export class GradScaler {
  private readonly growthFactor: number;
  private readonly backoffFactor: number;
  private readonly growthInterval: number;
  private current: number;
  private tracker = 0;
  private skipped = 0;
  private foundInf: boolean | null = null;

  constructor(options: GradScalerOptions = {}) {
    this.current = options.initScale ?? 65536;
    this.growthFactor = options.growthFactor ?? 2;
    this.backoffFactor = options.backoffFactor ?? 0.5;
    this.growthInterval = options.growthInterval ?? 2000;
    if (!(this.current > 0 && Number.isFinite(this.current))) throw new Error(`GradScaler: initScale must be a finite number > 0, got ${this.current}`);
    if (!(this.growthFactor > 1)) throw new Error(`GradScaler: growthFactor must be > 1, got ${this.growthFactor}`);
    if (!(this.backoffFactor > 0 && this.backoffFactor < 1)) throw new Error(`GradScaler: backoffFactor must be in (0, 1), got ${this.backoffFactor}`);
    if (!(Number.isInteger(this.growthInterval) && this.growthInterval >= 1)) throw new Error(`GradScaler: growthInterval must be a positive integer, got ${this.growthInterval}`);
  }

  /** The current scale. */
  get scaleValue(): number {
    return this.current;
  }

  /** Steps skipped so far because a gradient was inf or NaN. */
  get skippedSteps(): number {
    return this.skipped;
  }

  /** `loss` times the scale (call backward on this). */
  scale(loss: Tensor): Tensor {
    return mul(loss, this.current);
  }

  /**
   * Divides every gradient of the optimizer's parameters by the scale, in place, and records whether any is inf or
   * NaN. Call it before clipping or inspecting gradients; step() calls it when it was not called for this step.
   */
  unscale(optimizer: Optimizer): void {
    if (this.foundInf !== null) throw new Error('GradScaler.unscale: already called since the last update(); call it once per step');
    const grads = optimizer.paramGroups.flatMap((group) => group.params.map((p) => p.grad).filter((g): g is Tensor => g !== null));
    const inverse = 1 / this.current;
    this.foundInf = noGrad(() =>
      tidy(() => {
        if (grads.length === 0) return false;
        const device = grads[0]!.device;
        if (device.startsWith('cuda') && grads.every((g) => g.device === device)) {
          const found = zeros([1], { device });
          callOperator('aten::_amp_foreach_non_finite_check_and_unscale_', grads, found, full([1], inverse, { device }));
          return found.item() !== 0;
        }
        const finite = all(stack(grads.map((g) => all(isfinite(g))))).item() !== 0;
        foreachMul_(grads, inverse);
        return !finite;
      }),
    );
  }

  /**
   * Unscales (unless unscale() was called for this step), then steps the optimizer when every gradient is finite.
   * @returns whether the optimizer stepped (false: the step was skipped)
   */
  step(optimizer: Optimizer): boolean {
    if (this.foundInf === null) this.unscale(optimizer);
    if (this.foundInf === true) return false;
    optimizer.step();
    return true;
  }

  /** Updates the scale after a step: backoff after an inf/NaN, growth after `growthInterval` finite steps in a row. */
  update(): void {
    if (this.foundInf === null) throw new Error('GradScaler.update: call step() (or unscale()) first');
    if (this.foundInf) {
      this.current *= this.backoffFactor;
      this.tracker = 0;
      this.skipped += 1;
    } else if (this.tracker + 1 === this.growthInterval) {
      // libtorch computes the grown scale in float32 and keeps the old one when that overflows.
      const grown = Math.fround(this.current * this.growthFactor);
      if (Number.isFinite(grown)) this.current = grown;
      this.tracker = 0;
    } else {
      this.tracker += 1;
    }
    this.foundInf = null;
  }

  /** The state to store in a checkpoint. */
  stateDict(): GradScalerState {
    return { scale: this.current, growthTracker: this.tracker, skippedSteps: this.skipped };
  }

  /** Restores a state from stateDict(). */
  loadStateDict(state: GradScalerState): void {
    if (!(state.scale > 0 && Number.isFinite(state.scale)) || !Number.isInteger(state.growthTracker) || state.growthTracker < 0) {
      throw new Error(`GradScaler.loadStateDict: expected { scale > 0, growthTracker >= 0 }, got ${JSON.stringify(state)}`);
    }
    this.current = state.scale;
    this.tracker = state.growthTracker;
    this.skipped = state.skippedSteps ?? 0;
    this.foundInf = null;
  }
}
