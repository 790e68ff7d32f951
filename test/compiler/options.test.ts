import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import {
  absolutizePathOptions,
  includeOptions,
  NVCC_DIALECT,
  NVRTC_DIALECT,
} from '../../src/compiler/options.js';

test('relative include paths become absolute in every spelling; everything else is left alone', () => {
  const w = mkdtempSync(join(tmpdir(), 'cuop-options-'));
  writeFileSync(join(w, 'pre.h'), '');
  writeFileSync(join(w, 'pre2.h'), '');
  const opts = [
    '-Iinc',
    '-I',
    'inc2',
    '--include-path=inc3',
    '--include-path',
    'inc4',
    '-isystem',
    'sys',
    '-include',
    'pre.h',
    '--pre-include=pre2.h',
    '-I/abs',
    '-DX=inc',
    '-O3',
  ];
  assert.deepEqual(
    absolutizePathOptions(opts, w).map((o) => o.replaceAll(w, '/w')),
    [
      '-I/w/inc',
      '-I',
      '/w/inc2',
      '--include-path=/w/inc3',
      '--include-path',
      '/w/inc4',
      '-isystem',
      '/w/sys',
      '-include',
      '/w/pre.h',
      '--pre-include=/w/pre2.h',
      '-I/abs',
      '-DX=inc',
      '-O3',
    ],
  );
  // a pre-included file that is not in the working directory is looked up on the include path: left as it is
  assert.deepEqual(absolutizePathOptions(['-include', 'cuda_fp16.h'], w), ['-include', 'cuda_fp16.h']);
  rmSync(w, { recursive: true, force: true });
});

test('nvcc splits list options at commas, NVRTC does not', () => {
  assert.deepEqual(absolutizePathOptions(['-Ia,b'], '/w', NVCC_DIALECT), ['-I/w/a,/w/b']);
  assert.deepEqual(absolutizePathOptions(['-Ia,b'], '/w', NVRTC_DIALECT), ['-I/w/a,b']);
  assert.deepEqual(includeOptions(['-I/a,/b'], NVCC_DIALECT).includeDirs, ['/a', '/b']);
  assert.deepEqual(includeOptions(['-I/a,/b'], NVRTC_DIALECT).includeDirs, ['/a,/b']);
});

test('includeOptions: -I before -isystem, pre-includes and defines', () => {
  const r = includeOptions([
    '-isystem',
    '/s',
    '-I/a',
    '--include-path=/b',
    '-include',
    '/p.h',
    '-DA',
    '-D',
    'B=2',
    '--define-macro=C=x y',
  ]);
  assert.deepEqual(r.includeDirs, ['/a', '/b', '/s']);
  assert.deepEqual(r.preIncludes, ['/p.h']);
  assert.deepEqual(r.defines, { A: '1', B: '2', C: 'x y' });
});
