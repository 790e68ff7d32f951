import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { LibraryNotFoundError } from '../../src/cuda/errors.js';
import {
  DRIVER_LIBRARY,
  NVRTC_LIBRARY,
  candidatePaths,
  openFirst,
  type Candidate,
} from '../../src/cuda/library-discovery.js';

let root: string;
const savedPythonPath = process.env['PYTHONPATH'];

/** Empty files are enough: candidatePaths only lists directories. */
function touch(...parts: string[]): string {
  const p = join(root, ...parts);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, '');
  return p;
}

/** The order sources must come in; several candidates may share one. */
const SOURCE_ORDER = [
  /^CUOP_(NVRTC|LIBCUDA)_PATH$/,
  /^CUDA_PATH$/,
  /^CUDA_HOME$/,
  /^toolkit/,
  /^ldconfig -p/,
  /^python wheel$/,
  /^dynamic loader$/,
];
const rank = (c: Candidate): number => {
  const i = SOURCE_ORDER.findIndex((re) => re.test(c.source));
  assert.notEqual(i, -1, `unexpected source ${c.source}`);
  return i;
};
function assertOrdered(list: readonly Candidate[]): void {
  const ranks = list.map(rank);
  for (let i = 1; i < ranks.length; i++) {
    assert.ok(
      (ranks[i] ?? 0) >= (ranks[i - 1] ?? 0),
      `${list[i]?.source} (${list[i]?.path}) comes after ${list[i - 1]?.source}`,
    );
  }
}

before(() => {
  root = mkdtempSync(join(tmpdir(), 'cuop-discovery-'));
});
afterEach(() => {
  if (savedPythonPath === undefined) delete process.env['PYTHONPATH'];
  else process.env['PYTHONPATH'] = savedPythonPath;
});
after(() => rmSync(root, { recursive: true, force: true }));

describe('candidatePaths', () => {
  test('NVRTC: env var, CUDA_PATH, CUDA_HOME, toolkits, ldconfig, wheels — highest version first', () => {
    const explicit = touch('explicit', 'libnvrtc.so.13');
    const p13 = touch('cuda-path', 'lib64', 'libnvrtc.so.13');
    const p12 = touch('cuda-path', 'lib64', 'libnvrtc.so.12');
    const pBare = touch('cuda-path', 'lib64', 'libnvrtc.so');
    touch('cuda-path', 'lib64', 'libnvrtc.so.13.alt'); // never picked
    const home = touch('cuda-home', 'targets', 'x86_64-linux', 'lib', 'libnvrtc.so.13');
    const wheel = touch('site', 'nvidia', 'cuda_nvrtc', 'lib', 'libnvrtc.so.13');
    process.env['PYTHONPATH'] = join(root, 'site');

    const env = {
      CUOP_NVRTC_PATH: explicit,
      CUDA_PATH: join(root, 'cuda-path'),
      CUDA_HOME: join(root, 'cuda-home'),
    };
    const list = candidatePaths(NVRTC_LIBRARY, env);
    const paths = list.map((c) => c.path);
    assertOrdered(list);

    assert.deepEqual(list[0], { path: explicit, source: 'CUOP_NVRTC_PATH' });
    assert.deepEqual(
      list.slice(1, 4).map((c) => [c.path, c.source]),
      [
        [p13, 'CUDA_PATH'],
        [p12, 'CUDA_PATH'],
        [pBare, 'CUDA_PATH'],
      ],
    );
    assert.ok(!paths.some((p) => p.endsWith('.alt')), 'alt builds are skipped');
    // A CUDA_PATH dir without the library still shows up, so the error message says it was looked at.
    assert.ok(paths.includes(join(root, 'cuda-path', 'lib', 'libnvrtc.so')));
    assert.deepEqual(list.find((c) => c.path === home)?.source, 'CUDA_HOME');
    assert.deepEqual(list.find((c) => c.path === wheel)?.source, 'python wheel');
    assert.ok(
      list.some((c) => c.source.startsWith('ldconfig -p')),
      'ldconfig is consulted (or said to be empty)',
    );
  });

  test('without env vars, the search starts at the installed toolkits', () => {
    const list = candidatePaths(NVRTC_LIBRARY, {});
    assertOrdered(list);
    assert.ok(!list.some((c) => ['CUOP_NVRTC_PATH', 'CUDA_PATH', 'CUDA_HOME'].includes(c.source)));
  });

  test('the driver: toolkit dirs before ldconfig, bare sonames for the dynamic loader last', () => {
    const list = candidatePaths(DRIVER_LIBRARY, { CUDA_HOME: join(root, 'cuda-home') });
    assertOrdered(list);
    assert.equal(list[0]?.source, 'CUDA_HOME');
    assert.ok(
      list.some((c) => c.source.startsWith('toolkit')),
      '/usr/local/cuda* is consulted',
    );
    assert.deepEqual(
      list.slice(-2).map((c) => [c.path, c.source]),
      [
        ['libcuda.so.1', 'dynamic loader'],
        ['libcuda.so', 'dynamic loader'],
      ],
    );
  });

  test('NVRTC: the bare sonames are left to the dynamic loader last, newest first', () => {
    const list = candidatePaths(NVRTC_LIBRARY, {});
    assert.deepEqual(
      list.slice(-3).map((c) => [c.path, c.source]),
      [
        ['libnvrtc.so.13', 'dynamic loader'],
        ['libnvrtc.so.12', 'dynamic loader'],
        ['libnvrtc.so', 'dynamic loader'],
      ],
    );
  });
});

