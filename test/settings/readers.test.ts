// The readers of the settings: each one honours its variables through the settings object, with the precedence it
// had (explicit code over the environment over the default) and the same warnings and errors. And no one else reads
// a CUOP_* variable, and the settings layer imports nothing above it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { KernelCache } from '../../src/cache/kernel-cache.js';
import {
  cacheDisabled,
  DEFAULT_POLICY,
  parseByteSize as policyParseByteSize,
  resolveCacheDir,
  resolvePolicy,
  type EnvProblem,
} from '../../src/cache/policy.js';
import { findNvcc, NvccCompiler, selectCompiler } from '../../src/compiler/index.js';
import { candidatePaths, DRIVER_LIBRARY, NVRTC_LIBRARY } from '../../src/cuda/library-discovery.js';
import { compilerFingerprint } from '../../src/jit/compiler-identity.js';
import {
  DEFAULT_SETTINGS,
  parseByteSize,
  readSettings,
  SETTINGS_VARIABLES,
} from '../../src/settings/index.js';
import * as cuop from '../../src/index.js';
import { recordingLogger } from '../cache/fixtures.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

test('the cache policy takes CUOP_CACHE_MAX_SIZE, _SALT, _SHARED and CUOP_DEBUG from the settings', () => {
  const p = resolvePolicy(
    {},
    { CUOP_CACHE_MAX_SIZE: '5GB', CUOP_CACHE_SALT: 's', CUOP_CACHE_SHARED: 'Group', CUOP_DEBUG: 'yes' },
  );
  assert.equal(p.maxDiskBytes, 5e9);
  assert.equal(p.salt, 's');
  assert.equal(p.sharing, 'group');
  assert.equal(p.debug, true);
  // Unset: the policy's defaults, which are the settings' defaults.
  const d = resolvePolicy({}, {});
  assert.deepEqual(d, DEFAULT_POLICY);
  assert.equal(DEFAULT_POLICY.maxDiskBytes, DEFAULT_SETTINGS.cache.maxDiskBytes);
  assert.equal(DEFAULT_POLICY.salt, DEFAULT_SETTINGS.cache.salt);
  assert.equal(DEFAULT_POLICY.sharing, DEFAULT_SETTINGS.cache.sharing);
  assert.equal(DEFAULT_POLICY.debug, DEFAULT_SETTINGS.debug);
  assert.equal(policyParseByteSize, parseByteSize, 'policy.ts re-exports the one parser');
});

test('the policy: a bad variable is reported once with the settings problem and the default stands', () => {
  const env = {
    CUOP_CACHE_MAX_SIZE: 'huge',
    CUOP_CACHE_SALT: 'z'.repeat(5000),
    CUOP_CACHE_SHARED: 'World',
    CUOP_DEBUG: 'loud',
    CUOP_COMPILER: 'clang', // not the cache's: not reported by it
  };
  const problems: EnvProblem[] = [];
  const p = resolvePolicy({}, env, (x) => problems.push(x));
  assert.deepEqual(p, DEFAULT_POLICY);
  assert.deepEqual(problems, [
    {
      variable: 'CUOP_CACHE_MAX_SIZE',
      value: 'huge',
      message: 'not a byte size: "huge" (use e.g. 1073741824, 512MB, 5GB, 1GiB)',
    },
    {
      variable: 'CUOP_CACHE_SALT',
      value: env.CUOP_CACHE_SALT,
      message: `expected a string of at most 4096 characters, got "${env.CUOP_CACHE_SALT}"`,
    },
    { variable: 'CUOP_CACHE_SHARED', value: 'World', message: `expected 'private' or 'group', got "world"` },
    { variable: 'CUOP_DEBUG', value: 'loud', message: 'expected true or false, got "loud"' },
  ]);
});

test('the policy: an explicit field wins over its variable, and its bad variable is not reported', () => {
  const problems: EnvProblem[] = [];
  const p = resolvePolicy(
    { maxDiskBytes: '2MB', salt: 'code', sharing: 'private', debug: false },
    { CUOP_CACHE_MAX_SIZE: 'huge', CUOP_CACHE_SALT: 'env', CUOP_CACHE_SHARED: 'group', CUOP_DEBUG: '1' },
    (x) => problems.push(x),
  );
  assert.equal(p.maxDiskBytes, 2e6);
  assert.equal(p.salt, 'code');
  assert.equal(p.sharing, 'private');
  assert.equal(p.debug, false);
  assert.deepEqual(problems, []);
  // An explicit undefined is no choice: the variable applies.
  assert.equal(resolvePolicy({ maxDiskBytes: undefined }, { CUOP_CACHE_MAX_SIZE: '3GB' }).maxDiskBytes, 3e9);
});

