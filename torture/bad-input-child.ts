// Runs the library cases of the bad-input scenario from argv[2] on (argv[3]: short | full), one JSON line per case
// (a CaseOutcome) on stdout. A case that kills this process is found by the parent (the line never comes).
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { KernelCache } from '../src/cache/kernel-cache.js';
import { NvccCompiler } from '../src/compiler/nvcc-compiler.js';
import { CuopError } from '../src/cuda/errors.js';
import { JitCompiler } from '../src/jit/index.js';
import { CASES, type CaseContext } from './bad-input-cases.js';
import type { CaseOutcome } from './bad-input.js';

const from = Number(process.argv[2] ?? 0);
const short = process.argv[3] === 'short';
const work = process.env['CUOP_TORTURE_WORK'] as string;
const sentinels = process.env['CUOP_TORTURE_SENTINELS'] as string;
const list = short ? CASES.filter((c) => c.short) : CASES;

const tempRoot = join(work, 'nvcc-tmp');
mkdirSync(tempRoot, { recursive: true });
const cacheDir = join(work, 'cache');
const cache = new KernelCache({
  dir: cacheDir,
  env: {},
  logger: { warn: (m) => process.stderr.write(`warn: ${m}\n`), debug: () => {} },
  policy: { maintenanceIntervalMs: 0 },
});
const env = { ...process.env };
const jit = new JitCompiler({ cache, compiler: new NvccCompiler({ env, tempRoot }), record: null });
const ctx: CaseContext = { jit, sentinels, work, tempRoot, env };

/** Entries in memory and complete entries (metadata files) on disk. */
function entries(): number {
  let n = cache.getStats().cachedKernels.memory;
  const meta = join(cacheDir, 'metadata');
  if (existsSync(meta)) for (const s of readdirSync(meta)) n += readdirSync(join(meta, s)).length;
  return n;
}

const typed = (e: unknown): boolean =>
  e instanceof CuopError || e instanceof TypeError || e instanceof RangeError;
const describe = (e: unknown): string =>
  e instanceof Error
    ? `${e.constructor.name}: ${e.message.slice(0, 300)}`
    : `a thrown ${typeof e}: ${String(e)}`;

for (let i = from; i < list.length; i++) {
  const c = list[i]!;
  const before = entries();
  const t0 = performance.now();
  let outcome: CaseOutcome['outcome'] = 'ok';
  let error: string | undefined;
  let cachedAfterFailure = 0;
  try {
    await c.run(ctx);
  } catch (e) {
    outcome = typed(e) ? 'typed' : 'untyped';
    error = describe(e);
  }
  if (outcome !== 'ok') {
    cachedAfterFailure += Math.max(0, entries() - before);
    if (c.compiles) {
      // The same input again: it must fail again, never be served from anything the failure left.
      const again = await c.run(ctx).then(
        () => true,
        () => false,
      );
      if (again) cachedAfterFailure++;
    }
  }
  const line: CaseOutcome = {
    i,
    outcome,
    ...(error === undefined ? {} : { error }),
    cachedAfterFailure,
    ms: performance.now() - t0,
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}
await cache.close();
