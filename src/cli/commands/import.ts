/**
 * `effnet import`: converts torchvision or timm EfficientNet weights into effnet's safetensors format.
 *
 *   effnet import --from torchvision FILE|NAME --variant b0 [--num-classes N] --out weights.safetensors
 *
 * FILE is a local checkpoint; a NAME that is not a file is downloaded into the cache (torchvision: b0..b7; timm: a
 * hub model name such as tf_efficientnet_b0.aa_in1k).
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { downloadWeights, weightUrl } from '../../io/download.js';
import { WEIGHT_SOURCES, type WeightSource } from '../../io/key-maps.js';
import { importWeights } from '../../model-file/weights.js';
import { withFlagHint } from '../options.js';
import { saveModel } from '../../model-file/weights.js';

/** One line for `effnet --help`. */
export const summary = 'convert torchvision/timm EfficientNet weights to effnet safetensors';

const USAGE = `usage: effnet import --from torchvision|timm FILE|NAME --variant VARIANT [--num-classes N] --out OUT.safetensors

  --from          whose checkpoint it is: torchvision (.pth) or timm (.safetensors or .pth)
  FILE|NAME       a local checkpoint, or a published one to download into the cache ($EFFNET_CACHE or ~/.cache/effnet):
                  torchvision: b0..b7, v2-s, v2-m, v2-l; timm: a hub model name such as tf_efficientnet_b0.aa_in1k
  --variant       b0..b8, l2, v2-s/m/l/xl, lite0..4, v2-b0..b3; prefix tf_ (tf_b0, tf_lite0, tf_v2-b0) for TF-trained weights (TF "SAME" padding, BN
                  eps 1e-3).
                  Default: read from a timm NAME, else required.
  --num-classes   classifier outputs; when it differs from the checkpoint's, the classifier is left freshly
                  initialised (for fine-tuning). Default: the checkpoint's.
  --out           the effnet weights file to write
`;

/** The variant a timm hub name builds: `tf_efficientnet_b0.aa_in1k` → 'tf_b0', `efficientnet_lite0.ra_in1k` → 'lite0'. */
export function variantFromTimmName(name: string): string | null {
  const match = /(?:^|\/)(tf_)?efficientnet_(b\d|l2|lite[0-4])(?:[._]|$)/.exec(name);
  return match === null ? null : `${match[1] ?? ''}${match[2]}`;
}

/** Runs the command; returns the exit code. */
export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        from: { type: 'string' },
        variant: { type: 'string' },
        'num-classes': { type: 'string' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    process.stderr.write(`effnet import: ${withFlagHint((error as Error).message, USAGE)}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const fail = (message: string): number => {
    process.stderr.write(`effnet import: ${message}\n${USAGE}`);
    return 2;
  };
  const from = values.from as WeightSource | undefined;
  if (from === undefined || !WEIGHT_SOURCES.includes(from)) {
    return fail(`--from must be one of ${WEIGHT_SOURCES.join(', ')}, got ${from === undefined ? 'nothing' : `'${from}'`}`);
  }
  if (positionals.length !== 1) return fail(`expected one checkpoint FILE or NAME, got ${positionals.length}: ${positionals.join(' ')}`);
  if (values.out === undefined) return fail('--out is required (the effnet weights file to write)');
  let numClasses: number | undefined;
  if (values['num-classes'] !== undefined) {
    numClasses = Number(values['num-classes']);
    if (!Number.isInteger(numClasses) || numClasses < 1) return fail(`--num-classes must be a positive integer, got '${values['num-classes']}'`);
  }
  const input = positionals[0]!;
  let variant = values.variant ?? (from === 'timm' ? variantFromTimmName(input) : null) ?? undefined;
  if (variant === undefined && from === 'torchvision' && !existsSync(input)) variant = input;
  if (variant === undefined) return fail('--variant is required (b0..b8, v2-s/v2-m/v2-l, lite0..lite4, v2-b0..v2-b3, or tf_b0.. / tf_lite0.. / tf_v2-b0.. for TF-trained weights)');

  let file = input;
  if (!existsSync(input) && (/[\\/]/.test(input) || /\.(pth|pt|bin|safetensors)$/i.test(input))) {
    return fail(`no such file: ${input} (give an existing checkpoint, or a published name such as b0 or tf_efficientnet_b0.aa_in1k)`);
  }
  if (!existsSync(input)) {
    const url = weightUrl(from, input);
    process.stderr.write(`downloading ${url}\n`);
    file = await downloadWeights(url);
  }
  const { model, checkpointClasses, classifierReset, card } = importWeights(file, {
    from,
    variant,
    ...(numClasses === undefined ? {} : { numClasses }),
  });
  try {
    saveModel(values.out, model, { card });
  } finally {
    model.dispose();
  }
  const note = classifierReset
    ? ` (classifier re-initialised: ${numClasses} classes instead of the checkpoint's ${checkpointClasses})`
    : '';
  process.stdout.write(`wrote ${values.out}: EfficientNet-${variant} from ${from} weights ${file}${note}\n`);
  return 0;
}

/** The usage text (main.ts reads its flags to suggest the nearest one for a mistyped flag). */
export { USAGE as usage };