test('the cache warns once per bad variable, in the words it always used, and goes on', async () => {
  const log = recordingLogger();
  const c = new KernelCache({
    dir: null,
    env: { CUOP_CACHE_SHARED: 'world', CUOP_DEBUG: 'loud' },
    logger: log.logger,
  });
  assert.deepEqual(log.warns, [
    `ignoring CUOP_CACHE_SHARED="world": expected 'private' or 'group', got "world"; using the default.`,
    'ignoring CUOP_DEBUG="loud": expected true or false, got "loud"; using the default.',
  ]);
  assert.equal(c.policy.sharing, 'private');
  await c.close();
});

test('resolveCacheDir and cacheDisabled: CUOP_CACHE_DISABLE beats CUOP_CACHE_DIR, which beats XDG and HOME', () => {
  assert.equal(resolveCacheDir({ CUOP_CACHE_DIR: 'rel/c', HOME: '/h' }), resolve('rel/c'));
  assert.equal(resolveCacheDir({ CUOP_CACHE_DIR: '', XDG_CACHE_HOME: '/xdg' }), '/xdg/cuop');
  assert.equal(resolveCacheDir({ XDG_CACHE_HOME: 'relative', HOME: '/h' }), '/h/.cache/cuop');
  for (const on of ['1', 'true']) {
    assert.equal(resolveCacheDir({ CUOP_CACHE_DISABLE: on, CUOP_CACHE_DIR: '/x' }), null);
    assert.equal(cacheDisabled({ CUOP_CACHE_DISABLE: on }), true);
  }
  // Only those two disable it, as before.
  for (const off of ['', '0', 'false', 'TRUE', 'yes']) {
    assert.equal(resolveCacheDir({ CUOP_CACHE_DISABLE: off, CUOP_CACHE_DIR: '/x' }), '/x', off);
    assert.equal(cacheDisabled({ CUOP_CACHE_DISABLE: off }), false, off);
  }
  assert.equal(cacheDisabled({}), false);
});

test('selectCompiler: CUOP_COMPILER replaces auto only; a bad one is refused with the message it always had', () => {
  const PATH = process.env['PATH'] ?? '';
  assert.equal(selectCompiler('auto', { env: { PATH, CUOP_COMPILER: 'nvcc' } }).id, 'nvcc');
  // An explicit backend wins, and does not even look at the variable.
  assert.equal(selectCompiler('nvcc', { env: { PATH, CUOP_COMPILER: 'clang' } }).id, 'nvcc');
  for (const bad of ['clang', ' Clang ']) {
    assert.throws(
      () => selectCompiler('auto', { env: { PATH, CUOP_COMPILER: bad } }),
      (e: unknown) =>
        e instanceof RangeError &&
        e.message === 'CUOP_COMPILER must be one of nvrtc, nvcc, auto; got "clang"',
    );
  }
  // Blank: auto.
  assert.ok(['nvrtc', 'nvcc'].includes(selectCompiler('auto', { env: { PATH, CUOP_COMPILER: '  ' } }).id));
});

test('compilerFingerprint follows CUOP_COMPILER; a bad one gives none (the compiler itself is asked)', () => {
  const PATH = process.env['PATH'] ?? '';
  assert.match(compilerFingerprint('auto', { PATH, CUOP_COMPILER: 'NVCC' }) ?? '', /^nvcc\|/);
  assert.equal(compilerFingerprint('auto', { PATH, CUOP_COMPILER: 'clang' }), undefined);
  assert.match(compilerFingerprint('nvcc', { PATH, CUOP_COMPILER: 'clang' }) ?? '', /^nvcc\|/);
});

test('nvcc: CUOP_NVCC_PATH after the nvccPath option; CUOP_COMPILE_TIMEOUT_MS after the timeoutMs option', () => {
  const PATH = process.env['PATH'] ?? '';
  const nvcc = findNvcc({ env: { PATH } });
  assert.equal(findNvcc({ env: { CUOP_NVCC_PATH: nvcc } }), nvcc);
  assert.equal(
    findNvcc({ env: { PATH, CUOP_NVCC_PATH: '/nowhere/nvcc' } }),
    nvcc,
    'a missing one is skipped',
  );
  assert.equal(findNvcc({ nvccPath: nvcc, env: { CUOP_NVCC_PATH: '/nowhere/nvcc' } }), nvcc);
  const timeout = (c: NvccCompiler): number => (c as unknown as { timeoutMs: number }).timeoutMs;
  assert.equal(timeout(new NvccCompiler({ env: {} })), 600_000);
  assert.equal(timeout(new NvccCompiler({ env: { CUOP_COMPILE_TIMEOUT_MS: '1500' } })), 1500);
  assert.equal(timeout(new NvccCompiler({ env: { CUOP_COMPILE_TIMEOUT_MS: 'soon' } })), 600_000);
  assert.equal(timeout(new NvccCompiler({ env: { CUOP_COMPILE_TIMEOUT_MS: '0' } })), 600_000);
  assert.equal(timeout(new NvccCompiler({ timeoutMs: 7, env: { CUOP_COMPILE_TIMEOUT_MS: '1500' } })), 7);
});

