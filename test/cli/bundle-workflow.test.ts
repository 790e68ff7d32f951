// Deploy warm, end to end on the CPU box with real nvcc and the real CLI: record what a run of the operators looked
// up, warm it into an empty dir, export a bundle, import it into a fresh dir, check that every kernel hits; a bundle
// for another arch, tampered bundles, signatures, and a JIT with compiling off refusing to start cold.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';

import { KernelCache } from '../../src/cache/kernel-cache.js';
import { JitCompiler, JitDisabledError, readManifest } from '../../src/jit/index.js';
import { elementwiseSource, ew, lowerExpression, softmaxSource } from '../../src/ops/index.js';
import { kernelSpecFrom } from '../../src/ops/elementwise.js';
import { kernelSpecOf } from '../../src/ops/gemm.js';
import { GEMM_CONFIGS, gemmSource } from '../../src/ops/gemm-source.js';
import { recordingLogger, tempDir as fixtureTempDir } from '../cache/fixtures.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const quiet = recordingLogger().logger;
const scratch: string[] = [];
const tempDir = (tag: string): string => {
  const d = fixtureTempDir(tag);
  scratch.push(d);
  return d;
};
after(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

function cuop(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { status: number | null; stdout: string; stderr: string } {
  const clean: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('CUOP_') && !k.startsWith('NODE_TEST')) clean[k] = v;
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...clean, CUOP_CODE_CACHE: '0', ...env },
    timeout: 300_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const metadataFiles = (dir: string): string[] => {
  try {
    return readdirSync(join(dir, 'metadata'), { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
};

/** The operators' kernels of a small run: a GEMM (f32 SIMT), a GEMM (f16 tensor cores), a softmax, a fused add. */
function operatorSpecs() {
  return [
    kernelSpecOf(
      gemmSource({
        dtype: 'float32',
        transA: false,
        transB: false,
        config: GEMM_CONFIGS.f32Small,
        aligned: true,
      }),
    ),
    kernelSpecOf(
      gemmSource({
        dtype: 'float16',
        transA: false,
        transB: true,
        config: GEMM_CONFIGS.mmaSmall,
        aligned: true,
      }),
    ),
    kernelSpecFrom(softmaxSource({ dtype: 'float32', shape: 'warp', vec: 4 })),
    kernelSpecFrom(
      elementwiseSource({ expr: lowerExpression(ew.input(0).add(ew.input(1))), dtype: 'float32', vec: 4 }),
    ),
  ];
}

let work = '';
let manifest = '';
let warmDir = '';
let bundle = '';

before(async () => {
  work = tempDir('deploy');
  manifest = join(work, 'run.manifest');
  // "A run": the operators' lookups through a recording JIT (compiling off: the recording needs no compiler).
  const cache = new KernelCache({ dir: join(work, 'run-cache'), env: {}, logger: quiet });
  const jit = new JitCompiler({ cache, compiler: 'nvcc', allowCompile: false, record: manifest });
  for (const spec of operatorSpecs()) {
    await assert.rejects(jit.compile(spec, 'sm_90'), JitDisabledError);
    await assert.rejects(jit.compile(spec, 'sm_90'), JitDisabledError); // looked up twice, recorded once
  }
  await cache.close();
  warmDir = join(work, 'warm');
  bundle = join(work, 'ops.cuopbundle');
});

test('record: every spec the run looked up, once, with its arch and compiler', () => {
  const entries = readManifest(manifest);
  assert.equal(entries.length, 4);
  assert.ok(entries.every((e) => e.arch === 'sm_90' && e.compiler === 'nvcc'));
  assert.deepEqual(
    entries.map((e) => ('name' in e.spec ? e.spec.name : '')),
    operatorSpecs().map((s) => s.name),
  );
  // A second recording run adds nothing.
  const before = readFileSync(manifest, 'utf8');
  const jit = new JitCompiler({
    cache: new KernelCache({ dir: null, env: {}, logger: quiet }),
    compiler: 'nvcc',
    allowCompile: false,
    record: manifest,
  });
  return (async () => {
    for (const spec of operatorSpecs()) await jit.compile(spec, 'sm_90').catch(() => {});
    assert.equal(readFileSync(manifest, 'utf8'), before);
  })();
});

test('warm (real nvcc, --jobs 2) → export → import into a fresh dir → check: every kernel hits; twice is a no-op', () => {
  const warm = cuop(['cache', '--cache-dir', warmDir, 'warm', manifest, '--jobs', '2']);
  assert.equal(warm.status, 0, warm.stderr);
  assert.match(
    warm.stdout,
    /warm: 4 kernels \(4 specs\): 4 compiled, 0 already cached, 0 failed in [\d.]+ s with --jobs 2/,
  );
  assert.match(warm.stderr, /^\[1\/4\] compiled cuop_/m, 'plain progress lines off a terminal');
  const again = cuop(['cache', '--cache-dir', warmDir, 'warm', manifest, '--json']);
  assert.equal(JSON.parse(again.stdout).cached, 4);

  const exported = cuop(['cache', '--cache-dir', warmDir, 'export', bundle, '--manifest', manifest]);
  assert.equal(exported.status, 0, exported.stderr);
  assert.match(exported.stdout, /export: 4 entries, [\d.]+ KiB, unsigned/);
  // A plain tar.gz: `tar` lists it.
  const listed = spawnSync('tar', ['-tzf', bundle], { encoding: 'utf8' });
  if (listed.status === 0) assert.match(listed.stdout, /^cuop-bundle\.json$/m);

  const fresh = join(work, 'fresh');
  const missBefore = cuop(['cache', '--cache-dir', fresh, 'check', manifest]);
  assert.equal(missBefore.status, 1);
  assert.match(missBefore.stdout, /check: 0 of 4 kernels hit here, 4 miss/);
  const imported = cuop(['cache', '--cache-dir', fresh, 'import', bundle, '--arch', 'sm_90', '--json']);
  assert.equal(imported.status, 0, imported.stderr);
  const report = JSON.parse(imported.stdout);
  assert.equal(report.imported.length, 4);
  const twice = JSON.parse(
    cuop(['cache', '--cache-dir', fresh, 'import', bundle, '--arch', 'sm_90', '--json']).stdout,
  );
  assert.deepEqual([twice.imported.length, twice.present.length], [0, 4]);
  const check = cuop(['cache', '--cache-dir', fresh, 'check', manifest]);
  assert.equal(check.status, 0, check.stdout);
  assert.match(check.stdout, /check: 4 of 4 kernels hit here, 0 miss/);
});

test('a bundle for another arch: each entry reported incompatible with the reason, nothing imported', () => {
  const other = join(work, 'other-arch');
  const r = cuop(['cache', '--cache-dir', other, 'import', bundle, '--arch', 'sm_80', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.incompatible.length, 4);
  assert.ok(
    report.incompatible.every((x: { why: string }) => x.why === 'built for sm_90, which cannot run on sm_80'),
  );
  assert.deepEqual(metadataFiles(other), []);
});

/** The bundle's tar with `edit` applied to its members' bytes, gzipped again. */
function tampered(edit: (tar: Buffer) => Buffer): string {
  const out = join(work, `tampered-${scratch.length}-${Math.random().toString(36).slice(2)}.cuopbundle`);
  writeFileSync(out, gzipSync(edit(Buffer.from(gunzipSync(readFileSync(bundle))))));
  return out;
}

test('tampered bundles: a flipped image byte loses that entry only; an extra file loses the whole bundle', () => {
  // The last member is an image (members: manifest, meta/*, images/*): flip a byte of its data.
  const flipped = tampered((tar) => {
    const at = tar.lastIndexOf(Buffer.from('images/'));
    const dataStart = at + 512;
    tar[dataStart + 100] = tar[dataStart + 100]! ^ 0xff;
    return tar;
  });
  const dir = join(work, 'after-flip');
  const r = cuop(['cache', '--cache-dir', dir, 'import', flipped, '--arch', 'sm_90', '--json']);
  assert.equal(r.status, 1, 'a rejected entry fails the import');
  const report = JSON.parse(r.stdout);
  assert.equal(report.rejected.length, 1, r.stdout);
  assert.equal(report.imported.length, 3);
  assert.equal(metadataFiles(dir).length, 3, 'the bad entry did not enter the cache');

  const extra = tampered((tar) => {
    // A regular member appended before the end-of-archive blocks: "notes.txt".
    const header = Buffer.alloc(512);
    header.write('notes.txt', 0);
    header.write('0000644\0', 100);
    header.write('0000000\0', 108);
    header.write('0000000\0', 116);
    header.write('00000000005\0', 124);
    header.write('00000000000\0', 136);
    header.write('        ', 148);
    header.write('0', 156);
    header.write('ustar\0', 257);
    header.write('00', 263);
    let sum = 0;
    for (const b of header) sum += b;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    const body = Buffer.alloc(512);
    body.write('hello');
    let end = tar.length;
    while (end >= 512 && tar.subarray(end - 512, end).every((b) => b === 0)) end -= 512;
    return Buffer.concat([tar.subarray(0, end), header, body, Buffer.alloc(1024)]);
  });
  const dir2 = join(work, 'after-extra');
  const r2 = cuop(['cache', '--cache-dir', dir2, 'import', extra, '--arch', 'sm_90']);
  assert.equal(r2.status, 1);
  assert.match(r2.stderr, /refused, nothing was imported/);
  assert.deepEqual(metadataFiles(dir2), []);
});

test('signed bundles: signed with the fleet secret, refused by a host holding another one', () => {
  const signed = join(work, 'signed.cuopbundle');
  const secret = { CUOP_REMOTE_SECRET: 'k1:bundle-secret-0123456789' };
  const e = cuop(['cache', '--cache-dir', warmDir, 'export', signed, '--all'], secret);
  assert.equal(e.status, 0, e.stderr);
  assert.match(e.stdout, /, signed →/);
  const ok = cuop(
    ['cache', '--cache-dir', join(work, 'signed-ok'), 'import', signed, '--arch', 'sm_90'],
    secret,
  );
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /signed by k1\): 4 imported/);
  const stranger = cuop(
    ['cache', '--cache-dir', join(work, 'signed-no'), 'import', signed, '--arch', 'sm_90'],
    {
      CUOP_REMOTE_SECRET: 'k2:another-secret-0123456789',
    },
  );
  assert.equal(stranger.status, 1);
  assert.match(stranger.stderr, /refused, nothing was imported/);
  // An unsigned bundle where a secret is set: refused unless allowed.
  const unsigned = cuop(
    ['cache', '--cache-dir', join(work, 'unsigned'), 'import', bundle, '--arch', 'sm_90'],
    secret,
  );
  assert.equal(unsigned.status, 1);
  const allowed = cuop(
    ['cache', '--cache-dir', join(work, 'unsigned'), 'import', bundle, '--arch', 'sm_90', '--allow-unsigned'],
    secret,
  );
  assert.equal(allowed.status, 0, allowed.stderr);
});

test('compiling off: a JIT over the imported cache starts; over an empty one it refuses, naming every missing kernel', async () => {
  const entries = readManifest(manifest);
  const warm = new KernelCache({ dir: join(work, 'fresh'), env: {}, logger: quiet });
  await new JitCompiler({ cache: warm, compiler: 'nvcc', allowCompile: false, record: null }).assertWarm(
    entries,
  );
  await warm.close();
  const empty = new KernelCache({ dir: join(work, 'empty'), env: {}, logger: quiet });
  const cold = new JitCompiler({ cache: empty, compiler: 'nvcc', allowCompile: false, record: null });
  await assert.rejects(cold.assertWarm(entries), (e: unknown) => {
    assert.ok(e instanceof JitDisabledError);
    assert.equal(e.missing.length, 4);
    assert.match(e.message, /4 of 4 kernels are not in the cache: cuop_gemm_f32/);
    return true;
  });
  await empty.close();
});

test('bad input: a missing manifest, a malformed line, a bad --arch: one line each, exit status 2', () => {
  const missing = cuop(['cache', '--cache-dir', join(work, 'bad'), 'warm', join(work, 'nope.manifest')]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /^cuop: cannot read the manifest .*nope\.manifest/);
  const bad = join(work, 'bad.manifest');
  writeFileSync(bad, '{"cuopManifest":1}\n{"source": 3}\n');
  const r = cuop(['cache', '--cache-dir', join(work, 'bad'), 'check', bad]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /line 2: needs "source"/);
  const arch = cuop(['cache', '--cache-dir', join(work, 'bad'), 'warm', manifest, '--arch', 'hopper']);
  assert.equal(arch.status, 2);
  assert.match(arch.stderr, /--arch: expected e\.g\. sm_90/);
});
