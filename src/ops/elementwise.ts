// Elementwise operators: add, mul, relu, gelu and any fused chain of them (see elementwise-source.ts for the `ew`
// expression builder). One expression → one kernel, whatever its length.
//
//   const f = new Elementwise(ew.input(0).mul(ew.input(1)).add(1.5).gelu());
//   await f.forward([x, y], [out]);                       // out = gelu(x * y + 1.5), one launch
//   const z = await elementwise(ew.input(0).relu().mul(2), [x]);   // allocates the output
//   const s = await add(x, y);  const t = await gelu(s);            // single-operation shorthands
//
// Broadcasting: every tensor operand must have the same shape (and dtype, and device); JS-number scalars are the only
// thing that broadcasts. Scalars are float32 kernel arguments, so changing one reuses the compiled kernel.
import { defaultKernelProvider } from '../jit/default-provider.js';
import type { KernelProvider, KernelSpec } from '../jit/types.js';
import { f32, i64, type KernelArg } from '../runtime/args.js';
import type { Device } from '../runtime/index.js';
import {
  elementwiseSource,
  ELEMENTWISE_BLOCK,
  ew,
  EwExpr,
  lowerExpression,
  VECTOR_BYTES,
  vectorWidth,
  type LoweredExpression,
} from './elementwise-source.js';
import type { ForwardOptions, Operator } from './operator.js';
import { ShapeError, Tensor, type DType } from './tensor.js';

// ---- helpers shared by the ops of this folder (not part of the public API) ----

/** @internal `float16[3,4]`, for messages. */
export function describeTensor(t: Tensor): string {
  return `${t.dtype}[${t.shape.join(',')}]`;
}

/** @internal Throws ShapeError unless `t` is a contiguous Tensor. */
export function requireTensor(op: string, what: string, t: unknown): Tensor {
  if (!(t instanceof Tensor)) throw new ShapeError(`${op}: ${what} is not a Tensor`);
  if (!t.isContiguous) {
    throw new ShapeError(
      `${op}: ${what} (${describeTensor(t)}, strides [${t.strides.join(',')}]) is not contiguous; ` +
        `only row-major contiguous tensors are supported`,
    );
  }
  return t;
}

/** @internal */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** @internal Throws ShapeError when counts differ. */
export function requireCount(op: string, what: string, list: readonly unknown[], n: number): void {
  if (!Array.isArray(list) || list.length !== n) {
    throw new ShapeError(
      `${op}: expected ${n} ${what} tensor${n === 1 ? '' : 's'}, got ${list?.length ?? 'none'}`,
    );
  }
}

/** @internal Throws ShapeError when `t` lives on another device than `ref`. */
export function requireSameDevice(op: string, what: string, t: Tensor, ref: Tensor): void {
  if (t.device !== ref.device) {
    throw new ShapeError(`${op}: ${what} is on another device than the first input`);
  }
}

/** @internal A stream given in the options must belong to the tensors' device. */
export function requireStreamOf(op: string, options: ForwardOptions | undefined, ref: Tensor): void {
  const stream = options?.stream;
  if (stream && stream.device !== ref.device) {
    throw new ShapeError(
      `${op}: the stream belongs to another device than the input; use one of its own streams`,
    );
  }
}

/** @internal The JIT to use: the caller's, else the global default. */
export function providerOf(options?: ForwardOptions): KernelProvider {
  return options?.jit ?? defaultKernelProvider();
}

/** @internal True when every pointer is 16-byte aligned (cuMemAlloc gives 256). */
export function aligned16(tensors: readonly Tensor[]): boolean {
  return tensors.every((t) => t.devicePtr % BigInt(VECTOR_BYTES) === 0n);
}

/** @internal Blocks for a grid-stride loop over `units` work items: enough to fill the GPU, no more. */
export function gridStrideBlocks(device: Device, units: number, block: number): number {
  const wanted = Math.ceil(units / block);
  return Math.max(1, Math.min(wanted, device.multiprocessorCount * 32));
}

