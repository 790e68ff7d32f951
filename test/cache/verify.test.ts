// verify.ts recordProblem: the one check of a record from below memory. One case per rule, each on a record that is
// otherwise sound, so a rule that stops being applied is seen alone.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { CACHE_FORMAT_VERSION } from '../../src/cache/key.js';
import type { EntryMetadata } from '../../src/cache/metadata.js';
import type { ExpectedIdentity, TierRecord } from '../../src/cache/tier.js';
import { recordProblem } from '../../src/cache/verify.js';
import { recordFor } from './tier-conformance.js';

const r = recordFor(1);
const expect: ExpectedIdentity = {
  target: 'sm_90',
  compiler: { id: 'nvcc', version: 'conformance' },
  imageKind: 'cubin',
};
const withMeta = (over: Partial<EntryMetadata>): TierRecord => ({ ...r, meta: { ...r.meta, ...over } });

test('a sound record passes, with and without an expected identity and a checksum', () => {
  for (const e of [expect, undefined])
    for (const checksum of [true, false]) assert.equal(recordProblem(r, r.key, e, checksum), undefined);
});

test("the record's key and its metadata's key must both be the key asked for", () => {
  const other = recordFor(2).key;
  assert.equal(recordProblem({ ...r, key: other }, r.key, expect, true), 'metadata describes another entry');
  assert.equal(
    recordProblem(withMeta({ key: other }), r.key, expect, true),
    'metadata describes another entry',
  );
});

test('another format version is refused', () => {
  const p = recordProblem(withMeta({ formatVersion: CACHE_FORMAT_VERSION + 1 }), r.key, undefined, false);
  assert.equal(p, `format version ${CACHE_FORMAT_VERSION + 1}`);
});

test('each part of the expected identity is checked: target, compiler id, compiler version, image kind', () => {
  const cases: Partial<EntryMetadata>[] = [
    { target: 'sm_80' },
    { compiler: { id: 'nvrtc', version: 'conformance' } },
    { compiler: { id: 'nvcc', version: 'other' } },
    { requestedImageKind: 'ptx' },
  ];
  for (const over of cases) {
    assert.equal(
      recordProblem(withMeta(over), r.key, expect, false),
      'metadata describes another entry',
      JSON.stringify(over),
    );
    // without an expectation (integrity checks) identity is not compared
    assert.equal(recordProblem(withMeta(over), r.key, undefined, false), undefined, JSON.stringify(over));
  }
});

test('an image of another length than recorded is refused by its size, before any checksum', () => {
  const short = { ...r, image: r.image.subarray(0, r.image.length - 1) };
  assert.equal(
    recordProblem(short, r.key, expect, true),
    `image is ${r.image.length - 1} bytes, expected ${r.image.length}`,
  );
  assert.equal(
    recordProblem(short, r.key, expect, false),
    `image is ${r.image.length - 1} bytes, expected ${r.image.length}`,
  );
});

test('an image of the recorded length with one byte changed fails the checksum; with checksums off it passes', () => {
  const image = Buffer.from(r.image);
  image[500] = image[500]! ^ 1;
  assert.equal(recordProblem({ ...r, image }, r.key, expect, true), 'checksum mismatch');
  assert.equal(recordProblem({ ...r, image }, r.key, expect, false), undefined);
});
