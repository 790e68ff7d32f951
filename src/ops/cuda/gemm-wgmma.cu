//# float16 / bfloat16 GEMM for Hopper (sm_90a): wgmma.mma_async fed by TMA, mbarrier pipelines, warp-specialized;
//# filled by wgmmaSource() in src/ops/gemm-wgmma-source.ts (see its header and notes/gemm.md). Placeholders:
//#   {{DTYPE}}                   float16 or bfloat16 (in the first comment line only)
//#   {{DTYPE_HEADER}}            gemm-mma-float16.cuh or gemm-mma-bfloat16.cuh: T, T2, MMA_TYPE and conversions
//#   {{BM}} {{BN}}               block tile (BK is 64: one 128-byte swizzle row of 16-bit elements)
//#   {{CONSUMERS}}               consumer warpgroups (each owns 64 rows of the tile)
//#   {{STAGES}}                  shared-memory pipeline depth
//#   {{TRANS_A}} {{TRANS_B}}     true / false: A stored K×M, B stored N×K
//#   {{WGMMA}}                   the m64nBNk16 wgmma wrapper (its operand list is generated)
//#   {{NAME}}                    the extern "C" kernel name
//#   {{OUT_T}}                   C's element type: T, or cuop_out_t with a fused epilogue
//#   {{EPILOGUE_DEFS}}           the fused epilogue's device code (gemmEpilogueCode), or nothing
//#   {{EPILOGUE_PARAMS}}         its extra kernel parameters (', const cuop_out_t *__restrict__ bias, …'), or ''
//#   {{TILE_ASSERT}}             what the tile must be for the consumers' layout (one line)
//#   {{EMPTY_INIT}}              the empty barriers' init: how many warps release a stage (one line)
//#   {{SHARED_EXTRA}} {{INIT_EXTRA}} more barriers the consumers use, and their init (none cooperative)
//#   {{CLUSTER_DEFS}}            with a cluster: its helpers (gemm-wgmma-cluster.cuh), else nothing
//#   {{CLUSTER_ATTR}}            ' __cluster_dims__(2, 1, 1)' with a cluster, else ''
//#   {{START_SYNC}} {{END_SYNC}} the barrier after the mbarrier init (__syncthreads, or cluster_sync) and the cluster
//#                               barrier every thread ends at (nothing without a cluster)
//#   {{CLUSTER_TILES}}           the cluster's tile grid and this block's rank (nothing without a cluster)
//#   {{PRODUCER}}                the producer warpgroup: gemm-wgmma-producer.cuh, or gemm-wgmma-producer-cluster.cuh
//#   {{CONSUMER}}                the consumer warpgroups' code: gemm-wgmma-consumer.cuh (cooperative: every consumer
//#                               takes 64 rows of every tile) or gemm-wgmma-consumer-pingpong.cuh (each consumer takes
//#                               whole tiles, in turns), with {{EPILOGUE}} in it: gemm-wgmma-store.cuh, or
//#                               gemm-wgmma-store-fused.cuh with a fused epilogue
//#
//# Shared memory, per stage (all bases 1024-byte aligned, TMA writes with the 128-byte swizzle):
//#   A: BM×64 elements. Not transposed (K-major): one TMA box {64 k, BM m}, row m at m·128 bytes.
//#      Transposed (M-major): BM/64 boxes {64 m, 64 k}, panel p (m 64p..64p+63) at p·8192, row k at k·128.
//#      Either way consumer w's 64 rows are the 8192 bytes at w·8192.
//#   B: BN×64 elements. Transposed (N×K storage, K-major): one box {64 k, BN n} (with a cluster, one box of BN/CLUSTER
//#      rows per block, multicast). Not transposed (N-major):
//#      BN/64 boxes {64 n, 64 k}, panel p at p·8192.
//# wgmma descriptors: K-major LBO 16 (unused with a swizzle), SBO 1024 (8 rows of 128 bytes); a k16 step is +32 bytes.
//#   MN-major LBO 8192 (next 64-wide panel), SBO 1024 (next 8 k-rows); a k16 step is +2048 bytes (16 rows).
// cuop GEMM, {{DTYPE}} inputs, float32 accumulation on Hopper tensor cores (wgmma + TMA, sm_90a), generated
{{DTYPE_HEADER}}
constexpr int BM = {{BM}};
constexpr int BN = {{BN}};
constexpr int BK = 64;
constexpr int CONSUMERS = {{CONSUMERS}};
constexpr int STAGES = {{STAGES}};
constexpr bool TRANS_A = {{TRANS_A}};
constexpr bool TRANS_B = {{TRANS_B}};
constexpr int THREADS = 128 * (CONSUMERS + 1);
constexpr unsigned PANEL_BYTES = 64 * BK * 2;         // 64 rows (or a 64-wide panel) of one k-tile
constexpr unsigned A_STAGE_BYTES = BM * BK * 2;
constexpr unsigned B_STAGE_BYTES = BN * BK * 2;
constexpr unsigned STAGE_BYTES = A_STAGE_BYTES + B_STAGE_BYTES;
constexpr int GROUP = 8;                              // tile-rows per rasterization group (L2 reuse)
{{TILE_ASSERT}}
static_assert(BN % 64 == 0 && BN <= 256, "BN is a multiple of 64, at most 256");