// ---- the operator ----

/** How an elementwise operator generates its kernel. */
export interface ElementwiseOptions {
  /** Use 16-byte vector loads/stores when all pointers are aligned (default true). False forces the scalar loop. */
  readonly vectorize?: boolean;
}

/** @internal The JIT spec of a generated kernel (its program named after it, for compiler logs). */
export function kernelSpecFrom(g: {
  readonly source: string;
  readonly name: string;
  readonly signature: KernelSpec['signature'];
}): KernelSpec {
  return { source: g.source, name: g.name, signature: g.signature, programName: `${g.name}.cu` };
}

// Generated specs by (expression text, dtype, vec), shared by every Elementwise instance: the same spec object each
// time, so the JIT's per-spec key memo hits and the source is built once per process.
const specs = new Map<string, { spec: KernelSpec }>();

function specFor(lowered: LoweredExpression, dtype: DType, vec: number): KernelSpec {
  const key = `${lowered.text}|${dtype}|${vec}`;
  let entry = specs.get(key);
  if (!entry) {
    const g = elementwiseSource({ expr: lowered, dtype, vec });
    entry = { spec: kernelSpecFrom(g) };
    specs.set(key, entry);
  }
  return entry.spec;
}

/**
 * A fused elementwise operator: `outputs[0] = expr(inputs[0], inputs[1], …)`, all operands the same shape and dtype,
 * computed in f32. Output may alias an input (in place).
 */
export class Elementwise implements Operator {
  readonly name: string;
  readonly lowered: LoweredExpression;
  private readonly vectorize: boolean;

  constructor(
    readonly expr: EwExpr,
    options: ElementwiseOptions = {},
  ) {
    if (!(expr instanceof EwExpr)) throw new TypeError('Elementwise takes an expression built with ew');
    this.lowered = lowerExpression(expr);
    this.name = `elementwise(${this.lowered.text})`;
    this.vectorize = options.vectorize ?? true;
  }

  /** Number of input tensors forward() takes. */
  get arity(): number {
    return this.lowered.arity;
  }

  /** Checks inputs (and the output, if given) without touching the device; throws ShapeError. */
  validate(inputs: readonly Tensor[], outputs?: readonly Tensor[]): void {
    const op = this.name;
    requireCount(op, 'input', inputs, this.arity);
    const first = requireTensor(op, 'input 0', inputs[0]);
    inputs.forEach((t, i) => {
      requireTensor(op, `input ${i}`, t);
      if (t.dtype !== first.dtype) {
        throw new ShapeError(
          `${op}: input ${i} is ${t.dtype} but input 0 is ${first.dtype}; dtypes must match`,
        );
      }
      if (!sameShape(t.shape, first.shape)) {
        throw new ShapeError(
          `${op}: input ${i} has shape [${t.shape}] but input 0 has [${first.shape}]; elementwise operands must ` +
            `have the same shape (only JS-number scalars broadcast)`,
        );
      }
      requireSameDevice(op, `input ${i}`, t, first);
    });
    if (outputs === undefined) return;
    requireCount(op, 'output', outputs, 1);
    const out = requireTensor(op, 'output', outputs[0]);
    if (out.dtype !== first.dtype || !sameShape(out.shape, first.shape)) {
      throw new ShapeError(
        `${op}: output is ${describeTensor(out)} but the inputs are ${describeTensor(first)}`,
      );
    }
    requireSameDevice(op, 'output', out, first);
  }

  /** The kernel spec this operator would use for `dtype` and vector width `vec` (1 or vectorWidth(dtype)). */
  spec(dtype: DType, vec: number): KernelSpec {
    return specFor(this.lowered, dtype, vec);
  }

