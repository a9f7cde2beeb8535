/**
 * Mixed precision through libtorch's autocast: inside {@link autocast}, the dispatcher runs the operators autocast
 * lists as lower-precision-safe (convolutions, linear, matmul) in bfloat16 or float16 and those it lists as needing
 * float32 (softmax, log_softmax, nll_loss, sums and norms on CUDA; nll_loss and friends on the CPU) in float32,
 * casting inputs as needed; parameters stay float32 and autograd casts gradients back. The state is thread-local and
 * applies to every operator call on this thread, including the binding's boxed calls, exactly as torch.autocast
 * does for Python.
 */
import { native } from './native.js';

/** Where autocast applies: libtorch keeps separate switches for CPU and CUDA operators. */
export type AutocastDevice = 'cpu' | 'cuda';

/** The lower precision of an autocast region. */
export type AutocastDType = 'bfloat16' | 'float16';

/** Options of {@link autocast}. */
export interface AutocastOptions {
  /** The device type whose operators are autocast: 'cuda' for a `cuda:N` model, 'cpu' otherwise. */
  device: AutocastDevice;
  /** bfloat16 (no loss scaling needed) or float16 (use a GradScaler). */
  dtype: AutocastDType;
  /** False runs `fn` without autocast (so callers need no branch); default true. */
  enabled?: boolean;
}

/**
 * Runs `fn` with autocast on for `options.device` at `options.dtype`, restoring the previous state afterwards (also
 * when `fn` throws). Regions nest; leaving the outermost one frees the cast copies of weights autocast cached.
 * `fn` must be synchronous: the state belongs to the thread, not to a promise.
 */
export function autocast<T>(options: AutocastOptions, fn: () => T): T {
  if (options.enabled === false) return fn();
  const previous = native.enterAutocast(options.device, options.dtype);
  try {
    const result = fn();
    if (result instanceof Promise) throw new Error('autocast(fn): fn returned a Promise; autocast regions are synchronous (the state is per thread), await outside them');
    return result;
  } finally {
    native.exitAutocast(options.device, previous.enabled, previous.dtype);
  }
}

/** Whether autocast is on for `device` on this thread, and at which dtype. */
export function autocastState(device: AutocastDevice): { enabled: boolean; dtype: string } {
  return native.autocastState(device);
}
