/**
 * The weight-sharing supernet of an `effnet nas` space (one-shot architecture search). Every candidate of the space
 * is a path through one set of weights, so that one training of the supernet stands in for the standalone trainings
 * of thousands of candidates (SPOS, Guo et al. 2020; TuNAS, Bender et al. 2020).
 *
 * How a candidate maps onto the shared weights (docs/nas.md, "One-shot search"):
 * - Per stage, the supernet holds as many block positions as the candidate with the most layers; a candidate with
 *   fewer layers runs the stage's first ones (layer dropping).
 * - Per block position, one set of MBConv weights and one of Fused-MBConv weights (when the stage offers both), each
 *   sized for the largest input, expanded, squeeze and output channels any candidate asks of that position. A
 *   candidate uses the first k channels of every tensor it touches (TuNAS's filter masking): its expansion ratio and
 *   filter ratio pick how many.
 * - Kernels: by default a smaller kernel is the centre of the largest one (Single-Path NAS, Stamoulis et al. 2019);
 *   `kernelSharing: 'separate'` keeps one weight per kernel size instead (TuNAS's choice).
 * - Squeeze-excite on or off, and the identity skip on or off, switch parts of the path in or out; the skip exists
 *   only where the candidate's own block has one (stride 1, equal channels).
 * - Batch norm: one per convolution, sliced like the convolution's output. Its running statistics are shared by all
 *   candidates, so they are recalibrated for each candidate before it is evaluated (SPOS).
 *
 * The path of a candidate is the {@link NetworkSpec} of the standalone network the candidate's model card builds, so
 * its shapes come from the same rules (small-image strides, channel rounding, SE size) as any trained candidate;
 * {@link extractCandidate} (extract.ts) copies a path's slices into that standalone network.
 */
import { BatchNorm2d, Module, syncBatchNormTraining } from '../../nn/index.js';
import {
  adaptiveAvgPool2d,
  add,
  add_,
  batchNorm,
  bernoulli_,
  conv2d,
  div_,
  dropout,
  empty,
  flatten,
  isGradEnabled,
  linear,
  logSoftmax,
  mean,
  mul,
  narrow,
  neg,
  noGrad,
  normal_,
  sigmoid,
  silu,
  softmax,
  sum,
  uniform_,
  zero_,
  zeros,
  type Tensor,
} from '../../torch/index.js';
import { decodeArchitecture } from '../../efficientnet/block-spec.js';
import { resolveBatchNorm, type BatchNormSettings } from '../../efficientnet/batch-norm.js';
import { makeDivisible, roundFilters, type BlockSpec, type NetworkSpec } from '../../efficientnet/scaling.js';
import { MIN_RESOLUTION, networkSpec } from '../../efficientnet/variants.js';
import { UserError } from '../../errors.js';
import { CANDIDATE_DROPOUT, candidateConfig } from '../nas/search.js';
import { parseBlockOp, type ResolvedSearchSpace } from '../nas/space.js';
import type { Candidate } from '../nas/strategy.js';

/** Thrown for a space, size or option the supernet cannot be built for (exit 2 on the command line). */
export class SupernetError extends UserError {
  override name = 'SupernetError';
}

/** How candidates with different kernel sizes share a depthwise (or fused) convolution. */
export type KernelSharing = 'centre' | 'separate';

/** The kernel sharing modes, for help texts and checks. */
export const KERNEL_SHARING_MODES: readonly KernelSharing[] = ['centre', 'separate'];

/** Options of {@link Supernet}; each default is stated. */
export interface SupernetOptions {
  /** Classifier outputs. */
  numClasses: number;
  /** The proxy training size in pixels: decides the small-image strides, as for every candidate of the search. */
  resolution: number;
  /** 'centre' (default: a k×k kernel is the centre of the largest) or 'separate' (one weight per kernel size). */
  kernelSharing?: KernelSharing;
  /** Classifier dropout in training; default the candidates' ({@link CANDIDATE_DROPOUT}). */
  dropout?: number;
  /** Largest stochastic-depth rate along a path (block i of n drops with rate · i / n); default 0. */
  dropPath?: number;
  /** Batch-norm eps and momentum; default the candidates' (torchvision's 1e-5, 0.1). */
  batchNorm?: BatchNormSettings;
}

