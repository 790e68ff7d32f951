// The CUlaunchConfig packing of cuLaunchKernelEx, against cuda.h's layout: 56 bytes of config, 72 per attribute.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { LaunchConfigBlock } from '../../src/cuda/index.js';

test('grid, block, shared memory, stream and attributes land at cuda.h offsets; attrs points into the buffer', () => {
  const c = new LaunchConfigBlock();
  const b = c.set({
    grid: [8, 2, 1],
    block: [128, 1, 1],
    sharedMem: 4096,
    stream: 0xabcn,
    cooperative: true,
    cluster: [2, 1, 1],
  });
  assert.deepEqual(
    [0, 4, 8, 12, 16, 20, 24].map((o) => b.readUInt32LE(o)),
    [8, 2, 1, 128, 1, 1, 4096],
  );
  assert.equal(b.readBigUInt64LE(32), 0xabcn);
  assert.equal(b.readBigUInt64LE(40), c.attrsAddress);
  assert.ok(c.attrsAddress > 0n);
  assert.equal(b.readUInt32LE(48), 2);
  assert.deepEqual([b.readUInt32LE(56), b.readInt32LE(64)], [2, 1], 'cooperative attribute');
  assert.deepEqual(
    [b.readUInt32LE(128), b.readUInt32LE(136), b.readUInt32LE(140), b.readUInt32LE(144)],
    [4, 2, 1, 1],
    'cluster',
  );
  const plain = c.set({
    grid: [1, 1, 1],
    block: [32, 1, 1],
    sharedMem: 0,
    stream: 0n,
    cooperative: false,
    cluster: [4, 1, 1],
  });
  assert.equal(plain.readUInt32LE(48), 1);
  assert.equal(plain.readUInt32LE(56), 4, 'the cluster attribute comes first when not cooperative');
  assert.ok(
    plain.subarray(128).every((x) => x === 0),
    'no second attribute is left behind',
  );
  c.write([1, 1, 1], [32, 1, 1], 0, 0n, false, [8, 2, 1]);
  assert.deepEqual(
    [64, 68, 72].map((o) => plain.readUInt32LE(o)),
    [8, 2, 1],
    'same set, new cluster dims',
  );
  c.write([1, 1, 1], [32, 1, 1], 0, 0n, true, undefined);
  assert.deepEqual(
    [48, 56, 64, 68, 72].map((o) => plain.readUInt32LE(o)),
    [1, 2, 1, 0, 0],
    'cooperative only',
  );
});
