// jit.link() on the CPU box: real nvcc compiles (relocatable cubins, LTO IR) and real nvlink links, through the
// cache. Loading needs a GPU (test-gpu/jit/link.test.ts); here the linked images are checked as files and keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { KernelCache } from '../../src/cache/index.js';
import { LinkError } from '../../src/compiler/index.js';
import { ImageFileError } from '../../src/runtime/index.js';
import { JitCompiler, type LinkSpec } from '../../src/jit/index.js';

const quiet = { warn: () => {}, debug: () => {} };
const CALLER = `extern __device__ float twice(float x);
extern "C" __global__ void scale(float* o) { o[threadIdx.x] = twice(o[threadIdx.x]); }`;
const CALLEE = '__device__ float twice(float x) { return 2.0f * x; }';
const DYNAMIC = `extern "C" __global__ void child(int* o) { o[threadIdx.x] += 1; }
extern "C" __global__ void parent(int* o) { if (threadIdx.x == 0) child<<<1, 32>>>(o); }`;

const twoPrograms = (callee = CALLEE, extra: Partial<LinkSpec> = {}): LinkSpec => ({
  programs: [
    { source: CALLER, names: ['scale'], programName: 'caller.cu' },
    { source: callee, programName: 'callee.cu' },
  ],
  ...extra,
});

