// disk-tier.ts: what the StrykerJS run (notes/mutation.md) found untested, one small deterministic test per rule. The
// fan-out directories on the write path, manifests, refusals of metadata that does not parse into an entry, the
// byte counters, the LRU touch and the publish's guards and clean-up.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';

import { codecSuffix, type Codec } from '../../src/cache/codec.js';
import { DiskTier } from '../../src/cache/disk-tier.js';
import { CACHE_FORMAT_VERSION } from '../../src/cache/key.js';
import { CacheLog } from '../../src/cache/logger.js';
import type { Manifest } from '../../src/cache/manifest.js';
import { noHooks, type TierRecord } from '../../src/cache/tier.js';
import { trustRule } from '../../src/cache/trust.js';
import { withPoolBlocked } from './blocked-pool.js';
import type { CorruptReport } from './disk-tier-fixture.js';
import { exists } from './disk-tier-fixture.js';
import { tempDir } from './fixtures.js';
import { recordFor } from './tier-conformance.js';

interface Subject {
  dir: string;
  tier: DiskTier;
  corrupt: CorruptReport[];
  warns: string[];
  debugs: string[];
  bytes: { read: number; written: number };
  kernelPath(r: TierRecord): string;
  metaPath(r: TierRecord): string;
}

/** A disk tier on `dir` that records its corruption reports, warnings, debug lines and byte counts. */
function open(dir = tempDir('gaps'), codec: Codec = 'none'): Subject {
  const corrupt: CorruptReport[] = [];
  const warns: string[] = [];
  const debugs: string[] = [];
  const bytes = { read: 0, written: 0 };
  const tier = DiskTier.open(dir, {
    rule: trustRule('private'),
    codec,
    now: Date.now,
    hooks: {
      ...noHooks,
      corrupt: (_t, key, reason, repaired) => corrupt.push({ key, reason, repaired }),
      bytesRead: (n) => (bytes.read += n),
      bytesWritten: (n) => (bytes.written += n),
    },
    log: new CacheLog({ debug: (m) => debugs.push(m), warn: (m) => warns.push(m) }, true),
  });
  assert.ok(tier, 'the disk tier opens');
  return {
    dir,
    tier,
    corrupt,
    warns,
    debugs,
    bytes,
    kernelPath: (r) => tier.layout.kernelPath(r.key, r.meta.imageKind, codecSuffix(codec)),
    metaPath: (r) => tier.layout.metaPath(r.key),
  };
}

const family = (i: number): string => recordFor(1000 + i).key;
const manifestOf = (fam: string, r: TierRecord): Manifest => ({
  formatVersion: CACHE_FORMAT_VERSION,
  family: fam,
  candidates: [{ key: r.key, names: r.meta.kernelNames, createdAt: 1 }],
});

test('a link planted at a fan-out dir before a publish is replaced by a directory; the link target is untouched', async () => {
  const d = open();
  const r = recordFor(1);
  const target = tempDir('shard-link-target');
  mkdirSync(dirname(dirname(d.kernelPath(r))), { recursive: true });
  symlinkSync(target, dirname(d.kernelPath(r)));
  await d.tier.put(r);
  assert.ok(statSync(dirname(d.kernelPath(r)), { throwIfNoEntry: false })?.isDirectory());
  assert.ok(d.tier.getSync(r.key)?.image.equals(r.image));
  assert.deepEqual(readdirSync(target), [], 'nothing written through the link');
  assert.deepEqual(d.warns, []);
});

test('a fan-out dir that cannot be made (kernels/ is a file): the publish fails, temp files go, no trust warning', async () => {
  const d = open();
  const r = recordFor(2);
  rmSync(join(d.dir, 'kernels'), { recursive: true });
  writeFileSync(join(d.dir, 'kernels'), 'not a directory');
  await assert.rejects(d.tier.put(r));
  assert.deepEqual(readdirSync(join(d.dir, 'temp')), [], 'the temp files of the failed publish are removed');
  assert.deepEqual(d.warns, [], 'an I/O error is not reported as an untrusted directory');
  assert.equal(exists(d.metaPath(r)), false);
});

test('a manifest in a world-writable fan-out dir is not read, with one warning; a read creates no directory', async () => {
  const d = open();
  const fam = family(1);
  const absent = family(2);
  assert.equal(d.tier.readManifestSync(absent), undefined);
  assert.equal(exists(dirname(d.tier.layout.manifestPath(absent))), false, 'a read made the fan-out dir');
  const m = manifestOf(fam, recordFor(3));
  await d.tier.writeManifest(m);
  assert.deepEqual(d.tier.readManifestSync(fam), m);
  const shard = dirname(d.tier.layout.manifestPath(fam));
  chmodSync(shard, 0o777);
  const reader = open(d.dir);
  assert.equal(reader.tier.readManifestSync(fam), undefined);
  assert.equal(reader.warns.length, 1);
  assert.match(reader.warns[0]!, /ignoring .* in the cache: it is world-writable/);
  assert.ok(exists(d.tier.layout.manifestPath(fam)), 'the manifest is left where it is');
});

