// Source generation for row-wise softmax over the last axis.
//
// Online (single-pass) statistics: each thread walks its share of the row keeping a running max m and a running
// sum s of exp(x - m), rescaling s when m grows; threads merge (m, s) pairs through warp shuffles (and shared memory
// in the block-per-row shape); then a second pass writes exp(x - m) / s. Two reads and one write per element,
// all math in f32 with expf (not __expf), so rows with large values (1000) do not overflow.
// -inf entries give 0; a row that is entirely -inf gives NaN (0/0, as PyTorch); a NaN entry makes its row NaN, even
// when it shares a thread's or a piece's share of the row only with -inf entries (the merge keeps a NaN sum).
// Row layout, kernel shapes and vector widths are those of the reductions (reduce-source.ts).
import { DTYPE_TAG, dtypePrelude } from './elementwise-source.js';
import {
  checkVec,
  ROW_BLOCK_MAX,
  rowKernelOpening,
  rowLoop,
  SPLIT_PIECE_LINES,
  type RowKernelShape,
} from './reduce-source.js';
import type { DType } from './tensor.js';

export interface SoftmaxSourceOptions {
  readonly dtype: DType;
  readonly shape: RowKernelShape;
  /** 1 or vectorWidth(dtype). */
  readonly vec: number;
}

export interface SoftmaxSource {
  readonly source: string;
  readonly name: string;
  /** `(T* out, const T* in, long long rows, long long n)`. */
  readonly signature: readonly ('ptr' | 'i64')[];
}

const HELPERS = `// Add one element to a running (max, sum of exp(x - max)).
__device__ __forceinline__ void cuop_online_add(float& m, float& s, float x) {
  if (x > m) {
    s = s * expf(m - x) + 1.0f;  // m = -inf at first: expf(-inf) = 0
    m = x;
  } else if (x != CUOP_NEG_INF) {
    s += expf(x - m);  // a NaN x makes s NaN
  }
}
// Merge two running pairs.
__device__ __forceinline__ void cuop_online_merge(float& m, float& s, float m2, float s2) {
  const float mx = fmaxf(m, m2);
  if (mx == CUOP_NEG_INF) {  // no finite entry on either side: s and s2 are 0, or NaN from a NaN entry
    s += s2;
    return;
  }
  s = s * expf(m - mx) + s2 * expf(m2 - mx);
  m = mx;
}
__device__ __forceinline__ void cuop_warp_merge(float& m, float& s) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float m2 = __shfl_xor_sync(0xffffffffu, m, o);
    const float s2 = __shfl_xor_sync(0xffffffffu, s, o);
    cuop_online_merge(m, s, m2, s2);
  }
}`;

/** Row-wise softmax: `out[r, j] = exp(in[r, j] - max_r) / sum_r` for r < rows, j < n. */
export function softmaxSource(opts: SoftmaxSourceOptions): SoftmaxSource {
  const { dtype, shape, vec } = opts;
  checkVec(dtype, vec);
  const name = `cuop_softmax_${DTYPE_TAG[dtype]}_${shape}_v${vec}`;
  const [start, step] =
    shape === 'warp' ? ['lane', '32'] : ['(long long)threadIdx.x', '(long long)blockDim.x'];
  const k = rowKernelOpening(name, shape);
  if (shape !== 'warp') {
    k.push('  __shared__ float part_m[32], part_s[32];');
    k.push('  __shared__ float row_m, row_s;');
    k.push('  const long long row = blockIdx.x;');
    k.push('  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;');
  }
  k.push('  const T* __restrict__ p = in + row * n;');
  k.push('  T* __restrict__ q = out + row * n;');
  k.push('  float m = CUOP_NEG_INF, s = 0.0f;');
  k.push('  {');
  k.push(...rowLoop(vec, start, step, (x) => `cuop_online_add(m, s, ${x});`));
  k.push('  }');
  k.push('  cuop_warp_merge(m, s);');
  if (shape === 'block') {
    k.push('  if (lane == 0) { part_m[warp] = m; part_s[warp] = s; }');
    k.push('  __syncthreads();');
    k.push('  if (warp == 0) {');
    k.push('    const bool live = lane < (int)(blockDim.x >> 5);');
    k.push('    m = live ? part_m[lane] : CUOP_NEG_INF;');
    k.push('    s = live ? part_s[lane] : 0.0f;');
    k.push('    cuop_warp_merge(m, s);');
    k.push('    if (lane == 0) { row_m = m; row_s = s; }');
    k.push('  }');
    k.push('  __syncthreads();');
    k.push('  m = row_m;');
    k.push('  s = row_s;');
  }
  k.push('  const float inv = 1.0f / s;');
  // Second pass: read again (L1/L2-resident for rows up to a few hundred KB) and write.
  k.push(...writePass(vec, start, step));
  k.push('}');

  const source = [
    `// cuop softmax over the last axis | dtype=${dtype} shape=${shape} vec=${vec}`,
    dtypePrelude(dtype, vec),
    HELPERS,
    k.join('\n'),
    '',
  ].join('\n');
  return { source, name, signature: ['ptr', 'ptr', 'i64', 'i64'] };
}

