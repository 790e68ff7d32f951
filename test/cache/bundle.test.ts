// Bundles (.cuopbundle): the round trip, determinism and layout, and every way to plant something in one
// (members of other types, names that escape, extra, duplicate and missing members, altered bytes, bad
// signatures), each refused whole or per entry as src/cache/bundle.ts says.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';

import {
  decodeBundle,
  encodeBundle,
  readBundle,
  tarMembers,
  untarMembers,
  writeBundle,
  type BundleManifest,
  type BundleRead,
  type TarMember,
} from '../../src/cache/bundle.js';
import { CACHE_FORMAT_VERSION } from '../../src/cache/key.js';
import { sha256Hex } from '../../src/cache/sha256.js';
import type { TierRecord } from '../../src/cache/tier.js';
import { recordFor } from './tier-conformance.js';

const SECRET = { id: 'k1', secret: 'first-secret-0123456789' };
const OLD = { id: 'old', secret: 'old-secret-0123456789' };
const NEW = { id: 'new', secret: 'new-secret-0123456789' };
const NOW = 1_750_000_000_000;
const W = { cuopVersion: '0.1.0', now: NOW };
const RECS = [recordFor(1), recordFor(2), recordFor(3)];
const signed = (recs: readonly TierRecord[] = RECS): Buffer => encodeBundle(recs, { ...W, signer: SECRET });
const unsigned = (recs: readonly TierRecord[] = RECS): Buffer => encodeBundle(recs, W);
const trusting = { secrets: [SECRET], requireSignature: true };
const lenient = { secrets: [SECRET], requireSignature: false };

function unpack(bundle: Buffer): TarMember[] {
  const r = untarMembers(gunzipSync(bundle));
  assert.ok('members' in r, 'a bundle cuop wrote untars');
  return r.members.map((m) => ({ name: m.name, data: Buffer.from(m.data) }));
}
const repack = (members: readonly TarMember[]): Buffer => gzipSync(tarMembers(members));
const edit = (bundle: Buffer, fn: (m: TarMember[]) => TarMember[]): Buffer => repack(fn(unpack(bundle)));
const member = (ms: readonly TarMember[], name: string): TarMember => {
  const m = ms.find((x) => x.name === name);
  assert.ok(m, `member ${name}`);
  return m;
};

/** Rewrites the manifest (the signature is dropped: it no longer matches). */
function editManifest(ms: TarMember[], fn: (m: BundleManifest) => void): TarMember[] {
  const man = member(ms, 'cuop-bundle.json');
  const parsed = JSON.parse(man.data.toString('utf8')) as BundleManifest;
  fn(parsed);
  man.data = Buffer.from(JSON.stringify(parsed));
  return ms.filter((m) => m.name !== 'signature.json');
}

/** Rewrites one entry's metadata and its listing's hash, so only the metadata itself is wrong. */
function editMeta(bundle: Buffer, key: string, fn: (meta: Record<string, unknown>) => void): Buffer {
  return edit(bundle, (ms) => {
    const m = member(ms, `meta/${key}.json`);
    const meta = JSON.parse(m.data.toString('utf8')) as Record<string, unknown>;
    fn(meta);
    m.data = Buffer.from(JSON.stringify(meta));
    return editManifest(ms, (man) => {
      const l = man.entries.find((e) => e.key === key)!;
      l.metaSha256 = sha256Hex(m.data);
    });
  });
}

function accepted(r: BundleRead): Extract<BundleRead, { ok: true }> {
  assert.ok(r.ok, `accepted (${r.ok ? '' : r.rejected})`);
  return r;
}
function rejected(r: BundleRead, why: RegExp): void {
  assert.equal(r.ok, false, 'the whole bundle is refused');
  if (!r.ok) assert.match(r.rejected, why);
}
/** Every entry imported but `bad`, which carries a problem matching `why`. */
function onlyBad(r: BundleRead, bad: string, why: RegExp): void {
  const ok = accepted(r);
  assert.equal(ok.entries.length, RECS.length);
  for (const e of ok.entries) {
    if (e.key === bad) {
      assert.ok('problem' in e, `entry ${bad} refused`);
      assert.match(e.problem, why);
    } else assert.ok('record' in e, `entry ${e.key} imported (${'problem' in e ? e.problem : ''})`);
  }
}

