// CUDA C++ source generation for the Hopper (sm_90a) float16 / bfloat16 GEMM: C = alpha·op(A)·op(B) + beta·C,
// row-major storage, op = identity or transpose, float32 accumulation. The CUDA text is src/ops/cuda/gemm-wgmma.cu;
// this module fills it. Pure: no GPU. Equal specs give byte-identical sources (a stable cache key).
//
// The kernel (notes/gemm.md, "float16 / bfloat16 on Hopper"):
//  - one producer warpgroup (its registers given back with setmaxnreg) whose first thread issues TMA copies
//    (cp.async.bulk.tensor, 128-byte swizzle, out-of-bounds elements zero-filled) into a STAGES-deep ring of
//    shared-memory stages guarded by full/empty mbarriers;
//  - CONSUMERS warpgroups, 64 rows of the tile each, issuing wgmma.mma_async.m64nBNk16 (f32 accumulation) straight
//    from shared memory, keeping one k-tile's wgmma group in flight while the previous stage is released;
//  - persistent: min(tiles, SMs) blocks walk the tiles in grouped order, so the producer fills the next tile's
//    stages while the consumers store the last one;
//  - or, with `pingpong`, the consumers take whole tiles in turns (BM 64 or 128 rows in one warpgroup), so one
//    consumer's epilogue runs while the next one's wgmmas do.
// The transposes are layout choices: K-contiguous operands are K-major tiles, M- or N-contiguous ones MN-major
// tiles (64-wide panels), read by wgmma with its transpose bit. TMA needs 16-byte aligned bases and leading dimensions
// (gemmAligned()); the operator uses the mma.sync kernel otherwise.
import { createHash } from 'node:crypto';

import { cudaLines, fillCuda } from './cuda-text.js';
import { epilogueText, gemmEpilogueCode, type GemmEpilogue } from './gemm-epilogue.js';
import type { DType } from './tensor.js';

/** Tile configuration of the Hopper kernel. */
export interface WgmmaConfig {
  /** Block tile rows: 64 per consumer warpgroup (cooperative); 64 or 128 with `pingpong`. */
  readonly bm: number;
  /** Block tile columns (the wgmma N): 64, 128, 192 or 256. */
  readonly bn: number;
  /** Block tile depth: 64 (one 128-byte swizzle row of 16-bit elements). */
  readonly bk: number;
  /** Shared-memory pipeline depth. */
  readonly stages: number;
  /** Consumer warpgroups (1 or 2); the block has 128·(consumers + 1) threads. */
  readonly consumers: number;
  /**
   * Thread-block cluster size: 1, or 2 (cooperative consumers only): the two blocks of a cluster take tiles in
   * adjacent tile rows of one tile column and each loads half of their shared B tile, multicast into both, so L2
   * sends 1.5 instead of 2 tiles' worth of B per pair of blocks and k-tile.
   */
  readonly cluster: number;
  /**
   * With a fused epilogue: staged rows each thread takes per iteration of its rolled loop (1, 2 or 4; default 1).
   * More hides more latency and inlines the expression that many more times.
   */
  readonly epilogueUnroll?: number;
  /**
   * Ping-pong consumers (two): each consumer warpgroup takes whole BM×BN tiles in turn (BM/64 · BN/2 ≤ 128 accumulators
   * a thread), so one stores its tile while the next one's MMAs run. Default false: the consumers share each tile
   * (64 rows each) and so each stage's B, and the tensor cores wait while they store.
   */
  readonly pingpong?: boolean;
}

/** Everything the generated Hopper source depends on. */
export interface WgmmaSpec {
  /** float16 or bfloat16. */
  readonly dtype: DType;
  /** A is stored K×M (op(A) = Aᵀ). */
  readonly transA: boolean;
  /** B is stored N×K (op(B) = Bᵀ). */
  readonly transB: boolean;
  readonly config: WgmmaConfig;
  /**
   * A fused epilogue (lowerGemmEpilogue): bias, activation, scale, residual, output cast; its bias, residual and
   * scalars follow beta among the kernel's parameters. Absent: the plain `alpha·acc + beta·C` store, the source as it
   * always was.
   */
  readonly epilogue?: GemmEpilogue;
}

