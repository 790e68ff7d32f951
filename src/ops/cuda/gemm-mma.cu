//# float16 / bfloat16 GEMM on tensor cores (mma.sync m16n8k16, f32 accumulation, STAGES-deep cp.async pipeline);
//# filled by mmaSource() in src/ops/gemm-source.ts (see its header). Placeholders:
//#   {{DTYPE}}                   float16 or bfloat16 (in the first comment line only)
//#   {{DTYPE_HEADER}}            gemm-mma-float16.cuh or gemm-mma-bfloat16.cuh: T, T2, MMA_TYPE and conversions
//#   {{BM}} {{BN}} {{BK}}        block tile
//#   {{WARPS_M}} {{WARPS_N}}     warp grid of the block
//#   {{STAGES}}                  shared-memory pipeline depth
//#   {{TRANS_A}} {{TRANS_B}}     true / false: A stored K×M, B stored N×K
//#   {{ALIGNED}}                 true / false: 16-byte cp.async copies and paired stores allowed
//#   {{TILE_COORDS}}             gemm-tile-coords.cuh
//#   {{NAME}}                    the extern "C" kernel name
//#   {{OUT_T}}                   C's element type: T, or cuop_out_t with a fused epilogue
//#   {{EPILOGUE_DEFS}}           the fused epilogue's device code (gemmEpilogueCode), or nothing
//#   {{EPILOGUE_PARAMS}}         its extra kernel parameters (', const cuop_out_t *__restrict__ bias, …'), or ''
//#   {{EPILOGUE}}                gemm-mma-store.cuh, or gemm-mma-store-fused.cuh with a fused epilogue
// cuop GEMM, {{DTYPE}} inputs, float32 accumulation on tensor cores (mma.sync m16n8k16), generated
{{DTYPE_HEADER}}
constexpr int BM = {{BM}};
constexpr int BN = {{BN}};
constexpr int BK = {{BK}};
constexpr int WARPS_M = {{WARPS_M}};
constexpr int WARPS_N = {{WARPS_N}};
constexpr int STAGES = {{STAGES}};
constexpr bool TRANS_A = {{TRANS_A}};
constexpr bool TRANS_B = {{TRANS_B}};
constexpr bool ALIGNED = {{ALIGNED}};
constexpr int THREADS = WARPS_M * WARPS_N * 32;
constexpr int WTM = BM / WARPS_M;      // warp tile
constexpr int WTN = BN / WARPS_N;
constexpr int MT = WTM / 16;           // m16 tiles per warp
constexpr int NT = WTN / 8;            // n8 tiles per warp
// Shared-memory tiles keep the global layout (A: M×K or, transposed, K×M; B: K×N or N×K); rows padded by 8 elements.
constexpr int A_ROWS = TRANS_A ? BK : BM;
constexpr int A_COLS = TRANS_A ? BM : BK;
constexpr int B_ROWS = TRANS_B ? BN : BK;
constexpr int B_COLS = TRANS_B ? BK : BN;
constexpr int SA = A_COLS + 8;
constexpr int SB = B_COLS + 8;
constexpr int A_STAGE = A_ROWS * SA;   // elements per stage
constexpr int B_STAGE = B_ROWS * SB;

{{TILE_COORDS}}

__device__ __forceinline__ unsigned smem_addr(const void *p) { return (unsigned)__cvta_generic_to_shared(p); }

