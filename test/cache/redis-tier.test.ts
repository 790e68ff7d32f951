// The shared tier on a real redis-server: the conformance suite, two "hosts" (cache objects with separate cache dirs)
// sharing one server, signed entries and every way to forge one, read-only consumers, size, TTL and prefix, and a
// server that dies mid-run.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { KernelCache } from '../../src/cache/kernel-cache.js';
import { CacheLog } from '../../src/cache/logger.js';
import {
  REDIS_TIER_DEFAULTS,
  RedisTier,
  parseRemoteUrl,
  type RedisTierOptions,
} from '../../src/cache/redis-tier.js';
import { countingCompile, recordingLogger, specFor, tempDir } from './fixtures.js';
import { redisForFile, startRedis } from './redis-fixture.js';
import { recordFor, tierConformance } from './tier-conformance.js';

const redis = redisForFile();
const missing = redis.missing;
const quiet = { debug: () => {}, warn: () => {} };
const SECRET = { id: 'k1', secret: 'first-secret-0123456789' };
let prefixes = 0;

function tierOptions(over: Partial<RedisTierOptions> = {}): RedisTierOptions {
  return {
    url: redis.server.url,
    secrets: [SECRET],
    ...REDIS_TIER_DEFAULTS,
    prefix: `t${++prefixes}:`,
    ttlSeconds: 3600,
    timeoutMs: 500,
    log: new CacheLog(quiet, false),
    ...over,
  };
}

const opts = { skip: missing ?? false };

if (!missing) tierConformance('remote (Redis)', { make: () => new RedisTier(tierOptions()) });

test('remote URLs: plain, TLS with ACL user and password, cluster seeds, db, IPv6', opts, () => {
  assert.deepEqual(parseRemoteUrl('redis://127.0.0.1:6390/2'), {
    cluster: false,
    tls: false,
    nodes: [{ host: '127.0.0.1', port: 6390 }],
    db: 2,
  });
  assert.deepEqual(parseRemoteUrl('rediss://ci:p%40ss@cache.example:6380'), {
    cluster: false,
    tls: true,
    username: 'ci',
    password: 'p@ss',
    nodes: [{ host: 'cache.example', port: 6380 }],
    db: 0,
  });
  assert.deepEqual(parseRemoteUrl('redis+cluster://a:7000,b:7001,[::1]:7002').nodes, [
    { host: 'a', port: 7000 },
    { host: 'b', port: 7001 },
    { host: '::1', port: 7002 },
  ]);
  assert.throws(() => parseRemoteUrl('http://x'), /not a redis/);
});

test(
  'two hosts share one Redis: the second runs the first one’s kernel without compiling',
  opts,
  async () => {
    const prefix = `hosts${++prefixes}:`;
    const remote = { url: redis.server.url, secrets: [SECRET], prefix, timeoutMs: 500 };
    const a = new KernelCache({ dir: tempDir('host-a'), logger: quiet, env: {}, remote });
    const compileA = countingCompile(1);
    const made = await a.getOrCompile(specFor(1), compileA.compile);
    await a.close(); // sends the queued publish
    const dirB = tempDir('host-b');
    const b = new KernelCache({ dir: dirB, logger: quiet, env: {}, remote });
    const compileB = countingCompile(1);
    const got = await b.getOrCompile(specFor(1), compileB.compile);
    assert.equal(got.tier, 'remote');
    assert.equal(compileB.calls(), 0);
    assert.ok(got.entry.image.equals(made.entry.image));
    assert.equal(b.getStats().tiers?.['remote']?.['hits'], 1);
    await b.close();
    // Copied into B's disk: B's next process needs no network.
    const b2 = new KernelCache({ dir: dirB, logger: quiet, env: {}, remote: false });
    assert.equal((await b2.getOrCompile(specFor(1), compileB.compile)).tier, 'disk');
    await b2.close();
  },
);

