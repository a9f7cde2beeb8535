/**
 * The fuzz pass's target, run as its own process by fuzz.test.ts (so that a crash, a signal or a fatal OOM is seen,
 * and the peak memory measured): `node fuzz-target.js KIND SEED COUNT FILE` reads a valid file of KIND, makes COUNT
 * seeded mutations of it (bit flips, bytes set to boundary values, little-endian integers overwritten with huge or
 * negative ones, chunks cut, duplicated or inserted, truncations) and hands each to the readers a user's command
 * would run on it. Every outcome must be a success or a user error (a UserError subclass: the documented classes);
 * anything else is printed with the mutation that caused it. Prints one JSON line: counts by outcome and the
 * unexpected errors.
 */
import { readFileSync } from 'node:fs';
import { UserError } from '../../src/errors.js';
import { decodeSafetensors } from '../../src/io/safetensors.js';
import { readTorchCheckpoint } from '../../src/io/torch-checkpoint.js';
import { cardFromMetadata } from '../../src/model-file/weights.js';
import { cardWeightsMismatch } from '../../src/card/build.js';
import { cardFromOnnxMetadata, cardGraphMismatch, readOnnxIoShapes, readOnnxMetadata } from '../../src/infer/model-info.js';
import { listTar, maybeGunzip } from '../../src/data/tar.js';
import { groupByClass } from '../../src/data/encoded-dataset.js';
import { decodeImage } from '../../src/data/image.js';
import { Rng } from '../../src/data/rng.js';

type Kind = 'safetensors' | 'onnx' | 'pth' | 'tar' | 'targz' | 'image';

/** The readers a user's command runs on a file of each kind (everything before the engine or ONNX Runtime). */
const READERS: Record<Kind, (bytes: Uint8Array) => Promise<void> | void> = {
  safetensors: (bytes) => {
    const decoded = decodeSafetensors(bytes, 'fuzzed.safetensors');
    const card = cardFromMetadata(decoded.metadata, 'fuzzed.safetensors');
    cardWeightsMismatch(card, new Map([...decoded.tensors].map(([name, t]) => [name, t.shape])));
  },
  onnx: (bytes) => {
    const card = cardFromOnnxMetadata(readOnnxMetadata(bytes, 'fuzzed.onnx'), 'fuzzed.onnx');
    cardGraphMismatch(card, readOnnxIoShapes(bytes, 'fuzzed.onnx'));
  },
  pth: (bytes) => {
    readTorchCheckpoint(bytes, 'fuzzed.pth');
  },
  tar: (bytes) => READERS.targz(bytes),
  targz: (bytes) => {
    const members = listTar(maybeGunzip(bytes, 'fuzzed.tar.gz'), 'fuzzed.tar.gz');
    groupByClass(members.map((m) => m.name), 'fuzzed.tar.gz');
  },
  image: async (bytes) => {
    await decodeImage(bytes, 'fuzzed image');
  },
};

const BOUNDARY = [0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe];
const HUGE = [0xffffffff, 0x7fffffff, 0x80000000, 0x10000000, 0xfffffff0];

function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/** One seeded mutation of `bytes` (a copy); `what` says what was done, to reproduce it. */
function mutate(bytes: Uint8Array, rng: Rng): { data: Uint8Array; what: string } {
  const n = bytes.length;
  const at = (): number => rng.int(Math.max(1, n));
  const choice = rng.int(7);
  const data = Uint8Array.from(bytes);
  switch (choice) {
    case 0: {
      const flips = 1 + rng.int(8);
      const where: number[] = [];
      for (let i = 0; i < flips; i++) {
        const p = at();
        data[p]! ^= 1 << rng.int(8);
        where.push(p);
      }
      return { data, what: `flip bits at ${where.join(',')}` };
    }
    case 1: {
      const p = at();
      const v = BOUNDARY[rng.int(BOUNDARY.length)]!;
      const length = 1 + rng.int(16);
      data.fill(v, p, Math.min(n, p + length));
      return { data, what: `set ${length} bytes at ${p} to ${v}` };
    }
    case 2: {
      const p = Math.min(at(), Math.max(0, n - 4));
      const v = HUGE[rng.int(HUGE.length)]!;
      new DataView(data.buffer).setUint32(p, v, rng.int(2) === 0);
      return { data, what: `uint32 ${v} at ${p}` };
    }
    case 3: {
      const cut = at();
      return { data: data.subarray(0, cut), what: `truncate to ${cut}` };
    }
    case 4: {
      const p = at();
      const length = 1 + rng.int(Math.min(4096, Math.max(1, n - p)));
      return { data: concat(data.subarray(0, p), data.subarray(p + length)), what: `delete ${length} at ${p}` };
    }
    case 5: {
      const from = at();
      const length = 1 + rng.int(512);
      const to = at();
      const chunk = data.slice(from, from + length);
      return { data: concat(data.subarray(0, to), chunk, data.subarray(to)), what: `duplicate ${length} from ${from} at ${to}` };
    }
    default: {
      const p = at();
      const length = 1 + rng.int(64);
      const noise = Uint8Array.from({ length }, () => rng.int(256));
      return { data: concat(data.subarray(0, p), noise, data.subarray(p)), what: `insert ${length} random bytes at ${p}` };
    }
  }
}

async function main(): Promise<void> {
  const [kind, seedText, countText, file] = process.argv.slice(2) as [Kind, string, string, string];
  if (!(kind in READERS)) throw new Error(`unknown kind ${kind}`);
  const original = readFileSync(file);
  const rng = new Rng(Number(seedText));
  const outcomes: Record<string, number> = {};
  const unexpected: string[] = [];
  await READERS[kind](original); // the unmutated file must read cleanly
  for (let i = 0; i < Number(countText); i++) {
    const { data, what } = mutate(original, rng);
    let outcome = 'ok';
    try {
      await READERS[kind](data);
    } catch (error) {
      outcome = error instanceof UserError ? error.name : `UNEXPECTED ${error instanceof Error ? error.name : typeof error}`;
      if (!(error instanceof UserError)) unexpected.push(`#${i} (${what}): ${error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 300) : String(error)}`);
    }
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  }
  process.stdout.write(`${JSON.stringify({ kind, outcomes, unexpected })}\n`);
}

await main();
