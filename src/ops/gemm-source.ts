// CUDA C++ source generation for GEMM: C = alpha·op(A)·op(B) + beta·C, row-major storage, op = identity or transpose.
// Pure functions: no GPU, no I/O. Every run-time specialization (dtype, transposes, tile shape, the alignment flag)
// is baked into the source as constants, so one spec always yields byte-identical text (a stable cache key) and two
// specs that need different machine code yield different text. alpha, beta, M, N, K are kernel arguments.
//
// Two kernel families:
//  - float32: register-blocked SIMT (FFMA). Block tile BM×BN×BK, 8×8 outputs per thread (two 4-row × two 4-column
//    sub-blocks, half a tile apart, so shared-memory fragment reads are float4 and conflict-free), A kept transposed
//    (k-major) in shared memory, double-buffered shared memory with register prefetch of the next k-tile.
//  - float16 / bfloat16 (f32 accumulation): tensor cores through mma.sync.m16n8k16 (inline PTX), fragments via
//    ldmatrix (.trans where the stored layout is M- or N-contiguous), a STAGES-deep cp.async pipeline into padded
//    shared memory (rows padded by 16 bytes so ldmatrix and cp.async are bank-conflict free).
// Both handle any M, N, K: out-of-range loads are zero-filled, stores are guarded. Vector (16-byte) global accesses are
// used only when `aligned` is set (leading dimensions multiples of 16 bytes and 16-byte aligned base pointers).
import type { ParamType } from '../cuda/index.js';
import type { DType } from './tensor.js';

/** Tile configuration. float32 uses bm, bn, bk (threads = bm/8 · bn/8); the tensor-core kernels use all fields. */
export interface GemmConfig {
  /** Block tile rows (of C). */
  readonly bm: number;
  /** Block tile columns (of C). */
  readonly bn: number;
  /** Block tile depth (K per pipeline stage). */
  readonly bk: number;
  /** Warps along M (tensor-core kernels). */
  readonly warpsM: number;
  /** Warps along N (tensor-core kernels). */
  readonly warpsN: number;
  /** Shared-memory pipeline depth (tensor-core kernels; float32 is always double-buffered). */
  readonly stages: number;
}

/** Everything the generated source depends on. */
export interface GemmSpec {
  readonly dtype: DType;
  /** A is stored K×M (op(A) = Aᵀ). */
  readonly transA: boolean;
  /** B is stored N×K (op(B) = Bᵀ). */
  readonly transB: boolean;
  readonly config: GemmConfig;
  /** 16-byte vector paths allowed: see gemmAligned(). */
  readonly aligned: boolean;
}

export interface GemmSource {
  readonly source: string;
  /** extern "C" kernel name. */
  readonly name: string;
  /** (A, B, C, M, N, K, alpha, beta). */
  readonly signature: readonly ParamType[];
  readonly programName: string;
  readonly options: readonly string[];
  /** Dynamic shared memory per block in bytes (0: the kernel uses static shared memory only). */
  readonly sharedMemBytes: number;
  readonly threads: number;
  readonly block: readonly [number, number, number];
  /** Launch grid for an M×N output (1-D: tiles are rasterized in groups inside the kernel). */
  grid(M: number, N: number): [number, number, number];
}

export const GEMM_SIGNATURE: readonly ParamType[] = Object.freeze([
  'ptr',
  'ptr',
  'ptr',
  'i32',
  'i32',
  'i32',
  'f32',
  'f32',
] as ParamType[]);

