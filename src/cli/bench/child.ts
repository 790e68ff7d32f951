// The fresh processes of `cuop bench` (`cuop bench --child <task file>`): a restarted application's first kernel,
// one run of the hit-rate workload, and a cache filled with N entries for its memory and disk use. Each prints one
// JSON line.
import { readFileSync, readdirSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { KernelCache, type CacheStatsSnapshot, type KeySpec } from '../../cache/index.js';
import type { CompileResult } from '../../compiler/types.js';
import { JitCompiler } from '../../jit/jit-compiler.js';
import type { KernelSpec } from '../../jit/types.js';
import { Device } from '../../runtime/index.js';

interface CacheSetup {
  readonly cacheDir: string;
  readonly salt: string;
  /** Use the remote tier of the settings (CUOP_REMOTE_CACHE); false: local tiers only. */
  readonly remote: boolean;
}

/** A restarted application's first kernel: with a device, loaded on it; without, the image (no load). */
export interface LookupTask extends CacheSetup {
  readonly kind: 'lookup';
  readonly spec: KernelSpec;
  readonly arch: string;
  readonly launch: boolean;
}
export interface LookupResult {
  /** Cache opened → kernel ready (the device context was made before). */
  readonly ms: number;
  readonly tier: string;
  readonly key: string;
}

/** One run of the hit-rate workload: each spec looked up `calls` times, as an application would. */
export interface WorkloadTask extends CacheSetup {
  readonly kind: 'workload';
  readonly specs: readonly KernelSpec[];
  readonly calls: number;
  readonly arch: string;
  readonly launch: boolean;
}
export interface WorkloadResult {
  readonly stats: CacheStatsSnapshot;
}

/** `count` entries put through the cache, each with a copy of one real image; memory and disk they take. */
export interface StorageTask {
  readonly kind: 'storage';
  readonly cacheDir: string;
  readonly count: number;
  readonly imageFile: string;
  readonly spec: KeySpec;
  readonly kernelName: string;
}
export interface StorageResult {
  /** Heap + buffers the process grew by, after GC (the memory tier holding every entry). */
  readonly memoryBytes: number;
  readonly rssBytes: number;
  /** Blocks the cache directory takes on disk, and the files' sizes. */
  readonly diskBytes: number;
  readonly apparentBytes: number;
  readonly files: number;
  readonly populateMs: number;
  readonly imageBytes: number;
}

export type ChildTask = LookupTask | WorkloadTask | StorageTask;

const quiet = { debug: () => {}, warn: (m: string) => console.error(`cuop: ${m}`) };

export async function runChildTask(file: string): Promise<number> {
  const task = JSON.parse(readFileSync(file, 'utf8')) as ChildTask;
  let out: unknown;
  if (task.kind === 'lookup') out = await lookup(task);
  else if (task.kind === 'workload') out = await workload(task);
  else out = await storage(task);
  console.log(JSON.stringify(out));
  return 0;
}

function openCache(t: CacheSetup, policy: Record<string, number> = {}): KernelCache {
  return new KernelCache({
    dir: t.cacheDir,
    logger: quiet,
    policy: { salt: t.salt, maintenanceIntervalMs: 0, ...policy },
    ...(t.remote ? {} : { remote: false }),
  });
}

async function lookup(t: LookupTask): Promise<LookupResult> {
  const device = t.launch ? Device.get(0) : undefined;
  // Device.get only names the GPU; the primary context (cuInit + retain, ~200 ms on an H200) is made on first use,
  // which must be before the clock: a restarted application's CUDA context is not the cache's cost.
  device?.makeCurrent();
  const t0 = performance.now();
  const cache = openCache(t);
  const jit = new JitCompiler({ cache });
  if (device) await jit.kernel(t.spec, device);
  else await jit.compile(t.spec, t.arch);
  const ms = performance.now() - t0;
  const s = cache.getStats().process;
  const tier = s.compiles > 0 ? 'compiled' : (Object.keys(s.hits).find((h) => (s.hits[h] ?? 0) > 0) ?? '?');
  const { key } = await jit.compile(t.spec, t.arch); // a memory hit now, after the clock
  await cache.close();
  return { ms, tier, key };
}

async function workload(t: WorkloadTask): Promise<WorkloadResult> {
  const device = t.launch ? Device.get(0) : undefined;
  const cache = openCache(t);
  const jit = new JitCompiler({ cache });
  for (let c = 0; c < t.calls; c++) {
    for (const spec of t.specs) {
      if (device) await jit.kernel(spec, device);
      else await jit.compile(spec, t.arch);
    }
  }
  const stats = cache.getStats().process;
  await cache.close();
  return { stats };
}

/** Started with --expose-gc: the growth is measured between two full collections. */
async function storage(t: StorageTask): Promise<StorageResult> {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  const image = readFileSync(t.imageFile);
  const cache = new KernelCache({
    dir: t.cacheDir,
    logger: quiet,
    remote: false,
    // Room for every entry in memory and on disk: the bench measures what N entries take, not eviction.
    policy: {
      maintenanceIntervalMs: 0,
      memoryMaxEntries: t.count + 1,
      memoryMaxBytes: (t.count + 1) * (image.length + 65_536),
      maxEntries: 10 * t.count,
      maxDiskBytes: 2 ** 40,
    },
  });
  gc();
  const before = process.memoryUsage();
  const t0 = performance.now();
  const batch = 64;
  for (let i = 0; i < t.count; i += batch) {
    const work: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(t.count, i + batch); j++) {
      // A template with a distinct constant: a distinct key; the image is a copy of the real one (same size).
      const spec: KeySpec = {
        ...t.spec,
        source: `${t.spec.source}\n__constant__ int cuop_bench_entry = ${j};\n`,
      };
      const result: CompileResult = {
        image: Buffer.from(image),
        imageKind: 'cubin',
        target: t.spec.target,
        log: '',
        loweredNames: { [t.kernelName]: t.kernelName },
        compileMs: 0,
        compiler: { id: t.spec.compiler.id as 'nvcc' | 'nvrtc', version: t.spec.compiler.version },
      };
      work.push(cache.getOrCompile(spec, () => Promise.resolve(result)));
    }
    await Promise.all(work);
  }
  const populateMs = performance.now() - t0;
  gc();
  const after = process.memoryUsage();
  const held = (m: NodeJS.MemoryUsage): number => m.heapUsed + m.external;
  await cache.close();
  const disk = diskUse(t.cacheDir);
  return {
    memoryBytes: held(after) - held(before),
    rssBytes: after.rss - before.rss,
    diskBytes: disk.blocks,
    apparentBytes: disk.bytes,
    files: disk.files,
    populateMs,
    imageBytes: image.length,
  };
}

/** Blocks (st_blocks · 512) and sizes of every file under dir. */
export function diskUse(dir: string): { blocks: number; bytes: number; files: number } {
  let blocks = 0;
  let bytes = 0;
  let files = 0;
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      blocks += st.blocks * 512;
      if (st.isDirectory()) walk(p);
      else {
        bytes += st.size;
        files++;
      }
    }
  };
  walk(dir);
  return { blocks, bytes, files };
}
