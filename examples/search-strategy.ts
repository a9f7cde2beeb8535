/**
 * The search strategies on your own function: `createSearchStrategy(name, { space, seed })` returns an object with
 * `ask()` (a candidate: one choice per dimension) and `tell(candidate, reward)`. Here three strategies look for
 * the best settings of a made-up objective with a known optimum (x = 2, y = 'b', z = true), 60 trials each; the
 * architecture search drives the same objects with trained model cards. The test suite type-checks and runs this
 * file from a fresh project (test/package/consumer.test.ts).
 *
 *   node search-strategy.js
 */
import { createSearchStrategy, restoreSearchStrategy, type Candidate } from 'effnet';

const space = { x: [0, 1, 2, 3, 4], y: ['a', 'b', 'c'], z: [true, false], w: [1, 2, 3, 4, 5, 6] };

/** The function to maximise: its best value, 3.5, is at x = 2, y = 'b', z = true, w = 4. */
function objective(c: Candidate): number {
  return -((Number(c.x) - 2) ** 2) + (c.y === 'b' ? 2 : 0) + (c.z ? 1 : 0) - Math.abs(Number(c.w) - 4) / 2 + 0.5;
}

for (const name of ['random', 'evolution', 'reinforce'] as const) {
  let strategy = createSearchStrategy(name, { space, seed: 7, population: 10, sampleSize: 3, learningRate: 0.3 });
  let best = { reward: -Infinity, candidate: {} as Candidate };
  for (let trial = 0; trial < 60; trial++) {
    // A search can stop and resume exactly: the whole state is JSON.
    if (trial === 30) strategy = restoreSearchStrategy(JSON.parse(JSON.stringify(strategy.state())));
    const candidate = strategy.ask();
    const reward = objective(candidate);
    strategy.tell(candidate, reward);
    if (reward > best.reward) best = { reward, candidate };
  }
  console.log(`${name}: best ${best.reward} at ${JSON.stringify(best.candidate)}`);
}