test('round trip: every record comes back equal, signed by its key id, with the manifest describing them', () => {
  const recs = [recordFor(3), recordFor(1), recordFor(2)];
  recs[0]!.meta.driverVersion = '580.65';
  const r = accepted(decodeBundle(signed(recs), trusting));
  assert.equal(r.signedBy, 'k1');
  const sorted = [...recs].sort((a, b) => (a.key < b.key ? -1 : 1));
  assert.deepEqual(
    r.entries.map((e) => e.key),
    sorted.map((x) => x.key),
  );
  for (const [i, e] of r.entries.entries()) {
    assert.ok('record' in e, 'imported');
    assert.deepEqual(e.record.meta, sorted[i]!.meta);
    assert.equal(e.record.key, sorted[i]!.key);
    assert.ok(e.record.image.equals(sorted[i]!.image));
  }
  const m = r.manifest;
  assert.equal(m.format, 'cuop-bundle');
  assert.equal(m.version, 1);
  assert.equal(m.createdAt, NOW);
  assert.equal(m.cuopVersion, '0.1.0');
  assert.equal(m.cacheFormatVersion, CACHE_FORMAT_VERSION);
  assert.deepEqual(m.targets, ['sm_90']);
  assert.deepEqual(m.compilers, ['nvcc conformance']);
  assert.deepEqual(m.driverVersions, ['580.65']);
  assert.deepEqual(m.entries[0], {
    key: sorted[0]!.key,
    metaSha256: sha256Hex(JSON.stringify(sorted[0]!.meta)),
    imageSha256: sha256Hex(sorted[0]!.image),
    imageBytes: sorted[0]!.image.length,
    target: 'sm_90',
    compiler: { id: 'nvcc', version: 'conformance' },
    imageKind: 'cubin',
    kernelNames: sorted[0]!.meta.kernelNames,
  });
});

test('determinism: the same records (in any order, same now) give the same bytes; a duplicate key keeps the first', () => {
  const a = signed([recordFor(1), recordFor(2), recordFor(3)]);
  assert.ok(a.equals(signed([recordFor(3), recordFor(1), recordFor(2)])));
  assert.ok(
    !a.equals(encodeBundle(RECS, { ...W, now: NOW + 1, signer: SECRET })),
    'createdAt is in the bytes',
  );
  const dup = recordFor(1);
  const other = { ...recordFor(1, 50), key: dup.key };
  const r = accepted(decodeBundle(unsigned([dup, other]), lenient));
  assert.equal(r.entries.length, 1);
  const e = r.entries[0]!;
  assert.ok('record' in e && e.record.image.equals(dup.image), 'the first record wins');
});

test('layout: manifest first, then the signature, metadata and images; regular files, mode 0644, mtime 0, owner 0', () => {
  const tar = gunzipSync(signed());
  const names = unpack(signed()).map((m) => m.name);
  const keys = RECS.map((r) => r.key).sort();
  const shas = RECS.map((r) => sha256Hex(r.image)).sort();
  assert.deepEqual(names, [
    'cuop-bundle.json',
    'signature.json',
    ...keys.map((k) => `meta/${k}.json`),
    ...shas.map((s) => `images/${s}.bin`),
  ]);
  // Walk the headers themselves.
  let off = 0;
  for (let i = 0; i < names.length; i++) {
    const h = tar.subarray(off, off + 512);
    assert.equal(h.subarray(100, 107).toString('latin1'), '0000644');
    assert.equal(h.subarray(108, 115).toString('latin1'), '0000000', 'uid');
    assert.equal(h.subarray(116, 123).toString('latin1'), '0000000', 'gid');
    assert.equal(h.subarray(136, 147).toString('latin1'), '00000000000', 'mtime');
    assert.equal(h.subarray(156, 157).toString('latin1'), '0', 'regular file');
    assert.equal(h.subarray(257, 265).toString('latin1'), 'ustar\u000000');
    const size = parseInt(h.subarray(124, 135).toString('latin1'), 8);
    off += 512 + Math.ceil(size / 512) * 512;
  }
  assert.ok(tar.subarray(off).equals(Buffer.alloc(1024)), 'two zero blocks end it');
});

test('the signature is HMAC-SHA256 over the exact manifest bytes, domain cuop-bundle-v1', () => {
  const ms = unpack(signed());
  const man = member(ms, 'cuop-bundle.json').data;
  const sig = JSON.parse(member(ms, 'signature.json').data.toString('utf8')) as { kid: string; hmac: string };
  const want = createHmac('sha256', SECRET.secret)
    .update(`cuop-bundle-v1\n${man.length}\n`)
    .update(man)
    .digest('hex');
  assert.deepEqual(sig, { kid: 'k1', hmac: want });
});

