/**
 * One trial (src/search/trial.ts) and the search's recipe settings: the validation top-1 a trial records is the
 * accuracy of its final weights (recomputed here from the checkpoint it leaves, with our own argmax count), whether it
 * evaluates once at the end (the default) or after every epoch; the drop-path rate of the recipe reaches the trial;
 * the default recipe and batch size are what the spec stores; searches stored before these fields keep their old
 * behaviour; a recipe's progressive learning reaches each trial at sizes relative to its resolution (epoch budgets only);
 * an interrupted trial resumed from its checkpoint ends as an uninterrupted one, and workers never resume a failed one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noGrad, tensor, tidy } from '../../src/torch/index.js';
import { createEfficientNet } from '../../src/efficientnet/index.js';
import { DataLoader } from '../../src/data/loader.js';
import { openData, type ResolvedData } from '../../src/data/spec.js';
import { loadCheckpoint } from '../../src/model-file/checkpoint.js';
import { RUN_FILES } from '../../src/model-file/run-files.js';
import { UserError } from '../../src/errors.js';
import { stagesOf, toEfficientNetConfig, type ScaledConfigJson } from '../../src/card/config-file.js';
import { gridSearchDefinition, trialSettingsFromSpec } from '../../src/search/definitions.js';
import { UsageError, parseRecipe } from '../../src/cli/search-options.js';
import { hasConverged } from '../../src/search/budget.js';
import { DEFAULT_TRIAL_BATCH_SIZE, DEFAULT_TRIAL_RECIPE, LEGACY_DROP_PATH, runTrial, type TrialSettings } from '../../src/search/trial.js';

const BASE: ScaledConfigJson = { width: 0.25, depth: 0.2, resolution: 32, dropout: 0.2 };

function settings(overrides: Partial<TrialSettings> = {}): TrialSettings {
  return { budget: { kind: 'epochs', value: 2 }, recipe: { ...DEFAULT_TRIAL_RECIPE }, batchSize: 16, seed: 0, loaderWorkers: 0, ...overrides };
}

/** The run seconds a training checkpoint recorded (null for a checkpoint without the record). */
function loadCheckpointSeconds(path: string): number | null {
  const loaded = loadCheckpoint(path);
  try {
    return (loaded.progress as { seconds?: number }).seconds ?? null;
  } finally {
    loaded.dispose();
  }
}

/** Top-1 of the weights in `checkpointPath` on `data.val`, counted here: a fresh model, eval mode, argmax vs label. */
async function checkpointTop1(checkpointPath: string, data: ResolvedData): Promise<number> {
  const model = createEfficientNet(toEfficientNetConfig(BASE), { numClasses: data.classes.length, stages: stagesOf(BASE) });
  const loaded = loadCheckpoint(checkpointPath);
  try {
    model.loadStateDict(loaded.model);
  } finally {
    loaded.dispose();
  }
  model.eval();
  const loader = new DataLoader(data.val, { batchSize: 7, transform: { kind: 'eval', size: BASE.resolution, cropPct: 1 }, shuffle: false, workers: 0 });
  let correct = 0;
  let seen = 0;
  try {
    for await (const batch of loader.epoch(0)) {
      const logits = noGrad(() => tidy(() => model.forward(tensor(batch.images, batch.shape)).toArray()));
      const classes = data.classes.length;
      batch.labels.forEach((label, i) => {
        const row = logits.slice(i * classes, (i + 1) * classes);
        if (row.indexOf(Math.max(...row)) === Number(label)) correct += 1;
      });
      seen += batch.labels.length;
    }
  } finally {
    await loader.close();
    model.dispose();
  }
  assert.equal(seen, data.val.length);
  return correct / seen;
}

