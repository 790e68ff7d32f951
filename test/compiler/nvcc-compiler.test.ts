// The nvcc backend against the real nvcc (no GPU needed). Each compile costs ~0.4 s, so results are shared between
// tests through memoized promises and independent compiles run concurrently.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { CompileError, CompilerUnavailableError, NvccCompiler, findNvcc } from '../../src/compiler/index.js';
import type { CompileRequest, CompileResult } from '../../src/compiler/index.js';

const SOURCE = `#include "tile/config.cuh"
#include <angle.cuh>
#ifndef VALUE
#error "VALUE must be defined"
#endif
namespace ns {
template <typename T, int N> __global__ void fill(T *x) { x[threadIdx.x] = T(N * VALUE * TILE * ANGLE); }
}
template <typename T> __global__ void scale(T *x, T a) { x[threadIdx.x] *= a; }
extern "C" __global__ void plain(float *x) { x[threadIdx.x] = VALUE + COMMON; }
`;
// A subdir name, a header including another by its top-level name, and one reached with <...>.
const HEADERS = {
  'tile/config.cuh': '#pragma once\n#include "common.cuh"\n#define TILE 16\n',
  'common.cuh': '#pragma once\n#define COMMON 7\n',
  'angle.cuh': '#pragma once\n#define ANGLE 2\n',
};
const EXPRESSIONS = ['ns::fill<float, 128>', 'scale<double>', 'plain'];

const BAD_SOURCE = `extern "C" __global__ void k(float *x) {
  x[0] = 1;
  int y = ;
}
`;

let tempRoot: string;
let fakes: string;
let nvcc: NvccCompiler;
const memo = new Map<string, Promise<CompileResult>>();
/** One compile per distinct request, shared by every test that asks for it. */
function compiled(key: string, request: CompileRequest): Promise<CompileResult> {
  let p = memo.get(key);
  if (!p) {
    p = nvcc.compile(request);
    p.catch(() => undefined); // awaited (and asserted) by the tests
    memo.set(key, p);
  }
  return p;
}
const base = (over: Partial<CompileRequest> = {}): CompileRequest => ({
  source: SOURCE,
  headers: HEADERS,
  programName: 'fill.cu',
  options: ['-DVALUE=3'],
  arch: 'sm_90',
  ...over,
});
const cubin90 = () => compiled('cubin90', base({ nameExpressions: EXPRESSIONS }));
const ptx90 = () => compiled('ptx90', base({ nameExpressions: EXPRESSIONS, imageKind: 'ptx' }));
const ptx90value4 = () => compiled('ptx90v4', base({ options: ['-DVALUE=4'], imageKind: 'ptx' }));
const ptx90value3 = () => compiled('ptx90v3', base({ imageKind: 'ptx' }));
const cubin80 = () => compiled('cubin80', base({ arch: 'sm_80', nameExpressions: ['plain'] }));
const ptx999 = () => compiled('ptx999', base({ arch: 'sm_999', nameExpressions: ['ns::fill<double, 3>'] }));

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  assert.fail('expected the promise to reject');
}

