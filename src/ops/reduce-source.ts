// Source generation for reductions over the last axis (sum, max) and the row-wise layout shared with softmax.
//
// Layout: the input is `rows` contiguous rows of `n` elements. Two kernel shapes:
//   'warp'  — one warp per row, ROWS_PER_BLOCK_WARP rows per 256-thread block; for n ≤ WARP_ROW_MAX.
//   'block' — one block per row (blockDim a multiple of 32, up to 1024, chosen at launch); for longer rows.
// Accumulation is f32 whatever the dtype; lanes combine with __shfl_xor_sync, warps through shared memory.
// `n` and `rows` are runtime arguments: the source depends only on (op, dtype, shape kind, vector width).
// With vec > 1, each row is read as 16-byte vectors: the launcher picks it only when n % vec == 0 and the base
// pointer is 16-byte aligned, so every row start is aligned too; a scalar tail loop still covers n % vec ≠ 0.
// max ignores NaN (fmaxf semantics); max of an empty row is -inf, sum of an empty row 0.
// The CUDA text is in src/ops/cuda/reduce-*.cu(h) and row-*.cuh (see cuda-text.ts).
import { cudaLines, fillCuda } from './cuda-text.js';
import { DTYPE_TAG, dtypePrelude, vectorWidth } from './elementwise-source.js';
import type { DType } from './tensor.js';

/** What a row reduction computes. */
export type ReduceOp = 'sum' | 'max';
/** How a row kernel maps rows to threads: one warp per row (rows up to WARP_ROW_MAX), or one block per row. */
export type RowKernelShape = 'warp' | 'block';

/** Threads per block of the warp-per-row kernels. */
export const WARP_KERNEL_BLOCK = 256;
/** Rows per block of the warp-per-row kernels. */
export const ROWS_PER_BLOCK_WARP = WARP_KERNEL_BLOCK / 32;
/** Longest row handled by one warp; longer rows get a block each. */
export const WARP_ROW_MAX = 1024;
/** Largest block of the block-per-row kernels (its __launch_bounds__). */
export const ROW_BLOCK_MAX = 1024;

/** Which kernel shape a row of n elements gets. */
export function rowKernelShape(n: number): RowKernelShape {
  return n <= WARP_ROW_MAX ? 'warp' : 'block';
}

/** Threads per block for a block-per-row kernel over rows of n elements read `vec` at a time. */
export function rowBlockThreads(n: number, vec: number): number {
  // About 4+ vectors per thread, at least 128 threads, at most ROW_BLOCK_MAX; a power of two (so a multiple of 32).
  const want = Math.ceil(n / vec / 4);
  let t = 128;
  while (t < want && t < ROW_BLOCK_MAX) t *= 2;
  return t;
}

const IDENTITY: Readonly<Record<ReduceOp, string>> = { sum: '0.0f', max: 'CUOP_NEG_INF' };
const COMBINE: Readonly<Record<ReduceOp, (a: string, b: string) => string>> = {
  sum: (a, b) => `${a} + ${b}`,
  max: (a, b) => `fmaxf(${a}, ${b})`,
};

/** What reduceSource generates a kernel for. */
export interface ReduceSourceOptions {
  readonly op: ReduceOp;
  readonly dtype: DType;
  readonly shape: RowKernelShape;
  /** 1 or vectorWidth(dtype). */
  readonly vec: number;
}

/** A generated row-reduction kernel: its source, its `extern "C"` name and its parameters. */
export interface ReduceSource {
  readonly source: string;
  readonly name: string;
  /** `(T* out, const T* in, long long rows, long long n)`. */
  readonly signature: readonly ('ptr' | 'i64')[];
}

/**
 * One thread's walk over its share of a row `p[0..n)` (row-loop.cuh, or row-loop-vector.cuh for vec > 1), from `start`
 * with stride `step`, running `onElement(value)` on every element (indentation two spaces).
 */
export function rowLoop(
  vec: number,
  start: string,
  step: string,
  onElement: (value: string) => string,
): string[] {
  if (vec === 1)
    return cudaLines('row-loop.cuh', { START: start, STEP: step, ELEMENT: onElement('cuop_to_f32(p[i])') });
  return cudaLines('row-loop-vector.cuh', {
    VEC: vec,
    START: start,
    STEP: step,
    VECTOR_ELEMENT: onElement('cuop_to_f32(v.v[j])'),
    ELEMENT: onElement('cuop_to_f32(p[i])'),
  });
}

export function checkVec(dtype: DType, vec: number): void {
  if (vec !== 1 && vec !== vectorWidth(dtype)) {
    throw new RangeError(`vec must be 1 or ${vectorWidth(dtype)} for ${dtype}, got ${vec}`);
  }
}

