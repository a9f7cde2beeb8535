/**
 * One rank of the process-group tests (test/torch/process-group.test.ts), run as its own process:
 * `node process-group-rank.js PORT RANK WORLD MODE`. Prints one JSON line of what it saw, or the error's message.
 * Modes: `collectives` (allreduce sum/max, broadcast, allgather, barrier against values each rank can compute),
 * `hang` (joins, then waits in an allreduce its peers never make, for the kill test), `timeout` (a short rendezvous
 * timeout the test lets expire).
 */
import { ProcessGroup, tensor } from '../../src/torch/index.js';

const [port, rank, worldSize] = process.argv.slice(2, 5).map(Number) as [number, number, number];
const mode = process.argv[5] ?? 'collectives';
const started = performance.now();

async function main(): Promise<unknown> {
  const group = await ProcessGroup.create({ host: '127.0.0.1', port, rank, worldSize, hostname: '127.0.0.1', timeoutMs: mode === 'timeout' ? 1500 : 20_000 });
  if (mode === 'hang') {
    process.stdout.write(`${JSON.stringify({ joined: rank })}\n`);
    // The idle rank (argv 6, default 0) never joins the allreduce; the test kills it while the others wait here.
    const values = tensor([1, 2, 3]);
    if (rank !== Number(process.argv[6] ?? 0)) await group.allreduce(values);
    else await new Promise(() => undefined);
    return { finished: true };
  }
  const summed = tensor([rank + 1, 10 * (rank + 1)]);
  await group.allreduce(summed, 'sum');
  const largest = tensor([rank, -rank]);
  await group.allreduce(largest, 'max');
  const broadcast = tensor([rank * 100 + 7, rank]);
  await group.broadcast(broadcast, worldSize - 1);
  const gathered = await group.allgather(tensor([rank, rank * rank]));
  await group.barrier();
  group.destroy();
  return {
    rank,
    summed: [...summed.toFloat32Array()],
    largest: [...largest.toFloat32Array()],
    broadcast: [...broadcast.toFloat32Array()],
    gathered: gathered.map((t) => [...t.toFloat32Array()]),
  };
}

main().then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0);
  },
  (error: unknown) => {
    process.stdout.write(`${JSON.stringify({ error: error instanceof Error ? error.message : String(error), afterMs: performance.now() - started })}\n`);
    process.exit(1);
  },
);
