/**
 * The built-in search spaces, as the JSON documents a `--space` file holds (`effnet nas --print-space NAME` writes
 * them out as a starting point for one's own):
 *
 * - `b0` (the default): MnasNet's per-stage choices centred on EfficientNet-B0's seven stages, so that B0 itself is a
 *   point (PAPER.md: B0's widths are not ×1.0 of MobileNetV2's). Ops: MBConv e1 (depthwise separable), e3, e6 and
 *   fused MBConv e4 (EfficientNetV2's Fused-MBConv4) in place of MnasNet's plain conv.
 * - `mobilenetv2`: MnasNet's own space, centred on MobileNetV2's stages, with MnasNet's ops: regular conv (`fused1`,
 *   a kxk conv in → out), depthwise separable (`mbconv1`), MBConv e3 and e6. MnasNet-A1's published stage 5 has 112
 *   filters, which is not 0.75/1.0/1.25 × MobileNetV2's 96 (72, 96, 120); stage 5 therefore also offers 7/6 (112), so
 *   that MnasNet-A1 is a point of the space. MnasNet's pooling skip is not offered.
 *
 * The activation is SiLU in every space (EfficientNet's); MnasNet used ReLU.
 */
import { EFFICIENTNET_B0_BLOCK_STRINGS } from '../../efficientnet/block-spec.js';
import { SearchSpaceError } from './strategy.js';
import type { SearchSpaceDocument } from './space.js';

/** MobileNetV2's seven stages (t, c, n, s of its Table 2) as block strings; no squeeze-excite. */
export const MOBILENET_V2_BLOCK_STRINGS: readonly string[] = Object.freeze([
  'r1_k3_s11_e1_i32_o16',
  'r2_k3_s22_e6_i16_o24',
  'r3_k3_s22_e6_i24_o32',
  'r4_k3_s22_e6_i32_o64',
  'r3_k3_s11_e6_i64_o96',
  'r3_k3_s22_e6_i96_o160',
  'r1_k3_s11_e6_i160_o320',
]);

/** MnasNet-A1's stages as tensorflow/tpu's mnasnet_models.py writes them (PAPER.md, "NAS details"). */
export const MNASNET_A1_BLOCK_STRINGS: readonly string[] = Object.freeze([
  'r1_k3_s11_e1_i32_o16_noskip',
  'r2_k3_s22_e6_i16_o24',
  'r3_k5_s22_e3_i24_o40_se0.25',
  'r4_k3_s22_e6_i40_o80',
  'r2_k3_s11_e6_i80_o112_se0.25',
  'r3_k5_s22_e6_i112_o160_se0.25',
  'r1_k3_s11_e6_i160_o320',
]);

const MNAS_CHOICES = { kernel: [3, 5], se: [0, 0.25], skip: ['identity', 'none'], filters: [0.75, 1.0, 1.25], layers: [-1, 0, 1] };

const BUILT_IN: Readonly<Record<string, SearchSpaceDocument>> = {
  b0: {
    name: 'b0',
    description: "MnasNet's factorized hierarchical space centred on EfficientNet-B0's stages (B0 is a point of it)",
    base: [...EFFICIENTNET_B0_BLOCK_STRINGS],
    choices: { op: ['mbconv1', 'mbconv3', 'mbconv6', 'fused4'], ...MNAS_CHOICES },
  },
  mobilenetv2: {
    name: 'mobilenetv2',
    description: "MnasNet's space centred on MobileNetV2's stages (MnasNet-A1 is a point of it; stage 5 adds 7/6 for A1's 112 filters)",
    base: [...MOBILENET_V2_BLOCK_STRINGS],
    choices: { op: ['fused1', 'mbconv1', 'mbconv3', 'mbconv6'], ...MNAS_CHOICES },
    stages: { '5': { filters: [0.75, 1.0, 7 / 6, 1.25] } },
  },
};

/** Names of the built-in spaces. */
export function builtInSpaceNames(): string[] {
  return Object.keys(BUILT_IN);
}

/** A copy of a built-in space document. @throws SearchSpaceError naming the built-in spaces */
export function builtInSpace(name: string): SearchSpaceDocument {
  const document = BUILT_IN[name];
  if (document === undefined) throw new SearchSpaceError(`unknown built-in space '${name}'; built-in spaces: ${builtInSpaceNames().join(', ')} (or give a JSON file)`);
  return structuredClone(document);
}
