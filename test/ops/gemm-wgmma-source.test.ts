// CPU tests of the Hopper (sm_90a wgmma + TMA) GEMM: the source generator, config validation and choice, when Gemm
// takes this path, the tensor maps it asks for, an emulation of the shared-memory layout (TMA's 128-byte swizzled
// writes read back through the wgmma descriptors the kernel builds), and nvcc -arch=sm_90a compiles of every
// configuration (0 spills, 0 stack, no wgmma serialization injected by ptxas). No GPU.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';

import { createHash } from 'node:crypto';

import { tensorMapProblem } from '../../src/cuda/driver.js';
import { lowerGemmEpilogue, type GemmEpilogueOptions } from '../../src/ops/gemm-epilogue.js';
import { gemmSource, GEMM_CONFIGS } from '../../src/ops/gemm-source.js';
import {
  defaultFusedWgmmaConfig,
  defaultWgmmaConfig,
  SM90_MAX_SHARED_BYTES,
  validateWgmmaConfig,
  wgmmaSharedBytes,
  wgmmaSource,
  WGMMA_CONFIGS,
  type WgmmaConfig,
  type WgmmaSource,
  type WgmmaSpec,
} from '../../src/ops/gemm-wgmma-source.js';
import {
  operandTensorMap,
  wgmmaApplies,
  wgmmaArgs,
  wgmmaCandidates,
  wgmmaSpecFor,
} from '../../src/ops/gemm-wgmma.js';
import type { DType, Tensor } from '../../src/ops/tensor.js';
import { bytesArg, f32, i32 } from '../../src/runtime/index.js';
import { findNvcc, twoAtATime } from './helpers.js';

const run = promisify(execFile);
const TRANS: readonly [boolean, boolean][] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];
const HALVES: readonly DType[] = ['float16', 'bfloat16'];
const CONFIGS = Object.values(WGMMA_CONFIGS) as WgmmaConfig[];
const spec = (dtype: DType, transA: boolean, transB: boolean, config: WgmmaConfig): WgmmaSpec => ({
  dtype,
  transA,
  transB,
  config,
});

