// Foundation benchmark (GPU host): NVRTC compile of a GEMM, cubin load, and launch overhead of an empty kernel.
// Prints a table; `--json <file>` also writes the raw numbers. Not a test: numbers, not assertions.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { NvrtcCompiler, NvccCompiler } from '../src/compiler/index.js';
import { driver, KernelParamBlock } from '../src/cuda/index.js';
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
  const emptyImage = (
    await nvrtc.compile({ source: VECTOR_ADD_SOURCE, arch: device.arch, nameExpressions: ['empty6'] })
  ).image;
  const emptyMod = device.loadModule(emptyImage);
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
  // Interleaved rounds: the plain path, the cuLaunchKernelEx paths (cooperative, a cluster of 1) and a C loop over
  // cuLaunchKernel (bench/c/launch-loop.c, built here with the host's C compiler) on the same image, same arguments.
  const imagePath = join(mkdtempSync(join(tmpdir(), 'cuop-launch-')), 'empty6.cubin');
  writeFileSync(imagePath, emptyImage);
  const cLoop = buildCLoop();
  // The FFI floor: the same cuLaunchKernel through koffi with the parameter block packed once (no argument
  // handling, no context check); and that plus the context check, to split cuop's overhead in two.
  const packed = new KernelParamBlock(['ptr', 'ptr', 'ptr', 'i32', 'i32', 'f32']);
  [buf.devicePtr, buf.devicePtr, buf.devicePtr, 1, 2, 3].forEach((v, i) => packed.set(i, v));
  const rawLaunch = (): void => driver.launchKernel(k.handle, 1, 1, 1, 32, 1, 1, 0, 0n, packed.pointerArray);
  const rawLaunchCurrent = (): void => {
    device.makeCurrent();
    driver.launchKernel(k.handle, 1, 1, 1, 32, 1, 1, 0, 0n, packed.pointerArray);
  };
  /** A C loop's mode (bench/c/launch-loop.c): plain cuLaunchKernel, or cuLaunchKernelEx with one attribute. */
  type CMode = { c: 'plain' | 'coop' | 'cluster' };
  type Variant = Parameters<typeof k.launch>[0] | CMode | (() => void);
  const isC = (v: Variant): v is CMode => typeof v === 'object' && 'c' in v;
  const loop = (c: Exclude<Variant, CMode>, batches: number): number => {
    const xs: number[] = [];
    for (let b = 0; b < batches; b++) {
      const w = performance.now();
      if (typeof c === 'function') for (let i = 0; i < N; i++) c();
      else for (let i = 0; i < N; i++) k.launch(c, args);
      end.record();
      end.synchronize();
      xs.push(((performance.now() - w) * 1000) / N);
    }
    return median(xs);
  };
  const variants: [string, Variant][] = [
    ['koffi floor: cuLaunchKernel, block packed once', rawLaunch],
    ['koffi floor + context check (makeCurrent)', rawLaunchCurrent],
    ['plain (cuLaunchKernel)', cfg],
    ['cooperative (cuLaunchKernelEx)', { ...cfg, cooperative: true }],
    ...(device.computeCapability.major >= 9
      ? ([['cluster of 1 (cuLaunchKernelEx)', { ...cfg, cluster: 1 }]] as [string, Variant][])
      : []),
    ...(cLoop
      ? ([
          ['C loop over cuLaunchKernel', { c: 'plain' }],
          ['C loop, cooperative (cuLaunchKernelEx)', { c: 'coop' }],
          ...(device.computeCapability.major >= 9
            ? [['C loop, cluster of 1 (cuLaunchKernelEx)', { c: 'cluster' }]]
            : []),
        ] as [string, Variant][])
      : []),
  ];
  for (const [, c] of variants) if (!isC(c)) loop(c, 1); // warm each path
  const per: Record<string, number[]> = {};
  const ROUNDS = 5;
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, c] of variants) {
      const us = isC(c)
        ? Number(
            execFileSync(cLoop!, [imagePath, 'empty6', '5', String(N), c.c], { encoding: 'utf8' }).trim(),
          )
        : loop(c, 5);
      (per[name] ??= []).push(us);
    }
  }
  const cUs = per['C loop over cuLaunchKernel'] ? median(per['C loop over cuLaunchKernel']) : undefined;
  const plainUs = median(per['plain (cuLaunchKernel)']!);
  // An Ex path is also set beside the same attribute launched from C: what the driver's cuLaunchKernelEx costs
  // over cuLaunchKernel is not cuop's to remove.
  const cExUs = (name: string): number | undefined => {
    const key = name.startsWith('cooperative')
      ? 'C loop, cooperative (cuLaunchKernelEx)'
      : name.startsWith('cluster')
        ? 'C loop, cluster of 1 (cuLaunchKernelEx)'
        : undefined;
    return key && per[key] ? median(per[key]) : undefined;
  };
  for (const [name] of variants) {
    const us = median(per[name]!);
    results[`launchUs_${name}`] = us;
    const vsC = cUs ? `, ${(us / cUs).toFixed(2)}× C` : '';
    const cEx = name.startsWith('C ') ? undefined : cExUs(name);
    const vsPlain =
      name.includes('Ex') && !name.startsWith('C ')
        ? `, ${(us / plainUs).toFixed(2)}× plain${cEx ? `, ${(us / cEx).toFixed(2)}× its C loop` : ''}`
        : '';
    rows.push([
      `  ${name}, wall (median of ${ROUNDS} interleaved rounds × 5 × ${N})`,
      `${us.toFixed(2)} µs${vsC}${vsPlain}`,
    ]);
  }
  if (!cLoop) rows.push(['  C loop', 'not built: no cc, gcc or clang on this host']);
  rows.push(['cuInit + primary context (first use in process)', `${initMs.toFixed(1)} ms`]);

  console.log(`\ncuop foundation benchmark — ${device.name} (${device.arch}), NVRTC ${info.version}`);
  const w = Math.max(...rows.map((r) => r[0].length));
  for (const [a, b] of rows) console.log(`  ${a.padEnd(w)}  ${b}`);
  if (jsonPath) writeFileSync(jsonPath, JSON.stringify(results, null, 2));
  buf.dispose();
}

/** bench/c/launch-loop.c built with the first C compiler found, or undefined. */
function buildCLoop(): string | undefined {
  // build/bench/launch.js → bench/c (the offline bundle carries bench/ beside build/).
  const src = fileURLToPath(new URL('../../bench/c/launch-loop.c', import.meta.url));
  const out = join(mkdtempSync(join(tmpdir(), 'cuop-cloop-')), 'launch-loop');
  for (const cc of ['cc', 'gcc', 'clang']) {
    const r = spawnSync(cc, ['-O2', '-o', out, src, '-ldl'], { encoding: 'utf8' });
    if (r.status === 0) return out;
  }
  return undefined;
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