function withJit(fn: (jit: JitCompiler, dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cuop-link-'));
    const jit = new JitCompiler({
      cache: new KernelCache({ dir, logger: quiet }),
      compiler: 'nvcc',
      linker: 'nvlink',
    });
    try {
      await fn(jit, dir);
    } finally {
      await jit.cache.close();
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const isDeviceElf = (b: Buffer): boolean =>
  b.subarray(0, 4).toString('latin1') === '\x7fELF' && b.readUInt16LE(18) === 190;

test(
  'two programs with an extern __device__ function: linked once, then a hit in memory and on disk',
  withJit(async (jit, dir) => {
    const spec = twoPrograms();
    const first = await jit.compileLink(spec, 'sm_90');
    assert.equal(first.tier, 'compiled');
    assert.ok(isDeviceElf(first.entry.image), 'the linked image is a device ELF');
    assert.ok(first.entry.image.includes('scale'), 'it holds the kernel');
    assert.equal(first.entry.meta.compiler.id, 'nvlink');
    assert.deepEqual(first.entry.meta.kernelNames, ['scale']);
    assert.equal((await jit.compileLink(spec, 'sm_90')).tier, 'memory');
    assert.equal((await jit.compileLink(twoPrograms(), 'sm_90')).tier, 'memory', 'an equal spec hits');

    const fresh = new JitCompiler({
      cache: new KernelCache({ dir, logger: quiet }),
      compiler: 'nvcc',
      linker: 'nvlink',
    });
    const hit = await fresh.compileLink(twoPrograms(), 'sm_90');
    assert.equal(hit.tier, 'disk');
    assert.ok(hit.entry.image.equals(first.entry.image));
    // The hit never compiled the programs: the only entry compiled in that process is none.
    assert.equal(fresh.getStats().process.compiles, 0);
    await fresh.cache.close();
  }),
);

test(
  'the key covers every input: a program, the link options, LTO, the device runtime, an object',
  withJit(async (jit) => {
    const base = await jit.compileLink(twoPrograms(), 'sm_90');
    const keys = new Set([base.key]);
    const variants: LinkSpec[] = [
      twoPrograms('__device__ float twice(float x) { return 3.0f * x; }'),
      twoPrograms(CALLEE, { linkOptions: ['-maxrregcount=64'] }),
      twoPrograms(CALLEE, { deviceRuntime: false }),
      twoPrograms(CALLEE, { lto: true }),
    ];
    for (const v of variants) {
      const r = await jit.compileLink(v, 'sm_90');
      assert.equal(r.tier, 'compiled', JSON.stringify({ ...v, programs: undefined }));
      keys.add(r.key);
    }
    assert.equal(keys.size, 1 + variants.length, 'every variant has its own key');
    // A changed callee links to different machine code: the old image is never served for it.
    const tripled = await jit.compileLink(variants[0] as LinkSpec, 'sm_90');
    assert.ok(!tripled.entry.image.equals(base.entry.image));
    assert.equal(
      (await jit.compileLink(twoPrograms(), 'sm_80')).tier,
      'compiled',
      'another arch, another key',
    );
  }),
);

test(
  'a spec object mutated after its first link is linked anew',
  withJit(async (jit) => {
    const spec = { programs: [{ source: CALLER, names: ['scale'] }, { source: CALLEE }] };
    const a = await jit.compileLink(spec, 'sm_90');
    spec.programs[1] = { source: '__device__ float twice(float x) { return x + x + x; }' };
    const b = await jit.compileLink(spec, 'sm_90');
    assert.notEqual(a.key, b.key);
    assert.equal(b.tier, 'compiled');
  }),
);

test(
  'an undefined symbol is a LinkError with the linker log, naming the programs',
  withJit(async (jit) => {
    const spec: LinkSpec = { programs: [{ source: CALLER, names: ['scale'], programName: 'caller.cu' }] };
    await assert.rejects(jit.compileLink(spec, 'sm_90'), (e: unknown) => {
      assert.ok(e instanceof LinkError, String(e));
      assert.match(e.message, /Undefined reference/i);
      assert.match(e.message, /caller\.cu/);
      assert.ok(!e.message.includes('cuop-nvlink-'), 'no temp paths in the message');
      return true;
    });
    // Nothing was cached for the failed link: a second try links (and fails) again.
    await assert.rejects(jit.compileLink(spec, 'sm_90'), LinkError);
  }),
);

test(
  'dynamic parallelism links the device runtime; without it the launch stays unresolved',
  withJit(async (jit) => {
    const spec: LinkSpec = {
      programs: [{ source: DYNAMIC, names: ['parent', 'child'], programName: 'dp.cu' }],
    };
    const r = await jit.compileLink(spec, 'sm_90');
    assert.equal(r.tier, 'compiled');
    assert.ok(
      r.entry.image.length > 50_000,
      `the device runtime is in the image (${r.entry.image.length} B)`,
    );
    await assert.rejects(jit.compileLink({ ...spec, deviceRuntime: false }, 'sm_90'), LinkError);
  }),
);

test(
  'the device runtime is linked only when needed by default; always with deviceRuntime: true, under its own key',
  withJit(async (jit) => {
    const auto = await jit.compileLink(twoPrograms(), 'sm_90');
    const always = await jit.compileLink(twoPrograms(CALLEE, { deviceRuntime: true }), 'sm_90');
    assert.ok(
      auto.entry.image.length < 50_000,
      `no device runtime in a program that launches nothing (${auto.entry.image.length} B)`,
    );
    // nvlink pulls only the archive members a link needs, so `true` adds little here; nvJitLink adds ~200 KB
    // (test-gpu/jit/link.test.ts, bench/link-load.ts).
    assert.ok(always.entry.image.length >= auto.entry.image.length);
    assert.notEqual(auto.key, always.key);
    assert.equal(always.tier, 'compiled', 'not served the image linked without it');
  }),
);

test(
  'an -rdc kernel spec is linked before it is handed out (compile() returns the linked image)',
  withJit(async (jit) => {
    const spec = { source: DYNAMIC, name: 'parent', options: ['-rdc=true'], programName: 'dp.cu' };
    const r = await jit.compile(spec, 'sm_90');
    assert.equal(r.entry.meta.compiler.id, 'nvlink', 'the entry is the link, not the relocatable cubin');
    assert.ok(r.entry.image.length > 50_000);
    assert.equal((await jit.compile(spec, 'sm_90')).tier, 'memory');
  }),
);

test(
  'prebuilt objects: a cubin file, a host object and a static library; an edited file is a miss',
  withJit(async (jit, dir) => {
    const src = join(dir, 'callee.cu');
    writeFileSync(src, CALLEE);
    const cubin = join(dir, 'callee.cubin');
    const object = join(dir, 'callee.o');
    const archive = join(dir, 'libcallee.a');
    execFileSync('nvcc', ['-arch=sm_90', '-cubin', '-rdc=true', src, '-o', cubin]);
    execFileSync('nvcc', ['-arch=sm_90', '-dc', src, '-o', object]);
    execFileSync('ar', ['rcs', archive, object]);
    const caller = { source: CALLER, names: ['scale'] };
    const images = new Set<string>();
    for (const path of [cubin, object, archive]) {
      const r = await jit.compileLink({ programs: [caller], objects: [{ path }] }, 'sm_90');
      assert.equal(r.tier, 'compiled', path);
      assert.ok(isDeviceElf(r.entry.image));
      images.add(r.key);
    }
    assert.equal(images.size, 3);
    const spec = { programs: [caller], objects: [{ path: cubin }] };
    assert.equal((await jit.compileLink(spec, 'sm_90')).tier, 'memory');
    // Rebuild the cubin with another body: the same path, new content. The cached link must not be served.
    writeFileSync(src, '__device__ float twice(float x) { return 4.0f * x; }');
    execFileSync('nvcc', ['-arch=sm_90', '-cubin', '-rdc=true', src, '-o', cubin]);
    const after = await jit.compileLink({ programs: [caller], objects: [{ path: cubin }] }, 'sm_90');
    assert.equal(after.tier, 'compiled', 'the edited object is a miss');
    // Bytes given directly are keyed by their hash.
    const bytes = readFileSync(cubin);
    const byBytes = await jit.compileLink({ programs: [caller], objects: [{ bytes }] }, 'sm_90');
    assert.equal(byBytes.tier, 'compiled');
    assert.equal(
      (await jit.compileLink({ programs: [caller], objects: [{ bytes: Buffer.from(bytes) }] }, 'sm_90')).tier,
      'memory',
    );
    await assert.rejects(
      jit.compileLink({ programs: [caller], objects: [{ path: join(dir, 'missing.o') }] }, 'sm_90'),
      (e: unknown) => e instanceof ImageFileError && /no such file/.test(e.message),
    );
    await assert.rejects(
      jit.compileLink({ programs: [caller], objects: [{ bytes: Buffer.from('not an object') }] }, 'sm_90'),
      /cannot tell what these/,
    );
  }),
);

test(
  'LTO: programs compile to LTO IR and link optimized; the IR entries are cached like any other',
  withJit(async (jit) => {
    const r = await jit.compileLink(twoPrograms(CALLEE, { lto: true }), 'sm_90');
    assert.equal(r.tier, 'compiled');
    assert.ok(isDeviceElf(r.entry.image));
    assert.equal(r.entry.meta.loweredNames['scale'], 'scale');
    const stats = jit.getStats();
    assert.ok(stats.process.compiles >= 3, 'two IR compiles and the link');
  }),
);

test(
  'a header a program read from disk changes: the link is a miss, never the old image',
  withJit(async (jit, dir) => {
    const inc = join(dir, 'inc');
    mkdirSync(inc);
    const header = join(inc, 'factor.cuh');
    writeFileSync(header, '#define FACTOR 2.0f\n');
    const spec = (): LinkSpec => ({
      programs: [
        { source: CALLER, names: ['scale'] },
        {
          source: '#include "factor.cuh"\n__device__ float twice(float x) { return FACTOR * x; }',
          options: [`-I${inc}`],
        },
      ],
    });
    const a = await jit.compileLink(spec(), 'sm_90');
    assert.equal(a.tier, 'compiled');
    assert.equal((await jit.compileLink(spec(), 'sm_90')).tier, 'memory');
    writeFileSync(header, '#define FACTOR 5.0f\n');
    const b = await jit.compileLink(spec(), 'sm_90');
    assert.equal(b.tier, 'compiled', 'the edited header makes the link a miss');
    assert.ok(!b.entry.image.equals(a.entry.image));
    // And in a fresh process over the same dir, the current header's link is the one found.
    const fresh = new JitCompiler({
      cache: new KernelCache({ dir, logger: quiet }),
      compiler: 'nvcc',
      linker: 'nvlink',
    });
    const c = await fresh.compileLink(spec(), 'sm_90');
    assert.equal(c.tier, 'disk');
    assert.ok(c.entry.image.equals(b.entry.image));
    await fresh.cache.close();
  }),
);