test('shared images: two entries with identical images store one image member, and both import', () => {
  const a = recordFor(5);
  const k2 = sha256Hex('another key');
  const b: TierRecord = { key: k2, image: Buffer.from(a.image), meta: { ...a.meta, key: k2 } };
  const bundle = unsigned([a, b, recordFor(6)]);
  const images = unpack(bundle).filter((m) => m.name.startsWith('images/'));
  assert.equal(images.length, 2);
  const r = accepted(decodeBundle(bundle, lenient));
  assert.equal(r.entries.length, 3);
  for (const e of r.entries) assert.ok('record' in e);
  const ab = r.entries.filter((e) => e.key === a.key || e.key === k2);
  for (const e of ab) assert.ok('record' in e && e.record.image.equals(a.image));
});

test('a flipped byte in an image refuses that entry (its SHA-256), and the others import', () => {
  const bad = RECS[1]!;
  const bundle = edit(signed(), (ms) => {
    member(ms, `images/${sha256Hex(bad.image)}.bin`).data[100]! ^= 1;
    return ms;
  });
  onlyBad(decodeBundle(bundle, trusting), bad.key, /SHA-256|checksum/);
});

test('a flipped byte in the manifest of a signed bundle refuses it whole (signature)', () => {
  const bundle = edit(signed(), (ms) => {
    const m = member(ms, 'cuop-bundle.json');
    m.data = Buffer.from(m.data.toString('utf8').replace('"0.1.0"', '"0.1.1"'));
    return ms;
  });
  rejected(decodeBundle(bundle, trusting), /signature .*does not verify/);
  rejected(decodeBundle(bundle, lenient), /signature .*does not verify/);
});

test('an extra member refuses the bundle whole, even one of a valid name', () => {
  const extraMeta = edit(unsigned(), (ms) => [
    ...ms,
    { name: `meta/${recordFor(9).key}.json`, data: Buffer.from('{}') },
  ]);
  rejected(decodeBundle(extraMeta, lenient), /does not list/);
  const extraImage = edit(unsigned(), (ms) => [
    ...ms,
    { name: `images/${'0'.repeat(64)}.bin`, data: Buffer.from('x') },
  ]);
  rejected(decodeBundle(extraImage, lenient), /does not list/);
});

test('names outside the four forms are refused whole: ../, absolute, nested, odd case', () => {
  for (const name of [
    '../x',
    '/etc/passwd',
    `meta/../../${'a'.repeat(64)}.json`,
    'a/b/c',
    `meta/${'A'.repeat(64)}.json`,
    `./cuop-bundle.json`,
    'cuop-bundle.json/',
    `images/${'a'.repeat(64)}.bin.sh`,
  ]) {
    const bundle = edit(unsigned(), (ms) => [...ms, { name, data: Buffer.from('planted') }]);
    rejected(decodeBundle(bundle, lenient), /no name a cuop bundle has/);
  }
});

test('members that are not regular files are refused whole: links, directory, device, FIFO, pax and GNU headers', () => {
  const img = `images/${sha256Hex(RECS[0]!.image)}.bin`;
  const cases: [TarMember, RegExp][] = [
    [{ name: img, data: Buffer.alloc(0), type: '2', linkname: '/etc/passwd' }, /symbolic link/],
    [{ name: img, data: Buffer.alloc(0), type: '1', linkname: 'cuop-bundle.json' }, /hard link/],
    [{ name: 'meta', data: Buffer.alloc(0), type: '5' }, /directory/],
    [{ name: img, data: Buffer.alloc(0), type: '3' }, /character device/],
    [{ name: img, data: Buffer.alloc(0), type: '6' }, /FIFO/],
    [{ name: 'PaxHeader', data: Buffer.from('30 path=../../etc/passwd\n'), type: 'x' }, /pax/],
    [{ name: '././@LongLink', data: Buffer.from('../x\0'), type: 'L' }, /GNU long name/],
  ];
  for (const [planted, why] of cases) {
    // Replacing the image member (so the name is one the manifest lists) or added before everything.
    const bundle = edit(unsigned(), (ms) => [planted, ...ms.filter((m) => m.name !== planted.name)]);
    rejected(decodeBundle(bundle, lenient), why);
  }
});

test('a duplicate member name is refused whole', () => {
  const key = RECS[0]!.key;
  const bundle = edit(unsigned(), (ms) => [...ms, { ...member(ms, `meta/${key}.json`) }]);
  rejected(decodeBundle(bundle, lenient), /twice/);
});

