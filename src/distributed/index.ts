/** Training across processes and hosts over c10d: data parallelism, sync batch norm, sharding. */
export { DEFAULT_BUCKET_BYTES, averageGradients, batchNormStatisticNames, distributeBatchNormStatistics, distributeTensors, type DistributedBatchNormMode, broadcastModule, checkSameModule, gradientBuckets, moduleLayout } from './data-parallel.js';
export { useSyncBatchNorm } from './sync-batchnorm.js';
export { distributedIndices, epochOrder, type ShardOptions } from './sampler.js';
export { DistributedEnvironmentError, readWorkerEnvironment, workerVariables, WORKER_VARIABLES, type WorkerEnvironment } from './environment.js';
export { describeExit, launchWorkers, type LaunchOptions, type LaunchResult, type WorkerFailure } from './launch.js';
