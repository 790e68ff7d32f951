// Foundation benchmark (GPU host): NVRTC compile of a GEMM, cubin load, and launch overhead of an empty kernel.
// Prints a table; `--json <file>` also writes the raw numbers. Not a test: numbers, not assertions.
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

import { NvrtcCompiler, NvccCompiler } from '../src/compiler/index.js';
import { driver } from '../src/cuda/index.js';
import { Device, f32, i32 } from '../src/runtime/index.js';
import { TILED_GEMM_SOURCE, VECTOR_ADD_SOURCE } from '../src/cli/sample-kernels.js';

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

async function main(): Promise<void> {
  const jsonPath = process.argv.includes('--json')
    ? process.argv[process.argv.indexOf('--json') + 1]
    : undefined;
  const t0 = performance.now();
  const device = Device.get(0);
  device.makeCurrent();
  const initMs = performance.now() - t0;
  const nvrtc = new NvrtcCompiler();
  const info = await nvrtc.info();
  const rows: [string, string][] = [];
  const results: Record<string, number | string> = {
    device: device.name,
    arch: device.arch,
    nvrtc: info.version,
  };
  results['driverVersion'] = driver.driverVersion();
  results['initAndContextMs'] = initMs;

  // NVRTC compile of the GEMM: each run a fresh program (nothing cached anywhere).
  const compileMs: number[] = [];
  let cubin: Buffer | undefined;
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    const res = await nvrtc.compile({
      source: TILED_GEMM_SOURCE,
      arch: device.arch,
      nameExpressions: ['tiled_gemm<16>'],
    });
    compileMs.push(performance.now() - t);
    cubin = res.image;
  }
  results['nvrtcCompileGemmMs'] = median(compileMs);
  results['gemmCubinBytes'] = cubin!.length;
  rows.push(['NVRTC compile, GEMM → cubin (median of 5)', `${median(compileMs).toFixed(1)} ms`]);
  try {
    const nvcc = new NvccCompiler();
    const t = performance.now();
    await nvcc.compile({ source: TILED_GEMM_SOURCE, arch: device.arch, nameExpressions: ['tiled_gemm<16>'] });
    results['nvccCompileGemmMs'] = performance.now() - t;
    rows.push(['nvcc subprocess compile, same GEMM (1 run)', `${(performance.now() - t).toFixed(1)} ms`]);
  } catch (e) {
    rows.push(['nvcc subprocess compile', `unavailable: ${(e as Error).message.split('\n')[0]}`]);
  }

  // cubin load: first load in this process, then repeated load+unload.
  let t = performance.now();
  let mod = device.loadModule(cubin!);
  const firstLoadMs = performance.now() - t;
  mod.unload();
  const loadMs: number[] = [];
  for (let r = 0; r < 50; r++) {
    t = performance.now();
    mod = device.loadModule(cubin!);
    loadMs.push(performance.now() - t);
    mod.unload();
  }
  results['cubinFirstLoadMs'] = firstLoadMs;
  results['cubinLoadMs'] = median(loadMs);
  rows.push(['cubin load (cuModuleLoadData), first in process', `${firstLoadMs.toFixed(3)} ms`]);
  rows.push(['cubin load, repeated (median of 50)', `${median(loadMs).toFixed(3)} ms`]);

  // Launch overhead: empty kernel, 6 arguments, batches of 10 000 launches, each batch synchronized.
  const emptyMod = device.loadModule(
    (await nvrtc.compile({ source: VECTOR_ADD_SOURCE, arch: device.arch, nameExpressions: ['empty6'] }))
      .image,
  );
  const k = emptyMod.getKernel('empty6');
  const buf = device.alloc(1024);
  const args = [buf, buf, buf, i32(1), i32(2), f32(3)];
  const cfg = { grid: 1, block: 32 } as const;
  for (let i = 0; i < 2000; i++) k.launch(cfg, args);
  device.synchronize();
  const perLaunchWall: number[] = [];
  const perLaunchEvent: number[] = [];
  const start = device.createEvent();
  const end = device.createEvent();
  const N = 10_000;
  for (let b = 0; b < 15; b++) {
    start.record();
    const w = performance.now();
    for (let i = 0; i < N; i++) k.launch(cfg, args);
    end.record();
    end.synchronize();
    perLaunchWall.push(((performance.now() - w) * 1000) / N);
    perLaunchEvent.push((end.elapsedSince(start) * 1000) / N);
  }
  results['launchUsWall'] = median(perLaunchWall);
  results['launchUsEvents'] = median(perLaunchEvent);
  rows.push([
    `empty kernel launch, 6 args, wall (median of 15 × ${N})`,
    `${median(perLaunchWall).toFixed(2)} µs`,
  ]);
  rows.push([
    `empty kernel launch, 6 args, events (median of 15 × ${N})`,
    `${median(perLaunchEvent).toFixed(2)} µs`,
  ]);
  // The cuLaunchKernelEx paths (a cooperative launch, a cluster of 1) on the same kernel, same loop.
  const variant = (name: string, c: Parameters<typeof k.launch>[0]): void => {
    for (let i = 0; i < 2000; i++) k.launch(c, args);
    device.synchronize();
    const xs: number[] = [];
    for (let b = 0; b < 15; b++) {
      const w = performance.now();
      for (let i = 0; i < N; i++) k.launch(c, args);
      end.record();
      end.synchronize();
      xs.push(((performance.now() - w) * 1000) / N);
    }
    results[`launchUsWall_${name}`] = median(xs);
    rows.push([`  ${name} launch, 6 args, wall (median of 15 × ${N})`, `${median(xs).toFixed(2)} µs`]);
  };
  variant('plain again', cfg);
  variant('cooperative (cuLaunchKernelEx)', { ...cfg, cooperative: true });
  if (device.computeCapability.major >= 9) variant('cluster of 1 (cuLaunchKernelEx)', { ...cfg, cluster: 1 });
  rows.push(['cuInit + primary context (first use in process)', `${initMs.toFixed(1)} ms`]);

  console.log(`\ncuop foundation benchmark — ${device.name} (${device.arch}), NVRTC ${info.version}`);
  const w = Math.max(...rows.map((r) => r[0].length));
  for (const [a, b] of rows) console.log(`  ${a.padEnd(w)}  ${b}`);
  if (jsonPath) writeFileSync(jsonPath, JSON.stringify(results, null, 2));
  buf.dispose();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
