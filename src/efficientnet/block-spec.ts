/**
 * The block-spec grammar: EfficientNet's architecture written as one short string per stage, as the reference code
 * writes it, decoded into typed {@link StageArgs} and encoded back.
 *
 * Two dialects are read:
 * - TF reference (tensorflow/tpu efficientnet_builder): `r2_k3_s22_e6_i16_o24_se0.25[_noskip]` — `r` repeats, `k`
 *   kernel, `s` stride as two equal digits, `e` expansion ratio, `i`/`o` input/output channels, `se` squeeze-excite
 *   ratio of the block input channels, `noskip` drops the identity skip. `c0` (conv type), `f0` (fused conv) and `p0`
 *   (super pixel) are accepted since they describe the plain MBConv; any other value of them is refused.
 * - timm: `ir_r2_k3_s2_e6_c24_se0.25` or `ds_r1_k3_s1_e1_c16_se0.25` — a leading block type (`ir` inverted residual =
 *   MBConv, `ds` depthwise separable = MBConv without expansion), `c` output channels, `s` a single stride digit, no
 *   input channels (they come from the previous stage). `a1`/`p1` (1x1 expand/project kernels), `d0` (no
 *   space-to-depth), `nsw` (SiLU, the default) and `skip` are accepted; other values of them are refused.
 * Fused MBConv (EfficientNetV2's Fused-MBConv, timm's EdgeResidual: the 1x1 expansion and the depthwise kxk
 * convolution replaced by one full kxk convolution) is written `f1` in the TF dialect (the reference's `fused_conv`
 * flag) and `er_` in timm's. Everything else outside the MBConv family (CondConv `cc`, mixed kernels `k3.5.7`, grouped
 * convs `gs`, other activations, ...) is refused with a message naming the option.
 */
import { UserError } from '../errors.js';

/**
 * One stage of MBConv blocks before any scaling, exactly what one block string says. The first block of a stage
 * maps `inChannels` → `outChannels` with `stride`; the others map `outChannels` → `outChannels` with stride 1.
 */
export interface StageArgs {
  /** Number of blocks in the stage (`r`), ≥ 1. */
  repeats: number;
  /** Depthwise kernel size (`k`), an odd integer ≥ 1. */
  kernel: number;
  /** Stride of the stage's first block (`s`), 1 or 2. */
  stride: number;
  /** Expansion ratio (`e`) of the inverted bottleneck, > 0; 1 means no expansion conv. */
  expandRatio: number;
  /** Input channels of the stage's first block (`i`). */
  inChannels: number;
  /** Output channels of every block of the stage (`o`, or `c` in timm's dialect). */
  outChannels: number;
  /** Squeeze-excite ratio (`se`) relative to the block's input channels, in [0, 1]; 0 means no SE. */
  seRatio: number;
  /** Whether blocks with stride 1 and equal in/out channels get the identity skip; false for `noskip`. */
  skip: boolean;
  /**
   * Whether the blocks are fused (`f1`, timm `er`): one full kxk convolution (stride s) to the expanded channels
   * replaces the 1x1 expansion and the depthwise convolution; with expansion 1 that convolution maps straight to
   * the output channels and there is no projection (torchvision's FusedMBConv).
   */
  fused: boolean;
}

/** The spelling a block string was written in. */
export type BlockStringDialect = 'tf' | 'timm';

/** A single decoded block string; `inChannels` is null in timm's dialect, which does not state it. */
export interface ParsedBlockString extends Omit<StageArgs, 'inChannels'> {
  /** Input channels (`i`), or null when the string does not state them (timm dialect). */
  inChannels: number | null;
  /** The dialect the string was written in. */
  dialect: BlockStringDialect;
}

/** Thrown for a block string that is malformed or describes something this library cannot build. */
export class BlockSpecError extends UserError {
  override name = 'BlockSpecError';
}

/** EfficientNet-B0's seven stages as the TF reference writes them (PAPER.md, Table 1). */
export const EFFICIENTNET_B0_BLOCK_STRINGS: readonly string[] = Object.freeze([
  'r1_k3_s11_e1_i32_o16_se0.25',
  'r2_k3_s22_e6_i16_o24_se0.25',
  'r2_k5_s22_e6_i24_o40_se0.25',
  'r3_k3_s22_e6_i40_o80_se0.25',
  'r3_k5_s11_e6_i80_o112_se0.25',
  'r4_k5_s22_e6_i112_o192_se0.25',
  'r1_k3_s11_e6_i192_o320_se0.25',
]);

