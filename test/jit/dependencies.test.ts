// Headers on disk are part of what a kernel is: editing, adding or deleting one on a search path misses, in this
// process and the next; touching one without a change hits. Real nvcc compiles, real files.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { KernelCache } from '../../src/cache/index.js';
import { NvccCompiler } from '../../src/compiler/index.js';
import { JitCompiler, type KernelSpec } from '../../src/jit/index.js';

const quiet = { warn: () => {}, debug: () => {} };

/** True when the image holds this float's bits (nvcc puts the constant in the instruction: see the kernels). */
function holds(image: Buffer, value: number): boolean {
  const b = Buffer.alloc(4);
  b.writeFloatLE(value);
  return image.includes(b);
}

function project(): { root: string; inc: string; inc2: string; done: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'cuop-deps-'));
  const inc = join(root, 'include');
  const inc2 = join(root, 'include2');
  mkdirSync(join(inc, 'detail'), { recursive: true });
  mkdirSync(inc2);
  return { root, inc, inc2, done: () => rmSync(root, { recursive: true, force: true }) };
}

const source = '#include "tile.cuh"\nextern "C" __global__ void k(float* x) { x[threadIdx.x] = VALUE; }\n';
const jitOver = (dir: string) =>
  new JitCompiler({ cache: new KernelCache({ dir, logger: quiet }), compiler: 'nvcc' });

test('a header on an -I path: edit misses with the new code, touch hits, in-process and in a new cache', async () => {
  const p = project();
  try {
    const header = join(p.inc, 'tile.cuh');
    writeFileSync(header, '#pragma once\n#include "detail/value.cuh"\n');
    writeFileSync(join(p.inc, 'detail', 'value.cuh'), '#define VALUE 1234.5f\n');
    const dir = join(p.root, 'cache');
    const spec: KernelSpec = { source, name: 'k', options: [`-I${p.inc}`] };
    const jit = jitOver(dir);
    const first = await jit.compile(spec, 'sm_90');
    assert.equal(first.tier, 'compiled');
    assert.ok(holds(first.entry.image, 1234.5));
    assert.deepEqual(
      first.entry.meta.dependencies?.files.map((f) => f.path),
      [join(p.inc, 'detail', 'value.cuh'), header],
    );
    assert.equal((await jit.compile(spec, 'sm_90')).tier, 'memory');

    // touch without a change: still a hit (stat differs, the hash does not)
    const later = new Date(Date.now() + 5000);
    utimesSync(header, later, later);
    assert.equal((await jit.compile(spec, 'sm_90')).tier, 'memory');

    // an edit two levels down: a miss, and the image has the new value
    writeFileSync(join(p.inc, 'detail', 'value.cuh'), '#define VALUE 4321.5f\n');
    const edited = await jit.compile(spec, 'sm_90');
    assert.equal(edited.tier, 'compiled');
    assert.ok(holds(edited.entry.image, 4321.5) && !holds(edited.entry.image, 1234.5));
    await jit.cache.close();

    // a new cache object over the same dir (the on-disk manifest): the current header's entry, from disk
    const fresh = jitOver(dir);
    const again = await fresh.compile(spec, 'sm_90');
    assert.equal(again.tier, 'disk');
    assert.ok(holds(again.entry.image, 4321.5));
    // the header edited back: the first entry is found again, no compile
    writeFileSync(join(p.inc, 'detail', 'value.cuh'), '#define VALUE 1234.5f\n');
    const back = await fresh.compile(spec, 'sm_90');
    assert.equal(back.tier, 'disk');
    assert.ok(holds(back.entry.image, 1234.5));
    assert.equal(fresh.getStats().process.compiles, 0);
    await fresh.cache.close();
  } finally {
    p.done();
  }
});