/** Tile configurations the operator chooses from (tests and benchmarks may pass others). */
export const GEMM_CONFIGS = {
  f32Large: { bm: 128, bn: 128, bk: 8, warpsM: 0, warpsN: 0, stages: 2 },
  f32Large16: { bm: 128, bn: 128, bk: 16, warpsM: 0, warpsN: 0, stages: 2 },
  f32Medium: { bm: 128, bn: 64, bk: 8, warpsM: 0, warpsN: 0, stages: 2 },
  f32Small: { bm: 64, bn: 64, bk: 8, warpsM: 0, warpsN: 0, stages: 2 },
  mmaLarge: { bm: 128, bn: 128, bk: 32, warpsM: 2, warpsN: 2, stages: 4 },
  mmaWide: { bm: 128, bn: 256, bk: 32, warpsM: 2, warpsN: 4, stages: 3 },
  mmaLarge8: { bm: 128, bn: 128, bk: 32, warpsM: 2, warpsN: 4, stages: 4 },
  mmaLarge64: { bm: 128, bn: 128, bk: 64, warpsM: 2, warpsN: 2, stages: 3 },
  mmaSmall: { bm: 64, bn: 64, bk: 32, warpsM: 2, warpsN: 2, stages: 4 },
} as const satisfies Record<string, GemmConfig>;

/** Elements per 16-byte vector. */
export const vectorWidth = (dtype: DType): number => (dtype === 'float32' ? 4 : 8);

/**
 * Whether the 16-byte vector paths may be used: every leading dimension (lda = transA ? M : K, ldb = transB ? K : N,
 * ldc = N) is a multiple of the vector width and every base pointer is 16-byte aligned.
 */
export function gemmAligned(
  dtype: DType,
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  pointers: readonly bigint[],
): boolean {
  const v = vectorWidth(dtype);
  const lda = transA ? M : K;
  const ldb = transB ? K : N;
  return lda % v === 0 && ldb % v === 0 && N % v === 0 && pointers.every((p) => p % 16n === 0n);
}

const ceilDiv = (a: number, b: number): number => Math.floor((a + b - 1) / b);

/**
 * Pick a tile configuration by shape: the large tile when it alone fills the GPU, a smaller one otherwise. Without
 * 16-byte alignment the tensor-core kernel loads element by element, which needs registers the 64×64 warp tile lacks,
 * so it gets 64×32 warp tiles.
 */
export function defaultGemmConfig(
  dtype: DType,
  M: number,
  N: number,
  smCount = 132,
  aligned = true,
): GemmConfig {
  const tiles = (c: GemmConfig): number => ceilDiv(M, c.bm) * ceilDiv(N, c.bn);
  if (dtype === 'float32') {
    if (tiles(GEMM_CONFIGS.f32Large) >= smCount) return GEMM_CONFIGS.f32Large;
    if (tiles(GEMM_CONFIGS.f32Medium) >= smCount) return GEMM_CONFIGS.f32Medium;
    return GEMM_CONFIGS.f32Small;
  }
  // 128×256 tiles once they fill two waves: at 4096³ they gave 340 TFLOP/s against 312 for 128×128 on an H100
  // (bench/gemm.js sweep, same call as cuBLAS; on an H200 336 against 337). Aligned only: the scalar-load path
  // needs the registers that its 64×64 warp tiles would take.
  if (aligned && tiles(GEMM_CONFIGS.mmaWide) >= 2 * smCount) return GEMM_CONFIGS.mmaWide;
  if (tiles(GEMM_CONFIGS.mmaLarge) >= smCount)
    return aligned ? GEMM_CONFIGS.mmaLarge : GEMM_CONFIGS.mmaLarge8;
  return GEMM_CONFIGS.mmaSmall;
}

