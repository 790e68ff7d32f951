import { test } from 'node:test';
import assert from 'node:assert/strict';

import { parseEntryMetadata, type EntryMetadata } from '../../src/cache/metadata.js';

const H = 'a'.repeat(64);
const valid: EntryMetadata = {
  formatVersion: 2,
  key: H,
  familyKey: H,
  epoch: 1,
  saltSha256: '',
  kernelNames: ['k'],
  loweredNames: { k: 'k' },
  sourceSha256: H,
  headers: { 'x.h': H },
  options: ['-DX=1'],
  compiler: { id: 'nvcc', version: '13.0.88' },
  target: 'sm_90',
  requestedImageKind: 'cubin',
  imageKind: 'cubin',
  imageTarget: 'sm_90',
  codec: 'none',
  rawBytes: 10,
  storedBytes: 10,
  checksum: { algorithm: 'sha256', value: H },
  createdAt: 1,
  compileMs: 2.5,
  driverVersion: null,
  host: 'h',
  log: '',
};

test('a complete record passes, with or without the optional source', () => {
  assert.deepEqual(parseEntryMetadata(valid), { success: true, data: valid });
  assert.equal(parseEntryMetadata({ ...valid, source: 'x' }).success, true);
});

test('each malformed field is rejected and named', () => {
  const bad: [keyof EntryMetadata, unknown][] = [
    ['formatVersion', 0],
    ['key', 'A'.repeat(64)],
    ['kernelNames', ['k', 3]],
    ['loweredNames', { k: 1 }],
    ['sourceSha256', 'xyz'],
    ['source', 5],
    ['headers', { 'x.h': 'short' }],
    ['options', '-DX'],
    ['compiler', { id: 'nvcc' }],
    ['target', undefined],
    ['requestedImageKind', 'fatbin'],
    ['imageKind', 'elf'],
    ['imageTarget', 90],
    ['codec', 'lz4'],
    ['rawBytes', -1],
    ['storedBytes', 1.5],
    ['checksum', { algorithm: 'crc32', value: H }],
    ['createdAt', Number.NaN],
    ['compileMs', -3],
    ['driverVersion', 13000],
    ['host', null],
    ['log', []],
  ];
  for (const [field, value] of bad) {
    const r = parseEntryMetadata({ ...valid, [field]: value });
    assert.deepEqual(r, { success: false, field }, `field ${field} = ${JSON.stringify(value)}`);
  }
  for (const junk of [null, 42, 'text', [valid]]) assert.equal(parseEntryMetadata(junk).success, false);
});
