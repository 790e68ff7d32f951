// The first kernel of a fresh process, from a warm disk cache, against the raw floor, on the GPU host. Each sample
// is a new process (the costs measured here are one-time costs of a process); kinds alternate so drift hits both.
//   raw    read the cubin file + cuModuleLoadData + cuModuleGetFunction: no key, no metadata, no verification
//          (the floor of DESIGN.md: "read file + load + get function")
//   cuop   `await jit.kernel(spec, device)` for the Gemm f32 1024³ kernel: key, metadata, SHA-256 check, load,
//          get function; then the same for the f16 kernel (the process's second kernel), and the bf16 kernel
//          timed in steps (disk hit to the image, module load, get function) to show where a further kernel goes
// Driver init and the context come first in both and are not counted. The headline for cuop is cache open + first
// kernel: what a process pays to use the cache at all, against a floor that opens no cache.
// `--kernel tiled` uses the small sample kernel tiled_gemm<16> (then tiled_gemm<32>) instead of Gemm's.
// `--libs build,dist,dist-nocache` runs the cuop child with tsc's modules, the package entry (dist/index.js, with V8's
// code cache in the bench's cache dir) and that entry with CUOP_CODE_CACHE=0, alternating; the first is the headline.
// Usage: node build/bench/first-kernel.js [samples=9] [--kernel gemm|tiled] [--libs …] [--keep dir] [--json out.json]
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { KernelCache } from '../src/cache/index.js';
import { driver } from '../src/cuda/index.js';
import { JitCompiler } from '../src/jit/index.js';
import { Gemm, kernelSpecOf } from '../src/ops/gemm.js';
import { gemmSource } from '../src/ops/gemm-source.js';
import { TILED_GEMM_SOURCE } from '../src/cli/sample-kernels.js';
import type { KernelSpec } from '../src/jit/index.js';
import { Device } from '../src/runtime/index.js';

const N = 1024;

type KernelChoice = 'gemm' | 'tiled';

function gemmSpec(device: Device, dtype: 'float32' | 'float16' | 'bfloat16'): KernelSpec {
  const gen = gemmSource(
    new Gemm({ dtype }).specFor({ M: N, N, K: N }, [0n, 0n, 0n], device.multiprocessorCount),
  );
  return kernelSpecOf(gen);
}

/** The process's first, second and third kernel (the third is timed step by step). */
function specsOf(device: Device, choice: KernelChoice): [KernelSpec, KernelSpec, KernelSpec] {
  if (choice === 'tiled') {
    return [
      { source: TILED_GEMM_SOURCE, name: 'tiled_gemm<16>' },
      { source: TILED_GEMM_SOURCE, name: 'tiled_gemm<32>' },
      { source: TILED_GEMM_SOURCE, name: 'tiled_gemm<8>' },
    ];
  }
  return [gemmSpec(device, 'float32'), gemmSpec(device, 'float16'), gemmSpec(device, 'bfloat16')];
}

/**
 * The library a cuop child runs: tsc's modules, the package entry users import (dist/index.js, with V8's code cache
 * of its bundle), or that entry with the code cache off (CUOP_CODE_CACHE=0).
 */
type LibChoice = 'build' | 'dist' | 'dist-nocache';

interface Lib {
  KernelCache: typeof KernelCache;
  JitCompiler: typeof JitCompiler;
  Device: typeof Device;
}