/** Channels of the B0 stem conv (3x3, stride 2) before width scaling. */
export const EFFICIENTNET_B0_STEM_CHANNELS = 32;
/** Channels of the B0 head conv (1x1) before width scaling. */
export const EFFICIENTNET_B0_HEAD_CHANNELS = 1280;

const TIMM_BLOCK_TYPES: Record<string, string> = {
  dsa: 'depthwise separable with pointwise activation (MobileNet-V1 style)',
  cn: 'plain conv-bn-act',
  tu: 'Tucker conv',
  uir: 'universal inverted residual (MobileNet-V4)',
  mha: 'multi-head attention (MobileNet-V4)',
  mqa: 'multi-query attention (MobileNet-V4)',
};

const ACTIVATIONS: Record<string, string> = { re: 'ReLU', r6: 'ReLU6', hs: 'hard-swish', mi: 'Mish' };

function fail(blockString: string, message: string): never {
  throw new BlockSpecError(`block string '${blockString}': ${message}`);
}

function parsePositiveInteger(blockString: string, key: string, value: string, what: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    fail(blockString, `${what} '${key}${value}' must be a positive integer, e.g. '${key}3'`);
  }
  return Number(value);
}

function parseNumber(blockString: string, key: string, value: string, what: string): number {
  if (!/^\d+(\.\d+)?$/.test(value)) fail(blockString, `${what} '${key}${value}' must be a decimal number, e.g. '${key}0.25'`);
  return Number(value);
}

/**
 * Decodes one block string in either dialect (see the module comment).
 * @throws BlockSpecError naming the offending option and what is accepted instead.
 */
