// The settings layer on its own: every CUOP_* variable, valid, invalid (a problem and the default), unset or empty
// (the default, no problem); the table; the memo.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  DEFAULT_SETTINGS,
  getSettings,
  parseByteSize,
  readSettings,
  SETTINGS_VARIABLES,
  settingValue,
  settingsProblem,
  shownSettingValue,
  type Settings,
  type SettingsField,
} from '../../src/settings/index.js';

/** Each variable: good values and what they give, bad values and the message, in the field it sets. */
const CASES: readonly {
  variable: string;
  field: SettingsField;
  good: readonly [text: string, value: unknown][];
  bad: readonly [text: string, message: RegExp | string][];
}[] = [
  {
    variable: 'CUOP_CACHE_DIR',
    field: 'cache.dir',
    good: [
      ['/x/y', '/x/y'],
      ['rel/cache', 'rel/cache'],
    ],
    bad: [],
  },
  {
    variable: 'CUOP_CACHE_DISABLE',
    field: 'cache.disabled',
    good: [
      ['1', true],
      ['true', true],
      ['0', false],
      ['false', false],
    ],
    // Exactly '1' or 'true' disables it, as before: anything else leaves the disk cache on, noted as a problem.
    bad: [
      ['TRUE', 'expected 1 or true (to disable the disk cache), or 0 or false, got "TRUE"'],
      ['yes', /got "yes"/],
    ],
  },
  {
    variable: 'CUOP_CACHE_MAX_SIZE',
    field: 'cache.maxDiskBytes',
    good: [
      ['5GB', 5e9],
      ['512MiB', 512 * 2 ** 20],
      [' 4096 ', 4096],
      ['0', 0],
    ],
    bad: [
      ['huge', 'not a byte size: "huge" (use e.g. 1073741824, 512MB, 5GB, 1GiB)'],
      ['-1', /not a byte size/],
      ['99999999999PB', /not a byte size/],
      ['9999999 TiB', /is too large/],
    ],
  },
  {
    variable: 'CUOP_CACHE_SALT',
    field: 'cache.salt',
    good: [
      ['deploy-7', 'deploy-7'],
      ['x'.repeat(4096), 'x'.repeat(4096)],
    ],
    bad: [['y'.repeat(4097), `expected a string of at most 4096 characters, got "${'y'.repeat(4097)}"`]],
  },
  {
    variable: 'CUOP_CACHE_SHARED',
    field: 'cache.sharing',
    good: [
      ['group', 'group'],
      ['GROUP', 'group'],
      ['private', 'private'],
      ['0', 'private'],
      ['false', 'private'],
      ['No', 'private'],
    ],
    bad: [
      ['world', `expected 'private' or 'group', got "world"`],
      ['Team', `expected 'private' or 'group', got "team"`],
    ],
  },
  {
    variable: 'CUOP_CODE_CACHE',
    field: 'cache.codeCache',
    good: [
      ['0', false],
      ['1', true],
      ['on', true],
    ],
    bad: [],
  },
  {
    variable: 'CUOP_DEBUG',
    field: 'debug',
    good: [
      ['1', true],
      ['TRUE', true],
      ['yes', true],
      ['0', false],
      ['false', false],
      ['NO', false],
    ],
    bad: [['Maybe', 'expected true or false, got "Maybe"']],
  },
  {
    variable: 'CUOP_COMPILER',
    field: 'compiler.preference',
    good: [
      ['nvrtc', 'nvrtc'],
      [' NVCC ', 'nvcc'],
      ['auto', 'auto'],
      ['   ', 'auto'],
    ],
    bad: [['Clang', 'expected one of nvrtc, nvcc, auto, got "clang"']],
  },
  {
    variable: 'CUOP_NVCC_PATH',
    field: 'compiler.nvccPath',
    good: [['/opt/cuda/bin/nvcc', '/opt/cuda/bin/nvcc']],
    bad: [],
  },
  {
    variable: 'CUOP_COMPILE_TIMEOUT_MS',
    field: 'compiler.timeoutMs',
    good: [
      ['1500', 1500],
      ['2.5', 2.5],
      ['1e3', 1000],
    ],
    bad: [
      ['0', 'expected a positive number of milliseconds, got "0"'],
      ['-5', /got "-5"/],
      ['soon', /got "soon"/],
      ['Infinity', /got "Infinity"/],
    ],
  },
  {
    variable: 'CUOP_NVRTC_PATH',
    field: 'libraries.nvrtcPath',
    good: [['/opt/lib/libnvrtc.so.13', '/opt/lib/libnvrtc.so.13']],
    bad: [],
  },
  {
    variable: 'CUOP_LIBCUDA_PATH',
    field: 'libraries.libcudaPath',
    good: [['/opt/lib/libcuda.so.1', '/opt/lib/libcuda.so.1']],
    bad: [],
  },
  {
    variable: 'CUOP_NVJITLINK_PATH',
    field: 'libraries.nvJitLinkPath',
    good: [['/opt/lib/libnvJitLink.so.13', '/opt/lib/libnvJitLink.so.13']],
    bad: [],
  },
  {
    variable: 'CUOP_REMOTE_CACHE',
    field: 'remote.url',
    good: [
      ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379'],
      ['rediss://u:p@host:6380/2', 'rediss://u:p@host:6380/2'],
      ['redis+cluster://a:7000,b:7001', 'redis+cluster://a:7000,b:7001'],
    ],
    bad: [
      ['http://host', /expected a redis/],
      ['not a url', /expected a redis/],
    ],
  },
  {
    variable: 'CUOP_REMOTE_PASSWORD',
    field: 'remote.password',
    good: [['s3cret', 's3cret']],
    bad: [],
  },
  {
    variable: 'CUOP_REMOTE_SECRET',
    field: 'remote.secrets',
    good: [
      ['k1:0123456789abcdef', [{ id: 'k1', secret: '0123456789abcdef' }]],
      [
        'k2:new-secret-of-16+chars,k1:0123456789abcdef',
        [
          { id: 'k2', secret: 'new-secret-of-16+chars' },
          { id: 'k1', secret: '0123456789abcdef' },
        ],
      ],
    ],
    bad: [
      ['short:abc', /16 or more characters/],
      ['0123456789abcdef0123', /id:secret pairs/],
    ],
  },
  {
    variable: 'CUOP_REMOTE_ALLOW_UNSIGNED',
    field: 'remote.allowUnsigned',
    good: [
      ['1', true],
      ['no', false],
    ],
    bad: [['maybe', /expected true or false/]],
  },
  {
    variable: 'CUOP_REMOTE_PREFIX',
    field: 'remote.prefix',
    good: [['team-a:', 'team-a:']],
    bad: [['p'.repeat(257), /at most 256/]],
  },
  {
    variable: 'CUOP_REMOTE_TTL',
    field: 'remote.ttlSeconds',
    good: [['3600', 3600]],
    bad: [
      ['0', /positive whole number/],
      ['1.5', /positive whole number/],
    ],
  },
  {
    variable: 'CUOP_REMOTE_TIMEOUT_MS',
    field: 'remote.timeoutMs',
    good: [['200', 200]],
    bad: [['-1', /positive number/]],
  },
  {
    variable: 'CUOP_RECORD',
    field: 'jit.record',
    good: [
      ['run.manifest', 'run.manifest'],
      ['/srv/warm/m.jsonl', '/srv/warm/m.jsonl'],
    ],
    bad: [['a\0b', 'expected a file path']],
  },
];

