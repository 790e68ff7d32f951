// The cuop command line: the demo (the main job), host info, and cache maintenance. Loaded by main.ts.
import { Command, InvalidArgumentError, Option } from 'commander';

import { readFileSync } from 'node:fs';

// Only what every command needs is imported here; each command loads its own modules when it runs, so that
// `cuop cache stats` never loads the driver bindings, the operators or the compilers (about half of its time).
import { KernelCache } from '../cache/kernel-cache.js';
import { resolveCacheDir } from '../cache/policy.js';
import { getSettings, parseByteSize } from '../settings/index.js';
import { GROUPS, parseOnly } from './bench/names.js';
import type { BenchOptions } from './bench/run.js';

/** The --json option's help, the same for every command. */
const JSON_HELP = 'print the structured result (its shape: docs/cli-json.md)';

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
  .option('--json', JSON_HELP)
  .action(async (o: { json?: boolean }) => {
    const { printInfo } = await import('./info.js');
    await printInfo(o);
  });

program
  .command('bench')
  .description(
    'measure this host: first compile, memory, disk and remote hits (GEMM 256/1024/2048, a cooperative-groups ' +
      'kernel), cache size at 100-10 000 kernels, hit rate over runs, cuop vs a direct compile, 16 cold processes',
  )
  .option('--json', 'print the structured report (docs/cli-json.md)')
  .option('--chart <file.svg>', 'also write a bar chart (log scale) of the compile and hit times')
  .option('--peers', 'also run CuPy and Triton on the same kernels when python3 has them')
  .option('--quick', 'a fast subset (gemm-256, 100 entries, 2 runs, 4 processes)')
  .option('--only <names>', `comma-separated scenarios: ${GROUPS.join(', ')}`, (v) => parseOnly(v))
  .addOption(new Option('--child <task>', 'run one task as a fresh process of the bench').hideHelp())
  .action(async (opts: BenchOptions) => {
    const { runBench } = await import('./bench/run.js');
    process.exitCode = await runBench(opts);
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
/**
 * Runs `fn` on the cache and prints its result: `human(result)` by default, the result as JSON with --json (the
 * shapes of docs/cli-json.md). A disabled cache is said on stderr and the command runs (it finds nothing).
 */
const withCache =
  <T>(json: boolean | undefined, fn: (c: KernelCache) => Promise<T>, human: (r: T) => string) =>
  async (): Promise<void> => {
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
      console.log(json ? JSON.stringify(result, null, 2) : human(result));
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

const printing = () => import('./cache-print.js');
cache
  .command('stats')
  .description('hits per tier, misses, compiles, saved compile time, bytes, evictions (all processes)')
  .option('--json', JSON_HELP)
  .addOption(
    new Option(
      '--format <fmt>',
      "text (default), json (the same as --json), or prometheus: text exposition 0.0.4 of every process's totals " +
        "(node_exporter's textfile collector)",
    ).choices(['text', 'json', 'prometheus']),
  )
  .action(async (o: { json?: boolean; format?: 'text' | 'json' | 'prometheus' }) => {
    if (o.format === 'prometheus') {
      const { toPrometheusText } = await import('../cache/metrics.js');
      const text = async (c: KernelCache): Promise<string> =>
        toPrometheusText(c.getStats(), { scope: 'all' });
      await withCache(false, text, (t) => t.trimEnd())();
      return;
    }
    const { formatStats } = await printing();
    await withCache(
      o.json === true || o.format === 'json',
      async (c) => ({ dir: c.dir, ...c.getStats() }),
      formatStats,
    )();
  });
cache
  .command('verify')
  .description('check every entry (metadata schema, size, SHA-256) and remove the bad ones')
  .option('--no-repair', 'only report (exit status 1 when there are problems)')
  .option('--json', JSON_HELP)
  .action(async (o: { repair: boolean; json?: boolean }) => {
    const { formatIntegrity } = await printing();
    await withCache(
      o.json,
      async (c) => {
        const report = await c.validateCacheIntegrity({ repair: o.repair });
        // Scripts can tell a sound cache from a damaged one: problems left in place, or no check at all (refused
        // directory, maintenance lock held too long), are a failure.
        if ((!report.ran && c.dir !== null) || report.problems.length > report.repaired) process.exitCode = 1;
        return report;
      },
      formatIntegrity,
    )();
  });
cache
  .command('prune')
  .description('remove expired entries, orphans, stale temp files and entries of other format versions')
  .option('--json', JSON_HELP)
  .action(async (o: { json?: boolean }) => {
    const { formatMaintenance } = await printing();
    await withCache(
      o.json,
      async (c) => ({ expired: await c.cleanupExpiredCache(), stale: await c.pruneStale() }),
      (r) => `${formatMaintenance('expired', r.expired)}\n${formatMaintenance('stale', r.stale)}`,
    )();
  });
cache
  .command('shrink <size>')
  .description('evict the least valuable entries until the disk tier holds at most <size> (e.g. 500MB)')
  .option('--json', JSON_HELP)
  .action(async (size: string, o: { json?: boolean }) => {
    const { formatMaintenance } = await printing();
    await withCache(
      o.json,
      (c) => c.cleanupBySize(parseByteSize(size)),
      (r) => formatMaintenance('shrink', r),
    )();
  });
cache
  .command('clear')
  .description('remove every entry (the stats history is kept)')
  .option('--json', JSON_HELP)
  .action(async (o: { json?: boolean }) => {
    await withCache(
      o.json,
      async (c) => {
        const cleared = c.dir !== null && (await c.clear());
        if (c.dir !== null && !cleared) process.exitCode = 1; // the cache warned what failed
        return { dir: c.dir, cleared };
      },
      (r) =>
        r.cleared ? `cleared ${r.dir}` : r.dir === null ? 'nothing to clear' : `could not clear ${r.dir}`,
    )();
  });
cache
  .command('ls')
  .description('one line per disk entry: key, kernels, arch, compiler, image kind, size, uses, last use, age')
  .option('--sort <key>', 'last-use | size | hits | age (default last-use, most recent first)')
  .option('--reverse', 'reverse the order')
  .option('--limit <n>', 'show the first <n> entries', (v) => positiveInt(v))
  .option('--json', JSON_HELP)
  .action(async (o: { sort?: string; reverse?: boolean; limit?: number; json?: boolean }) => {
    const { runLs } = await import('./cache-ls.js');
    await withCacheStatus((c) => runLs(c, o));
  });
cache
  .command('show <key-prefix>')
  .description(
    "one entry's metadata (the key prefix of cuop cache ls); --ptx, --source, --sass print those instead",
  )
  .option('--ptx', 'the PTX (kept when the entry is PTX)')
  .option('--source', 'the CUDA source (saved when the cache policy has saveSource on)')
  .option('--sass', "the cubin's SASS, through cuobjdump (from the CUDA toolkit)")
  .option('--json', JSON_HELP)
  .action(async (prefix: string, o: { ptx?: boolean; source?: boolean; sass?: boolean; json?: boolean }) => {
    const { runShow } = await import('./cache-show.js');
    await withCacheStatus((c) => runShow(c, prefix, o));
  });
cache
  .command('explain <spec.json>')
  .description(
    'would this kernel hit here? On a miss, what differs from the nearest cached entries (headers, options, ' +
      'compiler, arch)',
  )
  .option('--arch <arch>', "target arch, e.g. sm_90 (default: the spec file's, else device 0)")
  .option('--compiler <which>', "nvrtc | nvcc | auto (default: the spec file's, else auto)")
  .option('--json', JSON_HELP)
  .action(async (specPath: string, o: { arch?: string; compiler?: string; json?: boolean }) => {
    const dir = (cache.opts() as { cacheDir?: string }).cacheDir ?? resolveCacheDir();
    const { runExplain } = await import('./explain.js');
    process.exitCode = await runExplain(specPath, { cacheDir: dir, ...o });
  });
const manifestOptions = (c: Command): Command =>
  c
    .option('--arch <archs>', "comma-separated target archs, e.g. sm_90,sm_100 (default: each spec's own)")
    .option('--compiler <which>', "nvrtc | nvcc | auto (default: each spec's own, else auto)")
    .option('--json', JSON_HELP);
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
  .option('--json', JSON_HELP)
  .action(async (bundle: string, o: { arch?: string; allowUnsigned?: boolean; json?: boolean }) => {
    const { runImport } = await import('./bundle.js');
    await withCacheStatus((c) => runImport(c, bundle, o));
  });
cache
  .command('dir')
  .description('print the cache directory')
  .option('--json', JSON_HELP)
  .action((o: { json?: boolean }) => {
    const dir = (cache.opts() as { cacheDir?: string }).cacheDir ?? resolveCacheDir();
    if (o.json) console.log(JSON.stringify({ dir, disabled: dir === null }, null, 2));
    else console.log(dir ?? '(disabled: CUOP_CACHE_DISABLE=1)');
  });

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
