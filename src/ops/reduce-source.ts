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
import { DTYPE_TAG, dtypePrelude, vectorWidth } from './elementwise-source.js';
import type { DType } from './tensor.js';

export type ReduceOp = 'sum' | 'max';
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

export interface ReduceSourceOptions {
  readonly op: ReduceOp;
  readonly dtype: DType;
  readonly shape: RowKernelShape;
  /** 1 or vectorWidth(dtype). */
  readonly vec: number;
}

export interface ReduceSource {
  readonly source: string;
  readonly name: string;
  /** `(T* out, const T* in, long long rows, long long n)`. */
  readonly signature: readonly ('ptr' | 'i64')[];
}

/** Accumulate one row `p[0..n)` into `acc` with stride `step` starting at `start` (indentation two spaces). */
export function rowLoop(
  vec: number,
  start: string,
  step: string,
  onElement: (value: string) => string,
  onVector?: (v: string) => string[],
): string[] {
  const l: string[] = [];
  if (vec > 1) {
    l.push(`  const long long nvec = n / ${vec};`);
    l.push('  const cuop_vec* __restrict__ pv = reinterpret_cast<const cuop_vec*>(p);');
    l.push(`  for (long long i = ${start}; i < nvec; i += ${step}) {`);
    l.push('    const cuop_vec v = pv[i];');
    if (onVector) {
      l.push(...onVector('v').map((s) => `    ${s}`));
    } else {
      l.push('#pragma unroll');
      l.push(`    for (int j = 0; j < ${vec}; ++j) ${onElement('cuop_to_f32(v.v[j])')}`);
    }
    l.push('  }');
    l.push(
      `  for (long long i = nvec * ${vec} + ${start}; i < n; i += ${step}) ${onElement('cuop_to_f32(p[i])')}`,
    );
  } else {
    l.push(`  for (long long i = ${start}; i < n; i += ${step}) ${onElement('cuop_to_f32(p[i])')}`);
  }
  return l;
}

export function checkVec(dtype: DType, vec: number): void {
  if (vec !== 1 && vec !== vectorWidth(dtype)) {
    throw new RangeError(`vec must be 1 or ${vectorWidth(dtype)} for ${dtype}, got ${vec}`);
  }
}

/** A sum or max over the last axis: `out[r] = reduce(in[r*n .. r*n+n))` for r < rows. */
/**
 * The first lines of a row kernel `name(out, in, rows, n)`, shared by reduce and softmax: its signature and, for one
 * warp per row, the row and lane of the calling thread (whole warps past the last row return).
 */
export function rowKernelOpening(name: string, shape: RowKernelShape): string[] {
  const bounds = shape === 'warp' ? WARP_KERNEL_BLOCK : ROW_BLOCK_MAX;
  const k = [
    `extern "C" __global__ void __launch_bounds__(${bounds})`,
    `${name}(T* __restrict__ out, const T* __restrict__ in, long long rows, long long n) {`,
  ];
  if (shape === 'warp') {
    k.push('  const long long row = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);');
    k.push('  const int lane = threadIdx.x & 31;');
    k.push('  if (row >= rows) return;  // uniform across the warp');
  }
  return k;
}

export function reduceSource(opts: ReduceSourceOptions): ReduceSource {
  const { op, dtype, shape, vec } = opts;
  checkVec(dtype, vec);
  const name = `cuop_reduce_${op}_${DTYPE_TAG[dtype]}_${shape}_v${vec}`;
  const id = IDENTITY[op];
  const combine = COMBINE[op];
  const k = rowKernelOpening(name, shape);
  if (shape === 'warp') {
    k.push('  const T* __restrict__ p = in + row * n;');
    k.push(`  float acc = ${id};`);
    k.push(...rowLoop(vec, 'lane', '32', (x) => `acc = ${combine('acc', x)};`));
    k.push('  acc = cuop_warp_reduce(acc);');
    k.push('  if (lane == 0) out[row] = cuop_from_f32(acc);');
  } else {
    k.push('  __shared__ float partial[32];');
    k.push('  const long long row = blockIdx.x;');
    k.push('  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;');
    k.push('  const T* __restrict__ p = in + row * n;');
    k.push(`  float acc = ${id};`);
    k.push(
      ...rowLoop(
        vec,
        '(long long)threadIdx.x',
        '(long long)blockDim.x',
        (x) => `acc = ${combine('acc', x)};`,
      ),
    );
    k.push(...blockCombine(id, 'out[row] = cuop_from_f32(acc);'));
  }
  k.push('}');
  const source = [
    `// cuop reduce: ${op} over the last axis | dtype=${dtype} shape=${shape} vec=${vec}`,
    dtypePrelude(dtype, vec),
    warpReduce(op),
    k.join('\n'),
    '',
  ].join('\n');
  return { source, name, signature: ['ptr', 'ptr', 'i64', 'i64'] };
}

