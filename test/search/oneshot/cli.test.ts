/**
 * `effnet oneshot` as a user runs it: a supernet run killed with SIGKILL after its first checkpoint and resumed with
 * `--resume` ends with the weights of an uninterrupted run (bit for bit, synthetic data); search ranks and resumes
 * from ranking.jsonl; extract writes a model file that `effnet eval` evaluates; bad input exits 2 with a message
 * (unknown subcommand, missing --data, a flag of another subcommand, a directory without a supernet, --best with
 * --candidate, a bad --kernels, --sampling or --students; fidelity without a supernet, without --out, with too few
 * candidates); the same SIGKILL/resume equality for `--sampling reinforce` (its controller's state included), with
 * its flags refused where they do not apply (no warm-up, a filter warm-up past the delay, controller flags without
 * reinforce, other settings on --resume).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCheckpoint } from '../../../src/model-file/checkpoint.js';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CLI = join(dist, 'src/cli/main.js');
const DATA = 'synthetic:train=192,val=64,classes=3,size=32,seed=5';
const SPACE = {
  name: 'tiny',
  base: ['r1_k3_s11_e1_i32_o16', 'r2_k3_s22_e6_i16_o24', 'r2_k5_s22_e6_i24_o40'],
  choices: { op: ['mbconv1', 'mbconv6', 'fused4'], kernel: [3, 5], se: [0, 0.25], skip: ['identity', 'none'], filters: [0.5, 1.0], layers: [-1, 0] },
};

function effnet(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, 'oneshot', ...args], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Each command exits 2 with a message matching its pattern. */
function expectRefusals(refusals: readonly [string[], RegExp][]): void {
  for (const [args, message] of refusals) {
    const result = effnet(args);
    assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, message, args.join(' '));
  }
}

function trainArgs(space: string, out: string): string[] {
  return ['train', '--data', DATA, '--space', space, '--out', out, '--epochs', '3', '--batch-size', '16', '--threads', '1', '--workers', '0', '--seed', '1', '--quiet'];
}

