// More seeds for the real run's comparison: the found network (the nas search's best) and the base, trained exactly
// as the search's compare trials (its stored spec), seeds 1003..1006; one JSON line per trial in
// runs/real23-more.jsonl (skips those already there).
import { readFileSync, appendFileSync, existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { openData } from '/work/main/dist/src/data/spec.js';
import { runTrial } from '/work/main/dist/src/search/trial.js';
import { trialSettingsFromSpec } from '/work/main/dist/src/search/definitions.js';
import { setNumThreads } from '/work/main/dist/src/torch/index.js';
setNumThreads(2);
const db = new Database('runs/real23.sqlite', { readonly: true });
const spec = JSON.parse(db.prepare('select spec from searches where name = ?').get('real23').spec);
const trials = db.prepare("select label, config from trials").all().map((t) => ({ label: t.label, config: JSON.parse(t.config) }));
db.close();
const configOf = (role) => trials.find((t) => t.config.stage === 'compare' && t.config.role === role).config.config;
const data = await openData(spec.data);
const out = 'runs/real23-more.jsonl';
const done = existsSync(out) ? readFileSync(out, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
for (const seed of [1003, 1004, 1005, 1006]) {
  for (const role of ['best', 'base']) {
    if (done.some((d) => d.seed === seed && d.role === role)) continue;
    const settings = trialSettingsFromSpec(spec, { seed, budget: spec.compareBudget });
    const r = await runTrial(configOf(role), data, settings, `runs/real23-more/${role}-seed${seed}`, { detail: `${role}, seed ${seed}` });
    appendFileSync(out, JSON.stringify({ role, seed, valTop1: r.valTop1, wallSeconds: r.wallSeconds }) + '\n');
    console.log(`${role} seed ${seed}: ${(r.valTop1 * 100).toFixed(2)}% in ${r.wallSeconds.toFixed(0)} s`);
  }
}
