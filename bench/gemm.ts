// GEMM throughput: C = A·B (row-major, no transposes) for float32 (FFMA), float16 and bfloat16 (tensor cores) at
// 1024³, 2048³, 4096³, plus a sweep of the tile configurations at the largest size. Each point: compile and warm up,
// then the median of --iters launches, each timed alone with a pair of events (behind untimed launches that keep the
// GPU busy, so host overhead is excluded), rotating among input sets so no launch reads what the previous one left in L2.
//
//   node build/bench/gemm.js [--json out.json] [--sizes 1024,2048,4096] [--dtypes float32,float16,bfloat16]
//                            [--iters 30] [--no-sweep]
import { writeFileSync } from 'node:fs';

import { defaultKernelProvider } from '../src/jit/default-provider.js';
import { GEMM_CONFIGS, defaultGemmConfig, gemmSource, type GemmConfig } from '../src/ops/gemm-source.js';
import { Gemm, kernelSpecOf } from '../src/ops/gemm.js';
import { Tensor, encodeHost, type DType } from '../src/ops/tensor.js';
import { Device, f32, i32 } from '../src/runtime/index.js';

interface Args {
  json: string | undefined;
  sizes: number[];
  dtypes: DType[];
  iters: number;
  sweep: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = {
    json: undefined,
    sizes: [1024, 2048, 4096],
    dtypes: ['float32', 'float16', 'bfloat16'],
    iters: 30,
    sweep: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    const takesValue = ['--json', '--sizes', '--dtypes', '--iters'].includes(k ?? '');
    if (takesValue && v === undefined) throw new Error(`${k} needs a value`);
    if (takesValue) i++;
    if (k === '--json') a.json = v;
    else if (k === '--sizes') a.sizes = (v as string).split(',').map(Number);
    else if (k === '--dtypes') a.dtypes = (v as string).split(',') as DType[];
    else if (k === '--iters') a.iters = Math.max(20, Number(v));
    else if (k === '--no-sweep') a.sweep = false;
    else throw new Error(`unknown argument ${k}`);
  }
  return a;
}

interface Result {
  dtype: DType;
  M: number;
  N: number;
  K: number;
  config: string;
  default: boolean;
  medianMs: number;
  minMs: number;
  tflops: number;
}

const configLabel = (c: GemmConfig, dtype: DType): string =>
  dtype === 'float32'
    ? `${c.bm}x${c.bn}x${c.bk}`
    : `${c.bm}x${c.bn}x${c.bk}/w${c.warpsM}x${c.warpsN}/s${c.stages}`;

function randomTensor(device: Device, rows: number, cols: number, dtype: DType, seed: number): Tensor {
  const n = rows * cols;
  const v = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = s / 2147483648 - 1;
  }
  const t = Tensor.empty(device, [rows, cols], dtype);
  t.buffer.upload(encodeHost(v, dtype));
  return t;
}

/**
 * Median device time of one launch. The kernel is fetched once (the first forward compiles it and raises its shared
 * memory limit) and launched directly; before each timed launch a few untimed ones are queued so that the GPU is
 * still busy while the host records the start event and launches: the events then bracket the kernel alone, not the
 * host's launch overhead.
 */
