import { test } from 'node:test';
import assert from 'node:assert/strict';

import { CudaError } from '../../src/cuda/errors.js';
import { NvrtcCompiler } from '../../src/compiler/index.js';
import {
  Device,
  f32,
  i32,
  KernelNotFoundError,
  LaunchArgumentError,
  type Module,
} from '../../src/runtime/index.js';
import {
  TILED_GEMM_SOURCE as TILED_GEMM,
  VECTOR_ADD_SOURCE as VECTOR_ADD,
} from '../../src/cli/sample-kernels.js';
import { gpuSkipReason, NAN_F32_BITS, randomArray, relativeError } from '../helpers.js';

const skip = gpuSkipReason;

async function load(
  device: Device,
  source: string,
  names: string[],
): Promise<{ mod: Module; lowered: Record<string, string> }> {
  const compiler = new NvrtcCompiler();
  const r = await compiler.compile({
    source,
    arch: device.arch,
    nameExpressions: names,
    programName: 'test.cu',
  });
  assert.equal(r.imageKind, 'cubin');
  return { mod: device.loadModule(r.image), lowered: { ...r.loweredNames } };
}

test('device properties', { skip }, () => {
  assert.ok(Device.count() >= 1);
  const d = Device.get(0);
  assert.match(d.arch, /^sm_\d+$/);
  assert.ok(d.multiprocessorCount > 0 && d.totalMemory > 2 ** 30, `${d.name}: ${d.multiprocessorCount} SMs`);
  assert.equal(Device.get(0), d);
  assert.throws(() => Device.get(Device.count()), RangeError);
  console.log(
    `# ${d.name} ${d.arch} ${d.multiprocessorCount} SMs ${(d.totalMemory / 2 ** 30).toFixed(1)} GiB`,
  );
});

test('vector add, odd sizes, fresh random inputs, poisoned output', { skip }, async () => {
  const device = Device.get(0);
  const { mod } = await load(device, VECTOR_ADD, ['vadd']);
  const k = mod.getKernel('vadd');
  for (const n of [1, 31, 1000, 65_537, 1_000_003]) {
    const a = randomArray(n);
    const b = randomArray(n);
    const alpha = Math.fround(Math.random() * 4 - 2);
    using da = device.upload(a);
    using db = device.upload(b);
    using dc = device.alloc(n * 4);
    dc.fillWords(NAN_F32_BITS);
    k.launch({ grid: Math.ceil(n / 256), block: 256 }, [da, db, dc, i32(n), f32(alpha)]);
    const c = dc.downloadAs(Float32Array);
    const ref = Array.from(a, (x, i) => x + alpha * (b[i] as number));
    const err = relativeError(c, ref);
    assert.ok(err <= 1e-6, `n=${n}: relative error ${err}`);
  }
});

test('tiled GEMM through a name expression, odd sizes vs float64 reference', { skip }, async () => {
  const device = Device.get(0);
  const { mod, lowered } = await load(device, TILED_GEMM, ['tiled_gemm<16>']);
  const name = lowered['tiled_gemm<16>'];
  assert.ok(name?.startsWith('_Z'), `lowered name ${name}`);
  if (!name) return;
  const k = mod.getKernel(name, ['ptr', 'ptr', 'ptr', 'i32', 'i32', 'i32']);
  for (const [M, N, K] of [
    [1, 1, 1],
    [17, 33, 65],
    [127, 129, 31],
    [256, 200, 300],
  ] as const) {
    const A = randomArray(M * K);
    const B = randomArray(K * N);
    using dA = device.upload(A);
    using dB = device.upload(B);
    using dC = device.alloc(M * N * 4);
    dC.fillWords(NAN_F32_BITS);
    k.launch({ grid: [Math.ceil(N / 16), Math.ceil(M / 16)], block: [16, 16] }, [dA, dB, dC, M, N, K]);
    const C = dC.downloadAs(Float32Array);
    const ref = new Float64Array(M * N);
    for (let i = 0; i < M; i++)
      for (let kk = 0; kk < K; kk++) {
        const a = A[i * K + kk] as number;
        for (let j = 0; j < N; j++)
          ref[i * N + j] = (ref[i * N + j] as number) + a * (B[kk * N + j] as number);
      }
    const err = relativeError(C, ref);
    assert.ok(err <= 1e-5, `${M}x${N}x${K}: relative error ${err}`);
  }
});

