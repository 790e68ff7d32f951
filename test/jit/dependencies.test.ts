// Headers on disk are part of what a kernel is: editing, adding or deleting one on a search path misses, in this
// process and the next; touching one without a change hits. Real nvcc compiles, real files.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { KernelCache } from '../../src/cache/index.js';
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
    assert.match(warnings[0] ?? '', /not cached: it includes a header through a macro/);
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