/** The channel counts a block position must hold for every candidate of the space. */
interface BlockCapacity {
  maxIn: number;
  kernels: number[];
  maxOut: number;
  /** MBConv weights, when the stage offers an MBConv op. */
  mbconv: { expand: number; mid: number; squeeze: number } | null;
  /** Fused-MBConv weights, when the stage offers a fused op. */
  fused: { conv: number; project: number; squeeze: number } | null;
}

function largest(values: Iterable<number>): number {
  let result = 0;
  for (const value of values) result = Math.max(result, value);
  return result;
}

/**
 * A convolution's shared weight (one per kernel size with 'separate' sharing) and the batch norm after it. The
 * path's slice: the first `out` rows, the first `in` columns, the centre k×k of the kernel.
 */
class SharedConvNorm extends Module {
  readonly kernels: number[];
  readonly largestKernel: number;
  readonly weights = new Map<number, Tensor>();
  readonly bn: BatchNorm2d;

  constructor(
    out: number,
    inPerGroup: number,
    kernels: readonly number[],
    sharing: KernelSharing,
    batchNorm: BatchNormSettings,
    /** Whether the convolution is depthwise (its fan-out is k·k). */
    readonly depthwise = false,
  ) {
    super();
    this.kernels = [...new Set(kernels)].sort((a, b) => a - b);
    this.largestKernel = this.kernels[this.kernels.length - 1]!;
    const sizes = sharing === 'centre' || this.kernels.length === 1 ? [this.largestKernel] : this.kernels;
    for (const k of sizes) {
      const name = sizes.length === 1 ? 'weight' : `weight_k${k}`;
      this.weights.set(k, this.registerParameter(name, empty([out, inPerGroup, k, k])));
    }
    this.bn = this.registerModule('bn', new BatchNorm2d(out, { eps: batchNorm.eps, momentum: batchNorm.momentum }));
  }

  /**
   * The weight slice of a path: `out` × `inPerGroup` × k × k. `of` picks what to slice of each shared weight (the
   * weight itself by default; its gradient for the tests and tools that compare gradients).
   */
  slice(out: number, inPerGroup: number, kernel: number, of: (weight: Tensor) => Tensor = (w) => w): Tensor {
    if (!this.kernels.includes(kernel)) throw new SupernetError(`the supernet has no ${kernel}x${kernel} kernel here (it holds ${this.kernels.join(', ')})`);
    const own = this.weights.get(kernel);
    let w = of(own ?? this.weights.get(this.largestKernel)!);
    const [rows, columns] = w.shape as [number, number];
    if (out > rows || inPerGroup > columns) throw new SupernetError(`a path asks for ${out}x${inPerGroup} channels of a ${rows}x${columns} shared convolution`);
    if (out < rows) w = narrow(w, 0, 0, out);
    if (inPerGroup < columns) w = narrow(w, 1, 0, inPerGroup);
    if (own === undefined) {
      const offset = (this.largestKernel - kernel) / 2;
      w = narrow(narrow(w, 2, offset, kernel), 3, offset, kernel);
    }
    return w;
  }

  /** Reference initialisation of each kernel, N(0, sqrt(2 / fan_out)) at its own size (as initConvolution_). */
  initialise(): void {
    for (const [k, weight] of this.weights) {
      const fanOut = this.depthwise ? k * k : k * k * weight.shape[0]!;
      noGrad(() => normal_(weight, 0, Math.sqrt(2 / fanOut)));
    }
  }

  forward(): Tensor {
    throw new Error('SharedConvNorm: a shared layer runs only as part of a supernet path (Supernet.forward)');
  }

  /** conv (no bias, padding k // 2) → batch norm sliced to `out` channels → SiLU when `activate`. */
  run(input: Tensor, out: number, kernel: number, stride: number, groups: number, activate: boolean, norm: NormMode): Tensor {
    const inPerGroup = input.shape[1]! / groups;
    const convolved = conv2d(input, this.slice(out, inPerGroup, kernel), null, { stride, padding: Math.floor((kernel - 1) / 2), groups });
    const normalised = normalise(this.bn, convolved, out, norm);
    if (!isGradEnabled()) convolved.dispose();
    return activate ? silu(normalised) : normalised;
  }
}

/**
 * How a path's batch norms normalise: `update` (training: the batch's statistics, the running ones updated in place
 * through the slices), `running` (evaluation: the running statistics), `batch` (the batch's statistics, the running
 * ones untouched: a reward measured on a held-out batch in the middle of training).
 */
type NormMode = 'update' | 'running' | 'batch';