test('several streams run independent work; events time it', { skip }, async () => {
  const device = Device.get(0);
  const { mod } = await load(device, VECTOR_ADD, ['vadd']);
  const k = mod.getKernel('vadd');
  const n = 1 << 20;
  const streams = [device.createStream(), device.createStream({ nonBlocking: true }), device.createStream()];
  const inputs = streams.map(() => [randomArray(n), randomArray(n)] as const);
  const bufs = streams.map((s, i) => {
    const [a, b] = inputs[i]!;
    const da = device.alloc(n * 4).upload(a, s);
    const db = device.alloc(n * 4).upload(b, s);
    const dc = device.alloc(n * 4).fillWords(NAN_F32_BITS);
    return { da, db, dc };
  });
  const start = device.createEvent();
  const end = device.createEvent();
  start.record(streams[0]);
  streams.forEach((s, i) => {
    const { da, db, dc } = bufs[i]!;
    for (let r = 0; r < 10; r++)
      k.launch({ grid: n / 256, block: 256, stream: s }, [da, db, dc, i32(n), f32(i + 1)]);
  });
  end.record(streams[0]);
  for (const s of streams) s.synchronize();
  end.synchronize();
  const ms = end.elapsedSince(start);
  assert.ok(ms > 0 && ms < 10_000, `elapsed ${ms} ms`);
  streams.forEach((s, i) => {
    const [a, b] = inputs[i]!;
    const c = bufs[i]!.dc.downloadAs(Float32Array);
    const ref = Array.from(a, (x, j) => x + (i + 1) * (b[j] as number));
    assert.ok(relativeError(c, ref) <= 1e-6, `stream ${i}`);
    assert.ok(s.isIdle());
    bufs[i]!.da.dispose();
    bufs[i]!.db.dispose();
    bufs[i]!.dc.dispose();
    s.dispose();
  });
  start.dispose();
  end.dispose();
});

test('a bad launch configuration is a CudaError, not a crash', { skip }, async () => {
  const device = Device.get(0);
  const { mod } = await load(device, VECTOR_ADD, ['empty']);
  const k = mod.getKernel('empty');
  assert.throws(
    () => k.launch({ grid: 1, block: 4096 }, []),
    (e: unknown) => e instanceof CudaError && e.call === 'cuLaunchKernel' && /CUDA_ERROR_/.test(e.symbol),
  );
  assert.throws(
    () => k.launch({ grid: 1, block: 32, sharedMem: 1 << 30 }, []),
    (e: unknown) => e instanceof CudaError && e.call === 'cuLaunchKernel',
  );
  // The context survives: a correct launch still works.
  k.launch({ grid: 1, block: 32 }, []);
  device.synchronize();
});

test('arguments are checked against the kernel parameters before launch', { skip }, async () => {
  const device = Device.get(0);
  const { mod } = await load(device, VECTOR_ADD, ['vadd']);
  const k = mod.getKernel('vadd');
  using a = device.alloc(64);
  assert.throws(() => k.launch({ grid: 1, block: 1 }, [a, a, a, 4, f32(1)]), LaunchArgumentError); // plain number
  if (k.parameterSizes) {
    assert.deepEqual(k.parameterSizes, [8, 8, 8, 4, 4]);
    assert.throws(() => k.launch({ grid: 1, block: 1 }, [a, a, a, i32(4)]), LaunchArgumentError); // too few
    // An 8-byte integer where the kernel takes an int: the silent wrong result becomes an error.
    assert.throws(
      () => k.launch({ grid: 1, block: 1 }, [a, a, a, 4n, f32(1)]),
      (e: unknown) => e instanceof LaunchArgumentError && /4 bytes/.test(e.message),
    );
  }
  assert.ok(k.numRegisters > 0 && k.maxThreadsPerBlock >= 256);
});

test(
  'a missing kernel name is a KernelNotFoundError naming it, the driver error as its cause',
  { skip },
  async () => {
    const device = Device.get(0);
    const { mod } = await load(device, VECTOR_ADD, ['vadd']);
    assert.throws(
      () => mod.getKernel('no_such_kernel'),
      (e: unknown) =>
        e instanceof KernelNotFoundError &&
        e.kernel === 'no_such_kernel' &&
        e.cause instanceof CudaError &&
        e.cause.call.includes('no_such_kernel') &&
        e.cause.symbol === 'CUDA_ERROR_NOT_FOUND',
    );
  },
);

test(
  'a PTX image loads (the driver JIT-compiles it) and computes the same result as the cubin',
  { skip },
  async () => {
    const device = Device.get(0);
    const compiler = new NvrtcCompiler();
    const r = await compiler.compile({
      source: VECTOR_ADD,
      arch: device.arch,
      nameExpressions: ['vadd'],
      imageKind: 'ptx',
    });
    assert.equal(r.imageKind, 'ptx');
    assert.equal(r.image[r.image.length - 1], 0, 'PTX handed to the driver ends with NUL');
    assert.match(r.image.toString('latin1'), /\.entry vadd/);
    const k = device.loadModule(r.image).getKernel('vadd');
    const n = 4099;
    const a = randomArray(n);
    const b = randomArray(n);
    using da = device.upload(a);
    using db = device.upload(b);
    using dc = device.alloc(n * 4);
    dc.fillWords(NAN_F32_BITS);
    k.launch({ grid: Math.ceil(n / 128), block: 128 }, [da, db, dc, i32(n), f32(-0.5)]);
    const c = dc.downloadAs(Float32Array);
    assert.ok(
      relativeError(
        c,
        Array.from(a, (x, i) => x - 0.5 * (b[i] as number)),
      ) <= 1e-6,
    );
  },
);