async function childCuop(
  dir: string,
  choice: KernelChoice,
  libChoice: LibChoice,
): Promise<Record<string, number>> {
  const tImport = performance.now();
  const lib: Lib =
    libChoice === 'build'
      ? { KernelCache, JitCompiler, Device }
      : ((await import(new URL('../../dist/index.js', import.meta.url).href)) as Lib);
  const importMs = performance.now() - tImport;
  const device = lib.Device.get(0);
  device.makeCurrent();
  const t0 = performance.now();
  const jit = new lib.JitCompiler({ cache: new lib.KernelCache({ dir }) });
  await jit.compilerInfo();
  const t1 = performance.now();
  const specs = specsOf(device, choice);
  const t2 = performance.now();
  await jit.kernel(specs[0], device);
  const t3 = performance.now();
  await jit.kernel(specs[1], device);
  const t4 = performance.now();
  // The third kernel in steps: the cache's disk hit to the image, then the module load and the function.
  const third = await jit.compile(specs[2], device.arch, device);
  const t5 = performance.now();
  const mod = device.loadModule(third.entry.image);
  const t6 = performance.now();
  mod.getKernel(third.entry.meta.loweredNames[specs[2].name] ?? specs[2].name);
  const t7 = performance.now();
  const s = jit.getStats().process;
  if (s.hits.disk !== 3 || s.compiles !== 0)
    throw new Error(`expected 3 disk hits: ${JSON.stringify(s.hits)}`);
  await jit.cache.close();
  return {
    importMs,
    openMs: t1 - t0,
    firstKernelMs: t3 - t2,
    openPlusFirstMs: t1 - t0 + (t3 - t2),
    secondKernelMs: t4 - t3,
    thirdLookupMs: t5 - t4,
    thirdLoadMs: t6 - t5,
    thirdGetFunctionMs: t7 - t6,
  };
}

