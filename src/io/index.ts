/**
 * Weight files: safetensors (read and write), torch.save checkpoints (read, through an allow-list unpickler that
 * never executes anything), and the zip reader underneath.
 */
export { encodeSafetensors, decodeSafetensors, saveSafetensors, loadSafetensors, writeFileAtomic, MAX_HEADER_BYTES, type DecodedSafetensors, type LoadedSafetensors } from './safetensors.js';
export { loadTorchCheckpoint, readTorchCheckpoint, rebuildTensor, NESTED_STATE_DICT_KEYS, type TorchCheckpoint } from './torch-checkpoint.js';
export { unpickle, ALLOWED_GLOBALS, STORAGE_DTYPES, PickleDict, PickleTuple, PickleGlobal, TorchStorageRef, TorchTensorRef, type PickleValue, type UnpickleOptions } from './pickle.js';
export { ZipArchive, looksLikeZip, type ZipEntry } from './zip.js';
export { toTensor, fromTensor, float16BitsToFloat32, bfloat16BitsToFloat32, float32ToFloat16Bits, float32ToBFloat16Bits, halfBitsToFloat32, float32ToHalfBits, type HostTensor, type HostData } from './host-tensor.js';
