/**
 * `effnet eval`: top-1, top-5 and loss of a trained model on the validation images of a data spec (the same images
 * `effnet train` validated on: Fashion-MNIST's test split, a folder's val/ split or the seeded hold-out).
 */
import { parseArgs } from 'node:util';
import { DataLoader } from '../../data/loader.js';
import { toChannelsLast } from '../../nn/index.js';
import { DataSpecError, openData } from '../../data/spec.js';
import { openEvalModel, RunOptionsError } from '../../train/run.js';
import { evalTransform } from '../../train/small-images.js';
import { evaluate } from '../../train/trainer.js';
import { setNumThreads } from '../../torch/index.js';
import { intFlag, numberFlag, UsageError } from '../options.js';

/** One line for `effnet --help`. */
export const summary = 'top-1/top-5/loss of a trained model (or a run checkpoint) on a data spec\'s validation images';

const USAGE = `usage: effnet eval --checkpoint PATH --data SPEC [--json] [--batch-size B] [--ema] [--val-split F] [--threads T] [--workers W]

  --checkpoint PATH   a model written by effnet train (DIR/model.safetensors) or a run checkpoint (last/best.safetensors)
  --data SPEC         fashion-mnist[:DIR], an image folder, a .tar/.tar.gz, or a CIFAR binary folder, with optional
                      ,val=N|F,seed=S,cache=memory|none (docs/training.md); its validation images are used (test
                      split, val/ folder, or the seeded hold-out of val= / --val-split)
  --val-split F       hold-out fraction for data without a split (default 0.1, as effnet train)
  --batch-size B      images per batch (default 100)
  --ema               evaluate the EMA weights of a run checkpoint
  --threads T         libtorch threads;  --workers W  loader threads (default 2)
  --json              print {"checkpoint", "top1", "top5", "loss", "images"} on stdout
`;

/** Runs the command; returns the exit code (0 done, 2 bad arguments or inputs). */
export async function run(args: string[]): Promise<number> {
  let values;
  let batchSize: number;
  let workers: number;
  let valSplit: number | undefined;
  let threads: number | undefined;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        checkpoint: { type: 'string' },
        data: { type: 'string' },
        'val-split': { type: 'string' },
        'batch-size': { type: 'string' },
        ema: { type: 'boolean', default: false },
        threads: { type: 'string' },
        workers: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (values.checkpoint === undefined) throw new UsageError('--checkpoint is required (e.g. runs/quickstart/model.safetensors)');
    if (values.data === undefined) throw new UsageError('--data is required (the spec the model was trained on, e.g. fashion-mnist)');
    batchSize = intFlag('batch-size', values['batch-size'], 1) ?? 100;
    workers = intFlag('workers', values.workers, 0) ?? 2;
    threads = intFlag('threads', values.threads, 1);
    valSplit = numberFlag('val-split', values['val-split'], Number.MIN_VALUE, 1, true);
  } catch (error) {
    process.stderr.write(`effnet eval: ${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
    return 2;
  }
  let opened;
  let data;
  try {
    opened = openEvalModel(values.checkpoint, values.ema);
    data = await openData(values.data, valSplit === undefined ? {} : { valSplit });
  } catch (error) {
    opened?.model.dispose();
    if (error instanceof RunOptionsError || error instanceof DataSpecError) {
      process.stderr.write(`effnet eval: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const { model, classNames } = opened;
  try {
    if (classNames !== null && (classNames.length !== data.classes.length || classNames.some((name, i) => name !== data.classes[i]))) {
      process.stderr.write(`effnet eval: the model was trained on classes [${classNames.join(', ')}] but ${values.data} has [${data.classes.join(', ')}]; evaluate it on data with the same classes\n`);
      return 2;
    }
    if (classNames === null && model.options.numClasses !== data.classes.length) {
      process.stderr.write(`effnet eval: the model has ${model.options.numClasses} outputs but ${values.data} has ${data.classes.length} classes\n`);
      return 2;
    }
    if (threads !== undefined) setNumThreads(threads);
    const imageSize = model.config.resolution;
    const loader = new DataLoader(data.val, { batchSize, transform: evalTransform(imageSize), shuffle: false, workers });
    // evaluate() feeds channels_last batches: lay the kernels out the same way, as effnet train does (a
    // channels_last input through NCHW kernels would re-lay the kernels out at every convolution).
    toChannelsLast(model);
    let result;
    const started = performance.now();
    try {
      result = await evaluate(model, loader, true);
    } finally {
      await loader.close();
    }
    const seconds = (performance.now() - started) / 1000;
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ checkpoint: values.checkpoint, top1: result.top1, top5: result.top5, loss: result.loss, images: result.images })}\n`);
    } else {
      process.stdout.write(
        `${values.checkpoint}${values.ema ? ' (EMA weights)' : ''} on ${data.validation} at ${imageSize}px:\n` +
          `  top-1 ${(result.top1 * 100).toFixed(2)}%   top-5 ${(result.top5 * 100).toFixed(2)}%   loss ${result.loss.toFixed(4)}   ` +
          `${result.images} images in ${seconds.toFixed(1)} s (${Math.round(result.images / seconds)} img/s)\n`,
      );
    }
    return 0;
  } finally {
    model.dispose();
  }
}
