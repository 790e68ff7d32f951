import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  CompilerUnavailableError,
  NvccCompiler,
  archName,
  parseArch,
  archFromOptions,
  resolveTarget,
  selectCompiler,
} from '../../src/compiler/index.js';
import { nvrtcAvailable } from '../../src/cuda/nvrtc.js';

const hasNvrtc = nvrtcAvailable();
const noNvrtcHere = hasNvrtc ? 'libnvrtc opens on this host' : false;

describe('selectCompiler', () => {
  test('auto picks NVRTC when libnvrtc opens, else nvcc', () => {
    const c = selectCompiler('auto', { env: {} });
    assert.equal(c.id, hasNvrtc ? 'nvrtc' : 'nvcc');
    assert.equal(selectCompiler(undefined, { env: {} }).id, c.id);
  });

  test(
    'on a host without libnvrtc, auto gives an NvccCompiler that works',
    { skip: noNvrtcHere },
    async () => {
      const c = selectCompiler();
      assert.ok(c instanceof NvccCompiler);
      assert.match((await c.info()).version, /^\d+\.\d+/);
    },
  );

  test('CUOP_COMPILER=nvrtc without libnvrtc says where it looked', { skip: noNvrtcHere }, () => {
    assert.throws(
      () => selectCompiler('auto', { env: { CUOP_COMPILER: 'nvrtc' } }),
      (err: unknown) => {
        assert.ok(err instanceof CompilerUnavailableError);
        assert.match(err.message, /NVRTC is not usable: could not load libnvrtc\. Looked in:\n {2}- /);
        assert.match(err.message, /ldconfig -p/);
        assert.match(err.message, /Set CUOP_NVRTC_PATH/);
        return true;
      },
    );
    assert.throws(() => selectCompiler('nvrtc', { env: {} }), CompilerUnavailableError);
  });

  test('CUOP_COMPILER=nvcc picks nvcc; an explicit argument wins over it; junk is refused', () => {
    assert.equal(selectCompiler('auto', { env: { CUOP_COMPILER: ' NVCC ' } }).id, 'nvcc');
    assert.equal(selectCompiler('nvcc', { env: { CUOP_COMPILER: 'nvrtc' } }).id, 'nvcc');
    assert.throws(
      () => selectCompiler('auto', { env: { CUOP_COMPILER: 'clang' } }),
      /CUOP_COMPILER must be one of/,
    );
    assert.throws(() => selectCompiler('gcc' as 'auto', { env: {} }), RangeError);
  });

  test('with neither backend usable, auto lists both failures', { skip: noNvrtcHere }, () => {
    assert.throws(
      () => selectCompiler('auto', { env: {}, nvccPath: '/nonexistent/cuda/bin/nvcc' }),
      (err: unknown) => {
        assert.ok(err instanceof CompilerUnavailableError);
        assert.match(err.message, /no CUDA compiler is usable/);
        assert.match(err.message, /could not load libnvrtc/);
        assert.match(err.message, /nvcc not usable at \/nonexistent\/cuda\/bin\/nvcc/);
        return true;
      },
    );
  });
});