test('a trial records its final weights’ validation top-1, evaluating once at the end by default or after every epoch', async () => {
  const data = await openData('synthetic:train=64,val=40,classes=4,size=32');
  for (const evalEveryEpoch of [false, true]) {
    const runDir = mkdtempSync(join(tmpdir(), 'effnet-trial-'));
    const epochs: (number | null)[] = [];
    const result = await runTrial(BASE, data, settings({ evalEveryEpoch }), runDir, { onEpoch: (m) => epochs.push(m.valTop1) });
    assert.equal(epochs.length, 2);
    if (evalEveryEpoch) {
      assert.ok(epochs.every((v) => v !== null), 'per-epoch validation when asked');
      assert.equal(result.valTop1, epochs[1]);
    } else {
      assert.deepEqual(epochs, [null, null], 'no per-epoch validation by default');
    }
    assert.equal(result.metrics.steps, 8); // 64 images / batch 16 x 2 epochs
    assert.equal(result.metrics.valImages, 40);
    // The checkpoint written after the last epoch holds the weights that were evaluated.
    const expected = await checkpointTop1(join(runDir, RUN_FILES.last), data);
    assert.ok(Math.abs(result.valTop1 - expected) < 1e-12, `evalEveryEpoch ${evalEveryEpoch}: recorded ${result.valTop1}, recomputed ${expected}`);
  }
});

test('the recipe’s drop-path rate reaches the trial; a stored recipe without it trains with the old default', async () => {
  const data = await openData('synthetic:train=32,val=8,classes=4,size=32');
  const cases: [number | undefined, number][] = [[0.3, 0.3], [0, 0], [undefined, LEGACY_DROP_PATH]];
  for (const [dropPath, expected] of cases) {
    const runDir = mkdtempSync(join(tmpdir(), 'effnet-trial-'));
    const { dropPath: _omit, ...rest } = DEFAULT_TRIAL_RECIPE;
    const recipe = dropPath === undefined ? rest : { ...rest, dropPath };
    await runTrial(BASE, data, settings({ recipe, budget: { kind: 'epochs', value: 1 } }), runDir);
    const loaded = loadCheckpoint(join(runDir, RUN_FILES.last));
    try {
      assert.equal(loaded.config.dropPath, expected);
      // Only Trainer recipe fields go to the Trainer (dropPath is the model's).
      assert.equal((loaded.config.recipe as { dropPath?: unknown }).dropPath, undefined);
    } finally {
      loaded.dispose();
    }
  }
});

test('the spec stores the default recipe and batch size under overrides; older specs keep per-epoch evaluation', () => {
  const definition = gridSearchDefinition({
    base: BASE, data: 'synthetic:train=8,val=4,classes=2,size=32', numClasses: 2, budget: '1ep', step: 0.1, tolerance: 0.1, runDir: '/tmp/unused',
    recipe: { lr: 0.05 },
  });
  const { spec } = definition;
  assert.deepEqual(spec.recipe, { optimizer: 'sgd', lr: 0.05, schedule: 'cosine', warmupEpochs: 0.2, weightDecay: 1e-5, labelSmoothing: 0.1, emaDecay: null, dropPath: 0 });
  assert.equal(spec.batchSize, DEFAULT_TRIAL_BATCH_SIZE);
  assert.equal(spec.evalEveryEpoch, false);
  assert.equal(trialSettingsFromSpec(spec).evalEveryEpoch, false);
  const { evalEveryEpoch: _omit, ...legacy } = spec;
  assert.equal(trialSettingsFromSpec(legacy).evalEveryEpoch, true);
});

test('--recipe accepts dropPath in [0, 1) and refuses anything else', () => {
  assert.deepEqual(parseRecipe('{"dropPath":0.2,"optimizer":"adamw"}'), { dropPath: 0.2, optimizer: 'adamw' });
  for (const bad of ['{"dropPath":1}', '{"dropPath":-0.1}', '{"dropPath":"0.2"}']) {
    assert.throws(() => parseRecipe(bad), (e: unknown) => e instanceof UsageError && /dropPath is the largest stochastic-depth rate/.test(e.message), bad);
  }
  assert.throws(() => parseRecipe('{"drop_path":0.2}'), (e: unknown) => e instanceof UsageError && /unknown field 'drop_path'.*dropPath/.test(e.message));
});