test('writeManifest: a directory squatting the path is replaced; a family that is not a key is refused', async () => {
  const d = open();
  const fam = family(3);
  const m = manifestOf(fam, recordFor(4));
  mkdirSync(d.tier.layout.manifestPath(fam), { recursive: true });
  await d.tier.writeManifest(m);
  assert.deepEqual(d.tier.readManifestSync(fam), m);
  for (const bad of ['../../x', `${fam}/..`, fam.toUpperCase()]) {
    await assert.rejects(d.tier.writeManifest({ ...m, family: bad }), /not a family key/);
  }
  assert.deepEqual(readdirSync(join(d.dir, 'temp')), []);
});

test('writeManifest into an unusable fan-out dir rejects and leaves no temp file; removeManifest removes it', async () => {
  const d = open();
  const fam = family(4);
  const m = manifestOf(fam, recordFor(5));
  await d.tier.writeManifest(m);
  assert.equal(await d.tier.removeManifest(fam), true);
  assert.equal(exists(d.tier.layout.manifestPath(fam)), false);
  assert.equal(d.tier.readManifestSync(fam), undefined);
  chmodSync(dirname(d.tier.layout.manifestPath(fam)), 0o777);
  const writer = open(d.dir);
  await assert.rejects(writer.tier.writeManifest(m), /not usable|world-writable/);
  assert.deepEqual(readdirSync(join(d.dir, 'temp')), []);
});

test('metadata that parses to null or to an object without a format version: refused as the schema, removed', async () => {
  for (const [i, text] of [
    [6, 'null'],
    [7, '{}'],
    [8, '{"formatVersion":"3"}'],
  ] as const) {
    const d = open();
    const r = recordFor(i);
    await d.tier.put(r);
    writeFileSync(d.metaPath(r), text);
    assert.equal(d.tier.getSync(r.key), undefined, text);
    assert.deepEqual(
      d.corrupt.map((c) => [c.reason, c.repaired]),
      [['metadata schema', true]],
      text,
    );
    assert.equal(exists(d.metaPath(r)), false, text);
  }
});

test('metadata of another format whose schema differs: refused by its version, the metadata removed', async () => {
  const d = open();
  const r = recordFor(9);
  await d.tier.put(r);
  writeFileSync(d.metaPath(r), JSON.stringify({ formatVersion: 1, key: r.key, kernel: 'old layout' }));
  assert.equal(d.tier.getSync(r.key), undefined);
  assert.deepEqual(
    d.corrupt.map((c) => c.reason),
    ['format version 1'],
  );
  assert.equal(exists(d.metaPath(r)), false);
});

test('a kernel fan-out dir gone (seen by a fresh reader): refused as a missing kernel, the metadata removed', async () => {
  const d = open();
  const r = recordFor(10);
  await d.tier.put(r);
  rmSync(dirname(d.kernelPath(r)), { recursive: true });
  const reader = open(d.dir);
  assert.equal(reader.tier.getSync(r.key), undefined);
  assert.deepEqual(
    reader.corrupt.map((c) => [c.reason, c.repaired]),
    [['kernel file missing', true]],
  );
  assert.equal(exists(d.metaPath(r)), false);
});

test('bytes: a hit counts its two files, a publish what it wrote; integrity checks and the kept-entry check count nothing', async () => {
  for (const codec of ['none', 'gzip'] as const) {
    const d = open(undefined, codec);
    const r = recordFor(11);
    await d.tier.put(r);
    const kernel = statSync(d.kernelPath(r)).size;
    const meta = statSync(d.metaPath(r)).size;
    assert.equal(d.bytes.written, kernel + meta, codec);
    await d.tier.put(r); // a sound entry is kept: nothing written, nothing counted as read
    assert.deepEqual(d.bytes, { read: 0, written: kernel + meta }, codec);
    const check = d.tier.readForCheck(r.key);
    assert.ok(check && 'image' in check && check.image.equals(r.image), codec);
    assert.equal(d.bytes.read, 0, `${codec}: readForCheck counts nothing`);
    assert.ok(d.tier.getSync(r.key), codec);
    assert.equal(d.bytes.read, kernel + meta, codec);
  }
});

