// A miss says why: the nearest entries for the same kernel names and which key inputs differ. Real nvcc compiles;
// the "other compiler version" is nvcc behind an identity that reports another version.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { KernelCache } from '../../src/cache/index.js';
import { NvccCompiler, type Compiler } from '../../src/compiler/index.js';
import { JitCompiler, type KernelSpec } from '../../src/jit/index.js';

const quiet = { warn: () => {}, debug: () => {} };

/** nvcc, reporting `version` as its identity (a toolkit upgrade without installing one). */
function nvccAs(version: string): Compiler {
  const real = new NvccCompiler();
  return {
    id: 'nvcc',
    info: async () => ({ id: 'nvcc', version }),
    supportedArchs: () => real.supportedArchs(),
    compile: async (r) => ({ ...(await real.compile(r)), compiler: { id: 'nvcc', version } }),
  };
}

function setup(): { root: string; dir: string; inc: string; spec: KernelSpec; done: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'cuop-explain-'));
  const inc = join(root, 'include');
  mkdirSync(inc);
  writeFileSync(join(inc, 'tile.cuh'), '#define TILE 4\n');
  const spec: KernelSpec = {
    source:
      '#include "tile.cuh"\nextern "C" __global__ void gemm(float* x) { x[threadIdx.x] *= TILE * BM; }\n',
    name: 'gemm',
    options: [`-I${inc}`, '-DBM=64'],
  };
  return {
    root,
    dir: join(root, 'cache'),
    inc,
    spec,
    done: () => rmSync(root, { recursive: true, force: true }),
  };
}

test('explain: a hit says where; a miss names the header, option, compiler and arch that differ', async () => {
  const s = setup();
  try {
    const jit = new JitCompiler({
      cache: new KernelCache({ dir: s.dir, logger: quiet }),
      compiler: nvccAs('13.0.88'),
    });
    await jit.compile(s.spec, 'sm_90');
    const hit = await jit.explain(s.spec, { arch: 'sm_90' });
    assert.equal(hit.found?.tier, 'memory');
    assert.deepEqual(hit.nearest, []);

    const texts = async (spec: KernelSpec, arch: string, j = jit) =>
      (await j.explain(spec, { arch })).nearest[0]?.differences.map((d) => d.text) ?? [];

    writeFileSync(join(s.inc, 'tile.cuh'), '#define TILE 8\n');
    const headerEdit = await jit.explain(s.spec, { arch: 'sm_90' });
    assert.equal(headerEdit.found, undefined);
    assert.deepEqual(
      headerEdit.nearest[0]?.differences.map((d) => d.text),
      [`header ${join(s.inc, 'tile.cuh').replace(process.cwd() + '/', '')} changed`],
    );
    writeFileSync(join(s.inc, 'tile.cuh'), '#define TILE 4\n');

    assert.deepEqual(await texts({ ...s.spec, options: [`-I${s.inc}`, '-DBM=128'] }, 'sm_90'), [
      'option -DBM=64 → -DBM=128',
    ]);
    assert.deepEqual(await texts(s.spec, 'sm_100'), ['arch sm_90 → sm_100']);
    const upgraded = new JitCompiler({ cache: jit.cache, compiler: nvccAs('13.1.0') });
    assert.deepEqual(await texts(s.spec, 'sm_90', upgraded), ['compiler 13.0.88 → 13.1.0']);
    assert.deepEqual(await texts({ ...s.spec, options: [`-I${s.inc}`, '-DBM=64', '-O3'] }, 'sm_90'), [
      'option -O3 added',
    ]);
    const none = await jit.explain({ source: 'x', name: 'never_compiled' }, { arch: 'sm_90' });
    assert.deepEqual(none.nearest, []);
    await jit.cache.close();
  } finally {
    s.done();
  }
});

test('CUOP_DEBUG: a miss is logged with what the nearest entry differs in; a hit costs no explanation', async () => {
  const s = setup();
  try {
    const lines: string[] = [];
    const cache = new KernelCache({
      dir: s.dir,
      policy: { debug: true },
      logger: { warn: () => {}, debug: (m) => lines.push(m) },
    });
    const jit = new JitCompiler({ cache, compiler: 'nvcc' });
    await jit.compile(s.spec, 'sm_90');
    await jit.compile({ ...s.spec, options: [`-I${s.inc}`, '-DBM=32'] }, 'sm_90');
    const miss = lines.filter((l) => l.startsWith('miss '));
    assert.equal(miss.length, 2);
    assert.match(miss[0] ?? '', /no entry for gemm/);
    assert.match(miss[1] ?? '', /differs in: option -DBM=64 → -DBM=32/);
    lines.length = 0;
    await jit.compile(s.spec, 'sm_90');
    assert.ok(!lines.some((l) => l.startsWith('miss ')));
    await cache.close();
  } finally {
    s.done();
  }
});