/** A generated Hopper GEMM kernel and how to launch it. */
export interface WgmmaSource {
  readonly source: string;
  /** extern "C" kernel name. */
  readonly name: string;
  readonly programName: string;
  /** Compiler options: `-arch=sm_90a` (wgmma and setmaxnreg exist only on the arch-specific target). */
  readonly options: readonly string[];
  /** Dynamic shared memory per block in bytes (the stages plus 1024 for aligning them). */
  readonly sharedMemBytes: number;
  readonly threads: number;
  readonly block: readonly [number, number, number];
  /**
   * Launch grid: persistent, min(tiles, smCount) blocks; with a cluster min(cluster tiles, ⌊smCount / cluster⌋)
   * whole clusters (an odd count of tile rows adds a block past M, which only loads its part of B).
   */
  grid(M: number, N: number, smCount: number): [number, number, number];
  /** Blocks per cluster (the kernel declares it with `__cluster_dims__`; 1: no cluster). */
  readonly cluster: number;
  /** The TMA box of A and of B, innermost dimension first (what the tensor maps must be encoded with). */
  readonly boxA: readonly [number, number];
  readonly boxB: readonly [number, number];
}

/**
 * Hopper tile configurations (an autotuner may pick from these; tests and benchmarks may pass others).
 * Shared memory: 128×256×64 is 48 KiB per stage, 128×128×64 32 KiB, 64×128×64 24 KiB.
 */
export const WGMMA_CONFIGS = {
  wgmma128x256: { bm: 128, bn: 256, bk: 64, stages: 4, consumers: 2, cluster: 1 },
  wgmma128x256s3: { bm: 128, bn: 256, bk: 64, stages: 3, consumers: 2, cluster: 1 },
  wgmma128x128: { bm: 128, bn: 128, bk: 64, stages: 6, consumers: 2, cluster: 1 },
  wgmma128x192: { bm: 128, bn: 192, bk: 64, stages: 5, consumers: 2, cluster: 1 },
  wgmma64x128: { bm: 64, bn: 128, bk: 64, stages: 8, consumers: 1, cluster: 1 },
  wgmma64x256: { bm: 64, bn: 256, bk: 64, stages: 5, consumers: 1, cluster: 1 },
  wgmma128x128pp: { bm: 128, bn: 128, bk: 64, stages: 6, consumers: 2, cluster: 1, pingpong: true },
  wgmma64x256pp: { bm: 64, bn: 256, bk: 64, stages: 5, consumers: 2, cluster: 1, pingpong: true },
  wgmma128x256k2: { bm: 128, bn: 256, bk: 64, stages: 4, consumers: 2, cluster: 2 },
  wgmma128x128k2: { bm: 128, bn: 128, bk: 64, stages: 6, consumers: 2, cluster: 2 },
} as const satisfies Record<string, WgmmaConfig>;

/** Most dynamic shared memory a block may opt into on sm_90 (227 KiB). */
export const SM90_MAX_SHARED_BYTES = 232448;

/**
 * A fused epilogue stages each consumer's 64 rows in slices of this many f32 columns (gemm-wgmma-store-fused.cuh),
 * rows padded to this stride so that the staging writes and the reads meet the fewest bank conflicts.
 */
export const EPILOGUE_SLICE_COLS = 32;
export const EPILOGUE_SLICE_STRIDE = 40;

/**
 * Dynamic shared memory of a configuration: its stages, 1024 bytes of alignment slack, and with a fused epilogue
 * each consumer's staging slice.
 */
export const wgmmaSharedBytes = (c: WgmmaConfig, fused = false): number =>
  c.stages * (c.bm + c.bn) * c.bk * 2 + 1024 + (fused ? c.consumers * 64 * EPILOGUE_SLICE_STRIDE * 4 : 0);