test('a listed member missing (an image, a metadata file, the manifest) refuses the bundle whole', () => {
  const img = `images/${sha256Hex(RECS[2]!.image)}.bin`;
  rejected(
    decodeBundle(
      edit(signed(), (ms) => ms.filter((m) => m.name !== img)),
      trusting,
    ),
    /lacks/,
  );
  const meta = `meta/${RECS[0]!.key}.json`;
  rejected(
    decodeBundle(
      edit(signed(), (ms) => ms.filter((m) => m.name !== meta)),
      trusting,
    ),
    /lacks/,
  );
  rejected(
    decodeBundle(
      edit(unsigned(), (ms) => ms.filter((m) => m.name !== 'cuop-bundle.json')),
      lenient,
    ),
    /no cuop-bundle\.json/,
  );
});

test('a wrong signature is refused whole: another HMAC, another secret under the same key id, malformed', () => {
  const forged = edit(signed(), (ms) => {
    member(ms, 'signature.json').data = Buffer.from(JSON.stringify({ kid: 'k1', hmac: 'ab'.repeat(32) }));
    return ms;
  });
  rejected(decodeBundle(forged, trusting), /does not verify/);
  const otherSecret = { secrets: [{ id: 'k1', secret: 'not-the-secret-0123' }], requireSignature: true };
  rejected(decodeBundle(signed(), otherSecret), /does not verify/);
  const malformed = edit(signed(), (ms) => {
    member(ms, 'signature.json').data = Buffer.from('{"kid":"k1"}');
    return ms;
  });
  rejected(decodeBundle(malformed, lenient), /signature\.json is malformed/);
});

test('a signature with an unknown key id is refused whole, required or not', () => {
  const bundle = encodeBundle(RECS, { ...W, signer: { id: 'k9', secret: 'someone-else-0123456789' } });
  rejected(decodeBundle(bundle, trusting), /key id "k9"/);
  rejected(decodeBundle(bundle, lenient), /key id "k9"/);
});

test('no signature where one is required is refused whole; unsigned is accepted when not required', () => {
  rejected(decodeBundle(unsigned(), trusting), /unsigned/);
  const stripped = edit(signed(), (ms) => ms.filter((m) => m.name !== 'signature.json'));
  rejected(decodeBundle(stripped, trusting), /unsigned/);
  const r = accepted(decodeBundle(unsigned(), { secrets: [], requireSignature: false }));
  assert.equal(r.signedBy, undefined);
  assert.equal(r.entries.length, RECS.length);
  for (const e of r.entries) assert.ok('record' in e);
});

test('key rotation: secrets [new, old] accept a bundle signed with old; [new] alone does not', () => {
  const bundle = encodeBundle(RECS, { ...W, signer: OLD });
  const r = accepted(decodeBundle(bundle, { secrets: [NEW, OLD], requireSignature: true }));
  assert.equal(r.signedBy, 'old');
  rejected(decodeBundle(bundle, { secrets: [NEW], requireSignature: true }), /key id "old"/);
});

test('not a bundle: garbage bytes, a truncated gzip, gzip of something else, a truncated tar, a bad header checksum', () => {
  const good = signed();
  rejected(decodeBundle(Buffer.from('this is not a bundle at all'), lenient), /not gzip/);
  rejected(decodeBundle(Buffer.alloc(0), lenient), /not gzip/);
  rejected(decodeBundle(good.subarray(0, Math.floor(good.length / 2)), lenient), /truncated or corrupt/);
  rejected(decodeBundle(gzipSync(Buffer.from('hello, world')), lenient), /not a tar/);
  const tar = gunzipSync(good);
  rejected(decodeBundle(gzipSync(tar.subarray(0, tar.length - 1024)), lenient), /not a tar.*truncated/);
  rejected(decodeBundle(gzipSync(tar.subarray(0, 700)), lenient), /not a tar/);
  const flipped = Buffer.from(tar);
  flipped[265] = 0x41; // uname, covered only by the header checksum
  rejected(decodeBundle(gzipSync(flipped), lenient), /bad checksum/);
  assert.ok(accepted(decodeBundle(gzipSync(tar), trusting)), 'the same tar unflipped is accepted');
});

test('an entry of another cache format is refused alone, saying so', () => {
  const bad = RECS[0]!.key;
  const bundle = editMeta(unsigned(), bad, (m) => {
    m['formatVersion'] = CACHE_FORMAT_VERSION + 1;
  });
  onlyBad(decodeBundle(bundle, lenient), bad, /another cuop cache format/);
});

