/** Training across processes and hosts over c10d: data parallelism, sync batch norm, sharding. */
export { DEFAULT_BUCKET_BYTES, averageGradients, broadcastModule, checkSameModule, gradientBuckets, moduleLayout } from './data-parallel.js';
export { useSyncBatchNorm } from './sync-batchnorm.js';
export { distributedIndices, epochOrder, type ShardOptions } from './sampler.js';