test('a trial is reproducible from its seed alone: the same result after other draws in the process, another seed differs', async () => {
  const data = await openData('synthetic:train=32,val=16,classes=4,size=32');
  const one = settings({ budget: { kind: 'epochs', value: 1 } });
  const weights = async (s: TrialSettings): Promise<{ top1: number; first: number[] }> => {
    const runDir = mkdtempSync(join(tmpdir(), 'effnet-trial-'));
    const result = await runTrial(BASE, data, s, runDir);
    const loaded = loadCheckpoint(join(runDir, RUN_FILES.last));
    try {
      const [, value] = [...loaded.model].find(([name]) => name.endsWith('weight'))!;
      return { top1: result.valTop1, first: [...value.toFloat32Array()].slice(0, 32) };
    } finally {
      loaded.dispose();
    }
  };
  const a = await weights(one);
  createEfficientNet(toEfficientNetConfig(BASE), { numClasses: 4, stages: stagesOf(BASE) }).dispose(); // advances the generator
  const b = await weights(one);
  assert.deepEqual(b.first, a.first, 'same seed, same trained weights, whatever ran before');
  assert.equal(b.top1, a.top1);
  const c = await weights(settings({ budget: { kind: 'epochs', value: 1 }, seed: 1 }));
  assert.notDeepEqual(c.first, a.first, 'another seed, other weights');
});

test('a converge budget scores every epoch, anneals from the first epoch the rule says over a fifth more, and stops', async () => {
  const data = await openData('synthetic:train=16,val=8,classes=2,size=32');
  const runDir = mkdtempSync(join(tmpdir(), 'effnet-trial-'));
  const curve: number[] = [];
  const rates: number[] = [];
  // A learning rate this small leaves the hold-out where it starts: the rule, not the cap (30), ends the trial.
  const recipe = { ...DEFAULT_TRIAL_RECIPE, lr: 1e-9 };
  const result = await runTrial(BASE, data, settings({ recipe, budget: { kind: 'converge', value: 30 } }), runDir, {
    onEpoch: (m) => {
      curve.push(m.valTop1!);
      rates.push(m.lr);
    },
  });
  // The reference: the rule applied to the recorded curve, epoch by epoch.
  let expected = 30;
  for (let e = 1; e <= 30; e++) {
    if (hasConverged(curve.slice(0, e))) {
      expected = e;
      break;
    }
  }
  assert.ok(expected < 30, 'a flat curve converges before the cap');
  // Then a fifth of the epochs so far (rounded, at least one) of annealing.
  const anneal = Math.max(1, Math.round(expected / 5));
  assert.equal(curve.length, expected + anneal, `ran ${curve.length} epochs; the rule says ${expected}, then ${anneal} of annealing (curve ${curve.join(', ')})`);
  assert.equal(result.metrics.epochsCompleted, expected + anneal);
  assert.equal(result.metrics.convergedAtEpoch, expected);
  assert.equal(result.metrics.annealEpochs, anneal);
  // The learning rate falls along the anneal to a small fraction of where it was, where the cosine over the cap
  // (30 epochs) would still be above half of its peak.
  const atRule = rates[expected - 1]!;
  for (let e = expected; e < rates.length; e++) assert.ok(rates[e]! < rates[e - 1]!, `epoch ${e + 1}: ${rates[e]} after ${rates[e - 1]}`);
  // The last step of the anneal's S steps runs at (1 + cos(π (S − 1) / S)) / 2 of the rate it started from (at most
  // the rule's epoch's rate: the cap's cosine only falls).
  const stepsPerEpoch = Number(result.metrics.steps) / Number(result.metrics.epochsCompleted);
  const annealSteps = anneal * stepsPerEpoch;
  const lastFactor = (1 + Math.cos((Math.PI * (annealSteps - 1)) / annealSteps)) / 2;
  assert.ok(rates.at(-1)! <= lastFactor * atRule * (1 + 1e-9) && rates.at(-1)! >= lastFactor * atRule * 0.9, `the last epoch's rate ${rates.at(-1)} against ${lastFactor} x ${atRule}`);
  assert.ok(atRule > 0.5 * 1e-9, `at the rule's epoch the cap's cosine is still high: ${atRule}`);
  assert.equal(result.valTop1, curve.at(-1));
  assert.equal(typeof result.metrics.trainTop1, 'number');
  // Progressive stages need the run's length in advance: refused with a converge budget.
  assert.throws(
    () => gridSearchDefinition({ base: BASE, data: 'synthetic:train=8,val=4,classes=2,size=32', numClasses: 2, budget: 'converge:20', step: 0.1, tolerance: 0.1, runDir: '/tmp/unused', recipe: { progressive: { stages: 2, startFraction: 0.5 } } }),
    /needs an epoch budget.*drop progressive to train until converged/,
  );
});