export function parseBlockString(blockString: string): ParsedBlockString {
  if (typeof blockString !== 'string' || blockString.trim() === '') {
    throw new BlockSpecError(`block string must be a non-empty string like 'r2_k3_s22_e6_i16_o24_se0.25', got ${JSON.stringify(blockString)}`);
  }
  let tokens = blockString.split('_');
  let dialect: BlockStringDialect = 'tf';
  let depthwiseSeparable = false;
  let fused = false;
  const head = tokens[0]!;
  if (head === 'ir' || head === 'ds' || head === 'er') {
    dialect = 'timm';
    depthwiseSeparable = head === 'ds';
    fused = head === 'er';
    tokens = tokens.slice(1);
  } else if (head in TIMM_BLOCK_TYPES) {
    fail(blockString, `block type '${head}' (${TIMM_BLOCK_TYPES[head]}) is not supported; use 'ir' (MBConv), 'ds' (depthwise separable), 'er' (fused MBConv) or the TF form without a prefix`);
  }

  const options = new Map<string, string>();
  let noskip = false;
  for (const token of tokens) {
    if (token === '') fail(blockString, "empty option (two '_' in a row, or a trailing '_')");
    if (token === 'noskip') {
      noskip = true;
      continue;
    }
    if (token === 'skip') continue; // timm: the default identity skip, stated explicitly.
    if (/^cc\d*$/.test(token)) fail(blockString, `'${token}' (CondConv) is not supported; remove the option`);
    if (dialect === 'timm' && token.startsWith('n') && !/^n\d/.test(token)) {
      const act = token.slice(1);
      if (act === 'sw') continue; // swish = SiLU, EfficientNet's activation anyway.
      const named = ACTIVATIONS[act];
      fail(blockString, named ? `activation override '${token}' (${named}) is not supported; EfficientNet blocks use SiLU ('nsw')` : `unknown activation '${token}'; only 'nsw' (SiLU) is accepted`);
    }
    const match = /^([a-z]+)(\d.*)$/.exec(token);
    if (!match) fail(blockString, `option '${token}' is not of the form <letters><number> (e.g. 'k3') nor 'noskip'`);
    const [, key, value] = match as unknown as [string, string, string];
    if (options.has(key)) fail(blockString, `option '${key}' is given twice`);
    options.set(key, value);
  }

  const take = (key: string): string | undefined => {
    const value = options.get(key);
    options.delete(key);
    return value;
  };
  const required = (key: string, what: string, example: string): string => {
    const value = take(key);
    if (value === undefined) fail(blockString, `missing ${what} '${key}' (e.g. '${example}')`);
    return value;
  };

  const repeats = parsePositiveInteger(blockString, 'r', required('r', 'repeat count', 'r2'), 'repeat count');
  const kernelText = required('k', 'kernel size', 'k3');
  if (kernelText.includes('.')) fail(blockString, `mixed depthwise kernels 'k${kernelText}' (MixNet) are not supported; give one odd kernel size, e.g. 'k3'`);
  const kernel = parsePositiveInteger(blockString, 'k', kernelText, 'kernel size');
  if (kernel % 2 !== 1) fail(blockString, `kernel size 'k${kernel}' must be odd (3, 5, 7, ...) so that both padding conventions keep the spatial size`);

  const strideText = required('s', 'stride', dialect === 'tf' ? 's22' : 's2');
  if (!/^\d{1,2}$/.test(strideText)) fail(blockString, `stride 's${strideText}' must be one digit or two equal digits, e.g. 's2' or 's22'`);
  if (strideText.length === 2 && strideText[0] !== strideText[1]) {
    fail(blockString, `stride 's${strideText}' has different vertical and horizontal strides; only square strides ('s11', 's22') are supported`);
  }
  const stride = Number(strideText[0]);
  if (stride !== 1 && stride !== 2) fail(blockString, `stride 's${strideText}' must be 1 or 2`);

  const expandText = take('e');
  if (expandText === undefined && !depthwiseSeparable) fail(blockString, "missing expansion ratio 'e' (e.g. 'e6')");
  const expandRatio = expandText === undefined ? 1 : parseNumber(blockString, 'e', expandText, 'expansion ratio');
  if (!(expandRatio > 0)) fail(blockString, `expansion ratio 'e${expandText}' must be > 0`);
  if (depthwiseSeparable && expandRatio !== 1) fail(blockString, `a 'ds' block has no expansion, so 'e' must be 1 (got 'e${expandText}'); use 'ir' for an expanded block`);

  let inChannels: number | null = null;
  let outChannels: number;
  if (dialect === 'tf') {
    inChannels = parsePositiveInteger(blockString, 'i', required('i', 'input channels', 'i16'), 'input channels');
    outChannels = parsePositiveInteger(blockString, 'o', required('o', 'output channels', 'o24'), 'output channels');
    const convType = take('c');
    if (convType !== undefined && Number(convType) !== 0) fail(blockString, `conv type 'c${convType}' (grouped/other depthwise conv) is not supported; only 'c0' (plain depthwise) is`);
    const fusedText = take('f');
    if (fusedText !== undefined && fusedText !== '0' && fusedText !== '1') fail(blockString, `fused conv 'f${fusedText}' must be 'f0' (MBConv) or 'f1' (fused MBConv)`);
    fused = fusedText === '1';
    const superPixel = take('p');
    if (superPixel !== undefined && Number(superPixel) !== 0) fail(blockString, `super pixel 'p${superPixel}' (space-to-depth) is not supported; only 'p0'`);
    for (const timmOnly of ['a', 'd', 'gs']) {
      if (options.has(timmOnly)) fail(blockString, `'${timmOnly}' is a timm option; write the block as 'ir_...' with 'c' for output channels to use timm's dialect`);
    }
  } else {
    if (options.has('i') || options.has('o')) fail(blockString, "timm's dialect states output channels as 'c' and no input channels; drop 'i'/'o' or drop the 'ir'/'ds' prefix");
    outChannels = parsePositiveInteger(blockString, 'c', required('c', 'output channels', 'c24'), 'output channels');
    const expandKernel = take('a');
    if (expandKernel !== undefined && expandKernel !== '1') fail(blockString, `expansion conv kernel 'a${expandKernel}' is not supported; EfficientNet uses 1x1 ('a1')`);
    const projectKernel = take('p');
    if (projectKernel !== undefined && projectKernel !== '1') fail(blockString, `projection conv kernel 'p${projectKernel}' is not supported; EfficientNet uses 1x1 ('p1')`);
    const spaceToDepth = take('d');
    if (spaceToDepth !== undefined && Number(spaceToDepth) !== 0) fail(blockString, `space-to-depth 'd${spaceToDepth}' is not supported; only 'd0'`);
    const groupSize = take('gs');
    if (groupSize !== undefined) fail(blockString, `group size 'gs${groupSize}' (grouped convs) is not supported; remove it (depthwise is implied)`);
    if (fused && expandRatio === 1) {
      fail(blockString, "timm's 'er' block with 'e1' keeps a 1x1 projection that effnet's fused block with expansion 1 does not have; write it in the TF dialect with 'f1' and 'e1' (torchvision's FusedMBConv) or use expansion > 1");
    }
    const forceIn = take('fc');
    if (forceIn !== undefined) fail(blockString, `'fc${forceIn}' (forced input channels of edge residual blocks) is not supported`);
  }

  let seRatio = 0;
  const seText = take('se');
  if (seText !== undefined) {
    seRatio = parseNumber(blockString, 'se', seText, 'squeeze-excite ratio');
    if (seRatio > 1) fail(blockString, `squeeze-excite ratio 'se${seText}' must be in [0, 1]`);
  }

  const leftover = [...options.keys()];
  if (leftover.length > 0) {
    const known = dialect === 'tf' ? 'r k s e i o se c0 f0 f1 p0 noskip' : 'r k s e c se a1 p1 d0 nsw skip noskip';
    fail(blockString, `unknown option${leftover.length > 1 ? 's' : ''} ${leftover.map((k) => `'${k}'`).join(', ')}; the ${dialect === 'tf' ? 'TF' : 'timm'} dialect knows: ${known}`);
  }
  return { repeats, kernel, stride, expandRatio, inChannels, outChannels, seRatio, skip: !noskip, fused, dialect };
}

