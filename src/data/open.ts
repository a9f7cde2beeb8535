/** Re-opens a data set from its {@link DatasetSource} (used by loader worker threads). */
import { ArrayImageDataset } from './array-dataset.js';
import type { DatasetSource, ImageDataset } from './dataset.js';
import { ImageFolderDataset } from './image-folder.js';
import { SubsetDataset } from './split.js';
import { TarImageDataset } from './tar-dataset.js';

/** Builds the data set that `source` describes, sharing its buffers. */
export function openDataset(source: DatasetSource): ImageDataset {
  switch (source.kind) {
    case 'array':
      return new ArrayImageDataset(source);
    case 'folder':
      return ImageFolderDataset.fromSource(source);
    case 'tar':
      return TarImageDataset.fromSource(source);
    case 'subset':
      return new SubsetDataset(openDataset(source.base), source.indices);
    default:
      throw new Error(`openDataset: unknown data set kind ${(source as { kind: string }).kind}; expected array, folder, tar or subset`);
  }
}