/** A signed entry of spec 2 in Redis under `prefix`, as its raw value. */
async function published(prefix: string): Promise<{ key: string; value: Buffer }> {
  const a = new KernelCache({
    dir: null,
    logger: quiet,
    env: {},
    remote: { url: redis.server.url, secrets: [SECRET], prefix },
  });
  const r = await a.getOrCompile(specFor(2), countingCompile(2).compile);
  await a.close();
  const value = await redis.admin.getBuffer(`${prefix}${r.key}`);
  assert.ok(value, 'published');
  return { key: r.key, value };
}

test('forged entries are never loaded: image, metadata, signature, key id, unsigned, foreign secret', async (t) => {
  if (missing) return t.skip(missing);
  const prefix = `forge${++prefixes}:`;
  const { key, value } = await published(prefix);
  const headerEnd = value.indexOf('}', 11) + 1;
  const flip = (at: number): Buffer => {
    const v = Buffer.from(value);
    v[at] = v[at]! ^ 0x01;
    return v;
  };
  const header = JSON.parse(value.subarray(11, headerEnd).toString()) as { kid: string; sig: string };
  const withHeader = (h: object): Buffer => {
    const hb = Buffer.from(JSON.stringify(h));
    const len = Buffer.alloc(4);
    len.writeUInt32BE(hb.length);
    return Buffer.concat([value.subarray(0, 7), len, hb, value.subarray(headerEnd)]);
  };
  const forgeries: [string, Buffer][] = [
    ['an image byte', flip(value.length - 10)],
    ['a metadata byte', flip(headerEnd + 20)],
    [
      'the signature',
      withHeader({ ...header, sig: header.sig.replace(/^./, (c) => (c === '0' ? '1' : '0')) }),
    ],
    ['the key id', withHeader({ ...header, kid: 'k9' })],
    ['no signature at all', withHeader({ ...header, kid: '', sig: '' })],
  ];
  let tried = 0;
  for (const [what, forged] of forgeries) {
    await redis.admin.set(`${prefix}${key}`, forged);
    const log = recordingLogger();
    const c = new KernelCache({
      dir: null,
      logger: log.logger,
      env: {},
      remote: { url: redis.server.url, secrets: [SECRET], prefix },
    });
    const compile = countingCompile(2);
    const r = await c.getOrCompile(specFor(2), compile.compile);
    assert.equal(r.tier, 'compiled', `forged ${what}: recompiled, not loaded`);
    assert.equal(compile.calls(), 1);
    const s = c.getStats();
    const rejected = Number(s.tiers?.['remote']?.['rejectedSignatures'] ?? 0);
    // A flipped metadata byte may also break the metadata's JSON: rejected first by its signature either way.
    assert.equal(rejected, 1, `forged ${what}: counted as rejected`);
    assert.ok(
      log.warns.some((w) => /rejected a remote cache entry/.test(w)),
      `forged ${what}: reported`,
    );
    tried++;
    await c.close();
  }
  assert.equal(tried, forgeries.length);
  // A reader holding another secret rejects a genuine entry; one holding both (rotation) accepts it.
  await redis.admin.set(`${prefix}${key}`, value);
  const other = { id: 'k2', secret: 'second-secret-0123456789' };
  const stranger = new KernelCache({
    dir: null,
    logger: quiet,
    env: {},
    remote: { url: redis.server.url, secrets: [other], prefix },
  });
  assert.equal((await stranger.getOrCompile(specFor(2), countingCompile(2).compile)).tier, 'compiled');
  await stranger.close();
  const rotated = new KernelCache({
    dir: null,
    logger: quiet,
    env: {},
    remote: { url: redis.server.url, secrets: [other, SECRET], prefix },
  });
  assert.equal((await rotated.getOrCompile(specFor(2), countingCompile(2).compile)).tier, 'remote');
  await rotated.close();
});