/** Options for {@link decodeArchitecture}. */
export interface DecodeArchitectureOptions {
  /**
   * Channels entering the first stage (the stem's output), used where a string does not state its input channels
   * (timm dialect) and checked against the first TF string's `i`. Default: the first string's `i` when it states
   * one (the stem gives the first stage what it takes: 24 for EfficientNetV2-S), else 32 (B0's stem).
   */
  stemChannels?: number;
}

/**
 * Decodes one block string per stage into stage args, filling missing input channels from the previous stage and
 * checking that each stage's stated input channels equal the previous stage's output.
 * @throws BlockSpecError on a bad string or a channel chain that does not connect.
 */
export function decodeArchitecture(blockStrings: readonly string[], options: DecodeArchitectureOptions = {}): StageArgs[] {
  if (!Array.isArray(blockStrings) || blockStrings.length === 0) {
    throw new BlockSpecError('an architecture needs at least one block string (one per stage), e.g. EFFICIENTNET_B0_BLOCK_STRINGS');
  }
  const first = typeof blockStrings[0] === 'string' ? parseBlockString(blockStrings[0]).inChannels : null;
  let previous = options.stemChannels ?? first ?? EFFICIENTNET_B0_STEM_CHANNELS;
  return blockStrings.map((blockString, index) => {
    const { dialect: _dialect, inChannels, ...rest } = parseBlockString(blockString);
    if (inChannels !== null && inChannels !== previous) {
      throw new BlockSpecError(
        `block string '${blockString}' (stage ${index + 1}) takes ${inChannels} input channels but the ${index === 0 ? 'stem' : `previous stage`} gives ${previous}; make 'i' equal the previous 'o'`,
      );
    }
    const stage: StageArgs = { ...rest, inChannels: previous };
    previous = stage.outChannels;
    return stage;
  });
}

/** Writes a number as the reference strings do: integers without a decimal point, others in shortest form. */
function formatNumber(value: number): string {
  return String(value);
}

/**
 * Encodes stage args back into a block string. The TF dialect writes `r k s e i o se noskip` in the reference's
 * order (so the reference strings round-trip character for character), then `f1` for a fused stage; timm's writes
 * `ir_`/`ds_`/`er_` + `r k s e c se`.
 * @throws BlockSpecError for a fused stage with expansion 1 in timm's dialect, which has no such block.
 */
export function encodeBlockString(stage: StageArgs, dialect: BlockStringDialect = 'tf'): string {
  const parts: string[] = [];
  if (dialect === 'timm') {
    if (stage.fused && stage.expandRatio === 1) {
      throw new BlockSpecError("a fused stage with expansion 1 has no timm block string (timm's 'er' keeps a projection); encode it in the TF dialect");
    }
    parts.push(stage.fused ? 'er' : stage.expandRatio === 1 ? 'ds' : 'ir');
  }
  parts.push(`r${stage.repeats}`, `k${stage.kernel}`);
  parts.push(dialect === 'tf' ? `s${stage.stride}${stage.stride}` : `s${stage.stride}`);
  parts.push(`e${formatNumber(stage.expandRatio)}`);
  if (dialect === 'tf') parts.push(`i${stage.inChannels}`, `o${stage.outChannels}`);
  else parts.push(`c${stage.outChannels}`);
  if (stage.seRatio > 0) parts.push(`se${formatNumber(stage.seRatio)}`);
  if (stage.fused && dialect === 'tf') parts.push('f1');
  if (!stage.skip) parts.push('noskip');
  return parts.join('_');
}

/** Encodes every stage; the inverse of {@link decodeArchitecture}. */
export function encodeArchitecture(stages: readonly StageArgs[], dialect: BlockStringDialect = 'tf'): string[] {
  return stages.map((stage) => encodeBlockString(stage, dialect));
}

/** EfficientNet-B0's stages, decoded from {@link EFFICIENTNET_B0_BLOCK_STRINGS}. */
export function efficientNetB0Stages(): StageArgs[] {
  return decodeArchitecture(EFFICIENTNET_B0_BLOCK_STRINGS);
}
