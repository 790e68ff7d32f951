// Reductions over the last axis: input [..., N] → output [...] (a rank-1 input gives a rank-0 output of one element).
//
//   await new Reduce('sum').forward([x], [out]);
//   const m = await max(x);                      // allocates the output
import type { KernelSpec } from '../jit/types.js';
import { i64 } from '../runtime/args.js';
import type { Device, DeviceBuffer, Kernel, LaunchConfig, Stream } from '../runtime/index.js';
import { vectorWidth } from './elementwise-source.js';
import {
  aligned16,
  describeTensor,
  kernelSpecFrom,
  providerOf,
  requireCount,
  requireSameDevice,
  requireStreamOf,
  requireTensor,
  sameShape,
} from './elementwise.js';
import type { ForwardOptions, Operator } from './operator.js';
import {
  reduceSource,
  reduceSplitSource,
  ROWS_PER_BLOCK_WARP,
  rowBlockThreads,
  rowKernelShape,
  WARP_KERNEL_BLOCK,
  type ReduceOp,
  type RowKernelShape,
} from './reduce-source.js';
import { ShapeError, Tensor, type DType } from './tensor.js';

const specs = new Map<string, KernelSpec>();

/** @internal The spec of one reduce kernel, built once per process. */
export function reduceSpec(op: ReduceOp, dtype: DType, shape: RowKernelShape, vec: number): KernelSpec {
  const key = `${op}|${dtype}|${shape}|${vec}`;
  let spec = specs.get(key);
  if (!spec) {
    spec = kernelSpecFrom(reduceSource({ op, dtype, shape, vec }));
    specs.set(key, spec);
  }
  return spec;
}

const splitSpecs = new Map<string, { pieces: KernelSpec; combine: KernelSpec }>();

/** @internal The two kernel specs of a split reduction, built once per process. */
export function reduceSplitSpecs(
  op: ReduceOp,
  dtype: DType,
  vec: number,
): { pieces: KernelSpec; combine: KernelSpec } {
  const key = `${op}|${dtype}|${vec}`;
  let specsOf = splitSpecs.get(key);
  if (!specsOf) {
    const g = reduceSplitSource({ op, dtype, vec });
    specsOf = { pieces: kernelSpecFrom(g.pieces), combine: kernelSpecFrom(g.combine) };
    splitSpecs.set(key, specsOf);
  }
  return specsOf;
}

/** Rows at least this long are split over several blocks when there are fewer rows than SMs. */
export const SPLIT_MIN_ROW = 1 << 16;
/** The fewest elements a block of a split row reads. */
export const SPLIT_MIN_CHUNK = 1 << 14;

/**
 * @internal How to split rows over blocks, or undefined to keep one block per row: with fewer rows than SMs, one
 * block per row leaves most of the GPU idle (a single 10⁸-element row would run on one SM). Aims at about two
 * blocks per SM over all rows; `chunk` is a multiple of 32·vec, so pieces stay vector-aligned. rows × pieces stays
 * below 3 × smCount, which sizes the f32 scratch (splitScratch).
 */
export function splitPlan(
  rows: number,
  n: number,
  vec: number,
  smCount: number,
): { pieces: number; chunk: number } | undefined {
  if (rows >= smCount || n < SPLIT_MIN_ROW) return undefined;
  const wanted = Math.min(Math.ceil((2 * smCount) / rows), Math.floor(n / SPLIT_MIN_CHUNK));
  if (wanted < 2) return undefined;
  const align = 32 * vec;
  const chunk = Math.ceil(Math.ceil(n / wanted) / align) * align;
  return { pieces: Math.ceil(n / chunk), chunk };
}

// The f32 scratch of the split row kernels (reductions: one float per piece; softmax: two), one per stream (the
// device stands for its default stream): work on one stream runs in order, so reuse is safe; concurrent streams get
// their own. Sized once for the largest plan (rows × pieces < 3 × SMs, two floats each: 8 × SMs floats), never freed
// while in use.
const scratch = new WeakMap<object, DeviceBuffer>();
/** @internal */
export function splitScratch(device: Device, stream: Stream | undefined): DeviceBuffer {
  const owner: object = stream ?? device;
  let b = scratch.get(owner);
  if (!b || b.disposed || b.device !== device || b.generation !== device.generation) {
    b = device.alloc(8 * device.multiprocessorCount * 4);
    scratch.set(owner, b);
  }
  return b;
}

/**
 * @internal What both split row operations need before launching: their two kernels, the scratch of the caller's
 * stream, the config of the (pieces, rows) grid, and the stream option for any other launch.
 */
export async function prepareSplit(
  x: Tensor,
  rows: number,
  vec: number,
  plan: { pieces: number; chunk: number },
  specs: readonly [KernelSpec, KernelSpec],
  options?: ForwardOptions,
): Promise<{
  kernels: [Kernel, Kernel];
  scratch: DeviceBuffer;
  pieceGrid: LaunchConfig;
  on: { stream?: Stream };
}> {
  const provider = providerOf(options);
  const kernels = await Promise.all([
    provider.kernel(specs[0], x.device),
    provider.kernel(specs[1], x.device),
  ]);
  const stream = options?.stream;
  const on = stream ? { stream } : {};
  return {
    kernels,
    scratch: splitScratch(x.device, stream),
    pieceGrid: { grid: [plan.pieces, rows], block: rowBlockThreads(plan.chunk, vec), ...on },
    on,
  };
}

