// The shared tier on a real three-master Redis Cluster (redis-server --cluster-enabled, slots assigned by
// redis-cli --cluster create): the conformance suite, entries and leases spread over the masters' slots, and two
// caches sharing kernels through it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Redis } from 'ioredis';

import { KernelCache } from '../../src/cache/kernel-cache.js';
import { CacheLog } from '../../src/cache/logger.js';
import { REDIS_TIER_DEFAULTS, RedisTier } from '../../src/cache/redis-tier.js';
import { countingCompile, specFor, tempDir } from './fixtures.js';
import { redisMissing, startCluster, type RunningCluster } from './redis-fixture.js';
import { recordFor, tierConformance } from './tier-conformance.js';

const missing = redisMissing();
const opts = { skip: missing ?? false };
const quiet = { debug: () => {}, warn: () => {} };
const SECRET = { id: 'k1', secret: 'cluster-secret-0123456789' };
let cluster: RunningCluster | undefined;
let prefixes = 0;

before(async () => {
  if (!missing) cluster = await startCluster(tempDir('redis-cluster'));
});
after(async () => {
  await cluster?.stop();
});

const tier = (prefix = `c${++prefixes}:`): RedisTier =>
  new RedisTier({
    ...REDIS_TIER_DEFAULTS,
    url: cluster!.url,
    secrets: [SECRET],
    prefix,
    // A cluster client's first call also fetches the slot map.
    timeoutMs: 1_000,
    connectTimeoutMs: 5_000,
    log: new CacheLog(quiet, false),
  });

if (!missing) tierConformance('remote (Redis Cluster)', { make: () => tier() });

/** Keys of `prefix` held by each master. */
async function perMaster(prefix: string): Promise<number[]> {
  return Promise.all(
    cluster!.ports.map(async (port) => {
      const node = new Redis({ port, host: '127.0.0.1' });
      try {
        return (await node.keys(`${prefix}*`)).length;
      } finally {
        node.disconnect();
      }
    }),
  );
}

test(
  'entries spread over the three masters’ slots; list, get and clear reach all of them',
  opts,
  async () => {
    const prefix = `spread${++prefixes}:`;
    const t = tier(prefix);
    const records = Array.from({ length: 24 }, (_, i) => recordFor(100 + i));
    for (const r of records) await t.put(r);
    await t.flush();
    const counts = await perMaster(prefix);
    assert.equal(
      counts.reduce((a, b) => a + b, 0),
      24,
    );
    assert.ok(
      counts.every((n) => n > 0),
      `every master holds some entries: ${counts.join(', ')}`,
    );
    const listed: string[] = [];
    for await (const k of t.list()) listed.push(k);
    assert.deepEqual(listed.sort(), records.map((r) => r.key).sort());
    for (const r of records) assert.ok((await t.get(r.key))?.image.equals(r.image));
    await t.clear();
    assert.deepEqual(await perMaster(prefix), [0, 0, 0]);
    await t.close();
  },
);

test('leases in a cluster: one holder per key, keys on different masters', opts, async () => {
  const prefix = `lease${++prefixes}:`;
  const a = tier(prefix);
  const b = tier(prefix);
  const keys = Array.from({ length: 6 }, (_, i) => recordFor(200 + i).key);
  const held = [];
  for (const k of keys) {
    const got = await a.leases()!.tryAcquire(k);
    assert.ok('lease' in got, JSON.stringify(got));
    held.push(got.lease);
    assert.ok('busy' in (await b.leases()!.tryAcquire(k)));
  }
  const counts = await perMaster(`${prefix}lease:`);
  assert.ok(counts.filter((n) => n > 0).length >= 2, `leases on several masters: ${counts.join(', ')}`);
  for (const l of held) await l.release();
  await a.flush();
  assert.deepEqual(await perMaster(`${prefix}lease:`), [0, 0, 0]);
  await a.close();
  await b.close();
});

test('two caches share a kernel through the cluster', opts, async () => {
  const remote = {
    url: cluster!.url,
    secrets: [SECRET],
    prefix: `share${++prefixes}:`,
    timeoutMs: 1_000,
    connectTimeoutMs: 5_000,
  };
  const a = new KernelCache({ dir: tempDir('cluster-a'), logger: quiet, env: {}, remote });
  await a.getOrCompile(specFor(5), countingCompile(5).compile);
  await a.close();
  const b = new KernelCache({ dir: tempDir('cluster-b'), logger: quiet, env: {}, remote });
  const compile = countingCompile(5);
  assert.equal((await b.getOrCompile(specFor(5), compile.compile)).tier, 'remote');
  assert.equal(compile.calls(), 0);
  await b.close();
});
