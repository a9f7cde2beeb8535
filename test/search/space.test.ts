/**
 * The architecture search space as data: B0 is a point of the default space and decodes to exactly B0's block
 * strings and 5,288,548 parameters (torchvision's count); MnasNet-A1's published block strings are a point of the
 * MobileNetV2-centred space, build, and profile to MnasNet's published 3.9M parameters and 312M multiply-adds;
 * sampling the real space covers every choice (chi-square on 10,000 samples); a mutation of a real candidate changes
 * one stage setting; bad documents are refused with the reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EFFICIENTNET_B0_BLOCK_STRINGS, createEfficientNet, customConfig, decodeArchitecture, networkSpec, profileNetwork } from '../../src/efficientnet/index.js';
import { Rng } from '../../src/data/rng.js';
import { createSearchStrategy, mutateCandidate, SearchSpaceError } from '../../src/search/nas/strategy.js';
import {
  candidateBlockStrings,
  candidateOf,
  decodeCandidate,
  flatSearchSpace,
  resolveSearchSpace,
  spaceSize,
  type SearchSpaceDocument,
} from '../../src/search/nas/space.js';
import { builtInSpace, MNASNET_A1_BLOCK_STRINGS, MOBILENET_V2_BLOCK_STRINGS } from '../../src/search/nas/spaces.js';
import { noGrad, randn, tidy } from '../../src/torch/index.js';

const b0Space = resolveSearchSpace(builtInSpace('b0'), 'b0');
const mnasSpace = resolveSearchSpace(builtInSpace('mobilenetv2'), 'mobilenetv2');

test('B0 is a point of the default space: its candidate decodes to B0 block strings and 5,288,548 parameters', () => {
  const b0 = candidateOf(b0Space, EFFICIENTNET_B0_BLOCK_STRINGS);
  assert.equal(b0['s1.op'], 'mbconv1');
  assert.equal(b0['s6.op'], 'mbconv6');
  assert.equal(b0['s3.kernel'], 5);
  assert.equal(b0['s4.filters'], 1);
  assert.equal(b0['s6.layers'], 0);
  assert.deepEqual(candidateBlockStrings(b0Space, b0), [...EFFICIENTNET_B0_BLOCK_STRINGS]);
  const spec = networkSpec({ width: 1, depth: 1 }, decodeCandidate(b0Space, b0));
  assert.equal(profileNetwork(spec, { imageSize: 224 }).params, 5_288_548);
  assert.equal(Object.keys(flatSearchSpace(b0Space)).length, 42);
  assert.equal(spaceSize(b0Space), 288 ** 7);
});

test("MnasNet-A1's published stages are a point of the MobileNetV2-centred space, build, and profile to 3.9M params, 312M MACs", () => {
  assert.throws(() => candidateOf(b0Space, MNASNET_A1_BLOCK_STRINGS), /not a choice of the space/);
  const a1 = candidateOf(mnasSpace, MNASNET_A1_BLOCK_STRINGS);
  assert.equal(a1['s1.skip'], 'none');
  assert.equal(a1['s3.op'], 'mbconv3');
  assert.equal(a1['s5.layers'], -1);
  assert.deepEqual(candidateBlockStrings(mnasSpace, a1), [...MNASNET_A1_BLOCK_STRINGS]);
  // MobileNetV2 itself is the space's centre.
  assert.deepEqual(candidateBlockStrings(mnasSpace, candidateOf(mnasSpace, MOBILENET_V2_BLOCK_STRINGS)), [...MOBILENET_V2_BLOCK_STRINGS]);
  const stages = decodeArchitecture(MNASNET_A1_BLOCK_STRINGS);
  const profile = profileNetwork(networkSpec({ width: 1, depth: 1 }, stages), { imageSize: 224 });
  // MnasNet paper, Table 1: MnasNet-A1 3.9M parameters, 312M multiply-adds.
  assert.equal(Math.round(profile.params / 1e5) / 10, 3.9, `params ${profile.params}`);
  assert.equal(Math.round(profile.macs / 1e6), 312, `MACs ${profile.macs}`);
  const model = createEfficientNet(customConfig({ width: 1, depth: 1, resolution: 64 }), { numClasses: 10, stages });
  try {
    model.eval();
    tidy(() => noGrad(() => assert.deepEqual(model.forward(randn([1, 3, 64, 64])).shape, [1, 10])));
  } finally {
    model.dispose();
  }
});

test('sampling the default space covers every choice of every dimension (chi-square, 10,000 samples, p > 0.001)', () => {
  const flat = flatSearchSpace(b0Space);
  const strategy = createSearchStrategy('random', { space: flat, seed: 11 });
  const counts = new Map<string, Map<unknown, number>>(Object.keys(flat).map((d) => [d, new Map()]));
  const n = 10_000;
  for (let i = 0; i < n; i++) {
    const candidate = strategy.ask();
    decodeCandidate(b0Space, candidate); // every sample is a valid network description
    for (const [d, v] of Object.entries(candidate)) counts.get(d)!.set(v, (counts.get(d)!.get(v) ?? 0) + 1);
  }
  const critical: Record<number, number> = { 1: 10.828, 2: 13.816, 3: 16.266 };
  for (const [d, choices] of Object.entries(flat)) {
    const expected = n / choices.length;
    const chi2 = choices.reduce<number>((sum, c) => sum + ((counts.get(d)!.get(c) ?? 0) - expected) ** 2 / expected, 0);
    assert.ok(chi2 < critical[choices.length - 1]!, `${d}: chi-square ${chi2.toFixed(2)}`);
  }
});

test('a mutation of a real candidate changes exactly one stage setting', () => {
  const flat = flatSearchSpace(b0Space);
  const rng = new Rng(5);
  let parent = candidateOf(b0Space, EFFICIENTNET_B0_BLOCK_STRINGS);
  for (let i = 0; i < 200; i++) {
    const child = mutateCandidate(flat, parent, rng);
    assert.equal(Object.keys(flat).filter((d) => child[d] !== parent[d]).length, 1);
    parent = child;
  }
});

test('bad space documents are refused with the reason', () => {
  const good = builtInSpace('b0');
  const cases: [unknown, RegExp][] = [
    [[], /expected a JSON object/],
    [{ ...good, extra: 1 }, /unknown key 'extra'/],
    [{ ...good, base: [] }, /'base' must be a non-empty array/],
    [{ ...good, base: ['r1_k3_s11_e1_i16_o16'] }, /'base': .*the stem gives 32/],
    [{ ...good, choices: { ...good.choices, op: [] } }, /'op' must be a non-empty array/],
    [{ ...good, choices: { ...good.choices, kernel: [4] } }, /'kernel' choice 4 is not valid: a kernel is an odd integer/],
    [{ ...good, choices: { ...good.choices, op: ['conv'] } }, /block op "conv" is not 'mbconv<e>' or 'fused<e>'/],
    [{ ...good, choices: { ...good.choices, skip: ['pool'] } }, /'skip' choice "pool"/],
    [{ ...good, choices: { ...good.choices, filters: [0] } }, /a filter ratio is a number > 0/],
    [{ ...good, choices: { ...good.choices, layers: [0.5] } }, /a layer change is an integer/],
    [{ ...good, choices: { ...good.choices, se: [0, 0] } }, /lists a choice twice/],
    [{ ...good, choices: { ...good.choices, depth: [1] } }, /unknown dimension 'depth'/],
    [{ ...good, stages: { '8': { kernel: [3] } } }, /stages key '8' is not a stage number of the base \(1..7\)/],
    [{ ...good, stages: { '2': { kernel: [] } } }, /stages.2: 'kernel' must be a non-empty array/],
  ];
  for (const [document, pattern] of cases) {
    assert.throws(() => resolveSearchSpace(document, 'space.json'), (e: Error) => e instanceof SearchSpaceError && pattern.test(e.message), String(pattern));
  }
  const candidate = candidateOf(b0Space, EFFICIENTNET_B0_BLOCK_STRINGS);
  assert.throws(() => decodeCandidate(b0Space, { ...candidate, 's2.kernel': 7 }), /'s2.kernel' is 7, not one of \[3,5\]/);
  const { ['s7.layers']: _, ...missing } = candidate;
  assert.throws(() => decodeCandidate(b0Space, missing), /candidate has no 's7.layers'/);
  // A per-stage override replaces that stage's list only.
  const fixedKernel: SearchSpaceDocument = { ...good, stages: { '2': { kernel: [7] } } };
  const resolved = resolveSearchSpace(fixedKernel);
  assert.deepEqual(flatSearchSpace(resolved)['s2.kernel'], [7]);
  assert.deepEqual(flatSearchSpace(resolved)['s3.kernel'], [3, 5]);
});
