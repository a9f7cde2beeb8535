/**
 * Worker-thread side of the data loader: re-opens the data set from its shared description, compiles the
 * transform, then answers each batch request with a packed batch whose buffers are transferred to the parent.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { assembleBatch } from './batch.js';
import type { DatasetSource } from './dataset.js';
import { openDataset } from './open.js';
import { compileTransform, type TransformSpec } from './transforms/pipeline.js';

/** What the loader passes as `workerData`. */
export interface LoaderWorkerData {
  /** The data set to read. */
  source: DatasetSource;
  /** The preprocessing of each stage (one for a loader without stages). */
  transforms: TransformSpec[];
  /** The run seed. */
  seed: number;
}

/** A batch request from the loader. */
export interface BatchRequest {
  /** Request id, echoed back. */
  id: number;
  /** Epoch (part of each sample's seed). */
  epoch: number;
  /** Which of the transforms this epoch uses. */
  stage: number;
  /** Data-set indices to load. */
  indices: Int32Array;
}

if (parentPort) {
  const port = parentPort;
  const data = workerData as LoaderWorkerData;
  const dataset = openDataset(data.source);
  const transforms = data.transforms.map((t) => compileTransform(t));
  // Requests are handled one at a time, in arrival order.
  let queue: Promise<void> = Promise.resolve();
  port.on('message', (request: BatchRequest) => {
    queue = queue.then(async () => {
      try {
        const batch = await assembleBatch(dataset, transforms[request.stage]!, data.transforms[request.stage]!.size, request.indices, data.seed, request.epoch);
        port.postMessage({ id: request.id, batch }, [batch.images.buffer as ArrayBuffer, batch.labels.buffer as ArrayBuffer, batch.indices.buffer as ArrayBuffer]);
      } catch (error) {
        port.postMessage({ id: request.id, error: error instanceof Error ? error.stack ?? error.message : String(error) });
      }
    });
  });
}
