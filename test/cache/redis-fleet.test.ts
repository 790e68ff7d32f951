// The fleet's side of the shared tier on a real redis-server: the cross-host compile lease, processes with their own
// cache dirs ("hosts") racing cold through one Redis, a host starting from another's kernels, and a slow server
// (a delaying TCP proxy) tripping the breaker.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

import { KernelCache } from '../../src/cache/kernel-cache.js';
import { CacheLog } from '../../src/cache/logger.js';
import { REDIS_TIER_DEFAULTS, RedisTier, type RedisTierOptions } from '../../src/cache/redis-tier.js';
import type { LeaseProvider } from '../../src/cache/single-flight.js';
import { countingCompile, recordingLogger, specFor, tempDir } from './fixtures.js';
import { race } from './race-fixture.js';
import { redisForFile, slowProxy, startTlsRedis } from './redis-fixture.js';

const redis = redisForFile();
const missing = redis.missing;
const opts = { skip: missing ?? false };
const quiet = { debug: () => {}, warn: () => {} };
const SECRET = { id: 'k1', secret: 'first-secret-0123456789' };
let prefixes = 0;

function tier(over: Partial<RedisTierOptions> = {}): RedisTier {
  return new RedisTier({
    ...REDIS_TIER_DEFAULTS,
    url: redis.server.url,
    secrets: [SECRET],
    prefix: `fleet${++prefixes}:`,
    timeoutMs: 500,
    log: new CacheLog(quiet, false),
    ...over,
  });
}

const KEY = 'a'.repeat(64);

test(
  'the cross-host lease: one holder, named to the others, renewed while held, released by its own token only',
  opts,
  async () => {
    const prefix = `lease${++prefixes}:`;
    const a = tier({ prefix, leaseTtlMs: 300 });
    const b = tier({ prefix, leaseTtlMs: 300 });
    const la = a.leases()!;
    const lb = b.leases()!;
    const first = await la.tryAcquire(KEY);
    assert.ok('lease' in first, JSON.stringify(first));
    const second = await lb.tryAcquire(KEY);
    assert.ok(
      'busy' in second && /:\d+$/.test(second.holder ?? ''),
      `busy, holder named: ${JSON.stringify(second)}`,
    );
    // Held three TTLs: the renewal keeps it.
    await new Promise((r) => setTimeout(r, 900));
    assert.ok('busy' in (await lb.tryAcquire(KEY)), 'still held after three TTLs');
    await first.lease.release();
    await a.flush(); // the release goes behind queued writes
    const third = await lb.tryAcquire(KEY);
    assert.ok('lease' in third, 'free after release');
    // A lapsed lease taken by another host: the first holder's late release must not delete it.
    const lapsed = await la.tryAcquire('b'.repeat(64));
    assert.ok('lease' in lapsed);
    await redis.admin.del(`${prefix}lease:${'b'.repeat(64)}`);
    await redis.admin.set(`${prefix}lease:${'b'.repeat(64)}`, 'other-host:1:token', 'PX', 10_000);
    await lapsed.lease.release();
    await a.flush();
    assert.equal(await redis.admin.get(`${prefix}lease:${'b'.repeat(64)}`), 'other-host:1:token');
    await third.lease.release();
    await b.flush();
    assert.equal(await redis.admin.exists(`${prefix}lease:${KEY}`), 0);
    assert.equal(a.counters.leasesTaken, 2);
    assert.ok(b.counters.leasesBusy >= 2);
    await a.close();
    await b.close();
  },
);

test(
  'a read-only consumer takes no lease; a dead server gives no lease (compile with the host’s own)',
  opts,
  async () => {
    const ro = tier({ secrets: [] });
    assert.equal(ro.leases(), undefined);
    await ro.close();
    const dead = tier({ url: 'redis://127.0.0.1:1', timeoutMs: 50 });
    const got = await (dead.leases() as LeaseProvider).tryAcquire(KEY);
    assert.ok('unavailable' in got, JSON.stringify(got));
    await dead.close();
  },
);

test(
  '8 "hosts" (processes, each its own cache dir) racing cold through one Redis compile each key once (real nvcc)',
  opts,
  async () => {
    const prefix = `race${++prefixes}:`;
    const reports = await race((p) => tempDir(`host-${p}`), 8, 4, [redis.server.url, prefix]);
    const compiled = reports.flatMap((r) => r.compiled).sort();
    assert.deepEqual(
      compiled,
      [0, 1, 2, 3],
      `compiles: ${JSON.stringify(reports.map((r) => r.compiled))}; remote: ${JSON.stringify(reports.map((r) => r.remote))}`,
    );
    const tiers = reports.flatMap((r) => r.tiers);
    assert.equal(tiers.length, 32);
    assert.ok(
      tiers.every((t) => ['compiled', 'shared', 'remote'].includes(t)),
      tiers.join(','),
    );
    assert.equal((await redis.admin.keys(`${prefix}lease:*`)).length, 0, 'every lease released');
    assert.equal((await redis.admin.keys(`${prefix}*`)).length, 4, 'four entries published');
  },
);

