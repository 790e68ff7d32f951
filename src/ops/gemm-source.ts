// CUDA C++ source generation for GEMM: C = alpha·op(A)·op(B) + beta·C, row-major storage, op = identity or transpose.
// The CUDA text is in src/ops/cuda/gemm-*.cu(h) (read once per process, see cuda-text.ts); this module picks and fills
// it. Pure functions otherwise: no GPU. Every run-time specialization (dtype, transposes, tile shape, the alignment flag)
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
import { createHash } from 'node:crypto';

import type { ParamType } from '../cuda/index.js';
import { cudaLines, fillCuda } from './cuda-text.js';
import { epilogueText, gemmEpilogueCode, type GemmEpilogue } from './gemm-epilogue.js';
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
  /** A fused epilogue (lowerGemmEpilogue); absent: the plain `alpha·acc + beta·C` store, the source as it always was. */
  readonly epilogue?: GemmEpilogue;
}

export interface GemmSource {
  readonly source: string;
  /** extern "C" kernel name. */
  readonly name: string;
  /** (A, B, C, M, N, K, alpha, beta), then a fused epilogue's bias, residual and scalars. */
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

// Grouped tile rasterization (gemm-tile-coords.cuh), shared by both kernels.
const tileCoords = (): string[] => cudaLines('gemm-tile-coords.cuh');

function gridFor(bm: number, bn: number): (M: number, N: number) => [number, number, number] {
  return (M, N) => [Math.max(1, ceilDiv(M, bm) * ceilDiv(N, bn)), 1, 1];
}

// The epilogue's template values and name suffix: the plain store (the source as it always was) or the fused one.
function epilogueParts(
  spec: GemmSpec,
  plainOut: string,
  kernel: 'simt' | 'mma',
): { values: Record<string, string | string[]>; suffix: string; signature: readonly ParamType[] } {
  const e = spec.epilogue;
  if (e === undefined) {
    return {
      values: {
        OUT_T: plainOut,
        EPILOGUE_DEFS: [],
        EPILOGUE_PARAMS: '',
        EPILOGUE: cudaLines(`gemm-${kernel}-store.cuh`),
      },
      suffix: '',
      signature: GEMM_SIGNATURE,
    };
  }
  const code = gemmEpilogueCode(e);
  const store =
    kernel === 'simt'
      ? cudaLines('gemm-simt-store-fused.cuh', {
          APPLY_J: code.apply('alpha * acc[i][h * 4 + j]', 'r', 'c + j'),
        })
      : cudaLines('gemm-mma-store-fused.cuh', {
          APPLY_0: code.apply('alpha * acc[mt][nt][2 * h]', 'row', 'col'),
          APPLY_1: code.apply('alpha * acc[mt][nt][2 * h + 1]', 'row', 'col + 1'),
        });
  const digest = createHash('sha256').update(epilogueText(e)).digest('hex').slice(0, 10);
  return {
    values: {
      OUT_T: code.outType,
      EPILOGUE_DEFS: [...code.defs],
      EPILOGUE_PARAMS: code.params,
      EPILOGUE: store,
    },
    suffix: `_e${digest}`,
    signature: Object.freeze([...GEMM_SIGNATURE, ...code.signature]),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// float32 SIMT kernel

function simtSource(spec: GemmSpec): GemmSource {
  const { bm, bn, bk } = spec.config;
  const threads = (bm / 8) * (bn / 8);
  // Occupancy hint: 256-thread tiles are capped at 128 registers (2 blocks per SM) where that does not spill; smaller
  // blocks get a cap near 168 registers (3 blocks of 128 threads) or none at all.
  const minBlocks = threads >= 256 ? (spec.aligned || bk <= 8 ? 2 : 1) : threads >= 128 ? 3 : 1;
  const epi = epilogueParts(spec, 'float', 'simt');
  const name = `cuop_gemm_f32_${trans(spec)}_${bm}x${bn}x${bk}_${spec.aligned ? 'v4' : 'v1'}${epi.suffix}`;
  const source = fillCuda('gemm-simt.cu', {
    ...epi.values,
    BM: bm,
    BN: bn,
    BK: bk,
    TRANS_A: flag(spec.transA),
    TRANS_B: flag(spec.transB),
    ALIGNED: flag(spec.aligned),
    TILE_COORDS: tileCoords(),
    MIN_BLOCKS: minBlocks,
    NAME: name,
  });
  return {
    source,
    name,
    signature: epi.signature,
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
  const tag = DT_TAG[spec.dtype];
  const epi = epilogueParts(spec, 'T', 'mma');
  const name =
    `cuop_gemm_${tag}_${trans(spec)}_${bm}x${bn}x${bk}_w${warpsM}x${warpsN}_s${stages}_` +
    `${spec.aligned ? 'v8' : 'v1'}${epi.suffix}`;
  const aRows = spec.transA ? bk : bm;
  const aCols = spec.transA ? bm : bk;
  const bRows = spec.transB ? bn : bk;
  const bCols = spec.transB ? bk : bn;
  const sharedMemBytes = stages * (aRows * (aCols + 8) + bRows * (bCols + 8)) * 2;
  const source = fillCuda('gemm-mma.cu', {
    ...epi.values,
    DTYPE: spec.dtype,
    DTYPE_HEADER: cudaLines(`gemm-mma-${spec.dtype}.cuh`),
    BM: bm,
    BN: bn,
    BK: bk,
    WARPS_M: warpsM,
    WARPS_N: warpsN,
    STAGES: stages,
    TRANS_A: flag(spec.transA),
    TRANS_B: flag(spec.transB),
    ALIGNED: flag(spec.aligned),
    TILE_COORDS: tileCoords(),
    NAME: name,
  });
  return {
    source,
    name,
    signature: epi.signature,
    programName: `${name}.cu`,
    options: [],
    sharedMemBytes,
    threads,
    block: [threads, 1, 1],
    grid: gridFor(bm, bn),
  };
}
