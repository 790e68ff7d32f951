// CPU emulation of the Hopper GEMM's producer/consumer protocol (src/ops/cuda/gemm-wgmma.cu): the full/empty
// mbarriers (arrival counts, transaction bytes, phase parity as `mbarrier.try_wait.parity` defines it), the TMA
// copies the producer issues per stage (completing asynchronously, in any order, each counting its whole box), and
// the consumer warps' wgmma groups (reading a stage from issue to retirement, one group kept in flight). A seeded
// random scheduler interleaves them; the emulation fails on a deadlock (nothing can move and work is left), on a TMA
// write into a stage a wgmma group is still reading, on a wgmma reading a stage whose needed boxes are not this
// k-tile's, on a box landing on a full barrier in a phase other than its own k-tile's, and on a barrier left with
// bytes or arrivals pending at the end.
// Thread-block clusters of 2 (gemm-wgmma-cluster.cuh, gemm-wgmma-producer-cluster.cuh) are modelled as they run: both
// blocks of a cluster, each with its own barriers, stages, producer and consumer warps, walk the cluster's tiles
// (block row tm·2 + rank), interleaved by the same scheduler. Each producer waits on its own empty barriers (counting
// the consumer warps of both blocks), expects the whole stage's bytes on its own full barrier and issues its A
// locally and its share of B multicast: a multicast box lands in each block separately (in any order) and completes
// its bytes on that block's full barrier, possibly before that block's own expect_tx (the count goes below zero). A
// consumer warp gives a stage back to both blocks (release_stage: one arrive per block, in rank order), and every
// thread ends at the cluster barrier; a block exits once all its threads are past it, and a peer's arrival on an
// exited block's barriers, or a box landing in it, is a failure.
// A static pass checks, for every tile of a problem (each block of each cluster tile), that the bytes the producer
// expects equal the bytes of the boxes landing in that block (its own and the peer's multicast), that every box a
// stored row or column needs is loaded, and the shared-memory layout (stages disjoint, 1024-byte aligned, inside the
// dynamic allocation, descriptor start addresses within 14 bits). Every config × transpose combination × shapes with
// tails, up to 8192³, and for clusters odd tile-row counts (the rank-1 block past M loads no A) with many cluster
// tiles a cluster. The producers' formulas (clustered and not) are pinned to the kernel's text, so a change there
// must change this model (the cluster barrier after the barriers' init is pinned there, not emulated); mutants of the
// cluster protocol (local-only release, empty count without ×CLUSTER, expecting only the block's own bytes, no final
// cluster barrier, both ranks loading the same B half, the block past M loading A) must fail.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  SM90_MAX_SHARED_BYTES,
  wgmmaSharedBytes,
  wgmmaSource,
  WGMMA_CONFIGS,
  type WgmmaConfig,
} from '../../src/ops/gemm-wgmma-source.js';

const TRANS: readonly [boolean, boolean][] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];
const CONFIGS = Object.entries(WGMMA_CONFIGS) as [string, WgmmaConfig][];
const CLUSTERED = CONFIGS.filter(([, c]) => c.cluster > 1);
const PANEL = 8192; // 64 rows (or a 64-wide panel) of one 64-deep k-tile, 2-byte elements
const BK = 64;
const GROUP = 8;

interface Problem {
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly transA: boolean;
  readonly transB: boolean;
  readonly config: WgmmaConfig;
}

const cdiv = (a: number, b: number): number => Math.floor((a + b - 1) / b);

/** tile_of() of the kernel: tile t → (tm, tn), grouped by 8 tile-rows. */
function tileOf(t: number, tilesM: number, tilesN: number): [number, number] {
  const perGroup = GROUP * tilesN;
  const group = Math.floor(t / perGroup);
  const firstM = group * GROUP;
  const gsz = Math.min(tilesM - firstM, GROUP);
  const inGroup = t - group * perGroup;
  return [firstM + (inGroup % gsz), Math.floor(inGroup / gsz)];
}

/**
 * The tiles a block (unclustered) or a cluster walks: how many there are, and tile t's (tm, tn) for the block of
 * rank `rank`. Clustered: tile_of over clusterRows = ceil(tilesM / CLUSTER) rows, the block's row tm·CLUSTER + rank.
 */
function walkOf(p: Problem): { readonly count: number; at(t: number, rank: number): [number, number] } {
  const C = p.config.cluster;
  const tilesN = cdiv(p.N, p.config.bn);
  const rows = cdiv(cdiv(p.M, p.config.bm), C);
  return {
    count: rows * tilesN,
    at: (t, rank) => {
      const [tm, tn] = tileOf(t, rows, tilesN);
      return [tm * C + rank, tn];
    },
  };
}

/** The persistent launch in blocks (unclustered) or clusters, as wgmmaSource().grid() has it (pinned below). */
const launchGroups = (p: Problem, sms = 132): number =>
  Math.max(1, Math.min(walkOf(p).count, Math.floor(sms / p.config.cluster)));

/** A TMA box the producer issues: where it lands in the stage (bytes), its transaction bytes, what it holds. */
interface Box {
  readonly offset: number;
  readonly bytes: number;
  readonly operand: 'A' | 'B';
  /** The first M (A) or N (B) index it holds, and how many. */
  readonly first: number;
  readonly extent: number;
  /** Multicast to every block of the cluster (the same stage offset, bytes on each one's full barrier). */
  readonly multicast?: boolean;
}

/** What the producer does for one tile (the kernel's formulas): expected bytes and the boxes it issues. */
interface TilePlan {
  readonly expectBytes: number;
  readonly boxes: readonly Box[];
}

/** The producer of the block of rank `rank` (0 unclustered) for its tile at (m0, n0). */
type Planner = (p: Problem, m0: number, n0: number, rank: number) => TilePlan;

/** The unclustered producer (gemm-wgmma-producer.cuh), transcribed (the lines it mirrors are pinned below). */
const blockPlan = (p: Problem, m0: number, n0: number): TilePlan => {
  const { bm: BM, bn: BN } = p.config;
  const aStage = BM * BK * 2;
  const bStage = BN * BK * 2;
  const aPanels = p.transA ? Math.min(BM / 64, cdiv(p.M - m0, 64)) : 1;
  const bPanels = p.transB ? 1 : Math.min(BN / 64, cdiv(p.N - n0, 64));
  const expectBytes = (p.transA ? aPanels * PANEL : aStage) + (p.transB ? bStage : bPanels * PANEL);
  const boxes: Box[] = [];
  if (p.transA) {
    for (let q = 0; q < aPanels; q++)
      boxes.push({ offset: q * PANEL, bytes: 64 * 64 * 2, operand: 'A', first: m0 + 64 * q, extent: 64 });
  } else {
    boxes.push({ offset: 0, bytes: 64 * BM * 2, operand: 'A', first: m0, extent: BM });
  }
  if (p.transB) {
    boxes.push({ offset: aStage, bytes: 64 * BN * 2, operand: 'B', first: n0, extent: BN });
  } else {
    for (let q = 0; q < bPanels; q++)
      boxes.push({
        offset: aStage + q * PANEL,
        bytes: 64 * 64 * 2,
        operand: 'B',
        first: n0 + 64 * q,
        extent: 64,
      });
  }
  return { expectBytes, boxes };
};

/**
 * The clustered producer (gemm-wgmma-producer-cluster.cuh), transcribed (pinned below): its A locally (none past M),
 * its share of B multicast (panels p ≡ rank mod CLUSTER, or the rank-th box of BN/CLUSTER K-major rows unless wholly
 * past N), the whole stage's bytes expected. `bRank` is the rank whose share of B it loads (a mutant's knob).
 */