test('a search recipe’s progressive learning reaches every trial relative to its resolution; epoch budgets only', async () => {
  const data = await openData('synthetic:train=32,val=8,classes=4,size=32');
  const base48: ScaledConfigJson = { ...BASE, resolution: 48 }; // total stride 32 (B0's strides, as every trial)
  const firstWeights = async (recipe: TrialSettings['recipe']): Promise<{ first: number[]; recipe: unknown }> => {
    const runDir = mkdtempSync(join(tmpdir(), 'effnet-trial-'));
    await runTrial(base48, data, settings({ recipe }), runDir);
    const loaded = loadCheckpoint(join(runDir, RUN_FILES.last));
    try {
      const [, value] = [...loaded.model].find(([name]) => name.endsWith('weight'))!;
      return { first: [...value.toFloat32Array()].slice(0, 32), recipe: loaded.config.recipe };
    } finally {
      loaded.dispose();
    }
  };
  const plain = await firstWeights({ ...DEFAULT_TRIAL_RECIPE });
  const progressive = await firstWeights({ ...DEFAULT_TRIAL_RECIPE, progressive: { stages: 2, startFraction: 0.75, dropout: 0 } });
  // 0.75 x 48 px = 36 px (>= the total stride 32), growing to the trial's 48 px; dropout from 0 to the config's 0.2.
  assert.deepEqual((progressive.recipe as { progressive: unknown }).progressive, { stages: 2, size: [36, 48], dropout: [0, 0.2] });
  assert.equal((plain.recipe as { progressive?: unknown }).progressive, undefined);
  assert.notDeepEqual(progressive.first, plain.first, 'the first epoch at 36 px trains other weights');
  // A start below the network's total stride is raised to it (0.1 x 48 px = 5 px -> 32 px).
  const low = await firstWeights({ ...DEFAULT_TRIAL_RECIPE, progressive: { stages: 2, startFraction: 0.1 } });
  assert.deepEqual((low.recipe as { progressive: unknown }).progressive, { stages: 2, size: [32, 48] });
  // Stages are fractions of a known number of epochs: a minutes budget is refused, when stored and when run.
  const recipe = { ...DEFAULT_TRIAL_RECIPE, progressive: { stages: 2, startFraction: 0.5 } };
  await assert.rejects(runTrial(BASE, data, settings({ recipe, budget: { kind: 'minutes', value: 1 } }), mkdtempSync(join(tmpdir(), 'effnet-trial-'))), /needs an epoch budget/);
  assert.throws(
    () => gridSearchDefinition({ base: BASE, data: 'synthetic:train=8,val=4,classes=2,size=32', numClasses: 2, budget: '10min', step: 0.1, tolerance: 0.1, runDir: '/tmp/unused', recipe: { progressive: { stages: 2, startFraction: 0.5 } } }),
    /needs an epoch budget.*--budget 8ep/,
  );
  // More stages than epochs: refused when the search is defined, and when the trial's schedule is made.
  assert.throws(
    () => gridSearchDefinition({ base: BASE, data: 'synthetic:train=8,val=4,classes=2,size=32', numClasses: 2, budget: '2ep', step: 0.1, tolerance: 0.1, runDir: '/tmp/unused', recipe: { progressive: { stages: 3, startFraction: 0.5 } } }),
    (e: unknown) => e instanceof UserError && /3 stages do not fit in the 2-epoch budget; use at most 2 stages/.test(e.message),
  );
  await assert.rejects(runTrial(BASE, data, settings({ recipe: { ...DEFAULT_TRIAL_RECIPE, progressive: { stages: 3, startFraction: 0.5 } } }), mkdtempSync(join(tmpdir(), 'effnet-trial-'))), /3 stages do not fit in the 2-epoch budget/);
});