/** Throws a RangeError when the configuration cannot be generated for this dtype. */
export function validateGemmConfig(dtype: DType, c: GemmConfig): void {
  const fail = (why: string): never => {
    throw new RangeError(`invalid GEMM tile config ${JSON.stringify(c)} for ${dtype}: ${why}`);
  };
  for (const k of ['bm', 'bn', 'bk'] as const) {
    if (!Number.isInteger(c[k]) || c[k] <= 0) fail(`${k} must be a positive integer`);
  }
  if (dtype === 'float32') {
    if (c.bm % 8 !== 0 || c.bn % 8 !== 0) fail('bm and bn must be multiples of 8 (8×8 outputs per thread)');
    if (c.bk % 4 !== 0) fail('bk must be a multiple of 4');
    const threads = (c.bm / 8) * (c.bn / 8);
    if (threads < 32 || threads > 1024) fail(`bm/8·bn/8 = ${threads} threads: must be 32..1024`);
    if (((c.bm * c.bk) / 4) % threads !== 0 || ((c.bn * c.bk) / 4) % threads !== 0) {
      fail(
        'each thread must load a whole number of float4 per tile (bm·bk/4 and bn·bk/4 divisible by threads)',
      );
    }
    const smem = 2 * c.bk * (c.bm + 4 + c.bn + 4) * 4;
    if (smem > 48 * 1024) fail(`${smem} bytes of static shared memory (max 49152)`);
    return;
  }
  for (const k of ['warpsM', 'warpsN', 'stages'] as const) {
    if (!Number.isInteger(c[k]) || c[k] <= 0) fail(`${k} must be a positive integer`);
  }
  if (c.bk % 32 !== 0)
    fail('bk must be a multiple of 32 (fragments are double-buffered over pairs of k16 steps)');
  if (c.stages < 2) fail('stages must be at least 2');
  if (c.bm % (c.warpsM * 16) !== 0) fail('bm must be a multiple of 16·warpsM');
  if (c.bn % (c.warpsN * 16) !== 0) fail('bn must be a multiple of 16·warpsN');
  const threads = c.warpsM * c.warpsN * 32;
  if (threads > 1024) fail('too many warps');
  // Each operand tile is copied in 16-byte chunks, THREADS/chunksPerRow rows at a time.
  const tileDivides = (rows: number, cols: number): boolean => {
    const cpr = cols / 8;
    return threads % cpr === 0 && rows % (threads / cpr) === 0;
  };
  for (const [rows, cols] of [
    [c.bm, c.bk],
    [c.bk, c.bm],
    [c.bn, c.bk],
    [c.bk, c.bn],
  ] as const) {
    if (!tileDivides(rows, cols))
      fail(`a ${rows}×${cols} tile does not divide into 16-byte chunks among ${threads} threads`);
  }
}

const flag = (b: boolean): string => (b ? 'true' : 'false');
const trans = (s: GemmSpec): string => `${s.transA ? 't' : 'n'}${s.transB ? 't' : 'n'}`;
const DT_TAG: Readonly<Record<DType, string>> = { float32: 'f32', float16: 'f16', bfloat16: 'bf16' };

/** Generate the kernel for one spec. Deterministic: equal specs give byte-identical sources. */
export function gemmSource(spec: GemmSpec): GemmSource {
  validateGemmConfig(spec.dtype, spec.config);
  return spec.dtype === 'float32' ? simtSource(spec) : mmaSource(spec);
}

// ---------------------------------------------------------------------------------------------------------------
// Shared pieces

// Grouped tile rasterization: consecutive blocks walk GROUP tile-rows of C column by column, so the A and B panels
// they read stay in L2.
const RASTER = `
__device__ __forceinline__ void tile_coords(int tilesM, int tilesN, int &bm, int &bn) {
  const int GROUP = 8;
  const int pid = (int)blockIdx.x;
  const int perGroup = GROUP * tilesN;
  const int group = pid / perGroup;
  const int firstM = group * GROUP;
  const int gsz = min(tilesM - firstM, GROUP);
  const int inGroup = pid - group * perGroup;
  bm = firstM + inGroup % gsz;
  bn = inGroup / gsz;
}
`;

function gridFor(bm: number, bn: number): (M: number, N: number) => [number, number, number] {
  return (M, N) => [Math.max(1, ceilDiv(M, bm) * ceilDiv(N, bn)), 1, 1];
}

// ---------------------------------------------------------------------------------------------------------------
// float32 SIMT kernel