/** Throws a RangeError naming the field when the configuration cannot be generated. */
export function validateWgmmaConfig(dtype: DType, c: WgmmaConfig, fused = false): void {
  const fail = (why: string): never => {
    throw new RangeError(`invalid wgmma GEMM tile config ${JSON.stringify(c)} for ${dtype}: ${why}`);
  };
  if (dtype !== 'float16' && dtype !== 'bfloat16') fail('the wgmma kernel takes float16 or bfloat16 only');
  for (const k of ['bm', 'bn', 'bk', 'stages', 'consumers', 'cluster'] as const) {
    if (!Number.isInteger(c[k]) || c[k] <= 0) fail(`${k} must be a positive integer`);
  }
  if (c.bk !== 64) fail('bk must be 64 (one 128-byte swizzled row of 16-bit elements per k-tile)');
  if (c.consumers !== 1 && c.consumers !== 2) fail('consumers must be 1 or 2 warpgroups');
  if (c.pingpong !== undefined && typeof c.pingpong !== 'boolean') fail('pingpong must be true or false');
  if (c.pingpong) {
    if (c.consumers !== 2) fail('consumers must be 2 with pingpong (they take the tiles in turns)');
    if (c.bm !== 64 && c.bm !== 128) fail('bm must be 64 or 128 with pingpong (one warpgroup holds a tile)');
    if ((c.bm / 64) * (c.bn / 2) > 128)
      fail('bm·bn must be at most 64·256 with pingpong (128 accumulators a thread)');
  } else if (c.bm !== 64 * c.consumers) fail(`bm must be 64·consumers = ${64 * c.consumers}`);
  if (c.bn % 64 !== 0 || c.bn > 256)
    fail('bn must be 64, 128, 192 or 256 (64-wide TMA panels, wgmma N ≤ 256)');
  if (c.stages < 2) fail('stages must be at least 2');
  if (c.cluster !== 1 && c.cluster !== 2) fail('cluster must be 1 or 2 blocks');
  if (c.cluster === 2 && c.pingpong) fail('cluster 2 takes the cooperative consumers (pingpong false)');
  // What the emulation, ptxas and the GPU tests have covered (notes/gemm.md): 2 consumers, B 128 or 256 wide.
  if (c.cluster === 2 && (c.consumers !== 2 || (c.bn !== 128 && c.bn !== 256)))
    fail('cluster 2 is implemented for 2 consumers and bn 128 or 256 (bm 128)');
  if (c.epilogueUnroll !== undefined && ![1, 2, 4].includes(c.epilogueUnroll))
    fail('epilogueUnroll must be 1, 2 or 4');
  const smem = wgmmaSharedBytes(c, fused);
  if (smem > SM90_MAX_SHARED_BYTES) {
    const what = fused ? " with the fused epilogue's staging" : '';
    fail(`${smem} bytes of shared memory${what} (sm_90 allows ${SM90_MAX_SHARED_BYTES})`);
  }
}

const ceilDiv = (a: number, b: number): number => Math.floor((a + b - 1) / b);

/**
 * Pick the Hopper configuration for an M×N output: the one with the least estimated time, counting the waves of a
 * persistent grid over smCount SMs and discounting the smaller tiles' lower efficiency per FLOP.
 */
export function defaultWgmmaConfig(M: number, N: number, smCount = 132): WgmmaConfig {
  const candidates: [WgmmaConfig, number][] = [
    [WGMMA_CONFIGS.wgmma128x256, 1],
    [WGMMA_CONFIGS.wgmma128x128, 0.88],
    [WGMMA_CONFIGS.wgmma64x128, 0.7],
  ];
  let best: WgmmaConfig = WGMMA_CONFIGS.wgmma128x256;
  let bestTime = Infinity;
  for (const [c, efficiency] of candidates) {
    const tiles = ceilDiv(M, c.bm) * ceilDiv(N, c.bn);
    const time = (ceilDiv(tiles, smCount) * c.bm * c.bn) / efficiency;
    if (time < bestTime) {
      best = c;
      bestTime = time;
    }
  }
  return best;
}

