// CPU tests of the GEMM source generator and of Gemm's validation. No GPU needed: the generated sources are compiled
// with nvcc (when it is installed) for sm_90 and sm_80, and validation runs against tensors over a fake device buffer
// (a plain object standing in for DeviceBuffer/Device: validation must reject before anything touches the device).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';

import {
  GEMM_CONFIGS,
  defaultGemmConfig,
  gemmAligned,
  gemmSource,
  validateGemmConfig,
  type GemmConfig,
  type GemmSpec,
} from '../../src/ops/gemm-source.js';
import { Gemm } from '../../src/ops/gemm.js';
import { Tensor, type DType } from '../../src/ops/tensor.js';
import type { DeviceBuffer } from '../../src/runtime/index.js';
import { assertShapeError, DTYPES, findNvcc, noJit, twoAtATime } from './helpers.js';

const run = promisify(execFile);
const TRANS: readonly [boolean, boolean][] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];
const large = (d: DType): GemmConfig => (d === 'float32' ? GEMM_CONFIGS.f32Large : GEMM_CONFIGS.mmaLarge);
const small = (d: DType): GemmConfig => (d === 'float32' ? GEMM_CONFIGS.f32Small : GEMM_CONFIGS.mmaSmall);
const spec = (
  dtype: DType,
  transA = false,
  transB = false,
  aligned = true,
  config = large(dtype),
): GemmSpec => ({
  dtype,
  transA,
  transB,
  aligned,
  config,
});

