// TuNAS's answer of the real run (the controller's most likely network) trained standalone exactly as the nas
// search's compare trials (its stored spec: recipe, batch, budget, data, crop scale), seeds 1000..1002; appends one
// JSON line per trial to runs/real23-tunas.jsonl (skips seeds already there).
import { readFileSync, appendFileSync, existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { openData } from '/work/main/dist/src/data/spec.js';
import { runTrial } from '/work/main/dist/src/search/trial.js';
import { trialSettingsFromSpec } from '/work/main/dist/src/search/definitions.js';
import { candidateConfig } from '/work/main/dist/src/search/nas/search.js';
import { resolveSearchSpace } from '/work/main/dist/src/search/nas/space.js';
import { setNumThreads } from '/work/main/dist/src/torch/index.js';
setNumThreads(2);
const db = new Database('runs/real23.sqlite', { readonly: true });
const spec = JSON.parse(db.prepare('select spec from searches where name = ?').get('real23').spec);
db.close();
const space = resolveSearchSpace(spec.space);
const candidate = JSON.parse(readFileSync('runs/real23-sn/most-likely.json', 'utf8'));
const config = candidateConfig(space, candidate, spec.resolution);
const data = await openData(spec.data);
const out = 'runs/real23-tunas.jsonl';
const done = existsSync(out) ? readFileSync(out, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l).seed) : [];
for (const seed of [1000, 1001, 1002]) {
  if (done.includes(seed)) continue;
  const settings = trialSettingsFromSpec(spec, { seed, budget: spec.compareBudget });
  const r = await runTrial(config, data, settings, `runs/real23-tunas/seed${seed}`, { detail: `TuNAS answer, seed ${seed}` });
  appendFileSync(out, JSON.stringify({ seed, valTop1: r.valTop1, wallSeconds: r.wallSeconds, macs: r.macs ?? null, params: r.params ?? null, stages: config.stages }) + '\n');
  console.log(`seed ${seed}: ${(r.valTop1 * 100).toFixed(2)}% in ${r.wallSeconds.toFixed(0)} s`);
}