  async forward(
    inputs: readonly Tensor[],
    outputs: readonly Tensor[],
    options?: ForwardOptions,
  ): Promise<void> {
    this.validate(inputs, outputs);
    const out = outputs[0] as Tensor;
    const n = out.size;
    if (n === 0) return;
    const used = this.lowered.usedInputs.map((i) => inputs[i] as Tensor);
    const width = vectorWidth(out.dtype);
    const vec = this.vectorize && aligned16([out, ...used]) ? width : 1;
    const spec = this.spec(out.dtype, vec);
    const kernel = await providerOf(options).kernel(spec, out.device);
    const args: KernelArg[] = [out, ...inputs, ...this.lowered.scalars.map((s) => f32(s)), i64(n)];
    kernel.launch(
      {
        grid: gridStrideBlocks(out.device, Math.ceil(n / vec), ELEMENTWISE_BLOCK),
        block: ELEMENTWISE_BLOCK,
        ...(options?.stream ? { stream: options.stream } : {}),
      },
      args,
    );
  }
}

/** x0 + x1. */
export class Add extends Elementwise {
  constructor(options?: ElementwiseOptions) {
    super(ew.input(0).add(ew.input(1)), options);
  }
}
/** x0 · x1. */
export class Mul extends Elementwise {
  constructor(options?: ElementwiseOptions) {
    super(ew.input(0).mul(ew.input(1)), options);
  }
}
/** max(x0, 0). */
export class Relu extends Elementwise {
  constructor(options?: ElementwiseOptions) {
    super(ew.input(0).relu(), options);
  }
}
/** GELU: the tanh approximation by default; `approximate: 'none'` for the exact erf form. */
export class Gelu extends Elementwise {
  constructor(options: ElementwiseOptions & { readonly approximate?: 'tanh' | 'none' } = {}) {
    super(options.approximate === 'none' ? ew.input(0).geluErf() : ew.input(0).gelu(), options);
  }
}

// ---- convenience functions: allocate the output, launch, return it (queued on the stream; not synchronized) ----

/** Evaluate `expr` over `inputs` into a new tensor shaped like inputs[0]. */
export async function elementwise(
  expr: EwExpr,
  inputs: readonly Tensor[],
  options?: ForwardOptions & ElementwiseOptions,
): Promise<Tensor> {
  const op = new Elementwise(expr, options);
  op.validate(inputs);
  const first = inputs[0] as Tensor;
  const out = Tensor.empty(first.device, first.shape, first.dtype, options?.stream);
  await op.forward(inputs, [out], options);
  return out;
}

function binaryCall(
  opName: string,
  build: (a: EwExpr | number, b: EwExpr | number) => EwExpr,
  a: Tensor | number,
  b: Tensor | number,
  options?: ForwardOptions,
): Promise<Tensor> {
  const tensors: Tensor[] = [];
  const operand = (v: Tensor | number): EwExpr | number => {
    if (typeof v === 'number') return v;
    tensors.push(v);
    return ew.input(tensors.length - 1);
  };
  const expr = build(operand(a), operand(b));
  if (tensors.length === 0) {
    return Promise.reject(new ShapeError(`${opName}: at least one operand must be a Tensor`));
  }
  return elementwise(expr, tensors, options);
}

/** a + b; either may be a number. */
export function add(a: Tensor | number, b: Tensor | number, options?: ForwardOptions): Promise<Tensor> {
  return binaryCall('add', ew.add, a, b, options);
}
/** a · b; either may be a number. */
export function mul(a: Tensor | number, b: Tensor | number, options?: ForwardOptions): Promise<Tensor> {
  return binaryCall('mul', ew.mul, a, b, options);
}
/** max(x, 0). */
export function relu(x: Tensor, options?: ForwardOptions): Promise<Tensor> {
  return elementwise(ew.input(0).relu(), [x], options);
}
/** GELU, tanh approximation (`approximate: 'none'` for the exact erf form). */
export function gelu(
  x: Tensor,
  options?: ForwardOptions & { readonly approximate?: 'tanh' | 'none' },
): Promise<Tensor> {
  const e = options?.approximate === 'none' ? ew.input(0).geluErf() : ew.input(0).gelu();
  return elementwise(e, [x], options);
}
