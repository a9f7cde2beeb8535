/** Element types of tensors, named as NumPy and PyTorch users expect. */
export type DType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

/** c10::ScalarType numbers, as operator schemas take them. */
const SCALAR_TYPE: Record<DType, number> = {
  uint8: 0,
  int8: 1,
  int16: 2,
  int32: 3,
  int64: 4,
  float16: 5,
  float32: 6,
  float64: 7,
  bool: 11,
  bfloat16: 15,
};

/** The c10::ScalarType number of a dtype, for operator arguments typed `ScalarType`. */
export function scalarTypeOf(dtype: DType): number {
  const code = SCALAR_TYPE[dtype];
  if (code === undefined) {
    throw new Error(`unknown dtype '${String(dtype)}'; expected one of ${Object.keys(SCALAR_TYPE).join(', ')}`);
  }
  return code;
}

/** Whether a dtype holds floating-point values. */
export function isFloatingDType(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64' || dtype === 'float16' || dtype === 'bfloat16';
}

/** Memory layouts, as `aten::contiguous` and `aten::to` take them. */
export type MemoryFormat = 'contiguous' | 'preserve' | 'channels_last';

const MEMORY_FORMAT: Record<MemoryFormat, number> = { contiguous: 0, preserve: 1, channels_last: 2 };

/** The c10::MemoryFormat number of a layout. */
export function memoryFormatOf(format: MemoryFormat): number {
  const code = MEMORY_FORMAT[format];
  if (code === undefined) throw new Error(`unknown memory format '${String(format)}'; expected contiguous, preserve or channels_last`);
  return code;
}

/** The typed array that carries each dtype between JS and libtorch. */
export type TypedArrayFor<D extends DType> = D extends 'float32'
  ? Float32Array
  : D extends 'float64'
    ? Float64Array
    : D extends 'int64'
      ? BigInt64Array
      : D extends 'int32'
        ? Int32Array
        : D extends 'int16'
          ? Int16Array
          : D extends 'int8'
            ? Int8Array
            : Uint8Array;
