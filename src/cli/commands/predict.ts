/**
 * `effnet predict`: classifies image files with onnxruntime-node.
 *
 *   effnet predict MODEL IMAGE... [--top 5] [--json] [--batch-size 32] [--threads N]
 *
 * MODEL is an .onnx file from `effnet export`, or a run directory, model file or checkpoint of effnet (exported in
 * memory with its model card). An .onnx file needs no engine (libtorch). A file that cannot be read or decoded gets
 * its own error; the other images are still classified (exit code 2 when any failed: a bad input file is the
 * user's to fix).
 */
import { parseArgs } from 'node:util';
import { classifyFiles, openClassifier, type ImageResult } from '../../infer/node.js';
import { modelBytes } from '../../export/model-file.js';
import { threadCountFlag, withFlagHint } from '../options.js';
import { printable } from '../../printable.js';

/** One line for `effnet --help`. */
export const summary = 'classify images with an exported model (.onnx) or a model file';

const USAGE = `usage: effnet predict MODEL IMAGE... [--top K] [--json] [--batch-size N] [--threads N]

  MODEL          an .onnx file from \`effnet export\`, or a run directory / model file / checkpoint of effnet
                 (exported in memory; --ema for its EMA weights)
  IMAGE...       image files (JPEG, PNG, WebP, GIF, TIFF, ...)
  --top          classes shown per image; default 5
  --json         one JSON object per line and image: {"path", "top": [{"label", "index", "probability"}], "warnings"}
                 or {"path", "error"}
  --batch-size   images per ONNX Runtime call; default 32
  --threads      ONNX Runtime intra-op threads; default all cores
  --ema          the EMA weights of a run directory or checkpoint
`;

function positiveInteger(text: string | undefined, name: string, fallback: number | undefined): number | undefined {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer, got '${text}'`);
  return value;
}

/** The human form of one result: a small table, or the error. */
export function formatResult(result: ImageResult): string {
  // Class names and paths come from files: escaped, so that none rewrites the terminal (see src/printable.ts).
  if (!result.ok) return `${printable(result.path)}\n  error: ${printable(result.error)}\n`;
  const labels = result.top.map((p) => printable(p.label));
  const width = Math.max(5, ...labels.map((label) => label.length));
  const lines = [printable(result.path), `  ${'rank'.padEnd(4)}  ${'class'.padEnd(width)}  ${'index'.padStart(5)}  probability`];
  result.top.forEach((p, i) => {
    lines.push(`  ${String(i + 1).padEnd(4)}  ${labels[i]!.padEnd(width)}  ${String(p.index).padStart(5)}  ${(p.probability * 100).toFixed(2).padStart(10)}%`);
  });
  for (const warning of result.warnings) lines.push(`  warning: ${printable(warning)}`);
  return lines.join('\n') + '\n';
}

/** Runs the command; returns the exit code. */
export async function run(args: string[]): Promise<number> {
  let parsed;
  let top: number;
  let batchSize: number;
  let threads: number | undefined;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        top: { type: 'string' },
        json: { type: 'boolean' },
        'batch-size': { type: 'string' },
        threads: { type: 'string' },
        ema: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    top = positiveInteger(parsed.values.top, 'top', 5)!;
    batchSize = positiveInteger(parsed.values['batch-size'], 'batch-size', 32)!;
    threads = threadCountFlag('threads', parsed.values.threads, 1);
  } catch (error) {
    process.stderr.write(`effnet predict: ${withFlagHint((error as Error).message, USAGE)}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length < 2) {
    process.stderr.write(`effnet predict: expected MODEL and at least one IMAGE, got ${positionals.length} arguments\n${USAGE}`);
    return 2;
  }
  const [modelPath, ...images] = positionals as [string, ...string[]];
  const bytes = await modelBytes(modelPath, { ema: values.ema ?? false });
  const classifier = await openClassifier(bytes, { source: modelPath, maxBatch: batchSize, ...(threads === undefined ? {} : { threads }) });
  try {
    const results = await classifyFiles(classifier, images, { top });
    for (const result of results) {
      if (values.json) {
        const line = result.ok ? { path: result.path, top: result.top, warnings: result.warnings } : { path: result.path, error: result.error };
        process.stdout.write(JSON.stringify(line) + '\n');
      } else {
        process.stdout.write(formatResult(result));
      }
    }
    const failed = results.filter((r) => !r.ok).length;
    if (failed > 0) process.stderr.write(`effnet predict: ${failed} of ${results.length} images could not be classified (see above)\n`);
    return failed > 0 ? 2 : 0;
  } finally {
    await classifier.release();
  }
}

/** The usage text (main.ts reads its flags to suggest the nearest one for a mistyped flag). */
export { USAGE as usage };