describe('arch helpers', () => {
  test('parseArch and archName', () => {
    assert.equal(parseArch('sm_90'), 90);
    assert.equal(parseArch('sm_80'), 80);
    assert.equal(parseArch('sm_120'), 120);
    assert.equal(parseArch('sm_90a'), 90);
    assert.equal(parseArch('sm_100f'), 100);
    for (const bad of [
      '',
      'sm_',
      'sm_9',
      'sm_1000',
      'sm_09',
      'compute_90',
      'SM_90',
      'sm-90',
      'sm_90x',
      ' sm_90',
      '90',
    ]) {
      assert.throws(() => parseArch(bad), RangeError, bad);
    }
    assert.equal(archName(90), 'sm_90');
    assert.equal(archName(121), 'sm_121');
    for (const bad of [9, 1000, 90.5, NaN, -90]) assert.throws(() => archName(bad), RangeError, String(bad));
    for (const n of [75, 80, 86, 90, 100, 120]) assert.equal(parseArch(archName(n)), n);
  });

  test('resolveTarget: cubin when known, PTX for the best older arch when not, errors otherwise', () => {
    const known = [75, 80, 86, 90, 100, 120];
    assert.deepEqual(resolveTarget('sm_90', 'cubin', known, 'x'), {
      imageKind: 'cubin',
      target: 'sm_90',
      fallback: false,
    });
    assert.deepEqual(resolveTarget('sm_90a', 'cubin', known, 'x').target, 'sm_90a');
    assert.deepEqual(resolveTarget('sm_90', 'ptx', known, 'x'), {
      imageKind: 'ptx',
      target: 'compute_90',
      fallback: false,
    });
    assert.deepEqual(resolveTarget('sm_999', 'cubin', known, 'x'), {
      imageKind: 'ptx',
      target: 'compute_120',
      fallback: true,
    });
    assert.equal(resolveTarget('sm_121', 'cubin', known, 'x').target, 'compute_120');
    assert.equal(resolveTarget('sm_95', 'cubin', known, 'x').target, 'compute_90');
    assert.throws(() => resolveTarget('sm_70', 'cubin', known, 'nvcc 13.0.88'), {
      name: 'RangeError',
      message: /nvcc 13\.0\.88 cannot compile for sm_70: the oldest arch it supports is sm_75/,
    });
    assert.throws(() => resolveTarget('sm_90', 'fatbin' as 'ptx', known, 'x'), /invalid imageKind/);
    assert.throws(() => resolveTarget('sm_90', 'cubin', [], 'x'), /reports no supported archs/);
  });
});

test('NVRTC version: the patch level comes from the library file name, or its size stands in', async () => {
  const { fullVersion } = await import('../../src/compiler/nvrtc-compiler.js');
  const { mkdtempSync, writeFileSync, symlinkSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'cuop-nvrtc-ver-'));
  writeFileSync(join(dir, 'libnvrtc.so.13.0.88'), 'x');
  symlinkSync(join(dir, 'libnvrtc.so.13.0.88'), join(dir, 'libnvrtc.so.13'));
  assert.equal(fullVersion(13, 0, join(dir, 'libnvrtc.so.13')), '13.0.88');
  writeFileSync(join(dir, 'libnvrtc.so'), 'abcd');
  assert.equal(fullVersion(13, 0, join(dir, 'libnvrtc.so')), '13.0+4');
  assert.equal(
    fullVersion(12, 8, join(dir, 'libnvrtc.so.13')),
    '12.8+1',
    'a name of another version is not trusted',
  );
  assert.equal(fullVersion(13, 0, join(dir, 'missing.so')), '13.0');
});

describe('archFromOptions', () => {
  test('an arch-specific target in the options becomes the target and leaves the options', () => {
    assert.deepEqual(archFromOptions('sm_90', ['-O3', '-arch=sm_90a']), { arch: 'sm_90a', options: ['-O3'] });
    assert.deepEqual(archFromOptions('sm_90', ['--gpu-architecture=sm_90a']), {
      arch: 'sm_90a',
      options: [],
    });
    assert.deepEqual(archFromOptions('sm_100', ['-arch=sm_100f']), { arch: 'sm_100f', options: [] });
  });
  test('anything else is left as it is; another device is refused', () => {
    const opts = ['-arch=sm_80', '-DX=1'];
    assert.deepEqual(archFromOptions('sm_90', opts), { arch: 'sm_90', options: opts });
    assert.deepEqual(archFromOptions('sm_90', []), { arch: 'sm_90', options: [] });
    assert.throws(
      () => archFromOptions('sm_89', ['-arch=sm_90a']),
      /compiled for sm_90a .* cannot run on a sm_89/,
    );
  });
});
