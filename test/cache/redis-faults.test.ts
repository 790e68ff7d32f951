// The remote tier when the network or the server misbehaves, on a real redis-server (some through a misbehaving
// proxy, test/cache/fault-proxy.ts): a server answering garbage is a fault of the tier, never an exception out of the
// client; one breaker trip is counted once; a lease whose release did not go through is released in the background;
// a lease of a process that died on this host is taken over at once.
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { CircuitBreaker } from '../../src/cache/circuit-breaker.js';
import { KernelCache } from '../../src/cache/kernel-cache.js';
import { cacheKey } from '../../src/cache/key.js';
import { CacheLog } from '../../src/cache/logger.js';
import { Resp2Framer } from '../../src/cache/redis-guard.js';
import { REDIS_TIER_DEFAULTS, RedisTier, type RedisTierOptions } from '../../src/cache/redis-tier.js';
import { faultProxy, type Garbage } from './fault-proxy.js';
import { countingCompile, specFor, tempDir, worker } from './fixtures.js';
import { redisForFile } from './redis-fixture.js';

const redis = redisForFile();
const missing = redis.missing;
const opts = { skip: missing ?? false };
const quiet = { debug: () => {}, warn: () => {} };
const SECRET = { id: 'k1', secret: 'first-secret-0123456789' };
const KEY = 'b'.repeat(64);
let prefixes = 0;

function tier(over: Partial<RedisTierOptions> = {}): RedisTier {
  return new RedisTier({
    ...REDIS_TIER_DEFAULTS,
    url: redis.server.url,
    secrets: [SECRET],
    prefix: `faults${++prefixes}:`,
    timeoutMs: 200,
    log: new CacheLog(quiet, false),
    ...over,
  });
}

/** Errors thrown out of everything's reach while `fn` runs (what would have crashed the process). */
async function uncaughtDuring(fn: () => Promise<void>): Promise<Error[]> {
  const seen: Error[] = [];
  const on = (e: Error): void => void seen.push(e);
  process.on('uncaughtException', on);
  try {
    await fn();
    await sleep(50); // a rethrow on process.nextTick or a timer lands here
  } finally {
    process.off('uncaughtException', on);
  }
  return seen;
}

test('the RESP2 framer: frames split anywhere, nested arrays, nulls; anything else is named', () => {
  const good = Buffer.from(
    '+OK\r\n$5\r\nab\r\nc\r\n*2\r\n$1\r\n0\r\n*2\r\n$-1\r\n:42\r\n*-1\r\n-ERR no\r\n*0\r\n',
  );
  for (let cut = 0; cut <= good.length; cut++) {
    const f = new Resp2Framer();
    assert.equal(f.push(good.subarray(0, cut)), undefined);
    assert.equal(f.push(good.subarray(cut)), undefined);
    assert.equal(f.frames, 6, `cut at ${cut}`);
  }
  for (const bad of [
    '\u0000x',
    '>1\r\n_\r\n',
    '_\r\n',
    '$3\r\nabcd\r\n',
    ':1x\r\n',
    '$-2\r\n',
    '+a\nb\r\n',
    '*a\r\n',
  ]) {
    const f = new Resp2Framer();
    assert.notEqual(f.push(Buffer.from(bad, 'latin1')), undefined, JSON.stringify(bad));
  }
});