/** Batch norm of the first `channels` channels of `bn` in `norm` mode. */
function normalise(bn: BatchNorm2d, input: Tensor, channels: number, norm: NormMode): Tensor {
  const part = (t: Tensor | null): Tensor | null => (t === null || t.shape[0] === channels ? t : narrow(t, 0, 0, channels));
  if (norm === 'batch') return batchNorm(input, null, null, part(bn.weight), part(bn.bias), true, 0, bn.eps);
  const training = norm === 'update';
  let factor = bn.momentum ?? 0;
  if (training && bn.numBatchesTracked !== null) {
    const counter = bn.numBatchesTracked;
    noGrad(() => add_(counter, 1));
    // momentum null: a cumulative average (what BN recalibration uses), as BatchNorm2d.forward.
    if (bn.momentum === null) factor = 1 / counter.item();
  }
  // Data-parallel ranks with sync batch norm (useSyncBatchNorm set the layer's cross-replica sum): the global batch's
  // statistics, the running ones moved through the same slices.
  if (training && bn.crossReplicaSum !== null) {
    return syncBatchNormTraining(input, { runningMean: part(bn.runningMean), runningVar: part(bn.runningVar), weight: part(bn.weight), bias: part(bn.bias), eps: bn.eps, factor }, bn.crossReplicaSum);
  }
  return batchNorm(input, part(bn.runningMean), part(bn.runningVar), part(bn.weight), part(bn.bias), training, factor, bn.eps);
}

/** A squeeze-excite with shared weights: fc1 `squeeze` × `channels`, fc2 back, both with bias, sliced per path. */
class SharedSqueezeExcitation extends Module {
  readonly fc1Weight: Tensor;
  readonly fc1Bias: Tensor;
  readonly fc2Weight: Tensor;
  readonly fc2Bias: Tensor;

  constructor(channels: number, squeeze: number) {
    super();
    this.fc1Weight = this.registerParameter('fc1_weight', empty([squeeze, channels, 1, 1]));
    this.fc1Bias = this.registerParameter('fc1_bias', zeros([squeeze]));
    this.fc2Weight = this.registerParameter('fc2_weight', empty([channels, squeeze, 1, 1]));
    this.fc2Bias = this.registerParameter('fc2_bias', zeros([channels]));
  }

  initialise(): void {
    noGrad(() => {
      normal_(this.fc1Weight, 0, Math.sqrt(2 / this.fc1Weight.shape[0]!));
      normal_(this.fc2Weight, 0, Math.sqrt(2 / this.fc2Weight.shape[0]!));
      zero_(this.fc1Bias);
      zero_(this.fc2Bias);
    });
  }

  /** The path's slices: fc1 weight, fc1 bias, fc2 weight, fc2 bias (`of` as in SharedConvNorm.slice). */
  slices(channels: number, squeeze: number, of: (weight: Tensor) => Tensor = (w) => w): [Tensor, Tensor, Tensor, Tensor] {
    const rows = (t: Tensor, n: number): Tensor => (t.shape[0] === n ? t : narrow(t, 0, 0, n));
    const columns = (t: Tensor, n: number): Tensor => (t.shape[1] === n ? t : narrow(t, 1, 0, n));
    return [columns(rows(of(this.fc1Weight), squeeze), channels), rows(of(this.fc1Bias), squeeze), columns(rows(of(this.fc2Weight), channels), squeeze), rows(of(this.fc2Bias), channels)];
  }

  forward(): Tensor {
    throw new Error('SharedSqueezeExcitation: a shared layer runs only as part of a supernet path (Supernet.forward)');
  }

  run(input: Tensor, squeeze: number): Tensor {
    const [w1, b1, w2, b2] = this.slices(input.shape[1]!, squeeze);
    const pooled = adaptiveAvgPool2d(input, 1);
    const scale = sigmoid(conv2d(silu(conv2d(pooled, w1, b1)), w2, b2));
    return mul(input, scale);
  }
}

/** The MBConv weights of one block position: [1×1 expand] → depthwise k×k → [SE] → 1×1 project. */
class SharedMBConv extends Module {
  readonly expand: SharedConvNorm | null;
  readonly depthwise: SharedConvNorm;
  readonly se: SharedSqueezeExcitation | null;
  readonly project: SharedConvNorm;

