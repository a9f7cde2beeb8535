/**
 * `effnet export`: writes one of our model files as an ONNX graph for onnxruntime (Node, browser, elsewhere).
 *
 *   effnet export --checkpoint model.safetensors --out model.onnx [--image-size N]
 */
import { parseArgs } from 'node:util';
import { exportModelFile } from '../../export/model-file.js';
import type { ExportedFeatureLevel } from '../../export/efficientnet-onnx.js';
import { FEATURES_METADATA_KEY } from '../../card/model-card.js';
import { intFlag, threadCountFlag, UsageError, withFlagHint } from '../options.js';
import type { ModelCard } from '../../card/model-card.js';
import { DEFAULT_AUTO_AGREEMENT, DEFAULT_CALIBRATION_IMAGES, exportInt8, parseCalibrateFlag, parseCalibrationMethod, parseKeepFloat, type ExportInt8Options } from '../int8-export.js';
import { writeFileAtomic } from '../../io/safetensors.js';

/** One line for `effnet --help`. */
export const summary = 'export a model file to ONNX (BN folded, dynamic batch, preprocessing in the metadata)';

const USAGE = `usage: effnet export --checkpoint PATH --out MODEL.onnx [--image-size N] [--ema] [--features LEVELS]
       effnet export --checkpoint PATH --out MODEL.onnx --int8 --calibrate DATA[,n=N] [--calibration M] [--keep-float GROUPS] [--check N] [--sensitivity] [--threads T]

  --checkpoint   a run directory of effnet train, an effnet model file (saveModel, \`effnet import\`), or a
                 run checkpoint (last/best.safetensors); its model card goes into the ONNX metadata
  --ema          the EMA weights of a run directory or checkpoint
  --out          the .onnx file to write
  --image-size   square input side the graph is built for; default the model's resolution
                 (the spatial size is fixed in the graph, the batch size is dynamic)
  --features     a backbone instead of a classifier: comma-separated feature levels (0..4: reductions 2, 4, 8,
                 16, 32), e.g. 1,2,3,4; one output feature_<i> per level, no head or classifier

int8 (QDQ ONNX: weights int8 per output channel, activations uint8, biases int32; docs/export.md):
  --int8         write the int8 model instead of the float one (the card records how it was made)
  --calibrate    the data spec whose training images calibrate the activation ranges (its hold-out is never
                 used for that), with ,n=N images (default ${DEFAULT_CALIBRATION_IMAGES}); prepared with the card's eval transform
  --calibration  minmax (default), percentile[:P] (clip both tails at P, default 99.999) or entropy (TensorRT's KL)
  --keep-float   what stays in float: auto[:A] (default auto:${DEFAULT_AUTO_AGREEMENT}: the fewest most sensitive activation
                 tensors that bring the top-1 agreement with float on the calibration images to A), none, or
                 comma-separated parts stem, blocks, se, head, classifier (add auto to combine)
  --check N      compare with the float model on N hold-out images of the same spec (a seeded sample): top-1
                 agreement and accuracy of both (default 1000; 0: no check)
  --sensitivity  also, per part, the agreement when only that part is quantized (what to keep in float)
  --threads T    onnxruntime threads for calibration and the check (default all cores)
`;