test('the defaults: no variable set', () => {
  const s = readSettings({});
  assert.deepEqual(s, DEFAULT_SETTINGS);
  assert.deepEqual(s, {
    cache: {
      dir: undefined,
      disabled: false,
      maxDiskBytes: 2 ** 30,
      salt: '',
      sharing: 'private',
      codeCache: true,
    },
    compiler: { preference: 'auto', nvccPath: undefined, timeoutMs: 600_000 },
    libraries: { nvrtcPath: undefined, libcudaPath: undefined, nvJitLinkPath: undefined },
    remote: {
      url: undefined,
      password: undefined,
      secrets: [],
      allowUnsigned: false,
      prefix: 'cuop:',
      ttlSeconds: 2_592_000,
      timeoutMs: 50,
    },
    jit: { record: undefined },
    debug: false,
    problems: [],
  });
});

test('listings never show a credential: URL passwords, the password, the secrets (key ids only)', () => {
  const s = readSettings({
    CUOP_REMOTE_CACHE: 'rediss://ci:hunter2-url@cache.example:6380',
    CUOP_REMOTE_PASSWORD: 'hunter2-env',
    CUOP_REMOTE_SECRET: 'k1:hunter2-secret-0123456789,k0:hunter2-older-0123456789',
  });
  const shown = SETTINGS_VARIABLES.map((v) => JSON.stringify(shownSettingValue(s, v))).join('\n');
  assert.doesNotMatch(shown, /hunter2/);
  assert.match(shown, /rediss:\/\/ci:\*\*\*@cache\.example:6380/);
  assert.match(shown, /"k1:\(hidden\)","k0:\(hidden\)"/);
  const bad = readSettings({ CUOP_REMOTE_SECRET: 'k1:hunter2' });
  assert.equal(settingsProblem(bad, 'CUOP_REMOTE_SECRET')?.value, '(hidden)');
  assert.deepEqual(
    SETTINGS_VARIABLES.filter((v) => v.secret).map((v) => v.name),
    ['CUOP_REMOTE_PASSWORD', 'CUOP_REMOTE_SECRET'],
  );
});

