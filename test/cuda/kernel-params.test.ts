import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { KernelParamBlock, PARAM_SIZE, type ParamType } from '../../src/cuda/kernel-params.js';

// ptr, i32, f32, i64, u32, f64, u64: every slot at an offset aligned to its own size.
const TYPES: ParamType[] = ['ptr', 'i32', 'f32', 'i64', 'u32', 'f64', 'u64'];
const OFFSETS = [0, 8, 12, 16, 24, 32, 40];

const hex = (b: Buffer, off: number, len: number): string => b.subarray(off, off + len).toString('hex');

describe('KernelParamBlock', () => {
  test('offsets are aligned to each type size', () => {
    const block = new KernelParamBlock(TYPES);
    assert.deepEqual(block.offsets, OFFSETS);
    block.offsets.forEach((off, i) => assert.equal(off % PARAM_SIZE[TYPES[i] as ParamType], 0));
    assert.equal(block.slots.length, 48);
    assert.equal(block.pointerArray.length, TYPES.length * 8);
    assert.equal(hex(block.slots, 0, 48), '00'.repeat(48), 'zeroed before any set');
  });

  test('set writes each slot byte for byte, little endian', () => {
    const block = new KernelParamBlock(TYPES);
    block.set(0, 0x7f12_3456_7800n);
    block.set(1, -2);
    block.set(2, 1.5);
    block.set(3, -5n);
    block.set(4, 0xffffffff);
    block.set(5, -0.1);
    block.set(6, 0xfedc_ba98_7654_3210n);
    const s = block.slots;
    assert.equal(hex(s, 0, 8), '00785634127f0000');
    assert.equal(hex(s, 8, 4), 'feffffff', 'i32 -2, two complement');
    assert.equal(hex(s, 12, 4), '0000c03f', 'f32 1.5 = 0x3fc00000');
    assert.equal(hex(s, 16, 8), 'fbffffffffffffff', 'i64 -5');
    assert.equal(hex(s, 24, 4), 'ffffffff', 'u32 0xffffffff');
    assert.equal(hex(s, 28, 4), '00000000', 'padding before the f64 untouched');
    assert.equal(hex(s, 32, 8), '9a9999999999b9bf', 'f64 -0.1 = 0xbfb999999999999a');
    assert.equal(hex(s, 40, 8), '1032547698badcfe');

    // numbers for the 64-bit slots, bigint for 32-bit ones; rewriting in place leaves the other slots alone.
    block.set(3, -(2 ** 53) + 1);
    block.set(6, 2 ** 40 + 3);
    block.set(0, 4096);
    block.set(1, 7n);
    block.set(2, 0.1);
    assert.equal(hex(s, 16, 8), '010000000000e0ff');
    assert.equal(hex(s, 40, 8), '0300000000010000');
    assert.equal(hex(s, 0, 8), '0010000000000000');
    assert.equal(hex(s, 8, 4), '07000000');
    assert.equal(hex(s, 12, 4), 'cdcccc3d', 'f32 0.1 rounds to single precision 0x3dcccccd');
    assert.equal(s.readFloatLE(12), Math.fround(0.1));
    assert.equal(hex(s, 24, 4), 'ffffffff');
  });

  test('pointerArray holds base + offset for each slot', () => {
    const block = new KernelParamBlock(TYPES);
    const ptrs = TYPES.map((_, i) => block.pointerArray.readBigUInt64LE(i * 8));
    const first = ptrs[0] ?? 0n;
    assert.notEqual(first, 0n);
    assert.equal(first % 8n, 0n, 'slots buffer is 8-aligned');
    ptrs.forEach((p, i) => assert.equal(p - first, BigInt(OFFSETS[i] ?? -1), `slot ${i}`));
    // Each block gets its own slots.
    const other = new KernelParamBlock(TYPES);
    assert.notEqual(other.pointerArray.readBigUInt64LE(0), first);
  });

  test('values that do not fit throw RangeError', () => {
    const block = new KernelParamBlock(TYPES);
    assert.throws(() => block.set(1, 1.5), { name: 'RangeError', message: /#1 \(i32\) must be an integer/ });
    assert.throws(() => block.set(4, NaN), RangeError);
    assert.throws(() => block.set(3, 2 ** 53), {
      name: 'RangeError',
      message: /#3 \(i64\) must be a safe integer/,
    });
    assert.throws(() => block.set(6, 1.5), RangeError);
    assert.throws(() => block.set(0, 2 ** 60), RangeError);
    assert.throws(() => block.set(7, 1), { name: 'RangeError', message: /no parameter #7/ });
    assert.throws(() => block.set(-1, 1), RangeError);
    assert.equal(hex(block.slots, 0, 48), '00'.repeat(48), 'nothing written by a rejected set');
  });

  test('an empty signature still gives valid buffers', () => {
    const block = new KernelParamBlock([]);
    assert.deepEqual(block.offsets, []);
    assert.ok(block.slots.length >= 8 && block.pointerArray.length >= 8);
  });
});
