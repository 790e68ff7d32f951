// `cuop cache ls` on a real cache: nvcc cubins of kernels of different sizes put through KernelCache, with known
// creation times (the cache's clock), uses (lookups that hit) and last uses (the kernel files' mtimes, which hits
// set), then listed by the real CLI in every order.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';

import { KernelCache } from '../../src/cache/kernel-cache.js';
import { nvccCubin, resultFor, specFor } from '../cache/fixtures.js';
import { cuop, cuopJson, tempDir } from './cli-fixture.js';

const quiet = { debug: () => {}, warn: () => {} };
const HOUR = 3_600_000;

/** Kernel `i` with `n` statements: bigger n, bigger cubin. */
const source = (i: number, n: number): string =>
  `extern "C" __global__ void big${i}(float* a, const float* b, int m) {\n` +
  `  int t = blockIdx.x * blockDim.x + threadIdx.x;\n  if (t >= m) return;\n` +
  Array.from({ length: n }, (_, j) => `  a[(t + ${j}) % m] += b[(t * ${j + 3}) % m] * ${j}.25f;\n`).join('') +
  '}\n';

interface Planned {
  name: string;
  statements: number;
  createdHoursAgo: number;
  lastUsedHoursAgo: number;
  hits: number;
}
// Each order differs: size a > c > b, creation b (oldest) < a < c, last use c (newest) > a > b, uses a > b > c.
const PLAN: Planned[] = [
  { name: 'big0', statements: 40, createdHoursAgo: 30, lastUsedHoursAgo: 2, hits: 4 },
  { name: 'big1', statements: 1, createdHoursAgo: 50, lastUsedHoursAgo: 5, hits: 2 },
  { name: 'big2', statements: 12, createdHoursAgo: 10, lastUsedHoursAgo: 1, hits: 0 },
];

interface Listed {
  dir: string;
  sort: string;
  reverse: boolean;
  count: number;
  bytes: number;
  entries: {
    key: string;
    kernelNames: string[];
    target: string;
    imageTarget: string;
    imageKind: string;
    compiler: { id: string; version: string };
    codec: string;
    bytes: number;
    uses: number;
    lastUseMs: number;
    createdAt: number;
  }[];
}

let dir: string;
const keys = new Map<string, string>();
const now = Date.now();

before(async () => {
  dir = join(tempDir('cli-ls'), 'c');
  let clock = now;
  const cache = new KernelCache({
    dir,
    env: {},
    logger: quiet,
    clock: () => clock,
    policy: { maintenanceIntervalMs: 0 },
  });
  for (const [i, p] of PLAN.entries()) {
    const src = source(i, p.statements);
    const image = nvccCubin(src);
    const spec = specFor(i, { source: src, nameExpressions: [p.name] });
    clock = now - p.createdHoursAgo * HOUR;
    const r = await cache.getOrCompile(spec, async () => resultFor(image, p.name));
    assert.equal(r.tier, 'compiled');
    keys.set(p.name, r.key);
    for (let h = 0; h < p.hits; h++) {
      assert.equal(
        (await cache.getOrCompile(spec, () => Promise.reject(new Error('hit expected')))).tier,
        'memory',
      );
    }
  }
  await cache.close();
  // Last use is the kernel file's mtime (hits set it): set after the cache object's own touches at close.
  for (const p of PLAN) {
    const key = keys.get(p.name)!;
    const t = (now - p.lastUsedHoursAgo * HOUR) / 1000;
    utimesSync(join(dir, 'kernels', key.slice(0, 2), `${key}.cubin`), t, t);
  }
});

const names = (l: Listed): string[] => l.entries.map((e) => e.kernelNames.join(','));
const ls = (...args: string[]): Listed =>
  cuopJson<Listed>(['cache', '--cache-dir', dir, 'ls', '--json', ...args]);

test('ls --json: every entry with its kernels, arch, compiler, kind, size, uses, last use and creation time', () => {
  const l = ls();
  assert.equal(l.dir, dir);
  assert.equal(l.count, 3);
  assert.equal(l.entries.length, 3);
  assert.equal(
    l.bytes,
    l.entries.reduce((n, e) => n + e.bytes, 0),
  );
  for (const p of PLAN) {
    const e = l.entries.find((x) => x.kernelNames[0] === p.name)!;
    assert.equal(e.key, keys.get(p.name));
    assert.deepEqual(e.kernelNames, [p.name]);
    assert.equal(e.target, 'sm_90');
    assert.equal(e.imageTarget, 'sm_90');
    assert.equal(e.imageKind, 'cubin');
    assert.deepEqual(e.compiler, { id: 'nvcc', version: '13.0.88' });
    assert.equal(e.codec, 'none');
    assert.equal(e.createdAt, now - p.createdHoursAgo * HOUR);
    assert.ok(Math.abs(e.lastUseMs - (now - p.lastUsedHoursAgo * HOUR)) < 1000, `${p.name} last use`);
    // Its compile and each hit.
    assert.equal(e.uses, 1 + p.hits, `${p.name} uses`);
    const key = keys.get(p.name)!;
    const files = [
      join(dir, 'metadata', key.slice(0, 2), `${key}.json`),
      join(dir, 'kernels', key.slice(0, 2), `${key}.cubin`),
    ];
    assert.equal(
      e.bytes,
      files.reduce((n, f) => n + readFileSync(f).length, 0),
      `${p.name} bytes`,
    );
  }
});