test('readMetadata: the metadata of its own key only; readForCheck reports a damaged entry and removes nothing', async () => {
  const d = open();
  const a = recordFor(12);
  const b = recordFor(13);
  await d.tier.put(a);
  await d.tier.put(b);
  assert.deepEqual(d.tier.readMetadata(a.key), { ...a.meta, codec: 'none', storedBytes: a.image.length });
  writeFileSync(d.metaPath(b), JSON.stringify(d.tier.readMetadata(a.key)));
  assert.equal(d.tier.readMetadata(b.key), undefined, "another key's metadata");
  const check = d.tier.readForCheck(b.key);
  assert.ok(check && 'reason' in check);
  assert.equal(check.reason, 'metadata describes another entry');
  assert.ok(exists(d.metaPath(b)) && exists(d.kernelPath(b)), 'a check removes nothing');
  writeFileSync(d.metaPath(b), '{');
  assert.equal(d.tier.readMetadata(b.key), undefined, 'not JSON');
  assert.equal(d.tier.readMetadata(recordFor(14).key), undefined, 'absent');
  assert.deepEqual(d.corrupt, []);
});

test('metadataShards lists shard dirs only; countShard counts the committed entries of one shard', async () => {
  const d = open();
  // recordFor 92 and 218 share the shard "10"
  const [a, b] = [recordFor(92), recordFor(218)];
  assert.equal(a.key.slice(0, 2), b.key.slice(0, 2));
  await d.tier.put(a);
  await d.tier.put(b);
  mkdirSync(join(d.dir, 'metadata', 'junk'));
  writeFileSync(join(d.dir, 'metadata', 'zz.json'), '{}');
  writeFileSync(join(dirname(d.metaPath(a)), 'notes.txt'), 'x');
  writeFileSync(join(dirname(d.metaPath(a)), `${a.key}.json.tmp`), 'x');
  assert.deepEqual(d.tier.metadataShards(), ['10']);
  assert.equal(d.tier.countShard('10'), 2);
  assert.equal(d.tier.countShard('11'), 0);
});

const mtimeOf = (p: string): number => Math.round(statSync(p).mtimeMs);

test('touch, synchronous: done when it returns, on the disk codec when the recorded one differs; false when nothing took', async () => {
  const d = open(undefined, 'gzip');
  const r = recordFor(15);
  await d.tier.put(r);
  const gz = d.kernelPath(r);
  const t = 1_500_000_000_000;
  // a memory copy of a fresh compile records codec none; the disk stored gzip
  const [took, mtime] = await withPoolBlocked(() => [
    d.tier.touch(r.key, { imageKind: 'cubin', codec: 'none' }, t, true),
    mtimeOf(gz),
  ]);
  assert.equal(took, true);
  assert.equal(mtime, t, 'the touch took before touch() returned');
  assert.equal(d.tier.touch(r.key, { imageKind: 'cubin', codec: 'gzip' }, t + 1000, true), true);
  assert.equal(mtimeOf(gz), t + 1000);
  const absent = recordFor(16).key;
  assert.equal(d.tier.touch(absent, { imageKind: 'cubin', codec: 'gzip' }, t, true), false);
  assert.equal(d.tier.touch(absent, { imageKind: 'cubin', codec: 'none' }, t, true), false);
});

test('touch, fire and forget: returns true, lands shortly after, on the disk codec too; an absent entry is no error', async () => {
  const d = open(undefined, 'gzip');
  const r = recordFor(17);
  await d.tier.put(r);
  const gz = d.kernelPath(r);
  const t = 1_600_000_000_000;
  assert.equal(d.tier.touch(r.key, { imageKind: 'cubin', codec: 'gzip' }, t, false), true);
  await new Promise((res) => setTimeout(res, 50));
  assert.equal(mtimeOf(gz), t);
  assert.equal(d.tier.touch(r.key, { imageKind: 'cubin', codec: 'none' }, t + 1000, false), true);
  await new Promise((res) => setTimeout(res, 50));
  assert.equal(mtimeOf(gz), t + 1000, 'the disk codec is tried after the recorded one');
  // same codec, nothing there: the callback has no second path to try, and must not throw
  d.tier.touch(recordFor(18).key, { imageKind: 'cubin', codec: 'gzip' }, t, false);
  await new Promise((res) => setTimeout(res, 50));
});

test('put: a record whose key is not a cache key is refused before anything is written', async () => {
  const d = open();
  const r = recordFor(19);
  for (const key of [`../${r.key}`, `${r.key}x`, 'x'.repeat(64)]) {
    await assert.rejects(d.tier.put({ ...r, key }), /not a cache key/);
  }
  assert.deepEqual(readdirSync(join(d.dir, 'temp')), []);
  assert.deepEqual(readdirSync(join(d.dir, 'metadata')), []);
});

