/**
 * Test helper process: claims trials of a search from the store until none is pending, finishing each at once with
 * a fake result, and prints the claimed trial ids as JSON. Arguments: DB SEARCH_ID TAG [BARRIER_DIR COUNT]: with a
 * barrier it opens the store, writes BARRIER_DIR/ready-TAG and waits until COUNT such files exist, so that processes
 * started one after another begin claiming together however slowly the machine starts them (one process alone could
 * take all trials before the others have started; a fixed start time is not enough on a loaded CI machine).
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExperimentStore, workerIdentity } from '../../src/search/store.js';

const [db, searchId, tag, barrierDir, count] = process.argv.slice(2);
const store = ExperimentStore.open(db!, { integrityCheck: false, busyTimeoutMs: 30_000 });
if (barrierDir !== undefined) {
  writeFileSync(join(barrierDir, `ready-${tag}`), String(process.pid));
  const deadline = Date.now() + 120_000;
  while (readdirSync(barrierDir).filter((f) => f.startsWith('ready-')).length < Number(count)) {
    if (Date.now() > deadline) throw new Error(`barrier: only ${readdirSync(barrierDir).length} of ${count} claimers ready after 120 s`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}
const me = workerIdentity(tag ?? 0);
const claimed: number[] = [];
for (;;) {
  const trial = store.claimTrial(Number(searchId), me);
  if (trial === null) break;
  claimed.push(trial.id);
  if (!store.finishTrial(trial, me, { params: 1, macs: 1, wallSeconds: 0, valTop1: 0, metrics: { by: me.name } })) throw new Error(`lost trial ${trial.id}`);
}
store.close();
process.stdout.write(JSON.stringify(claimed) + '\n');
