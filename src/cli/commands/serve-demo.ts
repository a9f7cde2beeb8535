/**
 * `effnet serve-demo`: serves the browser demo (web/) on 127.0.0.1: pick or drop an image, see the top-5 from
 * onnxruntime-web (WebGPU when the browser has it, wasm otherwise).
 *
 *   effnet serve-demo [--port 8080] [--model MODEL]
 */
import { parseArgs } from 'node:util';
import { startDemoServer } from '../../infer/demo-server.js';
import { withFlagHint } from '../options.js';
import { modelBytes } from '../../export/model-file.js';

/** One line for `effnet --help`. */
export const summary = 'serve the browser demo (onnxruntime-web) on 127.0.0.1';

const USAGE = `usage: effnet serve-demo [--port N] [--model MODEL]

  --port    TCP port on 127.0.0.1; default 8080
  --model   the model the page loads: an .onnx file from \`effnet export\`, or a run directory / model file of
            effnet (exported in memory with its model card). Without it, the page asks for an .onnx file.
`;

/** Runs the command; serves until interrupted. */
export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { port: { type: 'string' }, model: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  } catch (error) {
    process.stderr.write(`effnet serve-demo: ${withFlagHint((error as Error).message, USAGE)}\n${USAGE}`);
    return 2;
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const port = values.port === undefined ? 8080 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`effnet serve-demo: --port must be an integer in 0..65535, got '${values.port}'\n${USAGE}`);
    return 2;
  }
  const model = values.model === undefined ? null : await modelBytes(values.model);
  const server = await startDemoServer({ port, model });
  process.stdout.write(`effnet demo at ${server.url} (model: ${values.model ?? 'none; pick an .onnx file on the page'}); Ctrl-C stops it\n`);
  await new Promise<void>((resolvePromise) => {
    const stop = (): void => {
      void server.close().then(resolvePromise);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}

/** The usage text (main.ts reads its flags to suggest the nearest one for a mistyped flag). */
export { USAGE as usage };