const entries = (ptx: string): string[] =>
  [...ptx.matchAll(/\.entry\s+([\w$]+)\s*\(/g)].map((m) => m[1] ?? '');

before(() => {
  tempRoot = mkdtempSync(join(tmpdir(), 'cuop-nvcc-test-'));
  fakes = mkdtempSync(join(tmpdir(), 'cuop-nvcc-fakes-'));
  nvcc = new NvccCompiler({ tempRoot });
  // Start the independent compiles now; 2 cores run them side by side.
  void Promise.allSettled([cubin90(), ptx90(), ptx90value4(), ptx90value3(), cubin80(), ptx999()]);
});

after(() => {
  rmSync(tempRoot, { recursive: true, force: true });
  rmSync(fakes, { recursive: true, force: true });
});

describe('NvccCompiler', () => {
  test('info() parses nvcc --version and supportedArchs() lists sm_ numbers', async () => {
    const info = await nvcc.info();
    assert.equal(info.id, 'nvcc');
    assert.match(info.version, /^\d+\.\d+\.\d+$/);
    assert.equal(await nvcc.info(), info, 'memoized');
    const archs = await nvcc.supportedArchs();
    assert.ok(archs.includes(80) && archs.includes(90), `archs: ${archs.join(', ')}`);
    assert.deepEqual(
      archs,
      [...archs].sort((a, b) => a - b),
    );
  });

  test('a cubin for sm_90 is an ELF image with the lowered kernel names', async () => {
    const r = await cubin90();
    assert.deepEqual([...r.image.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]);
    assert.equal(r.imageKind, 'cubin');
    assert.equal(r.target, 'sm_90');
    assert.equal(r.compiler.id, 'nvcc');
    assert.ok(r.compileMs > 0);
    assert.equal(typeof r.log, 'string');
    assert.deepEqual(Object.keys(r.loweredNames), EXPRESSIONS);
    assert.equal(r.loweredNames['plain'], 'plain', 'extern "C" names map to themselves');
    assert.match(r.loweredNames['ns::fill<float, 128>'] ?? '', /^_ZN2ns4fillIfLi128EEEvPT_$/);
    for (const name of Object.values(r.loweredNames)) {
      assert.ok(r.image.includes(Buffer.from(`${name}\0`)), `${name} is a symbol of the cubin`);
    }
  });

  test('a PTX image has .entry for every lowered name and ends with NUL', async () => {
    const [cubin, ptx] = await Promise.all([cubin90(), ptx90()]);
    assert.equal(ptx.imageKind, 'ptx');
    assert.equal(ptx.target, 'compute_90');
    assert.equal(ptx.image[ptx.image.length - 1], 0);
    assert.notEqual(ptx.image[ptx.image.length - 2], 0, 'exactly one trailing NUL');
    const text = ptx.image.toString('utf8');
    assert.match(text, /\.target sm_90/);
    assert.deepEqual(ptx.loweredNames, cubin.loweredNames, 'PTX and cubin builds lower names alike');
    const declared = entries(text);
    for (const expr of EXPRESSIONS) {
      const name = cubin.loweredNames[expr] ?? '';
      assert.ok(
        declared.includes(name),
        `${expr} → ${name} is an .entry of the program (${declared.join(', ')})`,
      );
    }
  });

  test('options are honoured, in order', async () => {
    const [three, four] = await Promise.all([ptx90value3(), ptx90value4()]);
    assert.notDeepEqual(three.image, four.image, '-DVALUE=3 and -DVALUE=4 give different code');
    // plain stores VALUE + COMMON as a float: 10.0f = 0x41200000 = 1092616192, 11.0f = 1093664768.
    assert.match(three.image.toString('utf8'), /1092616192/);
    assert.match(four.image.toString('utf8'), /1093664768/);

    const undefinedValue = await rejection(nvcc.compile(base({ options: ['-DVALUE=3', '-UVALUE'] })));
    assert.ok(undefinedValue instanceof CompileError);
    assert.match(undefinedValue.message, /fill\.cu(\(4\)|:4:\d+): error.*VALUE must be defined/);
    assert.deepEqual(undefinedValue.options, ['-cubin', '-arch=sm_90', '-DVALUE=3', '-UVALUE']);
    await nvcc.compile(base({ options: ['-UVALUE', '-DVALUE=3'] }));
  });

  test('sm_80 compiles as well as sm_90', async () => {
    const r = await cubin80();
    assert.deepEqual([...r.image.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]);
    assert.equal(r.target, 'sm_80');
    assert.notDeepEqual(r.image, (await cubin90()).image);
  });

  test('an arch newer than nvcc knows gives PTX for its highest compute_XX', async () => {
    const r = await ptx999();
    const highest = Math.max(...(await nvcc.supportedArchs()));
    assert.equal(r.imageKind, 'ptx');
    assert.equal(r.target, `compute_${highest}`);
    assert.equal(r.image[r.image.length - 1], 0);
    const name = r.loweredNames['ns::fill<double, 3>'] ?? '';
    assert.equal(name, '_ZN2ns4fillIdLi3EEEvPT_');
    assert.ok(entries(r.image.toString('utf8')).includes(name));
  });

  test('malformed and too-old archs give a clear RangeError before anything runs', async () => {
    for (const arch of ['gfx90a', 'sm_', 'sm_9', 'compute90', '']) {
      const err = await rejection(nvcc.compile(base({ arch })));
      assert.ok(err instanceof RangeError, `${arch}: ${String(err)}`);
      assert.match(err.message, /invalid arch .*expected "sm_" followed by the compute capability/);
    }
    const old = await rejection(nvcc.compile(base({ arch: 'sm_50' })));
    assert.ok(old instanceof RangeError);
    assert.match(old.message, /cannot compile for sm_50: the oldest arch it supports is sm_\d+/);
  });

  test('a compile error carries the file:line message with the program name, not the temp dir', async () => {
    const err = await rejection(nvcc.compile({ source: BAD_SOURCE, programName: 'bad.cu', arch: 'sm_90' }));
    assert.ok(err instanceof CompileError);
    assert.equal(err.programName, 'bad.cu');
    assert.equal(err.compiler, 'nvcc');
    assert.match(err.message, /^nvcc could not compile bad\.cu:/);
    assert.match(err.log, /^bad\.cu\(3\): error: expected an expression/m);
    assert.match(err.log, /int y = ;/);
    for (const text of [err.message, err.log]) {
      assert.ok(!text.includes(tempRoot), text);
      assert.ok(!text.includes('cuop-nvcc-'), text);
    }
  });

  test('errors in headers and in name expressions point at them', async () => {
    const inHeader = await rejection(
      nvcc.compile({
        source: '#include "deep/er/h.cuh"\n',
        headers: { 'deep/er/h.cuh': '\n__device__ int f() { return missing; }\n' },
        programName: 'with spaces & stuff.cu',
        arch: 'sm_90',
      }),
    );
    assert.ok(inHeader instanceof CompileError);
    assert.match(inHeader.log, /^deep\/er\/h\.cuh\(2\): error: identifier "missing" is undefined/m);
    assert.match(inHeader.log, /in the compilation of "with spaces & stuff\.cu"/);
    assert.ok(!inHeader.log.includes(tempRoot));

    const badExpr = await rejection(nvcc.compile(base({ nameExpressions: ['plain', 'ns::nope<int>'] })));
    assert.ok(badExpr instanceof CompileError);
    assert.match(badExpr.log, /cuop-name-expression-1\(1\): error/);
  });

  test('header names may not escape the temp dir', async () => {
    for (const name of ['../evil.cuh', '/etc/evil.cuh', 'a/../../evil.cuh']) {
      const err = await rejection(nvcc.compile(base({ headers: { ...HEADERS, [name]: '' } })));
      assert.ok(err instanceof TypeError, `${name}: ${String(err)}`);
    }
  });

  test('nvcc runs its steps through a shell: an argument with $, a backtick or a backslash is refused, nothing runs', async () => {
    const sentinels = mkdtempSync(join(tmpdir(), 'cuop-sentinels-'));
    const attempts: string[][] = [
      [`-DX=$(touch ${sentinels}/dollar)`],
      [`-DX=\`touch ${sentinels}/backtick\``],
      [`-I/tmp/$(touch ${sentinels}/include)`],
      [`-DX=\${Y:-$(touch ${sentinels}/brace)}`],
      // a trailing backslash escapes nvcc's closing quote: the next argument becomes shell syntax
      ['-DX=a\\', `-DY=;touch ${sentinels}/backslash;#`],
    ];
    for (const options of attempts) {
      const err = await rejection(
        nvcc.compile({ source: 'extern "C" __global__ void k() {}', arch: 'sm_90', options }),
      );
      assert.ok(
        err instanceof TypeError && /would hand to a shell/.test(err.message),
        `${options}: ${String(err)}`,
      );
    }
    assert.deepEqual(readdirSync(sentinels), [], 'no payload ran');
    // what a shell does not expand inside double quotes is plain data: ; && | ' " and newlines compile
    const plain = await nvcc.compile({
      source: 'extern "C" __global__ void k() {}',
      arch: 'sm_90',
      options: [`-DX=1;touch ${sentinels}/semicolon && touch ${sentinels}/and | x "q" 'q'\nz`],
    });
    assert.ok(plain.image.length > 0);
    assert.deepEqual(readdirSync(sentinels), []);
    rmSync(sentinels, { recursive: true, force: true });
  });

  test('temp dirs are removed after success and after failure', async () => {
    await Promise.allSettled([...memo.values()]);
    await rejection(nvcc.compile({ source: BAD_SOURCE, programName: 'bad.cu', arch: 'sm_90' }));
    await rejection(nvcc.compile(base({ headers: { '../x.cuh': '' } })));
    assert.deepEqual(readdirSync(tempRoot), []);
  });

  test('findNvcc: nvccPath option, then CUOP_NVCC_PATH, CUDA_PATH, CUDA_HOME, PATH', () => {
    const fake = (dir: string, mode = 0o755): string => {
      mkdirSync(join(fakes, dir), { recursive: true });
      const p = join(fakes, dir, 'nvcc');
      writeFileSync(p, '#!/bin/sh\nexit 1\n');
      chmodSync(p, mode);
      return p;
    };
    const explicit = fake('explicit');
    const cudaPath = fake('cuda-path/bin');
    const cudaHome = fake('cuda-home/bin');
    const onPath = fake('on-path');
    fake('not-executable', 0o644);
    const env = {
      CUOP_NVCC_PATH: explicit,
      CUDA_PATH: join(fakes, 'cuda-path'),
      CUDA_HOME: join(fakes, 'cuda-home'),
      PATH: [join(fakes, 'not-executable'), join(fakes, 'on-path')].join(':'),
    };
    assert.equal(findNvcc({ nvccPath: onPath, env }), onPath);
    assert.equal(findNvcc({ nvccPath: join(fakes, 'on-path'), env }), onPath, 'a directory holding nvcc');
    assert.equal(findNvcc({ env }), explicit);
    assert.equal(findNvcc({ env: { ...env, CUOP_NVCC_PATH: join(fakes, 'none', 'nvcc') } }), cudaPath);
    assert.equal(findNvcc({ env: { ...env, CUOP_NVCC_PATH: '', CUDA_PATH: '' } }), cudaHome);
    assert.equal(findNvcc({ env: { PATH: env.PATH } }), onPath, 'skips a non-executable nvcc on PATH');
    assert.throws(
      () => findNvcc({ nvccPath: join(fakes, 'none', 'nvcc'), env }),
      (err: unknown) =>
        err instanceof CompilerUnavailableError && /nvccPath option: not found/.test(err.message),
    );
  });

  test('flags nvcc takes from NVCC_PREPEND_FLAGS / NVCC_APPEND_FLAGS are part of its identity', async () => {
    const plain = await nvcc.info();
    const withFlags = await new NvccCompiler({
      env: { ...process.env, NVCC_APPEND_FLAGS: '-DCUOP_ENV=1' },
    }).info();
    assert.equal(withFlags.version, `${plain.version}+env:|-DCUOP_ENV=1`);
  });

  test('a missing nvcc makes info() and compile() reject with CompilerUnavailableError', async () => {
    const missing = new NvccCompiler({ nvccPath: join(fakes, 'nowhere', 'nvcc') });
    assert.ok((await rejection(missing.info())) instanceof CompilerUnavailableError);
    assert.ok((await rejection(missing.compile(base()))) instanceof CompilerUnavailableError);
  });
});