  constructor(capacity: BlockCapacity, mbconv: NonNullable<BlockCapacity['mbconv']>, sharing: KernelSharing, batchNorm: BatchNormSettings) {
    super();
    this.expand = mbconv.expand > 0 ? this.registerModule('expand', new SharedConvNorm(mbconv.expand, capacity.maxIn, [1], sharing, batchNorm)) : null;
    this.depthwise = this.registerModule('depthwise', new SharedConvNorm(mbconv.mid, 1, capacity.kernels, sharing, batchNorm, true));
    this.se = mbconv.squeeze > 0 ? this.registerModule('se', new SharedSqueezeExcitation(mbconv.mid, mbconv.squeeze)) : null;
    this.project = this.registerModule('project', new SharedConvNorm(capacity.maxOut, mbconv.mid, [1], sharing, batchNorm));
  }

  forward(): Tensor {
    throw new Error('SharedMBConv: a shared block runs only as part of a supernet path (Supernet.forward)');
  }

  run(input: Tensor, block: BlockSpec, norm: NormMode): Tensor {
    let x = input;
    if (block.hasExpansion) x = this.expand!.run(x, block.midChannels, 1, 1, 1, true, norm);
    x = this.depthwise.run(x, block.midChannels, block.kernel, block.stride, block.midChannels, true, norm);
    if (block.seChannels > 0) x = this.se!.run(x, block.seChannels);
    return this.project.run(x, block.outChannels, 1, 1, 1, false, norm);
  }
}

/** The Fused-MBConv weights of one block position: k×k conv → [SE] → [1×1 project]. */
class SharedFusedMBConv extends Module {
  readonly conv: SharedConvNorm;
  readonly se: SharedSqueezeExcitation | null;
  readonly project: SharedConvNorm | null;

  constructor(capacity: BlockCapacity, fused: NonNullable<BlockCapacity['fused']>, sharing: KernelSharing, batchNorm: BatchNormSettings) {
    super();
    this.conv = this.registerModule('conv', new SharedConvNorm(fused.conv, capacity.maxIn, capacity.kernels, sharing, batchNorm));
    this.se = fused.squeeze > 0 ? this.registerModule('se', new SharedSqueezeExcitation(fused.conv, fused.squeeze)) : null;
    this.project = fused.project > 0 ? this.registerModule('project', new SharedConvNorm(capacity.maxOut, fused.project, [1], sharing, batchNorm)) : null;
  }

  forward(): Tensor {
    throw new Error('SharedFusedMBConv: a shared block runs only as part of a supernet path (Supernet.forward)');
  }

  run(input: Tensor, block: BlockSpec, norm: NormMode): Tensor {
    const convChannels = block.hasExpansion ? block.midChannels : block.outChannels;
    let x = this.conv.run(input, convChannels, block.kernel, block.stride, 1, true, norm);
    if (block.seChannels > 0) x = this.se!.run(x, block.seChannels);
    if (block.hasExpansion) x = this.project!.run(x, block.outChannels, 1, 1, 1, false, norm);
    return x;
  }
}

/** One block position of a stage: its MBConv and Fused-MBConv weights (either may be absent). */
class SupernetBlock extends Module {
  readonly mbconv: SharedMBConv | null;
  readonly fused: SharedFusedMBConv | null;

  constructor(capacity: BlockCapacity, sharing: KernelSharing, batchNorm: BatchNormSettings) {
    super();
    this.mbconv = capacity.mbconv === null ? null : this.registerModule('mbconv', new SharedMBConv(capacity, capacity.mbconv, sharing, batchNorm));
    this.fused = capacity.fused === null ? null : this.registerModule('fused', new SharedFusedMBConv(capacity, capacity.fused, sharing, batchNorm));
  }

  forward(): Tensor {
    throw new Error('SupernetBlock: a shared block runs only as part of a supernet path (Supernet.forward)');
  }
}

/**
 * What every block position of every stage must hold: per stage, the candidates' possible input channels (the
 * previous stage's filter choices, or the stem's), output channels, kernels and, per op kind, the largest expanded
 * and squeeze channels (BlockSpec's rules: mid = makeDivisible(in·e), squeeze = max(1, floor(in·se))).
 */