test('the table lists every variable once, each with a field, a description and a default', () => {
  assert.deepEqual(
    SETTINGS_VARIABLES.map((v) => v.name),
    CASES.map((c) => c.variable),
  );
  for (const v of SETTINGS_VARIABLES) {
    assert.match(v.name, /^CUOP_[A-Z_]+$/);
    assert.ok(v.description.length > 10, v.name);
    assert.ok(v.defaultValue.length > 0, v.name);
    assert.equal(v.field, CASES.find((c) => c.variable === v.name)?.field, v.name);
  }
  // Every field of Settings is set by exactly one variable.
  const fields = Object.entries(DEFAULT_SETTINGS).flatMap(([group, value]) =>
    group === 'problems'
      ? []
      : typeof value === 'object' && value !== null
        ? Object.keys(value).map((k) => `${group}.${k}`)
        : [group],
  );
  assert.deepEqual(SETTINGS_VARIABLES.map((v) => v.field).sort(), fields.sort());
});

for (const c of CASES) {
  test(`${c.variable} → ${c.field}: valid values, bad values (a problem, the default stands), unset and empty`, () => {
    const fallback = settingValue(DEFAULT_SETTINGS, c.field);
    for (const [text, value] of c.good) {
      const s = readSettings({ [c.variable]: text });
      assert.deepEqual(settingValue(s, c.field), value, `${c.variable}=${JSON.stringify(text)}`);
      assert.deepEqual(s.problems, [], `${c.variable}=${JSON.stringify(text)}`);
    }
    for (const [text, message] of c.bad) {
      const s = readSettings({ [c.variable]: text });
      assert.deepEqual(settingValue(s, c.field), fallback, `${c.variable}=${JSON.stringify(text)}`);
      assert.equal(s.problems.length, 1);
      const p = settingsProblem(s, c.variable);
      assert.equal(p?.variable, c.variable);
      const variable = SETTINGS_VARIABLES.find((v) => v.name === c.variable)!;
      if (variable.secret) assert.equal(p?.value, '(hidden)', 'a credential is never repeated');
      else assert.equal(p?.value, text.replace(/\/\/([^@/:]*):[^@/]*@/, '//$1:***@'), 'the text as found');
      if (typeof message === 'string') assert.equal(p?.message, message);
      else assert.match(p?.message ?? '', message);
    }
    for (const env of [{}, { [c.variable]: '' }, { [c.variable]: undefined }]) {
      assert.deepEqual(readSettings(env), DEFAULT_SETTINGS, JSON.stringify(env));
    }
  });
}

