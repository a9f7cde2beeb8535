/**
 * torchrun's worker environment: read as torchrun writes it (its documented variables), refused with the variable
 * named when incomplete or inconsistent, and written back by the launcher so that the two agree. Plus the launcher
 * flags' parsing: what is kept from the user's command line, and --rdzv.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readWorkerEnvironment, workerVariables } from '../../src/distributed/index.js';
import { parseRendezvous, withoutLauncherFlags } from '../../src/cli/commands/train-launch.js';

test('torchrun\'s variables (as `torchrun --nnodes 2 --nproc-per-node 4` sets them for its rank 5) read and written back', () => {
  const torchrun = { RANK: '5', WORLD_SIZE: '8', LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '4', GROUP_RANK: '1', MASTER_ADDR: '10.0.0.1', MASTER_PORT: '29500', TORCHELASTIC_RESTART_COUNT: '2' };
  const worker = readWorkerEnvironment(torchrun);
  assert.deepEqual(worker, { rank: 5, worldSize: 8, localRank: 1, localWorldSize: 4, masterAddr: '10.0.0.1', masterPort: 29500, restartCount: 2, agentStore: false });
  assert.deepEqual(workerVariables(worker!), torchrun);
  assert.equal(readWorkerEnvironment({}), null, 'no RANK and no WORLD_SIZE: one process');
  // Defaults torchrun's minimal use leaves: one host, no restarts.
  assert.deepEqual(readWorkerEnvironment({ RANK: '1', WORLD_SIZE: '2', MASTER_ADDR: 'h', MASTER_PORT: '1' }), { rank: 1, worldSize: 2, localRank: 1, localWorldSize: 2, masterAddr: 'h', masterPort: 1, restartCount: 0, agentStore: false });
  // torchrun's agent serves the store itself and says so.
  assert.equal(readWorkerEnvironment({ RANK: '0', WORLD_SIZE: '2', MASTER_ADDR: 'h', MASTER_PORT: '1', TORCHELASTIC_USE_AGENT_STORE: 'True' })!.agentStore, true);
});

test('an incomplete or inconsistent worker environment is refused naming the variable', () => {
  const base = { RANK: '0', WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: '29500' };
  const cases: [Record<string, string>, RegExp][] = [
    [{ ...base, WORLD_SIZE: '' }, /WORLD_SIZE is not set; a data-parallel worker needs RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT/],
    [{ ...base, RANK: '2' }, /RANK 2 is not below WORLD_SIZE 2/],
    [{ ...base, RANK: '-1' }, /RANK must be an integer >= 0, got '-1'/],
    [{ ...base, MASTER_ADDR: '' }, /MASTER_ADDR is not set/],
    [{ ...base, MASTER_PORT: '70000' }, /MASTER_PORT must be a TCP port/],
    [{ ...base, LOCAL_RANK: '3', LOCAL_WORLD_SIZE: '2' }, /LOCAL_RANK 3 is not below LOCAL_WORLD_SIZE 2/],
  ];
  for (const [env, message] of cases) assert.throws(() => readWorkerEnvironment(env), message);
});

test('the workers get the user\'s flags without the launcher\'s own; --rdzv parses HOST:PORT', () => {
  assert.deepEqual(
    withoutLauncherFlags(['train', '--data', 'x', '--nproc-per-node', '2', '--nnodes=2', '--node-rank', '1', '--rdzv', 'h:1', '--max-restarts', '3', '--sync-bn', '--out', 'o']).slice(1),
    ['--data', 'x', '--sync-bn', '--out', 'o'],
  );
  assert.deepEqual(parseRendezvous('10.0.0.1:29500'), { host: '10.0.0.1', port: 29500 });
  assert.deepEqual(parseRendezvous('[::1]:29500'), { host: '::1', port: 29500 });
  for (const bad of ['host', 'host:', 'host:0', 'host:70000', ':1']) assert.throws(() => parseRendezvous(bad), /--rdzv takes HOST:PORT/);
});
