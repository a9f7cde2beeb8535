/**
 * Child process of checkpoint.test.ts: writes a large checkpoint to the path in argv[2] so that the test can
 * SIGKILL it mid-write. Not a test file itself.
 */
import { full } from '../../src/torch/index.js';
import { saveCheckpoint } from '../../src/model-file/checkpoint.js';

const path = process.argv[2]!;
const elements = Number(process.argv[3] ?? 32 * 1024 * 1024);
const big = full([elements], 7);
process.stdout.write('writing\n');
saveCheckpoint(path, {
  model: new Map([['big', big]]),
  optimizer: { type: 'SGD', paramGroups: [], scalars: {}, tensors: new Map() },
  ema: null,
  progress: { epoch: 99, step: 99, position: { epoch: 99, batch: 0 }, best: { top1: -1, epoch: -1 }, rng: { seed: 0, torchSeeding: 'test' } },
  config: { child: true },
});
process.stdout.write('done\n');
