// Small, self-contained kernels used by the demo and the foundation benchmark.

/** Shared-memory tiled SGEMM, C[M×N] = A[M×K]·B[K×N], row-major, any sizes; instantiate as `tiled_gemm<16>`. */
export const TILED_GEMM_SOURCE = `
template <int TILE>
__global__ void tiled_gemm(const float* __restrict__ A, const float* __restrict__ B, float* __restrict__ C,
                           int M, int N, int K) {
  __shared__ float As[TILE][TILE];
  __shared__ float Bs[TILE][TILE + 1];
  int row = blockIdx.y * TILE + threadIdx.y, col = blockIdx.x * TILE + threadIdx.x;
  float acc = 0.f;
  for (int k0 = 0; k0 < K; k0 += TILE) {
    As[threadIdx.y][threadIdx.x] = (row < M && k0 + threadIdx.x < K) ? A[row * K + k0 + threadIdx.x] : 0.f;
    Bs[threadIdx.y][threadIdx.x] = (col < N && k0 + threadIdx.y < K) ? B[(k0 + threadIdx.y) * N + col] : 0.f;
    __syncthreads();
    #pragma unroll
    for (int k = 0; k < TILE; ++k) acc += As[threadIdx.y][k] * Bs[k][threadIdx.x];
    __syncthreads();
  }
  if (row < M && col < N) C[row * N + col] = acc;
}
`;

/** c[i] = a[i] + alpha·b[i]; `empty` does nothing (launch-overhead measurements). */
export const VECTOR_ADD_SOURCE = `
extern "C" __global__ void vadd(const float* a, const float* b, float* c, int n, float alpha) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) c[i] = a[i] + alpha * b[i];
}
extern "C" __global__ void empty() {}
extern "C" __global__ void empty6(const float* a, const float* b, float* c, int m, int n, float s) {}
`;

/**
 * A heavy kernel for `cuop bench`: softmax over one long vector in one cooperative launch (cuLaunchCooperativeKernel).
 * The grid reduces the maximum, synchronizes (grid.sync), reduces the sum of exponentials, synchronizes, and writes
 * y; blocks stage their slices with cg::memcpy_async and reduce with warp tiles (cg::reduce). The cooperative-groups
 * headers make it a slow compile, which is what the bench wants. `scratch` holds 2·gridDim.x floats (one per block
 * and phase: a block still reading phase-1 partials never sees phase-2 writes). Instantiate as
 * `cg_softmax<float, 256, 8>`.
 */
export const COOPERATIVE_SOFTMAX_SOURCE = `
#include <cooperative_groups.h>
#include <cooperative_groups/memcpy_async.h>
#include <cooperative_groups/reduce.h>

namespace cg = cooperative_groups;

constexpr float LOWEST = -3.402823466e38f;

// Every thread of the block gets the block's reduction of v: warp tiles reduce, their leaders meet in part.
template <int BLOCK, typename Op>
__device__ __forceinline__ float blockReduce(const cg::thread_block &block, const cg::thread_block_tile<32> &warp,
                                             float v, Op op, float identity, float *part) {
  v = cg::reduce(warp, v, op);
  if (warp.thread_rank() == 0) part[warp.meta_group_rank()] = v;
  block.sync();
  float r = warp.thread_rank() < BLOCK / 32 ? part[warp.thread_rank()] : identity;
  r = cg::reduce(warp, r, op);
  block.sync(); // part is reused by the next reduction
  return r;
}

// The block's slice of x at base (count elements) in shared memory: asynchronously where the type is float.
template <typename T, int BLOCK>
__device__ __forceinline__ void stageSlice(const cg::thread_block &block, float *stage, const T *__restrict__ x,
                                           long long base, int count) {
  if constexpr (sizeof(T) == sizeof(float)) {
    cg::memcpy_async(block, stage, reinterpret_cast<const float *>(x) + base, sizeof(float) * count);
    cg::wait(block);
  } else {
    for (int i = block.thread_rank(); i < count; i += BLOCK) stage[i] = static_cast<float>(x[base + i]);
    block.sync();
  }
}

template <typename T, int BLOCK, int ITEMS>
__global__ void __launch_bounds__(BLOCK)
    cg_softmax(const T *__restrict__ x, T *__restrict__ y, float *__restrict__ scratch, long long n) {
  cg::grid_group grid = cg::this_grid();
  cg::thread_block block = cg::this_thread_block();
  cg::thread_block_tile<32> warp = cg::tiled_partition<32>(block);
  __shared__ __align__(16) float stage[BLOCK * ITEMS];
  __shared__ float part[BLOCK / 32];
  constexpr long long TILE = (long long)BLOCK * ITEMS;
  const long long stride = TILE * gridDim.x;
  const int tid = block.thread_rank();

  float m = LOWEST;
  for (long long base = blockIdx.x * TILE; base < n; base += stride) {
    const int count = (int)min(TILE, n - base);
    stageSlice<T, BLOCK>(block, stage, x, base, count);
#pragma unroll
    for (int i = 0; i < ITEMS; ++i) {
      const int j = i * BLOCK + tid;
      if (j < count) m = fmaxf(m, stage[j]);
    }
    block.sync();
  }
  m = blockReduce<BLOCK>(block, warp, m, cg::greater<float>(), LOWEST, part);
  if (tid == 0) scratch[blockIdx.x] = m;
  grid.sync();

  float gmax = LOWEST;
  for (int b = tid; b < (int)gridDim.x; b += BLOCK) gmax = fmaxf(gmax, scratch[b]);
  gmax = blockReduce<BLOCK>(block, warp, gmax, cg::greater<float>(), LOWEST, part);

  float s = 0.f;
  for (long long base = blockIdx.x * TILE; base < n; base += stride) {
    const int count = (int)min(TILE, n - base);
    stageSlice<T, BLOCK>(block, stage, x, base, count);
#pragma unroll
    for (int i = 0; i < ITEMS; ++i) {
      const int j = i * BLOCK + tid;
      if (j < count) s += __expf(stage[j] - gmax);
    }
    block.sync();
  }
  s = blockReduce<BLOCK>(block, warp, s, cg::plus<float>(), 0.f, part);
  if (tid == 0) scratch[gridDim.x + blockIdx.x] = s;
  grid.sync();

  float total = 0.f;
  for (int b = tid; b < (int)gridDim.x; b += BLOCK) total += scratch[gridDim.x + b];
  total = blockReduce<BLOCK>(block, warp, total, cg::plus<float>(), 0.f, part);
  const float inv = 1.f / total;

  for (long long i = (long long)blockIdx.x * BLOCK + tid; i < n; i += (long long)BLOCK * gridDim.x)
    y[i] = static_cast<T>(__expf(static_cast<float>(x[i]) - gmax) * inv);
}
`;