__device__ __forceinline__ void cp_async16(unsigned dst, const void *src, int bytes) {
  // bytes < 16 zero-fills the rest (bytes == 0: nothing is read, the destination is zeroed)
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(bytes) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ void ldsm_x4(unsigned addr, unsigned &r0, unsigned &r1, unsigned &r2, unsigned &r3) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
               : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_trans(unsigned addr, unsigned &r0, unsigned &r1, unsigned &r2, unsigned &r3) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
               : "r"(addr));
}
__device__ __forceinline__ void mma16816(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32." MMA_TYPE "." MMA_TYPE ".f32 "
               "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Copy a ROWS×COLS tile (global row-major with leading dimension ld, contiguous along COLS, starting at g) into
// shared memory at s (row stride SSTRIDE); elements at row >= rowsLeft or col >= colsLeft are zero-filled.
// Thread tid copies the 16-byte chunks (r0 + i*RSTEP, c) for i < PER.
template <int ROWS, int COLS, int SSTRIDE>
__device__ __forceinline__ void load_tile(unsigned short *s, const unsigned short *__restrict__ g, long long ld,
                                          int rowsLeft, int colsLeft, int tid) {
  constexpr int CPR = COLS / 8;        // 16-byte chunks per row
  constexpr int RSTEP = THREADS / CPR; // rows between one thread's chunks
  constexpr int PER = ROWS / RSTEP;
  static_assert(THREADS % CPR == 0 && ROWS % RSTEP == 0, "tile does not divide among the threads");
  const int r0 = tid / CPR;
  const int c = (tid % CPR) * 8;
  const unsigned short *src = g + (long long)r0 * ld + c;
  const long long step = (long long)RSTEP * ld;
  if (ALIGNED) {
    // ld and the tile origin are multiples of 8 elements: a chunk is entirely inside or entirely outside.
    const unsigned dst = smem_addr(s + r0 * SSTRIDE + c);
    const bool colOk = c < colsLeft;
#pragma unroll
    for (int i = 0; i < PER; ++i) {
      const bool ok = colOk && r0 + i * RSTEP < rowsLeft;
      cp_async16(dst + 2u * (unsigned)(i * RSTEP * SSTRIDE), ok ? src + i * step : g, ok ? 16 : 0);
    }
  } else {
#pragma unroll
    for (int i = 0; i < PER; ++i) {
      const bool rowOk = r0 + i * RSTEP < rowsLeft;
      unsigned short *dst = s + (r0 + i * RSTEP) * SSTRIDE + c;
#pragma unroll
      for (int e = 0; e < 8; ++e) dst[e] = (rowOk && c + e < colsLeft) ? src[i * step + e] : (unsigned short)0;
    }
  }
}

{{EPILOGUE_DEFS}}
extern "C" __global__ void __launch_bounds__(THREADS)
{{NAME}}(const T *__restrict__ A, const T *__restrict__ B, {{OUT_T}} *__restrict__ C, int M, int N, int K, float alpha,
    float beta{{EPILOGUE_PARAMS}}) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  unsigned short *As = reinterpret_cast<unsigned short *>(smem_raw);
  unsigned short *Bs = As + STAGES * A_STAGE;
  const unsigned short *Ag = reinterpret_cast<const unsigned short *>(A);
  const unsigned short *Bg = reinterpret_cast<const unsigned short *>(B);
  const int tid = threadIdx.x;
  const int warp = tid / 32;
  const int lane = tid % 32;
  const int wm = warp % WARPS_M;
  const int wn = warp / WARPS_M;
  int tileM, tileN;
  tile_coords((M + BM - 1) / BM, (N + BN - 1) / BN, tileM, tileN);
  const int m0 = tileM * BM;
  const int n0 = tileN * BN;
  const long long lda = TRANS_A ? M : K;
  const long long ldb = TRANS_B ? K : N;
  const int kTiles = (K + BK - 1) / BK;

  auto load_stage = [&](int t, int s) {
    const int k0 = t * BK;
    if (TRANS_A) load_tile<BK, BM, SA>(As + s * A_STAGE, Ag + k0 * lda + m0, lda, K - k0, M - m0, tid);
    else load_tile<BM, BK, SA>(As + s * A_STAGE, Ag + m0 * lda + k0, lda, M - m0, K - k0, tid);
    if (TRANS_B) load_tile<BN, BK, SB>(Bs + s * B_STAGE, Bg + n0 * ldb + k0, ldb, N - n0, K - k0, tid);
    else load_tile<BK, BN, SB>(Bs + s * B_STAGE, Bg + k0 * ldb + n0, ldb, K - k0, N - n0, tid);
  };

  float acc[MT][NT][4];
#pragma unroll
  for (int i = 0; i < MT; ++i)
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;

  // Per-lane ldmatrix offsets (elements) inside one stage, for k16 step 0; step kk adds 16 columns or 16 rows.
  // A row-major (As[m][k]): lane l addresses row l%16, column (l/16)*8 -> matrices (m0-7,k0-7),(m8-15,k0-7),
  //   (m0-7,k8-15),(m8-15,k8-15) = a0..a3.  A transposed (As[k][m], .trans): matrix j=l/8, row l%8 at
  //   k = (j/2)*8 + l%8, m = (j%2)*8.
  // B transposed (Bs[n][k]): n = (j/2)*8 + l%8, k = (j%2)*8 -> b0,b1 of n-tile 2p, b0,b1 of n-tile 2p+1.
  //   B row-major (Bs[k][n], .trans): k = (j%2)*8 + l%8, n = (j/2)*8 -> same register order.
  const int lj = lane / 8;
  const int lr = lane % 8;
  int aOff, bOff;
  if (TRANS_A) aOff = ((lj / 2) * 8 + lr) * SA + wm * WTM + (lj % 2) * 8;
  else aOff = (wm * WTM + (lane % 16)) * SA + (lane / 16) * 8;
  if (TRANS_B) bOff = (wn * WTN + (lj / 2) * 8 + lr) * SB + (lj % 2) * 8;
  else bOff = ((lj % 2) * 8 + lr) * SB + wn * WTN + (lj / 2) * 8;
  const unsigned aBase = smem_addr(As) + 2u * (unsigned)aOff;
  const unsigned bBase = smem_addr(Bs) + 2u * (unsigned)bOff;

  // Fragments of one k16 step: A for MT m16 tiles, B for NT n8 tiles.
  auto load_frags = [&](unsigned aStage, unsigned bStage, int kk, unsigned (&af)[MT][4], unsigned (&bfr)[NT][2]) {
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
      if (TRANS_A) {
        ldsm_x4_trans(aStage + 2u * (unsigned)(kk * 16 * SA + mt * 16), af[mt][0], af[mt][1], af[mt][2], af[mt][3]);
      } else {
        ldsm_x4(aStage + 2u * (unsigned)(mt * 16 * SA + kk * 16), af[mt][0], af[mt][1], af[mt][2], af[mt][3]);
      }
    }
#pragma unroll
    for (int p = 0; p < NT / 2; ++p) {
      if (TRANS_B) {
        ldsm_x4(bStage + 2u * (unsigned)(p * 16 * SB + kk * 16), bfr[2 * p][0], bfr[2 * p][1], bfr[2 * p + 1][0],
                bfr[2 * p + 1][1]);
      } else {
        ldsm_x4_trans(bStage + 2u * (unsigned)(kk * 16 * SB + p * 16), bfr[2 * p][0], bfr[2 * p][1],
                      bfr[2 * p + 1][0], bfr[2 * p + 1][1]);
      }
    }
  };

  // Pipeline: tiles t+1 .. t+STAGES-2 are in flight while tile t is multiplied; the fragments of the next k16 step
  // are read from shared memory while the current step's mma run (register double buffering).
