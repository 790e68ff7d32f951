import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { detectLinkInputKind, isRelocatable, LinkError, NvlinkLinker } from '../../src/compiler/index.js';

test('isRelocatable: the spellings of separate compilation', () => {
  for (const o of [
    ['-rdc=true'],
    ['--relocatable-device-code=true'],
    ['-dc'],
    ['--device-c'],
    ['-rdc', 'true'],
  ])
    assert.equal(isRelocatable(o), true, o.join(' '));
  for (const o of [[], ['-rdc=false'], ['-O3'], ['--relocatable-device-code=false'], ['-dcx']])
    assert.equal(isRelocatable(o), false, o.join(' '));
});

test('detectLinkInputKind: what nvcc writes is told apart by its bytes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cuop-kinds-'));
  try {
    const src = join(dir, 'k.cu');
    writeFileSync(src, 'extern "C" __global__ void k(float* x) { x[0] = 1; }\n');
    const build = (args: string[], out: string): Buffer => {
      execFileSync('nvcc', ['-arch=sm_90', ...args, src, '-o', join(dir, out)]);
      return readFileSync(join(dir, out));
    };
    assert.equal(detectLinkInputKind(build(['-cubin', '-rdc=true'], 'k.cubin')), 'cubin');
    assert.equal(detectLinkInputKind(build(['-ptx'], 'k.ptx')), 'ptx');
    assert.equal(detectLinkInputKind(build(['-fatbin'], 'k.fatbin')), 'fatbin');
    assert.equal(detectLinkInputKind(build(['-dc'], 'k.o')), 'object');
    execFileSync('nvcc', ['-arch=lto_90', '-dlto', '-rdc=true', '-ltoir', src, '-o', join(dir, 'k.ltoir')]);
    assert.equal(detectLinkInputKind(readFileSync(join(dir, 'k.ltoir'))), 'ltoir');
    execFileSync('ar', ['rcs', join(dir, 'libk.a'), join(dir, 'k.o')]);
    assert.equal(detectLinkInputKind(readFileSync(join(dir, 'libk.a'))), 'library');
    assert.equal(detectLinkInputKind(Buffer.from('hello')), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('NvlinkLinker: identity from the toolkit; an arch mismatch is a LinkError', async () => {
  const linker = new NvlinkLinker();
  const info = await linker.info();
  assert.equal(info.id, 'nvlink');
  assert.match(info.version, /^\d+\.\d+\.\d+$/);
  assert.match(info.deviceRuntime ?? '', /^size:\d+$/);
  const dir = mkdtempSync(join(tmpdir(), 'cuop-nvlink-t-'));
  try {
    const src = join(dir, 'k.cu');
    writeFileSync(src, '__device__ float f(float x) { return x; }\n');
    execFileSync('nvcc', ['-arch=sm_80', '-cubin', '-rdc=true', src, '-o', join(dir, 'k.cubin')]);
    const data = readFileSync(join(dir, 'k.cubin'));
    await assert.rejects(
      linker.link({ arch: 'sm_90', inputs: [{ kind: 'cubin', data, name: 'k_sm80.cubin' }] }),
      (e: unknown) => e instanceof LinkError && /k_sm80\.cubin/.test(e.message),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