test('a server answering garbage: no uncaught error, every lookup answered, the tier counts faults', async (t) => {
  // What a fake server sends back for each chunk of commands: bytes of no RESP type, a RESP3 push with a null head,
  // a reply more than was asked (ioredis 6 threw both of the last two out of its reply handler: a process crash).
  const answers: Record<string, string> = {
    'not RESP': '\u0000\u00ff garbage\r\n',
    'a push frame': '>1\r\n_\r\n',
    'a reply too many': '$-1\r\n$-1\r\n',
    'a broken length': '$-7\r\n',
  };
  for (const [what, answer] of Object.entries(answers)) {
    const sockets = new Set<Socket>();
    const server = createServer((s) => {
      sockets.add(s);
      s.on('data', () => s.write(Buffer.from(answer, 'latin1')));
      s.on('error', () => {});
    });
    const port = await new Promise<number>((r) =>
      server.listen(0, '127.0.0.1', () => r((server.address() as { port: number }).port)),
    );
    const c = new KernelCache({
      dir: tempDir('garbage'),
      logger: quiet,
      env: {},
      remote: {
        url: `redis://127.0.0.1:${port}`,
        secrets: [SECRET],
        timeoutMs: 100,
        breakerCooldownMs: 60_000,
      },
    });
    let tiers: string[] = [];
    const uncaught = await uncaughtDuring(async () => {
      const runs = await Promise.all(
        Array.from({ length: 6 }, (_, i) => c.getOrCompile(specFor(90 + i), countingCompile(90 + i).compile)),
      );
      tiers = runs.map((r) => r.tier);
      await c.close();
    });
    for (const s of sockets) s.destroy();
    server.close();
    assert.deepEqual(
      uncaught.map((e) => e.message),
      [],
      `${what}: nothing thrown out of reach`,
    );
    assert.deepEqual(tiers, Array(6).fill('compiled'), what);
    const r = c.getStats().tiers!['remote']!;
    assert.ok(
      Number(r['errors']) + Number(r['timeouts']) > 0,
      `${what}: counted as faults ${JSON.stringify(r)}`,
    );
    assert.equal(r['hits'], 0, what);
    t.diagnostic(`${what}: errors ${r['errors']}, timeouts ${r['timeouts']}, breaker ${r['breaker']}`);
  }
});

test(
  "a proxy corrupting a real server's answers mid-run: no uncaught error, nothing bad loaded, recovery after",
  opts,
  async () => {
    const proxy = await faultProxy(redis.server.port);
    const prefix = `garbled${++prefixes}:`;
    const mk = (tag: string): KernelCache =>
      new KernelCache({
        dir: tempDir(tag),
        logger: quiet,
        env: {},
        remote: { url: proxy.url, secrets: [SECRET], prefix, timeoutMs: 200, breakerCooldownMs: 100 },
      });
    try {
      const writer = mk('garbled-w');
      for (let i = 0; i < 4; i++)
        await writer.getOrCompile(specFor(100 + i), countingCompile(100 + i).compile);
      await writer.close();
      for (const g of ['flip', 'junk', 'extra-reply'] as Garbage[]) {
        proxy.garbage = g;
        const reader = mk(`garbled-${g}`);
        const uncaught = await uncaughtDuring(async () => {
          for (let i = 0; i < 4; i++) {
            const want = countingCompile(100 + i);
            const r = await reader.getOrCompile(specFor(100 + i), want.compile);
            assert.ok(['remote', 'compiled'].includes(r.tier), `${g}: ${r.tier}`);
            assert.ok(
              r.entry.image.equals(await want.compile().then((x) => x.image)),
              `${g}: the true image`,
            );
          }
          await reader.close();
        });
        assert.deepEqual(
          uncaught.map((e) => e.message),
          [],
          g,
        );
      }
      assert.ok(proxy.corrupted > 0);
      // Answers sound again: after the breaker's cooldown the tier hits.
      proxy.garbage = 'none';
      const healed = mk('garbled-healed');
      await sleep(150);
      assert.equal((await healed.getOrCompile(specFor(100), countingCompile(100).compile)).tier, 'remote');
      await healed.close();
    } finally {
      await proxy.close();
    }
  },
);

test('the breaker counts one trip once, however many calls were in flight when it opened', async () => {
  let now = 0;
  const b = new CircuitBreaker(3, 1000, () => now);
  assert.deepEqual(
    [b.failure(), b.failure(), b.failure(), b.failure(), b.failure()],
    [false, false, true, false, false],
  );
  assert.equal(b.trips, 1);
  now = 2000;
  assert.equal(b.allow(), true); // half-open: one probe
  assert.equal(b.failure(), true, 'a failed probe opens it again: a second trip');
  assert.equal(b.trips, 2);
  // The tier: eight lookups at once against a port nobody listens on.
  const t = tier({ url: 'redis://127.0.0.1:1', breakerFailures: 3 });
  await Promise.all(Array.from({ length: 8 }, () => t.get(KEY)));
  assert.equal(t.breakerState, 'open');
  assert.equal(t.counters.breakerTrips, 1, JSON.stringify(t.counters));
  await t.close();
});

