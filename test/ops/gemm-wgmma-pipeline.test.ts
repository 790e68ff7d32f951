// CPU emulation of the Hopper GEMM's producer/consumer protocol (src/ops/cuda/gemm-wgmma.cu): the full/empty
// mbarriers (arrival counts, transaction bytes, phase parity as `mbarrier.try_wait.parity` defines it), the TMA
// copies the producer issues per stage (completing asynchronously, in any order, each counting its whole box), and
// the consumer warps' wgmma groups (reading a stage from issue to retirement, one group kept in flight). A seeded
// random scheduler interleaves them; the emulation fails on a deadlock (nothing can move and work is left), on a TMA
// write into a stage a wgmma group is still reading, on a wgmma reading a stage whose needed boxes are not this
// k-tile's, and on a barrier left with bytes or arrivals pending at the end. A static pass checks, for every tile of
// a problem, that the bytes the producer expects equal the bytes of the boxes it issues, that every box a stored row
// or column needs is loaded, and the shared-memory layout (stages disjoint, 1024-byte aligned, inside the dynamic
// allocation, descriptor start addresses within 14 bits). Every config × transpose combination × shapes with tails,
// up to 8192³. The producer's formulas are pinned to the kernel's text, so a change there must change this model.
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

/** A TMA box the producer issues: where it lands in the stage (bytes), its transaction bytes, what it holds. */
interface Box {
  readonly offset: number;
  readonly bytes: number;
  readonly operand: 'A' | 'B';
  /** The first M (A) or N (B) index it holds, and how many. */
  readonly first: number;
  readonly extent: number;
}

/** What the producer does for one tile (the kernel's formulas): expected bytes and the boxes it issues. */
interface TilePlan {
  readonly expectBytes: number;
  readonly boxes: readonly Box[];
}

type Planner = (p: Problem, m0: number, n0: number) => TilePlan;

/** The kernel's producer, transcribed (the lines it mirrors are pinned by a test below). */
const kernelPlan: Planner = (p, m0, n0) => {
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

/** Static accounting of every tile of a problem; returns the first problem found, or undefined. */
function checkPlans(p: Problem, plan: Planner = kernelPlan): string | undefined {
  const { bm: BM, bn: BN } = p.config;
  const aStage = BM * BK * 2;
  const stage = aStage + BN * BK * 2;
  const tilesM = cdiv(p.M, BM);
  const tilesN = cdiv(p.N, BN);
  for (let tm = 0; tm < tilesM; tm++) {
    for (let tn = 0; tn < tilesN; tn++) {
      const m0 = tm * BM;
      const n0 = tn * BN;
      const { expectBytes, boxes } = plan(p, m0, n0);
      const where = `tile (${tm}, ${tn}) of ${label(p)}`;
      // TMA counts a box's whole bytes, zero-filled or not: expected must equal the sum.
      const delivered = boxes.reduce((s, b) => s + b.bytes, 0);
      if (delivered !== expectBytes)
        return `${where}: expects ${expectBytes} transaction bytes, its boxes deliver ${delivered}`;
      const used = new Uint8Array(stage / 1024);
      for (const b of boxes) {
        if (b.offset % 1024 !== 0)
          return `${where}: a box at stage offset ${b.offset} is not 1024-byte aligned`;
        const lo = b.operand === 'A' ? 0 : aStage;
        const hi = b.operand === 'A' ? aStage : stage;
        if (b.offset < lo || b.offset + b.bytes > hi)
          return `${where}: a ${b.operand} box at ${b.offset}+${b.bytes} leaves its operand's region`;
        for (let i = b.offset / 1024; i < (b.offset + b.bytes) / 1024; i++) {
          if (used[i]) return `${where}: two boxes overlap at stage offset ${i * 1024}`;
          used[i] = 1;
        }
        // A box wholly outside the tensor has no documented transaction count: none may be issued.
        if (b.first >= (b.operand === 'A' ? p.M : p.N))
          return `${where}: a ${b.operand} box starts past the tensor (${b.first})`;
      }
      // Every 64-row slice of A holding a stored row, and every 64-column slice of B holding a stored column, loaded.
      for (let q = 0; q < BM / 64; q++) {
        const first = m0 + 64 * q;
        if (first >= p.M) continue;
        if (!boxes.some((b) => b.operand === 'A' && b.first <= first && first + 64 <= b.first + b.extent))
          return `${where}: rows ${first}.. are stored but not loaded`;
      }
      for (let q = 0; q < BN / 64; q++) {
        const first = n0 + 64 * q;
        if (first >= p.N) continue;
        if (!boxes.some((b) => b.operand === 'B' && b.first <= first && first + 64 <= b.first + b.extent))
          return `${where}: columns ${first}.. are stored but not loaded`;
      }
    }
  }
  return undefined;
}

const label = (p: Problem): string =>
  `${p.transA ? 'T' : 'N'}${p.transB ? 'T' : 'N'} ${p.M}×${p.N}×${p.K} ` +
  `${p.config.bm}x${p.config.bn} s${p.config.stages}`;

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
  /** Most k-tiles the producer was ahead of the slowest consumer warp. */
  readonly maxLead: number;
}

