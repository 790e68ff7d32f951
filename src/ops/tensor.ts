import { attachDetails, registerErrorClass } from '../cuda/errors.js';
import type { Device, DeviceBuffer, Stream } from '../runtime/index.js';

/** The element types the operators take. */
export type DType = 'float32' | 'float16' | 'bfloat16';

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = { float32: 4, float16: 2, bfloat16: 2 };

/** The CUDA C++ type name of each dtype, as generated sources spell it. */
export const DTYPE_CTYPE: Readonly<Record<DType, string>> = {
  float32: 'float',
  float16: '__half',
  bfloat16: '__nv_bfloat16',
};

/** Raised before any launch when inputs do not fit an operator. */
export class ShapeError extends TypeError {
  override readonly name = 'ShapeError';
  constructor(message: string) {
    super(message);
    attachDetails(this, {});
  }
}
registerErrorClass('ShapeError', ShapeError);

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** float → IEEE half bits, round to nearest even. */
export function floatToHalfBits(x: number): number {
  f32Scratch[0] = x;
  const f = u32Scratch[0] as number;
  const sign = (f >>> 16) & 0x8000;
  const exp = (f >>> 23) & 0xff;
  let mant = f & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

export function halfBitsToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** float → bfloat16 bits, round to nearest even. */
export function floatToBfloat16Bits(x: number): number {
  f32Scratch[0] = x;
  const f = u32Scratch[0] as number;
  if ((f & 0x7f800000) === 0x7f800000 && f & 0x7fffff) return ((f >>> 16) | 0x40) & 0xffff;
  const rounded = f + 0x7fff + ((f >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

export function bfloat16BitsToFloat(b: number): number {
  u32Scratch[0] = (b & 0xffff) << 16;
  return f32Scratch[0] as number;
}

/** Encode numbers as the dtype's host bytes (Float32Array for float32, Uint16Array bits for the 16-bit types). */
export function encodeHost(values: ArrayLike<number>, dtype: DType): Float32Array | Uint16Array {
  if (dtype === 'float32') return Float32Array.from(values);
  const enc = dtype === 'float16' ? floatToHalfBits : floatToBfloat16Bits;
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = enc(values[i] as number);
  return out;
}

/** Decode the dtype's host bytes back to float64 numbers. */
export function decodeHost(data: Float32Array | Uint16Array, dtype: DType): Float64Array {
  if (dtype === 'float32') return Float64Array.from(data);
  const dec = dtype === 'float16' ? halfBitsToFloat : bfloat16BitsToFloat;
  const out = new Float64Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = dec(data[i] as number);
  return out;
}

/**
 * A dense, row-major (C-contiguous) array on one device: a DeviceBuffer plus shape and dtype.
 * Operators accept only contiguous tensors; views with strides are not supported yet.
 */
export class Tensor {
  readonly size: number;

  constructor(
    readonly buffer: DeviceBuffer,
    readonly shape: readonly number[],
    readonly dtype: DType,
    /** Element strides; omitted means row-major contiguous. */
    readonly strides: readonly number[] = contiguousStrides(shape),
  ) {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0)
        throw new ShapeError(`tensor dimensions must be non-negative integers: [${shape}]`);
    }
    this.size = shape.reduce((a, b) => a * b, 1);
    if (this.size * DTYPE_BYTES[dtype] > buffer.byteLength) {
      throw new ShapeError(
        `a ${dtype} tensor of shape [${shape}] needs ${this.size * DTYPE_BYTES[dtype]} bytes; the buffer has ${buffer.byteLength}`,
      );
    }
  }

  /**
   * Allocate an uninitialized tensor, from the device's memory pool where it has one (ordered on `stream`, default
   * the legacy stream; disposing it synchronizes nothing), else with cuMemAlloc. Pass the stream the tensor is
   * used on when that is a non-blocking stream.
   */
  static empty(device: Device, shape: readonly number[], dtype: DType = 'float32', stream?: Stream): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    return new Tensor(device.allocAsync(Math.max(1, n) * DTYPE_BYTES[dtype], stream), shape, dtype);
  }

  /** Allocate and fill from numbers (converted to the dtype). */
  static fromArray(
    device: Device,
    values: ArrayLike<number>,
    shape: readonly number[],
    dtype: DType = 'float32',
  ) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (values.length !== n)
      throw new ShapeError(`${values.length} values for shape [${shape}] (${n} elements)`);
    const t = Tensor.empty(device, shape, dtype);
    if (n > 0) t.buffer.upload(encodeHost(values, dtype));
    return t;
  }

  /** The device that holds the buffer. */
  get device(): Device {
    return this.buffer.device;
  }
  /** The buffer's device address (the first element). */
  get devicePtr(): bigint {
    return this.buffer.devicePtr;
  }
  /** Number of dimensions. */
  get rank(): number {
    return this.shape.length;
  }
  /** True when the strides are row-major contiguous (dimensions of size 1 aside). */
  get isContiguous(): boolean {
    const c = contiguousStrides(this.shape);
    return this.strides.every((s, i) => s === c[i] || (this.shape[i] ?? 0) <= 1);
  }

  /** Copy to the host as float64 numbers. */
  toArray(): Float64Array {
    if (this.size === 0) return new Float64Array(0);
    const host = this.dtype === 'float32' ? new Float32Array(this.size) : new Uint16Array(this.size);
    this.buffer.download(host);
    return decodeHost(host, this.dtype);
  }

  /** Frees the device buffer (the tensor is not used afterwards). */
  dispose(): void {
    this.buffer.dispose();
  }
}

/** Row-major element strides of `shape` (the last dimension's stride is 1). */
export function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i] as number;
  }
  return s;
}
