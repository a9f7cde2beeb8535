/**
 * `effnet eval`: top-1, top-5 and loss of a trained model on the validation images of a data spec (the same images
 * `effnet train` validated on: Fashion-MNIST's test split, a folder's val/ split or the seeded hold-out), prepared
 * with the eval transform of the model's card, as training validated them. `--predictions FILE` writes every
 * image's top-1 as JSON lines, to compare with `effnet predict` image by image.
 */
import { statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { evalTransformOf, describeCard, withEvalSize, withTta } from '../../card/model-card.js';
import { TTA_MODES } from '../../card/tta.js';
import { DataLoader } from '../../data/loader.js';
import { toChannelsLast } from '../../nn/index.js';
import { openData } from '../../data/spec.js';
import { openModel } from '../../model-file/open.js';
import { readRunDescription, type RunDescription } from '../../train/run-description.js';
import { evaluate } from '../../train/trainer.js';
import { evaluateTtaModes } from '../../train/tta-compare.js';
import { topK } from '../../infer/topk.js';
import { resolveDevice, setNumThreads } from '../../torch/index.js';
import { choiceFlag, intFlag, numberFlag, threadCountFlag, UsageError } from '../options.js';
import { printable } from '../../printable.js';

/** One line for `effnet --help`. */
export const summary = 'top-1/top-5/loss of a trained model (or a run checkpoint) on a data spec\'s validation images';

const USAGE = `usage: effnet eval --checkpoint PATH [--data SPEC] [--json] [--predictions FILE] [--batch-size B] [--ema] [--eval-size E] [--tta hflip|hflip-shift|none|compare] [--val-split F] [--threads T] [--workers W] [--device D]

  --checkpoint PATH   a run directory of effnet train, its model.safetensors, or a run checkpoint (last/best.safetensors)
  --data SPEC         fashion-mnist[:DIR], an image folder, a .tar/.tar.gz, or a CIFAR binary folder, with optional
                      ,val=N|F,seed=S,cache=memory|none (docs/training.md); its validation images are used (test
                      split, val/ folder, or the seeded hold-out of val= / --val-split). Default: the run's own
                      data and hold-out (DIR/run.json of the run directory PATH is in)
  --eval-size E       evaluate at E pixels instead of the card's eval size (same crop rule); the card is unchanged
  --tta MODE          test-time augmentation instead of the card's: hflip (logits averaged with the mirror image's),
                      hflip-shift (also both moved ±size/24 px diagonally), none; default the card's (effnet train --tta);
                      compare: every mode scored in one pass (each as --tta MODE would), to choose the card's mode
  --val-split F       hold-out fraction for data without a split (default the run's, else 0.1, as effnet train)
  --batch-size B      images per batch (default 100)
  --ema               the EMA weights (a run directory's model_ema.safetensors, or a checkpoint's EMA)
  --predictions FILE  write one JSON line per image: {"index", "image", "label", "top1", "top1Label", "probability"}
  --threads T         libtorch threads;  --workers W  loader threads (default 2)
  --device D          auto (default: the first CUDA device when the linked libtorch has CUDA, else the CPU), cpu,
                      cuda or cuda:N
  --json              print {"checkpoint", "top1", "top5", "loss", "images", "skipped"} on stdout (with --tta compare:
                      {"checkpoint", "modes": [{"tta", "top1", "top5", "loss"}, ...], "images", "skipped"})
`;

/** One image's line of `--predictions`. */
export interface PredictionLine {
  /** Index of the image in the validation set. */
  index: number;
  /** Where the image comes from (a path, an archive member, 'test[index]'). */
  image: string;
  /** Its label (class index). */
  label: number;
  /** The predicted class index. */
  top1: number;
  /** The predicted class name. */
  top1Label: string;
  /** Softmax probability of the predicted class. */
  probability: number;
}

/** The description of the run a checkpoint path belongs to (the directory itself, or the one holding the file), or null. */
function runOf(checkpoint: string): RunDescription | null {
  let dir = checkpoint;
  try {
    if (statSync(checkpoint).isFile()) dir = dirname(checkpoint);
  } catch {
    return null; // openModel says what is wrong with the path
  }
  return readRunDescription(dir);
}

/** Runs the command; returns the exit code (0 done; user errors are thrown and exit with 2 from main). */
export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      checkpoint: { type: 'string' },
      data: { type: 'string' },
      'val-split': { type: 'string' },
      'eval-size': { type: 'string' },
      tta: { type: 'string' },
      'batch-size': { type: 'string' },
      ema: { type: 'boolean', default: false },
      predictions: { type: 'string' },
      threads: { type: 'string' },
      workers: { type: 'string' },
      device: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.checkpoint === undefined) throw new UsageError('--checkpoint is required (a run directory such as runs/quickstart, or its model.safetensors)');
  // A run directory (or a file in one) that describes itself: its data and hold-out are the defaults.
  const run = runOf(values.checkpoint);
  const dataSpec = values.data ?? (typeof run?.flags.data === 'string' ? run.flags.data : undefined);
  if (dataSpec === undefined) throw new UsageError('--data is required (the spec the model was trained on, e.g. fashion-mnist); a run directory with run.json supplies it');
  const valSplitText = values['val-split'] ?? (values.data === undefined && typeof run?.flags['val-split'] === 'string' ? run.flags['val-split'] : undefined);
  const batchSize = intFlag('batch-size', values['batch-size'], 1) ?? 100;
  const workers = threadCountFlag('workers', values.workers, 0) ?? 2;
  const threads = threadCountFlag('threads', values.threads, 1);
  const valSplit = numberFlag('val-split', valSplitText, Number.MIN_VALUE, 1, true);
  const evalSize = intFlag('eval-size', values['eval-size'], 8);
  const ttaChoice = choiceFlag('tta', values.tta, [...TTA_MODES, 'none', 'compare'] as const);
  const compare = ttaChoice === 'compare';
  const tta = compare ? undefined : ttaChoice;
  if (compare && values.predictions !== undefined) throw new UsageError('--predictions writes one mode\'s predictions; give --tta MODE instead of compare');
  const device = resolveDevice(values.device ?? 'auto');
  const opened = openModel(values.checkpoint, { ema: values.ema });
  const { model, card } = opened;
  try {
    const data = await openData(dataSpec, valSplit === undefined ? {} : { valSplit });
    const names = card.classes.names;
    if (names !== null && (names.length !== data.classes.length || names.some((name, i) => name !== data.classes[i]))) {
      throw new UsageError(`the model was trained on classes [${names.join(', ')}] but ${dataSpec} has [${data.classes.join(', ')}]; evaluate it on data with the same classes`);
    }
    if (names === null && card.classes.count !== data.classes.length) {
      throw new UsageError(`the model has ${card.classes.count} outputs but ${dataSpec} has ${data.classes.length} classes`);
    }
    if (threads !== undefined) setNumThreads(threads);
    // --eval-size: the same transform at another input size (the train/test resolution discrepancy, FixRes).
    const sized = evalSize === undefined ? card : withEvalSize(card, evalSize);
    const evalCard = tta === undefined ? sized : withTta(sized, tta);
    const loader = new DataLoader(data.val, { batchSize, transform: evalTransformOf(evalCard), shuffle: false, workers });
    // evaluate() feeds channels_last batches: lay the kernels out the same way, as effnet train does (a
    // channels_last input through NCHW kernels would re-lay the kernels out at every convolution).
    model.to({ device });
    toChannelsLast(model);
    const lines: PredictionLine[] = [];
    const classNames = data.classes;
    const onLogits = (indices: Int32Array, logits: Float32Array, classes: number): void => {
      indices.forEach((index, row) => {
        const [best] = topK(logits, classNames, 1, row * classes);
        lines.push({ index, image: data.val.describe(index), label: data.val.label(index), top1: best!.index, top1Label: best!.label, probability: best!.probability });
      });
    };
    const started = performance.now();
    const where = opened.location.file + (opened.location.weights === 'ema' ? ' (EMA weights)' : '');
    if (compare) {
      let modes;
      try {
        modes = await evaluateTtaModes(model, loader, true, { onSkipped: (sample) => process.stderr.write(`effnet eval: skipped ${printable(`${sample.source}: ${sample.error}`)}\n`) });
      } finally {
        await loader.close();
      }
      const seconds = (performance.now() - started) / 1000;
      const { images, skipped } = modes[0]!.result;
      if (values.json) {
        process.stdout.write(`${JSON.stringify({ checkpoint: where, modes: modes.map(({ tta: mode, result }) => ({ tta: mode, top1: result.top1, top5: result.top5, loss: result.loss })), images, skipped })}\n`);
      } else {
        const card = evalCard.eval.tta ?? 'none';
        process.stdout.write(
          `${where} on ${data.validation}, every test-time augmentation (the card's: ${card})\n` +
            modes.map(({ tta: mode, result }) => `  ${mode.padEnd(12)} top-1 ${(result.top1 * 100).toFixed(2)}%   top-5 ${(result.top5 * 100).toFixed(2)}%   loss ${result.loss.toFixed(4)}${mode === card ? '   (the card\'s)' : ''}\n`).join('') +
            `  ${images} images in ${seconds.toFixed(1)} s; set a mode with effnet train --tta MODE (or --tta none)\n` +
            (skipped === 0 ? '' : `  SKIPPED ${skipped} images that cannot be decoded (named above); the scores are over the other ${images}\n`),
        );
      }
      return 0;
    }
    let result;
    try {
      result = await evaluate(model, loader, true, {
        ...(evalCard.eval.tta === undefined ? {} : { tta: evalCard.eval.tta }),
        ...(values.predictions === undefined ? {} : { onLogits }),
        // Scores are over the images that decoded; each one left out is named on stderr.
        onSkipped: (sample) => process.stderr.write(`effnet eval: skipped ${printable(`${sample.source}: ${sample.error}`)}\n`),
      });
    } finally {
      await loader.close();
    }
    const seconds = (performance.now() - started) / 1000;
    if (values.predictions !== undefined) writeFileSync(values.predictions, lines.map((line) => JSON.stringify(line)).join('\n') + '\n');
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ checkpoint: where, top1: result.top1, top5: result.top5, loss: result.loss, images: result.images, skipped: result.skipped })}\n`);
    } else {
      process.stdout.write(
        `${where} on ${data.validation}\n  ${describeCard(evalCard)}\n` +
          `  top-1 ${(result.top1 * 100).toFixed(2)}%   top-5 ${(result.top5 * 100).toFixed(2)}%   loss ${result.loss.toFixed(4)}   ` +
          `${result.images} images in ${seconds.toFixed(1)} s (${Math.round(result.images / seconds)} img/s)\n` +
          (result.skipped === 0 ? '' : `  SKIPPED ${result.skipped} images that cannot be decoded (named above); the scores are over the other ${result.images}\n`) +
          (values.predictions === undefined ? '' : `  per-image predictions in ${values.predictions}\n`),
      );
    }
    return 0;
  } finally {
    model.dispose();
  }
}

/** The usage text (main.ts reads its flags to suggest the nearest one for a mistyped flag). */
export { USAGE as usage };
