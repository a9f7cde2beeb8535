/**
 * `effnet export`: writes one of our model files as an ONNX graph for onnxruntime (Node, browser, elsewhere).
 *
 *   effnet export --checkpoint model.safetensors --out model.onnx [--image-size N]
 */
import { parseArgs } from 'node:util';
import { exportModelFile } from '../../export/model-file.js';
import type { ExportedFeatureLevel } from '../../export/efficientnet-onnx.js';
import { FEATURES_METADATA_KEY } from '../../card/model-card.js';
import { withFlagHint } from '../options.js';
import { writeFileAtomic } from '../../io/safetensors.js';

/** One line for `effnet --help`. */
export const summary = 'export a model file to ONNX (BN folded, dynamic batch, preprocessing in the metadata)';

const USAGE = `usage: effnet export --checkpoint PATH --out MODEL.onnx [--image-size N] [--ema] [--features LEVELS]

  --checkpoint   a run directory of effnet train, an effnet model file (saveModel, \`effnet import\`), or a
                 run checkpoint (last/best.safetensors); its model card goes into the ONNX metadata
  --ema          the EMA weights of a run directory or checkpoint
  --out          the .onnx file to write
  --image-size   square input side the graph is built for; default the model's resolution
                 (the spatial size is fixed in the graph, the batch size is dynamic)
  --features     a backbone instead of a classifier: comma-separated feature levels (0..4: reductions 2, 4, 8,
                 16, 32), e.g. 1,2,3,4; one output feature_<i> per level, no head or classifier
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
  const started = performance.now();
  const exported = await exportModelFile(values.checkpoint, { ema: values.ema ?? false, ...(imageSize === undefined ? {} : { imageSize }), ...(features === undefined ? {} : { features }) });
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

/** The usage text (main.ts reads its flags to suggest the nearest one for a mistyped flag). */
export { USAGE as usage };