function capacities(space: ResolvedSearchSpace, stemChannels: number): BlockCapacity[][] {
  let previousOuts = [stemChannels];
  return space.base.map((base, s) => {
    const choices = space.stageChoices[s]!;
    const outs = [...new Set(choices.filters.map((f) => roundFilters(base.outChannels, f)))];
    const positions = Math.max(1, base.repeats + largest(choices.layers));
    const ops = choices.op.map(parseBlockOp);
    const ses = choices.se.filter((r) => r > 0);
    const stage: BlockCapacity[] = [];
    for (let b = 0; b < positions; b++) {
      const ins = b === 0 ? previousOuts : outs;
      const squeeze = ses.length === 0 ? 0 : largest(ins.flatMap((c) => ses.map((r) => Math.max(1, Math.floor(c * r)))));
      const mbconvOps = ops.filter((op) => !op.fused);
      const fusedOps = ops.filter((op) => op.fused);
      let mbconv: BlockCapacity['mbconv'] = null;
      if (mbconvOps.length > 0) {
        const pairs = ins.flatMap((c) => mbconvOps.map((op) => ({ c, mid: makeDivisible(c * op.expandRatio) })));
        mbconv = { expand: largest(pairs.filter((p) => p.mid !== p.c).map((p) => p.mid)), mid: largest(pairs.map((p) => p.mid)), squeeze };
      }
      let fused: BlockCapacity['fused'] = null;
      if (fusedOps.length > 0) {
        const pairs = ins.flatMap((c) => fusedOps.map((op) => ({ c, mid: makeDivisible(c * op.expandRatio) })));
        const expanding = pairs.filter((p) => p.mid !== p.c).map((p) => p.mid);
        const convs = [...expanding, ...(pairs.some((p) => p.mid === p.c) ? outs : [])];
        fused = { conv: largest(convs), project: largest(expanding), squeeze };
      }
      stage.push({ maxIn: largest(ins), kernels: [...choices.kernel], maxOut: largest(outs), mbconv, fused });
    }
    previousOuts = outs;
    return stage;
  });
}

/**
 * The weight-sharing network of a search space at a proxy resolution (see the module comment). `activate(candidate)`
 * picks the path `forward(images)` runs (so the supernet trains through the Trainer as any model);
 * `forwardPath(images, pathOf(candidate))` runs a path directly. Parameters and buffers are named as the
 * supernet's own structure (`stages.3.1.mbconv.depthwise.weight`), so it checkpoints like any module.
 */
export class Supernet extends Module {
  /** The space the supernet holds. */
  readonly space: ResolvedSearchSpace;
  /** The options after defaults. */
  readonly options: Required<SupernetOptions>;
  /** Block positions per stage. */
  readonly positions: number[];
  private readonly stem: SharedConvNorm;
  private readonly blocks: SupernetBlock[][];
  private readonly head: SharedConvNorm;
  private readonly fcWeight: Tensor;
  private readonly fcBias: Tensor;
  private readonly reference: NetworkSpec;
  private active: NetworkSpec | null = null;
  private students: NetworkSpec[] = [];
  private auxiliary: Tensor | null = null;

  /** @throws SupernetError for a bad class count, resolution, kernel sharing, dropout or drop-path rate */
  constructor(space: ResolvedSearchSpace, options: SupernetOptions) {
    super();
    const kernelSharing = options.kernelSharing ?? 'centre';
    if (!KERNEL_SHARING_MODES.includes(kernelSharing)) throw new SupernetError(`kernel sharing must be ${KERNEL_SHARING_MODES.join(' or ')}, got ${JSON.stringify(kernelSharing)}`);
    if (!Number.isInteger(options.numClasses) || options.numClasses < 1) throw new SupernetError(`the class count must be a positive integer, got ${options.numClasses}`);
    const dropoutRate = options.dropout ?? CANDIDATE_DROPOUT;
    const dropPath = options.dropPath ?? 0;
    if (!(dropoutRate >= 0 && dropoutRate < 1)) throw new SupernetError(`dropout must be in [0, 1), got ${dropoutRate}`);
    if (!(dropPath >= 0 && dropPath < 1)) throw new SupernetError(`the drop-path rate must be in [0, 1), got ${dropPath}`);
    if (!Number.isInteger(options.resolution) || options.resolution < MIN_RESOLUTION) {
      throw new SupernetError(`the proxy size must be an integer >= ${MIN_RESOLUTION} px (the smallest model card), got ${options.resolution}; small images are up-sampled to it`);
    }
    const batchNorm = options.batchNorm ?? resolveBatchNorm(undefined, 'custom');
    this.space = space;
    this.options = { numClasses: options.numClasses, resolution: options.resolution, kernelSharing, dropout: dropoutRate, dropPath, batchNorm };
    // Any candidate's spec gives the fixed parts (stem, head, strides); its own stage shapes are not used here.
    this.reference = this.specOf(this.firstCandidate());
    if (options.resolution < this.reference.totalStride) {
      throw new SupernetError(`the proxy size ${options.resolution}px is smaller than the space's total stride ${this.reference.totalStride}; raise the resolution`);
    }
    const capacity = capacities(space, this.reference.stemChannels);
    this.positions = capacity.map((stage) => stage.length);
    this.stem = this.registerModule('stem', new SharedConvNorm(this.reference.stemChannels, 3, [this.reference.stemKernel], kernelSharing, batchNorm));
    const stages = this.registerModule('stages', new ModuleList());
    this.blocks = capacity.map((stage, s) => {
      const list = stages.add(String(s), new ModuleList());
      return stage.map((c, b) => list.add(String(b), new SupernetBlock(c, kernelSharing, batchNorm)));
    });
    const lastOut = largest(capacity[capacity.length - 1]!.map((c) => c.maxOut));
    this.head = this.registerModule('head', new SharedConvNorm(this.reference.headChannels, lastOut, [1], kernelSharing, batchNorm));
    this.fcWeight = this.registerParameter('classifier_weight', empty([options.numClasses, this.reference.headChannels]));
    this.fcBias = this.registerParameter('classifier_bias', zeros([options.numClasses]));
    this.initialise();
  }

