/**
 * Test helper process: claims trials of a search from the store until none is pending, finishing each at once with
 * a fake result, and prints the claimed trial ids as JSON. Arguments: DB SEARCH_ID TAG [START_AT_MS]: with START_AT_MS
 * (a Date.now() value) it opens the store, then waits until then, so that processes started one after another begin
 * claiming together (one process alone could take all trials before the others have started).
 */
import { ExperimentStore, workerIdentity } from '../../src/search/store.js';

const [db, searchId, tag, startAt] = process.argv.slice(2);
const store = ExperimentStore.open(db!, { integrityCheck: false, busyTimeoutMs: 30_000 });
const wait = startAt === undefined ? 0 : Number(startAt) - Date.now();
if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
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
