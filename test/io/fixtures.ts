/** Shared helpers for the io tests: fixture paths, expected values written by scripts/fixtures/weights.py. */
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import type { HostData } from '../../src/io/host-tensor.js';

/** test/fixtures/io/ in the repository (the tests run from dist/test/io/). */
export const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/io/', import.meta.url));

/** scripts/fixtures/weights.py, whose verify-safetensors mode reads a file with an independent Python reader. */
export const WEIGHTS_SCRIPT = fileURLToPath(new URL('../../../scripts/fixtures/weights.py', import.meta.url));

/** One tensor as the fixture script described it: int64 values are decimal strings, bools 0/1, halves as float32. */
export interface ExpectedTensor {
  dtype: string;
  shape: number[];
  values: (number | string)[];
  bits?: number[] | null;
}

/** The contents of test/fixtures/io/expected.json. */
export interface Expected {
  checkpoints: Record<string, { stateDictKey: string | null; epoch?: number; tensors: Record<string, ExpectedTensor> }>;
  malicious: Record<string, { global: string }>;
  safetensors: Record<string, { metadata: Record<string, string>; tensors: Record<string, ExpectedTensor> }>;
}

/** Parsed expected.json. */
export function loadExpected(): Expected {
  return JSON.parse(readFileSync(`${FIXTURES}expected.json`, 'utf8')) as Expected;
}

/** Asserts that elements equal the expected values exactly (int64 compared as bigint). */
export function assertValues(actual: HostData | ArrayLike<number | bigint>, expected: ExpectedTensor, what: string): void {
  assert.equal(actual.length, expected.values.length, `${what}: element count`);
  for (let i = 0; i < expected.values.length; i++) {
    const want = expected.values[i]!;
    const got = (actual as ArrayLike<number | bigint>)[i]!;
    if (typeof want === 'string') assert.equal(got, BigInt(want), `${what}[${i}]`);
    else assert.equal(Number(got), want, `${what}[${i}]`);
  }
}

/** Why Python-dependent checks cannot run here, or null when /usr/bin/python3 imports torch. */
export function pythonUnavailable(): string | null {
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8', timeout: 60_000 });
  if (probe.error) return `/usr/bin/python3 is not runnable (${probe.error.message})`;
  if (probe.status !== 0) return '/usr/bin/python3 cannot import torch';
  return null;
}
