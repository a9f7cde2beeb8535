/**
 * FixRes: the fine-tune at the test size changes only the batch norms (weights, biases, running statistics) and the
 * classifier, every other tensor bit for bit as it was, and restores trainability after; a model without batch norm
 * is refused; `effnet train --fix-res` writes DIR/fixres.json whose "after" is what `effnet eval` of the final model
 * scores; flags that cannot work exit 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveModelCard } from '../../src/card/resolve.js';
import { createModelFromCard } from '../../src/card/build.js';
import { DataLoader } from '../../src/data/loader.js';
import { resolveData } from '../../src/data/spec.js';
import { Linear, Sequential } from '../../src/nn/index.js';
import { fineTuneAtTestSize, FixResError } from '../../src/train/fix-res.js';
import { runCli, tinyTrainArgs } from './cli-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'effnet-fixres-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const DATA = 'synthetic:train=64,val=32,classes=3,size=32';

test('fineTuneAtTestSize adapts only batch norms and the classifier; a model without batch norm is refused', async () => {
  const data = resolveData(DATA);
  const card = resolveModelCard({ source: { kind: 'custom', width: 0.1, depth: 0.1 }, resolution: 32, classes: data.classes });
  const model = createModelFromCard(card);
  const before = new Map([...model.stateDict()].map(([name, t]) => [name, Array.from(t.toFloat32Array())]));
  const loader = new DataLoader(data.train, { batchSize: 8, transform: { kind: 'train', size: 40, scale: [1, 1], ratio: [1, 1] }, workers: 0 });
  const loss = await fineTuneAtTestSize(model, { steps: 5, lr: 0.05, train: loader });
  assert.ok(Number.isFinite(loss));
  const changed: string[] = [];
  for (const [name, t] of model.stateDict()) {
    if (name.endsWith('num_batches_tracked')) continue;
    const now = Array.from(t.toFloat32Array());
    if (now.some((v, i) => v !== before.get(name)![i])) changed.push(name);
  }
  const isNorm = (name: string): boolean => /\.(weight|bias|running_mean|running_var)$/.test(name) && model.namedModules().some(([m, mod]) => name.startsWith(`${m}.`) && mod.constructor.name === 'BatchNorm2d' && name.split('.').length === m.split('.').length + 1);
  assert.deepEqual(changed.filter((name) => !name.startsWith('classifier.') && !isNorm(name)), [], 'a frozen tensor changed');
  assert.ok(changed.includes('classifier.1.weight'));
  assert.ok(changed.some((name) => name.endsWith('running_mean')), 'running statistics adapt to the test size');
  assert.ok(changed.some((name) => name.endsWith('.weight') && isNorm(name)), 'batch-norm weights learn');
  assert.ok(model.parameters().every((p) => p.requiresGrad), 'trainability restored');
  model.dispose();
  await loader.close();

  const plain = new Sequential(new Linear(4, 3));
  await assert.rejects(fineTuneAtTestSize(plain, { steps: 1, lr: 0.1, train: loader }), (e: Error) => e instanceof FixResError && /has no batch norm; drop --fix-res/.test(e.message));
});

test('effnet train --fix-res: fixres.json records before and after, and the final model scores "after"', async () => {
  const out = join(dir, 'run');
  const result = await runCli(tinyTrainArgs(DATA, out, 2, ['--eval-size', '40', '--fix-res', '6', '--no-ema']));
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /fix-res: 6 steps at 40px \(batch norms and classifier, lr 0\.00100, .*\): val top-1 [\d.]+% -> [\d.]+%/);
  const record = JSON.parse(readFileSync(join(out, 'fixres.json'), 'utf8')) as { size: number; before: { top1: number; loss: number }; after: { top1: number; loss: number } };
  assert.equal(record.size, 40);
  const evaluated = await runCli(['eval', '--checkpoint', out, '--json', '--workers', '0']);
  assert.equal(evaluated.code, 0, evaluated.stderr);
  const json = JSON.parse(evaluated.stdout) as { top1: number; loss: number };
  assert.equal(json.top1, record.after.top1);
  assert.ok(Math.abs(json.loss - record.after.loss) < 1e-5);

  // A finished run adapted afterwards: --fix-res may be added on a resume (it acts after training).
  const later = join(dir, 'later');
  assert.equal((await runCli(tinyTrainArgs(DATA, later, 1, ['--eval-size', '40', '--no-ema']))).code, 0);
  const adapted = await runCli(['train', '--resume', '--out', later, '--fix-res', '4', '--workers', '0']);
  assert.equal(adapted.code, 0, adapted.stderr);
  assert.match(adapted.stdout, /fix-res: 4 steps at 40px/);
  // effnet eval --eval-size scores the same images at another size (the card is unchanged).
  const at48 = await runCli(['eval', '--checkpoint', later, '--eval-size', '48', '--workers', '0']);
  assert.equal(at48.code, 0, at48.stderr);
  assert.match(at48.stdout, /eval: whole image at 48px/);
  assert.match(at48.stdout, / 32 images in /);

  for (const [extra, message] of [
    [['--fix-res-lr', '0.1'], /--fix-res-lr is the learning rate of --fix-res STEPS; add --fix-res/],
    [['--fix-res', '0'], /--fix-res must be an integer >= 1/],
    [['--fix-res', '5', '--nproc-per-node', '2'], /--fix-res runs in one process/],
  ] as const) {
    const refused = await runCli(tinyTrainArgs(DATA, join(dir, 'never'), 1, extra));
    assert.equal(refused.code, 2, `${extra.join(' ')}: ${refused.stderr}`);
    assert.match(refused.stderr, message);
  }
});
