/**
 * Devices: which CUDA devices the linked libtorch can use, and turning a user's `--device auto|cpu|cuda[:N]` into a
 * device string, with a clear error where CUDA is asked for and absent. With Debian's CPU libtorch every CUDA query
 * answers "none" and everything runs on the CPU unchanged; with a CUDA libtorch (LIBTORCH, docs/engine.md) the same
 * code runs on the GPU.
 */
import { UserError } from '../errors.js';
import { native } from './native.js';

/** A device as libtorch names it: 'cpu' or 'cuda:N'. */
export type Device = 'cpu' | `cuda:${number}`;

/** Thrown when a device is asked for that this libtorch or machine does not have (exit code 2 on the command line). */
export class DeviceError extends UserError {
  override name = 'DeviceError';
}

/** How many CUDA devices the linked libtorch can use (0 with a CPU build, or without a GPU and driver). */
export function cudaDeviceCount(): number {
  return native.cudaDeviceCount();
}

/** Whether at least one CUDA device is usable. */
export function cudaAvailable(): boolean {
  return cudaDeviceCount() > 0;
}

/**
 * The device of a `--device` value: 'auto' (the first CUDA device when there is one, else the CPU), 'cpu', 'cuda'
 * (device 0) or 'cuda:N'.
 * @throws DeviceError for an unknown value, or CUDA asked for where there is none (saying why: a CPU build of
 * libtorch, or no device visible)
 */
export function resolveDevice(spec: string = 'auto', count: () => number = cudaDeviceCount): Device {
  const text = spec.trim().toLowerCase();
  if (text === 'cpu') return 'cpu';
  if (text === 'auto') return count() > 0 ? 'cuda:0' : 'cpu';
  const match = /^cuda(?::(\d+))?$/.exec(text);
  if (match === null) throw new DeviceError(`unknown device '${spec}'; use auto, cpu, cuda or cuda:N`);
  const index = Number(match[1] ?? 0);
  const available = count();
  if (available === 0) {
    const why = native.cudaBuilt()
      ? 'this libtorch has CUDA but sees no device (check nvidia-smi, the driver and CUDA_VISIBLE_DEVICES)'
      : "the linked libtorch is a CPU build (Debian's libtorch-dev is); build the addon against a CUDA libtorch: LIBTORCH=/path/to/libtorch-or-pip-torch npm run build:native (docs/engine.md)";
    throw new DeviceError(`--device ${spec}: CUDA is not available here: ${why}; or use --device cpu (or auto)`);
  }
  if (index >= available) throw new DeviceError(`--device ${spec}: there ${available === 1 ? 'is 1 CUDA device' : `are ${available} CUDA devices`} (cuda:0${available > 1 ? `..cuda:${available - 1}` : ''})`);
  return `cuda:${index}`;
}

/**
 * The device of worker (or rank) number `index` of a host for a `--device` value: without a device index ('auto',
 * 'cuda'), workers spread over the host's CUDA devices round-robin (worker i on cuda:(i mod count), several sharing
 * one when there are more workers than GPUs); 'cuda:N' pins them all to N; the CPU stays the CPU.
 */
export function deviceForWorker(spec: string, index: number, count: () => number = cudaDeviceCount): Device {
  const device = resolveDevice(spec, count);
  if (!isCuda(device) || /:\d+$/.test(spec.trim())) return device;
  return `cuda:${index % count()}`;
}

/** Whether a device string names a CUDA device. */
export function isCuda(device: string): boolean {
  return device.startsWith('cuda');
}

/** Switches of libtorch's CUDA backends (no effect on the CPU). */
export interface BackendFlags {
  /** Let cuDNN time its algorithms for each new input shape and keep the fastest (fixed-shape training: faster). */
  cudnnBenchmark: boolean;
  /** Allow TF32 tensor-core math in cuDNN convolutions and cuBLAS matmuls (Ampere and later: faster, 10-bit mantissa inputs). */
  allowTF32: boolean;
}

/** Sets libtorch's CUDA backend switches (process-wide). */
export function setBackendFlags(flags: BackendFlags): void {
  native.setBackendFlags(flags.cudnnBenchmark, flags.allowTF32);
}

/** libtorch's current CUDA backend switches. */
export function backendFlags(): { cudnnBenchmark: boolean; allowTF32CuDNN: boolean; allowTF32CuBLAS: boolean } {
  return native.backendFlags();
}
