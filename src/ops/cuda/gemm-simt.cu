//# float32 GEMM, register-blocked SIMT (FFMA): C = alpha·op(A)·op(B) + beta·C, row-major; filled by simtSource() in
//# src/ops/gemm-source.ts (see its header for the tiling). Placeholders:
//#   {{BM}} {{BN}} {{BK}}        block tile (8×8 outputs per thread, BM/8 · BN/8 threads)
//#   {{TRANS_A}} {{TRANS_B}}     true / false: A stored K×M, B stored N×K
//#   {{ALIGNED}}                 true / false: 16-byte vector loads and stores allowed
//#   {{TILE_COORDS}}             gemm-tile-coords.cuh
//#   {{MIN_BLOCKS}}              second __launch_bounds__ argument (occupancy hint)
//#   {{NAME}}                    the extern "C" kernel name
//#   {{OUT_T}}                   C's element type: float, or cuop_out_t with a fused epilogue
//#   {{EPILOGUE_DEFS}}           the fused epilogue's device code (gemmEpilogueCode), or nothing
//#   {{EPILOGUE_PARAMS}}         its extra kernel parameters (', const cuop_out_t *__restrict__ bias, …'), or ''
//#   {{EPILOGUE}}                gemm-simt-store.cuh, or gemm-simt-store-fused.cuh with a fused epilogue
// cuop GEMM, float32 SIMT (FFMA), generated
constexpr int BM = {{BM}};
constexpr int BN = {{BN}};
constexpr int BK = {{BK}};
constexpr bool TRANS_A = {{TRANS_A}};
constexpr bool TRANS_B = {{TRANS_B}};
constexpr bool ALIGNED = {{ALIGNED}};
constexpr int TX = BN / 8;             // threads along N
constexpr int TY = BM / 8;             // threads along M
constexpr int THREADS = TX * TY;
constexpr int SA = BM + 4;             // padded shared-memory row strides (floats)
constexpr int SB = BN + 4;
constexpr int A_VECS = BM * BK / 4 / THREADS;
constexpr int B_VECS = BN * BK / 4 / THREADS;

{{TILE_COORDS}}

// Four consecutive elements g[r*ld + c .. c+3], zero where out of range.
__device__ __forceinline__ float4 load4(const float *__restrict__ g, long long ld, int r, int c, int rLim, int cLim) {
  float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
  if (r >= rLim) return v;
  const float *p = g + (long long)r * ld + c;
  if (ALIGNED) {
    // ld and c are multiples of 4, so the vector is entirely inside or entirely outside.
    if (c < cLim) v = __ldg(reinterpret_cast<const float4 *>(p));
  } else {
    if (c < cLim) v.x = __ldg(p);
    if (c + 1 < cLim) v.y = __ldg(p + 1);
    if (c + 2 < cLim) v.z = __ldg(p + 2);
    if (c + 3 < cLim) v.w = __ldg(p + 3);
  }
  return v;
}
{{EPILOGUE_DEFS}}

extern "C" __global__ void __launch_bounds__(THREADS, {{MIN_BLOCKS}})
{{NAME}}(const float *__restrict__ A, const float *__restrict__ B, {{OUT_T}} *__restrict__ C, int M, int N, int K,
    float alpha, float beta{{EPILOGUE_PARAMS}}) {
  __shared__ __align__(16) float As[2][BK][SA];   // As[k][m]: A transposed, k-major
  __shared__ __align__(16) float Bs[2][BK][SB];   // Bs[k][n]
  const int tid = threadIdx.x;
  const int tx = tid % TX;
  const int ty = tid / TX;
  int tileM, tileN;
  tile_coords((M + BM - 1) / BM, (N + BN - 1) / BN, tileM, tileN);
  const int m0 = tileM * BM;
  const int n0 = tileN * BN;
  const long long lda = TRANS_A ? M : K;
  const long long ldb = TRANS_B ? K : N;

  float4 ra[A_VECS];
  float4 rb[B_VECS];
  auto gload = [&](int k0) {
#pragma unroll
    for (int i = 0; i < A_VECS; ++i) {
      const int idx = tid + i * THREADS;
      if (TRANS_A) {          // stored K×M: vector along m
        ra[i] = load4(A, lda, k0 + idx / (BM / 4), m0 + (idx % (BM / 4)) * 4, K, M);
      } else {                // stored M×K: vector along k
        ra[i] = load4(A, lda, m0 + idx / (BK / 4), k0 + (idx % (BK / 4)) * 4, M, K);
      }
    }
#pragma unroll
    for (int i = 0; i < B_VECS; ++i) {
      const int idx = tid + i * THREADS;
      if (TRANS_B) {          // stored N×K: vector along k
        rb[i] = load4(B, ldb, n0 + idx / (BK / 4), k0 + (idx % (BK / 4)) * 4, N, K);
      } else {                // stored K×N: vector along n
        rb[i] = load4(B, ldb, k0 + idx / (BN / 4), n0 + (idx % (BN / 4)) * 4, K, N);
      }
    }
  };
  auto sstore = [&](int s) {
#pragma unroll
    for (int i = 0; i < A_VECS; ++i) {
      const int idx = tid + i * THREADS;
      if (TRANS_A) {
        *reinterpret_cast<float4 *>(&As[s][idx / (BM / 4)][(idx % (BM / 4)) * 4]) = ra[i];
      } else {
        const int r = idx / (BK / 4), c = (idx % (BK / 4)) * 4;
        As[s][c + 0][r] = ra[i].x;
        As[s][c + 1][r] = ra[i].y;
        As[s][c + 2][r] = ra[i].z;
        As[s][c + 3][r] = ra[i].w;
      }
    }
#pragma unroll
    for (int i = 0; i < B_VECS; ++i) {
      const int idx = tid + i * THREADS;
      if (TRANS_B) {
        const int r = idx / (BK / 4), c = (idx % (BK / 4)) * 4;
        Bs[s][c + 0][r] = rb[i].x;
        Bs[s][c + 1][r] = rb[i].y;
        Bs[s][c + 2][r] = rb[i].z;
        Bs[s][c + 3][r] = rb[i].w;
      } else {
        *reinterpret_cast<float4 *>(&Bs[s][idx / (BN / 4)][(idx % (BN / 4)) * 4]) = rb[i];
      }
    }
  };

  float acc[8][8];
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j] = 0.f;

  const int kTiles = (K + BK - 1) / BK;
  if (kTiles > 0) {
    gload(0);
    sstore(0);
  }
  __syncthreads();
  for (int t = 0; t < kTiles; ++t) {
    const int cur = t & 1;
    const bool more = t + 1 < kTiles;
    if (more) gload((t + 1) * BK);
#pragma unroll
    for (int k = 0; k < BK; ++k) {
      const float4 a0 = *reinterpret_cast<const float4 *>(&As[cur][k][ty * 4]);
      const float4 a1 = *reinterpret_cast<const float4 *>(&As[cur][k][BM / 2 + ty * 4]);
      const float4 b0 = *reinterpret_cast<const float4 *>(&Bs[cur][k][tx * 4]);
      const float4 b1 = *reinterpret_cast<const float4 *>(&Bs[cur][k][BN / 2 + tx * 4]);
      const float a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
      const float b[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    if (more) sstore(cur ^ 1);
    __syncthreads();
  }

{{EPILOGUE}}
}