#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < kTiles) load_stage(s, s);
    cp_async_commit();
  }
  cp_async_wait<STAGES - 2>();  // tile 0 has landed (this thread's part)
  __syncthreads();              // (everyone's part)

  constexpr int KK = BK / 16;
  unsigned af[2][MT][4];
  unsigned bfr[2][NT][2];
  int stage = 0;
  unsigned aStage = aBase;
  unsigned bStage = bBase;
  load_frags(aStage, bStage, 0, af[0], bfr[0]);
  for (int t = 0; t < kTiles; ++t) {
#pragma unroll
    for (int kk = 0; kk < KK; ++kk) {
      if (kk == KK - 1) {
        // Move to tile t+1: wait for it, and make sure every warp has finished reading the stage refilled next.
        cp_async_wait<STAGES - 2>();
        __syncthreads();
        stage = stage + 1 == STAGES ? 0 : stage + 1;
        aStage = aBase + 2u * (unsigned)(stage * A_STAGE);
        bStage = bBase + 2u * (unsigned)(stage * B_STAGE);
      }
      load_frags(aStage, bStage, (kk + 1) % KK, af[(kk + 1) % 2], bfr[(kk + 1) % 2]);
      if (kk == 0) {
        // Refill the stage of tile t-1 (every warp passed the barrier after its last read) with tile t+STAGES-1.
        const int tn = t + STAGES - 1;
        if (tn < kTiles) load_stage(tn, tn % STAGES);
        cp_async_commit();
      }
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) mma16816(acc[mt][nt], af[kk % 2][mt], bfr[kk % 2][nt][0], bfr[kk % 2][nt][1]);
    }
  }
  cp_async_wait<0>();

{{EPILOGUE}}
}