function warpReduce(op: ReduceOp): string {
  return [
    '__device__ __forceinline__ float cuop_warp_reduce(float v) {',
    '#pragma unroll',
    `  for (int o = 16; o > 0; o >>= 1) v = ${COMBINE[op]('v', '__shfl_xor_sync(0xffffffffu, v, o)')};`,
    '  return v;',
    '}',
  ].join('\n');
}

/** Combine every thread's `acc` across the block (needs `partial[32]`, `lane`, `warp`); thread 0 runs `store`. */
function blockCombine(id: string, store: string): string[] {
  return [
    '  acc = cuop_warp_reduce(acc);',
    '  if (lane == 0) partial[warp] = acc;',
    '  __syncthreads();',
    '  if (warp == 0) {',
    `    acc = lane < (int)(blockDim.x >> 5) ? partial[lane] : ${id};`,
    '    acc = cuop_warp_reduce(acc);',
    `    if (lane == 0) ${store}`,
    '  }',
  ];
}

// ---- long rows split over several blocks (few rows: one block per row would leave most SMs idle) ----

/**
 * The opening of every split row kernel (params `in`, `total`, `chunk`; grid (pieces, rows)): this block's row,
 * piece start, lane and warp, its input `p` and piece length `n`.
 */
export const SPLIT_PIECE_LINES: readonly string[] = [
  '  const long long row = blockIdx.y;',
  '  const long long start = (long long)blockIdx.x * chunk;',
  '  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;',
  '  const T* __restrict__ p = in + row * total + start;',
  '  const long long n = total - start < chunk ? total - start : chunk;',
];

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
  const piecesName = `cuop_reduce_${op}_${tag}_pieces_v${vec}`;
  const p = [
    `// cuop reduce: ${op} over the last axis, pass 1 of a split row | dtype=${dtype} vec=${vec}`,
    dtypePrelude(dtype, vec),
    warpReduce(op),
    `extern "C" __global__ void __launch_bounds__(${ROW_BLOCK_MAX})`,
    `${piecesName}(float* __restrict__ pieces, const T* __restrict__ in, long long rows, long long total, long long chunk) {`,
    '  __shared__ float partial[32];',
    ...SPLIT_PIECE_LINES,
    `  float acc = ${id};`,
    ...rowLoop(vec, '(long long)threadIdx.x', '(long long)blockDim.x', (x) => `acc = ${combine('acc', x)};`),
    ...blockCombine(id, 'pieces[row * gridDim.x + blockIdx.x] = acc;'),
    '}',
    '',
  ].join('\n');
  const combineName = `cuop_reduce_${op}_${tag}_combine`;
  const c = [
    `// cuop reduce: ${op} over the last axis, pass 2 of a split row | dtype=${dtype}`,
    dtypePrelude(dtype, 1),
    warpReduce(op),
    `extern "C" __global__ void __launch_bounds__(${WARP_KERNEL_BLOCK})`,
    `${combineName}(T* __restrict__ out, const float* __restrict__ pieces, long long rows, long long count) {`,
    '  const long long row = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);',
    '  const int lane = threadIdx.x & 31;',
    '  if (row >= rows) return;  // uniform across the warp',
    '  const float* __restrict__ q = pieces + row * count;',
    `  float acc = ${id};`,
    `  for (long long i = lane; i < count; i += 32) acc = ${combine('acc', 'q[i]')};`,
    '  acc = cuop_warp_reduce(acc);',
    '  if (lane == 0) out[row] = cuop_from_f32(acc);',
    '}',
    '',
  ].join('\n');
  return {
    pieces: { source: p, name: piecesName, signature: ['ptr', 'ptr', 'i64', 'i64', 'i64'] },
    combine: { source: c, name: combineName, signature: ['ptr', 'ptr', 'i64', 'i64'] },
  };
}