test(
  'a release that did not go through (the link cut) is retried: another host gets the lease once the link is back, not after the TTL',
  opts,
  async () => {
    const proxy = await faultProxy(redis.server.port);
    const prefix = `release${++prefixes}:`;
    const a = tier({ url: proxy.url, prefix, leaseTtlMs: 5_000, timeoutMs: 100, breakerCooldownMs: 50 });
    const b = tier({ prefix, leaseTtlMs: 5_000 });
    try {
      const got = await a.leases()!.tryAcquire(KEY);
      assert.ok('lease' in got);
      await proxy.cut();
      await got.lease.release();
      await a.flush();
      assert.ok('busy' in (await b.leases()!.tryAcquire(KEY)), 'the release did not reach the server');
      assert.equal(a.counters.leaseReleaseRetries, 1);
      await proxy.heal();
      const t0 = Date.now();
      let taken = false;
      while (!taken && Date.now() - t0 < 4_000) {
        taken = 'lease' in (await b.leases()!.tryAcquire(KEY));
        if (!taken) await sleep(20);
      }
      const ms = Date.now() - t0;
      assert.ok(
        taken && ms < 2_500,
        `the other host took the lease ${ms} ms after the link came back (TTL 5000 ms)`,
      );
    } finally {
      await a.close();
      await b.close();
      await proxy.close();
    }
  },
);

test(
  'a lease held by a process of this host that died is taken over at once, not after its TTL',
  opts,
  async () => {
    const dir = tempDir('dead-holder');
    const prefix = `dead${++prefixes}:`;
    const child = fork(worker('lease-holder'), [dir, redis.server.url, prefix, '110'], {
      stdio: 'ignore',
    } as never);
    child.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`the holder exited (${code}) before it held the lease`)));
    });
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
    const held = await redis.admin.get(`${prefix}lease:${cacheKey(specFor(110))}`);
    assert.ok(held?.includes(`:${child.pid}:`), `the dead holder's lease is there: ${held}`);
    const c = new KernelCache({
      dir,
      logger: quiet,
      env: {},
      remote: { url: redis.server.url, secrets: [SECRET], prefix, leaseTtlMs: 10_000 },
    });
    const t0 = Date.now();
    const r = await c.getOrCompile(specFor(110), countingCompile(110).compile);
    const ms = Date.now() - t0;
    assert.equal(r.tier, 'compiled');
    assert.ok(ms < 2_000, `compiled ${ms} ms after the holder died (its lease's TTL: 10 000 ms)`);
    assert.equal(c.getStats().tiers!['remote']!['leasesTakenOver'], 1);
    await c.close();
  },
);

test(
  'a lease request answered too late still lands on the server: it is released in the background, so the others do not wait out its TTL',
  opts,
  async () => {
    const proxy = await faultProxy(redis.server.port);
    const prefix = `late${++prefixes}:`;
    const a = tier({ url: proxy.url, prefix, leaseTtlMs: 5_000, timeoutMs: 50, breakerFailures: 100 });
    const b = tier({ prefix, leaseTtlMs: 5_000 });
    try {
      assert.equal(await a.get(KEY), undefined); // connected
      proxy.delayMs = 150; // requests reach the server at once; answers come after the deadline
      const got = await a.leases()!.tryAcquire(KEY);
      assert.ok('unavailable' in got, JSON.stringify(got));
      assert.ok(await redis.admin.get(`${prefix}lease:${KEY}`), 'the late SET holds the key on the server');
      proxy.delayMs = 0;
      const t0 = Date.now();
      let taken = false;
      while (!taken && Date.now() - t0 < 4_000) {
        taken = 'lease' in (await b.leases()!.tryAcquire(KEY));
        if (!taken) await sleep(20);
      }
      const ms = Date.now() - t0;
      assert.ok(taken && ms < 1_500, `the other host took the lease after ${ms} ms (TTL 5000 ms)`);
    } finally {
      await a.close();
      await b.close();
      await proxy.close();
    }
  },
);
