/**
 * `effnet oneshot train --nproc-per-node 2 --sync-bn`, as a user runs it: two ranks, each training the same path per
 * step on its half of the global batch, end at the supernet of one process with the same global batch (every shared
 * weight, running statistic and, with --sampling reinforce, the controller's state within the data-parallel
 * tolerance; the controller's probabilities in policy.json equal), with rank 0 alone printing. Without --sync-bn
 * each rank normalises with its own images: measurably elsewhere. Classifier dropout is off (--dropout 0): its masks
 * are drawn per rank.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../train/cli-helpers.js';
import { compareStates, fileValues } from './harness.js';

const SPACE = {
  name: 'tiny',
  base: ['r1_k3_s11_e1_i32_o16', 'r2_k3_s22_e6_i16_o24', 'r2_k5_s22_e6_i24_o40'],
  choices: { op: ['mbconv1', 'mbconv6', 'fused4'], kernel: [3, 5], se: [0, 0.25], skip: ['identity', 'none'], filters: [0.5, 1.0], layers: [-1, 0] },
};

/** The supernet's weights and buffers (the `model.` entries of last.safetensors, float32 and float64), in name order. */
function supernetValues(dir: string): Float32Array {
  return fileValues(join(dir, 'last.safetensors'), (name) => name.startsWith('model.'));
}

function trainArgs(space: string, out: string, extra: readonly string[]): string[] {
  return [
    'oneshot', 'train', '--data', 'synthetic:train=48,val=24,classes=3,size=32,seed=2', '--space', space, '--out', out, '--epochs', '2', '--batch-size', '8',
    '--lr', '0.002', '--dropout', '0', '--threads', '1', '--workers', '0', '--seed', '1', '--quiet', ...extra,
  ];
}

for (const sampling of ['uniform', 'reinforce'] as const) {
  test(`effnet oneshot train --sampling ${sampling} --nproc-per-node 2 --sync-bn ends at the one-process supernet`, { timeout: 300_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'effnet-oneshot-ddp-'));
    try {
      const space = join(dir, 'space.json');
      writeFileSync(space, JSON.stringify(SPACE));
      const extra = sampling === 'reinforce' ? ['--sampling', 'reinforce', '--reward-batch', '8', '--rl-delay', '0.25'] : [];
      const single = await runCli(trainArgs(space, join(dir, 'single'), extra));
      assert.equal(single.code, 0, single.stderr);
      const ranks = await runCli(trainArgs(space, join(dir, 'ranks'), [...extra, '--nproc-per-node', '2', '--sync-bn']));
      assert.equal(ranks.code, 0, ranks.stderr);
      assert.match(ranks.stdout, /data-parallel: 2 ranks \(2 on this host\), 4 images per rank per step, the same path on every rank, sync batch norm/);
      assert.equal(ranks.stdout.match(/^supernet trained in /gm)?.length, 1, 'rank 0 alone prints');
      const reference = supernetValues(join(dir, 'single'));
      const { excess, maxAbs } = compareStates(supernetValues(join(dir, 'ranks')), reference);
      console.log(`oneshot ${sampling}, 2 ranks --sync-bn vs 1 process: max |difference| ${maxAbs.toExponential(2)}`);
      assert.ok(excess <= 0, `beyond atol 1e-5 / rtol 1.3e-6 by ${excess.toExponential(2)}`);
      if (sampling === 'reinforce') {
        const policy = (d: string): { dimensions?: unknown; mostLikely: unknown; entropy: number } => JSON.parse(readFileSync(join(dir, d, 'policy.json'), 'utf8'));
        assert.deepEqual(policy('ranks').mostLikely, policy('single').mostLikely);
        assert.ok(Math.abs(policy('ranks').entropy - policy('single').entropy) < 1e-6);
      } else {
        // Without sync BN each rank normalises with its own 4 images: the supernet ends measurably elsewhere.
        const perRank = await runCli(trainArgs(space, join(dir, 'per-rank'), ['--nproc-per-node', '2']));
        assert.equal(perRank.code, 0, perRank.stderr);
        const apart = compareStates(supernetValues(join(dir, 'per-rank')), reference).maxAbs;
        assert.ok(apart > 1e-3, `without sync BN the supernet differs from one process's (${apart})`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
