// npm run bench:remote — the shared tier against the disk, on a real redis-server on 127.0.0.1 (CPU box, same run):
// the cost of a remote hit (GETEX + signature check + SHA-256 + copy into memory) next to a disk hit's, and what a
// dead Redis costs: lookups served and the added latency per lookup once the breaker is open.
// Usage: node build/bench/remote.js [samples=200]
import { performance } from 'node:perf_hooks';

import { KernelCache } from '../src/cache/kernel-cache.js';
import { CacheLog } from '../src/cache/logger.js';
import { REDIS_TIER_DEFAULTS, RedisTier } from '../src/cache/redis-tier.js';
import { nvccCubin, kernelSource, resultFor, specFor, tempDir } from '../test/cache/fixtures.js';
import { startRedis } from '../test/cache/redis-fixture.js';

const samples = Number(process.argv[2] ?? 200);
const quiet = { debug: () => {}, warn: () => {} };
const secrets = [{ id: 'bench', secret: 'bench-secret-0123456789' }];
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

const redis = await startRedis();
try {
  const image = nvccCubin(kernelSource(1));
  const spec = specFor(1);
  const compile = () => Promise.resolve(resultFor(image, 'k1'));
  const tier = (): RedisTier =>
    new RedisTier({
      url: redis.url,
      secrets,
      ...REDIS_TIER_DEFAULTS,
      prefix: 'bench:',
      breakerCooldownMs: 60_000,
      log: new CacheLog(quiet, false),
    });
  // Publish once to both the disk and Redis.
  const dir = tempDir('bench-remote');
  const shared = tier();
  const seed = new KernelCache({ dir, logger: quiet, env: {}, remote: false, tiers: [shared] });
  await seed.getOrCompile(spec, compile);
  await seed.close();

  const time = async (make: () => KernelCache, want: string): Promise<number> => {
    const xs: number[] = [];
    for (let i = 0; i < samples; i++) {
      const c = make();
      const t0 = performance.now();
      const r = await c.getOrCompile(spec, compile);
      xs.push(performance.now() - t0);
      if (r.tier !== want) throw new Error(`expected a ${want} hit, got ${r.tier}`);
      await c.close();
    }
    return median(xs) * 1000;
  };
  const reader = tier();
  await reader.get('0'.repeat(64)); // connect once: the bench measures hits, not the handshake
  const diskUs = await time(() => new KernelCache({ dir, logger: quiet, env: {}, remote: false }), 'disk');
  const remoteUs = await time(
    () => new KernelCache({ dir: null, logger: quiet, env: {}, remote: false, tiers: [reader] }),
    'remote',
  );

  // Redis down: distinct kernels (each a compile), with and without the dead remote tier.
  const dead = tier();
  await dead.get('0'.repeat(64));
  await redis.stop(true);
  const run = async (tiers: RedisTier[]): Promise<{ ms: number; served: number }> => {
    const c = new KernelCache({ dir: null, logger: quiet, env: {}, remote: false, tiers });
    let served = 0;
    const t0 = performance.now();
    for (let i = 0; i < 100; i++) {
      const r = await c.getOrCompile(specFor(1000 + i), compile); // distinct keys, an instant compile
      if (r.entry.image.length > 0) served++;
    }
    const ms = (performance.now() - t0) / 100;
    await c.close();
    return { ms, served };
  };
  await run([]); // warm both paths' code first
  await run([dead]);
  const without = await run([]);
  const withDead = await run([dead]);
  console.log(`Node ${process.version}; image ${image.length} B (nvcc sm_90); medians of ${samples}`);
  console.log(`| lookup | µs |`);
  console.log(`|---|---|`);
  console.log(`| disk hit (fresh cache object, warm page cache) | ${diskUs.toFixed(1)} |`);
  console.log(`| remote hit (Redis on 127.0.0.1, signed, verified) | ${remoteUs.toFixed(1)} |`);
  console.log(
    `Redis killed: ${withDead.served}/100 lookups served; ${withDead.ms.toFixed(3)} ms per lookup against ` +
      `${without.ms.toFixed(3)} ms without a remote tier (added ${(withDead.ms - without.ms).toFixed(3)} ms; ` +
      `breaker ${dead.breakerState}, trips ${dead.counters.breakerTrips}, timeouts ${dead.counters.timeouts}, ` +
      `errors ${dead.counters.errors})`,
  );
} finally {
  await redis.stop();
}