/**
 * The configuration for an M×N output with a fused epilogue: the ping-pong 128×128 tile where every SM gets two
 * tiles or more (then one consumer's epilogue runs while the other's wgmmas do), else the plain default; staged rows
 * unrolled by 2 either way. Measured on the H200 (notes/gemm.md): `gelu(A·B + bias)` 2–15 % faster than the plain
 * default's 128×256 tile with rows one at a time, at 4096³, 8192×4096×1024 and 2048×8192×2048.
 */
export function defaultFusedWgmmaConfig(M: number, N: number, smCount = 132): WgmmaConfig {
  const turns = ceilDiv(M, 128) * ceilDiv(N, 128) >= 2 * smCount;
  return { ...(turns ? WGMMA_CONFIGS.wgmma128x128pp : defaultWgmmaConfig(M, N, smCount)), epilogueUnroll: 2 };
}

const flag = (b: boolean): string => (b ? 'true' : 'false');
const DT_TAG: Readonly<Record<string, string>> = { float16: 'f16', bfloat16: 'bf16' };

/** The m64nBNk16 wgmma wrapper: BN/2 float accumulators, descriptors for A and B, the transpose bits. */
export function wgmmaWrapper(bn: number, transA: boolean, transB: boolean): string[] {
  const n = bn / 2;
  const regs = Array.from({ length: n }, (_, i) => `%${i}`);
  const lines = [
    '__device__ __forceinline__ void wgmma_tile(float (&d)[BN / 2], unsigned long long da, unsigned long long db) {',
    '  asm volatile(',
    `      "wgmma.mma_async.sync.aligned.m64n${bn}k16.f32." MMA_TYPE "." MMA_TYPE " "`,
  ];
  for (let i = 0; i < n; i += 16) {
    const chunk = regs.slice(i, i + 16).join(', ');
    lines.push(`      "${i === 0 ? '{' : ''}${chunk}${i + 16 >= n ? '}, ' : ', '}"`);
  }
  // scale-d 1 (accumulate), scale-a 1, scale-b 1, transpose-a (M-major A), transpose-b (N-major B).
  lines.push(`      "%${n}, %${n + 1}, 1, 1, 1, ${transA ? 1 : 0}, ${transB ? 0 : 1};\\n"`);
  for (let i = 0; i < n; i += 8) {
    const outs = Array.from({ length: Math.min(8, n - i) }, (_, j) => `"+f"(d[${i + j}])`).join(', ');
    lines.push(`      ${i === 0 ? ': ' : '  '}${outs}${i + 8 >= n ? '' : ','}`);
  }
  lines.push('      : "l"(da), "l"(db));', '}');
  return lines;
}

// The first row of the 64 a warpgroup's store covers: its own 64 rows of the tile (cooperative), or the m64 slice
// `mh` of the tile it holds whole (ping-pong).
const rowsOf = (c: WgmmaConfig): string => (c.pingpong ? 'm0 + mh * 64' : 'm0 + w * 64');

// The block's walk over its tiles (tile_of's grouped order), setting tm and tn: one block's tiles, or a cluster's
// tiles CLUSTER rows at a time (this block's row of each is tm·CLUSTER + rank).
const TILE_WALK = [
  '  for (int t = blockIdx.x; t < tiles; t += gridDim.x) {',
  '    int tm, tn;',
  '    tile_of(t, tilesM, tilesN, tm, tn);',
];
const CLUSTER_TILE_WALK = [
  '  for (int t = clusterId; t < clusterTiles; t += clusters) {',
  '    int tm, tn;',
  '    tile_of(t, clusterRows, tilesN, tm, tn);',
  '    tm = tm * CLUSTER + rank;',
];