describe('wgmmaSource', () => {
  test('is deterministic, and differs wherever the machine code must', () => {
    const sources = new Set<string>();
    const names = new Set<string>();
    let n = 0;
    for (const d of HALVES) {
      for (const [ta, tb] of TRANS) {
        for (const c of CONFIGS) {
          const a = wgmmaSource(spec(d, ta, tb, c));
          const b = wgmmaSource(spec(d, ta, tb, { ...c }));
          assert.equal(a.source, b.source);
          sources.add(a.source);
          names.add(a.name);
          n++;
        }
      }
    }
    assert.equal(sources.size, n);
    assert.equal(names.size, n);
  });

  test('compiles for sm_90a only, with the launch shape and boxes of its config', () => {
    const g = wgmmaSource(spec('float16', false, true, WGMMA_CONFIGS.wgmma128x256));
    assert.deepEqual(g.options, ['-arch=sm_90a']);
    assert.equal(g.threads, 384);
    assert.deepEqual(g.block, [384, 1, 1]);
    assert.equal(g.sharedMemBytes, 4 * (128 + 256) * 64 * 2 + 1024);
    assert.deepEqual(g.grid(4096, 4096, 132), [132, 1, 1]);
    assert.deepEqual(g.grid(100, 100, 132), [1, 1, 1]);
    assert.deepEqual(g.boxA, [64, 128]);
    assert.deepEqual(g.boxB, [64, 256]);
    const t = wgmmaSource(spec('bfloat16', true, false, WGMMA_CONFIGS.wgmma128x256));
    assert.deepEqual(t.boxA, [64, 64]);
    assert.deepEqual(t.boxB, [64, 64]);
    assert.match(t.source, /wgmma\.mma_async\.sync\.aligned\.m64n256k16\.f32\." MMA_TYPE/);
    assert.match(t.source, /"%128, %129, 1, 1, 1, 1, 1;\\n"/); // M-major A, N-major B
    assert.match(g.source, /"%128, %129, 1, 1, 1, 0, 0;\\n"/); // K-major both
    assert.doesNotMatch(g.source, /\{\{|\}\}/);
  });

  test('cluster 2: its own name, the cluster shape, half of B per block multicast, whole clusters in the grid', () => {
    for (const [ta, tb] of TRANS) {
      const g = wgmmaSource(spec('float16', ta, tb, WGMMA_CONFIGS.wgmma128x256k2));
      assert.match(g.name, /_wgmma_128x256x64_c2_s4_k2$/);
      assert.equal(g.cluster, 2);
      assert.match(g.source, /__launch_bounds__\(THREADS, 1\) __cluster_dims__\(2, 1, 1\)/);
      assert.match(g.source, /constexpr int CLUSTER = 2;/);
      assert.match(g.source, /mbar_init\(emptyBar \+ 8u \* s, CONSUMERS \* 4 \* CLUSTER\);/);
      // Every stage is given back to both blocks, B is multicast, and nobody leaves before the others are done.
      assert.equal(g.source.match(/release_stage\(emptyBar \+ 8u \* prev\)/g)?.length, 2);
      assert.doesNotMatch(g.source, /mbar_arrive\(emptyBar/);
      assert.match(g.source, /tma_load_multicast\(b \+/);
      assert.equal(g.source.match(/^ +cluster_sync\(\);$/gm)?.length, 3);
      assert.doesNotMatch(g.source, /__syncthreads\(\);/);
      assert.doesNotMatch(g.source, /\{\{|\}\}/);
      assert.deepEqual(g.boxB, tb ? [64, 128] : [64, 64]);
      assert.deepEqual(g.boxA, ta ? [64, 64] : [64, 128]);
    }
    const g = wgmmaSource(spec('bfloat16', false, false, WGMMA_CONFIGS.wgmma128x256k2));
    // 4096²: 32 × 16 tiles, so 16 × 16 cluster tiles; at most 66 clusters of 2 on 132 SMs.
    assert.deepEqual(g.grid(4096, 4096, 132), [132, 1, 1]);
    assert.deepEqual(g.grid(4096, 4096, 133), [132, 1, 1]);
    assert.deepEqual(g.grid(100, 100, 132), [2, 1, 1]);
    assert.deepEqual(g.grid(300, 256, 132), [4, 1, 1]); // 3 tile rows: 2 cluster rows, the last half past M
    // Without a cluster, nothing of it in the source.
    const plain = wgmmaSource(spec('float16', false, false, WGMMA_CONFIGS.wgmma128x256));
    assert.equal(plain.cluster, 1);
    assert.doesNotMatch(plain.source, /cluster_sync|CLUSTER|multicast|__cluster_dims__/);
  });

  test('every listed config fits sm_90 shared memory, with a fused epilogue too', () => {
    for (const c of CONFIGS) {
      validateWgmmaConfig('float16', c);
      validateWgmmaConfig('float16', c, true);
      assert.ok(wgmmaSharedBytes(c, true) <= 232448, JSON.stringify(c));
    }
  });

  test("a fused epilogue's staging slices count against shared memory", () => {
    const c = { ...WGMMA_CONFIGS.wgmma128x128, stages: 7 };
    assert.equal(wgmmaSharedBytes(c), 7 * 256 * 64 * 2 + 1024);
    assert.equal(wgmmaSharedBytes(c, true), wgmmaSharedBytes(c) + 2 * 64 * 40 * 4);
    validateWgmmaConfig('float16', c);
    assert.throws(
      () => validateWgmmaConfig('float16', c, true),
      /250880 bytes of shared memory with the fused epilogue's staging/,
    );
    const e = lowerGemmEpilogue({ bias: true, activation: 'gelu' }, 'float16')!;
    const g = wgmmaSource({ ...spec('float16', false, false, WGMMA_CONFIGS.wgmma128x256), epilogue: e });
    assert.equal(g.sharedMemBytes, wgmmaSharedBytes(WGMMA_CONFIGS.wgmma128x256) + 20480);
  });

  test('ping-pong: its own name, whole tiles per consumer, one warpgroup releasing each stage', () => {
    const pp = wgmmaSource(spec('float16', false, true, WGMMA_CONFIGS.wgmma128x128pp));
    assert.equal(pp.name, 'cuop_gemm_f16_nt_wgmma_128x128x64_c2_s6_pp');
    assert.equal(pp.threads, 384);
    assert.equal(pp.sharedMemBytes, wgmmaSharedBytes(WGMMA_CONFIGS.wgmma128x128pp));
    assert.deepEqual(pp.boxA, [64, 128]);
    assert.match(pp.source, /constexpr int MH = BM \/ 64;/);
    assert.match(pp.source, /mbar_init\(emptyBar \+ 8u \* s, 4\);/);
    assert.match(pp.source, /float accs\[MH\]\[BN \/ 2\];/);
    assert.match(pp.source, /const int row0 = m0 \+ mh \* 64 \+ warpInGroup \* 16 \+ lane \/ 4;/);
    assert.doesNotMatch(pp.source, /\{\{|\}\}/);
    // The same tile without ping-pong is another kernel (another key), and keeps the cooperative consumers.
    const coop = wgmmaSource(spec('float16', false, true, WGMMA_CONFIGS.wgmma128x128));
    assert.notEqual(coop.name, pp.name);
    assert.doesNotMatch(coop.source, /mainloopDone|accs\[/);
  });

  test('a fused epilogue defaults to ping-pong 128×128 where every SM gets two tiles, rows unrolled by 2', () => {
    assert.deepEqual(defaultFusedWgmmaConfig(4096, 4096, 132), {
      ...WGMMA_CONFIGS.wgmma128x128pp,
      epilogueUnroll: 2,
    });
    assert.deepEqual(defaultFusedWgmmaConfig(8192, 4096, 132).pingpong, true);
    // 2048² is 256 tiles of 128² over 132 SMs: not two each, the plain default's tile.
    assert.deepEqual(defaultFusedWgmmaConfig(2048, 2048, 132), {
      ...defaultWgmmaConfig(2048, 2048, 132),
      epilogueUnroll: 2,
    });
    assert.deepEqual(defaultFusedWgmmaConfig(1024, 1024, 132), {
      ...WGMMA_CONFIGS.wgmma64x128,
      epilogueUnroll: 2,
    });
    const e = lowerGemmEpilogue({ bias: true, activation: 'gelu' }, 'float16')!;
    const op = { dtype: 'float16' as DType, transA: false, transB: false, alpha: 1, beta: 0, epilogue: e };
    assert.equal(wgmmaSpecFor(op, 4096, 4096, 132).config.pingpong, true);
    // Naming the tile starts from the plain default: the caller gets the tile asked for.
    assert.deepEqual(wgmmaSpecFor({ ...op, wgmma: { bm: 128, bn: 256 } }, 4096, 4096, 132).config, {
      ...WGMMA_CONFIGS.wgmma128x256,
    });
    assert.equal(wgmmaSpecFor({ ...op, wgmma: { stages: 5 } }, 4096, 4096, 132).config.stages, 5);
    // Without an epilogue nothing changed.
    assert.deepEqual(
      wgmmaSpecFor({ ...op, epilogue: undefined }, 4096, 4096, 132).config,
      WGMMA_CONFIGS.wgmma128x256,
    );
  });

  test('rejects configs it cannot generate, naming the field', () => {
    const base = WGMMA_CONFIGS.wgmma128x256;
    const bad: [Partial<WgmmaConfig>, RegExp][] = [
      [{ bk: 32 }, /bk must be 64/],
      [{ consumers: 3, bm: 192 }, /consumers must be 1 or 2/],
      [{ bm: 64 }, /bm must be 64·consumers = 128/],
      [{ bn: 96 }, /bn must be 64, 128, 192 or 256/],
      [{ bn: 320 }, /bn must be/],
      [{ stages: 1 }, /stages must be at least 2/],
      [{ stages: 5 }, /bytes of shared memory/],
      [{ cluster: 4 }, /cluster must be 1 or 2/],
      [
        { cluster: 2, pingpong: true, bm: 128, bn: 128, stages: 6 },
        /cluster 2 takes the cooperative consumers/,
      ],
      [{ cluster: 2, bn: 192, stages: 4 }, /cluster 2 is implemented for 2 consumers and bn 128 or 256/],
      [{ cluster: 2, consumers: 1, bm: 64, bn: 128, stages: 4 }, /cluster 2 is implemented/],
      [{ stages: 2.5 }, /stages must be a positive integer/],
      [{ epilogueUnroll: 3 }, /epilogueUnroll must be 1, 2 or 4/],
      [{ pingpong: true, bm: 256, bn: 64, stages: 3 }, /bm must be 64 or 128 with pingpong/],
      [{ pingpong: true, bm: 128, bn: 256, stages: 2 }, /at most 64·256 with pingpong/],
      [{ pingpong: 1 as unknown as boolean }, /pingpong must be true or false/],
      [{ pingpong: true, consumers: 1, bm: 64, bn: 128, stages: 4 }, /consumers must be 2 with pingpong/],
    ];
    for (const [patch, re] of bad) {
      assert.throws(() => validateWgmmaConfig('float16', { ...base, ...patch }), re, JSON.stringify(patch));
    }
    assert.throws(() => validateWgmmaConfig('float32', base), /float16 or bfloat16 only/);
  });

  test('picks the big tile for big outputs and smaller ones when it would leave SMs idle', () => {
    assert.equal(defaultWgmmaConfig(4096, 4096, 132), WGMMA_CONFIGS.wgmma128x256);
    assert.equal(defaultWgmmaConfig(8192, 8192, 132), WGMMA_CONFIGS.wgmma128x256);
    assert.equal(defaultWgmmaConfig(2048, 2048, 132), WGMMA_CONFIGS.wgmma128x256);
    assert.equal(defaultWgmmaConfig(1024, 1024, 132), WGMMA_CONFIGS.wgmma64x128);
    assert.equal(defaultWgmmaConfig(64, 64, 132), WGMMA_CONFIGS.wgmma64x128);
  });
});

describe('when Gemm takes the Hopper path', () => {
  const hopper = { computeCapability: { major: 9, minor: 0 } };
  const op = { dtype: 'float16' as DType, transA: false, transB: false, alpha: 1, beta: 0 };
  const ptrs = [0x1000n, 0x2000n, 0x3000n];

  test("tuning candidates: the shape's default first, every listed config once, the epilogue's unrolls", () => {
    const key = (c: WgmmaConfig): string => JSON.stringify(c);
    const listed = Object.values(WGMMA_CONFIGS) as WgmmaConfig[];
    const plain = wgmmaCandidates(op, 4096, 4096, 132, 'auto', SM90_MAX_SHARED_BYTES);
    assert.deepEqual(plain[0], wgmmaSpecFor(op, 4096, 4096, 132).config);
    assert.equal(plain.length, listed.length); // the default is one of them
    assert.equal(new Set(plain.map(key)).size, plain.length);
    for (const c of listed)
      assert.ok(plain.some((x) => x.bm === c.bm && x.bn === c.bn && x.stages === c.stages));
    assert.ok(plain.every((c) => c.epilogueUnroll === undefined));
    assert.deepEqual(wgmmaCandidates(op, 4096, 4096, 132, 'exhaustive', SM90_MAX_SHARED_BYTES), plain);

    const fusedOp = { ...op, epilogue: lowerGemmEpilogue({ bias: true, activation: 'gelu' }, 'float16')! };
    const fused = wgmmaCandidates(fusedOp, 4096, 4096, 132, 'auto', SM90_MAX_SHARED_BYTES);
    assert.deepEqual(fused[0], wgmmaSpecFor(fusedOp, 4096, 4096, 132).config); // ping-pong 128×128, u2
    assert.ok(fused.every((c) => c.epilogueUnroll === 2));
    // The staging slices count: every candidate fits with them.
    assert.ok(fused.every((c) => wgmmaSharedBytes(c, true) <= SM90_MAX_SHARED_BYTES));
    const all = wgmmaCandidates(fusedOp, 4096, 4096, 132, 'exhaustive', SM90_MAX_SHARED_BYTES);
    assert.equal(all.length, 3 * fused.length);
    assert.deepEqual([...new Set(all.map((c) => c.epilogueUnroll))].sort(), [1, 2, 4]);

    // The operator's overrides apply to every candidate; duplicates go; a smaller device drops the big tiles.
    const three = wgmmaCandidates(
      { ...op, wgmma: { stages: 3 } },
      4096,
      4096,
      132,
      'auto',
      SM90_MAX_SHARED_BYTES,
    );
    assert.ok(three.every((c) => c.stages === 3));
    assert.equal(new Set(three.map(key)).size, three.length);
    // An override the shape's default cannot take (a cluster on the fused ping-pong default, ping-pong on the
    // 128×256 default) keeps the candidates that can, and the default takes it where it names a tile field.
    const k2 = wgmmaCandidates(
      { ...fusedOp, wgmma: { cluster: 2 } },
      4096,
      4096,
      132,
      'auto',
      SM90_MAX_SHARED_BYTES,
    );
    assert.ok(k2.length >= 2 && k2.every((c) => c.cluster === 2 && !c.pingpong));
    assert.equal(wgmmaSpecFor({ ...fusedOp, wgmma: { cluster: 2 } }, 4096, 4096, 132).config.cluster, 2);
    const pp = wgmmaCandidates(
      { ...op, wgmma: { pingpong: true } },
      4096,
      4096,
      132,
      'auto',
      SM90_MAX_SHARED_BYTES,
    );
    assert.ok(pp.length >= 2 && pp.every((c) => c.pingpong === true));
    assert.throws(
      () => wgmmaCandidates({ ...op, wgmma: { bk: 32 } }, 4096, 4096, 132, 'auto', SM90_MAX_SHARED_BYTES),
      /no wgmma tile config is valid with the override \{"bk":32\}/,
    );
    const small = wgmmaCandidates(op, 4096, 4096, 132, 'auto', 150 * 1024);
    assert.ok(small.length > 0 && small.every((c) => wgmmaSharedBytes(c) <= 150 * 1024));
  });

  test('float16/bfloat16 on compute capability 9.0 with TMA-addressable operands', () => {
    assert.equal(wgmmaApplies(op, hopper, 128, 128, 64, ptrs), true);
    assert.equal(wgmmaApplies({ ...op, dtype: 'bfloat16' }, hopper, 5, 8, 8, ptrs), true);
    assert.equal(wgmmaApplies({ ...op, dtype: 'float32' }, hopper, 128, 128, 64, ptrs), false);
    assert.equal(wgmmaApplies(op, { computeCapability: { major: 8, minor: 0 } }, 128, 128, 64, ptrs), false);
    assert.equal(wgmmaApplies(op, { computeCapability: { major: 10, minor: 0 } }, 128, 128, 64, ptrs), false);
    assert.equal(wgmmaApplies(op, {} as typeof hopper, 128, 128, 64, ptrs), false); // a stand-in device
  });

  test('not when TMA cannot address an operand, K is 0, or the user asked for another kernel', () => {
    assert.equal(wgmmaApplies(op, hopper, 128, 128, 63, ptrs), false); // lda = K not a multiple of 8
    assert.equal(wgmmaApplies(op, hopper, 128, 100, 64, ptrs), false); // ldb = ldc = N
    assert.equal(wgmmaApplies({ ...op, transA: true }, hopper, 100, 128, 64, ptrs), false); // lda = M
    assert.equal(wgmmaApplies(op, hopper, 128, 128, 64, [0x1002n, 0x2000n, 0x3000n]), false);
    assert.equal(wgmmaApplies(op, hopper, 128, 128, 0, ptrs), false);
    assert.equal(wgmmaApplies({ ...op, wgmma: false }, hopper, 128, 128, 64, ptrs), false);
    assert.equal(wgmmaApplies({ ...op, configOverride: { bm: 64 } }, hopper, 128, 128, 64, ptrs), false);
    assert.equal(
      wgmmaApplies({ ...op, configOverride: { bm: 64 }, wgmma: {} }, hopper, 128, 128, 64, ptrs),
      true,
    );
  });

  test('TT (transA and transB) stays on mma.sync unless the wgmma kernel is asked for (the 8192³ TT hang)', () => {
    const tt = { ...op, transA: true, transB: true };
    assert.equal(wgmmaApplies(tt, hopper, 128, 128, 64, ptrs), false);
    assert.equal(wgmmaApplies({ ...tt, dtype: 'bfloat16' }, hopper, 8192, 8192, 8192, ptrs), false);
    assert.equal(wgmmaApplies({ ...tt, wgmma: {} }, hopper, 128, 128, 64, ptrs), true);
    assert.equal(wgmmaApplies({ ...tt, wgmma: { stages: 3 } }, hopper, 8192, 8192, 8192, ptrs), true);
    for (const [ta, tb] of [
      [false, false],
      [false, true],
      [true, false],
    ] as const)
      assert.equal(wgmmaApplies({ ...op, transA: ta, transB: tb }, hopper, 128, 128, 64, ptrs), true);
  });

  test('overrides merge into the default config and are validated', () => {
    const s = wgmmaSpecFor({ ...op, wgmma: { stages: 3 } }, 4096, 4096, 132);
    assert.deepEqual(s.config, { ...WGMMA_CONFIGS.wgmma128x256, stages: 3 });
    assert.throws(() => wgmmaSpecFor({ ...op, wgmma: { bk: 32 } }, 4096, 4096, 132), /bk must be 64/);
  });

  test('tensor maps: K-major and MN-major operands are valid requests; bad ones are named', () => {
    for (const [ta, tb] of TRANS) {
      const g = wgmmaSource(spec('bfloat16', ta, tb, WGMMA_CONFIGS.wgmma128x256));
      const [M, N, K] = [136, 264, 72];
      const a = ta
        ? operandTensorMap('bfloat16', 0x10000n, K, M, g.boxA)
        : operandTensorMap('bfloat16', 0x10000n, M, K, g.boxA);
      const b = tb
        ? operandTensorMap('bfloat16', 0x20000n, N, K, g.boxB)
        : operandTensorMap('bfloat16', 0x20000n, K, N, g.boxB);
      assert.equal(tensorMapProblem(a), undefined);
      assert.equal(tensorMapProblem(b), undefined);
      assert.deepEqual(a.globalDim, ta ? [M, K] : [K, M]);
      assert.deepEqual(a.globalStrides, [ta ? M * 2 : K * 2]);
    }
    const ok = operandTensorMap('float16', 0x10000n, 128, 64, [64, 128]);
    assert.match(tensorMapProblem({ ...ok, globalStrides: [100] }) ?? '', /globalStrides\[0\] = 100 bytes/);
    assert.match(tensorMapProblem({ ...ok, globalAddress: 0x10008n }) ?? '', /not a 16-byte aligned/);
    assert.match(tensorMapProblem({ ...ok, boxDim: [128, 64] }) ?? '', /exceeds the 128-byte swizzle span/);
    assert.match(tensorMapProblem({ ...ok, boxDim: [64, 512] }) ?? '', /boxDim\[1\] = 512/);
    assert.match(tensorMapProblem({ ...ok, globalDim: [0, 5] }) ?? '', /globalDim\[0\] = 0/);
    assert.match(tensorMapProblem({ ...ok, dataType: 42 }) ?? '', /dataType 42/);
    assert.match(tensorMapProblem({ ...ok, boxDim: [4, 8] }) ?? '', /not a multiple of 16/);
  });
});

// ---- Shared-memory layout emulation --------------------------------------------------------------------------
// TMA writes a 2-D box row after row (inner extent 64 elements = 128 bytes); the 128-byte swizzle XORs the 16-byte
// chunk index with address bits 7-9. wgmma reads through a descriptor: K-major SW128 puts (row r, k) at
// (r%8)·128 + ⌊r/8⌋·SBO + 2k; MN-major SW128 puts (mn, k) at 2(mn%64) + ⌊mn/64⌋·LBO + (k%8)·128 + ⌊k/8⌋·SBO; both
// then XOR the same address bits (the layouts of the PTX ISA's "Shared Memory Matrix Layout" / CUTLASS's canonical
// GMMA layouts). The kernel's constants are mirrored here; a stage is filled with tagged values and every element
// of every k16 slice each consumer reads must be the operand element it means.

const swz = (addr: number): number => addr ^ (((addr >> 7) & 7) << 4);

interface Smem {
  readonly bytes: Map<number, number>;
}

/** TMA: box (inner i < 64, outer r < rows) at byte dst, element value v(i, r) (undefined: out of bounds → 0). */
function tmaBox(s: Smem, dst: number, rows: number, v: (i: number, r: number) => number): void {
  assert.equal(dst % 1024, 0, 'TMA destination of a 128B-swizzled box must be 1024-aligned');
  for (let r = 0; r < rows; r++)
    for (let i = 0; i < 64; i++) s.bytes.set(swz(dst + r * 128 + i * 2), v(i, r));
}

const readK = (s: Smem, start: number, sbo: number, r: number, k: number): number | undefined =>
  s.bytes.get(swz(start + (r % 8) * 128 + Math.floor(r / 8) * sbo + 2 * k));
const readMN = (
  s: Smem,
  start: number,
  lbo: number,
  sbo: number,
  mn: number,
  k: number,
): number | undefined =>
  s.bytes.get(
    swz(start + 2 * (mn % 64) + Math.floor(mn / 64) * lbo + (k % 8) * 128 + Math.floor(k / 8) * sbo),
  );

function emulate(c: WgmmaConfig, transA: boolean, transB: boolean, M: number, N: number): void {
  const PANEL = 64 * 64 * 2;
  const A_STAGE = c.bm * 64 * 2;
  // Tag values: A element (m, k) → 1e6 + m·1000 + k; B element (k, n) → 2e6 + n·1000 + k (tile-local, k < 64).
  const aTag = (m: number, k: number): number => (m < M ? 1e6 + m * 1000 + k : 0);
  const bTag = (k: number, n: number): number => (n < N ? 2e6 + n * 1000 + k : 0);
  const s: Smem = { bytes: new Map() };
  const base = 3 * 1024 * 64; // some stage's base, 1024-aligned
  // The producer's copies (m0 = n0 = k0 = 0; tile-local coordinates).
  if (transA) {
    const panels = Math.min(c.bm / 64, Math.ceil(M / 64));
    for (let p = 0; p < panels; p++) tmaBox(s, base + p * PANEL, 64, (i, r) => aTag(64 * p + i, r));
  } else {
    tmaBox(s, base, c.bm, (i, r) => aTag(r, i));
  }
  const b = base + A_STAGE;
  if (transB) {
    tmaBox(s, b, c.bn, (i, r) => bTag(i, r));
  } else {
    const panels = Math.min(c.bn / 64, Math.ceil(N / 64));
    for (let p = 0; p < panels; p++) tmaBox(s, b + p * PANEL, 64, (i, r) => bTag(r, 64 * p + i));
  }
  // The consumers' descriptors: start (bytes; the kernel adds the step in 16-byte units), LBO, SBO.
  const aLbo = transA ? PANEL : 16;
  const bLbo = transB ? 16 : PANEL;
  const aStep = transA ? 16 * 128 : 32;
  const bStep = transB ? 32 : 16 * 128;
  for (let w = 0; w < c.consumers; w++) {
    for (let kk = 0; kk < 4; kk++) {
      const aStart = base + w * PANEL + kk * aStep;
      const bStart = b + kk * bStep;
      for (let m = 0; m < 64; m++) {
        const gm = w * 64 + m;
        if (gm >= M) continue; // rows never stored: their panels may be stale
        for (let k = 0; k < 16; k++) {
          const got = transA ? readMN(s, aStart, aLbo, 1024, m, k) : readK(s, aStart, 1024, m, k);
          assert.equal(
            got,
            aTag(gm, kk * 16 + k),
            `A w${w} kk${kk} m${m} k${k} (${transA ? 'M' : 'K'}-major)`,
          );
        }
      }
      for (let n = 0; n < Math.min(c.bn, N); n++) {
        for (let k = 0; k < 16; k++) {
          const got = transB ? readK(s, bStart, 1024, n, k) : readMN(s, bStart, bLbo, 1024, n, k);
          assert.equal(got, bTag(kk * 16 + k, n), `B kk${kk} n${n} k${k} (${transB ? 'K' : 'N'}-major)`);
        }
      }
    }
  }
}

describe('shared-memory layout emulation (TMA SW128 writes, wgmma descriptor reads)', () => {
  test('every config × transposes, full tiles and tiles cut by M and N', () => {
    for (const c of [WGMMA_CONFIGS.wgmma128x256, WGMMA_CONFIGS.wgmma128x192, WGMMA_CONFIGS.wgmma64x128]) {
      for (const [ta, tb] of TRANS) {
        emulate(c, ta, tb, c.bm, c.bn);
        emulate(c, ta, tb, 17, 40);
      }
    }
  });

  test('the emulation catches a wrong descriptor (SBO of 512, no XOR)', () => {
    const s: Smem = { bytes: new Map() };
    tmaBox(s, 0, 64, (i, r) => r * 1000 + i);
    assert.notEqual(readK(s, 0, 512, 9, 3), 9 * 1000 + 3);
    assert.notEqual(s.bytes.get(1 * 128 + 2 * 3), 1 * 1000 + 3); // row 1 is swizzled
    assert.equal(readK(s, 0, 1024, 9, 3), 9 * 1000 + 3);
  });
});

// ---- nvcc -arch=sm_90a compile checks -------------------------------------------------------------------------

/** Epilogue variants compiled and checked: each part alone, all together, casts, an expression. */
const EPILOGUES: readonly GemmEpilogueOptions[] = [
  { bias: true },
  { bias: true, activation: 'gelu' },
  { activation: 'gelu-tanh' },
  { activation: 'relu', scale: 2 },
  { activation: 'silu', residual: true },
  { bias: true, activation: 'gelu', scale: 0.5, residual: true },
  { outDtype: 'float32' },
  { bias: true, activation: 'gelu', outDtype: 'float32' },
  { expr: ({ acc, bias }) => acc.add(bias).silu().mul(2) },
];
const other = (d: DType): DType => (d === 'float16' ? 'bfloat16' : 'float16');

describe('fused epilogues in the wgmma kernel', () => {
  test('without one, every source is byte-identical to the kernel before epilogues (pinned digest)', () => {
    const h = createHash('sha256');
    for (const d of HALVES) {
      for (const [ta, tb] of TRANS) {
        // The configs there were then (ping-pong and clusters came later).
        for (const c of CONFIGS.filter((x) => !x.pingpong && x.cluster === 1)) {
          const g = wgmmaSource(spec(d, ta, tb, c));
          h.update(`${g.source}\0${g.name}\0`);
        }
      }
    }
    // Recorded from commit 22c9816 (before the {{EPILOGUE}} split of gemm-wgmma.cu): cached kernels stay valid.
    assert.equal(h.digest('hex'), '5c77a3ae8a9e956e771c0f68ee003b60eee206b18b9125875bdb8ca1eb0b6734');
  });

  test('fused sources are byte-identical to the pinned ones (digest)', () => {
    const h = createHash('sha256');
    const epilogues: GemmEpilogueOptions[] = [
      { bias: true },
      { bias: true, activation: 'gelu' },
      { activation: 'silu', scale: 0.5, residual: true },
      { bias: true, activation: 'gelu', outDtype: 'float32' },
      { bias: true, activation: 'gelu-tanh' },
    ];
    let n = 0;
    for (const d of HALVES) {
      for (const [ta, tb] of TRANS) {
        for (const c of CONFIGS.filter((x) => !x.pingpong && x.cluster === 1)) {
          for (const e of epilogues) {
            for (const u of [undefined, 2]) {
              const config = u ? { ...c, epilogueUnroll: u } : c;
              try {
                const g = wgmmaSource({ ...spec(d, ta, tb, config), epilogue: lowerGemmEpilogue(e, d)! });
                h.update(`${g.source}\0${g.name}\0`);
                n++;
              } catch (err) {
                h.update(`ERR ${(err as Error).message}`); // a config too big for the staging, as before
              }
            }
          }
        }
      }
    }
    assert.equal(n, 480);
    // Unchanged by the consumer pieces and ping-pong (724ca278… at 613448b and after); changed on purpose by the
    // store's full-tile loop (no exit inside, beta ≠ 0 rolled). A refactor must leave it as it is: cached fused
    // kernels stay valid.
    assert.equal(h.digest('hex'), '8e992a39c7fffbccc06b35d6de877be8fe302fc6e80bf21288b12813dfb21973');
  });

  test("a fused one: the mma.sync kernel's name suffix, parameters after beta, stores of cuop_out_t", () => {
    const e = lowerGemmEpilogue({ bias: true, activation: 'gelu', scale: 0.5, residual: true }, 'float16');
    const g = wgmmaSource({ ...spec('float16', false, false, WGMMA_CONFIGS.wgmma128x256), epilogue: e! });
    const mma = gemmSource({
      dtype: 'float16',
      transA: false,
      transB: false,
      config: GEMM_CONFIGS.mmaLarge,
      aligned: true,
      epilogue: e!,
    });
    const suffix = /_e[0-9a-f]{10}$/.exec(mma.name)?.[0];
    assert.ok(suffix && g.name.endsWith(suffix), `${g.name} vs ${mma.name}`);
    assert.equal(g.name, `cuop_gemm_f16_nn_wgmma_128x256x64_c2_s4${suffix}`);
    assert.ok(g.source.includes('cuop_out_t *__restrict__ C, int M, int N,'));
    assert.ok(
      g.source.includes(
        'float alpha, float beta, const cuop_out_t *__restrict__ bias, const cuop_out_t *__restrict__ residual, float s0) {',
      ),
    );
    assert.ok(g.source.includes('float v0 = cuop_epilogue(alpha * a.x, row, col, N, bias, residual, s0);'));
    assert.ok(
      g.source.includes('float v1 = cuop_epilogue(alpha * a.y, row, col + 1, N, bias, residual, s0);'),
    );
    assert.ok(g.source.includes('cuop_store2(p, v0, v1);'));
    assert.doesNotMatch(g.source, /\{\{|\}\}/);
    // The plain kernel's pieces are gone, the pipeline is the same text.
    const plain = wgmmaSource(spec('float16', false, false, WGMMA_CONFIGS.wgmma128x256)).source;
    assert.ok(!g.source.includes('*reinterpret_cast<T2 *>(p) = pack2(v0, v1);'));
    const pipeline = (src: string): string =>
      src.slice(src.indexOf('  if (wg == 0) {'), src.indexOf('fence_operand(acc[i]);'));
    assert.equal(pipeline(g.source), pipeline(plain));
    // f32 output: C's type changes, the inputs' do not.
    const f = wgmmaSource({
      ...spec('bfloat16', true, false, WGMMA_CONFIGS.wgmma64x128),
      epilogue: lowerGemmEpilogue({ outDtype: 'float32' }, 'bfloat16')!,
    });
    assert.ok(f.source.includes('typedef float cuop_out_t;'));
    // The epilogue's row unroll is in the name (default 1 adds nothing) and in the rolled loop's pragma.
    const u2 = wgmmaSource({
      ...spec('float16', false, false, { ...WGMMA_CONFIGS.wgmma128x256, epilogueUnroll: 2 }),
      epilogue: e!,
    });
    assert.equal(u2.name, `cuop_gemm_f16_nn_wgmma_128x256x64_c2_s4_u2${suffix}`);
    // The unroll is the full-tile loop's; a tile cut by M (or beta ≠ 0) takes the rolled loop either way.
    const fullLoop = (u: number): string =>
      `#pragma unroll ${u}\n            for (int r = q / PAIRS; r < 64; r += 128 / PAIRS) apply(r, false);`;
    const rolled =
      '#pragma unroll 1\n            for (int r = q / PAIRS; r < rowEnd; r += 128 / PAIRS) apply(r, beta != 0.f);';
    assert.ok(u2.source.includes(fullLoop(2)));
    assert.ok(g.source.includes(fullLoop(1)));
    assert.ok(u2.source.includes(rolled) && g.source.includes(rolled));
    assert.ok(f.source.includes('float cuop_epilogue(float x0, int row, int col, int N) {'));
  });

  test('the spec carries the epilogue; the arguments follow beta in the order Gemm passes them', () => {
    const e = lowerGemmEpilogue({ bias: true, scale: 3, residual: true }, 'bfloat16')!;
    const op = { dtype: 'bfloat16' as DType, transA: false, transB: true, alpha: 2, beta: 0.5, epilogue: e };
    assert.equal(wgmmaSpecFor(op, 4096, 4096, 132).epilogue, e);
    assert.equal(wgmmaSpecFor({ ...op, epilogue: undefined }, 4096, 4096, 132).epilogue, undefined);
    const mapA = bytesArg(new Uint8Array(128), 64);
    const mapB = bytesArg(new Uint8Array(128), 64);
    const [C, bias, residual] = ['C', 'bias', 'residual'].map((n) => ({ n }) as unknown as Tensor) as [
      Tensor,
      Tensor,
      Tensor,
    ];
    const p = { M: 8, N: 16, K: 24 };
    assert.deepEqual(wgmmaArgs(op, mapA, mapB, C, p, [bias, residual]), [
      mapA,
      mapB,
      C,
      i32(8),
      i32(16),
      i32(24),
      f32(2),
      f32(0.5),
      bias,
      residual,
      f32(3),
    ]);
    assert.deepEqual(wgmmaArgs({ ...op, epilogue: undefined }, mapA, mapB, C, p, []).length, 8);
    assert.throws(() => wgmmaArgs(op, mapA, mapB, C, p, [bias]), /takes 2 tensors after A and B, got 1/);
  });
});

const nvcc = findNvcc([process.env.NVCC, 'nvcc', '/usr/local/cuda/bin/nvcc', '/usr/local/bin/nvcc']);

interface Compiled {
  readonly name: string;
  readonly registers: number;
  readonly spillBytes: number;
  readonly stackBytes: number;
  /** ptxas notes that it injected warpgroup.arrive/wait (serializing wgmma): must not happen. */
  readonly injected: number;
  /** Bytes of machine code (the cubin's .text sections). */
  readonly textBytes: number;
}

/** The summed size of an ELF64 file's `.text*` sections (a cubin's machine code). */
function elfTextBytes(elf: Buffer): number {
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const shnum = elf.readUInt16LE(0x3c);
  const strtab = Number(elf.readBigUInt64LE(shoff + elf.readUInt16LE(0x3e) * shentsize + 0x18));
  let total = 0;
  for (let i = 0; i < shnum; i++) {
    const sh = shoff + i * shentsize;
    const nameAt = strtab + elf.readUInt32LE(sh);
    const name = elf.toString('latin1', nameAt, elf.indexOf(0, nameAt));
    if (name.startsWith('.text')) total += Number(elf.readBigUInt64LE(sh + 0x20));
  }
  return total;
}

describe(
  'generated Hopper sources compile with nvcc -arch=sm_90a',
  { skip: nvcc ? false : 'nvcc not found' },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'cuop-wgmma-'));
    after(() => rmSync(dir, { recursive: true, force: true }));

    /** nvcc -cubin -arch=sm_90a -Xptxas -v of one generated source: registers, spills, stack, injected waits. */
    async function compile(g: WgmmaSource): Promise<Compiled> {
      const file = join(dir, g.programName);
      writeFileSync(file, g.source);
      const args = ['-cubin', '-arch=sm_90a', '-Xptxas', '-v', '-o', join(dir, `${g.name}.cubin`), file];
      let out: string;
      try {
        const r = await run(nvcc as string, args, { maxBuffer: 1 << 24 });
        out = r.stdout + r.stderr;
      } catch (e) {
        const err = e as { stderr?: string; message: string };
        throw new Error(`nvcc failed for ${g.name}:\n${err.stderr ?? err.message}`, { cause: e });
      }
      const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? NaN);
      return {
        name: g.name,
        registers: num(/Used (\d+) registers/),
        spillBytes: num(/(\d+) bytes spill stores/) + num(/(\d+) bytes spill loads/),
        stackBytes: num(/(\d+) bytes stack frame/),
        injected: (out.match(/is injected/g) ?? []).length,
        textBytes: elfTextBytes(readFileSync(join(dir, `${g.name}.cubin`))),
      };
    }

    test('every config × dtype × transposes: no spills, no stack, no injected warpgroup waits', async () => {
      const jobs: (() => Promise<Compiled>)[] = [];
      for (const d of HALVES) {
        for (const [ta, tb] of TRANS) {
          for (const c of CONFIGS) {
            const g = wgmmaSource(spec(d, ta, tb, c));
            jobs.push(() => compile(g));
          }
        }
      }
      const results = await twoAtATime(jobs);
      assert.equal(results.length, HALVES.length * TRANS.length * CONFIGS.length);
      for (const r of results) plainText.set(r.name, r.textBytes);
      const bad = results.filter(
        (r) => !(r.registers > 0 && r.spillBytes === 0 && r.stackBytes === 0 && r.injected === 0),
      );
      assert.deepEqual(
        bad,
        [],
        `spills, stack, injected waits or unparsed ptxas output:\n${JSON.stringify(bad, null, 1)}`,
      );
      // Two consumer warpgroups: 384 threads, one block per SM, so ptxas's cap is 168 (setmaxnreg moves them later).
      for (const r of results)
        if (r.name.includes('_c2_')) assert.ok(r.registers <= 168, `${r.name}: ${r.registers}`);
    });

    // A fused kernel's machine code against its plain kernel's: the expression is applied in a rolled loop over staged
    // slices, so it exists once per slice instead of once per accumulator (erf inlined 128 times made the 128×256
    // kernel 7.6× the plain one's size, far past the instruction cache, and the GEMM twice as slow on the H200).
    const plainText = new Map<string, number>();
    const plainKey = (name: string): string => name.replace(/(_u[24])?_e[0-9a-f]{10}$/, '');

    test('fused epilogues: every variant × dtype, and the full one on every config × transposes', async () => {
      const sources: WgmmaSource[] = [];
      for (const d of HALVES) {
        for (const opts of [...EPILOGUES, { bias: true, outDtype: other(d) }]) {
          const epilogue = lowerGemmEpilogue(opts, d)!;
          sources.push(wgmmaSource({ ...spec(d, false, false, WGMMA_CONFIGS.wgmma128x256), epilogue }));
        }
      }
      // The fused defaults (ping-pong 128×128 for a big output, 64×128 for a small one; rows unrolled by 2).
      for (const d of HALVES) {
        const epilogue = lowerGemmEpilogue({ bias: true, activation: 'gelu' }, d)!;
        for (const [M, N] of [
          [4096, 4096],
          [1024, 1024],
        ] as const) {
          const op = { dtype: d, transA: false, transB: false, alpha: 1, beta: 0, epilogue };
          sources.push(wgmmaSource(wgmmaSpecFor(op, M, N, 132)));
        }
      }
      const full = lowerGemmEpilogue(
        { bias: true, activation: 'gelu', scale: 0.5, residual: true },
        'float16',
      )!;
      for (const [ta, tb] of TRANS) {
        for (const c of CONFIGS) {
          if (!ta && !tb && c === WGMMA_CONFIGS.wgmma128x256) continue; // compiled above
          sources.push(wgmmaSource({ ...spec('float16', ta, tb, c), epilogue: full }));
        }
      }
      const results = await twoAtATime(sources.map((g) => () => compile(g)));
      const plains = [...new Set(sources.map((g) => plainKey(g.name)))].filter((n) => !plainText.has(n));
      assert.deepEqual(plains, [], 'the plain kernels were compiled by the test above');
      for (const r of results) {
        const plain = plainText.get(plainKey(r.name)) as number;
        assert.ok(
          r.textBytes > 0 && r.textBytes <= 2 * plain,
          `${r.name}: ${r.textBytes} bytes of code, the plain kernel ${plain}`,
        );
      }
      const bad = results.filter(
        (r) => !(r.registers > 0 && r.spillBytes === 0 && r.stackBytes === 0 && r.injected === 0),
      );
      assert.deepEqual(
        bad,
        [],
        `spills, stack, injected waits or unparsed ptxas output:\n${JSON.stringify(bad, null, 1)}`,
      );
      for (const r of results)
        if (r.name.includes('_c2_')) assert.ok(r.registers <= 168, `${r.name}: ${r.registers}`);
    });
  },
);
