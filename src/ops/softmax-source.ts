// Source generation for row-wise softmax over the last axis.
//
// Online (single-pass) statistics: each thread walks its share of the row keeping a running max m and a running
// sum s of exp(x - m), rescaling s when m grows; threads merge (m, s) pairs through warp shuffles (and shared memory
// in the block-per-row shape); then a second pass writes exp(x - m) / s. Two reads and one write per element,
// all math in f32 with expf (not __expf), so rows with large values (1000) do not overflow.
// -inf entries give 0; a row that is entirely -inf gives NaN (0/0, as PyTorch); a NaN entry makes its row NaN, even
// when it shares a thread's or a piece's share of the row only with -inf entries (the merge keeps a NaN sum).
// Row layout, kernel shapes and vector widths are those of the reductions (reduce-source.ts).
// The CUDA text is in src/ops/cuda/softmax-*.cu(h) and row-*.cuh (see cuda-text.ts).
import { cudaLines, fillCuda } from './cuda-text.js';
import { DTYPE_TAG, dtypePrelude } from './elementwise-source.js';
import {
  checkVec,
  ROW_BLOCK_MAX,
  rowLoop,
  splitPieceLines,
  WARP_KERNEL_BLOCK,
  type RowKernelShape,
} from './reduce-source.js';
import type { DType } from './tensor.js';

/** What softmaxSource generates a kernel for. */
export interface SoftmaxSourceOptions {
  readonly dtype: DType;
  readonly shape: RowKernelShape;
  /** 1 or vectorWidth(dtype). */
  readonly vec: number;
}

/** A generated row-softmax kernel: its source, its `extern "C"` name and its parameters. */
export interface SoftmaxSource {
  readonly source: string;
  readonly name: string;
  /** `(T* out, const T* in, long long rows, long long n)`. */
  readonly signature: readonly ('ptr' | 'i64')[];
}

const addElement = (x: string): string => `cuop_online_add(m, s, ${x});`;

/** Row-wise softmax: `out[r, j] = exp(in[r, j] - max_r) / sum_r` for r < rows, j < n. */
export function softmaxSource(opts: SoftmaxSourceOptions): SoftmaxSource {
  const { dtype, shape, vec } = opts;
  checkVec(dtype, vec);
  const name = `cuop_softmax_${DTYPE_TAG[dtype]}_${shape}_v${vec}`;
  const [start, step] =
    shape === 'warp' ? ['lane', '32'] : ['(long long)threadIdx.x', '(long long)blockDim.x'];
  const source = fillCuda(shape === 'warp' ? 'softmax-warp.cu' : 'softmax-block.cu', {
    DTYPE: dtype,
    VEC: vec,
    PRELUDE: dtypePrelude(dtype, vec),
    ONLINE: cudaLines('softmax-online.cuh'),
    BLOCK: shape === 'warp' ? WARP_KERNEL_BLOCK : ROW_BLOCK_MAX,
    NAME: name,
    ROW_LOOP: rowLoop(vec, start, step, addElement),
    WRITE: writePass(vec, start, step),
  });
  return { source, name, signature: ['ptr', 'ptr', 'i64', 'i64'] };
}

/** The pass that writes `exp(x - m) * inv` for the row piece `p[0..n)` → `q` (needs m, inv, p, q, n). */
function writePass(vec: number, start: string, step: string): string[] {
  if (vec === 1) return cudaLines('softmax-write.cuh', { START: start, STEP: step });
  return cudaLines('softmax-write-vector.cuh', { VEC: vec, START: start, STEP: step });
}

export interface SoftmaxSplitSource {
  /** Pass 1 `(float* stats, const T* in, rows, n, chunk)`: block (c, r) writes the (max, sum) pair of its piece. */
  readonly stats: { source: string; name: string; signature: readonly ('ptr' | 'i64')[] };
  /**
   * Pass 2 `(T* out, const T* in, const float* stats, rows, n, chunk)`: block (c, r) merges its row's pairs and
   * writes its piece.
   */
  readonly normalize: { source: string; name: string; signature: readonly ('ptr' | 'i64')[] };
}

/**
 * Softmax over few long rows in two passes over (piece, row) blocks, as for the split reductions: the online
 * (max, sum) pairs of the pieces go to an f32 scratch (two floats per piece); every block of pass 2 merges its row's
 * pairs with the same online merge (so -inf, all -inf and NaN rows behave as in the one-block kernels) and writes
 * its piece. Pieces start at multiples of `chunk`, a multiple of vec, so vector loads and stores stay aligned.
 */
export function softmaxSplitSource(opts: { dtype: DType; vec: number }): SoftmaxSplitSource {
  const { dtype, vec } = opts;
  checkVec(dtype, vec);
  const tag = DTYPE_TAG[dtype];
  const [start, step] = ['(long long)threadIdx.x', '(long long)blockDim.x'];
  const common = {
    DTYPE: dtype,
    VEC: vec,
    PRELUDE: dtypePrelude(dtype, vec),
    ONLINE: cudaLines('softmax-online.cuh'),
    BLOCK: ROW_BLOCK_MAX,
    SPLIT_PIECE: splitPieceLines(),
  };
  const statsName = `cuop_softmax_${tag}_stats_v${vec}`;
  const stats = fillCuda('softmax-stats.cu', {
    ...common,
    NAME: statsName,
    ROW_LOOP: rowLoop(vec, start, step, addElement),
  });
  const normalizeName = `cuop_softmax_${tag}_normalize_v${vec}`;
  const normalize = fillCuda('softmax-normalize.cu', {
    ...common,
    NAME: normalizeName,
    WRITE: writePass(vec, start, step),
  });
  return {
    stats: { source: stats, name: statsName, signature: ['ptr', 'ptr', 'i64', 'i64', 'i64'] },
    normalize: {
      source: normalize,
      name: normalizeName,
      signature: ['ptr', 'ptr', 'ptr', 'i64', 'i64', 'i64'],
    },
  };
}