test('a same-named header added earlier on the search path misses; deleting it misses again', async () => {
  const p = project();
  try {
    writeFileSync(join(p.inc2, 'tile.cuh'), '#define VALUE 111.5f\n');
    const spec: KernelSpec = { source, name: 'k', options: [`-I${p.inc}`, `-I${p.inc2}`] };
    const jit = jitOver(join(p.root, 'cache'));
    assert.ok(holds((await jit.compile(spec, 'sm_90')).entry.image, 111.5));
    writeFileSync(join(p.inc, 'tile.cuh'), '#define VALUE 222.5f\n'); // shadows include2/tile.cuh
    const shadowed = await jit.compile(spec, 'sm_90');
    assert.equal(shadowed.tier, 'compiled');
    assert.ok(holds(shadowed.entry.image, 222.5));
    unlinkSync(join(p.inc, 'tile.cuh'));
    const restored = await jit.compile(spec, 'sm_90');
    assert.equal(restored.tier, 'memory', 'the first entry holds again');
    assert.ok(holds(restored.entry.image, 111.5));
    await jit.cache.close();
  } finally {
    p.done();
  }
});

test('reordering the search path is another key; a relative -I means the directory under the working dir', async () => {
  const p = project();
  const cwd = process.cwd();
  try {
    writeFileSync(join(p.inc, 'tile.cuh'), '#define VALUE 1.5f\n');
    writeFileSync(join(p.inc2, 'tile.cuh'), '#define VALUE 2.5f\n');
    const jit = jitOver(join(p.root, 'cache'));
    const a = await jit.compile({ source, name: 'k', options: [`-I${p.inc}`, `-I${p.inc2}`] }, 'sm_90');
    const b = await jit.compile({ source, name: 'k', options: [`-I${p.inc2}`, `-I${p.inc}`] }, 'sm_90');
    assert.equal(b.tier, 'compiled');
    assert.ok(holds(a.entry.image, 1.5) && holds(b.entry.image, 2.5));
    process.chdir(p.root);
    const rel = await jit.compile({ source, name: 'k', options: ['-Iinclude'] }, 'sm_90');
    assert.ok(holds(rel.entry.image, 1.5));
    assert.ok(rel.entry.meta.options.includes(`-I${p.inc}`), 'keyed with the absolute path');
    process.chdir(p.inc); // -Iinclude here would be another (missing) directory: never the cached kernel
    await assert.rejects(jit.compile({ source, name: 'k', options: ['-Iinclude'] }, 'sm_90'), /tile\.cuh/);
    await jit.cache.close();
  } finally {
    process.chdir(cwd);
    p.done();
  }
});

test('a header edited between two processes: the second process compiles the new code', async () => {
  const p = project();
  try {
    const dir = join(p.root, 'cache');
    writeFileSync(join(p.inc, 'tile.cuh'), '#define VALUE 5.5f\n');
    const child = fileURLToPath(new URL('./workers/compile-child.js', import.meta.url));
    const run = (): { tier: string; holds55: boolean; holds65: boolean } =>
      JSON.parse(
        execFileSync(process.execPath, [child, dir, p.inc], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        }),
      ) as { tier: string; holds55: boolean; holds65: boolean };
    assert.deepEqual(run(), { tier: 'compiled', holds55: true, holds65: false });
    assert.deepEqual(run(), { tier: 'disk', holds55: true, holds65: false });
    writeFileSync(join(p.inc, 'tile.cuh'), '#define VALUE 6.5f\n');
    assert.deepEqual(run(), { tier: 'compiled', holds55: false, holds65: true });
    assert.deepEqual(run(), { tier: 'disk', holds55: false, holds65: true });
  } finally {
    p.done();
  }
});

test('a header included through a macro the scan cannot follow: compiled, used, never cached', async () => {
  const p = project();
  try {
    writeFileSync(join(p.inc, 'tile.cuh'), '#define VALUE 7.5f\n');
    const warnings: string[] = [];
    const jit = new JitCompiler({
      cache: new KernelCache({
        dir: join(p.root, 'cache'),
        logger: { warn: (m) => warnings.push(m), debug: () => {} },
      }),
      compiler: 'nvcc',
    });
    const spec: KernelSpec = {
      source:
        '#define PICK(x) #x\n#include PICK(tile.cuh)\nextern "C" __global__ void k(float* x) { x[0] = VALUE; }\n',
      name: 'k',
      options: [`-I${p.inc}`],
    };
    const a = await jit.compile(spec, 'sm_90');
    assert.equal(a.transient, true);
    assert.equal((await jit.compile(spec, 'sm_90')).tier, 'compiled', 'compiled again: nothing was cached');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /not cached: cuop cannot tell every file it reads \(.*PICK\(tile\.cuh\)/);
    await jit.cache.close();
  } finally {
    p.done();
  }
});