function simtSource(spec: GemmSpec): GemmSource {
  const { bm, bn, bk } = spec.config;
  const threads = (bm / 8) * (bn / 8);
  // Occupancy hint: 256-thread tiles are capped at 128 registers (2 blocks per SM) where that does not spill; smaller
  // blocks get a cap near 168 registers (3 blocks of 128 threads) or none at all.
  const minBlocks = threads >= 256 ? (spec.aligned || bk <= 8 ? 2 : 1) : threads >= 128 ? 3 : 1;
  const name = `cuop_gemm_f32_${trans(spec)}_${bm}x${bn}x${bk}_${spec.aligned ? 'v4' : 'v1'}`;
  const source = `// cuop GEMM, float32 SIMT (FFMA), generated
constexpr int BM = ${bm};
constexpr int BN = ${bn};
constexpr int BK = ${bk};
constexpr bool TRANS_A = ${flag(spec.transA)};
constexpr bool TRANS_B = ${flag(spec.transB)};
constexpr bool ALIGNED = ${flag(spec.aligned)};
constexpr int TX = BN / 8;             // threads along N
constexpr int TY = BM / 8;             // threads along M
constexpr int THREADS = TX * TY;
constexpr int SA = BM + 4;             // padded shared-memory row strides (floats)
constexpr int SB = BN + 4;
constexpr int A_VECS = BM * BK / 4 / THREADS;
constexpr int B_VECS = BN * BK / 4 / THREADS;
${RASTER}
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

extern "C" __global__ void __launch_bounds__(THREADS, ${minBlocks})
${name}(const float *__restrict__ A, const float *__restrict__ B, float *__restrict__ C, int M, int N, int K,
    float alpha, float beta) {
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

  // Epilogue: thread owns rows {ty*4+i, BM/2+ty*4+i} and columns {tx*4+j, BN/2+tx*4+j}, i, j < 4.
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int r = m0 + (i < 4 ? ty * 4 + i : BM / 2 + ty * 4 + (i - 4));
    if (r >= M) continue;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int c = n0 + h * (BN / 2) + tx * 4;
      float *p = C + (long long)r * N + c;
      float v[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) v[j] = alpha * acc[i][h * 4 + j];
      if (ALIGNED) {
        if (c < N) {
          if (beta != 0.f) {
            const float4 o = *reinterpret_cast<const float4 *>(p);
            v[0] = fmaf(beta, o.x, v[0]);
            v[1] = fmaf(beta, o.y, v[1]);
            v[2] = fmaf(beta, o.z, v[2]);
            v[3] = fmaf(beta, o.w, v[3]);
          }
          *reinterpret_cast<float4 *>(p) = make_float4(v[0], v[1], v[2], v[3]);
        }
      } else {
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          if (c + j < N) p[j] = beta != 0.f ? fmaf(beta, p[j], v[j]) : v[j];
        }
      }
    }
  }
}
`;
  return {
    source,
    name,
    signature: GEMM_SIGNATURE,
    programName: `${name}.cu`,
    options: [],
    sharedMemBytes: 0,
    threads,
    block: [threads, 1, 1],
    grid: gridFor(bm, bn),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// float16 / bfloat16 tensor-core kernel (mma.sync.m16n8k16, f32 accumulation)

function mmaSource(spec: GemmSpec): GemmSource {
  const { bm, bn, bk, warpsM, warpsN, stages } = spec.config;
  const threads = warpsM * warpsN * 32;
  const bf = spec.dtype === 'bfloat16';
  const tag = DT_TAG[spec.dtype];
  const name =
    `cuop_gemm_${tag}_${trans(spec)}_${bm}x${bn}x${bk}_w${warpsM}x${warpsN}_s${stages}_` +
    `${spec.aligned ? 'v8' : 'v1'}`;
  const aRows = spec.transA ? bk : bm;
  const aCols = spec.transA ? bm : bk;
  const bRows = spec.transB ? bn : bk;
  const bCols = spec.transB ? bk : bn;
  const sharedMemBytes = stages * (aRows * (aCols + 8) + bRows * (bCols + 8)) * 2;
  const header = bf
    ? `#include <cuda_bf16.h>
typedef __nv_bfloat16 T;
typedef __nv_bfloat162 T2;
#define MMA_TYPE "bf16"
__device__ __forceinline__ float to_f32(T x) { return __bfloat162float(x); }
__device__ __forceinline__ T from_f32(float x) { return __float2bfloat16_rn(x); }
__device__ __forceinline__ T2 pack2(float a, float b) { return __floats2bfloat162_rn(a, b); }`
    : `#include <cuda_fp16.h>
typedef __half T;
typedef __half2 T2;
#define MMA_TYPE "f16"
__device__ __forceinline__ float to_f32(T x) { return __half2float(x); }
__device__ __forceinline__ T from_f32(float x) { return __float2half_rn(x); }
__device__ __forceinline__ T2 pack2(float a, float b) { return __floats2half2_rn(a, b); }`;
  const source = `// cuop GEMM, ${spec.dtype} inputs, float32 accumulation on tensor cores (mma.sync m16n8k16), generated
${header}
constexpr int BM = ${bm};
constexpr int BN = ${bn};
constexpr int BK = ${bk};
constexpr int WARPS_M = ${warpsM};
constexpr int WARPS_N = ${warpsN};
constexpr int STAGES = ${stages};
constexpr bool TRANS_A = ${flag(spec.transA)};
constexpr bool TRANS_B = ${flag(spec.transB)};
constexpr bool ALIGNED = ${flag(spec.aligned)};
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
${RASTER}
__device__ __forceinline__ unsigned smem_addr(const void *p) { return (unsigned)__cvta_generic_to_shared(p); }

__device__ __forceinline__ void cp_async16(unsigned dst, const void *src, int bytes) {
  // bytes < 16 zero-fills the rest (bytes == 0: nothing is read, the destination is zeroed)
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\\n" ::"r"(dst), "l"(src), "r"(bytes) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ void ldsm_x4(unsigned addr, unsigned &r0, unsigned &r1, unsigned &r2, unsigned &r3) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
               : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_trans(unsigned addr, unsigned &r0, unsigned &r1, unsigned &r2, unsigned &r3) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
               : "r"(addr));
}
__device__ __forceinline__ void mma16816(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32." MMA_TYPE "." MMA_TYPE ".f32 "
               "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\\n"
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

extern "C" __global__ void __launch_bounds__(THREADS)
${name}(const T *__restrict__ A, const T *__restrict__ B, T *__restrict__ C, int M, int N, int K, float alpha,
    float beta) {
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

  // Epilogue. Accumulator layout of m16n8: c0,c1 at (row g, cols 2q, 2q+1), c2,c3 at (row g+8, same cols),
  // g = lane/4, q = lane%4.
  const int g = lane / 4;
  const int q = lane % 4;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
      const int col = n0 + wn * WTN + nt * 8 + q * 2;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = m0 + wm * WTM + mt * 16 + g + h * 8;
        if (row >= M) continue;
        float v0 = alpha * acc[mt][nt][2 * h];
        float v1 = alpha * acc[mt][nt][2 * h + 1];
        T *p = C + (long long)row * N + col;
        if (ALIGNED) {
          // N is a multiple of 8 and col is even: both elements are in range or neither is.
          if (col < N) {
            if (beta != 0.f) {
              const T2 o = *reinterpret_cast<const T2 *>(p);
              v0 = fmaf(beta, __low2float(o), v0);
              v1 = fmaf(beta, __high2float(o), v1);
            }
            *reinterpret_cast<T2 *>(p) = pack2(v0, v1);
          }
        } else {
          if (col < N) p[0] = from_f32(beta != 0.f ? fmaf(beta, to_f32(p[0]), v0) : v0);
          if (col + 1 < N) p[1] = from_f32(beta != 0.f ? fmaf(beta, to_f32(p[1]), v1) : v1);
        }
      }
    }
  }
}
`;
  return {
    source,
    name,
    signature: GEMM_SIGNATURE,
    programName: `${name}.cu`,
    options: [],
    sharedMemBytes,
    threads,
    block: [threads, 1, 1],
    grid: gridFor(bm, bn),
  };
}
