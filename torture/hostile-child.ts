// One process of the hostile scenario (torture/hostile.ts): opens the cache where CUOP_CACHE_DIR (or HOME) points,
// with the default logger (warnings go to stderr, as a user sees them), asks for each kernel `rounds` times and
// checks every image it gets against the bytes a real nvcc compile made. argv[2] = a ChildJob as JSON. Prints one
// ChildReport as JSON on stdout. Runs as root or as another user (from a world-readable copy of build/), so it
// imports only the cache layer, and the nvcc backend only when a real compile is asked for.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { KernelCache } from '../src/cache/kernel-cache.js';
import type { KeySpec } from '../src/cache/key.js';
import type { CompileResult } from '../src/compiler/types.js';

export interface ChildJob {
  /** Kernels whose "compile" returns the bytes of `cubin` (a real nvcc image); `sha` is that file's SHA-256. */
  readonly kernels: readonly {
    readonly source: string;
    readonly name: string;
    readonly cubin: string;
    readonly sha: string;
  }[];
  readonly rounds: number;
  /** One kernel compiled for real by nvcc through the cache; `sha` is the image nvcc makes of it. */
  readonly nvcc?: { readonly source: string; readonly name: string; readonly sha: string };
}

export interface ChildReport {
  readonly dir: string | null;
  readonly lookups: number;
  /** Lookups that threw, or returned an image other than the one nvcc makes of that source. */
  readonly failed: number;
  readonly errors: readonly string[];
  /** Calls of the compile functions (the fake ones and the real nvcc one). */
  readonly compileCalls: number;
  readonly stats: {
    readonly compiles: number;
    readonly misses: number;
    readonly memoryHits: number;
    readonly diskHits: number;
    readonly writeFailures: number;
  };
}

const IDENTITY = { id: 'nvcc', version: '13.0.88' } as const;
const keySpec = (source: string, name: string): KeySpec => ({
  source,
  nameExpressions: [name],
  options: [],
  compiler: IDENTITY,
  target: 'sm_90',
  imageKind: 'cubin',
});
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '{}') as ChildJob;
  const cache = new KernelCache({ policy: { maintenanceIntervalMs: 0 } });
  let lookups = 0;
  let failed = 0;
  let compileCalls = 0;
  const errors: string[] = [];
  const ask = async (spec: KeySpec, want: string, compile: () => Promise<CompileResult>): Promise<void> => {
    lookups++;
    try {
      const r = await cache.getOrCompile(spec, async () => {
        compileCalls++;
        return compile();
      });
      if (sha(r.entry.image) !== want) {
        failed++;
        errors.push(`${spec.nameExpressions.join()}: a wrong image from the ${r.tier} tier`);
      }
    } catch (e) {
      failed++;
      errors.push(`${spec.nameExpressions.join()}: threw ${(e as Error).name}: ${(e as Error).message}`);
    }
  };
  const images = job.kernels.map((k) => readFileSync(k.cubin));
  const nvcc = job.nvcc
    ? new (await import('../src/compiler/nvcc-compiler.js')).NvccCompiler({ env: process.env })
    : undefined;
  for (let round = 0; round < job.rounds; round++) {
    for (const [i, k] of job.kernels.entries()) {
      await ask(keySpec(k.source, k.name), k.sha, async () => ({
        image: images[i] as Buffer,
        imageKind: 'cubin',
        target: 'sm_90',
        log: '',
        loweredNames: { [k.name]: k.name },
        compileMs: 1,
        compiler: IDENTITY,
      }));
    }
    if (job.nvcc && nvcc) {
      const { source, name } = job.nvcc;
      await ask(keySpec(source, name), job.nvcc.sha, () =>
        nvcc.compile({ source, arch: 'sm_90', nameExpressions: [name] }),
      );
    }
  }
  const s = cache.getStats().process;
  await cache.close();
  const report: ChildReport = {
    dir: cache.dir,
    lookups,
    failed,
    errors: errors.slice(0, 5),
    compileCalls,
    stats: {
      compiles: s.compiles,
      misses: s.misses,
      memoryHits: s.hits.memory,
      diskHits: s.hits.disk,
      writeFailures: s.writeFailures,
    },
  };
  process.stdout.write(JSON.stringify(report));
}

await main();
