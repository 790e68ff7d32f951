// The disk tier's read path (disk-tier.ts inspect, safe-fs.ts readTrusted): one small deterministic test per rule
// that the randomized fault-injection test only covers by chance. Each plants one fault in a published entry and
// checks the record is refused with its reason, reported once, and the files it names removed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  copyFileSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';

import type { Codec } from '../../src/cache/codec.js';
import { MAX_METADATA_BYTES } from '../../src/cache/disk-scan.js';
import { CACHE_FORMAT_VERSION } from '../../src/cache/key.js';
import type { TierRecord } from '../../src/cache/tier.js';
import { exists, fileState, openDisk, type DiskSubject } from './disk-tier-fixture.js';
import { here, tempDir } from './fixtures.js';
import { recordFor } from './tier-conformance.js';

async function published(i: number, codec: Codec = 'none'): Promise<{ d: DiskSubject; r: TierRecord }> {
  const d = openDisk(codec);
  const r = recordFor(i);
  await d.tier.put(r);
  return { d, r };
}

/** The read is a miss, reported once with `reason`, repaired; `removed` are gone afterwards. */
function refused(d: DiskSubject, r: TierRecord, reason: RegExp, removed: string[]): void {
  assert.equal(d.tier.getSync(r.key), undefined, 'the entry was returned');
  assert.equal(d.corrupt.length, 1, `reports: ${JSON.stringify(d.corrupt)}`);
  assert.equal(d.corrupt[0]!.key, r.key);
  assert.match(d.corrupt[0]!.reason, reason);
  assert.equal(d.corrupt[0]!.repaired, true);
  for (const p of removed) assert.ok(!exists(p), `${p} was not removed`);
}

const metaJson = (d: DiskSubject, r: TierRecord): Record<string, unknown> =>
  JSON.parse(readFileSync(d.metaPath(r), 'utf8')) as Record<string, unknown>;

test('a sound entry reads back whole, nothing reported', async () => {
  for (const codec of ['none', 'gzip'] as const) {
    const { d, r } = await published(1, codec);
    const got = d.tier.getSync(r.key);
    assert.ok(got?.image.equals(r.image), codec);
    assert.deepEqual(d.corrupt, []);
  }
});

test('metadata that is not JSON: refused, metadata removed', async () => {
  const { d, r } = await published(2);
  writeFileSync(d.metaPath(r), '{"key": ');
  refused(d, r, /^metadata is not JSON$/, [d.metaPath(r)]);
});

test('metadata that breaks the schema (a field of the wrong type): refused, metadata removed', async () => {
  const { d, r } = await published(3);
  writeFileSync(d.metaPath(r), JSON.stringify({ ...metaJson(d, r), storedBytes: '1037' }));
  refused(d, r, /^metadata schema$/, [d.metaPath(r)]);
});

test('metadata of a future format version: refused by its version, both files removed', async () => {
  const { d, r } = await published(4);
  writeFileSync(
    d.metaPath(r),
    JSON.stringify({ ...metaJson(d, r), formatVersion: CACHE_FORMAT_VERSION + 1 }),
  );
  refused(d, r, new RegExp(`^format version ${CACHE_FORMAT_VERSION + 1}$`), [d.metaPath(r), d.kernelPath(r)]);
});

test("metadata whose key is not its file's key (another entry's, same sizes): refused, both files removed", async () => {
  const d = openDisk();
  const a = recordFor(5, 2000);
  const b = recordFor(6, 2000);
  await d.tier.put(a);
  await d.tier.put(b);
  // b's commit record at a's path: every size agrees, only the key tells them apart
  copyFileSync(d.metaPath(b), d.metaPath(a));
  refused(d, a, /^metadata describes another entry$/, [d.metaPath(a), d.kernelPath(a)]);
  assert.ok(d.tier.getSync(b.key)?.image.equals(b.image), 'the other entry is untouched');
});

test('a kernel file missing: refused, the metadata removed', async () => {
  const { d, r } = await published(7);
  rmSync(d.kernelPath(r));
  refused(d, r, /^kernel file missing$/, [d.metaPath(r)]);
});

test('missing metadata is a plain miss, nothing reported, the kernel file left for the sweep', async () => {
  const { d, r } = await published(8);
  rmSync(d.metaPath(r));
  assert.equal(d.tier.getSync(r.key), undefined);
  assert.deepEqual(d.corrupt, []);
  assert.ok(exists(d.kernelPath(r)));
});

for (const codec of ['none', 'gzip'] as const) {
  test(`a kernel file shorter than recorded (${codec}): refused by its stored size, before decompressing or hashing`, async () => {
    const { d, r } = await published(9, codec);
    const n = fileState(d.kernelPath(r)).size;
    truncateSync(d.kernelPath(r), n - 1);
    refused(d, r, new RegExp(`^kernel is ${n - 1} bytes, expected ${n}$`), [d.metaPath(r), d.kernelPath(r)]);
  });
}

test('a kernel file longer than recorded: refused by the bounded read, never read past its recorded size', async () => {
  const { d, r } = await published(10);
  appendFileSync(d.kernelPath(r), 'x');
  refused(d, r, /^kernel: it is 1371 bytes, more than the 1370 it can be$/, [d.metaPath(r), d.kernelPath(r)]);
});

test('metadata larger than any metadata can be: refused without being read', async () => {
  const { d, r } = await published(11);
  truncateSync(d.metaPath(r), MAX_METADATA_BYTES + 1); // sparse: the size alone refuses it
  refused(d, r, /^metadata: it is \d+ bytes, more than the \d+ it can be$/, [d.metaPath(r)]);
});