test('per entry: malformed metadata names its field; metadata of another key; disagreeing with its listing', () => {
  const k = RECS[2]!.key;
  onlyBad(
    decodeBundle(
      editMeta(unsigned(), k, (m) => {
        m['target'] = 90;
      }),
      lenient,
    ),
    k,
    /field target/,
  );
  onlyBad(
    decodeBundle(
      editMeta(unsigned(), k, (m) => {
        m['key'] = RECS[0]!.key;
      }),
      lenient,
    ),
    k,
    /another entry/,
  );
  const listing = edit(unsigned(), (ms) =>
    editManifest(ms, (man) => {
      man.entries.find((e) => e.key === k)!.imageKind = 'ptx';
    }),
  );
  onlyBad(decodeBundle(listing, lenient), k, /disagrees with the manifest/);
  // The meta's own checksum field is what recordProblem checks (the listing's hashes still match).
  onlyBad(
    decodeBundle(
      editMeta(unsigned(), k, (m) => {
        (m['checksum'] as { value: string }).value = 'f'.repeat(64);
      }),
      lenient,
    ),
    k,
    /checksum mismatch/,
  );
  const metaFlip = edit(unsigned(), (ms) => {
    member(ms, `meta/${k}.json`).data[5]! ^= 1;
    return ms;
  });
  onlyBad(decodeBundle(metaFlip, lenient), k, /metadata's SHA-256/);
});

test('a malformed manifest is refused whole: not JSON, another version, a bad listing, lying summaries', () => {
  const withManifest = (text: string): Buffer =>
    edit(unsigned(), (ms) => {
      member(ms, 'cuop-bundle.json').data = Buffer.from(text);
      return ms;
    });
  rejected(decodeBundle(withManifest('{not json'), lenient), /not JSON/);
  const cases: [(m: BundleManifest) => void, RegExp][] = [
    [(m) => ((m as unknown as { version: number }).version = 2), /version 2/],
    [(m) => ((m as unknown as { format: string }).format = 'tar'), /format/],
    [(m) => ((m.entries[0] as unknown as { imageBytes: number }).imageBytes = -1), /entries\[0\]/],
    [(m) => m.entries.reverse(), /not sorted/],
    [(m) => (m.targets = ['sm_80']), /targets disagrees/],
    [(m) => (m.compilers = []), /compilers disagrees/],
  ];
  for (const [fn, why] of cases) {
    rejected(
      decodeBundle(
        edit(unsigned(), (ms) => editManifest(ms, fn)),
        lenient,
      ),
      why,
    );
  }
});

test('maxBytes bounds the packed and the unpacked size', () => {
  const big = unsigned([recordFor(1, 400_000)]); // compresses far below its unpacked size
  assert.ok(big.length < 50_000);
  rejected(decodeBundle(big, { ...lenient, maxBytes: 100_000 }), /unpacks to more than/);
  rejected(decodeBundle(big, { ...lenient, maxBytes: 1000 }), /more than the 1000 allowed/);
  accepted(decodeBundle(big, { ...lenient, maxBytes: 500_000 }));
});

test('encodeBundle refuses a record that fails verification', () => {
  const r = recordFor(4);
  const bad: TierRecord = { ...r, image: Buffer.from(r.image).fill(7, 200, 210) };
  assert.throws(() => unsigned([bad]), /fails verification \(checksum mismatch\)/);
  assert.throws(() => unsigned([{ ...r, key: 'not-a-key' }]), /not a cache key|fails verification/);
});

test('writeBundle then readBundle: a file on disk, no temp file left; directories, FIFOs and big files refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cuop-bundle-'));
  try {
    const path = join(dir, 'warm.cuopbundle');
    const w = await writeBundle(path, [...RECS, RECS[0]!], { ...W, signer: SECRET });
    assert.deepEqual(w, { bytes: signed().length, entries: 3, signed: true });
    assert.deepEqual(readdirSync(dir), ['warm.cuopbundle']);
    const r = accepted(await readBundle(path, trusting));
    assert.equal(r.signedBy, 'k1');
    assert.equal(r.entries.filter((e) => 'record' in e).length, 3);
    // Replaced atomically over an existing file.
    await writeBundle(path, RECS.slice(0, 1), W);
    assert.equal(accepted(await readBundle(path, lenient)).entries.length, 1);

    rejected(await readBundle(path, { ...lenient, maxBytes: 100 }), /more than the 100 allowed/);
    const sub = join(dir, 'sub');
    mkdirSync(sub);
    rejected(await readBundle(sub, lenient), /not a regular file/);
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    rejected(await readBundle(fifo, lenient), /not a regular file/);
    writeFileSync(join(dir, 'garbage'), 'garbage');
    rejected(await readBundle(join(dir, 'garbage'), lenient), /not gzip/);
    await assert.rejects(readBundle(join(dir, 'absent'), lenient), { code: 'ENOENT' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