async function measure(
  device: Device,
  dtype: DType,
  config: GemmConfig,
  sets: readonly [Tensor, Tensor][],
  C: Tensor,
  iters: number,
): Promise<{ medianMs: number; minMs: number }> {
  const op = new Gemm({ dtype, config });
  const [A0, B0] = sets[0] as [Tensor, Tensor];
  await op.forward([A0, B0], [C]); // compiles, sets the shared-memory limit
  const problem = op.validate([A0, B0], [C]);
  const gen = gemmSource(
    op.specFor(problem, [A0.devicePtr, B0.devicePtr, C.devicePtr], device.multiprocessorCount),
  );
  const kernel = await defaultKernelProvider().kernel(kernelSpecOf(gen), device);
  const cfg = { grid: gen.grid(problem.M, problem.N), block: gen.block, sharedMem: gen.sharedMemBytes };
  const launch = (i: number): void => {
    const [A, B] = sets[i % sets.length] as [Tensor, Tensor];
    kernel.launch(cfg, [A, B, C, i32(problem.M), i32(problem.N), i32(problem.K), f32(1), f32(0)]);
  };
  for (let i = 0; i < 3; i++) launch(i);
  device.synchronize();
  const fillers = problem.M >= 4096 ? 1 : problem.M >= 2048 ? 3 : 12;
  const start = device.createEvent();
  const stop = device.createEvent();
  const times: number[] = [];
  for (let i = 0; i < iters; i++) {
    for (let f = 0; f < fillers; f++) launch(i + fillers - f); // the last filler reads another set than launch(i)
    start.record();
    launch(i);
    stop.record();
    stop.synchronize();
    times.push(stop.elapsedSince(start));
  }
  start.dispose();
  stop.dispose();
  times.sort((x, y) => x - y);
  return { medianMs: times[Math.floor(times.length / 2)] as number, minMs: times[0] as number };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const device = Device.get(0);
  const sms = device.multiprocessorCount;
  console.log(`${device.name} (${device.arch}, ${sms} SMs)`);
  const results: Result[] = [];
  const largest = Math.max(...args.sizes);
  for (const dtype of args.dtypes) {
    for (const size of args.sizes) {
      const nSets = size >= 4096 ? 2 : 3;
      const sets: [Tensor, Tensor][] = [];
      for (let s = 0; s < nSets; s++) {
        sets.push([
          randomTensor(device, size, size, dtype, 17 + 2 * s),
          randomTensor(device, size, size, dtype, 18 + 2 * s),
        ]);
      }
      const C = Tensor.empty(device, [size, size], dtype);
      const def = defaultGemmConfig(dtype, size, size, sms);
      const configs: GemmConfig[] = [def];
      if (args.sweep && size === largest) {
        const pool =
          dtype === 'float32'
            ? [GEMM_CONFIGS.f32Large, GEMM_CONFIGS.f32Large16, GEMM_CONFIGS.f32Medium, GEMM_CONFIGS.f32Small]
            : [
                GEMM_CONFIGS.mmaLarge,
                GEMM_CONFIGS.mmaLarge8,
                GEMM_CONFIGS.mmaWide,
                GEMM_CONFIGS.mmaLarge64,
                GEMM_CONFIGS.mmaSmall,
              ];
        for (const c of pool) if (configLabel(c, dtype) !== configLabel(def, dtype)) configs.push(c);
      }
      for (const config of configs) {
        const label = configLabel(config, dtype);
        try {
          const { medianMs, minMs } = await measure(device, dtype, config, sets, C, args.iters);
          const tflops = (2 * size ** 3) / (medianMs * 1e-3) / 1e12;
          results.push({
            dtype,
            M: size,
            N: size,
            K: size,
            config: label,
            default: config === def,
            medianMs,
            minMs,
            tflops,
          });
          console.log(
            `${dtype.padEnd(9)} ${String(size).padStart(5)}³  ${label.padEnd(20)} ${config === def ? '*' : ' '} ` +
              `median ${medianMs.toFixed(3).padStart(8)} ms  min ${minMs.toFixed(3).padStart(8)} ms  ` +
              `${tflops.toFixed(1).padStart(6)} TFLOP/s`,
          );
        } catch (e) {
          console.log(`${dtype} ${size}³ ${label}: failed: ${(e as Error).message}`);
        }
      }
      for (const [A, B] of sets) {
        A.dispose();
        B.dispose();
      }
      C.dispose();
    }
  }
  console.log('(* = the configuration Gemm picks by default for that shape)');
  if (args.json) {
    writeFileSync(
      args.json,
      JSON.stringify({ tool: 'cuop', device: device.name, arch: device.arch, sms, results }, null, 2) + '\n',
    );
    console.log(`wrote ${args.json}`);
  }
}

await main();