/** The pass that writes `exp(x - m) * inv` for the row piece `p[0..n)` → `q` (needs m, inv, p, q, n). */
function writePass(vec: number, start: string, step: string): string[] {
  const k: string[] = [];
  if (vec > 1) {
    k.push('  {');
    k.push(`  const long long nvec = n / ${vec};`);
    k.push('  const cuop_vec* __restrict__ pv = reinterpret_cast<const cuop_vec*>(p);');
    k.push('  cuop_vec* __restrict__ qv = reinterpret_cast<cuop_vec*>(q);');
    k.push(`  for (long long i = ${start}; i < nvec; i += ${step}) {`);
    k.push('    const cuop_vec v = pv[i];');
    k.push('    cuop_vec r;');
    k.push('#pragma unroll');
    k.push(
      `    for (int j = 0; j < ${vec}; ++j) r.v[j] = cuop_from_f32(expf(cuop_to_f32(v.v[j]) - m) * inv);`,
    );
    k.push('    qv[i] = r;');
    k.push('  }');
    k.push(`  for (long long i = nvec * ${vec} + ${start}; i < n; i += ${step})`);
    k.push('    q[i] = cuop_from_f32(expf(cuop_to_f32(p[i]) - m) * inv);');
    k.push('  }');
  } else {
    k.push(
      `  for (long long i = ${start}; i < n; i += ${step}) q[i] = cuop_from_f32(expf(cuop_to_f32(p[i]) - m) * inv);`,
    );
  }
  return k;
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
  const statsName = `cuop_softmax_${tag}_stats_v${vec}`;
  const stats = [
    `// cuop softmax over the last axis, pass 1 of a split row | dtype=${dtype} vec=${vec}`,
    dtypePrelude(dtype, vec),
    HELPERS,
    `extern "C" __global__ void __launch_bounds__(${ROW_BLOCK_MAX})`,
    `${statsName}(float* __restrict__ stats, const T* __restrict__ in, long long rows, long long total, long long chunk) {`,
    '  __shared__ float part_m[32], part_s[32];',
    ...SPLIT_PIECE_LINES,
    '  float m = CUOP_NEG_INF, s = 0.0f;',
    '  {',
    ...rowLoop(vec, '(long long)threadIdx.x', '(long long)blockDim.x', (x) => `cuop_online_add(m, s, ${x});`),
    '  }',
    '  cuop_warp_merge(m, s);',
    '  if (lane == 0) { part_m[warp] = m; part_s[warp] = s; }',
    '  __syncthreads();',
    '  if (warp == 0) {',
    '    const bool live = lane < (int)(blockDim.x >> 5);',
    '    m = live ? part_m[lane] : CUOP_NEG_INF;',
    '    s = live ? part_s[lane] : 0.0f;',
    '    cuop_warp_merge(m, s);',
    '    if (lane == 0) {',
    '      float* st = stats + 2 * (row * gridDim.x + blockIdx.x);',
    '      st[0] = m;',
    '      st[1] = s;',
    '    }',
    '  }',
    '}',
    '',
  ].join('\n');
  const normalizeName = `cuop_softmax_${tag}_normalize_v${vec}`;
  const normalize = [
    `// cuop softmax over the last axis, pass 2 of a split row | dtype=${dtype} vec=${vec}`,
    dtypePrelude(dtype, vec),
    HELPERS,
    `extern "C" __global__ void __launch_bounds__(${ROW_BLOCK_MAX})`,
    `${normalizeName}(T* __restrict__ out, const T* __restrict__ in, const float* __restrict__ stats, long long rows, long long total, long long chunk) {`,
    '  __shared__ float row_m, row_s;',
    ...SPLIT_PIECE_LINES,
    '  T* __restrict__ q = out + row * total + start;',
    '  if (warp == 0) {',
    '    float m = CUOP_NEG_INF, s = 0.0f;',
    '    const float* __restrict__ st = stats + 2 * row * (long long)gridDim.x;',
    '    for (long long i = lane; i < (long long)gridDim.x; i += 32) cuop_online_merge(m, s, st[2 * i], st[2 * i + 1]);',
    '    cuop_warp_merge(m, s);',
    '    if (lane == 0) { row_m = m; row_s = s; }',
    '  }',
    '  __syncthreads();',
    '  const float m = row_m, inv = 1.0f / row_s;',
    ...writePass(vec, '(long long)threadIdx.x', '(long long)blockDim.x'),
    '}',
    '',
  ].join('\n');
  return {
    stats: { source: stats, name: statsName, signature: ['ptr', 'ptr', 'i64', 'i64', 'i64'] },
    normalize: {
      source: normalize,
      name: normalizeName,
      signature: ['ptr', 'ptr', 'ptr', 'i64', 'i64', 'i64'],
    },
  };
}
