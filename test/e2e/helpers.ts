/**
 * End-to-end checks the way a user goes: `effnet train` → files on disk → `effnet eval --predictions` →
 * `effnet export` → `effnet predict` (on the model file and on the .onnx) → the browser page, comparing the top-1 of
 * every image across all of them. Nothing here derives an expected value from the code under test: eval's pass
 * over the data set's own pixels is compared with predict's and the page's decoding of files written to disk.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, type CliResult } from '../train/cli-helpers.js';
import type { PredictionLine } from '../../src/cli/commands/eval.js';

/** One line of `effnet eval --predictions`. */
export type EvalPrediction = PredictionLine;

/** One line of `effnet predict --json`. */
export type PredictLine = { path: string; top: { label: string; index: number; probability: number }[]; warnings: string[] } | { path: string; error: string };

/** Runs an effnet command and fails the test with its stderr unless it exits 0. */
export async function cli(args: readonly string[]): Promise<CliResult> {
  const result = await runCli(args);
  assert.equal(result.code, 0, `effnet ${args.slice(0, 3).join(' ')} ... exited ${result.code}: ${result.stderr}`);
  return result;
}

/** Reads an --predictions file into a map from validation index to line. */
export function readPredictions(path: string): Map<number, EvalPrediction> {
  const lines = readFileSync(path, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as EvalPrediction);
  return new Map(lines.map((line) => [line.index, line]));
}

/** `effnet predict MODEL FILES --json --top K` parsed, one line per file in order. */
export async function predict(model: string, files: readonly string[], top = 3): Promise<PredictLine[]> {
  const result = await cli(['predict', model, ...files, '--json', '--top', String(top), '--threads', '2']);
  return result.stdout.trim().split('\n').map((line) => JSON.parse(line) as PredictLine);
}

/**
 * Whether a classification of a file agrees with eval's top-1: the same class, or (libtorch and ONNX Runtime round
 * differently) a near-tie: the class eval chose is within `tie` of the top probability.
 */
export function agrees(evalTop1: number, top: readonly { index: number; probability: number }[], tie = 1e-3): boolean {
  if (top[0]!.index === evalTop1) return true;
  const chosen = top.find((p) => p.index === evalTop1);
  return chosen !== undefined && top[0]!.probability - chosen.probability < tie;
}

/** A file written for validation image `index`. */
export interface ImageFile {
  /** Validation index (eval's `index`). */
  index: number;
  /** The file. */
  path: string;
}

/**
 * Compares predict's lines (for `files`, in order) with eval's predictions; returns the files that disagree,
 * with a description each, so a test can assert there are none (or, for a control, that there are many).
 */
export function disagreements(files: readonly ImageFile[], lines: readonly PredictLine[], evaluated: ReadonlyMap<number, EvalPrediction>): string[] {
  assert.equal(lines.length, files.length, 'one predict line per file');
  const out: string[] = [];
  files.forEach((file, i) => {
    const line = lines[i]!;
    assert.equal(line.path, file.path);
    assert.ok(!('error' in line), `${file.path}: ${'error' in line ? line.error : ''}`);
    const reference = evaluated.get(file.index);
    assert.ok(reference !== undefined, `eval has no prediction for validation image ${file.index}`);
    if (!agrees(reference.top1, line.top)) out.push(`${file.path}: eval ${reference.top1Label} (${reference.probability.toFixed(4)}), predict ${line.top[0]!.label} (${line.top[0]!.probability.toFixed(4)})`);
  });
  return out;
}

/** The last epoch's raw validation top-1 a run recorded in metrics.jsonl. */
export function recordedTop1(run: string): number {
  const lines = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n');
  return (JSON.parse(lines[lines.length - 1]!) as { valTop1: number }).valTop1;
}

/**
 * `effnet train` of a width 0.25 / depth 0.25 custom model at `size` px on `spec` into `out` with SGD, a cosine
 * schedule and no EMA, dropout or drop-path (a short run whose raw weights are the model), two threads.
 */
export async function trainSmall(spec: string, out: string, size: number, epochs: number, batchSize: number, lr: number): Promise<void> {
  await cli([
    'train', '--model', 'custom', '--width', '0.25', '--depth', '0.25', '--image-size', String(size), '--data', spec, '--epochs', String(epochs),
    '--batch-size', String(batchSize), '--optimizer', 'sgd', '--lr', String(lr), '--schedule', 'cosine', '--no-ema', '--dropout', '0', '--drop-path', '0',
    '--workers', '0', '--threads', '2', '--out', out,
  ]);
}