test('ls sorts by last use (default, most recent first), size (largest first), hits (most first), age (oldest first)', () => {
  assert.deepEqual(names(ls()), ['big2', 'big0', 'big1']);
  assert.equal(ls().sort, 'last-use');
  assert.deepEqual(names(ls('--sort', 'last-use')), ['big2', 'big0', 'big1']);
  const bySize = ls('--sort', 'size');
  assert.deepEqual(names(bySize), ['big0', 'big2', 'big1']);
  assert.ok(
    bySize.entries[0]!.bytes > bySize.entries[1]!.bytes &&
      bySize.entries[1]!.bytes > bySize.entries[2]!.bytes,
  );
  assert.deepEqual(names(ls('--sort', 'hits')), ['big0', 'big1', 'big2']);
  assert.deepEqual(names(ls('--sort', 'age')), ['big1', 'big0', 'big2']);
});

test('ls --reverse flips each order; --limit keeps the first N and still counts them all', () => {
  assert.deepEqual(names(ls('--reverse')), ['big1', 'big0', 'big2']);
  const r = ls('--sort', 'size', '--reverse');
  assert.equal(r.reverse, true);
  assert.deepEqual(names(r), ['big1', 'big2', 'big0']);
  const top = ls('--sort', 'hits', '--limit', '2');
  assert.deepEqual(names(top), ['big0', 'big1']);
  assert.equal(top.count, 3, 'count is of the whole cache');
  assert.deepEqual(names(ls('--sort', 'age', '--reverse', '--limit', '1')), ['big2']);
});

test('ls for people: a header, one line per entry (12-digit key prefix first), a total', () => {
  const r = cuop(['cache', '--cache-dir', dir, 'ls', '--sort', 'size']);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 5);
  assert.match(lines[0]!, /^KEY\s+KERNELS\s+ARCH\s+COMPILER\s+KIND\s+SIZE\s+USES\s+LAST USE\s+AGE$/);
  const [big0] = lines.slice(1, 2);
  assert.match(
    big0!,
    new RegExp(
      `^${keys.get('big0')!.slice(0, 12)}\\s+big0\\s+sm_90\\s+nvcc 13\\.0\\.88\\s+cubin\\s+[\\d.]+ KiB\\s+5\\s+2h ago\\s+1d$`,
    ),
  );
  assert.match(lines[4]!, /^3 entries, [\d.]+ KiB$/);
  const limited = cuop(['cache', '--cache-dir', dir, 'ls', '--limit', '1']);
  assert.match(limited.stdout, /^3 entries, [\d.]+ KiB \(1 shown\)$/m);
});

test('ls rejects an unknown order or a bad limit, saying what it takes', () => {
  const bad = cuop(['cache', '--cache-dir', dir, 'ls', '--sort', 'name']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--sort: expected one of last-use, size, hits, age, got name/);
  const limit = cuop(['cache', '--cache-dir', dir, 'ls', '--limit', '0']);
  assert.notEqual(limit.status, 0);
  assert.match(limit.stderr, /'--limit <n>' argument '0' is invalid\. expected a positive integer/);
});

test('ls on an empty cache says so; --json lists nothing', () => {
  const empty = join(tempDir('cli-ls-empty'), 'c');
  const r = cuop(['cache', '--cache-dir', empty, 'ls']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `no entries in ${empty}\n`);
  const j = cuopJson<Listed>(['cache', '--cache-dir', empty, 'ls', '--json']);
  assert.deepEqual([j.count, j.bytes, j.entries], [0, 0, []]);
});

test('ls reads an index an older cuop wrote (summaries without names or times) again, not as empty fields', () => {
  // A cache at rest (shard directories changed 10 s ago: the index trusts them), listed once: the index is saved.
  const past = (Date.now() - 10_000) / 1000;
  for (const top of ['metadata', 'kernels'])
    for (const s of readdirSync(join(dir, top))) utimesSync(join(dir, top, s), past, past);
  ls();
  // Strip the fields this version added, as an older cuop would have written the index.
  const path = join(dir, 'index.json');
  const index = JSON.parse(readFileSync(path, 'utf8')) as {
    shards: Record<string, { entries: { summary?: Record<string, unknown> }[] }>;
  };
  for (const s of Object.values(index.shards)) {
    for (const e of s.entries) {
      if (!e.summary) continue;
      for (const f of ['kernelNames', 'target', 'imageTarget', 'createdAt']) delete e.summary[f];
    }
  }
  assert.ok(
    Object.values(index.shards).some((s) => s.entries.length > 0),
    'the index recorded the settled shards',
  );
  writeFileSync(path, JSON.stringify(index));
  const l = ls('--sort', 'age');
  assert.deepEqual(names(l), ['big1', 'big0', 'big2']);
  assert.ok(l.entries.every((e) => e.target === 'sm_90'));
});