test('--recipe progressive: a stages/startFraction object, anything else refused with the expected form', () => {
  assert.deepEqual(parseRecipe('{"progressive":{"stages":4,"startFraction":0.67,"dropout":0}}'), { progressive: { stages: 4, startFraction: 0.67, dropout: 0 } });
  const cases: [string, RegExp][] = [
    ['{"progressive":{"stages":0,"startFraction":0.5}}', /stages must be a whole number >= 1/],
    ['{"progressive":{"stages":2,"startFraction":0}}', /startFraction .* in \(0, 1\]/],
    ['{"progressive":{"stages":2,"startFraction":1.5}}', /startFraction .* in \(0, 1\]/],
    ['{"progressive":{"stages":2,"startFraction":0.5,"dropout":1}}', /progressive.dropout is a start rate in \[0, 1\)/],
    ['{"progressive":{"stages":2,"size":16}}', /no field 'size'.*startFraction/],
    ['{"progressive":"stages=2,size=16"}', /progressive is an object such as/],
  ];
  for (const [text, message] of cases) assert.throws(() => parseRecipe(text), (e: unknown) => e instanceof UserError && message.test(e.message), text);
});

test('an interrupted trial resumed from its last checkpoint ends as an uninterrupted one, bit for bit, the stop rule and its annealing replayed', async () => {
  const data = await openData('synthetic:train=64,val=40,classes=4,size=32');
  // A cap this tiny data set cannot use up: its hold-out reaches 100% well before, after which no epoch can gain
  // and the rule fires, on any host (the curve before it differs from one machine's kernels to another's). A window
  // other than the default's, so that the resumed attempt must replay the rule with its settings' window.
  const converge = settings({ budget: { kind: 'converge', value: 30 }, convergeMinWindow: 5 });
  const finalWeights = (dir: string): Buffer => {
    const loaded = loadCheckpoint(join(dir, RUN_FILES.last));
    try {
      return Buffer.concat([...loaded.model].filter(([, t]) => t.dtype === 'float32').map(([, t]) => Buffer.from(t.toFloat32Array().buffer)));
    } finally {
      loaded.dispose();
    }
  };
  const whole = mkdtempSync(join(tmpdir(), 'effnet-trial-whole-'));
  const wholeEpochs: (number | null)[] = [];
  const expected = await runTrial(BASE, data, converge, whole, { onEpoch: (m) => wholeEpochs.push(m.valTop1) });
  const fired = expected.metrics.convergedAtEpoch as number | null;
  assert.ok(fired !== null && (expected.metrics.epochsCompleted as number) > fired + 1, `the rule fires and anneals over more than one epoch here (fired at ${fired})`);
  // The first attempt dies after the epoch following the rule's (its checkpoint written, the annealing under way).
  const interrupted = mkdtempSync(join(tmpdir(), 'effnet-trial-cut-'));
  const stopAt = fired + 1;
  await assert.rejects(
    runTrial(BASE, data, converge, interrupted, {
      onEpoch: (m) => {
        if (m.epoch === stopAt) throw new Error('killed');
      },
    }),
    /killed/,
  );
  const resumed = mkdtempSync(join(tmpdir(), 'effnet-trial-resumed-'));
  const seen: number[] = [];
  const result = await runTrial(BASE, data, converge, resumed, { resumeFrom: interrupted, onEpoch: (m) => seen.push(m.epoch) });
  assert.equal(result.valTop1, expected.valTop1);
  for (const key of ['steps', 'epochsCompleted', 'convergedAtEpoch', 'annealEpochs', 'valLoss', 'trainLoss']) assert.equal(result.metrics[key], expected.metrics[key], key);
  assert.equal(result.metrics.resumedAtEpoch, stopAt);
  assert.ok(finalWeights(resumed).equals(finalWeights(whole)), 'the final weights are bit-identical');
  assert.deepEqual(seen, Array.from({ length: wholeEpochs.length }, (_, i) => i + 1), 'every epoch reported once, the earlier ones replayed');
  const lines = readFileSync(join(resumed, RUN_FILES.metricsJsonl), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { epoch: number; valTop1: number });
  assert.deepEqual(lines.map((l) => l.valTop1), wholeEpochs, 'metrics.jsonl holds the whole history');
  assert.ok(result.wallSeconds > (loadCheckpointSeconds(join(interrupted, RUN_FILES.last)) ?? 0), 'the wall time counts the interrupted attempt');

  // A kill between the checkpoint and its epoch's metrics line: the history misses an epoch, so the trial trains
  // afresh (and, deterministic, ends the same); lines that are not epoch records ('null', a cut-off line) are skipped.
  const gap = mkdtempSync(join(tmpdir(), 'effnet-trial-gap-'));
  for (const file of [RUN_FILES.last, RUN_FILES.best]) copyFileSync(join(interrupted, file), join(gap, file));
  const cut = readFileSync(join(interrupted, RUN_FILES.metricsJsonl), 'utf8').trim().split('\n');
  writeFileSync(join(gap, RUN_FILES.metricsJsonl), `${['null', ...cut.slice(0, -1), cut.at(-1)!.slice(0, 20)].join('\n')}\n`);
  const afresh = await runTrial(BASE, data, converge, mkdtempSync(join(tmpdir(), 'effnet-trial-afresh-')), { resumeFrom: gap });
  assert.equal(afresh.metrics.resumedAtEpoch, undefined, 'not resumed');
  assert.equal(afresh.valTop1, expected.valTop1);
  assert.equal(afresh.metrics.steps, expected.metrics.steps);
});