async function launchSplit(
  op: ReduceOp,
  x: Tensor,
  out: Tensor,
  { rows, n, vec }: { rows: number; n: number; vec: number },
  plan: { pieces: number; chunk: number },
  options?: ForwardOptions,
): Promise<void> {
  const { pieces: first, combine: second } = reduceSplitSpecs(op, x.dtype, vec);
  const {
    kernels: [pieces, combine],
    scratch: buf,
    pieceGrid,
    on,
  } = await prepareSplit(x, rows, vec, plan, [first, second], options);
  pieces.launch(pieceGrid, [buf, x, i64(rows), i64(n), i64(plan.chunk)]);
  combine.launch({ grid: Math.ceil(rows / ROWS_PER_BLOCK_WARP), block: WARP_KERNEL_BLOCK, ...on }, [
    out,
    buf,
    i64(rows),
    i64(plan.pieces),
  ]);
}

/** @internal Rows and row length of a contiguous [..., N] tensor; throws ShapeError for rank 0. */
export function rowsOf(op: string, t: Tensor): { rows: number; n: number } {
  if (t.rank === 0) throw new ShapeError(`${op}: input ${describeTensor(t)} has no last axis (rank 0)`);
  const n = t.shape[t.rank - 1] as number;
  return { rows: n === 0 ? t.shape.slice(0, -1).reduce((a, b) => a * b, 1) : t.size / n, n };
}

/**
 * @internal Launch a row kernel `(out, in, rows, n)` (reduce, softmax) over `rows` rows of n elements, with the
 * geometry rowLaunch picks and the kernel of that shape.
 */
export async function launchRows(
  op: string,
  x: Tensor,
  out: Tensor,
  { rows, n, vec }: { rows: number; n: number; vec: number },
  specOf: (shape: RowKernelShape) => KernelSpec,
  options?: ForwardOptions,
): Promise<void> {
  const geo = rowLaunch(op, rows, n, vec);
  const kernel = await providerOf(options).kernel(specOf(geo.shape), x.device);
  kernel.launch(
    { grid: geo.grid, block: geo.block, ...(options?.stream ? { stream: options.stream } : {}) },
    [out, x, i64(rows), i64(n)],
  );
}

/** @internal The launch geometry for `rows` rows of n elements. */
export function rowLaunch(
  op: string,
  rows: number,
  n: number,
  vec: number,
): { shape: RowKernelShape; grid: number; block: number } {
  const shape = rowKernelShape(n);
  if (shape === 'warp') {
    return { shape, grid: Math.ceil(rows / ROWS_PER_BLOCK_WARP), block: WARP_KERNEL_BLOCK };
  }
  if (rows > 0x7fffffff) throw new ShapeError(`${op}: ${rows} rows exceed the grid limit (2^31 - 1)`);
  return { shape, grid: rows, block: rowBlockThreads(n, vec) };
}

/** Sum or max over the last axis, accumulated in f32, written in the input's dtype. */
export class Reduce implements Operator {
  readonly name: string;

  constructor(readonly op: ReduceOp) {
    if (op !== 'sum' && op !== 'max')
      throw new TypeError(`Reduce: op must be 'sum' or 'max', got ${String(op)}`);
    this.name = `reduce_${op}`;
  }

  /** The output shape for an input shape: the last axis dropped. */
  static outputShape(inputShape: readonly number[]): number[] {
    return inputShape.slice(0, -1);
  }

  /** Checks the input (and the output, if given) without touching the device; throws ShapeError. */
  validate(inputs: readonly Tensor[], outputs?: readonly Tensor[]): void {
    const op = this.name;
    requireCount(op, 'input', inputs, 1);
    const x = requireTensor(op, 'input', inputs[0]);
    rowsOf(op, x);
    if (outputs === undefined) return;
    requireCount(op, 'output', outputs, 1);
    const out = requireTensor(op, 'output', outputs[0]);
    const want = Reduce.outputShape(x.shape);
    if (out.dtype !== x.dtype || !sameShape(out.shape, want)) {
      throw new ShapeError(
        `${op}: output is ${describeTensor(out)}; for input ${describeTensor(x)} it must be ${x.dtype}[${want.join(',')}]`,
      );
    }
    requireSameDevice(op, 'output', out, x);
  }

  async forward(
    inputs: readonly Tensor[],
    outputs: readonly Tensor[],
    options?: ForwardOptions,
  ): Promise<void> {
    this.validate(inputs, outputs);
    const x = inputs[0] as Tensor;
    const out = outputs[0] as Tensor;
    requireStreamOf(this.name, options, x);
    const { rows, n } = rowsOf(this.name, x);
    if (rows === 0) return;
    const width = vectorWidth(x.dtype);
    const vec = n % width === 0 && n > 0 && aligned16([x]) ? width : 1;
    const plan = splitPlan(rows, n, vec, x.device.multiprocessorCount);
    if (plan) return launchSplit(this.op, x, out, { rows, n, vec }, plan, options);
    await launchRows(
      this.name,
      x,
      out,
      { rows, n, vec },
      (shape) => reduceSpec(this.op, x.dtype, shape, vec),
      options,
    );
  }
}

async function reduceCall(op: ReduceOp, x: Tensor, options?: ForwardOptions): Promise<Tensor> {
  const r = new Reduce(op);
  r.validate([x]);
  const out = Tensor.empty(x.device, Reduce.outputShape(x.shape), x.dtype, options?.stream);
  await r.forward([x], [out], options);
  return out;
}

/** Sum over the last axis: [..., N] → [...]. */
export function sum(x: Tensor, options?: ForwardOptions): Promise<Tensor> {
  return reduceCall('sum', x, options);
}
/** Max over the last axis: [..., N] → [...] (NaN ignored; -inf for N = 0). */
export function max(x: Tensor, options?: ForwardOptions): Promise<Tensor> {
  return reduceCall('max', x, options);
}