test('specs with only in-memory and toolkit headers record no dependencies (the fast path stays)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cuop-deps-'));
  try {
    const jit = jitOver(dir);
    const r = await jit.compile(
      {
        source:
          '#include <cuda_fp16.h>\n#include "v.h"\nextern "C" __global__ void k(__half* x) { x[0] = __float2half(V); }\n',
        name: 'k',
        headers: { 'v.h': '#define V 3.5f\n' },
      },
      'sm_90',
    );
    assert.equal(r.entry.meta.dependencies, undefined);
    assert.equal(r.key, r.entry.key);
    await jit.cache.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const valueOf = (spec: KernelSpec, jit: JitCompiler) => jit.compile(spec, 'sm_90');

test('nvcc: a header found through CPLUS_INCLUDE_PATH is tracked; the variable is part of the identity', async () => {
  const p = project();
  try {
    writeFileSync(join(p.inc, 'envh.h'), '#define VALUE 31.5f\n');
    await sleep(2_100); // out of the "too new" window: a header only nvcc reports is hashed after the compile
    const mk = (cpath: string | undefined) =>
      new JitCompiler({
        cache: new KernelCache({ dir: join(p.root, 'cache'), logger: quiet }),
        compiler: new NvccCompiler({ env: { ...process.env, CPLUS_INCLUDE_PATH: cpath } }),
      });
    const spec: KernelSpec = {
      source: '#include <envh.h>\nextern "C" __global__ void k(float* x) { x[0] = VALUE; }\n',
      name: 'k',
    };
    const jit = mk(p.inc);
    const first = await valueOf(spec, jit);
    assert.ok(holds(first.entry.image, 31.5));
    assert.ok(first.entry.meta.dependencies?.files.some((f) => f.path === join(p.inc, 'envh.h')));
    writeFileSync(join(p.inc, 'envh.h'), '#define VALUE 32.5f\n');
    const edited = await valueOf(spec, jit);
    assert.notEqual(edited.tier, 'memory');
    assert.ok(holds(edited.entry.image, 32.5), 'never the image of the old header');
    await jit.cache.close();
    const other = mk(p.inc2); // another search path from the environment: another compiler identity
    assert.notEqual((await other.compilerInfo()).version, (await jit.compilerInfo()).version);
    await other.cache.close();
  } finally {
    p.done();
  }
});

test('nvcc: in-memory headers in subdirectories include each other as files of one directory', async () => {
  const p = project();
  try {
    writeFileSync(join(p.inc2, 'c.h'), '#define VALUE 41.5f\n');
    const jit = jitOver(join(p.root, 'cache'));
    const spec: KernelSpec = {
      source: '#include "sub/a.h"\nextern "C" __global__ void k(float* x) { x[0] = VALUE; }\n',
      name: 'k',
      headers: { 'sub/a.h': '#include "b.h"\n', 'sub/b.h': '#include "c.h"\n' },
      options: [`-I${p.inc}`, `-I${p.inc2}`],
    };
    assert.ok(holds((await valueOf(spec, jit)).entry.image, 41.5));
    writeFileSync(join(p.inc, 'c.h'), '#define VALUE 42.5f\n'); // earlier on the path than include2/c.h
    const shadowed = await valueOf(spec, jit);
    assert.equal(shadowed.tier, 'compiled');
    assert.ok(holds(shadowed.entry.image, 42.5));
    await jit.cache.close();
  } finally {
    p.done();
  }
});

test('a re-pointed link in a header path (dir/../x.h) misses', async () => {
  const p = project();
  try {
    for (const v of ['v1', 'v2']) {
      mkdirSync(join(p.root, v, 'include'), { recursive: true });
      mkdirSync(join(p.root, v, 'detail'), { recursive: true });
      writeFileSync(join(p.root, v, 'include', 'tile.cuh'), '#include "../detail/x.h"\n');
      writeFileSync(join(p.root, v, 'detail', 'x.h'), `#define VALUE ${v === 'v1' ? 51.5 : 52.5}f\n`);
    }
    symlinkSync(join(p.root, 'v1'), join(p.root, 'current'));
    const jit = jitOver(join(p.root, 'cache'));
    const spec: KernelSpec = { source, name: 'k', options: [`-I${join(p.root, 'current', 'include')}`] };
    assert.ok(holds((await valueOf(spec, jit)).entry.image, 51.5));
    unlinkSync(join(p.root, 'current'));
    symlinkSync(join(p.root, 'v2'), join(p.root, 'current'));
    const moved = await valueOf(spec, jit);
    assert.equal(moved.tier, 'compiled');
    assert.ok(holds(moved.entry.image, 52.5));
    await jit.cache.close();
  } finally {
    p.done();
  }
});

test('a directory on the search path that becomes a file misses; a header dir made a file never throws', async () => {
  const p = project();
  try {
    mkdirSync(join(p.inc, 'tile.cuh')); // a directory at the first candidate: skipped by the compiler
    writeFileSync(join(p.inc2, 'tile.cuh'), '#define VALUE 61.5f\n');
    const jit = jitOver(join(p.root, 'cache'));
    const spec: KernelSpec = { source, name: 'k', options: [`-I${p.inc}`, `-I${p.inc2}`] };
    assert.ok(holds((await valueOf(spec, jit)).entry.image, 61.5));
    rmSync(join(p.inc, 'tile.cuh'), { recursive: true });
    writeFileSync(join(p.inc, 'tile.cuh'), '#define VALUE 62.5f\n');
    const r = await valueOf(spec, jit);
    assert.equal(r.tier, 'compiled');
    assert.ok(holds(r.entry.image, 62.5));
    // include/ itself replaced by a file: the recorded paths cannot be inspected (ENOTDIR): a miss, not a throw
    rmSync(p.inc, { recursive: true });
    writeFileSync(p.inc, 'not a directory');
    const after = await valueOf(spec, jit);
    assert.ok(holds(after.entry.image, 61.5));
    await jit.cache.close();
  } finally {
    p.done();
  }
});

test('nvcc options files cannot be followed: compiled and used, never cached', async () => {
  const p = project();
  try {
    const optf = join(p.root, 'flags.txt');
    writeFileSync(optf, '-DVALUE=71.5f\n');
    const jit = jitOver(join(p.root, 'cache'));
    const spec: KernelSpec = {
      source: 'extern "C" __global__ void k(float* x) { x[0] = VALUE; }\n',
      name: 'k',
      options: ['--options-file', optf],
    };
    const a = await valueOf(spec, jit);
    assert.equal(a.transient, true);
    assert.ok(holds(a.entry.image, 71.5));
    writeFileSync(optf, '-DVALUE=72.5f\n');
    assert.ok(holds((await valueOf(spec, jit)).entry.image, 72.5));
    await jit.cache.close();
  } finally {
    p.done();
  }
});

test('the program name is __FILE__ in the code: another name is another key; -include of a toolkit header works', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cuop-deps-'));
  try {
    const jit = jitOver(dir);
    const src = 'extern "C" __global__ void k(const char** s) { *s = __FILE__; }\n';
    const s: KernelSpec & { programName: string } = { source: src, name: 'k', programName: 'alpha.cu' };
    const a = await jit.compile(s, 'sm_90');
    s.programName = 'beta.cu';
    const b = await jit.compile(s, 'sm_90');
    assert.notEqual(a.key, b.key);
    assert.ok(
      b.entry.image.includes(Buffer.from('beta.cu')) && !b.entry.image.includes(Buffer.from('alpha.cu')),
    );
    const pre = await jit.compile(
      {
        source: 'extern "C" __global__ void h(__half* x) { x[0] = __float2half(1.0f); }\n',
        name: 'h',
        options: ['-include', 'cuda_fp16.h'],
      },
      'sm_90',
    );
    assert.equal(pre.tier, 'compiled');
    await jit.cache.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