test('several variables at once: each read on its own, problems in table order', () => {
  const s = readSettings({
    CUOP_DEBUG: 'loud',
    CUOP_CACHE_MAX_SIZE: 'huge',
    CUOP_CACHE_SHARED: 'group',
    CUOP_COMPILER: 'nvcc',
    CUOP_COMPILE_TIMEOUT_MS: 'never',
    CUOP_CACHE_DIR: '/c',
    UNRELATED: 'x',
  });
  assert.equal(s.cache.dir, '/c');
  assert.equal(s.cache.sharing, 'group');
  assert.equal(s.compiler.preference, 'nvcc');
  assert.equal(s.cache.maxDiskBytes, 2 ** 30);
  assert.equal(s.debug, false);
  assert.equal(s.compiler.timeoutMs, 600_000);
  assert.deepEqual(
    s.problems.map((p) => p.variable),
    ['CUOP_CACHE_MAX_SIZE', 'CUOP_DEBUG', 'CUOP_COMPILE_TIMEOUT_MS'],
  );
});

test('settings are deeply frozen', () => {
  const s = readSettings({ CUOP_DEBUG: 'x' });
  assert.ok(Object.isFrozen(s) && Object.isFrozen(s.cache) && Object.isFrozen(s.compiler));
  assert.ok(Object.isFrozen(s.libraries) && Object.isFrozen(s.problems) && Object.isFrozen(s.problems[0]));
  assert.throws(() => {
    (s.cache as { dir: string }).dir = '/elsewhere';
  }, TypeError);
  assert.ok(Object.isFrozen(SETTINGS_VARIABLES) && Object.isFrozen(SETTINGS_VARIABLES[0]));
});

test('readSettings reads process.env by default', () => {
  withEnv({ CUOP_CACHE_SALT: 'from-process-env' }, () => {
    assert.equal(readSettings().cache.salt, 'from-process-env');
  });
});

test('getSettings: the same object while the values stay, a new one as soon as one changes', () => {
  withEnv({ CUOP_CACHE_SALT: 'one' }, () => {
    const a = getSettings();
    assert.equal(a.cache.salt, 'one');
    assert.equal(getSettings(), a, 'memoized');
    assert.equal(getSettings(process.env), a);
    process.env['CUOP_CACHE_SALT'] = 'two';
    const b = getSettings();
    assert.equal(b.cache.salt, 'two', 'a change at run time is seen');
    assert.notEqual(b, a);
  });
  // Another env object: its own values, never process.env's.
  const other: Settings = getSettings({ CUOP_COMPILER: 'nvcc' });
  assert.equal(other.compiler.preference, 'nvcc');
  assert.equal(getSettings({}).compiler.preference, 'auto');
  assert.deepEqual(getSettings({ CUOP_CACHE_DIR: '' }), DEFAULT_SETTINGS);
});

test('parseByteSize (moved here from the cache policy)', () => {
  assert.equal(parseByteSize('5GB'), 5e9);
  assert.equal(parseByteSize('1.5 g'), 1.5e9);
  assert.equal(parseByteSize('2KiB'), 2048);
  assert.equal(parseByteSize(10.7), 10);
  assert.throws(() => parseByteSize(-1), /not a byte size: -1/);
  assert.throws(() => parseByteSize('5 parsecs'), /not a byte size/);
});

/** Runs `fn` with these CUOP_* variables in process.env (and no others), then puts process.env back. */
function withEnv(vars: Record<string, string>, fn: () => void): void {
  const saved = Object.entries(process.env).filter(([k]) => k.startsWith('CUOP_'));
  for (const [k] of saved) delete process.env[k];
  Object.assign(process.env, vars);
  try {
    fn();
  } finally {
    for (const k of Object.keys(process.env)) if (k.startsWith('CUOP_')) delete process.env[k];
    for (const [k, v] of saved) process.env[k] = v;
  }
}