test('library discovery: CUOP_NVRTC_PATH and CUOP_LIBCUDA_PATH come first, from the settings', () => {
  for (const spec of [NVRTC_LIBRARY, DRIVER_LIBRARY]) {
    const row = SETTINGS_VARIABLES.find((v) => v.name === spec.envVar);
    assert.equal(row?.field, `libraries.${spec.pathSetting}`, 'the spec names the variable of its setting');
    const first = candidatePaths(spec, { [spec.envVar]: '/opt/x/lib.so' })[0];
    assert.deepEqual(first, { path: '/opt/x/lib.so', source: spec.envVar });
    assert.ok(!candidatePaths(spec, { [spec.envVar]: '' }).some((c) => c.source === spec.envVar));
  }
});

test('the package exports readSettings, getSettings and the variable table', () => {
  assert.equal(cuop.readSettings, readSettings);
  assert.equal(typeof cuop.getSettings, 'function');
  assert.equal(cuop.SETTINGS_VARIABLES, SETTINGS_VARIABLES);
});

/** Every .ts file under src, as [path relative to the repository, text]. */
function sources(): [string, string][] {
  const out: [string, string][] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) out.push([relative(ROOT, p), readFileSync(p, 'utf8')]);
    }
  };
  walk(join(ROOT, 'src'));
  return out;
}

test('no CUOP_* variable is read outside src/settings, and every one named in src is in the table', () => {
  const names = new Set(SETTINGS_VARIABLES.map((v) => v.name));
  const files = sources();
  assert.ok(files.length > 30, 'found the sources');
  for (const [path, text] of files) {
    if (path.startsWith('src/settings/')) continue;
    assert.doesNotMatch(text, /env\s*(?:\.\s*|\[\s*['"`])CUOP_/, `${path} reads a CUOP_* variable itself`);
    if (path.startsWith('src/ops/')) continue; // CUOP_NEG_INF and the like are CUDA macros there
    for (const [name] of text.matchAll(/\bCUOP_[A-Z0-9_]+/g)) {
      assert.ok(names.has(name), `${path} names ${name}, which is not in the settings table`);
    }
  }
});

test('src/settings imports only node built-ins and its own files', () => {
  for (const [path, text] of sources()) {
    if (!path.startsWith('src/settings/')) continue;
    for (const [, from] of text.matchAll(/\bfrom\s+['"]([^'"]+)['"]/g)) {
      assert.ok(from?.startsWith('node:') || /^\.\/[\w-]+\.js$/.test(from ?? ''), `${path} imports ${from}`);
    }
    assert.doesNotMatch(text, /\bimport\s*\(/, `${path}: no dynamic import`);
  }
});

test('cuop info lists the CUOP_* variables set, what they gave, and the ones ignored', () => {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('CUOP_') && !k.startsWith('NODE_TEST') && !k.startsWith('npm_')) env[k] = v;
  }
  const run = (extra: NodeJS.ProcessEnv) => {
    const r = spawnSync(process.execPath, [CLI, 'info'], {
      encoding: 'utf8',
      env: { ...env, CUOP_CACHE_DISABLE: '1', ...extra },
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };
  const out = run({ CUOP_CACHE_MAX_SIZE: '2GB', CUOP_COMPILE_TIMEOUT_MS: 'soon' });
  assert.match(out, /^setting +CUOP_CACHE_DISABLE: cache\.disabled = true$/m);
  assert.match(out, /^setting +CUOP_CACHE_MAX_SIZE: cache\.maxDiskBytes = 2000000000$/m);
  assert.match(
    out,
    /^setting +CUOP_COMPILE_TIMEOUT_MS: compiler\.timeoutMs = 600000 \(ignoring "soon": expected a positive number of milliseconds, got "soon"; the default stands\)$/m,
  );
  assert.doesNotMatch(out, /CUOP_DEBUG/, 'only the variables set');
});