test('effnet oneshot: SIGKILL after the first checkpoint, --resume, equals the uninterrupted run; search resumes; extract evaluates', async () => {
  const root = mkdtempSync(join(tmpdir(), 'effnet-oneshot-cli-'));
  try {
    const space = join(root, 'space.json');
    writeFileSync(space, JSON.stringify(SPACE));
    const whole = join(root, 'whole');
    const done = effnet(trainArgs(space, whole));
    assert.equal(done.status, 0, done.stderr);

    const killed = join(root, 'killed');
    const child = spawn(process.execPath, [CLI, 'oneshot', ...trainArgs(space, killed)], { stdio: 'ignore', env: { ...process.env, OMP_NUM_THREADS: '1' } });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // The first checkpoint is written at the end of epoch 1; kill the process as soon as it exists.
    const last = join(killed, 'last.safetensors');
    while (!existsSync(last)) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await exited;
    const resumed = effnet([...trainArgs(space, killed), '--resume']);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stdout, /resuming/);
    const a = loadCheckpoint(join(whole, 'last.safetensors'));
    const b = loadCheckpoint(last);
    try {
      assert.equal(b.progress.step, a.progress.step);
      for (const [key, tensor] of a.model) assert.deepEqual(Array.from(b.model.get(key)!.toFloat32Array()), Array.from(tensor.toFloat32Array()), key);
    } finally {
      a.dispose();
      b.dispose();
    }

    const first = effnet(['search', '--supernet', whole, '--candidates', '6', '--val-images', '64', '--calibration', '2', '--population', '4', '--sample-size', '2', '--threads', '1', '--quiet']);
    assert.equal(first.status, 0, first.stderr);
    const more = effnet(['search', '--supernet', whole, '--candidates', '9', '--val-images', '64', '--calibration', '2', '--population', '4', '--sample-size', '2', '--threads', '1', '--quiet']);
    assert.equal(more.status, 0, more.stderr);
    assert.match(more.stdout, /resuming: 6 candidates ranked before/);
    const lines = readFileSync(join(whole, 'ranking.jsonl'), 'utf8').trim().split('\n');
    assert.equal(lines.length, 9);
    const other = effnet(['search', '--supernet', whole, '--candidates', '10', '--val-images', '64', '--calibration', '2', '--seed', '7', '--quiet']);
    assert.equal(other.status, 2);
    assert.match(other.stderr, /written by another search/);

    const model = join(root, 'best.safetensors');
    const extracted = effnet(['extract', '--supernet', whole, '--best', '--out', model, '--calibration', '2']);
    assert.equal(extracted.status, 0, extracted.stderr);
    const evaluated = spawnSync(process.execPath, [CLI, 'eval', '--checkpoint', model, '--data', DATA, '--json'], { encoding: 'utf8' });
    assert.equal(evaluated.status, 0, evaluated.stderr);
    assert.equal(JSON.parse(evaluated.stdout.trim().split('\n').pop()!).images, 64);

    const refusals: [string[], RegExp][] = [
      [['fly'], /unknown subcommand 'fly'/],
      [['train', '--out', join(root, 'x')], /--data is required/],
      [['train', '--data', DATA, '--out', join(root, 'x'), '--candidates', '3'], /--candidates is not an option of effnet oneshot train/],
      [['train', '--data', DATA, '--out', join(root, 'x'), '--kernels', 'middle'], /--kernels/],
      [['train', '--data', DATA, '--out', join(root, 'x'), '--sampling', 'greedy'], /--sampling/],
      [['train', '--data', DATA, '--out', join(root, 'x'), '--students', '3'], /--students is the number of distilled paths of --sampling sandwich/],
      [['fidelity', '--supernet', root, '--out', join(root, 'f')], /supernet\.json is missing/],
      [['fidelity', '--supernet', whole], /--out DIR is required/],
      [['fidelity', '--supernet', whole, '--out', join(root, 'f'), '--candidates', '2'], /--candidates/],
      [['search', '--supernet', root], /supernet\.json is missing/],
      [['extract', '--supernet', whole, '--best', '--candidate', '{}', '--out', model], /exclude each other/],
      [[...trainArgs(space, whole)], /already holds a supernet run/],
    ];
    expectRefusals(refusals);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('effnet oneshot train --sampling reinforce: SIGKILL after the first checkpoint, --resume, equals the uninterrupted run (controller state included); its flags are checked', async () => {
  const root = mkdtempSync(join(tmpdir(), 'effnet-oneshot-rl-'));
  try {
    const space = join(root, 'space.json');
    writeFileSync(space, JSON.stringify(SPACE));
    const rl = (out: string): string[] => [...trainArgs(space, out), '--sampling', 'reinforce', '--rl-lr', '0.05', '--reward-batch', '16'];
    const whole = join(root, 'whole');
    const done = effnet(rl(whole));
    assert.equal(done.status, 0, done.stderr);
    assert.match(done.stdout, /controller: \d+ updates/);
    const policy = JSON.parse(readFileSync(join(whole, 'policy.json'), 'utf8')) as { updates: number; mostLikely: Record<string, unknown> };
    assert.deepEqual(JSON.parse(readFileSync(join(whole, 'most-likely.json'), 'utf8')), policy.mostLikely);

    const killed = join(root, 'killed');
    const child = spawn(process.execPath, [CLI, 'oneshot', ...rl(killed)], { stdio: 'ignore', env: { ...process.env, OMP_NUM_THREADS: '1' } });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const last = join(killed, 'last.safetensors');
    while (!existsSync(last)) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await exited;
    const resumed = effnet([...rl(killed), '--resume']);
    assert.equal(resumed.status, 0, resumed.stderr);
    const a = loadCheckpoint(join(whole, 'last.safetensors'));
    const b = loadCheckpoint(last);
    try {
      assert.equal(b.progress.step, a.progress.step);
      assert.ok(a.model.has('policy.state'));
      for (const [key, tensor] of a.model) assert.deepEqual(b.model.get(key)!.toArray(), tensor.toArray(), key);
    } finally {
      a.dispose();
      b.dispose();
    }
    assert.deepEqual(JSON.parse(readFileSync(join(killed, 'policy.json'), 'utf8')), policy);
    const extracted = effnet(['extract', '--supernet', whole, '--candidate', join(whole, 'most-likely.json'), '--out', join(root, 'found.safetensors'), '--calibration', '2']);
    assert.equal(extracted.status, 0, extracted.stderr);

    const refusals: [string[], RegExp][] = [
      [[...trainArgs(space, join(root, 'x')), '--sampling', 'reinforce', '--rl-delay', '0'], /needs a warm-up/],
      [[...trainArgs(space, join(root, 'x')), '--rl-lr', '0.1'], /--rl-lr set the controller of --sampling reinforce/],
      [[...trainArgs(space, join(root, 'x')), '--sampling', 'reinforce', '--rl-warmup', 'uniform', '--rl-delay', '0.1', '--filter-warmup', '0.2'], /--filter-warmup must be in/],
      [[...trainArgs(space, join(root, 'x')), '--sampling', 'reinforce', '--rl-warmup', 'sideways'], /--rl-warmup/],
      [[...trainArgs(space, join(root, 'x')), '--sampling', 'reinforce', '--reward', 'latency'], /--reward/],
      [[...rl(killed), '--resume', '--rl-lr', '0.06'], /controller's settings differ/],
    ];
    expectRefusals(refusals);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
