/**
 * The block-spec grammar: the reference strings decode to Table 1's stages and encode back character for
 * character; timm's dialect decodes to the same stages; malformed or unsupported strings are refused with a
 * message naming the option.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BlockSpecError,
  EFFICIENTNET_B0_BLOCK_STRINGS,
  decodeArchitecture,
  efficientNetB0Stages,
  encodeArchitecture,
  encodeBlockString,
  parseBlockString,
  type StageArgs,
} from '../../src/efficientnet/index.js';

test('B0 reference strings decode to the paper Table 1 stages', () => {
  const stages = efficientNetB0Stages();
  // Table 1: (kernel, stride, expand, in, out, layers)
  const table: [number, number, number, number, number, number][] = [
    [3, 1, 1, 32, 16, 1],
    [3, 2, 6, 16, 24, 2],
    [5, 2, 6, 24, 40, 2],
    [3, 2, 6, 40, 80, 3],
    [5, 1, 6, 80, 112, 3],
    [5, 2, 6, 112, 192, 4],
    [3, 1, 6, 192, 320, 1],
  ];
  assert.equal(stages.length, 7);
  stages.forEach((stage, i) => {
    const [kernel, stride, expandRatio, inChannels, outChannels, repeats] = table[i]!;
    assert.deepEqual(stage, { repeats, kernel, stride, expandRatio, inChannels, outChannels, seRatio: 0.25, skip: true, fused: false });
  });
});

test('reference strings round-trip character for character', () => {
  assert.deepEqual(encodeArchitecture(decodeArchitecture(EFFICIENTNET_B0_BLOCK_STRINGS)), [...EFFICIENTNET_B0_BLOCK_STRINGS]);
  const withNoskip = 'r3_k5_s11_e6_i80_o112_se0.25_noskip';
  const parsed = parseBlockString(withNoskip);
  assert.equal(parsed.skip, false);
  assert.equal(parsed.dialect, 'tf');
  assert.equal(encodeBlockString({ ...parsed, inChannels: 80 }), withNoskip);
  // no SE, fractional expansion
  const plain = 'r2_k7_s22_e2.5_i24_o48';
  const stage = parseBlockString(plain);
  assert.equal(stage.seRatio, 0);
  assert.equal(stage.expandRatio, 2.5);
  assert.equal(encodeBlockString({ ...stage, inChannels: 24 }), plain);
});

test('random stage args round-trip in both dialects', () => {
  let seed = 42;
  const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  for (let n = 0; n < 200; n += 1) {
    const stages: StageArgs[] = [];
    let previous = 32;
    for (let s = 0; s < 1 + Math.floor(random() * 8); s += 1) {
      const stage: StageArgs = {
        repeats: 1 + Math.floor(random() * 9),
        kernel: pick([1, 3, 5, 7, 9]),
        stride: pick([1, 2]),
        expandRatio: pick([1, 2, 3, 4, 6, 2.5, 0.5]),
        inChannels: previous,
        outChannels: 8 * (1 + Math.floor(random() * 80)),
        seRatio: pick([0, 0.25, 0.5, 0.125, 1]),
        skip: random() < 0.8,
        fused: false,
      };
      stage.fused = stage.expandRatio !== 1 && random() < 0.3;
      stages.push(stage);
      previous = stage.outChannels;
    }
    assert.deepEqual(decodeArchitecture(encodeArchitecture(stages, 'tf')), stages);
    assert.deepEqual(decodeArchitecture(encodeArchitecture(stages, 'timm')), stages);
    for (const text of encodeArchitecture(stages, 'tf')) assert.equal(encodeBlockString({ ...parseBlockString(text), inChannels: parseBlockString(text).inChannels! }), text);
  }
});

test("timm's EfficientNet-B0 definition decodes to the same stages", () => {
  const timm = [
    'ds_r1_k3_s1_e1_c16_se0.25',
    'ir_r2_k3_s2_e6_c24_se0.25',
    'ir_r2_k5_s2_e6_c40_se0.25',
    'ir_r3_k3_s2_e6_c80_se0.25',
    'ir_r3_k5_s1_e6_c112_se0.25',
    'ir_r4_k5_s2_e6_c192_se0.25',
    'ir_r1_k3_s1_e6_c320_se0.25',
  ];
  assert.deepEqual(decodeArchitecture(timm), efficientNetB0Stages());
  assert.deepEqual(encodeArchitecture(efficientNetB0Stages(), 'timm'), timm);
  // accepted no-op options of both dialects
  assert.deepEqual(decodeArchitecture(['ir_r1_k3_s1_e1_c16_se0.25_a1_p1_d0_nsw_skip']), decodeArchitecture(['r1_k3_s11_e1_i32_o16_c0_f0_p0_se0.25']));
  // ds without e
  assert.equal(parseBlockString('ds_r1_k3_s1_c16').expandRatio, 1);
});

test('fused blocks: f1 (TF) and er (timm) decode to the same stage; e1 fused only in the TF dialect', () => {
  const tf = parseBlockString('r2_k3_s22_e4_i24_o48_se0.25_f1');
  assert.equal(tf.fused, true);
  assert.equal(tf.expandRatio, 4);
  const timm = parseBlockString('er_r2_k3_s2_e4_c48_se0.25');
  assert.deepEqual({ ...timm, dialect: 'tf', inChannels: 24 }, tf);
  assert.equal(parseBlockString('r2_k3_s22_e4_i24_o48_f0').fused, false);
  const e1 = parseBlockString('r2_k3_s11_e1_i24_o24_f1');
  assert.equal(e1.fused, true);
  assert.equal(encodeBlockString({ ...e1, inChannels: 24 }), 'r2_k3_s11_e1_i24_o24_f1');
  assert.throws(() => parseBlockString('er_r2_k3_s1_e1_c24'), /keeps a 1x1 projection/);
  assert.throws(() => encodeBlockString({ ...e1, inChannels: 24 }, 'timm'), /no timm block string/);
  assert.throws(() => parseBlockString('r2_k3_s22_e4_i24_o48_f2'), /must be 'f0' \(MBConv\) or 'f1'/);
});

test('the channel chain must connect', () => {
  assert.throws(() => decodeArchitecture(['r1_k3_s11_e1_i32_o16_se0.25', 'r2_k3_s22_e6_i24_o24_se0.25']), /takes 24 input channels but the previous stage gives 16/);
  // The stem gives the first stage what its string says it takes (torchvision's rule: V2-S's stem has 24 channels) ...
  assert.equal(decodeArchitecture(['r1_k3_s11_e1_i16_o16'])[0]!.inChannels, 16);
  // ... unless the caller fixes the stem; timm's dialect states no input channels and gets B0's 32.
  assert.throws(() => decodeArchitecture(['r1_k3_s11_e1_i16_o16'], { stemChannels: 32 }), /the stem gives 32/);
  assert.equal(decodeArchitecture(['r1_k3_s11_e1_i16_o16'], { stemChannels: 16 })[0]!.inChannels, 16);
  assert.equal(decodeArchitecture(['ds_r1_k3_s1_c16'])[0]!.inChannels, 32);
  assert.throws(() => decodeArchitecture([]), /at least one block string/);
});

test('bad and unsupported strings are refused with the option named', () => {
  const cases: [string, RegExp][] = [
    ['', /non-empty string/],
    ['k3_s11_e6_i16_o24', /missing repeat count 'r'/],
    ['r2_s11_e6_i16_o24', /missing kernel size 'k'/],
    ['r2_k3_e6_i16_o24', /missing stride 's'/],
    ['r2_k3_s11_i16_o24', /missing expansion ratio 'e'/],
    ['r2_k3_s11_e6_o24', /missing input channels 'i'/],
    ['r2_k3_s11_e6_i16', /missing output channels 'o'/],
    ['r0_k3_s11_e6_i16_o24', /repeat count 'r0' must be a positive integer/],
    ['r2_k4_s11_e6_i16_o24', /kernel size 'k4' must be odd/],
    ['r2_k3.5.7_s11_e6_i16_o24', /mixed depthwise kernels/],
    ['r2_k3_s12_e6_i16_o24', /only square strides/],
    ['r2_k3_s33_e6_i16_o24', /must be 1 or 2/],
    ['r2_k3_s123_e6_i16_o24', /one digit or two equal digits/],
    ['r2_k3_s22_e0_i16_o24', /must be > 0/],
    ['r2_k3_s22_ex_i16_o24', /not of the form/],
    ['r2_k3_s22_e6_i16_o24_se1.5', /must be in \[0, 1\]/],
    ['r2_k3_s22_e6_i16_o24_se0.25x', /must be a decimal number/],
    ['r2_k3_s22_e6_i16_o24_r3', /option 'r' is given twice/],
    ['r2_k3_s22_e6_i16_o24__se0.25', /empty option/],
    ['r2_k3_s22_e6_i16_o24_c1', /conv type 'c1'.*not supported/],
    ['r2_k3_s22_e6_i16_o24_f3', /fused conv 'f3'/],
    ['r2_k3_s22_e6_i16_o24_p1', /super pixel/],
    ['r2_k3_s22_e6_i16_o24_cc', /CondConv/],
    ['r2_k3_s22_e6_i16_o24_a1', /'a' is a timm option/],
    ['r2_k3_s22_e6_i16_o24_d1', /'d' is a timm option/],
    ['r2_k3_s22_e6_i16_o24_z5', /unknown option 'z'/],
    ['uir_r1_k3_s1_e4_c24', /block type 'uir'.*not supported/],
    ['cn_r1_k3_s1_c24', /block type 'cn'/],
    ['ir_r2_k3_s2_e6_i16_o24', /drop 'i'\/'o'/],
    ['ir_r2_k3_s2_e6_c24_a3', /expansion conv kernel 'a3'/],
    ['ir_r2_k3_s2_e6_c24_p3', /projection conv kernel 'p3'/],
    ['ir_r2_k3_s2_e6_c24_d1', /space-to-depth 'd1'/],
    ['ir_r2_k3_s2_e6_c24_gs8', /group size 'gs8'/],
    ['ir_r2_k3_s2_e6_c24_cc4', /CondConv/],
    ['ir_r2_k3_s2_e6_c24_nre', /activation override 'nre' \(ReLU\)/],
    ['ir_r2_k3_s2_e6_c24_nfoo', /unknown activation/],
    ['ds_r1_k3_s1_e6_c16', /'ds' block has no expansion/],
  ];
  for (const [text, pattern] of cases) {
    assert.throws(() => parseBlockString(text), (error: unknown) => {
      assert.ok(error instanceof BlockSpecError, `${text}: expected BlockSpecError, got ${String(error)}`);
      assert.match(error.message, pattern, `${text}`);
      return true;
    });
  }
});