  private firstCandidate(): Candidate {
    const candidate: Candidate = {};
    this.space.stageChoices.forEach((choices, s) => {
      for (const [dimension, values] of Object.entries(choices)) candidate[`s${s + 1}.${dimension}`] = (values as (number | string)[])[0]!;
    });
    return candidate;
  }

  private specOf(candidate: Candidate): NetworkSpec {
    const config = candidateConfig(this.space, candidate, this.options.resolution);
    return networkSpec({ width: 1, depth: 1 }, decodeArchitecture(config.stages!));
  }

  /**
   * The path of `candidate`: the spec of the standalone network its card builds (what extraction produces).
   * @throws SearchSpaceError for a candidate that is not a point of the space
   */
  pathOf(candidate: Candidate): NetworkSpec {
    const spec = this.specOf(candidate);
    spec.stages.forEach((stage, s) => {
      if (stage.repeats > this.positions[s]!) throw new SupernetError(`stage ${s + 1} of the candidate has ${stage.repeats} layers; the supernet holds ${this.positions[s]}`);
    });
    return spec;
  }

  /** The shared modules a path runs through, in order (for extraction and tests). */
  blockAt(stage: number, position: number): { mbconv: SharedMBConv | null; fused: SharedFusedMBConv | null } {
    const block = this.blocks[stage]?.[position];
    if (block === undefined) throw new SupernetError(`the supernet has no block ${position} in stage ${stage + 1}`);
    return { mbconv: block.mbconv, fused: block.fused };
  }

  /** The stem, head and classifier tensors (for extraction). */
  fixedParts(): { stem: SharedConvNorm; head: SharedConvNorm; classifierWeight: Tensor; classifierBias: Tensor } {
    return { stem: this.stem, head: this.head, classifierWeight: this.fcWeight, classifierBias: this.fcBias };
  }

  /** The reference initialisation (as EfficientNet's): convolutions N(0, sqrt(2 / fan_out)), BN 1/0, classifier U(±1/sqrt(classes)). */
  private initialise(): void {
    for (const [, module] of this.namedModules()) {
      if (module instanceof SharedConvNorm) module.initialise();
      if (module instanceof SharedSqueezeExcitation) module.initialise();
    }
    const range = 1 / Math.sqrt(this.options.numClasses);
    noGrad(() => uniform_(this.fcWeight, -range, range));
  }

  /**
   * Makes `candidate` the path {@link forward} runs (what a sampler does before each training step), and returns it.
   * @throws SearchSpaceError for a candidate that is not a point of the space
   */
  activate(candidate: Candidate): NetworkSpec {
    this.active = this.pathOf(candidate);
    return this.active;
  }

  /** The path {@link forward} runs, or null before the first {@link activate}. */
  get activePath(): NetworkSpec | null {
    return this.active;
  }