function childRaw(cubinPath: string, symbol: string): Record<string, number> {
  const device = Device.get(0);
  device.makeCurrent();
  const t0 = performance.now();
  const image = readFileSync(cubinPath);
  const mod = driver.moduleLoadData(image);
  const fn = driver.moduleGetFunction(mod, symbol);
  const t1 = performance.now();
  if (!fn) throw new Error('no function');
  return { firstKernelMs: t1 - t0 };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child-cuop') {
    console.log(
      JSON.stringify(
        await childCuop(argv[1] as string, argv[2] as KernelChoice, (argv[3] ?? 'build') as LibChoice),
      ),
    );
    return;
  }
  if (argv[0] === '--child-raw') {
    console.log(JSON.stringify(childRaw(argv[1] as string, argv[2] as string)));
    return;
  }
  const samples = Number(argv.find((a) => /^\d+$/.test(a)) ?? 9);
  const jsonAt = argv.indexOf('--json');
  const kernelAt = argv.indexOf('--kernel');
  const choice: KernelChoice = kernelAt >= 0 && argv[kernelAt + 1] === 'tiled' ? 'tiled' : 'gemm';
  const keepAt = argv.indexOf('--keep');
  const dir = keepAt >= 0 ? (argv[keepAt + 1] as string) : mkdtempSync(join(tmpdir(), 'cuop-first-'));
  try {
    // Fill the cache (NVRTC when present) and find the f32 entry's file for the raw floor.
    const device = Device.get(0);
    const jit = new JitCompiler({ cache: new KernelCache({ dir }) });
    const lookups = [];
    for (const spec of specsOf(device, choice)) {
      lookups.push({ spec, lookup: await jit.compile(spec, device.arch, device) });
    }
    await jit.cache.close();
    const { spec, lookup } = lookups[0]!;
    const cubin = join(dir, 'kernels', lookup.key.slice(0, 2), `${lookup.key}.cubin`);
    const symbol = lookup.entry.meta.loweredNames[spec.name] ?? spec.name;
    const self = fileURLToPath(import.meta.url);
    const env = { ...process.env, CUOP_CACHE_DIR: dir };
    const run = (args: string[]): Record<string, number> =>
      JSON.parse(
        execFileSync(process.execPath, [self, ...args], {
          encoding: 'utf8',
          env: args[3] === 'dist-nocache' ? { ...env, CUOP_CODE_CACHE: '0' } : env,
        }),
      ) as Record<string, number>;
    const libAt = argv.indexOf('--libs');
    const libs = (libAt >= 0 ? (argv[libAt + 1] as string).split(',') : ['build']) as LibChoice[];
    // The code cache is made by the first process that runs without one (at its exit): one untimed run first.
    if (libs.includes('dist')) run(['--child-cuop', dir, choice, 'dist']);
    const raw: Record<string, number>[] = [];
    const byLib = new Map<LibChoice, Record<string, number>[]>(libs.map((l) => [l, []]));
    for (let i = 0; i < samples; i++) {
      raw.push(run(['--child-raw', cubin, symbol]));
      for (const l of libs) byLib.get(l)!.push(run(['--child-cuop', dir, choice, l]));
    }
    const cuop = byLib.get(libs[0]!)!;
    const col = (rows: Record<string, number>[], k: string) => rows.map((r) => r[k] as number);
    const result = {
      samples,
      kernel: spec.name,
      imageBytes: lookup.entry.image.length,
      compiler: lookup.entry.meta.compiler,
      rawFirstKernelMs: median(col(raw, 'firstKernelMs')),
      cuopOpenPlusFirstMs: median(col(cuop, 'openPlusFirstMs')),
      cuopOpenMs: median(col(cuop, 'openMs')),
      cuopFirstKernelMs: median(col(cuop, 'firstKernelMs')),
      cuopSecondKernelMs: median(col(cuop, 'secondKernelMs')),
      cuopThirdLookupMs: median(col(cuop, 'thirdLookupMs')),
      cuopThirdLoadMs: median(col(cuop, 'thirdLoadMs')),
      cuopThirdGetFunctionMs: median(col(cuop, 'thirdGetFunctionMs')),
      byLib: Object.fromEntries(
        [...byLib].map(([l, rows]) => [
          l,
          {
            importMs: median(col(rows, 'importMs')),
            openPlusFirstMs: median(col(rows, 'openPlusFirstMs')),
            secondKernelMs: median(col(rows, 'secondKernelMs')),
          },
        ]),
      ),
      runs: { raw, byLib: Object.fromEntries(byLib) },
    };
    if (jsonAt >= 0) writeFileSync(argv[jsonAt + 1] as string, JSON.stringify(result, null, 2));
    const f = (x: number) => `${x.toFixed(3)} ms`;
    const what = choice === 'tiled' ? spec.name : `Gemm f32 ${N}³`;
    console.log(
      `fresh process, warm disk cache, ${what} kernel (${result.imageBytes} B cubin), median of ${samples}:`,
    );
    console.log(`  raw floor: read file + load + get function      ${f(result.rawFirstKernelMs)}`);
    console.log(`  cuop: cache open + first kernel, launch-ready   ${f(result.cuopOpenPlusFirstMs)}`);
    console.log(`    cache open (+ compiler identity)              ${f(result.cuopOpenMs)}`);
    console.log(`    first kernel, disk hit → launch-ready         ${f(result.cuopFirstKernelMs)}`);
    console.log(`  cuop: second kernel in that process             ${f(result.cuopSecondKernelMs)}`);
    console.log(`  cuop: third kernel, step by step`);
    console.log(`    disk hit → image (key, metadata, read, check) ${f(result.cuopThirdLookupMs)}`);
    console.log(`    cuModuleLoadData (through Module.load)        ${f(result.cuopThirdLoadMs)}`);
    console.log(`    cuModuleGetFunction (through getKernel)       ${f(result.cuopThirdGetFunctionMs)}`);
    if (libs.length > 1) {
      console.log(`  by library: import | open + first | ÷ floor | second | ÷ floor`);
      for (const [l, r] of Object.entries(result.byLib)) {
        const x = (v: number) => `${(v / result.rawFirstKernelMs).toFixed(2)}×`;
        console.log(
          `    ${l.padEnd(13)} ${f(r.importMs)} | ${f(r.openPlusFirstMs)} | ${x(r.openPlusFirstMs)} | ` +
            `${f(r.secondKernelMs)} | ${x(r.secondKernelMs)}`,
        );
      }
    }
  } finally {
    if (keepAt < 0) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
