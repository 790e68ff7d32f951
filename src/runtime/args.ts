import type { ParamType, ParamValue } from '../cuda/index.js';
import type { StructArg } from './struct-layout.js';

/** An argument with an explicit C type, e.g. `i32(n)`: plain JS numbers are ambiguous (int? float?). */
export interface TypedArg {
  readonly type: ParamType;
  readonly value: ParamValue;
}

/** Anything that lives in device memory and can be passed as a pointer (DeviceBuffer, Tensor). */
export interface DevicePointerLike {
  readonly devicePtr: bigint;
}

/**
 * One kernel argument. Device buffers and tensors pass their pointer; typed wrappers pass their value;
 * plain numbers/bigints take their type from the kernel's declared signature.
 */
export type KernelArg = DevicePointerLike | TypedArg | StructArg | number | bigint;

/** A 32-bit signed integer argument (`int`). */
export const i32 = (value: number): TypedArg => ({ type: 'i32', value });
/** A 32-bit unsigned integer argument (`unsigned int`). */
export const u32 = (value: number): TypedArg => ({ type: 'u32', value });
/** A 64-bit signed integer argument (`long long`). */
export const i64 = (value: number | bigint): TypedArg => ({ type: 'i64', value });
/** A 64-bit unsigned integer argument (`unsigned long long`, `size_t`). */
export const u64 = (value: number | bigint): TypedArg => ({ type: 'u64', value });
/** A `float` argument. */
export const f32 = (value: number): TypedArg => ({ type: 'f32', value });
/** A `double` argument. */
export const f64 = (value: number): TypedArg => ({ type: 'f64', value });
/** A raw device address (e.g. from cuModuleGetGlobal or an offset into a buffer). */
export const ptr = (value: bigint): TypedArg => ({ type: 'ptr', value });