describe('gemmSource', () => {
  test('is deterministic: equal specs give byte-identical sources', () => {
    for (const d of DTYPES) {
      for (const [ta, tb] of TRANS) {
        const a = gemmSource(spec(d, ta, tb));
        const b = gemmSource({ ...spec(d, ta, tb), config: { ...large(d) } });
        assert.equal(a.source, b.source);
        assert.equal(a.name, b.name);
        assert.equal(a.sharedMemBytes, b.sharedMemBytes);
      }
    }
  });

  test('differs wherever the machine code must (dtype, transposes, tile config, alignment)', () => {
    const sources = new Set<string>();
    const names = new Set<string>();
    let n = 0;
    for (const d of DTYPES) {
      for (const [ta, tb] of TRANS) {
        for (const aligned of [true, false]) {
          for (const cfg of [large(d), small(d)]) {
            const g = gemmSource(spec(d, ta, tb, aligned, cfg));
            sources.add(g.source);
            names.add(g.name);
            n++;
          }
        }
      }
    }
    assert.equal(sources.size, n);
    assert.equal(names.size, n);
    // float32 ignores warps and stages, so they must not change its source; the tensor-core kernel uses them.
    const f = gemmSource(spec('float32'));
    assert.equal(
      gemmSource(spec('float32', false, false, true, { ...large('float32'), stages: 3 })).source,
      f.source,
    );
    const h = gemmSource(spec('float16'));
    assert.notEqual(
      gemmSource(spec('float16', false, false, true, { ...large('float16'), stages: 3 })).source,
      h.source,
    );
  });

  test('alpha and beta are run-time arguments: they do not change the source', () => {
    const p = { M: 300, N: 200, K: 100 };
    const ptrs = [0n, 256n, 512n];
    for (const d of DTYPES) {
      const s1 = gemmSource(new Gemm({ dtype: d }).specFor(p, ptrs, 132)).source;
      const s2 = gemmSource(new Gemm({ dtype: d, alpha: -2.5, beta: 0.75 }).specFor(p, ptrs, 132)).source;
      assert.equal(s1, s2);
    }
  });

  test('launch geometry', () => {
    const g = gemmSource(spec('float32'));
    assert.deepEqual(g.block, [256, 1, 1]);
    assert.deepEqual(g.grid(4096, 4096), [1024, 1, 1]);
    assert.deepEqual(g.grid(1, 1), [1, 1, 1]);
    assert.deepEqual(g.grid(129, 257), [2 * 3, 1, 1]);
    assert.equal(g.sharedMemBytes, 0);
    const h = gemmSource(spec('float16'));
    assert.deepEqual(h.block, [128, 1, 1]);
    // 4 stages of A 128×(32+8) and B 32×(128+8) halves
    assert.equal(h.sharedMemBytes, 4 * (128 * 40 + 32 * 136) * 2);
    assert.deepEqual(g.signature, ['ptr', 'ptr', 'ptr', 'i32', 'i32', 'i32', 'f32', 'f32']);
  });

  test('alignment flag and config choice', () => {
    assert.equal(gemmAligned('float32', false, false, 64, 64, 64, [0n, 16n, 32n]), true);
    assert.equal(gemmAligned('float32', false, false, 64, 64, 63, [0n, 16n, 32n]), false); // lda = K
    assert.equal(gemmAligned('float32', true, false, 63, 64, 64, [0n, 16n, 32n]), false); // lda = M
    assert.equal(gemmAligned('float32', false, false, 64, 64, 64, [0n, 8n, 32n]), false); // pointer
    assert.equal(gemmAligned('float16', false, false, 64, 68, 64, [0n, 16n, 32n]), false); // N % 8
    assert.equal(gemmAligned('float16', false, true, 64, 64, 64, [0n, 16n, 32n]), true);
    assert.deepEqual(defaultGemmConfig('float32', 4096, 4096), GEMM_CONFIGS.f32Large);
    assert.deepEqual(defaultGemmConfig('float32', 256, 256), GEMM_CONFIGS.f32Small);
    assert.deepEqual(defaultGemmConfig('float16', 4096, 4096), GEMM_CONFIGS.mmaWide);
    assert.deepEqual(defaultGemmConfig('float16', 2048, 2048), GEMM_CONFIGS.mmaLarge);
    assert.deepEqual(defaultGemmConfig('bfloat16', 512, 512), GEMM_CONFIGS.mmaSmall);
    assert.deepEqual(defaultGemmConfig('float16', 4096, 4096, 132, false), GEMM_CONFIGS.mmaLarge8);
    for (const c of Object.values(GEMM_CONFIGS)) {
      validateGemmConfig(c.warpsM === 0 ? 'float32' : 'float16', c);
    }
    assert.throws(() => validateGemmConfig('float16', { ...GEMM_CONFIGS.mmaLarge, bk: 16 }), RangeError);
    assert.throws(() => validateGemmConfig('float16', { ...GEMM_CONFIGS.mmaLarge, warpsM: 3 }), RangeError);
    assert.throws(() => validateGemmConfig('float32', { ...GEMM_CONFIGS.f32Large, bm: 100 }), RangeError);
  });
});

// ---- nvcc compile checks ----------------------------------------------------------------------------------------

const nvcc = findNvcc([process.env.NVCC, 'nvcc', '/usr/local/cuda/bin/nvcc', '/usr/local/bin/nvcc']);

interface Compiled {
  readonly name: string;
  readonly arch: string;
  readonly registers: number;
  readonly spillBytes: number;
  readonly stackBytes: number;
}

async function compileAll(
  specs: readonly GemmSpec[],
  archs: readonly string[],
  dir: string,
): Promise<Compiled[]> {
  const jobs: (() => Promise<Compiled>)[] = [];
  for (const s of specs) {
    const g = gemmSource(s);
    const file = join(dir, g.programName);
    writeFileSync(file, g.source);
    for (const arch of archs) {
      jobs.push(async () => {
        const args = [
          '-cubin',
          `-arch=${arch}`,
          '-Xptxas',
          '-v',
          '-o',
          join(dir, `${g.name}.${arch}.cubin`),
          file,
        ];
        let out: string;
        try {
          const r = await run(nvcc as string, args, { maxBuffer: 1 << 24 });
          out = r.stdout + r.stderr;
        } catch (e) {
          const err = e as { stderr?: string; message: string };
          throw new Error(`nvcc ${arch} failed for ${g.name}:\n${err.stderr ?? err.message}`, { cause: e });
        }
        const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? NaN);
        return {
          name: g.name,
          arch,
          registers: num(/Used (\d+) registers/),
          spillBytes: num(/(\d+) bytes spill stores/) + num(/(\d+) bytes spill loads/),
          stackBytes: num(/(\d+) bytes stack frame/),
        };
      });
    }
  }
  return twoAtATime(jobs);
}

