import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { LibraryNotFoundError, NvrtcBuiltinsError, reviveError } from '../../src/cuda/errors.js';
import {
  DRIVER_LIBRARY,
  NVJITLINK_LIBRARY,
  NVRTC_LIBRARY,
  candidatePaths,
  ldconfigPaths,
  numericCompare,
  nvrtcBuiltinsFor,
  openFirst,
  parseLdCache,
  sitePackagesDirs,
  toolkitIncludeDirsFor,
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
  /^python wheel/,
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

    const env = {
      PYTHONPATH: join(root, 'site'),
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

/** A fake environment (venv) prefix with one site-packages, and its path. */
function venv(name: string): { prefix: string; site: string } {
  const prefix = join(root, name);
  const site = join(prefix, 'lib', 'python3.12', 'site-packages');
  mkdirSync(site, { recursive: true });
  return { prefix, site };
}

describe('python wheels', () => {
  test('the CUDA 13 wheel layout (nvidia/cu13/lib) is found in the active venv, before a CUDA 12 wheel', () => {
    const { prefix, site } = venv('venv-both');
    const cu13 = touch(
      'venv-both',
      'lib',
      'python3.12',
      'site-packages',
      'nvidia',
      'cu13',
      'lib',
      'libnvrtc.so.13',
    );
    touch('venv-both', 'lib', 'python3.12', 'site-packages', 'nvidia', 'cu13', 'lib', 'libnvrtc.alt.so.13');
    touch(
      'venv-both',
      'lib',
      'python3.12',
      'site-packages',
      'nvidia',
      'cu13',
      'lib',
      'libnvrtc-builtins.so.13.0',
    );
    const cu12 = touch(
      'venv-both',
      ...['lib', 'python3.12', 'site-packages', 'nvidia', 'cuda_nvrtc', 'lib', 'libnvrtc.so.12'],
    );
    const wheels = candidatePaths(NVRTC_LIBRARY, { VIRTUAL_ENV: prefix }).filter(
      (c) => c.source === 'python wheel',
    );
    assert.deepEqual(
      wheels.map((c) => c.path),
      [cu13, cu12],
      'cu13 first; the alt build and the builtins are no libnvrtc',
    );
    assert.ok(sitePackagesDirs({ VIRTUAL_ENV: prefix }).includes(site));
  });

  test('nvJitLink: the CUDA 13 wheel shares nvidia/cu13/lib; the CUDA 12 one is nvidia/nvjitlink/lib', () => {
    const { prefix } = venv('venv-jitlink');
    const at = ['lib', 'python3.12', 'site-packages', 'nvidia'];
    const cu13 = touch('venv-jitlink', ...at, 'cu13', 'lib', 'libnvJitLink.so.13');
    const cu12 = touch('venv-jitlink', ...at, 'nvjitlink', 'lib', 'libnvJitLink.so.12');
    const wheels = candidatePaths(NVJITLINK_LIBRARY, { CONDA_PREFIX: prefix }).filter(
      (c) => c.source === 'python wheel',
    );
    assert.deepEqual(
      wheels.map((c) => c.path),
      [cu13, cu12],
    );
  });

  test('a venv found through its bin/ on PATH; a site-packages without the wheel is named as looked at', () => {
    const { prefix, site } = venv('venv-path');
    touch('venv-path', 'bin', 'python3');
    const list = candidatePaths(NVRTC_LIBRARY, { PATH: join(prefix, 'bin') });
    assertOrdered(list);
    const none = list.find((c) => c.source === 'python wheel (none)' && c.path.startsWith(site));
    assert.equal(none?.path, join(site, 'nvidia', '{cu13,cuda_nvrtc}', 'lib', 'libnvrtc.so*'));
  });

  test('the error lists the wheels looked in and still tries the dynamic loader last', () => {
    const { prefix, site } = venv('venv-empty');
    assert.throws(
      () =>
        openFirst(
          NVRTC_LIBRARY,
          () => {
            throw new Error('cannot open shared object file');
          },
          { VIRTUAL_ENV: prefix },
        ),
      (err: unknown) =>
        err instanceof LibraryNotFoundError &&
        err.message.includes(`${join(site, 'nvidia', '{cu13,cuda_nvrtc}', 'lib')}`) &&
        err.message.includes('(python wheel (none))'),
    );
  });
});

describe('toolkitIncludeDirsFor', () => {
  test('a toolkit: targets/<triple>/lib and lib64 beside include/, CCCL in include/cccl', () => {
    const header = touch('tk', 'targets', 'x86_64-linux', 'include', 'cuda_fp16.h');
    mkdirSync(join(root, 'tk', 'targets', 'x86_64-linux', 'include', 'cccl'), { recursive: true });
    const lib = touch('tk', 'targets', 'x86_64-linux', 'lib', 'libnvrtc.so.13');
    const include = join(header, '..');
    assert.deepEqual(toolkitIncludeDirsFor(lib).dirs, [include, join(include, 'cccl')]);

    touch('tk12', 'include', 'cuda_fp16.h'); // CUDA 12: CCCL sits in include/ itself
    const lib64 = touch('tk12', 'lib64', 'libnvrtc.so.12');
    assert.deepEqual(toolkitIncludeDirsFor(lib64).dirs, [join(root, 'tk12', 'include')]);
  });

  test('the CUDA 13 wheel: nvidia/cu13/lib beside nvidia/cu13/include and its cccl/', () => {
    const { site } = venv('venv-inc13');
    const cu13 = join(site, 'nvidia', 'cu13');
    const lib = touch(
      'venv-inc13',
      'lib',
      'python3.12',
      'site-packages',
      'nvidia',
      'cu13',
      'lib',
      'libnvrtc.so.13',
    );
    touch('venv-inc13', 'lib', 'python3.12', 'site-packages', 'nvidia', 'cu13', 'include', 'cuda_fp16.h');
    touch(
      'venv-inc13',
      'lib',
      'python3.12',
      'site-packages',
      'nvidia',
      'cu13',
      'include',
      'cccl',
      'nv',
      'target',
    );
    assert.deepEqual(toolkitIncludeDirsFor(lib).dirs, [join(cu13, 'include'), join(cu13, 'include', 'cccl')]);
  });

  test('the CUDA 12 wheels: headers from nvidia/cuda_runtime/include, CCCL from nvidia/cuda_cccl/include', () => {
    const { site } = venv('venv-inc12');
    const at = ['venv-inc12', 'lib', 'python3.12', 'site-packages', 'nvidia'];
    const lib = touch(...at, 'cuda_nvrtc', 'lib', 'libnvrtc.so.12');
    touch(...at, 'cuda_nvrtc', 'include', 'nvrtc.h'); // the nvrtc wheel's own include holds no toolkit header
    touch(...at, 'cuda_runtime', 'include', 'cuda_fp16.h');
    touch(...at, 'cuda_cccl', 'include', 'cuda', 'std', 'version');
    assert.deepEqual(toolkitIncludeDirsFor(lib).dirs, [
      join(site, 'nvidia', 'cuda_runtime', 'include'),
      join(site, 'nvidia', 'cuda_cccl', 'include'),
    ]);
  });

  test('a library named through a link: the include dir of where the link leads', () => {
    const real = touch('tk-linked', 'lib64', 'libnvrtc.so.13');
    touch('tk-linked', 'include', 'cuda_fp16.h');
    mkdirSync(join(root, 'links', 'lib'), { recursive: true });
    const link = join(root, 'links', 'lib', 'libnvrtc.so.13');
    symlinkSync(real, link);
    assert.deepEqual(toolkitIncludeDirsFor(link).dirs, [join(root, 'tk-linked', 'include')]);
  });

  test('no header anywhere: no dirs, and every place looked at', () => {
    const lib = touch('bare', 'nvidia', 'cu13', 'lib', 'libnvrtc.so.13');
    const r = toolkitIncludeDirsFor(lib);
    assert.deepEqual(r.dirs, []);
    assert.deepEqual(r.looked, [
      join(root, 'bare', 'nvidia', 'cu13', 'include'),
      join(root, 'bare', 'nvidia', 'include'),
    ]);
  });
});

describe('nvrtcBuiltinsFor and NvrtcBuiltinsError', () => {
  test('the soname of the same release beside libnvrtc, else a fuller version of it; the alt build its own', () => {
    const lib = touch('bi', 'lib', 'libnvrtc.so.13');
    const exact = touch('bi', 'lib', 'libnvrtc-builtins.so.13.0');
    touch('bi', 'lib', 'libnvrtc-builtins.so.12.9'); // another release: never it
    assert.deepEqual(nvrtcBuiltinsFor(lib, 13, 0), {
      name: 'libnvrtc-builtins.so.13.0',
      found: exact,
      looked: [join(root, 'bi', 'lib')],
    });
    const lib2 = touch('bi2', 'lib64', 'libnvrtc.so.13');
    const fuller = touch('bi2', 'lib64', 'libnvrtc-builtins.so.13.0.88');
    assert.equal(nvrtcBuiltinsFor(lib2, 13, 0).found, fuller);
    const alt = touch('bi2', 'lib64', 'libnvrtc.alt.so.13');
    assert.equal(nvrtcBuiltinsFor(alt, 13, 0).name, 'libnvrtc-builtins.alt.so.13.0');
    assert.equal(nvrtcBuiltinsFor(alt, 13, 0).found, undefined);
    assert.deepEqual(nvrtcBuiltinsFor('libnvrtc.so.13', 13, 0).looked, [], 'a bare soname: never the cwd');
  });

  test('missing: the error names the library, where it looked and what to install', () => {
    const lib = touch('bi-missing', 'nvidia', 'cu13', 'lib', 'libnvrtc.so.13');
    const s = nvrtcBuiltinsFor(lib, 13, 0);
    assert.equal(s.found, undefined);
    const err = new NvrtcBuiltinsError('nvrtcCompileProgram', lib, s.name, s.looked, s.found);
    assert.match(err.message, /^nvrtcCompileProgram failed: NVRTC_ERROR_BUILTIN_OPERATION_FAILURE \(7\): /);
    assert.ok(err.message.includes('libnvrtc-builtins.so.13.0 is missing'), err.message);
    assert.ok(
      err.message.includes(`looked in ${join(root, 'bi-missing', 'nvidia', 'cu13', 'lib')}`),
      err.message,
    );
    assert.match(err.message, /pip install nvidia-cuda-nvrtc/);
    assert.match(err.message, /CUOP_NVRTC_PATH/);
    const back = reviveError(JSON.parse(JSON.stringify(err)));
    assert.ok(back instanceof NvrtcBuiltinsError);
    assert.equal(back.code, 7);
    assert.deepEqual(back.looked, s.looked);
  });

  test('present but not loading, or loaded and still failing: the message says which', () => {
    const notLoading = new NvrtcBuiltinsError(
      'c',
      '/x/libnvrtc.so.13',
      'b',
      ['/x'],
      '/x/b',
      'invalid ELF header',
    );
    assert.match(notLoading.message, /\/x\/b is there but does not load \(invalid ELF header\)/);
    const loaded = new NvrtcBuiltinsError('c', '/x/libnvrtc.so.13', 'b', ['/x'], '/x/b');
    assert.match(
      loaded.message,
      /was loaded, yet NVRTC could not use it: it must come from the same release/,
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

/** A loader cache in glibc's new format holding `entries` (soname, path), as ldconfig writes it. */
function ldCache(entries: Array<[string, string]>): Buffer {
  const header = 48;
  const strings: Buffer[] = [];
  let at = header + entries.length * 24;
  const table = Buffer.alloc(entries.length * 24);
  entries.forEach(([key, value], i) => {
    for (const [field, text] of [
      [4, key],
      [8, value],
    ] as const) {
      const b = Buffer.from(`${text}\0`, 'utf8');
      table.writeUInt32LE(at, i * 24 + field);
      strings.push(b);
      at += b.length;
    }
    table.writeInt32LE(0x0303, i * 24); // flags: ELF, x86-64 libc6
  });
  const head = Buffer.alloc(header);
  head.write('glibc-ld.so.cache1.1', 0, 'latin1');
  head.writeUInt32LE(entries.length, 20);
  head.writeUInt32LE(at - header - entries.length * 24, 24);
  head.writeUInt8(2, 28); // little-endian
  return Buffer.concat([head, table, ...strings]);
}

describe('the loader cache, read without running ldconfig', () => {
  const entries: Array<[string, string]> = [
    ['libz.so.1', '/lib/x86_64-linux-gnu/libz.so.1'],
    ['libnvrtc.so.13', '/usr/lib/x86_64-linux-gnu/libnvrtc.so.13'],
    ['libnvrtc.so', '/usr/lib/x86_64-linux-gnu/libnvrtc.so'],
    ['libnvrtc-builtins.so.13.0', '/usr/lib/x86_64-linux-gnu/libnvrtc-builtins.so.13.0'],
  ];

  test('entries come in the cache order; with a prefix only those of matching sonames', () => {
    const buf = ldCache(entries);
    assert.deepEqual(parseLdCache(buf), entries);
    assert.deepEqual(parseLdCache(buf, 'libnvrtc.so'), entries.slice(1, 3));
    const file = join(root, 'ld.so.cache');
    writeFileSync(file, buf);
    assert.deepEqual(ldconfigPaths('libnvrtc.so', file), [entries[1]![1], entries[2]![1]]);
    assert.deepEqual(ldconfigPaths('libcuda.so', file), [], 'no such soname anywhere in the file');
  });

  test('a file of another layout, byte order or a damaged one is not parsed (ldconfig -p answers then)', () => {
    const buf = ldCache(entries);
    assert.equal(parseLdCache(Buffer.from('ld.so-1.7.0\0junk')), undefined, 'the old format');
    const big = Buffer.from(buf);
    big.writeUInt8(3, 28);
    assert.equal(parseLdCache(big), undefined, 'big-endian');
    assert.equal(parseLdCache(buf.subarray(0, 60)), undefined, 'truncated entries');
    const wild = Buffer.from(buf);
    wild.writeUInt32LE(buf.length + 10, 48 + 4);
    assert.equal(parseLdCache(wild), undefined, 'a string offset past the end');
    const unterminated = buf.subarray(0, buf.length - 1);
    assert.equal(parseLdCache(unterminated, 'libnvrtc-builtins'), undefined, 'a string without its NUL');
  });

  test(
    "this host's loader cache reads as ldconfig -p prints it",
    { skip: !existsSync('/etc/ld.so.cache') },
    () => {
      const parsed = parseLdCache(readFileSync('/etc/ld.so.cache'));
      if (parsed === undefined) return; // a layout left to ldconfig -p
      let printed: string;
      try {
        printed = execFileSync('ldconfig', ['-p'], { encoding: 'utf8' });
      } catch {
        return; // no ldconfig to compare with
      }
      const lines = printed
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l.includes(' => '));
      assert.deepEqual(
        parsed.map(([k, v]) => [k, v]),
        lines.map((l) => [l.split(' (')[0], l.split('=>')[1]!.trim()]),
      );
    },
  );
});

describe('numericCompare', () => {
  test("orders names as localeCompare(…, { numeric: true }) does, without building ICU's collator", () => {
    const names = [
      'libnvrtc.so',
      'libnvrtc.so.13',
      'libnvrtc.so.12',
      'libnvrtc.so.12.9',
      'libnvrtc.so.12.10',
      'libnvrtc.so.13.0.88',
      'cuda',
      'cuda-12',
      'cuda-12.4',
      'cuda-12.10',
      'cuda-12-4',
      'cuda-9.2',
      'python3',
      'python3.9',
      'python3.11',
      'python3.13t',
      'a.',
      'a1',
      'a-1',
      'a0',
      'a01',
      'libnvJitLink.so.13',
      'Cuda_X',
      '',
    ];
    const alphabet = 'ab.-0129z';
    let seed = 7;
    const rand = (n: number): number => (((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n) + n) % n;
    for (let i = 0; i < 3000; i++) {
      let s = '';
      for (let n = rand(7); n > 0; n--) s += alphabet[rand(alphabet.length)];
      names.push(s);
    }
    for (const a of names.slice(0, 200)) {
      for (const b of names) {
        const want = Math.sign(a.localeCompare(b, undefined, { numeric: true }));
        assert.equal(Math.sign(numericCompare(a, b)), want, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
      }
    }
  });
});
