// CPU tests of GEMM's fused epilogues: lowering and its errors, the generated source (the fused operations are in it,
// a Gemm without an epilogue generates its plain source), validation of the bias and residual tensors, the launch
// arguments, and nvcc compiles of every variant for sm_90 and sm_80 with no spills.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';

import { ew } from '../../src/ops/elementwise-source.js';
import {
  GemmEpilogueError,
  gemmEpilogueCode,
  lowerGemmEpilogue,
  type GemmEpilogueOptions,
} from '../../src/ops/gemm-epilogue.js';
import { GEMM_CONFIGS, gemmSource, type GemmConfig, type GemmSpec } from '../../src/ops/gemm-source.js';
import { Gemm } from '../../src/ops/gemm.js';
import type { DType } from '../../src/ops/tensor.js';
import {
  assertNvrtcSafe,
  assertShapeErrors,
  DTYPES,
  fake,
  findNvcc,
  noJit,
  recordingJit,
  twoAtATime,
} from './helpers.js';

const run = promisify(execFile);
const large = (d: DType): GemmConfig => (d === 'float32' ? GEMM_CONFIGS.f32Large : GEMM_CONFIGS.mmaLarge);
const spec = (
  dtype: DType,
  epilogue: GemmEpilogueOptions | undefined,
  aligned = true,
  config = large(dtype),
): GemmSpec => {
  const e = lowerGemmEpilogue(epilogue, dtype);
  return { dtype, transA: false, transB: false, aligned, config, ...(e ? { epilogue: e } : {}) };
};

/** The variants every dtype is compiled with. */
const VARIANTS: readonly [string, GemmEpilogueOptions][] = [
  ['bias+gelu', { bias: true, activation: 'gelu' }],
  ['bias+gelu-tanh+scale+residual', { bias: true, activation: 'gelu-tanh', scale: 0.5, residual: true }],
  ['relu', { activation: 'relu' }],
  ['bias+silu+residual', { bias: true, activation: 'silu', residual: true }],
  ['expr', { expr: ({ acc, bias }) => acc.mul(2).add(bias).sigmoid().maximum(acc) }],
];
const castTo = (d: DType): DType => (d === 'float32' ? 'float16' : 'float32');

describe('lowerGemmEpilogue', () => {
  test('the structured form is scale · activation(acc + bias) + residual', () => {
    const text = (o: GemmEpilogueOptions): string | undefined =>
      lowerGemmEpilogue(o, 'float16')?.lowered.text;
    assert.equal(text({ bias: true, activation: 'gelu' }), 'geluErf(add(x0,x1))');
    assert.equal(text({ bias: true, activation: 'gelu-erf' }), 'geluErf(add(x0,x1))');
    assert.equal(text({ activation: 'gelu-tanh' }), 'gelu(x0)');
    assert.equal(text({ activation: 'silu', residual: true }), 'add(silu(x0),x2)');
    assert.equal(
      text({ bias: true, activation: 'relu', scale: 3, residual: true }),
      'add(mul(relu(add(x0,x1)),s0),x2)',
    );
    assert.equal(text({ expr: ({ acc, residual }) => acc.add(residual).tanh() }), 'tanh(add(x0,x2))');
    const e = lowerGemmEpilogue({ bias: true, scale: 0.25 }, 'float32');
    assert.ok(e);
    assert.deepEqual(e.lowered.scalars, [0.25]);
    assert.equal(e.bias, true);
    assert.equal(e.residual, false);
    assert.equal(e.outDtype, 'float32');
  });

  test('nothing to fuse is no epilogue: the Gemm generates its plain source', () => {
    for (const d of DTYPES) {
      assert.equal(lowerGemmEpilogue(undefined, d), undefined);
      assert.equal(lowerGemmEpilogue({}, d), undefined);
      assert.equal(lowerGemmEpilogue({ activation: 'none', outDtype: d }, d), undefined);
      const plain = new Gemm({ dtype: d });
      const empty = new Gemm({ dtype: d, epilogue: {} });
      const p = { M: 300, N: 256, K: 128 };
      const ptrs = [0n, 256n, 512n];
      assert.equal(
        gemmSource(empty.specFor(p, ptrs, 132)).source,
        gemmSource(plain.specFor(p, ptrs, 132)).source,
      );
      assert.equal(JSON.stringify(empty.specFor(p, ptrs, 132)), JSON.stringify(plain.specFor(p, ptrs, 132)));
    }
  });

  test('bad epilogues are GemmEpilogueErrors that say what to write instead', () => {
    const bad: [GemmEpilogueOptions, RegExp][] = [
      [
        { activation: 'tanhh' as never },
        /unknown epilogue activation 'tanhh'; expected one of none, relu, gelu/,
      ],
      [{ bais: true } as never, /unknown epilogue field 'bais'/],
      [
        { bias: true, expr: ({ acc }) => acc },
        /epilogue.expr replaces bias\/activation\/scale\/residual; drop 'bias'/,
      ],
      [{ expr: ({ bias }) => bias.relu() }, /never reads acc/],
      [{ expr: ({ acc }) => acc.add(ew.input(3)) }, /reads an input other than acc, bias and residual/],
      [{ expr: () => 1 as never }, /must return an expression/],
      [{ scale: Number.NaN }, /scale must be a finite number/],
      [{ outDtype: 'int8' as never }, /outDtype must be float32, float16 or bfloat16/],
    ];
    for (const [o, re] of bad) {
      assert.throws(
        () => new Gemm({ dtype: 'float16', epilogue: o }),
        (e: unknown) => e instanceof GemmEpilogueError && re.test(e.message),
        re.source,
      );
    }
  });
});

