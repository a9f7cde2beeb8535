/**
 * `effnet demo`: trains a small ConvNet on Fashion-MNIST for a few hundred steps with a progress bar, then prints
 * its accuracy on the 10,000 test images. A smoke test of the whole engine (binding, autograd, nn, optim, scopes).
 */
import { parseArgs } from 'node:util';
import { trainDemo, type DemoResult } from '../../demo/train.js';
import { FASHION_MNIST_DIR } from '../../data/idx.js';

/** One line for `effnet --help`. */
export const summary = 'train a small ConvNet on Fashion-MNIST for a few hundred steps and report test accuracy';

const USAGE = `usage: effnet demo [--steps N] [--batch-size B] [--seed S] [--threads T] [--lr LR] [--data DIR] [--json]

  --steps N        training steps (default 400)
  --batch-size B   images per step (default 64)
  --seed S         seed of the initialisation and the data order (default 0)
  --threads T      libtorch threads (default: libtorch's own setting)
  --lr LR          peak learning rate of SGD with Nesterov momentum (default 0.1)
  --data DIR       folder with the Fashion-MNIST IDX files (default ${FASHION_MNIST_DIR})
  --contiguous     train in NCHW rather than channels_last (slower on CPU)
  --json           print the result as one JSON object on stdout
`;

function integerOption(name: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`demo: --${name} must be an integer >= ${min}, got '${text}'`);
  }
  return value;
}

function report(result: DemoResult): string {
  return [
    `test accuracy ${(result.testAccuracy * 100).toFixed(2)}% on 10,000 Fashion-MNIST test images`,
    `  ${result.steps} steps of ${result.batchSize} images, ${result.parameters.toLocaleString('en-US')} parameters, seed ${result.seed}, ${result.threads} thread(s), ${result.memoryFormat}`,
    `  train ${result.trainSeconds.toFixed(1)} s (${Math.round(result.imagesPerSecond)} img/s), final loss ${result.finalLoss.toFixed(4)}, ` +
      `train accuracy ${(result.trainAccuracy * 100).toFixed(1)}%; eval ${result.evalSeconds.toFixed(1)} s`,
  ].join('\n');
}

/** Runs the command; returns the exit code (0 success, 2 bad arguments). */
export async function run(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        steps: { type: 'string' },
        'batch-size': { type: 'string' },
        seed: { type: 'string' },
        threads: { type: 'string' },
        lr: { type: 'string' },
        data: { type: 'string' },
        contiguous: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    process.stderr.write(`effnet demo: ${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  let options;
  try {
    const lr = values.lr === undefined ? undefined : Number(values.lr);
    if (lr !== undefined && !(Number.isFinite(lr) && lr > 0)) throw new Error(`demo: --lr must be a number > 0, got '${values.lr}'`);
    options = {
      steps: integerOption('steps', values.steps, 1),
      batchSize: integerOption('batch-size', values['batch-size'], 1),
      seed: integerOption('seed', values.seed, 0),
      threads: integerOption('threads', values.threads, 1),
      lr,
      dataDir: values.data,
      channelsLast: !values.contiguous,
    };
  } catch (error) {
    process.stderr.write(`effnet ${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
    return 2;
  }
  const result = trainDemo(options);
  process.stdout.write(values.json ? `${JSON.stringify(result)}\n` : `${report(result)}\n`);
  return 0;
}