test('put: directories squatting the kernel and metadata paths are removed and the entry published', async () => {
  for (const which of ['kernel', 'metadata'] as const) {
    const d = open();
    const r = recordFor(20);
    const p = which === 'kernel' ? d.kernelPath(r) : d.metaPath(r);
    mkdirSync(join(p, 'inner'), { recursive: true });
    await d.tier.put(r);
    assert.ok(d.tier.getSync(r.key)?.image.equals(r.image), which);
  }
});

/** A UNIX socket at `path` (opening it fails with ENXIO: an I/O error that says nothing about the path's trust). */
async function socketAt(path: string): Promise<Server> {
  rmSync(path, { force: true });
  const server = createServer();
  await new Promise<void>((res) => server.listen(path, res));
  assert.ok(lstatSync(path).isSocket(), `no socket at ${path}`);
  return server;
}

test('a read that fails for another reason than an unusable path is a plain miss: logged, nothing reported or removed', async () => {
  for (const which of ['metadata', 'kernel'] as const) {
    // a short root: a socket's path must fit in 108 bytes
    const d = open(mkdtempSync(join(tmpdir(), 's-')));
    const r = recordFor(21);
    await d.tier.put(r);
    const p = which === 'metadata' ? d.metaPath(r) : d.kernelPath(r);
    const server = await socketAt(p);
    try {
      const reader = open(d.dir);
      assert.equal(reader.tier.getSync(r.key), undefined, which);
      assert.deepEqual(reader.corrupt, [], which);
      assert.ok(exists(d.metaPath(r)) && exists(d.kernelPath(r)), `${which}: nothing removed`);
      assert.deepEqual(
        reader.debugs.filter((m) => /disk read of/.test(m)),
        [`disk read of ${p} failed: ENXIO`],
        which,
      );
    } finally {
      await new Promise((res) => server.close(res));
    }
  }
  // a missing entry (in a shard that exists: recordFor 92 and 218 share "10") is not worth a debug line
  const d = open();
  await d.tier.put(recordFor(92));
  assert.equal(d.tier.getSync(recordFor(218).key), undefined);
  assert.deepEqual(
    d.debugs.filter((m) => /disk read of/.test(m)),
    [],
  );
});

const isRoot = process.getuid?.() === 0;

test(
  'a damaged entry that cannot be removed (a read-only mount) is reported as not repaired',
  { skip: !isRoot && 'needs root (to mount a tmpfs)' },
  async (t) => {
    const at = tempDir('ro-mount');
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4096k,mode=0700', 'tmpfs', at], {
      encoding: 'utf8',
    });
    if (m.status !== 0) {
      t.skip(`mount is not permitted here (${m.stderr.trim()})`);
      return;
    }
    try {
      const d = open(join(at, 'cache'));
      const r = recordFor(23);
      await d.tier.put(r);
      truncateSync(d.kernelPath(r), 10);
      assert.equal(spawnSync('mount', ['-o', 'remount,ro', at]).status, 0, 'remount read-only');
      assert.equal(d.tier.getSync(r.key), undefined);
      assert.deepEqual(
        d.corrupt.map((c) => [c.reason, c.repaired]),
        [[`kernel is 10 bytes, expected ${r.image.length}`, false]],
      );
      assert.ok(exists(d.metaPath(r)), 'still there: the mount is read-only');
    } finally {
      if (spawnSync('umount', [at]).status !== 0) spawnSync('umount', ['-l', at]);
      rmSync(at, { recursive: true, force: true });
    }
  },
);

test('an entry in a world-writable metadata fan-out dir is not read: a plain miss, one warning, nothing removed', async () => {
  const d = open();
  const r = recordFor(24);
  await d.tier.put(r);
  chmodSync(dirname(d.metaPath(r)), 0o777);
  const reader = open(d.dir);
  assert.equal(reader.tier.getSync(r.key), undefined);
  assert.deepEqual(reader.corrupt, []);
  assert.equal(reader.warns.length, 1);
  assert.match(reader.warns[0]!, /ignoring .*metadata.* in the cache: it is world-writable/);
  assert.ok(exists(d.metaPath(r)) && exists(d.kernelPath(r)));
});

test('a publish over a committed entry whose kernel cannot be read (a socket there) replaces it', async () => {
  const d = open(mkdtempSync(join(tmpdir(), 's-')));
  const r = recordFor(25);
  await d.tier.put(r);
  const server = await socketAt(d.kernelPath(r));
  try {
    const writer = open(d.dir);
    await writer.tier.put(r);
    assert.ok(writer.tier.getSync(r.key)?.image.equals(r.image));
  } finally {
    await new Promise((res) => server.close(res));
  }
});
