// npm run bench:remote — the shared tier against the disk, on a real redis-server on 127.0.0.1 (CPU box, same run):
// the cost of a remote hit (GETEX + signature check + SHA-256 + copy into memory) next to a disk hit's, and what a
// dead Redis costs: lookups served and the added latency per lookup once the breaker is open; forged entries rejected
// out of tried (random byte flips, truncations, header edits); compiles in an 8-process cold race of separate cache
// dirs ("hosts") through one Redis (real nvcc).
// Usage: node build/bench/remote.js [samples=200]
import { performance } from 'node:perf_hooks';

import { KernelCache } from '../src/cache/kernel-cache.js';
import { CacheLog } from '../src/cache/logger.js';
import { REDIS_TIER_DEFAULTS, RedisTier } from '../src/cache/redis-tier.js';
import { nvccCubin, kernelSource, resultFor, specFor, tempDir } from '../test/cache/fixtures.js';
import { race } from '../test/cache/race-fixture.js';
import { startRedis } from '../test/cache/redis-fixture.js';

const samples = Number(process.argv[2] ?? 200);
const quiet = { debug: () => {}, warn: () => {} };
const secrets = [{ id: 'bench', secret: 'bench-secret-0123456789' }];
const countBy = (xs: string[]): Record<string, number> =>
  xs.reduce<Record<string, number>>((m, x) => ((m[x] = (m[x] ?? 0) + 1), m), {});
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

  // Forgeries: the genuine value of the spec, altered at random, written over it; a reader must never load one.
  const { Redis } = await import('ioredis');
  const admin = new Redis(redis.url);
  const genuine = (await admin.getBuffer(`bench:${(await seed.getOrCompile(spec, compile)).key}`))!;
  const key = `bench:${(await new KernelCache({ dir: null, logger: quiet, env: {}, remote: false }).getOrCompile(spec, compile)).key}`;
  const forge = (n: number): Buffer => {
    const v = Buffer.from(genuine);
    switch (n % 4) {
      case 0: // one bit anywhere
        v[n % v.length] = v[n % v.length]! ^ (1 << (n % 8));
        return v;
      case 1: // truncated
        return v.subarray(0, n % v.length);
      case 2: // a byte of the image changed and the header's lengths kept
        v[v.length - 1 - (n % 256)] = (v[v.length - 1 - (n % 256)]! + 1) & 0xff;
        return v;
      default: // another key's value (the same bytes under a different key)
        return Buffer.concat([
          v.subarray(0, 11),
          Buffer.from(JSON.stringify({ kid: 'bench', sig: '0'.repeat(64), metaBytes: 1, imageBytes: 1 })),
          v.subarray(v.length - 2),
        ]);
    }
  };
  let tried = 0;
  let loaded = 0;
  const distinct = new Set<string>();
  const forgedReader = tier();
  for (let n = 1; n <= 400; n++) {
    const forged = forge(n * 7919);
    const id = forged.toString('base64');
    if (forged.equals(genuine) || distinct.has(id)) continue; // each forgery once
    distinct.add(id);
    await admin.set(key, forged);
    const c = new KernelCache({ dir: null, logger: quiet, env: {}, remote: false, tiers: [forgedReader] });
    const r = await c.getOrCompile(spec, compile);
    tried++;
    if (r.tier === 'remote') loaded++;
    await c.close();
  }
  await admin.set(key, genuine);
  const refused = forgedReader.counters.rejectedSignatures + forgedReader.counters.malformed;

  // Eight "hosts" racing cold on 4 keys through one Redis.
  const raceStart = performance.now();
  const reports = await race((p) => tempDir(`bench-host-${p}`), 8, 4, [redis.url, 'bench-race:']);
  const raceMs = performance.now() - raceStart;
  const compiles = reports.reduce((n, r) => n + r.compiled.length, 0);
  admin.disconnect();

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
    `Forged entries: ${tried} distinct tried, ${loaded} loaded, ${refused} refused (${forgedReader.counters.rejectedSignatures} ` +
      `by signature, ${forgedReader.counters.malformed} malformed)`,
  );
  console.log(
    `Cross-host race: 8 processes with their own cache dirs, 4 keys, real nvcc: ${compiles} compiles ` +
      `(${(raceMs / 1000).toFixed(1)} s); lookups answered by ${JSON.stringify(countBy(reports.flatMap((r) => r.tiers)))}`,
  );
  console.log(
    `Redis killed: ${withDead.served}/100 lookups served; ${withDead.ms.toFixed(3)} ms per lookup against ` +
      `${without.ms.toFixed(3)} ms without a remote tier (added ${(withDead.ms - without.ms).toFixed(3)} ms; ` +
      `breaker ${dead.breakerState}, trips ${dead.counters.breakerTrips}, timeouts ${dead.counters.timeouts}, ` +
      `errors ${dead.counters.errors})`,
  );
} finally {
  await redis.stop();
}