/** A sum or max over the last axis: `out[r] = reduce(in[r*n .. r*n+n))` for r < rows. */
export function reduceSource(opts: ReduceSourceOptions): ReduceSource {
  const { op, dtype, shape, vec } = opts;
  checkVec(dtype, vec);
  const name = `cuop_reduce_${op}_${DTYPE_TAG[dtype]}_${shape}_v${vec}`;
  const id = IDENTITY[op];
  const accumulate = (x: string): string => `acc = ${COMBINE[op]('acc', x)};`;
  const common = {
    OP: op,
    DTYPE: dtype,
    VEC: vec,
    PRELUDE: dtypePrelude(dtype, vec),
    WARP_REDUCE: warpReduce(op),
    NAME: name,
    IDENTITY: id,
  };
  const source =
    shape === 'warp'
      ? fillCuda('reduce-warp.cu', {
          ...common,
          BLOCK: WARP_KERNEL_BLOCK,
          ROW_LOOP: rowLoop(vec, 'lane', '32', accumulate),
        })
      : fillCuda('reduce-block.cu', {
          ...common,
          BLOCK: ROW_BLOCK_MAX,
          ROW_LOOP: rowLoop(vec, '(long long)threadIdx.x', '(long long)blockDim.x', accumulate),
          BLOCK_COMBINE: blockCombine(id, 'out[row] = cuop_from_f32(acc);'),
        });
  return { source, name, signature: ['ptr', 'ptr', 'i64', 'i64'] };
}

function warpReduce(op: ReduceOp): string[] {
  return cudaLines('reduce-warp-reduce.cuh', {
    COMBINE: COMBINE[op]('v', '__shfl_xor_sync(0xffffffffu, v, o)'),
  });
}

/** Combine every thread's `acc` across the block (needs `partial[32]`, `lane`, `warp`); thread 0 runs `store`. */
function blockCombine(id: string, store: string): string[] {
  return cudaLines('reduce-block-combine.cuh', { IDENTITY: id, STORE: store });
}

// ---- long rows split over several blocks (few rows: one block per row would leave most SMs idle) ----

/**
 * The opening of every split row kernel (params `in`, `total`, `chunk`; grid (pieces, rows)): this block's row,
 * piece start, lane and warp, its input `p` and piece length `n` (row-split-piece.cuh).
 */
export const splitPieceLines = (): string[] => cudaLines('row-split-piece.cuh');

export interface ReduceSplitSource {
  /** Pass 1: block (c, r) reduces piece c of row r into `pieces[r * gridDim.x + c]` (f32). */
  readonly pieces: { source: string; name: string; signature: readonly ('ptr' | 'i64')[] };
  /** Pass 2: one warp per row combines its pieces and writes `out[r]` in the dtype. */
  readonly combine: { source: string; name: string; signature: readonly ('ptr' | 'i64')[] };
}

/**
 * The two kernels of a split reduction. Pass 1 `(float* pieces, const T* in, rows, n, chunk)`, grid (pieces, rows):
 * block (c, r) reads elements [c·chunk, min(n, (c+1)·chunk)) of row r; `chunk` is a multiple of vec, so with vec > 1
 * every piece starts 16-byte aligned (the launcher picks vec > 1 only when n % vec == 0 and the base is aligned).
 * Pass 2 `(T* out, const float* pieces, rows, pieceCount)`, one warp per row, WARP_KERNEL_BLOCK threads per block.
 */
export function reduceSplitSource(opts: { op: ReduceOp; dtype: DType; vec: number }): ReduceSplitSource {
  const { op, dtype, vec } = opts;
  checkVec(dtype, vec);
  const tag = DTYPE_TAG[dtype];
  const id = IDENTITY[op];
  const combine = COMBINE[op];
  const accumulate = (x: string): string => `acc = ${combine('acc', x)};`;
  const common = { OP: op, DTYPE: dtype, WARP_REDUCE: warpReduce(op), IDENTITY: id };
  const piecesName = `cuop_reduce_${op}_${tag}_pieces_v${vec}`;
  const p = fillCuda('reduce-pieces.cu', {
    ...common,
    VEC: vec,
    PRELUDE: dtypePrelude(dtype, vec),
    BLOCK: ROW_BLOCK_MAX,
    NAME: piecesName,
    SPLIT_PIECE: splitPieceLines(),
    ROW_LOOP: rowLoop(vec, '(long long)threadIdx.x', '(long long)blockDim.x', accumulate),
    BLOCK_COMBINE: blockCombine(id, 'pieces[row * gridDim.x + blockIdx.x] = acc;'),
  });
  const combineName = `cuop_reduce_${op}_${tag}_combine`;
  const c = fillCuda('reduce-combine.cu', {
    ...common,
    PRELUDE: dtypePrelude(dtype, 1),
    BLOCK: WARP_KERNEL_BLOCK,
    NAME: combineName,
    ACCUMULATE: accumulate('q[i]'),
  });
  return {
    pieces: { source: p, name: piecesName, signature: ['ptr', 'ptr', 'i64', 'i64', 'i64'] },
    combine: { source: c, name: combineName, signature: ['ptr', 'ptr', 'i64', 'i64'] },
  };
}
