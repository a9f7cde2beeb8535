/**
 * One rank of the partial-gradient test (test/dist/partial-gradients.test.ts): `node partial-gradients-rank.js MODE
 * PORT RANK WORLD OUT`. Three parameters a, b, c (4, 3 and 2 values) in two buckets; each rank's loss is
 * (rank + 1)·Σ a·x_a + Σ c·x_c, with b off the path (no gradient). MODE `agree`: every rank leaves b out;
 * `disagree`: rank 1 uses b instead of c (what ranks that drew different paths would do). Writes to OUT a JSON object
 * with each parameter's gradient after averageGradients(..., { partial: true }) (null for none), or the error.
 */
import { writeFileSync } from 'node:fs';
import { exitWhenDone } from './harness.js';
import { ProcessGroup, add, mul, sum, tensor, tidy } from '../../src/torch/index.js';
import { averageGradients } from '../../src/distributed/index.js';

const [mode, portText, rankText, worldText, out] = process.argv.slice(2) as [string, string, string, string, string];
const rank = Number(rankText);
const worldSize = Number(worldText);

async function main(): Promise<void> {
  const a = tensor([1, 2, 3, 4], [4]).requiresGrad_();
  const b = tensor([5, 6, 7], [3]).requiresGrad_();
  const c = tensor([8, 9], [2]).requiresGrad_();
  const group = await ProcessGroup.create({ host: '127.0.0.1', port: Number(portText), rank, worldSize, hostname: '127.0.0.1', timeoutMs: 60_000 });
  const last = mode === 'disagree' && rank === 1 ? b : c;
  const lastInput = last === b ? tensor([1, 1, 1], [3]) : tensor([0.5, -1], [2]);
  tidy(() => add(mul(sum(mul(a, tensor([1, -1, 2, 0.5], [4]))), rank + 1), sum(mul(last, lastInput))).backward());
  const grads = (): { [name: string]: number[] | null } =>
    Object.fromEntries(([['a', a], ['b', b], ['c', c]] as const).map(([name, p]) => {
      const g = p.grad;
      const values = g === null ? null : [...g.toFloat32Array()];
      g?.dispose();
      return [name, values];
    }));
  let result: { grads?: { [name: string]: number[] | null }; error?: string };
  try {
    await averageGradients(group, [[c, b], [a]], { partial: true });
    result = { grads: grads() };
  } catch (error) {
    result = { error: error instanceof Error ? error.message : String(error) };
  }
  writeFileSync(out, JSON.stringify(result));
  group.destroy();
}

exitWhenDone(main());
