// Structs passed to a kernel by value, laid out by C's rules: each field at the next multiple of its alignment (its
// own size for scalars), the struct aligned to its strictest field and its size rounded up to that. A layout packs
// named values into the bytes of one argument; the launch checks that size against the kernel's parameter.
//   const Params = new StructLayout({ a: 'ptr', n: 'i32', alpha: 'f32' });   // 16 bytes, align 8
//   kernel.launch(cfg, [Params.pack({ a: buf, n: 1024, alpha: 0.5 })]);
import type { DevicePointerLike } from './args.js';

/** A scalar C type of a field. */
export type FieldScalar =
  'i8' | 'u8' | 'i16' | 'u16' | 'i32' | 'u32' | 'i64' | 'u64' | 'f32' | 'f64' | 'ptr' | 'bool';
/** A field: a scalar C type, or a fixed array of one (`['f32', 4]` is `float v[4]`). */
export type FieldType = FieldScalar | readonly [FieldScalar, number];

const SIZE: Readonly<Record<FieldScalar, number>> = {
  i8: 1,
  u8: 1,
  bool: 1,
  i16: 2,
  u16: 2,
  i32: 4,
  u32: 4,
  f32: 4,
  i64: 8,
  u64: 8,
  f64: 8,
  ptr: 8,
};

/**
 * A value for one field of a StructLayout: a number, bigint, boolean, device pointer, or an array field's
 * elements.
 */
export type FieldValue = number | bigint | boolean | DevicePointerLike | readonly (number | bigint)[];

/** One argument's bytes (a struct, union or array by value); `align` is its C alignment. */
export interface StructArg {
  readonly struct: Uint8Array;
  readonly align: number;
  /** For messages: the layout's name. */
  readonly typeName?: string;
}

/** Raw bytes as a by-value argument (a layout built elsewhere); `align` as the kernel's type has it. */
export function bytesArg(data: Uint8Array, align = 8): StructArg {
  if (!Number.isInteger(align) || align < 1 || (align & (align - 1)) !== 0)
    throw new TypeError(`bytesArg: align must be a power of two, got ${align}`);
  return { struct: data, align };
}

/** The C layout of a struct passed by value (offsets, size, alignment by C's rules); pack() makes its bytes. */
export class StructLayout {
  readonly size: number;
  readonly align: number;
  /** Byte offset of each field. */
  readonly offsets: Readonly<Record<string, number>>;
  private readonly fields: readonly [string, FieldScalar, number][];

  constructor(
    fields: Readonly<Record<string, FieldType>>,
    /** For messages, e.g. 'Params'. */
    readonly name = 'struct',
  ) {
    const entries = Object.entries(fields);
    if (entries.length === 0) throw new TypeError(`StructLayout ${name}: a struct needs at least one field`);
    let end = 0;
    let align = 1;
    const offsets: Record<string, number> = {};
    const list: [string, FieldScalar, number][] = [];
    for (const [field, type] of entries) {
      const [scalar, count] = typeof type === 'string' ? [type, 1] : type;
      const size = SIZE[scalar];
      if (size === undefined)
        throw new TypeError(`StructLayout ${name}: field ${field} has unknown type ${String(scalar)}`);
      if (!Number.isInteger(count) || count < 1)
        throw new TypeError(
          `StructLayout ${name}: field ${field} needs a positive array length, got ${count}`,
        );
      end = Math.ceil(end / size) * size;
      offsets[field] = end;
      list.push([field, scalar, count]);
      end += size * count;
      align = Math.max(align, size);
    }
    this.size = Math.ceil(end / align) * align;
    this.align = align;
    this.offsets = offsets;
    this.fields = list;
  }

  /** The bytes of one value; every field must be given (padding is zero). */
  pack(values: Readonly<Record<string, FieldValue>>): StructArg {
    const bytes = new Uint8Array(this.size);
    const view = new DataView(bytes.buffer);
    for (const [field, scalar, count] of this.fields) {
      const v = values[field];
      if (v === undefined) throw new TypeError(`${this.name}.pack: field ${field} is missing`);
      const items = Array.isArray(v)
        ? (v as readonly (number | bigint)[])
        : [v as Exclude<FieldValue, readonly unknown[]>];
      if (items.length !== count)
        throw new TypeError(`${this.name}.pack: field ${field} takes ${count} value(s), got ${items.length}`);
      const at = this.offsets[field] as number;
      items.forEach((item, i) => write(view, at + i * SIZE[scalar], scalar, item, `${this.name}.${field}`));
    }
    for (const k of Object.keys(values))
      if (!(k in this.offsets))
        throw new TypeError(
          `${this.name}.pack: no field ${k} (fields: ${Object.keys(this.offsets).join(', ')})`,
        );
    return { struct: bytes, align: this.align, typeName: this.name };
  }
}

function write(
  view: DataView,
  at: number,
  t: FieldScalar,
  v: number | bigint | boolean | DevicePointerLike,
  what: string,
): void {
  const n = typeof v === 'object' ? v.devicePtr : typeof v === 'boolean' ? (v ? 1 : 0) : v;
  const int = (lo: number, hi: number): number => {
    const x = Number(n);
    if (!Number.isInteger(x) || x < lo || x > hi)
      throw new RangeError(`${what} (${t}) must be an integer in [${lo}, ${hi}], got ${String(n)}`);
    return x;
  };
  const big = (): bigint => {
    if (typeof n === 'bigint') return n;
    if (!Number.isSafeInteger(n))
      throw new RangeError(`${what} (${t}) must be a safe integer or a bigint, got ${String(n)}`);
    return BigInt(n);
  };
  switch (t) {
    case 'i8':
      return view.setInt8(at, int(-128, 127));
    case 'u8':
    case 'bool':
      return view.setUint8(at, int(0, 255));
    case 'i16':
      return view.setInt16(at, int(-32768, 32767), true);
    case 'u16':
      return view.setUint16(at, int(0, 65535), true);
    case 'i32':
      return view.setInt32(at, int(-(2 ** 31), 2 ** 31 - 1), true);
    case 'u32':
      return view.setUint32(at, int(0, 2 ** 32 - 1), true);
    case 'f32':
      return view.setFloat32(at, Number(n), true);
    case 'f64':
      return view.setFloat64(at, Number(n), true);
    case 'i64':
      return view.setBigInt64(at, big(), true);
    case 'u64':
    case 'ptr':
      return view.setBigUint64(at, big(), true);
  }
}
