/**
 * effnet: EfficientNet and compound model scaling, end to end in TypeScript. This is the package's one entry point
 * (`import { … } from 'effnet'`), a curated API:
 *
 * - the model family and its description: {@link createEfficientNet}, the variant registry, compound scaling, the
 *   block-string grammar, and the model card ({@link resolveModelCard}) that travels with every model;
 * - the analytic profiler and the MAC-budget solver ({@link profileNetwork}, {@link solveForMacs});
 * - training: {@link Trainer}, {@link runTraining} (what `effnet train` does), data specs and the loader;
 * - weights: effnet's model files, opening any model or run directory ({@link openModel}), torchvision/timm import;
 * - ONNX export ({@link exportEfficientNet}) and inference ({@link ImageClassifier}, {@link openClassifier});
 * - the compound-scaling searches ({@link runSearch}, {@link gridSearchDefinition}, {@link ExperimentStore}) and the
 *   ask/tell strategies of the architecture search ({@link createSearchStrategy});
 * - user errors ({@link UserError}; a bad input file is a {@link BadFileError}) and the input bounds
 *   ({@link LIMIT_DEFAULTS}, raised with EFFNET_LIMIT_* variables; docs/security.md).
 *
 * The libtorch addon loads on the first engine call, not at import, so ONNX-only use (ImageClassifier on an .onnx
 * file) needs no libtorch. The tensor library itself is `effnet/torch`.
 */

// Model family, scaling, block strings.
export { createEfficientNet, EfficientNet, type EfficientNetOptions, type ResolvedEfficientNetOptions } from './efficientnet/model.js';
export {
  getVariant,
  variantNames,
  customConfig,
  compoundConfig,
  defaultDropout,
  networkSpec,
  UnknownVariantError,
  MIN_RESOLUTION,
  MIN_IMAGE_SIZE,
  type EfficientNetConfig,
  type CustomConfigOptions,
  type CompoundConfigOptions,
} from './efficientnet/variants.js';
export {
  compoundMultipliers,
  roundFilters,
  roundRepeats,
  scaleNetwork,
  DEFAULT_COMPOUND_COEFFICIENTS,
  ScalingError,
  type CompoundCoefficients,
  type NetworkSpec,
  type StageSpec,
  type BlockSpec,
} from './efficientnet/scaling.js';
export {
  parseBlockString,
  decodeArchitecture,
  encodeArchitecture,
  encodeBlockString,
  efficientNetB0Stages,
  EFFICIENTNET_B0_BLOCK_STRINGS,
  BlockSpecError,
  type StageArgs,
} from './efficientnet/block-spec.js';
export { profileNetwork, type NetworkProfile, type StageProfile, type BlockProfile, type ProfileOptions, type PaddingMode } from './efficientnet/profile.js';
export { solveForMacs, type SolveOptions, type SolveResult } from './efficientnet/solver.js';
export type { BatchNormSettings, BatchNormChoice } from './efficientnet/batch-norm.js';

// The model card.
export {
  MODEL_CARD_KEY,
  MODEL_CARD_VERSION,
  ModelCardError,
  parseModelCard,
  parseModelCardJson,
  serializeModelCard,
  evalTransformOf,
  describeCard,
  cardDifferences,
  type ModelCard,
  type ArchitectureCard,
  type ClassesCard,
  type EvalTransformCard,
  type CardOrigin,
} from './card/model-card.js';
export { resolveModelCard, configOfCard, stagesOfCard, type CardRequest, type ModelSource, type EvalOverrides } from './card/resolve.js';
export { createModelFromCard, cardOf, attachCard, cardOfModel, type CardOfModelOptions } from './card/build.js';
export { readScaledConfig, writeScaledConfig, resolveBase, ConfigFileError, type ScaledConfigJson } from './card/config-file.js';

// Data.
export { openData, resolveData, DataSpecError, type ResolvedData } from './data/spec.js';
export { DataLoader, type LoaderOptions, type Batch } from './data/loader.js';
export type { ImageDataset, Sample, SampleError, SampleResult } from './data/dataset.js';
export { decodeImage, decodeJpegSync, type RgbImage } from './data/image.js';
export type { TransformSpec, TrainTransformSpec, EvalTransformSpec } from './data/transforms/pipeline.js';

// Training.
export { Trainer, evaluate, type Recipe, type TrainerOptions, type EpochMetrics, type EvalResult } from './train/trainer.js';
export { runTraining, resolveRunCard, RunOptionsError, type TrainRunOptions, type TrainRunResult, type ModelRequest } from './train/run.js';
export { buildRun, type RunBuildOptions, type BuiltRun } from './train/run-builder.js';
export { openModel, readModelCard, locateModel, ModelFileError, type OpenedModel, type ModelLocation } from './model-file/open.js';
export { loadPretrained, freeze } from './train/finetune.js';