/** Runs the command; returns the exit code. */
export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        checkpoint: { type: 'string' },
        out: { type: 'string' },
        'image-size': { type: 'string' },
        ema: { type: 'boolean' },
        features: { type: 'string' },
        int8: { type: 'boolean' },
        calibrate: { type: 'string' },
        calibration: { type: 'string' },
        'keep-float': { type: 'string' },
        check: { type: 'string' },
        sensitivity: { type: 'boolean' },
        threads: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    process.stderr.write(`effnet export: ${withFlagHint((error as Error).message, USAGE)}\n${USAGE}`);
    return 2;
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const fail = (message: string): number => {
    process.stderr.write(`effnet export: ${message}\n${USAGE}`);
    return 2;
  };
  if (values.checkpoint === undefined) return fail('--checkpoint is required (the model file to export)');
  if (values.out === undefined) return fail('--out is required (the .onnx file to write)');
  let imageSize: number | undefined;
  if (values['image-size'] !== undefined) {
    imageSize = Number(values['image-size']);
    if (!Number.isInteger(imageSize) || imageSize < 1) return fail(`--image-size must be a positive integer, got '${values['image-size']}'`);
  }
  let features: number[] | undefined;
  if (values.features !== undefined) {
    features = values.features.split(',').map((part) => Number(part.trim()));
    if (values.features.trim() === '' || features.some((level) => !Number.isInteger(level))) return fail(`--features takes comma-separated level numbers such as 1,2,3,4, got '${values.features}'`);
  }
  let int8: Omit<ExportInt8Options, 'log'> | undefined;
  const int8Flags = ['calibrate', 'calibration', 'keep-float', 'check', 'sensitivity', 'threads'] as const;
  if (values.int8) {
    if (values.calibrate === undefined) return fail('--int8 needs --calibrate DATA[,n=N] (images to calibrate the activation ranges on)');
    if (features !== undefined) return fail('--int8 writes classifiers; --features (backbones) is not quantized yet');
    try {
      parseCalibrateFlag(values.calibrate);
      const threads = threadCountFlag('threads', values.threads, 1);
      int8 = {
        calibrate: values.calibrate,
        method: parseCalibrationMethod(values.calibration ?? 'minmax'),
        keepFloat: parseKeepFloat(values['keep-float'] ?? 'auto'),
        check: intFlag('check', values.check, 0) ?? 1000,
        sensitivity: values.sensitivity ?? false,
        ...(threads === undefined ? {} : { threads }),
      };
    } catch (error) {
      if (error instanceof UsageError) return fail(error.message);
      throw error;
    }
    if (int8.sensitivity && int8.check === 0) return fail('--sensitivity measures on the --check images; give --check N with N >= 1');
  } else {
    const stray = int8Flags.find((flag) => values[flag] !== undefined);
    if (stray !== undefined) return fail(`--${stray} applies to int8 export only; add --int8`);
  }
  const started = performance.now();
  const exported = await exportModelFile(values.checkpoint, { ema: values.ema ?? false, ...(imageSize === undefined ? {} : { imageSize }), ...(features === undefined ? {} : { features }) });
  if (int8 !== undefined) return writeInt8File(values.out, exported.bytes, exported.card, exported.source, int8, started);
  writeFileAtomic(values.out, exported.bytes);
  const { card } = exported;
  const convs = exported.opCounts.get('Conv') ?? 0;
  const levels = exported.metadata.get(FEATURES_METADATA_KEY);
  if (levels !== undefined) {
    const outputs = (JSON.parse(levels) as ExportedFeatureLevel[]).map((l) => `${l.output} [${l.channels}x${l.size.join('x')}, /${l.reduction}]`);
    process.stdout.write(`exported the ${card.architecture.name} backbone from ${exported.source} at ${card.eval.size}x${card.eval.size} to ${values.out}: ${outputs.join(', ')}; ${(exported.bytes.length / 1e6).toFixed(1)} MB\n`);
    return 0;
  }
  process.stdout.write(
    `exported ${card.architecture.name} (${card.classes.count} classes) from ${exported.source} at ${card.eval.size}x${card.eval.size} to ${values.out}: ` +
      `${(exported.bytes.length / 1e6).toFixed(1)} MB, ${convs} convolutions (batch norm folded), opset 13, eval crop ${card.eval.cropPct}, ` +
      `${((performance.now() - started) / 1000).toFixed(2)} s\n`,
  );
  return 0;
}

function percent(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

/** Quantizes, writes and reports an int8 model; returns the exit code. */
async function writeInt8File(out: string, floatBytes: Uint8Array, card: ModelCard, source: string, options: Omit<ExportInt8Options, 'log'>, started: number): Promise<number> {
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const result = await exportInt8(floatBytes, card, { ...options, log });
  writeFileAtomic(out, result.bytes);
  const q = result.summary;
  const parts = [...q.quantizedPerGroup].map(([g, n]) => `${g} ${n}`).join(', ');
  process.stdout.write(
    `exported ${card.architecture.name} from ${source} as int8 to ${out}: ${(result.bytes.length / 1e6).toFixed(2)} MB (float ${(floatBytes.length / 1e6).toFixed(2)} MB), ` +
      `${q.weights} int8 weight tensors, ${q.activations} quantized activations, quantized nodes: ${parts}` +
      `${options.keepFloat.groups.length > 0 ? `; float: ${options.keepFloat.groups.join(', ')}` : ''}, ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
  );
  const floatTensors = result.card.quantization?.floatTensors ?? [];
  process.stdout.write(
    `top-1 agreement with float on the calibration images ${percent(result.calibrationAgreement)}` +
      (floatTensors.length > 0 ? `; kept in float to reach it: ${floatTensors.length} activation tensor(s) (${floatTensors.join(', ')})` : '') +
      '\n',
  );
  if (options.sensitivity && result.tensorSensitivity !== null) {
    process.stdout.write('most sensitive activation tensors (logit error with only this one quantized):\n');
    for (const row of result.tensorSensitivity.slice(0, 10)) {
      process.stdout.write(`  ${row.tensor.padEnd(24)} ${row.op.padEnd(18)} ${row.group.padEnd(10)} ${row.error.toExponential(2)}\n`);
    }
  }
  if (result.check !== null) {
    const c = result.check;
    process.stdout.write(`check on ${c.images} hold-out images: top-1 agreement with float ${percent(c.agreement)}; top-1 float ${percent(c.floatTop1)}, int8 ${percent(c.int8Top1)}\n`);
  }
  if (result.sensitivity !== null) {
    process.stdout.write('sensitivity (only this part quantized, the rest float):\n');
    for (const row of result.sensitivity) {
      process.stdout.write(row.nodes === 0 ? `  ${row.group.padEnd(10)} (none in this model)\n` : `  ${row.group.padEnd(10)} ${String(row.nodes).padStart(4)} nodes  agreement ${percent(row.agreement)}  top-1 ${percent(row.top1)}\n`);
    }
  }
  return 0;
}

/** The usage text (main.ts reads its flags to suggest the nearest one for a mistyped flag). */
export { USAGE as usage };