// A CUtensorMap as the kernel receives it: 128 opaque bytes, 64-byte aligned, passed by value.
struct alignas(64) TmaMap {
  unsigned long long words[16];
};

__device__ __forceinline__ unsigned smem_u32(const void *p) { return (unsigned)__cvta_generic_to_shared(p); }

__device__ __forceinline__ void mbar_init(unsigned bar, unsigned count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_expect_tx(unsigned bar, unsigned bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(unsigned bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
// Wait until the phase of parity `parity` has completed (a fresh barrier is in phase 0: parity 1 passes at once).
__device__ __forceinline__ void mbar_wait(unsigned bar, unsigned parity) {
  unsigned done;
  do {
    asm volatile("{\n"
                 ".reg .pred p;\n"
                 "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
                 "selp.u32 %0, 1, 0, p;\n"
                 "}\n"
                 : "=r"(done)
                 : "r"(bar), "r"(parity)
                 : "memory");
  } while (!done);
}

// One 2-D TMA box (c0: innermost coordinate, in elements) into shared memory at dst; completes bytes on bar.
__device__ __forceinline__ void tma_load(unsigned dst, const TmaMap *map, unsigned bar, int c0, int c1) {
  asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
               " [%0], [%1, {%3, %4}], [%2];\n" ::"r"(dst),
               "l"(reinterpret_cast<unsigned long long>(map)), "r"(bar), "r"(c0), "r"(c1)
               : "memory");
}
{{CLUSTER_DEFS}}

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Keeps the compiler from moving accumulator reads or writes across the asynchronous wgmma (no code emitted).
__device__ __forceinline__ void fence_operand(float &r) { asm volatile("" : "+f"(r)::"memory"); }

// Shared-memory matrix descriptor, 128-byte swizzle: start >> 4 (bits 0-13), LBO >> 4 (16-29), SBO >> 4 (32-45),
// base offset 0 (tiles are 1024-byte aligned), swizzle mode 1 = 128B (bits 62-63).
__device__ __forceinline__ unsigned long long smem_desc(unsigned addr, unsigned lbo, unsigned sbo) {
  return (unsigned long long)((addr & 0x3FFFFu) >> 4) | ((unsigned long long)(lbo >> 4) << 16) |
         ((unsigned long long)(sbo >> 4) << 32) | (1ull << 62);
}

{{WGMMA}}

{{EPILOGUE_DEFS}}
__device__ __forceinline__ void tile_of(int t, int tilesM, int tilesN, int &tm, int &tn) {
  const int perGroup = GROUP * tilesN;
  const int group = t / perGroup;
  const int firstM = group * GROUP;
  const int gsz = min(tilesM - firstM, GROUP);
  const int inGroup = t - group * perGroup;
  tm = firstM + inGroup % gsz;
  tn = inGroup / gsz;
}

extern "C" __global__ void __launch_bounds__(THREADS, 1){{CLUSTER_ATTR}}
{{NAME}}(const __grid_constant__ TmaMap mapA, const __grid_constant__ TmaMap mapB, {{OUT_T}} *__restrict__ C, int M, int N,
    int K, float alpha, float beta{{EPILOGUE_PARAMS}}) {
  extern __shared__ unsigned char smem_raw[];
  __shared__ __align__(8) unsigned long long bars[2 * STAGES]; // full[s] at s, empty[s] at STAGES + s
{{SHARED_EXTRA}}
  // TMA's 128-byte swizzle and the wgmma descriptors agree only on 1024-byte aligned tiles.
  const unsigned smem = (smem_u32(smem_raw) + 1023u) & ~1023u;
  const unsigned fullBar = smem_u32(bars);
  const unsigned emptyBar = fullBar + 8u * STAGES;
  const int tid = threadIdx.x;
  const int wg = tid / 128;
  if (tid == 0) {
    for (int s = 0; s < STAGES; ++s) {
      mbar_init(fullBar + 8u * s, 1);                  // the producer's arrive.expect_tx
{{EMPTY_INIT}}
    }
{{INIT_EXTRA}}
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
  }
  {{START_SYNC}}

  const int tilesM = (M + BM - 1) / BM;
  const int tilesN = (N + BN - 1) / BN;
  const int tiles = tilesM * tilesN;
  const int kTiles = (K + BK - 1) / BK;
{{CLUSTER_TILES}}

{{PRODUCER}}

{{CONSUMER}}
{{END_SYNC}}
}