const clusterPlan = (p: Problem, m0: number, n0: number, rank: number, bRank = rank): TilePlan => {
  const { bm: BM, bn: BN, cluster: C } = p.config;
  const aStage = BM * BK * 2;
  const bStage = BN * BK * 2;
  const part = BN / C;
  const aPanels = m0 >= p.M ? 0 : p.transA ? Math.min(BM / 64, cdiv(p.M - m0, 64)) : 1;
  const bPanels = p.transB ? 1 : Math.min(BN / 64, cdiv(p.N - n0, 64));
  const bParts = p.transB ? Math.min(C, cdiv(p.N - n0, part)) : 0;
  const expectBytes =
    (p.transA ? aPanels * PANEL : aPanels * aStage) + (p.transB ? bParts * (bStage / C) : bPanels * PANEL);
  const boxes: Box[] = [];
  if (p.transA) {
    for (let q = 0; q < aPanels; q++)
      boxes.push({ offset: q * PANEL, bytes: 64 * 64 * 2, operand: 'A', first: m0 + 64 * q, extent: 64 });
  } else if (aPanels > 0) {
    boxes.push({ offset: 0, bytes: 64 * BM * 2, operand: 'A', first: m0, extent: BM });
  }
  if (p.transB) {
    if (bRank < bParts)
      boxes.push({
        offset: aStage + bRank * (bStage / C),
        bytes: 64 * part * 2,
        operand: 'B',
        first: n0 + bRank * part,
        extent: part,
        multicast: true,
      });
  } else {
    // The kernel's loop is unrolled: a compile-time trip count, panels q·CLUSTER + rank below bPanels.
    for (let q = 0; q < cdiv(BN / 64, C); q++) {
      const panel = q * C + bRank;
      if (panel < bPanels)
        boxes.push({
          offset: aStage + panel * PANEL,
          bytes: 64 * 64 * 2,
          operand: 'B',
          first: n0 + 64 * panel,
          extent: 64,
          multicast: true,
        });
    }
  }
  return { expectBytes, boxes };
};

/** The kernel's producer for a problem's config. */
const kernelPlan: Planner = (p, m0, n0, rank) =>
  p.config.cluster > 1 ? clusterPlan(p, m0, n0, rank) : blockPlan(p, m0, n0);

/**
 * Static accounting of every tile of a problem (every block of every cluster tile); returns the first problem found,
 * or undefined. What lands in a block: its own boxes and the multicast boxes of the other blocks of its cluster.
 */
function checkPlans(p: Problem, plan: Planner = kernelPlan): string | undefined {
  const { bm: BM, bn: BN, cluster: C } = p.config;
  const clusterRows = cdiv(cdiv(p.M, BM), C);
  const tilesN = cdiv(p.N, BN);
  // Every cluster tile (a tile, unclustered), in any order: its blocks' tile rows ctm·C + rank, its column tn.
  for (let ctm = 0; ctm < clusterRows; ctm++) {
    for (let tn = 0; tn < tilesN; tn++) {
      const n0 = tn * BN;
      const plans = Array.from({ length: C }, (_, r) => plan(p, (ctm * C + r) * BM, n0, r));
      for (let rank = 0; rank < C; rank++) {
        const tm = ctm * C + rank;
        const f = checkBlock(p, tm * BM, n0, plans, rank);
        if (f) {
          const cluster = C > 1 ? ` (block ${rank} of cluster tile (${ctm}, ${tn}))` : '';
          return `tile (${tm}, ${tn})${cluster} of ${label(p)}: ${f}`;
        }
      }
    }
  }
  return undefined;
}

/** checkPlans for block `rank` (at m0, n0) of a cluster tile whose blocks plan `plans`. */
function checkBlock(
  p: Problem,
  m0: number,
  n0: number,
  plans: readonly TilePlan[],
  rank: number,
): string | undefined {
  const { bm: BM, bn: BN, cluster: C } = p.config;
  const aStage = BM * BK * 2;
  const stage = aStage + BN * BK * 2;
  const own = plans[rank] as TilePlan;
  const boxes =
    C === 1
      ? own.boxes
      : plans.flatMap((q, r) => (r === rank ? q.boxes : q.boxes.filter((b) => b.multicast)));
  if (C === 1 && boxes.some((b) => b.multicast)) return 'a multicast box without a cluster';
  // TMA counts a box's whole bytes, zero-filled or not: expected must equal the sum.
  const delivered = boxes.reduce((s, b) => s + b.bytes, 0);
  if (delivered !== own.expectBytes)
    return `expects ${own.expectBytes} transaction bytes, its boxes deliver ${delivered}`;
  const used = new Uint8Array(stage / 1024);
  for (const b of boxes) {
    if (b.offset % 1024 !== 0) return `a box at stage offset ${b.offset} is not 1024-byte aligned`;
    const lo = b.operand === 'A' ? 0 : aStage;
    const hi = b.operand === 'A' ? aStage : stage;
    if (b.offset < lo || b.offset + b.bytes > hi)
      return `a ${b.operand} box at ${b.offset}+${b.bytes} leaves its operand's region`;
    for (let i = b.offset / 1024; i < (b.offset + b.bytes) / 1024; i++) {
      if (used[i]) return `two boxes overlap at stage offset ${i * 1024}`;
      used[i] = 1;
    }
    // A box wholly outside the tensor has no documented transaction count: none may be issued.
    if (b.first >= (b.operand === 'A' ? p.M : p.N))
      return `a ${b.operand} box starts past the tensor (${b.first})`;
    // A box holds the rows (columns) its stage offset stands for: this block's A rows, the tile's B columns.
    const at =
      b.operand === 'A'
        ? m0 + (p.transA ? 64 * (b.offset / PANEL) : b.offset / 128)
        : n0 + (p.transB ? (b.offset - aStage) / 128 : 64 * ((b.offset - aStage) / PANEL));
    if (at !== b.first) return `a ${b.operand} box for ${b.first}.. lands where ${at}.. go`;
  }
  // Every 64-row slice of A holding a stored row, and every 64-column slice of B holding a stored column, loaded.
  for (let q = 0; q < BM / 64; q++) {
    const first = m0 + 64 * q;
    if (first >= p.M) continue;
    if (!boxes.some((b) => b.operand === 'A' && b.first <= first && first + 64 <= b.first + b.extent))
      return `rows ${first}.. are stored but not loaded`;
  }
  for (let q = 0; q < BN / 64; q++) {
    const first = n0 + 64 * q;
    if (first >= p.N) continue;
    if (!boxes.some((b) => b.operand === 'B' && b.first <= first && first + 64 <= b.first + b.extent))
      return `columns ${first}.. are stored but not loaded`;
  }
  return undefined;
}

const label = (p: Problem): string =>
  `${p.transA ? 'T' : 'N'}${p.transB ? 'T' : 'N'} ${p.M}×${p.N}×${p.K} ` +
  `${p.config.bm}x${p.config.bn} s${p.config.stages}${p.config.cluster > 1 ? ` k${p.config.cluster}` : ''}`;

// ---- the dynamic emulation ----

/** An mbarrier: expected arrivals per phase, pending arrivals and transaction bytes of the current phase, phase. */
class Mbarrier {
  pending: number;
  tx = 0;
  phase = 0;
  constructor(
    readonly count: number,
    readonly name: string,
  ) {
    this.pending = count;
  }
  private maybeComplete(): void {
    if (this.pending === 0 && this.tx === 0) {
      this.phase++;
      this.pending = this.count;
    }
  }
  arrive(): void {
    if (this.pending <= 0) throw new Error(`${this.name}: more arrivals than its count`);
    this.pending--;
    this.maybeComplete();
  }
  expectTx(bytes: number): void {
    this.tx += bytes;
    this.arrive();
  }
  /** complete_tx: bytes may arrive before the phase's expect_tx (a peer's multicast); the count then goes below 0. */
  completeTx(bytes: number): void {
    this.tx -= bytes;
    this.maybeComplete();
  }
  /** mbarrier.try_wait.parity: true once the phase of that parity (current or preceding) has completed. */
  passes(parity: number): boolean {
    return (this.phase & 1) !== parity;
  }
}

