// Struct layouts follow C's rules (checked against offsetof/sizeof as nvcc's host compiler computes them), and
// pack values exactly; bad fields and values are typed errors naming the field.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { KernelParamBlock, rawSlot } from '../../src/cuda/index.js';
import { StructLayout, bytesArg } from '../../src/runtime/struct-layout.js';
import { NVCC, tempDir } from '../cache/fixtures.js';

const layouts = {
  Params: { out: 'ptr', n: 'i32', alpha: 'f32', beta: 'f64', tag: 'i8', s: 'i16', v: ['f32', 3] },
  Tail: { a: 'f64', b: 'i8' },
  Small: { a: 'i8', b: 'i16', c: 'i8' },
  Ints: { a: 'u8', b: 'u32', c: 'u64', d: 'bool' },
} as const;
const C_TYPES: Record<string, string> = {
  ptr: 'float*',
  i32: 'int',
  f32: 'float',
  f64: 'double',
  i8: 'signed char',
  i16: 'short',
  u8: 'unsigned char',
  u32: 'unsigned',
  u64: 'unsigned long long',
  bool: 'bool',
};

test('sizes, alignments and offsets agree with the C compiler (nvcc -x c++ on the host)', () => {
  const dir = tempDir('struct-layout');
  let src = '#include <cstddef>\n#include <cstdio>\n';
  for (const [name, fields] of Object.entries(layouts)) {
    src += `struct ${name} { ${Object.entries(fields)
      .map(([f, t]) =>
        Array.isArray(t) ? `${C_TYPES[t[0]]} ${f}[${t[1]}];` : `${C_TYPES[t as string]} ${f};`,
      )
      .join(' ')} };\n`;
  }
  src += 'int main() {\n';
  for (const [name, fields] of Object.entries(layouts)) {
    src += `  printf("${name} %zu %zu", sizeof(${name}), alignof(${name}));\n`;
    for (const f of Object.keys(fields)) src += `  printf(" %zu", offsetof(${name}, ${f}));\n`;
    src += '  printf("\\n");\n';
  }
  src += '}\n';
  writeFileSync(join(dir, 'layout.cpp'), src);
  execFileSync(NVCC, ['-x', 'c++', '-o', join(dir, 'layout'), join(dir, 'layout.cpp')]);
  const lines = execFileSync(join(dir, 'layout'), { encoding: 'utf8' }).trim().split('\n');
  for (const line of lines) {
    const [name, size, align, ...offsets] = line.split(' ');
    const l = new StructLayout(layouts[name as keyof typeof layouts], name);
    assert.deepEqual(
      [l.size, l.align, Object.values(l.offsets)],
      [Number(size), Number(align), offsets.map(Number)],
      name,
    );
  }
});

test('pack writes each field little-endian at its offset, padding zero; bad input names the field', () => {
  const l = new StructLayout({ a: 'i8', b: 'i32', c: ['u16', 2], p: 'ptr' }, 'P');
  const { struct, align, typeName } = l.pack({
    a: -1,
    b: 0x01020304,
    c: [7, 65535],
    p: { devicePtr: 0x1122334455667788n },
  });
  assert.equal(align, 8);
  assert.equal(typeName, 'P');
  assert.deepEqual(
    [...struct],
    [0xff, 0, 0, 0, 4, 3, 2, 1, 7, 0, 0xff, 0xff, 0, 0, 0, 0, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11],
  );
  assert.throws(() => l.pack({ a: 1, b: 2, c: [1, 2] }), /P\.pack: field p is missing/);
  assert.throws(() => l.pack({ a: 1, b: 2, c: [1], p: 0 }), /field c takes 2 value\(s\), got 1/);
  assert.throws(
    () => l.pack({ a: 300, b: 2, c: [1, 2], p: 0 }),
    /P\.a \(i8\) must be an integer in \[-128, 127\], got 300/,
  );
  assert.throws(() => l.pack({ a: 1, b: 2, c: [1, 2], p: 0, z: 1 }), /no field z \(fields: a, b, c, p\)/);
  assert.throws(() => new StructLayout({}), /at least one field/);
  assert.throws(() => new StructLayout({ a: ['f32', 0] }), /positive array length/);
  assert.throws(() => bytesArg(new Uint8Array(4), 3), /power of two/);
});

test('a struct slot in the parameter block: aligned, copied whole, size-checked', () => {
  const l = new StructLayout({ x: 'f64', n: 'i32' });
  const block = new KernelParamBlock(['i32', rawSlot(l.size, l.align), 'f32']);
  assert.deepEqual(block.offsets, [0, 8, 24]);
  const v = l.pack({ x: 1.5, n: 3 });
  block.set(1, v.struct);
  assert.deepEqual([...block.slots.subarray(8, 24)], [...v.struct]);
  assert.throws(() => block.set(1, new Uint8Array(8)), /cannot take 8 raw bytes/);
  assert.throws(() => block.set(1, 5), /struct slot/);
  assert.throws(() => block.set(0, new Uint8Array(4)), /cannot take 4 raw bytes/);
});
