/**
 * Test helper process: claims trials of a search from the store until none is pending, finishing each at once with
 * a fake result, and prints the claimed trial ids as JSON. Arguments: DB SEARCH_ID TAG.
 */
import { ExperimentStore, workerIdentity } from '../../src/search/store.js';

const [db, searchId, tag] = process.argv.slice(2);
const store = ExperimentStore.open(db!, { integrityCheck: false, busyTimeoutMs: 30_000 });
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
