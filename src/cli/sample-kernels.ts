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
