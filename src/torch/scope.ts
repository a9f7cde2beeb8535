/**
 * Memory scopes. libtorch memory is invisible to V8's garbage collector, so tensors are freed explicitly: every
 * tensor made inside `tidy(fn)` is freed when `fn` returns, unless it is part of the result or was `keep()`-ed.
 * Tensors made outside any scope are watched by a FinalizationRegistry, a safety net only.
 */
import { native, type TensorHandle } from './native.js';

/** What a scope needs to know of a tensor; implemented by Tensor. */
export interface Scoped {
  /** The slot in the binding's table; -1 once disposed. */
  _id: TensorHandle;
  /** Kept tensors outlive every scope until disposed by hand. */
  _kept: boolean;
}

const SCOPED = Symbol.for('effnet.scoped');

/** Marks a class's instances as scope-managed tensors (for finding tensors inside results). */
export function markScoped(prototype: object): void {
  Object.defineProperty(prototype, SCOPED, { value: true });
}

function isScoped(value: unknown): value is Scoped {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[SCOPED] === true;
}

const scopes: Scoped[][] = [];

const finalizer = new FinalizationRegistry<TensorHandle>((id) => {
  // The Tensor object that owned this slot is gone without having been disposed: free its memory.
  try {
    native.dispose(id);
  } catch {
    // Already released (for example at shutdown); nothing to free.
  }
});

/** Registers a new tensor with the innermost scope, or with the safety-net finalizer when there is none. */
export function track(tensor: Scoped): void {
  const scope = scopes[scopes.length - 1];
  if (scope !== undefined) scope.push(tensor);
  else finalizer.register(tensor, tensor._id, tensor);
}

/** Stops watching a tensor that is being disposed by hand. */
export function untrack(tensor: Scoped): void {
  finalizer.unregister(tensor);
}

/** Keeps a tensor alive past the end of every enclosing scope; it must then be disposed by hand. */
export function keep<T extends Scoped>(tensor: T): T {
  if (!tensor._kept) {
    tensor._kept = true;
    // A tensor made outside any scope is registered already; registering twice would free its slot twice when
    // it is collected, and the second free could hit another tensor that reused the slot.
    finalizer.unregister(tensor);
    finalizer.register(tensor, tensor._id, tensor);
  }
  return tensor;
}

function collectTensors(value: unknown, into: Set<Scoped>, depth: number): void {
  if (depth > 4 || value === null || typeof value !== 'object') return;
  if (isScoped(value)) {
    into.add(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const item of value) collectTensors(item, into, depth + 1);
    return;
  }
  if (value instanceof Map) {
    for (const item of value.values()) collectTensors(item, into, depth + 1);
    return;
  }
  if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const item of Object.values(value)) collectTensors(item, into, depth + 1);
  }
}

// Reused buffer of the slots a scope frees, passed to the binding in one call.
let freedIds = new Int32Array(1024);

function endScope(scope: Scoped[], result: unknown): void {
  let survivors: Set<Scoped> | null = null;
  if (result !== null && typeof result === 'object') {
    survivors = new Set<Scoped>();
    collectTensors(result, survivors, 0);
  }
  const parent = scopes[scopes.length - 1];
  if (freedIds.length < scope.length) freedIds = new Int32Array(scope.length * 2);
  let count = 0;
  for (const tensor of scope) {
    if (tensor._id < 0 || tensor._kept) continue;
    if (survivors !== null && survivors.has(tensor)) {
      if (parent !== undefined) parent.push(tensor);
      else finalizer.register(tensor, tensor._id, tensor);
      continue;
    }
    freedIds[count++] = tensor._id;
    tensor._id = -1;
  }
  if (count > 0) native.disposeAll(freedIds, count);
}

/**
 * Runs `fn` in a new memory scope: tensors created inside are freed when it returns (or throws), except those in
 * its result (a tensor, or arrays/plain objects/Maps holding tensors, up to four levels deep), which move to the
 * enclosing scope, and those passed to `keep()`. `fn` must be synchronous: an async function would leave the
 * scope before its awaits resume.
 */
export function tidy<T>(fn: () => T): T {
  const scope: Scoped[] = [];
  scopes.push(scope);
  let result: T | undefined;
  try {
    result = fn();
    if (result instanceof Promise) {
      throw new Error('tidy(fn): fn returned a Promise; scopes are synchronous, so run the awaited part outside tidy()');
    }
    return result;
  } finally {
    scopes.pop();
    endScope(scope, result);
  }
}

/** How deep the scope stack is now (0 outside any scope). */
export function scopeDepth(): number {
  return scopes.length;
}

/** Tensors alive in the binding's table on this thread, for leak checks. */
export function liveTensorCount(): number {
  return native.liveTensors();
}