describe('fused epilogue sources', () => {
  test('contain the fused operations, take the extra parameters and stay deterministic', () => {
    const seen = new Set<string>();
    for (const d of DTYPES) {
      for (const [label, o] of [...VARIANTS, ['cast', { outDtype: castTo(d) }] as const]) {
        const g = gemmSource(spec(d, o));
        assert.equal(g.source, gemmSource(spec(d, o)).source, `${d} ${label} deterministic`);
        assertNvrtcSafe(`${d} ${label}`, g.source);
        assert.ok(!seen.has(g.source), `${d} ${label}: distinct source`);
        seen.add(g.source);
        assert.match(g.name, /_e[0-9a-f]{10}$/);
        assert.match(g.source, /cuop_epilogue\(alpha \* acc/);
        const e = lowerGemmEpilogue(o, d);
        assert.ok(e);
        assert.deepEqual(g.signature.slice(8), [...gemmEpilogueCode(e).signature], `${d} ${label} signature`);
        if (e.bias) assert.match(g.source, /__ldg\(bias \+ col\)/);
        if (e.residual) assert.match(g.source, /__ldg\(residual \+ \(long long\)row \* N \+ col\)/);
      }
      const s = gemmSource(spec(d, VARIANTS[0]![1])).source;
      assert.match(s, /cuop_gelu_erf\(/);
      assert.match(gemmSource(spec(d, VARIANTS[1]![1])).source, /cuop_gelu_tanh\(/);
      assert.match(gemmSource(spec(d, VARIANTS[3]![1])).source, /cuop_sigmoid\(/);
      assert.match(
        gemmSource(spec(d, { outDtype: castTo(d) })).source,
        new RegExp(`typedef ${castTo(d) === 'float16' ? '__half' : 'float'} cuop_out_t;`),
      );
    }
  });

  test('scalars are run-time arguments: the scale does not change the source', () => {
    for (const d of DTYPES) {
      assert.equal(
        gemmSource(spec(d, { bias: true, scale: 0.5 })).source,
        gemmSource(spec(d, { bias: true, scale: 7 })).source,
      );
    }
  });
});

describe('Gemm with an epilogue: validation and launch (fake device, no GPU)', () => {
  test('bias and residual of the wrong shape, dtype or count are ShapeErrors before any launch', async () => {
    const op = new Gemm({ dtype: 'float16', epilogue: { bias: true, activation: 'gelu', residual: true } });
    const A = fake([64, 32], 'float16');
    const B = fake([32, 48], 'float16');
    const C = fake([64, 48], 'float16');
    const bias = fake([48], 'float16');
    const res = fake([64, 48], 'float16');
    const go =
      (inputs: ReturnType<typeof fake>[], out = C) =>
      () =>
        op.forward(inputs, [out], { jit: noJit });
    await assertShapeErrors([
      ['missing residual', go([A, B, bias]), /gemm takes 4 inputs \[A, B, bias, residual\] for its epilogue/],
      [
        'bias length',
        go([A, B, fake([64], 'float16'), res]),
        /bias must have shape \[48\] \(one value per column of C\), got \[64\]/,
      ],
      ['bias rank', go([A, B, fake([1, 48], 'float16'), res]), /bias must have shape \[48\]/],
      [
        'bias dtype',
        go([A, B, fake([48], 'float32'), res]),
        /bias is float32 but must be float16 \(the output dtype\)/,
      ],
      [
        'residual shape',
        go([A, B, bias, fake([48, 64], 'float16')]),
        /residual must have shape \[64, 48\] \(the shape of C\)/,
      ],
      [
        'residual strides',
        go([A, B, bias, fake([64, 48], 'float16', { strides: [1, 64] })]),
        /residual must be contiguous/,
      ],
    ]);
    const cast = new Gemm({ dtype: 'bfloat16', epilogue: { outDtype: 'float32', bias: true } });
    await assertShapeErrors([
      [
        'C of the input dtype',
        () =>
          cast.forward(
            [fake([8, 8], 'bfloat16'), fake([8, 8], 'bfloat16'), fake([8])],
            [fake([8, 8], 'bfloat16')],
            { jit: noJit },
          ),
        /C is bfloat16 but this Gemm writes float32/,
      ],
    ]);
  });

  test('forward passes bias, residual and the scalars after alpha and beta', async () => {
    const { jit, launches } = recordingJit();
    const op = new Gemm({
      dtype: 'float32',
      alpha: 2,
      epilogue: { bias: true, activation: 'relu', scale: 0.5, residual: true },
    });
    const A = fake([64, 32]);
    const B = fake([32, 48]);
    const C = fake([64, 48]);
    const bias = fake([48]);
    const res = fake([64, 48]);
    await op.forward([A, B, bias, res], [C], { jit });
    assert.equal(launches.length, 1);
    const { spec: k, args } = launches[0]!;
    assert.equal(args.length, 11);
    assert.equal(args[8], bias);
    assert.equal(args[9], res);
    assert.deepEqual(args[10], { type: 'f32', value: 0.5 });
    assert.equal(k.signature?.length, 11);
    assert.match(k.source, /cuop_epilogue/);
  });
});

// ---- nvcc compile checks: every variant, every dtype, sm_90 and sm_80, no spills ----

const nvcc = findNvcc([process.env.NVCC, '/usr/local/bin/nvcc', 'nvcc', '/usr/local/cuda/bin/nvcc']);

describe('fused epilogue sources compile with nvcc', { skip: nvcc ? false : 'nvcc not found' }, () => {
  test('each variant × dtype (aligned default tiles; unaligned for one), sm_90 and sm_80, 0 spills', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cuop-gemm-epi-'));
    try {
      const specs: [string, GemmSpec][] = [];
      for (const d of DTYPES) {
        for (const [label, o] of VARIANTS) specs.push([`${d} ${label}`, spec(d, o)]);
        specs.push([`${d} cast`, spec(d, { outDtype: castTo(d), bias: true })]);
        const unalignedTile = d === 'float32' ? GEMM_CONFIGS.f32Large : GEMM_CONFIGS.mmaLarge8;
        specs.push([`${d} unaligned`, spec(d, VARIANTS[1]![1], false, unalignedTile)]);
        // The widest tile of the tensor-core kernel: the most live accumulators when the epilogue runs.
        if (d !== 'float32') specs.push([`${d} wide`, spec(d, VARIANTS[1]![1], true, GEMM_CONFIGS.mmaWide)]);
      }
      const jobs = specs.flatMap(([label, s], i) => {
        const file = join(dir, `k${i}.cu`);
        writeFileSync(file, gemmSource(s).source);
        return ['sm_90', 'sm_80'].map((arch) => async () => {
          const args = ['-cubin', `-arch=${arch}`, '-Xptxas', '-v', '-o', `${file}.${arch}.cubin`, file];
          let out: string;
          try {
            const r = await run(nvcc as string, args, { maxBuffer: 1 << 24 });
            out = r.stdout + r.stderr;
          } catch (e) {
            const err = e as { stderr?: string; message: string };
            return `${label} ${arch}: nvcc failed:\n${err.stderr ?? err.message}`;
          }
          const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? NaN);
          const spill = num(/(\d+) bytes spill stores/) + num(/(\d+) bytes spill loads/);
          const stack = num(/(\d+) bytes stack frame/);
          return spill === 0 && stack === 0
            ? ''
            : `${label} ${arch}: ${spill} spill bytes, ${stack} stack bytes`;
        });
      });
      const problems = (await twoAtATime(jobs)).filter((p) => p !== '');
      assert.deepEqual(problems, [], problems.join('\n'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