/**
 * Emulate block `block` of a `grid`-block persistent launch. `bias` tilts the scheduler (0..1: how often the
 * producer side is preferred) so runs explore a producer far ahead and one starved.
 */
function emulateBlock(
  p: Problem,
  block: number,
  grid: number,
  seed: number,
  bias: number,
  plan: Planner = kernelPlan,
  /** For the test that the emulation catches races: release the stage before its wgmma group has retired. */
  earlyRelease = false,
  /** For the tests that it catches a ping-pong consumer that does not skip the other consumers' k-tiles … */
  skipOthers = true,
  /** … and one that does not wait for its turn (mainloopDone). */
  waitTurn = true,
): EmulationResult {
  const { bm: BM, bn: BN, stages: STAGES, consumers: CONSUMERS } = p.config;
  const aStage = BM * BK * 2;
  const stageBytes = aStage + BN * BK * 2;
  const chunksPerStage = stageBytes / 1024;
  const tilesM = cdiv(p.M, BM);
  const tilesN = cdiv(p.N, BN);
  const tiles = tilesM * tilesN;
  const kTiles = cdiv(p.K, BK);
  const full = Array.from({ length: STAGES }, (_, s) => new Mbarrier(1, `full[${s}]`));
  const pingpong = p.config.pingpong === true;
  // Cooperative: every consumer's 4 warps read (and release) every stage; ping-pong: one consumer's 4 warps.
  // Ping-pong: a phase per tile of the block whose consumer has passed all its full barriers (mainloopDone).
  const mainloopDone = new Mbarrier(1, 'mainloopDone');
  // Per consumer warp: the turn it has reached (the warpgroup's bar.sync before the turn wait holds all 4 there).
  const reachedTurn: number[] = [];
  const empty = Array.from(
    { length: STAGES },
    (_, s) => new Mbarrier(pingpong ? 4 : 4 * CONSUMERS, `empty[${s}]`),
  );
  // What each 1024-byte chunk of each stage holds: the (tile, k-tile) whose box wrote it, -1 for never.
  const holds = Array.from({ length: STAGES }, () => new Array<number>(chunksPerStage).fill(-1));
  const tag = (t: number, kt: number): number => t * 100000 + kt;
  // Chunks being read by in-flight wgmma groups, per stage: a count per chunk.
  const reading = Array.from({ length: STAGES }, () => new Uint16Array(chunksPerStage));
  const random = rng(seed);
  let error: string | undefined;
  const fail = (why: string): void => {
    error ??= `${label(p)} block ${block}/${grid} seed ${seed}: ${why}`;
  };
  let produced = 0; // k-tiles the producer has armed
  const consumed: number[] = [];
  let maxLead = 0;

  interface Copy {
    readonly stage: number;
    readonly box: Box;
    readonly tag: number;
  }
  const inFlight: Copy[] = [];

  // The producer (thread 0 of warpgroup 0), as the kernel's loop.
  function* producer(): Generator<Wait, void, void> {
    let stage = 0;
    let phase = 0;
    for (let t = block; t < tiles; t += grid) {
      const [tm, tn] = tileOf(t, tilesM, tilesN);
      const { expectBytes, boxes } = plan(p, tm * BM, tn * BN);
      for (let kt = 0; kt < kTiles; kt++) {
        const s = stage;
        const par = phase ^ 1;
        yield () => (empty[s] as Mbarrier).passes(par);
        (full[s] as Mbarrier).expectTx(expectBytes);
        produced++;
        maxLead = Math.max(maxLead, produced - Math.min(...consumed));
        if (produced - Math.min(...consumed) > STAGES)
          fail(`the producer ran more than ${STAGES} k-tiles ahead`);
        for (const box of boxes) {
          inFlight.push({ stage: s, box, tag: tag(t, kt) });
          yield () => true; // copies are issued one instruction at a time
        }
        if (++stage === STAGES) {
          stage = 0;
          phase ^= 1;
        }
      }
    }
  }

  // One consumer warp (warp v of consumer warpgroup w): its own wgmma groups and its lane 0's arrivals.
  // `consumed[idx]` is the ring slot (the producer's running k-tile count) of the next k-tile it reads.
  function* consumerWarp(w: number, v: number, idx: number, groups: Group[]): Generator<Wait, void, void> {
    // Cooperative: every tile, slots in order. Ping-pong: the block's i-th tile goes to consumer i % CONSUMERS, and
    // its k-tiles sit in the ring after those of the tiles before it (the kernel's `slot`).
    const first = pingpong ? block + w * grid : block;
    const step = pingpong ? CONSUMERS * grid : grid;
    let slot = pingpong ? w * kTiles : 0;
    consumed[idx] = slot;
    for (let t = first, turn = w; t < tiles; t += step, turn += CONSUMERS) {
      const [tm, tn] = tileOf(t, tilesM, tilesN);
      const m0 = tm * BM;
      const n0 = tn * BN;
      let prev = -1;
      if (pingpong && waitTurn && turn > 0) {
        reachedTurn[idx] = turn;
        const mates = [0, 1, 2, 3].map((u) => idx - v + u);
        yield () => mates.every((u) => (reachedTurn[u] ?? 0) >= turn); // bar.sync 1 + w, 128
        const par = (turn - 1) & 1;
        yield () => mainloopDone.passes(par);
      }
      for (let kt = 0; kt < kTiles; kt++) {
        const s = slot % STAGES;
        const par = Math.floor(slot / STAGES) & 1;
        yield () => (full[s] as Mbarrier).passes(par);
        // The group reads its A rows (cooperative: consumer w's 64, the 8192 bytes at w·8192; ping-pong: all
        // BM) and all of B.
        const chunks: number[] = [];
        const [aFirst, aEnd] = pingpong ? [0, aStage] : [w * PANEL, (w + 1) * PANEL];
        for (let c = aFirst / 1024; c < aEnd / 1024; c++) chunks.push(c);
        for (let c = aStage / 1024; c < chunksPerStage; c++) chunks.push(c);
        // The chunks it needs (those feeding stored rows/columns) must hold this k-tile.
        const need = (c: number): boolean => {
          const off = c * 1024;
          if (off < aStage) return m0 + (p.transA ? 64 * Math.floor(off / PANEL) : off / 128) < p.M;
          const b = off - aStage;
          return n0 + (p.transB ? b / 128 : 64 * Math.floor(b / PANEL)) < p.N;
        };
        for (const c of chunks) {
          if (need(c) && (holds[s] as number[])[c] !== tag(t, kt))
            fail(
              `warp ${idx} reads stage ${s} chunk ${c} for tile ${t} k-tile ${kt}: it holds ${(holds[s] as number[])[c]}`,
            );
          const r = reading[s] as Uint16Array;
          r[c] = (r[c] as number) + 1;
        }
        groups.push({ stage: s, chunks });
        // wgmma.wait_group 1: all but the newest group retired (retirement is an asynchronous event below).
        yield () => groups.length <= (earlyRelease ? 2 : 1);
        if (earlyRelease) (empty[s] as Mbarrier).arrive();
        else if (prev >= 0) (empty[prev] as Mbarrier).arrive();
        prev = earlyRelease ? -1 : s;
        consumed[idx] = ++slot;
        yield () => true;
      }
      if (pingpong && v === 0) mainloopDone.arrive(); // thread 0 of the consumer, after its last full wait
      yield () => groups.length === 0; // wait_group 0
      if (prev >= 0) (empty[prev] as Mbarrier).arrive();
      if (pingpong && skipOthers) consumed[idx] = slot += (CONSUMERS - 1) * kTiles; // the others' tiles
      yield () => true; // the epilogue
    }
    consumed[idx] = Infinity;
  }

  type Actor = { gen: Generator<Wait, void, void>; wait: Wait | undefined; done: boolean; producer: boolean };
  const actors: Actor[] = [];
  const start = (gen: Generator<Wait, void, void>, isProducer: boolean): void => {
    const a: Actor = { gen, wait: undefined, done: false, producer: isProducer };
    const r = gen.next();
    if (r.done) a.done = true;
    else a.wait = r.value;
    actors.push(a);
  };
  start(producer(), true);
  const warpGroups: Group[][] = [];
  for (let w = 0; w < CONSUMERS; w++) {
    for (let v = 0; v < 4; v++) {
      const groups: Group[] = [];
      warpGroups.push(groups);
      consumed.push(0);
      start(consumerWarp(w, v, consumed.length - 1, groups), false);
    }
  }

  let steps = 0;
  for (;;) {
    if (error) return { error, steps, maxLead };
    // Everything that can happen now: an actor's next step, a TMA copy landing, a wgmma group retiring.
    const options: { producerSide: boolean; go: () => void }[] = [];
    for (const a of actors) {
      if (!a.done && (a.wait as Wait)()) {
        options.push({
          producerSide: a.producer,
          go: () => {
            const r = a.gen.next();
            if (r.done) a.done = true;
            else a.wait = r.value;
          },
        });
      }
    }
    for (let i = 0; i < inFlight.length; i++) {
      options.push({
        producerSide: true,
        go: () => {
          const [c] = inFlight.splice(i, 1) as [Copy];
          const first = c.box.offset / 1024;
          for (let k = first; k < first + c.box.bytes / 1024; k++) {
            if ((reading[c.stage] as Uint16Array)[k])
              fail(`a TMA copy writes stage ${c.stage} chunk ${k} while a wgmma group reads it`);
            (holds[c.stage] as number[])[k] = c.tag;
          }
          (full[c.stage] as Mbarrier).completeTx(c.box.bytes);
          if ((full[c.stage] as Mbarrier).tx < 0)
            fail(`${(full[c.stage] as Mbarrier).name} received more bytes than expected`);
        },
      });
    }
    for (const groups of warpGroups) {
      if (groups.length > 0) {
        options.push({
          producerSide: false,
          go: () => {
            const g = groups.shift() as Group;
            const r = reading[g.stage] as Uint16Array;
            for (const c of g.chunks) r[c] = (r[c] as number) - 1;
          },
        });
      }
    }
    if (options.length === 0) {
      if (actors.every((a) => a.done)) break;
      const stuck = actors
        .map((a, i) => (a.done ? '' : `${i === 0 ? 'producer' : `warp ${i - 1}`} waits`))
        .filter(Boolean);
      const bars = [...full, ...empty].map(
        (b) => `${b.name} phase ${b.phase} pending ${b.pending} tx ${b.tx}`,
      );
      fail(`deadlock: ${stuck.join(', ')}; ${bars.join('; ')}`);
      return { error: error as string, steps, maxLead };
    }
    const side = random() < bias;
    const preferred = options.filter((o) => o.producerSide === side);
    const pool = preferred.length > 0 ? preferred : options;
    (pool[Math.floor(random() * pool.length)] as (typeof options)[number]).go();
    steps++;
  }
  for (const b of full)
    if (b.pending !== b.count || b.tx !== 0) fail(`${b.name} ends with a phase half done`);
  for (const b of empty) {
    if (b.pending !== b.count) fail(`${b.name} ends with ${b.count - b.pending} stray arrivals`);
  }
  return error ? { error, steps, maxLead } : { steps, maxLead };
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

/** Grids to try for a problem: the real persistent grid (132 SMs) and small ones that give a block many tiles. */
function gridsFor(p: Problem): number[] {
  const tiles = cdiv(p.M, p.config.bm) * cdiv(p.N, p.config.bn);
  const small = tiles * cdiv(p.K, BK) <= 2000;
  return [...new Set([Math.min(tiles, 132), ...(small ? [Math.min(tiles, 3), 1] : [])])];
}

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
            }
          }
        }
      }
    }
    assert.deepEqual(failures, []);
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
    const noSkip = [1, 2, 3].map((s) => emulateBlock(p, 0, 1, s, 0.5, kernelPlan, false, false).error ?? '');
    assert.ok(
      noSkip.every((e) => /holds|deadlock|stray|ahead/.test(e)),
      noSkip.join('\n'),
    );
    // Without the turns, the second consumer's first slot (8 k-tiles in, 6 stages) aliases a lap ahead.
    const noTurn = [1, 2, 3].map(
      (s) => emulateBlock(p, 0, 1, s, 0.5, kernelPlan, false, true, false).error ?? '',
    );
    assert.ok(
      noTurn.some((e) => /holds -1|holds \d/.test(e)),
      noTurn.join('\n'),
    );
  });

  test('the emulation catches a byte count that disagrees with the boxes (a hang) and a stage released too early', () => {
    // Counting every panel even when those past M are not loaded: a tail tile never completes its full barrier.
    const tt = { M: 56, N: 256, K: 256, transA: true, transB: true, config: WGMMA_CONFIGS.wgmma128x256 };
    const overcountTT: Planner = (p, m0, n0) => {
      const r = kernelPlan(p, m0, n0);
      return { ...r, expectBytes: p.config.bm * BK * 2 + p.config.bn * BK * 2 };
    };
    assert.match(
      checkPlans(tt, overcountTT) ?? '',
      /expects 49152 transaction bytes, its boxes deliver 40960/,
    );
    assert.match(emulateBlock(tt, 0, 1, 5, 0.5, overcountTT).error ?? '', /deadlock/);
    // Issuing a box for a panel wholly past M (and counting it) is caught statically.
    const allPanels: Planner = (p, m0, n0) => {
      const r = kernelPlan(p, m0, n0);
      const extra =
        p.transA && p.M - m0 <= 64
          ? [{ offset: PANEL, bytes: PANEL, operand: 'A' as const, first: m0 + 64, extent: 64 }]
          : [];
      return { expectBytes: r.expectBytes + extra.length * PANEL, boxes: [...r.boxes, ...extra] };
    };
    assert.match(checkPlans(tt, allPanels) ?? '', /starts past the tensor/);
    // Under-counting: the phase completes before the last box lands, and the consumer reads it early.
    const undercount: Planner = (p, m0, n0) => {
      const r = kernelPlan(p, m0, n0);
      return { ...r, expectBytes: r.expectBytes - PANEL };
    };
    const big = { ...tt, M: 256 };
    const under = [1, 2, 3, 4].map((s) => emulateBlock(big, 0, 1, s, 0.2, undercount).error ?? '');
    assert.ok(
      under.some((e) => /holds|more bytes/.test(e)),
      under.join('\n'),
    );
    // Releasing a stage while its wgmma group may still read it: the producer's next copy races with the read.
    const early = [1, 2, 3, 4].map((s) => emulateBlock(big, 0, 1, s, 0.9, kernelPlan, true).error ?? '');
    assert.ok(
      early.some((e) => /while a wgmma group reads it/.test(e)),
      early.join('\n'),
    );
  });
});