test(
  'a second host (another process, another cache dir) runs the first one’s kernel without compiling',
  opts,
  async () => {
    const prefix = `hosts${++prefixes}:`;
    const [first] = await race(tempDir('first-host'), 1, 1, [redis.server.url, prefix]);
    assert.deepEqual(first!.compiled, [0]);
    const [second] = await race(tempDir('second-host'), 1, 1, [redis.server.url, prefix]);
    assert.deepEqual(second!.compiled, []);
    assert.deepEqual(second!.tiers, ['remote']);
  },
);

test(
  'a slow Redis (answers held 300 ms by a proxy) trips the breaker; lookups go on locally, then it recovers',
  opts,
  async () => {
    const proxy = await slowProxy(redis.server.port, 300);
    const log = recordingLogger();
    const c = new KernelCache({
      dir: tempDir('slow-redis'),
      logger: log.logger,
      env: {},
      remote: {
        url: proxy.url,
        secrets: [SECRET],
        prefix: `slow${++prefixes}:`,
        timeoutMs: 50,
        breakerCooldownMs: 500,
      },
    });
    try {
      const t0 = performance.now();
      for (let i = 70; i < 80; i++) {
        assert.equal((await c.getOrCompile(specFor(i), countingCompile(i).compile)).tier, 'compiled');
      }
      const ms = performance.now() - t0;
      const s = c.getStats().tiers!['remote']!;
      const trips = Number(s['breakerTrips']);
      assert.equal(s['breaker'], 'open');
      assert.ok(trips >= 1, JSON.stringify(s));
      // A loaded box can stretch the ten lookups past the 500 ms cooldown: then one probe goes out, fails and opens
      // the breaker again. So every trip after the first needs a whole cooldown and costs one failed call.
      assert.ok(trips <= 1 + Math.floor(ms / 500), `${trips} trips in ${ms.toFixed(0)} ms`);
      assert.ok(Number(s['timeouts']) >= 3, JSON.stringify(s));
      // Ten lookups paid about the breaker's three deadlines, not ten: counted, not timed (the wall time is printed
      // for the record).
      console.log(`# ${ms.toFixed(0)} ms for 10 lookups against a slow Redis, ${trips} trip(s)`);
      assert.ok(Number(s['timeouts']) + Number(s['errors']) <= 6 + (trips - 1), JSON.stringify(s));
      assert.equal(log.warns.filter((w) => /failed or was slow/.test(w)).length, 1, 'one warning');
      // Fast again: after the cooldown a probe goes through and the breaker closes.
      proxy.delayMs = 0;
      await new Promise((r) => setTimeout(r, 600));
      await c.getOrCompile(specFor(80), countingCompile(80).compile);
      await c.getOrCompile(specFor(81), countingCompile(81).compile);
      assert.equal(c.getStats().tiers!['remote']!['breaker'], 'closed');
    } finally {
      await c.close();
      await proxy.close();
    }
  },
);

test(
  'rediss:// with an ACL user: two hosts share a kernel over TLS; a wrong password or an untrusted certificate only costs the remote tier',
  {
    skip:
      missing ??
      (spawnSync('openssl', ['version']).status === 0 ? false : 'no openssl to make a certificate'),
  },
  async () => {
    const tls = await startTlsRedis(tempDir('redis-tls'));
    try {
      const url = tls.url.replace('//', '//ci:ci-password-0123@');
      const trusted = { ...process.env, NODE_EXTRA_CA_CERTS: tls.ca };
      const [first] = await race(tempDir('tls-a'), 1, 1, [url, 'tls:'], trusted);
      assert.deepEqual(first!.compiled, [0]);
      assert.equal(first!.remote?.['writes'], 1, JSON.stringify(first!.remote));
      const [second] = await race(tempDir('tls-b'), 1, 1, [url, 'tls:'], trusted);
      assert.deepEqual(second!.tiers, ['remote']);
      // The same server without trusting its certificate, or with a wrong password: compiled locally, counted.
      const [untrusted] = await race(tempDir('tls-c'), 1, 1, [url, 'tls:'], {
        ...process.env,
        NODE_EXTRA_CA_CERTS: '',
      });
      assert.deepEqual(untrusted!.tiers, ['compiled']);
      assert.ok(Number(untrusted!.remote?.['errors']) + Number(untrusted!.remote?.['timeouts']) > 0);
      const wrong = url.replace('ci-password-0123', 'not-the-password');
      const [refused] = await race(tempDir('tls-d'), 1, 1, [wrong, 'tls:'], trusted);
      assert.deepEqual(refused!.tiers, ['compiled']);
      assert.equal(refused!.remote?.['hits'], 0);
    } finally {
      await tls.stop();
    }
  },
);
