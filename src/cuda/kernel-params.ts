// Packing of cuLaunchKernel's `void **kernelParams`. Each argument gets its own slot, sized and aligned exactly as the
// kernel declares it (an int packed into 8 bytes is a silent wrong result, not an error), inside one Buffer; a second
// Buffer holds the slots' addresses and is what the driver receives. Both are allocated once per kernel and rewritten
// in place on later launches, so a launch allocates nothing (the driver copies the values at launch time).
import { koffi } from './ffi.js';

/** C type of one kernel parameter. `ptr` is a device pointer (CUdeviceptr, 8 bytes). */
export type ParamType = 'ptr' | 'i32' | 'u32' | 'i64' | 'u64' | 'f32' | 'f64';

export const PARAM_SIZE: Readonly<Record<ParamType, number>> = {
  ptr: 8,
  i32: 4,
  u32: 4,
  i64: 8,
  u64: 8,
  f32: 4,
  f64: 8,
};

/** A value for one slot: numbers for 32-bit and float types, bigint or number for 64-bit ones. */
export type ParamValue = number | bigint;

/**
 * A slot of raw bytes (a struct, union or array passed by value): `raw:<size>:<align>`. Its value is the bytes,
 * laid out by the caller (runtime/struct-layout.ts follows C's rules).
 */
export type RawSlot = `raw:${number}:${number}`;
/** What one slot holds: a scalar or device pointer (ParamType), or raw bytes of a given size and alignment. */
export type SlotType = ParamType | RawSlot;

export const rawSlot = (size: number, align: number): RawSlot => `raw:${size}:${align}`;

/** Size and alignment of a slot type. */
export function slotLayout(t: SlotType): { size: number; align: number } {
  if (t in PARAM_SIZE) {
    const size = PARAM_SIZE[t as ParamType];
    return { size, align: size };
  }
  const [, size, align] = t.split(':');
  return { size: Number(size), align: Number(align) };
}

/**
 * The packed `kernelParams` of one kernel: one slot per argument, allocated once and rewritten in place per
 * launch.
 */
export class KernelParamBlock {
  /** The argument values, slot after slot, each at an offset aligned to its own size. */
  readonly slots: Buffer;
  /** `void*[]`: the address of each slot. Pass this Buffer as kernelParams. */
  readonly pointerArray: Buffer;
  /** pointerArray's address as a number (for the launch entry points that take addresses). */
  readonly pointerAddress: number;
  readonly offsets: readonly number[];
  // Typed views over `slots`: much cheaper per write than Buffer's write*LE methods on the launch path.
  private readonly f32: Float32Array;
  private readonly f64: Float64Array;
  private readonly i32: Int32Array;
  private readonly u32: Uint32Array;
  private readonly i64: BigInt64Array;
  private readonly u64: BigUint64Array;

  constructor(readonly types: readonly SlotType[]) {
    const offsets: number[] = [];
    let end = 0;
    for (const t of types) {
      const { size, align } = slotLayout(t);
      // Raw slots are 8-byte aligned at least, so the typed views below stay usable around them.
      const a = t.startsWith('raw:') ? Math.max(8, align) : align;
      end = Math.ceil(end / a) * a;
      offsets.push(end);
      end += size;
    }
    this.offsets = offsets;
    // Buffer.alloc (not allocUnsafe) gives a private, 8-byte aligned backing store whose address never moves.
    this.slots = Buffer.alloc(Math.max(8, Math.ceil(end / 8) * 8));
    this.pointerArray = Buffer.alloc(Math.max(8, types.length * 8));
    const ab = this.slots.buffer;
    const at = this.slots.byteOffset;
    const words = this.slots.length;
    this.f32 = new Float32Array(ab, at, words / 4);
    this.i32 = new Int32Array(ab, at, words / 4);
    this.u32 = new Uint32Array(ab, at, words / 4);
    this.f64 = new Float64Array(ab, at, words / 8);
    this.i64 = new BigInt64Array(ab, at, words / 8);
    this.u64 = new BigUint64Array(ab, at, words / 8);
    const base = koffi.address(this.slots);
    offsets.forEach((off, i) => this.pointerArray.writeBigUInt64LE(base + BigInt(off), i * 8));
    this.pointerAddress = Number(koffi.address(this.pointerArray));
  }

  /** Write one argument into its slot. Throws a RangeError naming the argument if it does not fit its type. */
  set(index: number, value: ParamValue | Uint8Array): void {
    const type = this.types[index];
    const off = this.offsets[index];
    if (type === undefined || off === undefined) throw new RangeError(`kernel has no parameter #${index}`);
    if (value instanceof Uint8Array) {
      const { size } = slotLayout(type);
      if (!type.startsWith('raw:') || value.length !== size)
        throw new RangeError(`argument #${index} (${type}) cannot take ${value.length} raw bytes`);
      this.slots.set(value, off);
      return;
    }
    // Offsets are multiples of the slot size, so off / size indexes the matching typed view.
    const scalar = type as ParamType;
    switch (scalar) {
      case 'f32':
        this.f32[off >> 2] = Number(value);
        return;
      case 'f64':
        this.f64[off >> 3] = Number(value);
        return;
      case 'i32':
        this.i32[off >> 2] = toInteger(value, index, scalar);
        return;
      case 'u32':
        this.u32[off >> 2] = toInteger(value, index, scalar);
        return;
      case 'i64':
        this.i64[off >> 3] = toBigInt(value, index, scalar);
        return;
      case 'u64':
      case 'ptr':
        this.u64[off >> 3] = toBigInt(value, index, scalar);
        return;
      default:
        throw new RangeError(`argument #${index} is a struct slot (${type}): pass its bytes`);
    }
  }
}

function toInteger(value: ParamValue, index: number, type: ParamType): number {
  const n = typeof value === 'bigint' ? Number(value) : value;
  const [lo, hi] = type === 'i32' ? [-(2 ** 31), 2 ** 31 - 1] : [0, 2 ** 32 - 1];
  if (!Number.isInteger(n) || n < lo || n > hi)
    throw new RangeError(`argument #${index} (${type}) must be an integer in [${lo}, ${hi}], got ${value}`);
  return n;
}

function toBigInt(value: ParamValue, index: number, type: ParamType): bigint {
  if (typeof value === 'bigint') return value;
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`argument #${index} (${type}) must be a safe integer or a bigint, got ${value}`);
  }
  return BigInt(value);
}
