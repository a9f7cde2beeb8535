/** Autograd switches, random seed and engine threads. */
import { native } from './native.js';

/**
 * Runs `fn` with gradient recording off on this thread (inference, optimizer updates, metrics), restoring the
 * previous mode afterwards, also when `fn` throws.
 */
export function noGrad<T>(fn: () => T): T {
  const previous = native.isGradEnabled();
  native.setGradEnabled(false);
  try {
    return fn();
  } finally {
    native.setGradEnabled(previous);
  }
}

/** Runs `fn` with gradient recording on, restoring the previous mode afterwards. */
export function enableGrad<T>(fn: () => T): T {
  const previous = native.isGradEnabled();
  native.setGradEnabled(true);
  try {
    return fn();
  } finally {
    native.setGradEnabled(previous);
  }
}

/** Whether operators record gradients on this thread now. */
export function isGradEnabled(): boolean {
  return native.isGradEnabled();
}

/** Seeds libtorch's default CPU generator (randn, dropout, bernoulli, ...). */
export function manualSeed(seed: number): void {
  native.manualSeed(seed);
}

/** Sets the number of threads libtorch's intra-op pool uses (e.g. so that P workers x threads <= cores). */
export function setNumThreads(threads: number): void {
  native.setNumThreads(threads);
}

/** The number of threads libtorch's intra-op pool uses. */
export function getNumThreads(): number {
  return native.getNumThreads();
}

/** The version of the libtorch the binding was built against. */
export function libtorchVersion(): string {
  return native.libtorchVersion;
}