  /**
   * In-place distillation (BigNAS's sandwich rule; OFA distils the same way): in training, each {@link forward} also
   * runs these candidates' paths on the same images and makes {@link takeAuxiliaryLoss} their soft cross-entropy
   * against the active path's probabilities (the teacher, not differentiated), summed over the students. An empty
   * list turns it off. The active path itself trains on the labels as always.
   */
  setStudents(candidates: readonly Candidate[]): void {
    this.students = candidates.map((candidate) => this.pathOf(candidate));
  }

  /**
   * The distillation loss of the last training {@link forward} (see {@link setStudents}), handed over once: null when
   * there were no students or it was taken already. The Trainer adds it to the objective (its `auxiliaryLoss` hook).
   */
  takeAuxiliaryLoss(): Tensor | null {
    const loss = this.auxiliary;
    this.auxiliary = null;
    return loss;
  }

  /** Logits [N, classes] of the active path (see {@link activate}), so that the supernet trains as any model. */
  forward(input: Tensor): Tensor {
    if (this.active === null) throw new Error('Supernet.forward: no path is active; call activate(candidate) first');
    const logits = this.forwardPath(input, this.active);
    this.auxiliary = null;
    if (this.training && this.students.length > 0) {
      const teacher = noGrad(() => softmax(logits.detach(), 1));
      for (const student of this.students) {
        // −Σ p_teacher · log p_student, averaged over the batch: the KL divergence up to the teacher's entropy.
        const loss = neg(mean(sum(mul(teacher, logSoftmax(this.forwardPath(input, student), 1)), 1)));
        this.auxiliary = this.auxiliary === null ? loss : add(this.auxiliary, loss);
      }
    }
    return logits;
  }

  /** Logits [N, classes] of `path` (from {@link pathOf}) on NCHW images. */
  forwardPath(input: Tensor, path: NetworkSpec): Tensor {
    return this.runPath(input, path, this.training ? 'update' : 'running');
  }

  /**
   * Logits [N, classes] of `path` with every batch norm normalising by `input`'s own statistics, the running
   * statistics untouched, no dropout or drop-path and no gradient: a path's reward on a held-out batch in the middle
   * of training (TuNAS's controller step), where the shared running statistics, a mixture of every path's, would
   * misjudge one path.
   */
  batchStatisticsLogits(input: Tensor, path: NetworkSpec): Tensor {
    return noGrad(() => this.runPath(input, path, 'batch'));
  }

  private runPath(input: Tensor, path: NetworkSpec, norm: NormMode): Tensor {
    const training = norm === 'update';
    if (input.shape.length !== 4 || input.shape[1] !== 3) throw new Error(`Supernet.forward: expected NCHW RGB input, got shape [${input.shape.join(', ')}]`);
    let x = this.stem.run(input, path.stemChannels, path.stemKernel, path.stemStride, 1, true, norm);
    for (const stage of path.stages) {
      for (const block of stage.blocks) {
        const shared = this.blocks[stage.index]![block.indexInStage]!;
        const op = block.fused ? shared.fused : shared.mbconv;
        if (op === null) throw new SupernetError(`stage ${stage.index + 1} of the supernet has no ${block.fused ? 'fused' : 'MBConv'} weights`);
        const branch = op.run(x, block, norm);
        const next = block.hasResidual ? add(this.dropPath(branch, block, path, training), x) : branch;
        if (!isGradEnabled() && x !== input) x.dispose();
        x = next;
      }
    }
    x = this.head.run(x, path.headChannels, 1, 1, 1, true, norm);
    const pooled = flatten(adaptiveAvgPool2d(x, 1), 1);
    return linear(dropout(pooled, this.options.dropout, training), this.fcWeight, this.fcBias);
  }

  private dropPath(branch: Tensor, block: BlockSpec, path: NetworkSpec, training: boolean): Tensor {
    const rate = (this.options.dropPath * block.index) / path.blockCount;
    if (!training || rate === 0) return branch;
    const mask = noGrad(() => {
      const noise = empty([branch.shape[0]!, 1, 1, 1], { dtype: branch.dtype });
      bernoulli_(noise, 1 - rate);
      div_(noise, 1 - rate);
      return noise;
    });
    return mul(branch, mask);
  }
}

/** A module that only names its children (stages, and positions within a stage). */
class ModuleList extends Module {
  add<M extends Module>(name: string, module: M): M {
    return this.registerModule(name, module);
  }

  forward(): Tensor {
    throw new Error('ModuleList: a list of shared blocks has no forward of its own');
  }
}

export type { SharedConvNorm, SharedMBConv, SharedFusedMBConv, SharedSqueezeExcitation };
