/**
 * The npm packages effnet lists as optional peers (package.json `peerDependencies`, all optional), loaded on first
 * use instead of at import: `npm install effnet` alone gives the model code, the ONNX writer and `effnet/web`, and a
 * project installs beside it what it uses (README: everything, Node inference, the browser). `import 'effnet'` works
 * without any of them; a feature whose package is missing fails when it is used, with one message that names the
 * package and the command that installs it.
 */
import { createRequire } from 'node:module';
import { UserError } from './errors.js';

/** The packages effnet loads through {@link requireOptional}, and what each one is for. */
export const OPTIONAL_PACKAGES = {
  sharp: 'decoding PNG, WebP, GIF and TIFF images, and JPEGs when the libjpeg addon is not built',
  'better-sqlite3': 'the experiment store in an SQLite file: searches, scaling studies, search workers',
  'onnxruntime-node': 'running ONNX models in Node: predict, int8 export, latency-aware search',
  pg: 'the experiment store in PostgreSQL',
  'onnxruntime-web': 'serving the demo page of effnet serve-demo; a web app installs it itself',
} as const;

/** The name of one optional package. */
export type OptionalPackage = keyof typeof OPTIONAL_PACKAGES;

/** Thrown when an optional peer package a feature needs is not installed (a user error: exit code 2 on the command line). */
export class MissingPackageError extends UserError {
  override name = 'MissingPackageError';
}

/** The install line {@link MissingPackageError} suggests for a package. */
export function installCommand(name: OptionalPackage): string {
  return name === 'onnxruntime-node' ? 'ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node' : `npm install ${name}`;
}

/** The message of a {@link MissingPackageError}: what needed the package, what the package is for, how to install it. */
export function missingMessage(name: OptionalPackage, purpose: string): string {
  return `${purpose} needs the npm package '${name}', which is not installed (an optional peer dependency of effnet, for ${OPTIONAL_PACKAGES[name]}); install it: ${installCommand(name)}`;
}

const require = createRequire(import.meta.url);
const loaded = new Map<OptionalPackage, unknown>();

/** Whether `error` is Node's "cannot find module NAME" for that package itself (not for a file it requires). */
function isMissing(error: unknown, name: string): boolean {
  if (!(error instanceof Error) || (error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') return false;
  return error.message.split('\n')[0]!.includes(`'${name}'`);
}

/**
 * The package's CommonJS exports, loaded once; `purpose` names what the caller was doing, for the message.
 * A package that is installed but fails to load (a native binary built for another Node) is reported as such,
 * with its own message, rather than as missing.
 */
export function requireOptional<T>(name: OptionalPackage, purpose: string): T {
  if (loaded.has(name)) return loaded.get(name) as T;
  let module: unknown;
  try {
    module = require(name);
  } catch (error) {
    if (isMissing(error, name)) {
      throw new MissingPackageError(missingMessage(name, purpose));
    }
    throw new Error(`the npm package '${name}' is installed but does not load (${(error as Error).message.split('\n')[0]}); reinstall it: npm rebuild ${name}`);
  }
  loaded.set(name, module);
  return module as T;
}

/**
 * The file Node's `require` would load for an optional package (wherever npm put it: hoisted into the project's
 * node_modules or nested under effnet's), or null when it is not installed. For packages effnet uses as files.
 */
export function resolveOptional(name: OptionalPackage): string | null {
  try {
    return require.resolve(name);
  } catch {
    return null;
  }
}