describe('generated sources compile with nvcc', { skip: nvcc ? false : 'nvcc not found' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'cuop-gemm-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('all dtypes × transposes × alignment with the default tiles, and the other configs; sm_90 and sm_80', async () => {
    // The configurations Gemm picks by default (large and small tiles, aligned and not) must not spill.
    const main: GemmSpec[] = [];
    for (const d of DTYPES) {
      for (const [ta, tb] of TRANS) {
        for (const aligned of [true, false]) {
          main.push({ ...spec(d, ta, tb, aligned), config: defaultGemmConfig(d, 4096, 4096, 132, aligned) });
        }
        main.push(spec(d, ta, tb, ta === tb, small(d)));
      }
    }
    // Other configurations (benchmark sweep, user overrides): must compile; spills are reported, not failed.
    const others: GemmSpec[] = [
      spec('float32', false, false, true, GEMM_CONFIGS.f32Large16),
      spec('float32', true, true, false, GEMM_CONFIGS.f32Medium),
      spec('float16', false, false, true, GEMM_CONFIGS.mmaWide),
      spec('bfloat16', false, true, true, GEMM_CONFIGS.mmaLarge8),
      spec('float16', false, false, true, GEMM_CONFIGS.mmaLarge64),
      spec('bfloat16', true, false, false, GEMM_CONFIGS.mmaLarge),
    ];
    const results = await compileAll([...main, ...others], ['sm_90', 'sm_80'], dir);
    assert.equal(results.length, (main.length + others.length) * 2);
    const mainNames = new Set(main.map((s) => gemmSource(s).name));
    const bad = results.filter(
      (r) => !(r.registers > 0 && (!mainNames.has(r.name) || (r.spillBytes === 0 && r.stackBytes === 0))),
    );
    assert.deepEqual(
      bad,
      [],
      `spills, stack frames or unparsed ptxas output:\n${JSON.stringify(bad, null, 1)}`,
    );
    const f32 = results.find((r) => r.name.startsWith('cuop_gemm_f32_nn_128x128x8_v4') && r.arch === 'sm_90');
    assert.ok(f32 && f32.registers <= 128, `f32 main kernel uses ${f32?.registers} registers (cap 128)`);
    for (const r of results) {
      if (!mainNames.has(r.name) && r.spillBytes > 0) {
        console.log(
          `# note: ${r.name} (${r.arch}) spills ${r.spillBytes} bytes (not a default configuration)`,
        );
      }
    }
  });
});

// ---- validation (no GPU) -----------------------------------------------------------------------------------------

// A stand-in for a Device and its buffers: enough for Tensor's constructor and Gemm.validate; any real device access
// would throw.
const fakeDevice = (name: string): unknown =>
  new Proxy(
    { name, multiprocessorCount: 132 },
    {
      get(t, k) {
        if (k in t) return t[k as keyof typeof t];
        if (k === 'then') return undefined;
        throw new Error(`fake device: ${String(k)} touched`);
      },
    },
  );
const dev0 = fakeDevice('fake0');
const dev1 = fakeDevice('fake1');
const fakeTensor = (shape: number[], dtype: DType = 'float32', device: unknown = dev0): Tensor => {
  const buffer = {
    device,
    byteLength: 1 << 30,
    get devicePtr(): bigint {
      throw new Error('fake buffer: devicePtr touched');
    },
  } as unknown as DeviceBuffer;
  return new Tensor(buffer, shape, dtype);
};