// What a cluster changes outside the consumers: its helpers, the kernel's cluster shape, the barriers' visibility
// across the cluster at the start and the end, the cluster's tile grid, and the producer that multicasts B.
function clusterParts(c: WgmmaConfig): Record<string, string | string[]> {
  if (c.cluster === 1) {
    return {
      CLUSTER_DEFS: [],
      CLUSTER_ATTR: '',
      START_SYNC: '__syncthreads();',
      CLUSTER_TILES: [],
      PRODUCER: cudaLines('gemm-wgmma-producer.cuh'),
      END_SYNC: [],
    };
  }
  return {
    CLUSTER_DEFS: cudaLines('gemm-wgmma-cluster.cuh', { CLUSTER: c.cluster }),
    CLUSTER_ATTR: ` __cluster_dims__(${c.cluster}, 1, 1)`,
    START_SYNC: 'cluster_sync();',
    CLUSTER_TILES: [
      "  // The cluster's tiles: CLUSTER tile rows of one tile column each, this block's row at rank.",
      '  const int rank = (int)cluster_reg_rank();',
      '  const int clusterId = (int)cluster_reg_id();',
      '  const int clusters = (int)cluster_reg_count();',
      '  const int clusterRows = (tilesM + CLUSTER - 1) / CLUSTER;',
      '  const int clusterTiles = clusterRows * tilesN;',
      '  (void)tiles;',
    ],
    PRODUCER: cudaLines('gemm-wgmma-producer-cluster.cuh'),
    END_SYNC: ['  cluster_sync();'],
  };
}

// The consumers' part of the kernel: the tile check, how many warps release a stage, their code with the store.
function consumerParts(c: WgmmaConfig, epilogue: readonly string[]): Record<string, string | string[]> {
  if (!c.pingpong) {
    const clustered = c.cluster > 1;
    return {
      SHARED_EXTRA: [],
      INIT_EXTRA: [],
      TILE_ASSERT: 'static_assert(BM == 64 * CONSUMERS, "each consumer warpgroup owns 64 rows");',
      EMPTY_INIT: clustered
        ? '      mbar_init(emptyBar + 8u * s, CONSUMERS * 4 * CLUSTER); // lane 0 of every consumer warp of the cluster'
        : '      mbar_init(emptyBar + 8u * s, CONSUMERS * 4);     // lane 0 of every consumer warp',
      CONSUMER: cudaLines('gemm-wgmma-consumer.cuh', {
        SETUP: cudaLines('gemm-wgmma-consumer-setup.cuh'),
        TILE_WALK: clustered ? CLUSTER_TILE_WALK : TILE_WALK,
        RELEASE: clustered ? 'release_stage' : 'mbar_arrive',
        EPILOGUE: [...epilogue],
      }),
    };
  }
  return {
    TILE_ASSERT: [
      'constexpr int MH = BM / 64;                           // m64 slices of a tile, all held by one warpgroup',
      'static_assert(BM % 64 == 0 && MH * (BN / 2) <= 128, "a consumer warpgroup holds whole tiles: 128 accumulators");',
    ],
    EMPTY_INIT:
      '      mbar_init(emptyBar + 8u * s, 4);                 // lane 0 of each warp of the consumer reading it',
    SHARED_EXTRA: [
      '  __shared__ __align__(8) unsigned long long mainloopDone; // a phase per tile whose full waits are all passed',
    ],
    INIT_EXTRA: [
      '    mbar_init(smem_u32(&mainloopDone), 1);            // thread 0 of the consumer that finished',
    ],
    CONSUMER: cudaLines('gemm-wgmma-consumer-pingpong.cuh', {
      SETUP: cudaLines('gemm-wgmma-consumer-setup.cuh'),
      EPILOGUE: [...epilogue],
    }),
  };
}