test('a worker resumes the latest interrupted attempt it can see, and never a failed one', async () => {
  const { interruptedAttemptDir, trialRunDir, FAILED_ATTEMPT_FILE } = await import('../../src/search/worker.js');
  const root = mkdtempSync(join(tmpdir(), 'effnet-attempts-'));
  const make = (attempt: number, files: string[]): void => {
    mkdirSync(trialRunDir(root, 7, attempt), { recursive: true });
    for (const file of files) writeFileSync(join(trialRunDir(root, 7, attempt), file), 'x');
  };
  assert.equal(interruptedAttemptDir(root, { seq: 7, attempts: 1 }), null, 'a first attempt has nothing to resume');
  make(1, [RUN_FILES.last]);
  make(2, []); // killed before its first checkpoint (it had copied nothing yet)
  assert.equal(interruptedAttemptDir(root, { seq: 7, attempts: 3 }), trialRunDir(root, 7, 1));
  make(2, [RUN_FILES.last]);
  assert.equal(interruptedAttemptDir(root, { seq: 7, attempts: 3 }), trialRunDir(root, 7, 2));
  make(2, [RUN_FILES.last, FAILED_ATTEMPT_FILE]);
  assert.equal(interruptedAttemptDir(root, { seq: 7, attempts: 3 }), null, 'after a failure a retry trains afresh');
  assert.equal(trialRunDir(root, 7, 2), join(root, 'trial-007-attempt2'));
});