describe('Gemm.forward validation (fake device, no GPU)', () => {
  const rejects = (op: Gemm, inputs: Tensor[], outputs: Tensor[], re: RegExp): Promise<void> =>
    assertShapeError(() => op.forward(inputs, outputs, { jit: noJit }), re);

  test('inner dimensions must agree (for every transpose combination)', async () => {
    await rejects(
      new Gemm(),
      [fakeTensor([4, 5]), fakeTensor([6, 7])],
      [fakeTensor([4, 7])],
      /inner dimensions/,
    );
    await rejects(
      new Gemm({ transA: true }),
      [fakeTensor([4, 5]), fakeTensor([5, 7])],
      [fakeTensor([5, 7])],
      /inner dimensions/,
    );
    await rejects(
      new Gemm({ transB: true }),
      [fakeTensor([4, 5]), fakeTensor([5, 7])],
      [fakeTensor([4, 7])],
      /inner dimensions/,
    );
  });

  test('C must be M×N', async () => {
    await rejects(
      new Gemm(),
      [fakeTensor([4, 5]), fakeTensor([5, 7])],
      [fakeTensor([7, 4])],
      /C must be 4×7/,
    );
    await rejects(
      new Gemm({ transA: true, transB: true }),
      [fakeTensor([5, 4]), fakeTensor([7, 5])],
      [fakeTensor([4, 5])],
      /C must be 4×7/,
    );
  });

  test('rank 2 only', async () => {
    await rejects(
      new Gemm(),
      [fakeTensor([4, 5, 1]), fakeTensor([5, 7])],
      [fakeTensor([4, 7])],
      /A must be a matrix/,
    );
    await rejects(
      new Gemm(),
      [fakeTensor([4, 5]), fakeTensor([5])],
      [fakeTensor([4, 7])],
      /B must be a matrix/,
    );
    await rejects(
      new Gemm(),
      [fakeTensor([4, 5]), fakeTensor([5, 7])],
      [fakeTensor([28])],
      /C must be a matrix/,
    );
  });

  test('dtypes must match the operator', async () => {
    await rejects(
      new Gemm({ dtype: 'float16' }),
      [fakeTensor([4, 5], 'float16'), fakeTensor([5, 7], 'bfloat16')],
      [fakeTensor([4, 7], 'float16')],
      /B is bfloat16 but this Gemm is float16/,
    );
    await rejects(
      new Gemm(),
      [fakeTensor([4, 5]), fakeTensor([5, 7])],
      [fakeTensor([4, 7], 'float16')],
      /C is float16 but this Gemm is float32/,
    );
  });

  test('input and output counts, contiguity, one device', async () => {
    await rejects(new Gemm(), [fakeTensor([4, 5])], [fakeTensor([4, 7])], /2 inputs/);
    await rejects(new Gemm(), [fakeTensor([4, 5]), fakeTensor([5, 7])], [], /1 output/);
    const strided = new Tensor(
      { device: dev0, byteLength: 1 << 20 } as unknown as DeviceBuffer,
      [4, 5],
      'float32',
      [1, 4],
    );
    await rejects(new Gemm(), [strided, fakeTensor([5, 7])], [fakeTensor([4, 7])], /contiguous/);
    await rejects(
      new Gemm(),
      [fakeTensor([4, 5]), fakeTensor([5, 7], 'float32', dev1)],
      [fakeTensor([4, 7])],
      /same device/,
    );
  });

  test('a valid problem passes validation', () => {
    const op = new Gemm({ transA: true });
    assert.deepEqual(op.validate([fakeTensor([5, 4]), fakeTensor([5, 7])], [fakeTensor([4, 7])]), {
      M: 4,
      N: 7,
      K: 5,
    });
  });
});
