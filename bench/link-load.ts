// Loading a cached linked image beside a plain cubin (GPU host). Warm disk cache; each round opens a new
// KernelCache (empty memory tier), so every lookup is a disk hit followed by cuModuleLoadData. Also the raw load of
// each image (cuModuleLoadData + unload, no cache). Kinds alternate within a round so drift hits all alike.
// Usage: node build/bench/link-load.js [rounds=15]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { KernelCache } from '../src/cache/index.js';
import { JitCompiler, type KernelSpec, type LinkSpec } from '../src/jit/index.js';
import { Device } from '../src/runtime/index.js';

const rounds = Number(process.argv[2] ?? 15);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

const PLAIN: KernelSpec = {
  source:
    'extern "C" __global__ void scale(float* o, int n) { int i = threadIdx.x; if (i < n) o[i] = 2.0f * o[i] + 1.0f; }',
  name: 'scale',
};
const TWO: LinkSpec = {
  programs: [
    {
      source:
        'extern __device__ float twice(float x);\nextern "C" __global__ void scale(float* o, int n) { int i = threadIdx.x; if (i < n) o[i] = twice(o[i]) + 1.0f; }',
      names: ['scale'],
    },
    { source: '__device__ float twice(float x) { return 2.0f * x; }' },
  ],
};
const DYNAMIC: LinkSpec = {
  programs: [
    {
      source:
        'extern "C" __global__ void child(int* o) { o[threadIdx.x] += 10; }\nextern "C" __global__ void parent(int* o) { if (threadIdx.x == 0) child<<<1, 32>>>(o); }',
      names: ['parent'],
    },
  ],
};

async function main(): Promise<void> {
  const device = Device.get(0);
  device.makeCurrent();
  const dir = mkdtempSync(join(tmpdir(), 'cuop-link-load-'));
  const open = (): JitCompiler => new JitCompiler({ cache: new KernelCache({ dir, env: {} }), record: null });
  // Fill the cache (compiles and links), and keep the images for the raw loads.
  const warm = open();
  const images = {
    plain: (await warm.compile(PLAIN, device.arch)).entry.image,
    two: (await warm.compileLink(TWO, device.arch)).entry.image,
    dynamic: (await warm.compileLink(DYNAMIC, device.arch)).entry.image,
  };
  await warm.cache.close();
  const linker = await warm.linkerInfo();
  const kinds = ['plain', 'two', 'dynamic'] as const;
  const hit: Record<string, number[]> = {};
  const raw: Record<string, number[]> = {};
  for (let r = 0; r < rounds + 1; r++) {
    for (const kind of kinds) {
      const jit = open();
      const t0 = performance.now();
      if (kind === 'plain') await jit.kernel(PLAIN, device);
      else
        (await jit.link(kind === 'two' ? TWO : DYNAMIC, device)).kernel(kind === 'two' ? 'scale' : 'parent');
      const t1 = performance.now();
      await jit.cache.close();
      const t2 = performance.now();
      const m = device.loadModule(images[kind]);
      m.getKernel(kind === 'dynamic' ? 'parent' : 'scale');
      const t3 = performance.now();
      m.unload();
      if (r === 0) continue; // the first round warms the code paths
      (hit[kind] ??= []).push(t1 - t0);
      (raw[kind] ??= []).push(t3 - t2);
    }
  }
  rmSync(dir, { recursive: true, force: true });
  console.log(
    `\nlinked vs plain images — ${device.name} (${device.arch}), linker ${linker.id} ${linker.version}`,
  );
  console.log(`  median of ${rounds}; disk hit = new cache, lookup + checksum + load + get function`);
  console.log('  image                              bytes   disk hit → kernel   raw load + get function');
  const label = {
    plain: 'plain cubin',
    two: 'linked: two programs',
    dynamic: 'linked: + device runtime (CDP)',
  };
  for (const kind of kinds) {
    console.log(
      `  ${label[kind].padEnd(32)} ${String(images[kind].length).padStart(7)}   ${median(hit[kind]!).toFixed(3).padStart(8)} ms` +
        `          ${median(raw[kind]!).toFixed(3).padStart(8)} ms`,
    );
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