test('without a secret the remote tier is read-only: it reads signed entries only if allowed, and never writes', async (t) => {
  if (missing) return t.skip(missing);
  const prefix = `ro${++prefixes}:`;
  const c = new KernelCache({
    dir: null,
    logger: quiet,
    env: {},
    remote: { url: redis.server.url, secrets: [], prefix },
  });
  await c.getOrCompile(specFor(3), countingCompile(3).compile);
  await c.close();
  assert.deepEqual(await redis.admin.keys(`${prefix}*`), [], 'a read-only consumer wrote nothing');
  assert.equal(c.getStats().process.writeFailures, 0);
  // Unsigned writing on purpose: written, and read back only by a reader that allows unsigned entries.
  const w = new KernelCache({
    dir: null,
    logger: quiet,
    env: {},
    remote: { url: redis.server.url, secrets: [], allowUnsigned: true, prefix },
  });
  await w.getOrCompile(specFor(3), countingCompile(3).compile);
  await w.close();
  assert.equal((await redis.admin.keys(`${prefix}*`)).length, 1);
  const strict = new KernelCache({
    dir: null,
    logger: quiet,
    env: {},
    remote: { url: redis.server.url, secrets: [SECRET], prefix },
  });
  assert.equal((await strict.getOrCompile(specFor(3), countingCompile(3).compile)).tier, 'compiled');
  await strict.close();
});

test('size bound, TTL (renewed by a hit) and prefix are honoured', async (t) => {
  if (missing) return t.skip(missing);
  const small = new RedisTier(tierOptions({ maxEntryBytes: 1000 }));
  await small.put(recordFor(1, 5000));
  await small.flush();
  assert.equal(small.counters.oversized, 1);
  assert.equal(await small.get(recordFor(1, 5000).key), undefined, 'an oversized entry is not stored');
  await small.close();
  const tier = new RedisTier(tierOptions({ ttlSeconds: 120, prefix: 'team-x:' }));
  const r = recordFor(2);
  await tier.put(r);
  await tier.flush();
  assert.deepEqual(await redis.admin.keys('team-x:*'), [`team-x:${r.key}`]);
  const ttl = await redis.admin.ttl(`team-x:${r.key}`);
  assert.ok(ttl > 100 && ttl <= 120, `TTL ${ttl}`);
  await redis.admin.expire(`team-x:${r.key}`, 5);
  assert.ok(await tier.get(r.key));
  assert.ok((await redis.admin.ttl(`team-x:${r.key}`)) > 100, 'a hit renews the TTL');
  await tier.clear();
  await tier.close();
});

test('Redis killed mid-run: every lookup still succeeds, the breaker opens, the added latency is bounded', async (t) => {
  if (missing) return t.skip(missing);
  const own = await startRedis();
  const log = recordingLogger();
  const c = new KernelCache({
    dir: tempDir('redis-down'),
    logger: log.logger,
    env: {},
    remote: { url: own.url, secrets: [SECRET], prefix: 'down:', timeoutMs: 50, breakerCooldownMs: 60_000 },
  });
  try {
    assert.equal((await c.getOrCompile(specFor(40), countingCompile(40).compile)).tier, 'compiled');
    await own.stop(true);
    const t0 = performance.now();
    for (let i = 41; i < 61; i++) {
      const r = await c.getOrCompile(specFor(i), countingCompile(i).compile);
      assert.equal(r.tier, 'compiled');
    }
    const perLookup = (performance.now() - t0) / 20;
    const s = c.getStats().tiers!['remote']!;
    assert.equal(s['breaker'], 'open');
    assert.ok(Number(s['breakerTrips']) >= 1);
    assert.ok(
      log.warns.some((w) => /remote cache .* failed or was slow/.test(w)),
      'one warning',
    );
    // Bounded by counts, not the clock (a loaded CI box stretches any wall time): the breaker's threshold of failed
    // calls reached Redis, then none; the wall time is printed for the record.
    const failed = Number(s['errors']) + Number(s['timeouts']);
    t.diagnostic(`${perLookup.toFixed(1)} ms per lookup with Redis down; ${failed} calls failed`);
    assert.ok(failed >= 1 && failed <= 6, JSON.stringify(s));
  } finally {
    await c.close();
  }
});