describe('openFirst', () => {
  test('a missing library throws LibraryNotFoundError listing every place looked and the env var', () => {
    const env = {
      CUOP_NVRTC_PATH: join(root, 'nowhere', 'libnvrtc.so.13'),
      CUDA_PATH: join(root, 'empty-toolkit'),
    };
    const opened: string[] = [];
    assert.throws(
      () =>
        openFirst(
          NVRTC_LIBRARY,
          (p) => {
            opened.push(p);
            throw new Error(`${p}: cannot open shared object file\nsecond line`);
          },
          env,
        ),
      (err: unknown) => {
        assert.ok(err instanceof LibraryNotFoundError);
        assert.equal(err.library, 'libnvrtc');
        assert.equal(err.envVar, 'CUOP_NVRTC_PATH');
        assert.match(err.message, /^could not load libnvrtc\. Looked in:\n/);
        assert.match(err.message, /Set CUOP_NVRTC_PATH to the library's full path/);
        assert.match(
          err.message,
          new RegExp(`${env.CUOP_NVRTC_PATH.replace(/\./g, '\\.')} \\(CUOP_NVRTC_PATH: not found\\)`),
        );
        const unique = [...new Set(candidatePaths(NVRTC_LIBRARY, env).map((c) => c.path))];
        assert.equal(err.searched.length, unique.length, 'one line per distinct candidate');
        for (const p of unique) assert.ok(err.message.includes(p), `message mentions ${p}`);
        for (const p of opened) assert.ok(err.message.includes(`${p} (`), `message says why ${p} failed`);
        assert.ok(!err.message.includes('second line'), 'only the first line of each failure');
        return true;
      },
    );
  });

  test('an open() that throws for the first candidate falls through to the next', () => {
    const first = touch('first', 'libnvrtc.so.13');
    const second = touch('second', 'lib64', 'libnvrtc.so.13');
    const env = { CUOP_NVRTC_PATH: first, CUDA_PATH: join(root, 'second') };
    const calls: string[] = [];
    const result = openFirst(
      NVRTC_LIBRARY,
      (p) => {
        calls.push(p);
        if (p === first) throw new Error('wrong ELF class: ELFCLASS32');
        return { handleFor: p };
      },
      env,
    );
    assert.deepEqual(calls, [first, second]);
    assert.equal(result.path, second);
    assert.deepEqual(result.handle, { handleFor: second });
  });
});