test('gzip: stored bytes of the recorded size that do not decompress: refused', async () => {
  const { d, r } = await published(12, 'gzip');
  const n = fileState(d.kernelPath(r)).size;
  writeFileSync(d.kernelPath(r), Buffer.alloc(n, 0x5a));
  refused(d, r, /^cannot decompress/, [d.metaPath(r), d.kernelPath(r)]);
});

test('gzip: a kernel that decompresses to another size than recorded: refused by the raw size', async () => {
  const { d, r } = await published(13, 'gzip');
  const other = gzipSync(r.image.subarray(0, r.image.length - 4));
  writeFileSync(d.kernelPath(r), other);
  writeFileSync(d.metaPath(r), JSON.stringify({ ...metaJson(d, r), storedBytes: other.length }));
  refused(d, r, new RegExp(`^image is ${r.image.length - 4} bytes, expected ${r.image.length}$`), [
    d.metaPath(r),
    d.kernelPath(r),
  ]);
});

/** A byte-identical copy of `path` elsewhere, and a link to it planted at `path`. */
function linkToCopy(path: string): { target: string; state: ReturnType<typeof fileState> } {
  const target = join(tempDir('link-target'), 'copy');
  copyFileSync(path, target);
  rmSync(path);
  symlinkSync(target, path);
  return { target, state: fileState(target) };
}

test('a kernel file that is a link (to a byte-identical copy): refused, never followed, the link removed', async () => {
  const { d, r } = await published(14);
  const { target, state } = linkToCopy(d.kernelPath(r));
  refused(d, r, /^kernel: is a symbolic link \(never followed\)$/, [d.metaPath(r), d.kernelPath(r)]);
  assert.deepEqual(fileState(target), state, 'the link target was touched');
});

test('a metadata file that is a link (to a byte-identical copy): refused, never followed, the link removed', async () => {
  const { d, r } = await published(15);
  const { target, state } = linkToCopy(d.metaPath(r));
  refused(d, r, /^metadata: is a symbolic link \(never followed\)$/, [d.metaPath(r)]);
  assert.deepEqual(fileState(target), state, 'the link target was touched');
});

test('a kernels/ fan-out dir that is a link (to a copy of the real one): the entry is not read through it', async () => {
  const { d, r } = await published(16);
  const shard = dirname(d.kernelPath(r));
  const copy = join(tempDir('shard-target'), 'xx');
  renameSync(shard, copy);
  symlinkSync(copy, shard);
  // a reader that has not checked the directory yet (a process checks each fan-out dir once)
  const reader = openDisk('none', d.dir);
  assert.equal(reader.tier.getSync(r.key), undefined, 'read through a linked directory');
  assert.ok(!exists(shard), 'the link was removed');
  assert.ok(exists(join(copy, d.kernelPath(r).split('/').pop()!)), 'the target was touched');
});

test('a directory at the metadata path: refused, removed', async () => {
  const { d, r } = await published(17);
  rmSync(d.metaPath(r));
  mkdirSync(d.metaPath(r));
  refused(d, r, /^metadata: it is not a regular file$/, [d.metaPath(r)]);
});

test('a directory at the kernel path: refused, removed with the metadata', async () => {
  const { d, r } = await published(18);
  rmSync(d.kernelPath(r));
  mkdirSync(d.kernelPath(r));
  refused(d, r, /^kernel: it is not a regular file$/, [d.metaPath(r), d.kernelPath(r)]);
});

test('a FIFO at the kernel path (no writer): refused as not a regular file, without blocking', () => {
  // In a child with a deadline: a blocking open of a FIFO with no writer would hang the process for good.
  const dir = tempDir('fifo');
  const script = `
    import { openDisk } from ${JSON.stringify(resolve(here, 'disk-tier-fixture.js'))};
    import { recordFor } from ${JSON.stringify(resolve(here, 'tier-conformance.js'))};
    import { execFileSync } from 'node:child_process';
    import { rmSync } from 'node:fs';
    const d = openDisk('none', ${JSON.stringify(dir)});
    const r = recordFor(19);
    await d.tier.put(r);
    rmSync(d.kernelPath(r));
    execFileSync('mkfifo', [d.kernelPath(r)]);
    const got = d.tier.getSync(r.key);
    process.stdout.write(JSON.stringify({ got: got !== undefined, corrupt: d.corrupt }));`;
  const c = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 15_000,
  });
  assert.equal(c.signal, null, 'the read blocked on the FIFO');
  assert.equal(c.status, 0, c.stderr);
  const out = JSON.parse(c.stdout) as { got: boolean; corrupt: { reason: string; repaired: boolean }[] };
  assert.equal(out.got, false);
  assert.equal(out.corrupt.length, 1);
  assert.match(out.corrupt[0]!.reason, /^kernel: it is not a regular file$/);
  assert.equal(out.corrupt[0]!.repaired, true);
});

test('a kernel file writable by the world: refused, removed', async () => {
  const { d, r } = await published(20);
  chmodSync(d.kernelPath(r), 0o646);
  refused(d, r, /^kernel: it is world-writable \(mode 0646\)$/, [d.metaPath(r), d.kernelPath(r)]);
});

test('a metadata file writable by the group (private mode): refused, removed', async () => {
  const { d, r } = await published(21);
  chmodSync(d.metaPath(r), 0o620);
  refused(d, r, /^metadata: it is group-writable/, [d.metaPath(r)]);
});

test(
  'a kernel file owned by another user: refused, removed',
  { skip: process.getuid?.() !== 0 && 'needs root (chown)' },
  async () => {
    const { d, r } = await published(22);
    chownSync(d.kernelPath(r), 12345, 12345);
    refused(d, r, /^kernel: it is owned by uid 12345, not by this user/, [d.metaPath(r), d.kernelPath(r)]);
  },
);
