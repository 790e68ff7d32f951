// Row-wise softmax over the last axis: output has the input's shape and dtype.
//
//   await new Softmax().forward([x], [y]);
//   const y2 = await softmax(x);                 // allocates the output
import type { KernelSpec } from '../jit/types.js';
import { vectorWidth } from './elementwise-source.js';
import {
  aligned16,
  describeTensor,
  kernelSpecFrom,
  requireCount,
  requireSameDevice,
  requireStreamOf,
  requireTensor,
  sameShape,
} from './elementwise.js';
import type { ForwardOptions, Operator } from './operator.js';
import { i64 } from '../runtime/args.js';
import { launchRows, prepareSplit, rowsOf, splitPlan } from './reduce.js';
import type { RowKernelShape } from './reduce-source.js';
import { softmaxSource, softmaxSplitSource } from './softmax-source.js';
import { ShapeError, Tensor, type DType } from './tensor.js';

const specs = new Map<string, KernelSpec>();

/** @internal The spec of one softmax kernel, built once per process. */
export function softmaxSpec(dtype: DType, shape: RowKernelShape, vec: number): KernelSpec {
  const key = `${dtype}|${shape}|${vec}`;
  let spec = specs.get(key);
  if (!spec) {
    spec = kernelSpecFrom(softmaxSource({ dtype, shape, vec }));
    specs.set(key, spec);
  }
  return spec;
}

const splitSpecs = new Map<string, { stats: KernelSpec; normalize: KernelSpec }>();

/** @internal The two kernel specs of a split softmax, built once per process. */
export function softmaxSplitSpecs(dtype: DType, vec: number): { stats: KernelSpec; normalize: KernelSpec } {
  const key = `${dtype}|${vec}`;
  let s = splitSpecs.get(key);
  if (!s) {
    const g = softmaxSplitSource({ dtype, vec });
    s = { stats: kernelSpecFrom(g.stats), normalize: kernelSpecFrom(g.normalize) };
    splitSpecs.set(key, s);
  }
  return s;
}

/**
 * Numerically stable softmax over the last axis (online max + sum, f32 math). The output must be a separate tensor
 * (not the input).
 */
export class Softmax implements Operator {
  readonly name = 'softmax';

  /** Checks the input (and the output, if given) without touching the device; throws ShapeError. */
  validate(inputs: readonly Tensor[], outputs?: readonly Tensor[]): void {
    const op = this.name;
    requireCount(op, 'input', inputs, 1);
    const x = requireTensor(op, 'input', inputs[0]);
    rowsOf(op, x);
    if (outputs === undefined) return;
    requireCount(op, 'output', outputs, 1);
    const out = requireTensor(op, 'output', outputs[0]);
    if (out.dtype !== x.dtype || !sameShape(out.shape, x.shape)) {
      throw new ShapeError(
        `${op}: output is ${describeTensor(out)}; it must match the input ${describeTensor(x)}`,
      );
    }
    requireSameDevice(op, 'output', out, x);
    if (out.buffer === x.buffer)
      throw new ShapeError(`${op}: the output must not be the input (no in-place softmax)`);
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
    if (rows === 0 || n === 0) return;
    const width = vectorWidth(x.dtype);
    const vec = n % width === 0 && aligned16([x, out]) ? width : 1;
    // Few long rows: split each over several blocks (see splitPlan), as the reductions do.
    const plan = splitPlan(rows, n, vec, x.device.multiprocessorCount);
    if (plan) {
      const { stats: first, normalize: second } = softmaxSplitSpecs(x.dtype, vec);
      const {
        kernels: [stats, normalize],
        scratch: buf,
        pieceGrid,
      } = await prepareSplit(x, rows, vec, plan, [first, second], options);
      stats.launch(pieceGrid, [buf, x, i64(rows), i64(n), i64(plan.chunk)]);
      normalize.launch(pieceGrid, [out, x, buf, i64(rows), i64(n), i64(plan.chunk)]);
      return;
    }
    await launchRows(
      this.name,
      x,
      out,
      { rows, n, vec },
      (shape) => softmaxSpec(x.dtype, shape, vec),
      options,
    );
  }
}

/** Softmax over the last axis into a new tensor. */
export async function softmax(x: Tensor, options?: ForwardOptions): Promise<Tensor> {
  const op = new Softmax();
  op.validate([x]);
  const out = Tensor.empty(x.device, x.shape, x.dtype, options?.stream);
  await op.forward([x], [out], options);
  return out;
}
