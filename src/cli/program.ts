// The cuop command line: the demo (the main job), host info, and cache maintenance. Loaded by main.ts.
import { Command, InvalidArgumentError, Option } from 'commander';

import { readFileSync } from 'node:fs';

// Only what every command needs is imported here; each command loads its own modules when it runs, so that
// `cuop cache stats` never loads the driver bindings, the operators or the compilers (about half of its time).
import { KernelCache } from '../cache/kernel-cache.js';
import { resolveCacheDir } from '../cache/policy.js';
import { getSettings, parseByteSize } from '../settings/index.js';

const program = new Command();
program
  .name('cuop')
  .description('CUDA JIT toolkit with a persistent kernel cache')
  .version(ownVersion())
  .showHelpAfterError();

program
  .command('demo')
  .description(
    'compile, cache, load and run the GEMM the seed way (JitWrapper + persistent cache) and time it',
  )
  .option(
    '--cache-dir <dir>',
    'cache directory (default: CUOP_CACHE_DIR, $XDG_CACHE_HOME/cuop or ~/.cache/cuop)',
  )
  .option('--size <n>', 'matrix size M=N=K', (v) => positiveInt(v), 1024)
  .option('--dtype <dtype>', 'float32 | float16 | bfloat16', 'float32')
  .option('--no-child', 'skip the fresh-process (disk hit) step')
  .addOption(new Option('--child-run', 'run as the fresh process of the demo').hideHelp())
  .action(
    async (opts: { cacheDir?: string; size: number; dtype: string; child: boolean; childRun?: boolean }) => {
      const { runDemo } = await import('./demo.js');
      process.exitCode = await runDemo(opts);
    },
  );

program
  .command('info')
  .description('devices, compilers, the cache directory and the CUOP_* settings of this host')
  .action(async () => {
    const { printInfo } = await import('./info.js');
    await printInfo();
  });

program
  .command('doctor')
  .description(
    'is everything cuop needs here? driver, compilers, headers, cache dir, remote; a fix for each problem',
  )
  .option('--json', 'print { ok, checks: [{ id, status, message, fix?, details? }] } (docs/cli-json.md)')
  .option('--require-gpu', 'fail (not warn) when there is no driver or device')
  .option(
    '--cache-dir <dir>',
    'cache directory to check (default: CUOP_CACHE_DIR, $XDG_CACHE_HOME/cuop or ~/.cache/cuop)',
  )
  .action(async (opts: { json?: boolean; requireGpu?: boolean; cacheDir?: string }) => {
    const { runDoctor } = await import('./doctor.js');
    process.exitCode = await runDoctor(opts);
  });

const cache = program.command('cache').description('inspect and maintain the persistent kernel cache');
cache.option(
  '--cache-dir <dir>',
  'cache directory (default: CUOP_CACHE_DIR, $XDG_CACHE_HOME/cuop or ~/.cache/cuop)',
);
const openCache = (): KernelCache => {
  const dir = (cache.opts() as { cacheDir?: string }).cacheDir ?? resolveCacheDir();
  return new KernelCache({ dir, policy: { maintenanceIntervalMs: 0 } });
};
const withCache = (fn: (c: KernelCache) => Promise<unknown>) => async () => {
  const c = openCache();
  try {
    if (c.dir === null) {
      if (getSettings().cache.disabled) {
        console.error('cuop: the disk cache is disabled (CUOP_CACHE_DISABLE=1): nothing to do.');
      } else {
        // The cache already warned why it refused the directory.
        console.error('cuop: the cache directory was refused (see above): nothing was done.');
        process.exitCode = 1;
      }
    }
    const result = await fn(c);
    if (result !== undefined) console.log(JSON.stringify(result, null, 2));
  } finally {
    await c.close();
  }
};

