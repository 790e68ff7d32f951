// The disk tier's publish (disk-tier.ts put): both files are written in temp/ and renamed into place, the kernel
// before the metadata (the commit record), and a sound entry already on disk is kept as it is. Deterministic: the
// order of the syscalls is read with strace, not guessed from timing.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { sha256Hex } from '../../src/cache/sha256.js';
import type { TierRecord } from '../../src/cache/tier.js';
import { exists, fileState, openDisk } from './disk-tier-fixture.js';
import { tempDir, worker } from './fixtures.js';
import { recordFor } from './tier-conformance.js';

const STRACE = '/usr/bin/strace';
const hasStrace = exists(STRACE) && spawnSync(STRACE, ['-o', '/dev/null', 'true']).status === 0;

interface Syscall {
  name: string;
  paths: string[];
  flags: string;
  result: string;
  /** Where the call started and where it returned, in the trace's order (threads interleave). */
  start: number;
  end: number;
}

/** The syscalls of a `strace -f` log, an unfinished call joined with its resumption. */
function parseStrace(text: string): Syscall[] {
  const calls: Syscall[] = [];
  const pending = new Map<string, Syscall>();
  text.split('\n').forEach((line, i) => {
    const resumed = /^(\d+)\s+<\.\.\. (\w+) resumed>.*= (-?\d+.*)$/.exec(line);
    if (resumed) {
      const c = pending.get(resumed[1]!);
      if (c) {
        c.result = resumed[3]!;
        c.end = i;
        pending.delete(resumed[1]!);
      }
      return;
    }
    const m = /^(\d+)\s+(\w+)\((.*)$/.exec(line);
    if (!m) return;
    const rest = m[3]!;
    const paths = [...rest.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((x) => x[1]!);
    const c: Syscall = { name: m[2]!, paths, flags: rest, result: '', start: i, end: i };
    if (rest.endsWith('<unfinished ...>')) pending.set(m[1]!, c);
    else c.result = /= (-?\d+.*)$/.exec(rest)?.[1] ?? '';
    calls.push(c);
  });
  return calls;
}

/** Runs one publish in a child process under strace; its syscalls on the entry's paths and those paths. */
function tracedPublish(codec: 'none' | 'gzip'): {
  calls: Syscall[];
  kernelPath: string;
  metaPath: string;
  tempDir: string;
} {
  const dir = tempDir('publish-trace');
  const log = join(dir, '..', `${dir.split('/').pop()}.strace`);
  const r = spawnSync(
    STRACE,
    [
      '-f',
      '-qq',
      '-e',
      'trace=open,openat,creat,rename,renameat,renameat2,link,linkat,truncate,ftruncate',
      '-o',
      log,
      process.execPath,
      worker('publish-worker'),
      dir,
      codec,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(r.status, 0, `publish worker failed: ${r.stderr}`);
  const paths = JSON.parse(r.stdout) as { kernelPath: string; metaPath: string; tempDir: string };
  return { calls: parseStrace(readFileSync(log, 'utf8')), ...paths };
}

const isRename = (c: Syscall): boolean => /^rename/.test(c.name);
const writes = (c: Syscall): boolean =>
  /^(open|openat|creat)$/.test(c.name) && /O_CREAT|O_WRONLY|O_RDWR|O_TRUNC/.test(c.flags);

for (const codec of ['none', 'gzip'] as const) {
  test(
    `publish (${codec}): both files are written in temp/ and renamed into place, never opened for writing at their final paths`,
    { skip: !hasStrace && 'strace is not installed' },
    () => {
      const t = tracedPublish(codec);
      for (const dest of [t.kernelPath, t.metaPath]) {
        const opened = t.calls.filter((c) => writes(c) && c.paths.includes(dest));
        assert.deepEqual(opened, [], `${dest} was opened for writing at its final path`);
        const linked = t.calls.filter(
          (c) => /^(link|linkat|truncate)$/.test(c.name) && c.paths.includes(dest),
        );
        assert.deepEqual(linked, [], `${dest} was made other than by rename`);
        const renames = t.calls.filter((c) => isRename(c) && c.paths.at(-1) === dest);
        assert.equal(renames.length, 1, `${dest}: one rename onto it`);
        const from = renames[0]!.paths[0]!;
        assert.ok(from.startsWith(t.tempDir + '/'), `${dest} was renamed from ${from}, not from temp/`);
        assert.match(renames[0]!.result, /^0/, 'the rename succeeded');
        // the temp file was created new (O_EXCL, never through a link) and written before the rename
        const created = t.calls.find((c) => writes(c) && c.paths.includes(from));
        assert.ok(created, `${from} was created by this publish`);
        assert.match(created.flags, /O_EXCL/);
        assert.match(created.flags, /O_NOFOLLOW/);
        assert.ok(created.end < renames[0]!.start);
      }
    },
  );

  test(
    `publish (${codec}): the kernel file is in place before the metadata file (the commit record) appears`,
    { skip: !hasStrace && 'strace is not installed' },
    () => {
      const t = tracedPublish(codec);
      const kernel = t.calls.find((c) => isRename(c) && c.paths.at(-1) === t.kernelPath);
      const meta = t.calls.find((c) => isRename(c) && c.paths.at(-1) === t.metaPath);
      assert.ok(kernel && meta, 'both files renamed into place');
      assert.ok(
        kernel.end < meta.start,
        `the metadata rename (trace line ${meta.start}) began before the kernel rename returned (line ${kernel.end})`,
      );
    },
  );
}

/** Another record for the same key: another image (same length), so a replaced file would differ in its bytes. */
function rival(r: TierRecord): TierRecord {
  const image = Buffer.from(r.image);
  image.write('rival!', 100);
  return {
    key: r.key,
    image,
    meta: {
      ...r.meta,
      host: 'rival',
      createdAt: r.meta.createdAt + 1,
      checksum: { algorithm: 'sha256', value: sha256Hex(image) },
    },
  };
}

test('a publish over a sound entry already on disk keeps that entry byte-identical (same inodes, mtimes, bytes)', async () => {
  const first = openDisk();
  const r = recordFor(5);
  await first.tier.put(r);
  const before = [fileState(first.kernelPath(r)), fileState(first.metaPath(r))];
  // another writer of the same directory (e.g. one whose lock wait ran out) publishes its own compile of the key
  await new Promise((res) => setTimeout(res, 20)); // a replaced file would get a later mtime
  const second = openDisk('none', first.dir);
  await second.tier.put(rival(r));
  const after = [fileState(first.kernelPath(r)), fileState(first.metaPath(r))];
  assert.deepEqual(after, before, 'the entry on disk was replaced');
  const got = second.tier.getSync(r.key);
  assert.ok(got?.image.equals(r.image), 'the first image is what a reader gets');
  assert.deepEqual(readdirSync(second.tier.layout.tempDir), [], 'the unused temp files were removed');
  assert.deepEqual(first.corrupt.concat(second.corrupt), []);
});

test('a publish over an unsound entry (flipped kernel byte) replaces it', async () => {
  const d = openDisk();
  const r = recordFor(6);
  await d.tier.put(r);
  const k = readFileSync(d.kernelPath(r));
  k[10] = k[10]! ^ 0xff;
  writeFileSync(d.kernelPath(r), k);
  const before = fileState(d.kernelPath(r));
  const next = rival(r);
  await d.tier.put(next);
  assert.notEqual(fileState(d.kernelPath(r)).ino, before.ino, 'the kernel file was replaced');
  assert.ok(d.tier.getSync(r.key)?.image.equals(next.image));
  assert.deepEqual(readdirSync(d.tier.layout.tempDir), []);
});

test('a publish over a kernel file without metadata (a writer killed between its renames) completes the entry', async () => {
  const d = openDisk();
  const r = recordFor(7);
  await d.tier.put(r);
  d.tier.deleteSync(r.key);
  writeFileSync(d.kernelPath(r), 'left by a killed writer');
  assert.equal(d.tier.committed(r.key), false);
  await d.tier.put(r);
  assert.ok(d.tier.getSync(r.key)?.image.equals(r.image));
});