// Weights.
export { saveModel, loadModel, importWeights, loadIntoModel, WeightsMismatchError, type SaveModelOptions, type LoadedModel, type ImportWeightsOptions, type ImportedWeights } from './model-file/weights.js';
export { loadSafetensors, saveSafetensors } from './io/safetensors.js';
export type { StateDictReport } from './nn/module.js';

// ONNX export and inference.
export { exportEfficientNet, writeOnnx, type ExportOptions, type ExportedModel } from './export/efficientnet-onnx.js';
export { exportModelFile, modelBytes } from './export/model-file.js';
export { ImageClassifier, type ClassifierOptions, type Classification, type OrtModuleLike } from './infer/classifier.js';
export { openClassifier, classifyFiles, loadImageFile, nodeRuntime, type ImageResult, type OpenClassifierOptions } from './infer/node.js';
export { Preprocessor } from './infer/preprocess.js';
export { readOnnxMetadata, cardFromOnnxMetadata, modelInfoFromMetadata, type ModelInfo } from './infer/model-info.js';
export { softmax, topK, type Prediction } from './infer/topk.js';

// The compound-scaling searches.
export { runSearch, type RunSearchOptions, type RunSearchResult } from './search/runner.js';
export { gridSearchDefinition, scalingStudyDefinition, type SearchDefinition, type CommonSearchOptions } from './search/definitions.js';
export { ExperimentStore, type TrialResult, type TrialRow, type SearchRow } from './search/store.js';
export { enumerateGrid, type GridOptions, type GridPoint } from './search/grid.js';
export { matchTarget, profileConfig, PAPER_COEFFICIENTS, type MatchOptions, type MatchResult, type ScalingStrategy } from './search/match.js';
export {
  createSearchStrategy,
  restoreSearchStrategy,
  randomCandidate,
  mutateCandidate,
  SearchSpaceError,
  STRATEGY_NAMES,
  type SearchStrategy,
  type SearchSpace,
  type Candidate,
  type Choice,
  type StrategyName,
  type StrategyOptions,
  type StrategyState,
} from './search/nas/strategy.js';
// The architecture search's space, rewards, zero-cost score and trade-offs (effnet nas; docs/nas.md).
export {
  resolveSearchSpace,
  flatSearchSpace,
  decodeCandidate,
  candidateBlockStrings,
  candidateOf,
  spaceSize,
  type SearchSpaceDocument,
  type ResolvedSearchSpace,
  type StageChoices,
} from './search/nas/space.js';
export { builtInSpace, builtInSpaceNames, MNASNET_A1_BLOCK_STRINGS, MOBILENET_V2_BLOCK_STRINGS } from './search/nas/spaces.js';
export { computeReward, proxyTarget, REWARD_NAMES, PAPER_TARGET_MACS, type RewardSpec, type RewardName } from './search/nas/reward.js';
export { naswotScore, type NaswotResult } from './search/nas/zero-cost.js';
export { paretoFront, hypervolume, type TradeOffPoint } from './search/nas/pareto.js';
export { measureLatency, type LatencyOptions, type LatencyResult } from './search/nas/latency.js';
export { runTrial, trialCard, DEFAULT_TRIAL_BATCH_SIZE, DEFAULT_CROP_SCALE, DEFAULT_TRIAL_RECIPE, type TrialSettings, type TrialRecipe } from './search/trial.js';

// Errors and the engine's switches.
export { UserError, UsageError, BadFileError, isUserError } from './errors.js';
export { MissingPackageError, OPTIONAL_PACKAGES, type OptionalPackage } from './optional-package.js';
export { LIMIT_DEFAULTS, LimitError, limit, limitVariable, type LimitName } from './limits.js';
export { manualSeed, setNumThreads, getNumThreads, libtorchVersion, tidy, noGrad, type Tensor } from './torch/index.js';

// Optimizers, for training loops of one's own (the data-parallel example in docs/distributed.md).
export { SGD, AdamW, RMSpropTF, type SGDOptions, type AdamWOptions, type RMSpropTFOptions } from './optim/index.js';

// Across processes and hosts: c10d process groups and the data-parallel building blocks (docs/distributed.md).
export { ProcessGroup, type ProcessGroupOptions, type ReduceOperation } from './torch/index.js';
export {
  DEFAULT_BUCKET_BYTES, averageGradients, broadcastModule, checkSameModule, gradientBuckets, moduleLayout, useSyncBatchNorm, distributedIndices, epochOrder, type ShardOptions,
  distributeBatchNormStatistics, type DistributedBatchNormMode, readWorkerEnvironment, DistributedEnvironmentError, type WorkerEnvironment,
  launchWorkers, type LaunchOptions, type LaunchResult, type WorkerFailure,
} from './distributed/index.js';
