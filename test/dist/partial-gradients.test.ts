/**
 * averageGradients with `partial` (a weight-sharing supernet's step trains one path): parameters without a gradient
 * on every rank stay without one and the others are averaged (against the mean computed by hand from each rank's
 * loss); ranks that disagree on which parameters have a gradient are refused on every rank, naming the parameter.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, runScript } from './harness.js';

const RANK_SCRIPT = fileURLToPath(new URL('./partial-gradients-rank.js', import.meta.url));

async function ranks(mode: string, dir: string): Promise<{ grads?: { [name: string]: number[] | null }; error?: string }[]> {
  const port = await freePort();
  const outs = [0, 1].map((rank) => join(dir, `${mode}-${rank}.json`));
  await Promise.all(outs.map((out, rank) => runScript(RANK_SCRIPT, [mode, String(port), String(rank), '2', out])));
  return outs.map((out) => JSON.parse(readFileSync(out, 'utf8')));
}

test('partial gradients: off-path parameters keep no gradient, on-path ones are averaged; ranks that disagree are refused', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-partial-'));
  try {
    const agreed = await ranks('agree', dir);
    // d/da of (rank + 1)·Σ a·x_a is (rank + 1)·x_a: the mean over ranks 0 and 1 is 1.5·x_a; c's gradient is x_c on both.
    for (const result of agreed) {
      assert.equal(result.error, undefined, result.error);
      assert.deepEqual(result.grads, { a: [1.5, -1.5, 3, 0.75], b: null, c: [0.5, -1] });
    }
    const split = await ranks('disagree', dir);
    for (const result of split) assert.match(result.error ?? '', /has a gradient on 1 of 2 ranks .*the ranks trained different paths in this step/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