// The epilogue's template values and name suffix: the plain store (the source as it always was) or the fused one,
// as gemm-source.ts does for the mma.sync kernel (same `_e<10 hex>` suffix of the epilogue's canonical text).
function epilogueParts(spec: WgmmaSpec): { values: Record<string, string | string[]>; suffix: string } {
  const e = spec.epilogue;
  if (e === undefined) {
    return {
      values: {
        OUT_T: 'T',
        EPILOGUE_DEFS: [],
        EPILOGUE_PARAMS: '',
        EPILOGUE: cudaLines('gemm-wgmma-store.cuh', { ROWS: rowsOf(spec.config) }),
      },
      suffix: '',
    };
  }
  const code = gemmEpilogueCode(e);
  const digest = createHash('sha256').update(epilogueText(e)).digest('hex').slice(0, 10);
  return {
    values: {
      OUT_T: code.outType,
      EPILOGUE_DEFS: [...code.defs],
      EPILOGUE_PARAMS: code.params,
      EPILOGUE: cudaLines('gemm-wgmma-store-fused.cuh', {
        EPI_COLS: EPILOGUE_SLICE_COLS,
        EPI_UNROLL: spec.config.epilogueUnroll ?? 1,
        EPI_STRIDE: EPILOGUE_SLICE_STRIDE,
        APPLY_0: code.apply('alpha * a.x', 'row', 'col'),
        APPLY_1: code.apply('alpha * a.y', 'row', 'col + 1'),
        ROWS: rowsOf(spec.config),
      }),
    },
    suffix: `${(spec.config.epilogueUnroll ?? 1) === 1 ? '' : `_u${spec.config.epilogueUnroll}`}_e${digest}`,
  };
}

/** Generate the Hopper kernel for one spec. Deterministic: equal specs give byte-identical sources. */
export function wgmmaSource(spec: WgmmaSpec): WgmmaSource {
  const c = spec.config;
  validateWgmmaConfig(spec.dtype, c, spec.epilogue !== undefined);
  const tag = DT_TAG[spec.dtype] as string;
  const trans = `${spec.transA ? 't' : 'n'}${spec.transB ? 't' : 'n'}`;
  const epi = epilogueParts(spec);
  const name =
    `cuop_gemm_${tag}_${trans}_wgmma_${c.bm}x${c.bn}x${c.bk}_c${c.consumers}_s${c.stages}` +
    `${c.pingpong ? '_pp' : ''}${c.cluster > 1 ? `_k${c.cluster}` : ''}${epi.suffix}`;
  const threads = 128 * (c.consumers + 1);
  const { EPILOGUE: epilogue, ...epiValues } = epi.values;
  const source = fillCuda('gemm-wgmma.cu', {
    ...epiValues,
    ...consumerParts(c, epilogue as string[]),
    ...clusterParts(c),
    DTYPE: spec.dtype,
    DTYPE_HEADER: cudaLines(`gemm-mma-${spec.dtype}.cuh`),
    BM: c.bm,
    BN: c.bn,
    CONSUMERS: c.consumers,
    STAGES: c.stages,
    TRANS_A: flag(spec.transA),
    TRANS_B: flag(spec.transB),
    WGMMA: wgmmaWrapper(c.bn, spec.transA, spec.transB),
    NAME: name,
  });
  return {
    source,
    name,
    programName: `${name}.cu`,
    options: ['-arch=sm_90a'],
    sharedMemBytes: wgmmaSharedBytes(c, spec.epilogue !== undefined),
    threads,
    block: [threads, 1, 1],
    // Persistent: a block (a cluster) per SM (per CLUSTER SMs) at most, one per tile (per cluster's tiles).
    grid: (M, N, smCount) => {
      const clusterTiles = ceilDiv(ceilDiv(M, c.bm), c.cluster) * ceilDiv(N, c.bn);
      const clusters = Math.max(1, Math.min(clusterTiles, Math.floor(Math.max(1, smCount) / c.cluster)));
      return [clusters * c.cluster, 1, 1];
    },
    cluster: c.cluster,
    boxA: spec.transA ? [64, 64] : [64, c.bm],
    boxB: spec.transB ? [64, c.bn / c.cluster] : [64, 64],
  };
}