/** Seeded xorshift. */
function rng(seed: number): () => number {
  let s = (seed * 2654435761) >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

/** A step of an actor: it may run when `ready()` holds; `run()` does the step's effects. */
type Wait = () => boolean;

interface Group {
  readonly stage: number;
  /** 1024-byte chunks of the stage it reads. */
  readonly chunks: readonly number[];
}

interface EmulationResult {
  readonly error?: string;
  readonly steps: number;
  /** Most k-tiles a producer was ahead of the slowest consumer warp (of its cluster). */
  readonly maxLead: number;
  /** Boxes that landed on a full barrier before that block's producer's expect_tx of the phase (a peer's). */
  readonly earlyBytes: number;
  /**
   * Arrivals on an empty barrier that counted toward a phase other than the lap of the stage they gave back. In a
   * cluster where rank 1 loads no B for a tile (a last tile column at most BN/2 wide K-major, at most 64 N-major),
   * block 0's full barrier does not wait for block 1, so a block-0 warp may release lap L + 1 of a stage on block 1's
   * empty barrier while a block-1 warp, between release_stage's two arrives, has yet to give lap L back there. Harmless
   * (that warp's reads of lap L are retired, and the emulation checks the data directly), but a phase then counts
   * arrivals of two laps.
   */
  readonly crossLap: number;
}

/** How to run the emulation; everything but the scheduler is the kernel unless a mutant's knob is set. */
interface EmulateOptions {
  readonly plan?: Planner;
  /** Release the stage before its wgmma group has retired (the race test). */
  readonly earlyRelease?: boolean;
  /** Ping-pong: false for a consumer that does not skip the other consumers' k-tiles … */
  readonly skipOthers?: boolean;
  /** … and for one that does not wait for its turn (mainloopDone). */
  readonly waitTurn?: boolean;
  /** Cluster mutants: a consumer warp that arrives on its own block's empty barrier only (mbar_arrive) … */
  readonly releaseLocal?: boolean;
  /** … the empty barriers' count (the kernel's CONSUMERS·4·CLUSTER) … */
  readonly emptyCount?: number;
  /** … no cluster barrier at the end of the kernel (a block exits when its own threads are done). */
  readonly noEndSync?: boolean;
}

/**
 * Emulate block `group` of a `groups`-block persistent launch, or with a cluster config cluster `group` of `groups`
 * clusters (both its blocks). `bias` tilts the scheduler (0..1: how often the producer side is preferred) so runs
 * explore a producer far ahead and one starved; in a cluster the seed's parity also picks a block it favours, so one
 * block runs ahead of the other.
 */
function emulateBlock(
  p: Problem,
  group: number,
  groups: number,
  seed: number,
  bias: number,
  o: EmulateOptions = {},
): EmulationResult {
  const plan = o.plan ?? kernelPlan;
  const earlyRelease = o.earlyRelease === true;
  const { bm: BM, bn: BN, stages: STAGES, consumers: CONSUMERS, cluster: C } = p.config;
  const aStage = BM * BK * 2;
  const stageBytes = aStage + BN * BK * 2;
  const chunksPerStage = stageBytes / 1024;
  const walk = walkOf(p);
  const tiles = walk.count;
  const kTiles = cdiv(p.K, BK);
  const pingpong = p.config.pingpong === true;
  const tag = (t: number, kt: number): number => t * 100000 + kt;
  const random = rng(seed);
  let error: string | undefined;
  const fail = (why: string): void => {
    error ??= `${label(p)} ${C > 1 ? 'cluster' : 'block'} ${group}/${groups} seed ${seed}: ${why}`;
  };
  const consumed: number[] = []; // per consumer warp of the cluster: the ring slot of the next k-tile it reads
  let maxLead = 0;
  let earlyBytes = 0;
  let crossLap = 0;

  type Actor = {
    gen: Generator<Wait, void, void>;
    wait: Wait | undefined;
    done: boolean;
    producer: boolean;
    name: string;
  };
  /** One block of the cluster (the only one unclustered): its barriers, its stages, its threads. */
  interface Block {
    readonly rank: number;
    readonly full: Mbarrier[];
    readonly empty: Mbarrier[];
    /** Ping-pong: a phase per tile of the block whose consumer has passed all its full barriers. */
    readonly mainloopDone: Mbarrier;
    /** What each 1024-byte chunk of each stage holds: the (tile, k-tile) whose box wrote it, -1 for never. */
    readonly holds: number[][];
    /** Chunks being read by in-flight wgmma groups, per stage: a count per chunk. */
    readonly reading: Uint16Array[];
    readonly actors: Actor[];
    produced: number; // k-tiles its producer has armed
    exited: boolean;
  }
  const where = (r: number): string => (C > 1 ? `block ${r} ` : '');
  const blocks: Block[] = Array.from({ length: C }, (_, rank) => ({
    rank,
    full: Array.from({ length: STAGES }, (_, s) => new Mbarrier(1, `${where(rank)}full[${s}]`)),
    // Cooperative: every consumer's 4 warps (of every block of the cluster) read and release every stage; ping-pong:
    // one consumer's 4 warps.
    empty: Array.from(
      { length: STAGES },
      (_, s) => new Mbarrier(o.emptyCount ?? (pingpong ? 4 : 4 * CONSUMERS * C), `${where(rank)}empty[${s}]`),
    ),
    mainloopDone: new Mbarrier(1, `${where(rank)}mainloopDone`),
    holds: Array.from({ length: STAGES }, () => new Array<number>(chunksPerStage).fill(-1)),
    reading: Array.from({ length: STAGES }, () => new Uint16Array(chunksPerStage)),
    actors: [],
    produced: 0,
    exited: false,
  }));
  // Per consumer warp: the turn it has reached (the warpgroup's bar.sync before the turn wait holds all 4 there).
  const reachedTurn: number[] = [];
  const actorCount = (): number => blocks.reduce((n, b) => n + b.actors.length, 0);

  interface Copy {
    /** The block it lands in (a multicast box is one copy per block, landing independently). */
    readonly into: Block;
    readonly stage: number;
    readonly box: Box;
    readonly tag: number;
    /** The lap of the ring it belongs to: the phase of full[stage] its bytes are for. */
    readonly lap: number;
  }
  const inFlight: Copy[] = [];

  // The end of the kernel: every thread of the cluster at barrier.cluster (the producer warpgroup's other threads
  // are there from the start and hold nothing up).
  let atClusterBarrier = 0;
  function* clusterSync(): Generator<Wait, void, void> {
    if (C === 1 || o.noEndSync === true) return;
    atClusterBarrier++;
    yield () => atClusterBarrier === actorCount();
  }

  // Lane 0 of a consumer warp gives stage s (of ring lap `lap`) back: release_stage arrives on that stage's empty
  // barrier in each block of the cluster, rank 0 first, one instruction each; mbar_arrive on its own block's only.
  function* release(from: Block, s: number, lap: number, who: string): Generator<Wait, void, void> {
    const into = C === 1 || o.releaseLocal === true ? [from] : blocks;
    for (let i = 0; i < into.length; i++) {
      if (i > 0) yield () => true;
      const b = into[i] as Block;
      const bar = b.empty[s] as Mbarrier;
      if (b.exited) fail(`${who} arrives on ${bar.name} after block ${b.rank} exited`);
      if (bar.phase !== lap) crossLap++;
      bar.arrive();
    }
  }

  // The producer (thread 0 of warpgroup 0), as the kernel's loop.
  function* producer(blk: Block): Generator<Wait, void, void> {
    let stage = 0;
    let phase = 0;
    let slot = 0;
    for (let t = group; t < tiles; t += groups) {
      const [tm, tn] = walk.at(t, blk.rank);
      const { expectBytes, boxes } = plan(p, tm * BM, tn * BN, blk.rank);
      for (let kt = 0; kt < kTiles; kt++) {
        const s = stage;
        const par = phase ^ 1;
        yield () => (blk.empty[s] as Mbarrier).passes(par);
        const full = blk.full[s] as Mbarrier;
        full.expectTx(expectBytes);
        // Past its expect_tx the phase waits only for bytes: below zero, more came than it expects.
        if (full.tx < 0) fail(`${full.name} received more bytes than expected`);
        blk.produced++;
        const lead = blk.produced - Math.min(...consumed);
        maxLead = Math.max(maxLead, lead);
        if (lead > STAGES) fail(`${where(blk.rank)}the producer ran more than ${STAGES} k-tiles ahead`);
        const lap = Math.floor(slot / STAGES);
        for (const box of boxes) {
          for (const into of box.multicast === true ? blocks : [blk])
            inFlight.push({ into, stage: s, box, tag: tag(t, kt), lap });
          yield () => true; // copies are issued one instruction at a time
        }
        slot++;
        if (++stage === STAGES) {
          stage = 0;
          phase ^= 1;
        }
      }
    }
    yield* clusterSync();
  }

  // One consumer warp (warp v of consumer warpgroup w of block blk): its own wgmma groups and its lane 0's arrivals.
  // `consumed[idx]` is the ring slot (the producer's running k-tile count) of the next k-tile it reads.
  function* consumerWarp(
    blk: Block,
    w: number,
    v: number,
    idx: number,
    wgmmas: Group[],
  ): Generator<Wait, void, void> {
    const who = `${where(blk.rank)}warp ${idx}`;
    // Cooperative: every tile, slots in order. Ping-pong: the block's i-th tile goes to consumer i % CONSUMERS, and
    // its k-tiles sit in the ring after those of the tiles before it (the kernel's `slot`).
    const first = pingpong ? group + w * groups : group;
    const step = pingpong ? CONSUMERS * groups : groups;
    let slot = pingpong ? w * kTiles : 0;
    consumed[idx] = slot;
    for (let t = first, turn = w; t < tiles; t += step, turn += CONSUMERS) {
      const [tm, tn] = walk.at(t, blk.rank);
      const m0 = tm * BM;
      const n0 = tn * BN;
      let prev = -1;
      let prevLap = -1;
      if (pingpong && o.waitTurn !== false && turn > 0) {
        reachedTurn[idx] = turn;
        const mates = [0, 1, 2, 3].map((u) => idx - v + u);
        yield () => mates.every((u) => (reachedTurn[u] ?? 0) >= turn); // bar.sync 1 + w, 128
        const par = (turn - 1) & 1;
        yield () => blk.mainloopDone.passes(par);
      }
      for (let kt = 0; kt < kTiles; kt++) {
        const s = slot % STAGES;
        const lap = Math.floor(slot / STAGES);
        const par = lap & 1;
        yield () => (blk.full[s] as Mbarrier).passes(par);
        // The group reads its A rows (cooperative: consumer w's 64, the 8192 bytes at w·8192; ping-pong: all
        // BM) and all of B.
        const chunks: number[] = [];
        const [aFirst, aEnd] = pingpong ? [0, aStage] : [w * PANEL, (w + 1) * PANEL];
        for (let c = aFirst / 1024; c < aEnd / 1024; c++) chunks.push(c);
        for (let c = aStage / 1024; c < chunksPerStage; c++) chunks.push(c);
        // The chunks it needs (those feeding stored rows/columns) must hold this k-tile. A block past M needs none
        // of its A (it stores nothing) and has none loaded.
        const need = (c: number): boolean => {
          const off = c * 1024;
          if (off < aStage) return m0 + (p.transA ? 64 * Math.floor(off / PANEL) : off / 128) < p.M;
          const b = off - aStage;
          return n0 + (p.transB ? b / 128 : 64 * Math.floor(b / PANEL)) < p.N;
        };
        const holds = blk.holds[s] as number[];
        const r = blk.reading[s] as Uint16Array;
        for (const c of chunks) {
          if (need(c) && holds[c] !== tag(t, kt))
            fail(`${who} reads stage ${s} chunk ${c} for tile ${t} k-tile ${kt}: it holds ${holds[c]}`);
          r[c] = (r[c] as number) + 1;
        }
        wgmmas.push({ stage: s, chunks });
        // wgmma.wait_group 1: all but the newest group retired (retirement is an asynchronous event below).
        yield () => wgmmas.length <= (earlyRelease ? 2 : 1);
        consumed[idx] = ++slot;
        if (earlyRelease) yield* release(blk, s, lap, who);
        else if (prev >= 0) yield* release(blk, prev, prevLap, who);
        prev = earlyRelease ? -1 : s;
        prevLap = lap;
        yield () => true;
      }
      if (pingpong && v === 0) blk.mainloopDone.arrive(); // thread 0 of the consumer, after its last full wait
      yield () => wgmmas.length === 0; // wait_group 0
      if (prev >= 0) yield* release(blk, prev, prevLap, who);
      if (pingpong && o.skipOthers !== false) consumed[idx] = slot += (CONSUMERS - 1) * kTiles; // the others' tiles
      yield () => true; // the epilogue
    }
    consumed[idx] = Infinity;
    yield* clusterSync();
  }

  const start = (blk: Block, gen: Generator<Wait, void, void>, isProducer: boolean, name: string): void => {
    const a: Actor = { gen, wait: undefined, done: false, producer: isProducer, name };
    const r = gen.next();
    if (r.done) a.done = true;
    else a.wait = r.value;
    blk.actors.push(a);
  };
  const warpGroups: [Block, Group[]][] = [];
  for (const blk of blocks) {
    start(blk, producer(blk), true, `${where(blk.rank)}producer`);
    for (let w = 0; w < CONSUMERS; w++) {
      for (let v = 0; v < 4; v++) {
        const wgmmas: Group[] = [];
        warpGroups.push([blk, wgmmas]);
        consumed.push(0);
        const idx = consumed.length - 1;
        start(blk, consumerWarp(blk, w, v, idx, wgmmas), false, `${where(blk.rank)}warp ${idx}`);
      }
    }
  }

  const favoured = seed % C;
  let steps = 0;
  for (;;) {
    if (error) return { error, steps, maxLead, earlyBytes, crossLap };
    // A block exits once every one of its threads has returned.
    for (const b of blocks) if (!b.exited && b.actors.every((a) => a.done)) b.exited = true;
    // Everything that can happen now: an actor's next step, a TMA copy landing, a wgmma group retiring.
    const options: { producerSide: boolean; rank: number; go: () => void }[] = [];
    for (const b of blocks) {
      for (const a of b.actors) {
        if (!a.done && (a.wait as Wait)()) {
          options.push({
            producerSide: a.producer,
            rank: b.rank,
            go: () => {
              const r = a.gen.next();
              if (r.done) a.done = true;
              else a.wait = r.value;
            },
          });
        }
      }
    }
    for (let i = 0; i < inFlight.length; i++) {
      options.push({
        producerSide: true,
        rank: (inFlight[i] as Copy).into.rank,
        go: () => {
          const [c] = inFlight.splice(i, 1) as [Copy];
          const blk = c.into;
          const full = blk.full[c.stage] as Mbarrier;
          if (blk.exited) fail(`a TMA copy lands in block ${blk.rank} after it exited`);
          const first = c.box.offset / 1024;
          for (let k = first; k < first + c.box.bytes / 1024; k++) {
            if ((blk.reading[c.stage] as Uint16Array)[k])
              fail(
                `a TMA copy writes ${where(blk.rank)}stage ${c.stage} chunk ${k} while a wgmma group reads it`,
              );
            (blk.holds[c.stage] as number[])[k] = c.tag;
          }
          if (full.phase !== c.lap)
            fail(`a box of lap ${c.lap} lands on ${full.name} in its phase ${full.phase}`);
          if (full.pending === full.count) earlyBytes++; // before this phase's expect_tx
          full.completeTx(c.box.bytes);
          // Unclustered, only the block's own boxes (issued after its expect_tx) come; clustered, a peer's may come
          // first, but past the expect_tx (pending 0) the count must not go below zero.
          if (full.tx < 0 && (C === 1 || full.pending === 0))
            fail(`${full.name} received more bytes than expected`);
        },
      });
    }
    for (const [blk, wgmmas] of warpGroups) {
      if (wgmmas.length > 0) {
        options.push({
          producerSide: false,
          rank: blk.rank,
          go: () => {
            const g = wgmmas.shift() as Group;
            const r = blk.reading[g.stage] as Uint16Array;
            for (const c of g.chunks) r[c] = (r[c] as number) - 1;
          },
        });
      }
    }
    if (options.length === 0) {
      if (blocks.every((b) => b.actors.every((a) => a.done))) break;
      const stuck = blocks.flatMap((b) => b.actors.filter((a) => !a.done).map((a) => `${a.name} waits`));
      const bars = blocks.flatMap((b) =>
        [...b.full, ...b.empty].map((x) => `${x.name} phase ${x.phase} pending ${x.pending} tx ${x.tx}`),
      );
      fail(`deadlock: ${stuck.join(', ')}; ${bars.join('; ')}`);
      return { error: error as string, steps, maxLead, earlyBytes, crossLap };
    }
    const side = random() < bias;
    const preferred = options.filter((x) => x.producerSide === side);
    let pool = preferred.length > 0 ? preferred : options;
    if (C > 1 && random() < 0.5) {
      const mine = pool.filter((x) => x.rank === favoured);
      if (mine.length > 0) pool = mine;
    }
    (pool[Math.floor(random() * pool.length)] as (typeof options)[number]).go();
    steps++;
  }
  for (const b of blocks) {
    for (const x of b.full)
      if (x.pending !== x.count || x.tx !== 0) fail(`${x.name} ends with a phase half done`);
    for (const x of b.empty) {
      if (x.pending !== x.count) fail(`${x.name} ends with ${x.count - x.pending} stray arrivals`);
    }
  }
  return error ? { error, steps, maxLead, earlyBytes, crossLap } : { steps, maxLead, earlyBytes, crossLap };
}

const SHAPES: readonly [number, number, number][] = [
  [8, 8, 8],
  [24, 40, 16],
  [64, 64, 64],
  [136, 264, 72],
  [200, 312, 520],
  [264, 200, 136],
  [1000, 1032, 776],
  [4104, 4112, 4136],
];

/**
 * Grids to try for a problem: the real persistent grid (132 SMs: blocks, or clusters of 2) and small ones that give
 * a block (a cluster) many tiles.
 */
function gridsFor(p: Problem): number[] {
  const tiles = walkOf(p).count;
  const small = tiles * cdiv(p.K, BK) <= 2000;
  return [...new Set([launchGroups(p), ...(small ? [Math.min(tiles, 3), 1] : [])])];
}

/** Shapes for the clusters: odd tile-row counts (the last cluster row half past M), N and K tails, many tiles. */
const CLUSTER_SHAPES: readonly [number, number, number][] = [
  // 33 tile rows: 17 cluster rows, rank 1 of the last one past M. N: a last tile column 8 wide (rank 1 loads no B).
  [4104, 264, 136],
  // 3 tile rows; a last column 200 (BN 256: rank 1's K-major half partly past N) or 72 (BN 128) wide.
  [264, 456, 200],
  // 4 tile rows, the last 8 rows tall; a last column 8 wide.
  [392, 136, 72],
];

const sum = (boxes: readonly Box[]): number => boxes.reduce((s, b) => s + b.bytes, 0);

describe('the wgmma pipeline protocol (CPU emulation of gemm-wgmma.cu)', () => {
  test("the model's producer formulas are the kernel's", () => {
    for (const [ta, tb] of TRANS) {
      const src = wgmmaSource({
        dtype: 'float16',
        transA: ta,
        transB: tb,
        config: WGMMA_CONFIGS.wgmma128x256,
      }).source;
      for (const line of [
        'const int aPanels = TRANS_A ? min(BM / 64, (M - m0 + 63) / 64) : 1;',
        'const int bPanels = TRANS_B ? 1 : min(BN / 64, (N - n0 + 63) / 64);',
        'const unsigned bytes = (TRANS_A ? aPanels * PANEL_BYTES : A_STAGE_BYTES) +',
        '(TRANS_B ? B_STAGE_BYTES : bPanels * PANEL_BYTES);',
        'for (int p = 0; p < aPanels; ++p) tma_load(a + p * PANEL_BYTES, &mapA, full, m0 + 64 * p, k0);',
        'tma_load(a, &mapA, full, k0, m0);',
        'tma_load(b, &mapB, full, k0, n0);',
        'for (int p = 0; p < bPanels; ++p) tma_load(b + p * PANEL_BYTES, &mapB, full, n0 + 64 * p, k0);',
        'mbar_wait(emptyBar + 8u * stage, phase ^ 1u);',
        'mbar_wait(fullBar + 8u * stage, phase);',
        'mbar_init(fullBar + 8u * s, 1);',
        'mbar_init(emptyBar + 8u * s, CONSUMERS * 4);',
        'wgmma_wait<1>();',
        'if (prev >= 0 && lane == 0) mbar_arrive(emptyBar + 8u * prev);',
        'const unsigned a = smem + stage * STAGE_BYTES + w * PANEL_BYTES;',
        'const unsigned b = smem + stage * STAGE_BYTES + A_STAGE_BYTES;',
      ]) {
        assert.ok(src.includes(line), `gemm-wgmma.cu no longer has: ${line}`);
      }
      // The ping-pong consumers' slots, tiles and release count, as the model has them.
      const pp = wgmmaSource({
        dtype: 'float16',
        transA: ta,
        transB: tb,
        config: WGMMA_CONFIGS.wgmma128x128pp,
      }).source;
      for (const line of [
        'mbar_init(emptyBar + 8u * s, 4);',
        'unsigned slot = (unsigned)w * (unsigned)kTiles;',
        'for (int t = blockIdx.x + w * gridDim.x; t < tiles; t += CONSUMERS * gridDim.x, turn += CONSUMERS) {',
        'for (int kt = 0; kt < kTiles; ++kt, ++slot) {',
        'const int stage = (int)(slot % STAGES);',
        'mbar_wait(fullBar + 8u * stage, (slot / STAGES) & 1u);',
        "slot += (unsigned)(CONSUMERS - 1) * (unsigned)kTiles; // the other consumers' tiles",
        'const unsigned a = smem + stage * STAGE_BYTES;',
        'wgmma_tile(accs[mh], smem_desc(a + mh * PANEL_BYTES, A_LBO, 1024u) + kk * A_STEP, db + kk * B_STEP);',
        'if (prev >= 0 && lane == 0) mbar_arrive(emptyBar + 8u * prev);',
        'asm volatile("bar.sync %0, 128;\\n" ::"r"(1 + w) : "memory");',
        'mbar_wait(doneBar, (turn - 1u) & 1u);',
        'if (tid % 128 == 0) mbar_arrive(doneBar);',
        'mbar_init(smem_u32(&mainloopDone), 1);',
      ]) {
        assert.ok(pp.includes(line), `the ping-pong consumer no longer has: ${line}`);
      }
    }
  });

  test("the model's clustered producer, tile walk, release, cluster barriers, boxes and grid are the kernel's", () => {
    const count = (src: string, s: string): number => src.split(s).length - 1;
    for (const [name, config] of CLUSTERED) {
      assert.equal(config.cluster, 2, name);
      for (const [ta, tb] of TRANS) {
        const g = wgmmaSource({ dtype: 'float16', transA: ta, transB: tb, config });
        const src = g.source;
        // Whitespace-insensitive, for statements over several lines.
        const flat = src.replace(/\s+/g, ' ');
        for (const line of [
          'constexpr int CLUSTER = 2;',
          'constexpr unsigned short CLUSTER_MASK = (1u << CLUSTER) - 1u;',
          'const int rank = (int)cluster_reg_rank();',
          'const int clusterId = (int)cluster_reg_id();',
          'const int clusters = (int)cluster_reg_count();',
          'const int clusterRows = (tilesM + CLUSTER - 1) / CLUSTER;',
          'const int clusterTiles = clusterRows * tilesN;',
          'const int aPanels = m0 >= M ? 0 : TRANS_A ? min(BM / 64, (M - m0 + 63) / 64) : 1;',
          'const int bPanels = TRANS_B ? 1 : min(BN / 64, (N - n0 + 63) / 64);',
          'const int bParts = TRANS_B ? min(CLUSTER, (N - n0 + BN / CLUSTER - 1) / (BN / CLUSTER)) : 0;',
          'const unsigned bytes = (TRANS_A ? aPanels * PANEL_BYTES : aPanels * A_STAGE_BYTES) + ' +
            '(TRANS_B ? bParts * (B_STAGE_BYTES / CLUSTER) : bPanels * PANEL_BYTES);',
          'mbar_wait(emptyBar + 8u * stage, phase ^ 1u); mbar_expect_tx(full, bytes);',
          'for (int p = 0; p < aPanels; ++p) tma_load(a + p * PANEL_BYTES, &mapA, full, m0 + 64 * p, k0);',
          '} else if (aPanels > 0) { tma_load(a, &mapA, full, k0, m0); }',
          'if (rank < bParts) tma_load_multicast(b + rank * (B_STAGE_BYTES / CLUSTER), &mapB, full, k0, ' +
            'n0 + rank * (BN / CLUSTER));',
          'for (int q = 0; q < (BN / 64 + CLUSTER - 1) / CLUSTER; ++q) { const int p = q * CLUSTER + rank; ' +
            'if (p < bPanels) tma_load_multicast(b + p * PANEL_BYTES, &mapB, full, n0 + 64 * p, k0); }',
          // The multicast: every block of the cluster, bytes on the barrier at the same offset in each.
          '.multicast::cluster',
          '"h"(CLUSTER_MASK)',
          'mbar_init(fullBar + 8u * s, 1);',
          'mbar_init(emptyBar + 8u * s, CONSUMERS * 4 * CLUSTER);',
          // The consumers: their own full barrier, release to every block, rank 0 first.
          'mbar_wait(fullBar + 8u * stage, phase);',
          'wgmma_wait<1>();',
          'const unsigned a = smem + stage * STAGE_BYTES + w * PANEL_BYTES;',
          'const unsigned b = smem + stage * STAGE_BYTES + A_STAGE_BYTES;',
          'for (unsigned r = 0; r < CLUSTER; ++r) { unsigned remote; ' +
            'asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\\n" : "=r"(remote) : "r"(bar), "r"(r)); ' +
            'asm volatile("mbarrier.arrive.shared::cluster.b64 _, [%0];\\n" ::"r"(remote) : "memory"); }',
          // The barriers' init is visible cluster-wide before the first cluster barrier; the producer warpgroup
          // waits at the last one before it returns, and every thread's last statement is the cluster barrier.
          'asm volatile("fence.mbarrier_init.release.cluster;\\n" ::: "memory"); ' +
            'asm volatile("fence.proxy.async.shared::cta;\\n" ::: "memory"); } cluster_sync();',
          'cluster_sync(); return; }',
        ]) {
          assert.ok(flat.includes(line), `the clustered kernel (${name}) no longer has: ${line}`);
        }
        // Producer and consumers walk the same cluster tiles (the model's walkOf); both release with release_stage.
        for (const [line, n] of [
          ['for (int t = clusterId; t < clusterTiles; t += clusters) {', 2],
          ['tile_of(t, clusterRows, tilesN, tm, tn);', 2],
          ['tm = tm * CLUSTER + rank;', 2],
          ['if (prev >= 0 && lane == 0) release_stage(emptyBar + 8u * prev);', 2],
          ['mbar_arrive(emptyBar', 0],
          ['tma_load_multicast(', 3], // its definition and the two above: all of B a block loads is multicast
          ['cluster_sync();', 3],
        ] as const) {
          assert.equal(count(src, line), n, `${name}: ${line}`);
        }
        assert.ok(
          flat.endsWith('cluster_sync(); } '),
          `${name}: the kernel no longer ends at the cluster barrier`,
        );
        // The boxes' sizes the model counts: A {64, BM} or 64×64 panels, B 64×64 panels or {64, BN/CLUSTER}.
        assert.deepEqual(g.boxA, ta ? [64, 64] : [64, config.bm]);
        assert.deepEqual(g.boxB, tb ? [64, config.bn / 2] : [64, 64]);
        assert.equal(g.cluster, 2);
        for (const [M, N] of [
          [8, 8],
          [264, 456],
          [4104, 264],
          [4104, 4112],
          [8192, 8192],
        ] as const) {
          const p = { M, N, K: 64, transA: ta, transB: tb, config };
          assert.deepEqual(g.grid(M, N, 132), [2 * launchGroups(p), 1, 1], `${name} ${M}×${N}`);
        }
      }
    }
    // And the unclustered grid the model launches.
    const plain = wgmmaSource({
      dtype: 'float16',
      transA: false,
      transB: false,
      config: WGMMA_CONFIGS.wgmma128x256,
    });
    for (const [M, N] of [
      [8, 8],
      [4104, 4112],
    ] as const) {
      const p = { M, N, K: 64, transA: false, transB: false, config: WGMMA_CONFIGS.wgmma128x256 };
      assert.deepEqual(plain.grid(M, N, 132), [launchGroups(p), 1, 1]);
    }
  });

  test('shared memory: stages disjoint and 1024-byte aligned inside the allocation, with the barriers', () => {
    for (const [name, c] of CONFIGS) {
      const stage = (c.bm + c.bn) * BK * 2;
      const dynamic = wgmmaSharedBytes(c);
      const barriers = 16 * c.stages;
      assert.ok(dynamic + barriers <= SM90_MAX_SHARED_BYTES, `${name}: ${dynamic} + ${barriers} bytes`);
      // The dynamic buffer starts 16-byte aligned anywhere after the static barriers (and up to 1 KiB reserved).
      for (let base = barriers; base < barriers + 2048; base += 16) {
        const aligned = (base + 1023) & ~1023;
        const end = aligned + c.stages * stage;
        assert.ok(
          end <= base + dynamic,
          `${name}: stages end at ${end}, the allocation at ${base + dynamic}`,
        );
        // Descriptor start address: (addr & 0x3FFFF) >> 4 in 14 bits, plus at most 3 k16 steps of 2048 bytes.
        assert.ok(end + 3 * 2048 < 1 << 18, `${name}: shared addresses reach ${end}`);
      }
      assert.equal(stage % 1024, 0);
      assert.equal((c.bm * BK * 2) % 1024, 0);
    }
  });

  test('every tile: expected transaction bytes equal the issued boxes, stored rows/columns loaded', () => {
    const failures: string[] = [];
    for (const [, config] of CONFIGS) {
      for (const [transA, transB] of TRANS) {
        const dims = [8, 56, 64, 72, 120, 128, 136, 192, 200, 248, 256, 264, 320, 1000, 4104, 8192, 8200];
        for (const M of dims) {
          for (const N of dims) {
            const f = checkPlans({ M, N, K: 64, transA, transB, config });
            if (f) failures.push(f);
          }
        }
      }
    }
    assert.deepEqual(failures, []);
  });

  test('clusters: an odd tile-row count leaves rank 1 of the last cluster row past M: no A, its share of B', () => {
    for (const [name, config] of CLUSTERED) {
      for (const [transA, transB] of TRANS) {
        // 33 tile rows: cluster row 16 is tile rows 32 (m0 4096, 8 rows of A) and 33 (m0 4224, past M).
        const p = { M: 4104, N: 264, K: 64, transA, transB, config };
        const walk = walkOf(p);
        let seen = 0;
        for (let t = 0; t < walk.count; t++) {
          const [tm, tn] = walk.at(t, 1);
          if (tm * config.bm < p.M) continue;
          seen++;
          assert.equal(walk.at(t, 0)[0], tm - 1);
          const mine = kernelPlan(p, tm * config.bm, tn * config.bn, 1);
          const peer = kernelPlan(p, (tm - 1) * config.bm, tn * config.bn, 0);
          assert.ok(
            mine.boxes.every((b) => b.operand === 'B' && b.multicast === true),
            `${name}: ${JSON.stringify(mine.boxes)}`,
          );
          // Rank 0 there holds the last 8 rows: one A box (one M-major panel, or the K-major {64, BM} box).
          assert.equal(peer.boxes.filter((b) => b.operand === 'A').length, 1);
          // It expects all of the tile's B: its own share and rank 0's, nothing for A.
          const b = (x: TilePlan): number => sum(x.boxes.filter((y) => y.operand === 'B'));
          assert.equal(mine.expectBytes, b(mine) + b(peer));
          assert.equal(
            peer.expectBytes,
            sum(peer.boxes.filter((y) => y.operand === 'A')) + b(mine) + b(peer),
          );
        }
        assert.equal(seen, cdiv(p.N, config.bn));
        assert.equal(checkPlans(p), undefined);
        // The cluster walk visits every tile once: each block every (tm ≡ rank mod 2, tn).
        for (const rank of [0, 1]) {
          const rows = new Set(Array.from({ length: walk.count }, (_, t) => walk.at(t, rank).join(',')));
          assert.equal(rows.size, walk.count);
          assert.ok([...rows].every((x) => Number(x.split(',')[0]) % 2 === rank));
        }
      }
    }
  });

  test('no deadlock or race: every config × transposes × shapes with tails, several grids and schedules', () => {
    const failures: string[] = [];
    let seed = 1;
    for (const [, config] of CONFIGS) {
      for (const [transA, transB] of TRANS) {
        for (const [M, N, K] of SHAPES) {
          const p = { M, N, K, transA, transB, config };
          for (const grid of gridsFor(p)) {
            for (const bias of [0.1, 0.5, 0.9]) {
              const r = emulateBlock(p, grid === 1 ? 0 : grid - 1, grid, seed++, bias);
              if (r.error) failures.push(r.error);
              if (config.cluster === 1 && r.crossLap + r.earlyBytes > 0)
                failures.push(`${label(p)}: ${r.crossLap} cross-lap arrivals, ${r.earlyBytes} early bytes`);
            }
          }
        }
      }
    }
    assert.deepEqual(failures, []);
  });

  test('clusters: many cluster tiles a cluster, odd tile rows, N and K tails, every transpose: no deadlock or race', () => {
    const failures: string[] = [];
    let seed = 1000;
    let early = 0;
    let crossLap = 0;
    let runs = 0;
    for (const [, config] of CLUSTERED) {
      for (const [transA, transB] of TRANS) {
        for (const [M, N, K] of CLUSTER_SHAPES) {
          const p = { M, N, K, transA, transB, config };
          const tiles = walkOf(p).count;
          for (const [cluster, clusters] of [
            [0, 1],
            [1, 3],
          ] as const) {
            for (const bias of [0.15, 0.85]) {
              const r = emulateBlock(p, cluster, Math.min(clusters, tiles), seed++, bias);
              if (r.error) failures.push(r.error);
              early += r.earlyBytes > 0 ? 1 : 0;
              crossLap += r.crossLap > 0 ? 1 : 0;
              runs++;
            }
          }
        }
      }
    }
    assert.deepEqual(failures, []);
    // The schedules reach the cases the protocol must survive: a peer's bytes before the block's own expect_tx, and
    // a block's release of a stage's next lap before a peer warp's of the last (see EmulationResult.crossLap).
    assert.ok(early > runs / 2, `peer bytes before expect_tx in only ${early} of ${runs} runs`);
    assert.ok(crossLap > 0, `no cross-lap arrival in ${runs} runs`);
  });

  test('8192³ (128 k-tiles a tile, ~16 tiles a block) in every transpose combination: no deadlock or race', () => {
    const failures: string[] = [];
    for (const [transA, transB] of TRANS) {
      const p = { M: 8192, N: 8192, K: 8192, transA, transB, config: WGMMA_CONFIGS.wgmma128x256 };
      for (const [block, bias] of [
        [0, 0.9],
        [131, 0.1],
      ] as const) {
        const r = emulateBlock(p, block, 132, 77 + block, bias);
        if (r.error) failures.push(r.error);
        assert.ok(r.steps > 16 * 128 * 20, `only ${r.steps} steps`);
        // The producer fills every stage ahead when consumers are slow, and never more.
        if (bias === 0.9) assert.equal(r.maxLead, WGMMA_CONFIGS.wgmma128x256.stages);
      }
      // Clusters of 2: 16 × 32 cluster tiles over 66 clusters, ~16 a cluster, both blocks.
      const k2 = { ...p, config: WGMMA_CONFIGS.wgmma128x256k2 };
      const [cluster, bias] = transA === transB ? [0, 0.9] : [65, 0.1];
      const r = emulateBlock(k2, cluster, launchGroups(k2), 177 + cluster, bias);
      if (r.error) failures.push(r.error);
      assert.ok(r.steps > 2 * 15 * 128 * 20, `only ${r.steps} steps`);
      if (bias === 0.9) assert.equal(r.maxLead, k2.config.stages);
    }
    assert.deepEqual(failures, []);
  });

  test('ping-pong at 8192³ and a 4-tile block: no deadlock or race; a consumer that does not skip is caught', () => {
    const failures: string[] = [];
    for (const [transA, transB] of TRANS) {
      for (const config of [WGMMA_CONFIGS.wgmma128x128pp, WGMMA_CONFIGS.wgmma64x256pp]) {
        const p = { M: 8192, N: 1024, K: 8192, transA, transB, config };
        const r = emulateBlock(p, 5, 132, 91, 0.9);
        if (r.error) failures.push(r.error);
        assert.equal(r.maxLead, config.stages);
      }
    }
    assert.deepEqual(failures, []);
    const p = { M: 256, N: 256, K: 512, transA: false, transB: true, config: WGMMA_CONFIGS.wgmma128x128pp };
    const noSkip = [1, 2, 3].map((s) => emulateBlock(p, 0, 1, s, 0.5, { skipOthers: false }).error ?? '');
    assert.ok(
      noSkip.every((e) => /holds|deadlock|stray|ahead|lands/.test(e)),
      noSkip.join('\n'),
    );
    // Without the turns, the second consumer's first slot (8 k-tiles in, 6 stages) aliases a lap ahead.
    const noTurn = [1, 2, 3].map((s) => emulateBlock(p, 0, 1, s, 0.5, { waitTurn: false }).error ?? '');
    assert.ok(
      noTurn.some((e) => /holds -1|holds \d/.test(e)),
      noTurn.join('\n'),
    );
  });

  test('the emulation catches a byte count that disagrees with the boxes (a hang) and a stage released too early', () => {
    // Counting every panel even when those past M are not loaded: a tail tile never completes its full barrier.
    const tt = { M: 56, N: 256, K: 256, transA: true, transB: true, config: WGMMA_CONFIGS.wgmma128x256 };
    const overcountTT: Planner = (p, m0, n0, rank) => {
      const r = kernelPlan(p, m0, n0, rank);
      return { ...r, expectBytes: p.config.bm * BK * 2 + p.config.bn * BK * 2 };
    };
    assert.match(
      checkPlans(tt, overcountTT) ?? '',
      /expects 49152 transaction bytes, its boxes deliver 40960/,
    );
    assert.match(emulateBlock(tt, 0, 1, 5, 0.5, { plan: overcountTT }).error ?? '', /deadlock/);
    // Issuing a box for a panel wholly past M (and counting it) is caught statically.
    const allPanels: Planner = (p, m0, n0, rank) => {
      const r = kernelPlan(p, m0, n0, rank);
      const extra =
        p.transA && p.M - m0 <= 64
          ? [{ offset: PANEL, bytes: PANEL, operand: 'A' as const, first: m0 + 64, extent: 64 }]
          : [];
      return { expectBytes: r.expectBytes + extra.length * PANEL, boxes: [...r.boxes, ...extra] };
    };
    assert.match(checkPlans(tt, allPanels) ?? '', /starts past the tensor/);
    // Under-counting: the phase completes before the last box lands, and the consumer reads it early.
    const undercount: Planner = (p, m0, n0, rank) => {
      const r = kernelPlan(p, m0, n0, rank);
      return { ...r, expectBytes: r.expectBytes - PANEL };
    };
    const big = { ...tt, M: 256 };
    const under = [1, 2, 3, 4].map((s) => emulateBlock(big, 0, 1, s, 0.2, { plan: undercount }).error ?? '');
    assert.ok(
      under.some((e) => /holds|more bytes|lands/.test(e)),
      under.join('\n'),
    );
    // Releasing a stage while its wgmma group may still read it: the producer's next copy races with the read.
    const early = [1, 2, 3, 4].map(
      (s) => emulateBlock(big, 0, 1, s, 0.9, { earlyRelease: true }).error ?? '',
    );
    assert.ok(
      early.some((e) => /while a wgmma group reads it/.test(e)),
      early.join('\n'),
    );
  });
});

describe('cluster mutants the emulation must catch (gemm-wgmma-cluster.cuh, gemm-wgmma-producer-cluster.cuh)', () => {
  // Every k2 config × transpose combination, one cluster walking 4 cluster tiles (3 tile rows: the last one's rank 1
  // past M) of 10 k-tiles, an N tail; each mutant must fail on every one of them (or, where the failure needs a
  // schedule, on some seed of each).
  const problems = CLUSTERED.flatMap(([, config]) =>
    TRANS.map(([transA, transB]) => ({ M: 264, N: config.bn + 72, K: 640, transA, transB, config })),
  );
  const errors = (p: Problem, o: EmulateOptions, seeds = [1, 2, 3]): string[] =>
    seeds.map((s) => emulateBlock(p, 0, 1, s, s % 2 === 0 ? 0.8 : 0.3, o).error ?? '');

  test('the kernel itself passes these problems', () => {
    for (const p of problems) {
      assert.equal(checkPlans(p), undefined);
      assert.deepEqual(errors(p, {}, [1, 2, 3, 4, 5, 6]), ['', '', '', '', '', ''], label(p));
    }
  });

  test('a consumer warp that releases the stage to its own block only (mbar_arrive): a deadlock', () => {
    for (const p of problems) {
      const e = errors(p, { releaseLocal: true });
      assert.ok(
        e.every((x) => /deadlock: .*producer waits/.test(x)),
        e.join('\n'),
      );
    }
  });

  test('empty barriers counting CONSUMERS·4 (without ×CLUSTER): a stage refilled while the peer reads it', () => {
    for (const p of problems) {
      const e = errors(p, { emptyCount: 4 * p.config.consumers });
      assert.ok(
        e.every((x) => /while a wgmma group reads it|holds|lands|ahead/.test(x)),
        e.join('\n'),
      );
    }
  });

  test("expecting only the block's own bytes (not the peer's share of B): caught statically and running", () => {
    const ownOnly: Planner = (p, m0, n0, rank) => {
      const r = kernelPlan(p, m0, n0, rank);
      return { ...r, expectBytes: sum(r.boxes) };
    };
    for (const p of problems) {
      assert.match(checkPlans(p, ownOnly) ?? '', /expects \d+ transaction bytes, its boxes deliver \d+/);
      const e = errors(p, { plan: ownOnly });
      assert.ok(
        e.every((x) => /holds|more bytes|lands|deadlock/.test(x)),
        e.join('\n'),
      );
    }
  });

  test('no cluster barrier at the end: a block exits while its peer still arrives on its barriers', () => {
    for (const p of problems) {
      const e = errors(p, { noEndSync: true }, [1, 2, 3, 4, 5, 6]);
      assert.ok(
        e.some((x) => /arrives on block \d empty\[\d\] after block \d exited/.test(x)),
        e.join('\n'),
      );
      assert.ok(
        e.every((x) => x === '' || /exited/.test(x)),
        e.join('\n'),
      );
    }
  });

  test('both ranks loading the same share of B: caught statically and running', () => {
    const sameHalf: Planner = (p, m0, n0, rank) => clusterPlan(p, m0, n0, rank, 0);
    for (const p of problems) {
      assert.match(checkPlans(p, sameHalf) ?? '', /two boxes overlap|not loaded/);
      const e = errors(p, { plan: sameHalf });
      assert.ok(
        e.every((x) => /holds|more bytes|lands/.test(x)),
        e.join('\n'),
      );
    }
  });

  test('the block past M loading A anyway (no m0 >= M guard): a box wholly past the tensor, caught statically', () => {
    const loadA: Planner = (p, m0, n0, rank) => {
      const r = kernelPlan(p, m0, n0, rank);
      const aStage = p.config.bm * BK * 2;
      if (m0 < p.M || p.transA) return r; // TRANS_A: min(…, (M - m0 + 63) / 64) is ≤ 0 there anyway
      const a: Box = { offset: 0, bytes: aStage, operand: 'A', first: m0, extent: p.config.bm };
      return { expectBytes: r.expectBytes + aStage, boxes: [a, ...r.boxes] };
    };
    for (const p of problems.filter((x) => !x.transA))
      assert.match(checkPlans(p, loadA) ?? '', /a A box starts past the tensor \(384\)/);
  });
});
