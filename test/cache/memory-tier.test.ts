// The memory tier on its own: LRU order, both bounds, what leaves and how (dispose, hooks, onEvict).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryTier, type CacheEntry } from '../../src/cache/memory-tier.js';
import type { EntryMetadata } from '../../src/cache/metadata.js';
import { noHooks, type TierRecord } from '../../src/cache/tier.js';

const key = (i: number) => i.toString(16).padStart(64, '0');
const record = (i: number, bytes = 10): TierRecord => ({
  key: key(i),
  image: Buffer.alloc(bytes, i),
  meta: { key: key(i) } as unknown as EntryMetadata, // the tier never reads the metadata
});

function tier(maxEntries: number, maxBytes = 1 << 20) {
  const evicted: string[] = [];
  const counted: string[] = [];
  const t = new MemoryTier({
    maxEntries,
    maxBytes,
    hooks: { ...noHooks, eviction: (reason, k) => counted.push(`${reason}:${k.slice(-1)}`) },
    onEvict: (e: CacheEntry) => evicted.push(e.key.slice(-1)),
  });
  return { t, evicted, counted };
}

test('evicts the least recently used entry; a peek or a repeated insert counts as a use', () => {
  const { t, evicted, counted } = tier(3);
  for (const i of [1, 2, 3]) t.insert(record(i));
  assert.ok(t.peek(key(1))); // order now 2, 3, 1
  const again = t.insert(record(2)); // already resident: returned as is, and used: order 3, 1, 2
  assert.equal(again, t.peek(key(2)));
  t.insert(record(4));
  assert.deepEqual(evicted, ['3']);
  assert.deepEqual(counted, ['memory:3']);
  t.insert(record(5));
  assert.deepEqual(evicted, ['3', '1']);
  assert.equal(t.size, 3);
  assert.equal(t.peek(key(3)), undefined);
  assert.ok(t.peek(key(4)) && t.peek(key(5)) && t.peek(key(2)));
});

test('the byte bound evicts as many old entries as needed; an image above the bound is returned, not kept', () => {
  const { t, evicted } = tier(100, 100);
  for (const i of [1, 2, 3, 4]) t.insert(record(i, 25));
  assert.equal(t.bytes, 100);
  t.insert(record(5, 60)); // needs 60: 1, 2 and 3 must go (25 left + 60 = 85)
  assert.deepEqual(evicted, ['1', '2', '3']);
  assert.equal(t.bytes, 85);
  const huge = t.insert(record(6, 101));
  assert.equal(huge.key, key(6));
  assert.equal(t.peek(key(6)), undefined);
  assert.equal(t.bytes, 85, 'nothing was evicted for it');
  assert.deepEqual(evicted, ['1', '2', '3']);
});

test('delete and clear dispose attached values but are not evictions; bytes return to 0', async () => {
  const { t, evicted, counted } = tier(10);
  const disposed: string[] = [];
  for (const i of [1, 2, 3]) {
    t.insert(record(i)).attached.set('ctx', { dispose: () => disposed.push(String(i)) });
  }
  assert.equal(await t.delete(key(2)), true);
  assert.equal(await t.delete(key(2)), false);
  assert.deepEqual(disposed, ['2']);
  await t.clear();
  assert.deepEqual(disposed.sort(), ['1', '2', '3']);
  assert.equal(t.size, 0);
  assert.equal(t.bytes, 0);
  assert.deepEqual(evicted, []);
  assert.deepEqual(counted, []);
});

test('an attached value whose dispose throws does not stop the eviction', () => {
  const { t, evicted } = tier(1);
  t.insert(record(1)).attached.set('ctx', {
    dispose: () => {
      throw new Error('unload failed');
    },
  });
  t.insert(record(2));
  assert.deepEqual(evicted, ['1']);
  assert.equal(t.size, 1);
});

test('random inserts, uses and deletes agree with a reference LRU (2000 steps, several bounds)', async () => {
  for (const [maxEntries, maxBytes] of [
    [1, 1000],
    [3, 1000],
    [8, 60],
    [50, 300],
  ] as const) {
    const { t, evicted } = tier(maxEntries, maxBytes);
    const model: { k: number; bytes: number }[] = []; // oldest first
    const modelEvicted: string[] = [];
    let seed = 12345 + maxEntries;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    for (let step = 0; step < 2000; step++) {
      const k = rand(16);
      const op = rand(10);
      const at = model.findIndex((m) => m.k === k);
      if (op < 5) {
        const bytes = 5 + rand(20);
        t.insert(record(k, bytes));
        if (at >= 0) model.push(...model.splice(at, 1));
        else if (bytes <= maxBytes) {
          model.push({ k, bytes });
          const total = () => model.reduce((a, m) => a + m.bytes, 0);
          while (model.length > maxEntries || total() > maxBytes) {
            modelEvicted.push(key(model.shift()!.k).slice(-1));
          }
        }
      } else if (op < 8) {
        const e = t.peek(key(k));
        assert.equal(e !== undefined, at >= 0, `step ${step}: peek ${k}`);
        if (at >= 0) model.push(...model.splice(at, 1));
      } else {
        assert.equal(await t.delete(key(k)), at >= 0);
        if (at >= 0) model.splice(at, 1);
      }
      assert.equal(t.size, model.length, `step ${step}: size`);
      assert.equal(
        t.bytes,
        model.reduce((a, m) => a + m.bytes, 0),
        `step ${step}: bytes`,
      );
    }
    assert.deepEqual(evicted, modelEvicted, `bounds ${maxEntries}/${maxBytes}: eviction order`);
    const keys: string[] = [];
    for await (const k of t.list()) keys.push(k);
    assert.deepEqual(keys.sort(), model.map((m) => key(m.k)).sort());
  }
});