/** Runs `fn` on the cache; its result is the exit status. Bad input (a missing manifest, a bad flag) is one line. */
async function withCacheStatus(fn: (c: KernelCache) => Promise<number>): Promise<void> {
  const c = openCache();
  try {
    if (c.dir === null && !getSettings().cache.disabled) {
      console.error('cuop: the cache directory was refused (see above): nothing was done.');
      process.exitCode = 1;
      return;
    }
    process.exitCode = await fn(c);
  } catch (e) {
    console.error(`cuop: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 2;
  } finally {
    await c.close();
  }
}

cache
  .command('stats')
  .description('hits per tier, misses, compiles, saved compile time, bytes, evictions (all processes)')
  .action(withCache(async (c) => ({ dir: c.dir, ...c.getStats() })));
cache
  .command('verify')
  .description('check every entry (metadata schema, size, SHA-256) and remove the bad ones')
  .option('--no-repair', 'only report (exit status 1 when there are problems)')
  .action((o: { repair: boolean }) =>
    withCache(async (c) => {
      const report = await c.validateCacheIntegrity({ repair: o.repair });
      // Scripts can tell a sound cache from a damaged one: problems left in place, or no check at all (refused
      // directory, maintenance lock held too long), are a failure.
      if ((!report.ran && c.dir !== null) || report.problems.length > report.repaired) process.exitCode = 1;
      return report;
    })(),
  );
cache
  .command('prune')
  .description('remove expired entries, orphans, stale temp files and entries of other format versions')
  .action(withCache(async (c) => ({ expired: await c.cleanupExpiredCache(), stale: await c.pruneStale() })));
cache
  .command('shrink <size>')
  .description('evict the least valuable entries until the disk tier holds at most <size> (e.g. 500MB)')
  .action((size: string) => withCache((c) => c.cleanupBySize(parseByteSize(size)))());
cache
  .command('clear')
  .description('remove every entry (the stats history is kept)')
  .action(
    withCache(async (c) => {
      if (c.dir === null) return;
      if (await c.clear()) console.log(`cleared ${c.dir}`);
      else process.exitCode = 1; // the cache warned what failed
    }),
  );
cache
  .command('explain <spec.json>')
  .description(
    'would this kernel hit here? On a miss, what differs from the nearest cached entries (headers, options, ' +
      'compiler, arch)',
  )
  .option('--arch <arch>', "target arch, e.g. sm_90 (default: the spec file's, else device 0)")
  .option('--compiler <which>', "nvrtc | nvcc | auto (default: the spec file's, else auto)")
  .option('--json', 'print the structured result')
  .action(async (specPath: string, o: { arch?: string; compiler?: string; json?: boolean }) => {
    const dir = (cache.opts() as { cacheDir?: string }).cacheDir ?? resolveCacheDir();
    const { runExplain } = await import('./explain.js');
    process.exitCode = await runExplain(specPath, { cacheDir: dir, ...o });
  });
const manifestOptions = (c: Command): Command =>
  c
    .option('--arch <archs>', "comma-separated target archs, e.g. sm_90,sm_100 (default: each spec's own)")
    .option('--compiler <which>', "nvrtc | nvcc | auto (default: each spec's own, else auto)")
    .option('--json', 'print the structured result');
manifestOptions(
  cache
    .command('warm <manifest>')
    .description(
      'compile every kernel of a manifest (CUOP_RECORD=manifest, jit.record()) for every arch, in parallel; ' +
        'no GPU needed. Exit status 1 when any failed',
    )
    .option('--jobs <n>', 'compiles at once (default: the CPU count)', (v) => positiveInt(v)),
).action(async (manifest: string, o: { arch?: string; compiler?: string; json?: boolean; jobs?: number }) => {
  const { runWarm } = await import('./warm.js');
  await withCacheStatus((c) => runWarm(c, manifest, o));
});
manifestOptions(
  cache
    .command('check <manifest>')
    .description(
      'would every kernel of a manifest hit here? For each miss, what differs. Exit status 1 on a miss',
    ),
).action(async (manifest: string, o: { arch?: string; compiler?: string; json?: boolean }) => {
  const { runCheck } = await import('./warm.js');
  await withCacheStatus((c) => runCheck(c, manifest, o));
});
manifestOptions(
  cache
    .command('export <out>')
    .description(
      'write a bundle (.cuopbundle) of the entries a manifest needs (--manifest) or of all (--all)',
    )
    .option('--manifest <file>', 'the kernels of this manifest (they must be cached here)')
    .option('--all', 'every entry of the disk cache'),
).action(
  async (
    out: string,
    o: { manifest?: string; all?: boolean; arch?: string; compiler?: string; json?: boolean },
  ) => {
    const { runExport } = await import('./bundle.js');
    await withCacheStatus((c) => runExport(c, out, { ...o, version: ownVersion() }));
  },
);
cache
  .command('import <bundle>')
  .description(
    'verify a bundle and import its entries (signature required when CUOP_REMOTE_SECRET is set); entries for ' +
      "archs this host's GPUs cannot run are skipped with the reason; importing twice is a no-op",
  )
  .option('--arch <archs>', "archs this cache serves (default: this host's GPUs; none found: any)")
  .option('--allow-unsigned', 'accept an unsigned bundle although a secret is set')
  .option('--json', 'print the structured result')
  .action(async (bundle: string, o: { arch?: string; allowUnsigned?: boolean; json?: boolean }) => {
    const { runImport } = await import('./bundle.js');
    await withCacheStatus((c) => runImport(c, bundle, o));
  });
cache
  .command('dir')
  .description('print the cache directory')
  .action(() => console.log(openCacheDir()));

function openCacheDir(): string {
  return (
    (cache.opts() as { cacheDir?: string }).cacheDir ??
    resolveCacheDir() ??
    '(disabled: CUOP_CACHE_DISABLE=1)'
  );
}

/**
 * The version of this package (not npm_package_version, which is the version of whatever project runs npm): the
 * nearest package.json named cuop above this file (build/src/cli/ and dist/cli/chunks/ sit at different depths).
 */
function ownVersion(): string {
  for (let up = '../'; up.length <= 15; up += '../') {
    try {
      const pkg = JSON.parse(readFileSync(new URL(`${up}package.json`, import.meta.url), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === 'cuop' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not here: one level up
    }
  }
  return 'unknown'; // a layout without our package.json (e.g. a single-file bundle)
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

program.parseAsync(process.argv).catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
