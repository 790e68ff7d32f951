// The `cuop` command line, run for real: the built build/src/cli/main.js in a child process, against cache
// directories filled with real nvcc cubins through KernelCache. No GPU needed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import module from 'node:module';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KernelCache } from '../../src/cache/kernel-cache.js';
import { driverAvailable } from '../../src/cuda/driver.js';
import { countingCompile, recordingLogger, specFor, tempDir as fixtureTempDir } from '../cache/fixtures.js';
import { redisMissing, startRedis } from '../cache/redis-fixture.js';
import { baseEnv, CLI, type Run } from './cli-fixture.js';

const PACKAGE_JSON = fileURLToPath(new URL('../../../package.json', import.meta.url));
const quiet = recordingLogger().logger;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const scratch: string[] = [];
/** A fresh temp directory, removed when the file's tests are done. */
function tempDir(tag: string): string {
  const d = fixtureTempDir(tag);
  scratch.push(d);
  return d;
}
after(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

function cuop(args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...baseEnv(), ...env },
    ...(cwd ? { cwd } : {}),
    timeout: 60_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a command that must succeed and print one JSON document. */
function cuopJson<T>(args: string[], env: NodeJS.ProcessEnv, status = 0): T {
  const r = cuop(args, env);
  assert.equal(r.status, status, `cuop ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** A stack frame line ("    at fn (file:line:col)") anywhere in the text. */
const STACK_FRAME = /^\s+at .+[:(]/m;

function openCache(dir: string): KernelCache {
  return new KernelCache({ dir, env: {}, logger: quiet, policy: { maintenanceIntervalMs: 0 } });
}

/** Puts kernels `ids` into the cache at `dir` (one compile each), closes it, returns the keys in order. */
async function populate(dir: string, ids: number[]): Promise<string[]> {
  const c = openCache(dir);
  const keys: string[] = [];
  for (const i of ids) {
    const r = await c.getOrCompile(specFor(i), countingCompile(i).compile);
    assert.equal(r.tier, 'compiled');
    keys.push(r.key);
  }
  await c.close();
  return keys;
}

const metaPath = (dir: string, key: string) => join(dir, 'metadata', key.slice(0, 2), `${key}.json`);
const kernelPath = (dir: string, key: string) => join(dir, 'kernels', key.slice(0, 2), `${key}.cubin`);
const onDisk = (dir: string, key: string) =>
  existsSync(metaPath(dir, key)) && existsSync(kernelPath(dir, key));
const entryBytes = (dir: string, key: string) =>
  statSync(metaPath(dir, key)).size + statSync(kernelPath(dir, key)).size;

/** Every plain file under `sub` of the cache dir, relative paths. */
function filesUnder(dir: string, sub: string): string[] {
  const root = join(dir, sub);
  if (!existsSync(root)) return [];
  return (readdirSync(root, { recursive: true }) as string[])
    .filter((p) => statSync(join(root, p)).isFile())
    .sort();
}

function setMtime(path: string, ms: number): void {
  utimesSync(path, new Date(ms), new Date(ms));
}

interface Report {
  ran: boolean;
  removed: number;
  freedBytes: number;
  byReason: Record<string, number>;
  entries: number;
  bytes: number;
}

interface Stats {
  dir: string;
  process: Counters;
  all: Counters;
}
interface Counters {
  hits: Record<string, number>;
  misses: number;
  compiles: number;
  savedCompileMs: number;
  hitRate: number;
  evictions: Record<string, number>;
}

interface Integrity {
  ran: boolean;
  checked: number;
  ok: number;
  problems: { key?: string; path: string; problem: string }[];
  repaired: number;
}

// ------------------------------------------------------------------ help, version, bad input

test('--help lists the commands, and `cache --help` the cache subcommands', () => {
  const top = cuop(['--help']);
  assert.equal(top.status, 0, top.stderr);
  assert.match(top.stdout, /^Usage: cuop /m);
  for (const cmd of ['demo', 'info', 'cache']) assert.match(top.stdout, new RegExp(`^\\s+${cmd}\\b`, 'm'));

  const cache = cuop(['cache', '--help']);
  assert.equal(cache.status, 0, cache.stderr);
  assert.match(cache.stdout, /^Usage: cuop cache /m);
  // Each with its arguments; commands with options list `[options]` before them.
  for (const [cmd, args] of [
    ['stats', ''],
    ['verify', ''],
    ['prune', ''],
    ['shrink', ' <size>'],
    ['clear', ''],
    ['dir', ''],
    ['ls', ''],
    ['show', ' <key-prefix>'],
  ] as const) {
    assert.match(cache.stdout, new RegExp(`^\\s+${cmd}( \\[options\\])?${args}\\s`, 'm'), cmd);
  }
  assert.match(cache.stdout, /--cache-dir <dir>/);
});

test('--version prints the package version', () => {
  const { version } = JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { version: string };
  const r = cuop(['--version']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), version);
});

test('--version is cuop’s own, not the version of the npm project it is run from', () => {
  const { version } = JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { version: string };
  const r = cuop(['--version'], { npm_package_version: '9.9.9' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), version);
});

test('an unknown command exits non-zero, names the command and shows the usage', () => {
  const top = cuop(['frobnicate']);
  assert.notEqual(top.status, 0);
  assert.match(top.stderr, /unknown command 'frobnicate'/);
  assert.match(top.stderr, /Usage: cuop /);
  assert.doesNotMatch(top.stderr, STACK_FRAME);

  const sub = cuop(['cache', 'frobnicate'], { CUOP_CACHE_DIR: join(tempDir('cli-unknown'), 'c') });
  assert.notEqual(sub.status, 0);
  assert.match(sub.stderr, /unknown command 'frobnicate'/);
  assert.match(sub.stderr, /Usage: cuop cache /);
  assert.equal(sub.stdout, '');
});

// ------------------------------------------------------------------ cache dir

test('cache dir prints the resolved directory: CUOP_CACHE_DIR (relative to the cwd), --cache-dir, disabled', () => {
  const base = tempDir('cli-dir');
  const fromEnv = join(base, 'from-env');
  let r = cuop(['cache', 'dir'], { CUOP_CACHE_DIR: fromEnv });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${fromEnv}\n`);
  assert.equal(existsSync(fromEnv), false, 'printing the directory must not create it');

  r = cuop(['cache', 'dir'], { CUOP_CACHE_DIR: 'rel/cache' }, base);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${join(base, 'rel', 'cache')}\n`);

  // XDG_CACHE_HOME when CUOP_CACHE_DIR is unset
  r = cuop(['cache', 'dir'], { XDG_CACHE_HOME: join(base, 'xdg') });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${join(base, 'xdg', 'cuop')}\n`);

  // the option wins over the environment, before or after the subcommand
  const fromOpt = join(base, 'from-opt');
  r = cuop(['cache', '--cache-dir', fromOpt, 'dir'], { CUOP_CACHE_DIR: fromEnv });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${fromOpt}\n`);
  r = cuop(['cache', 'dir', '--cache-dir', fromOpt], { CUOP_CACHE_DIR: fromEnv });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${fromOpt}\n`);

  r = cuop(['cache', 'dir'], { CUOP_CACHE_DIR: fromEnv, CUOP_CACHE_DISABLE: '1' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '(disabled: CUOP_CACHE_DISABLE=1)\n');
});

test('maintenance commands on a disabled cache say so instead of reporting an empty cache', () => {
  const dir = join(tempDir('cli-disabled'), 'c');
  for (const args of [
    ['cache', 'verify'],
    ['cache', 'clear'],
    ['cache', 'prune'],
  ]) {
    const r = cuop(args, { CUOP_CACHE_DIR: dir, CUOP_CACHE_DISABLE: '1' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /disk cache is disabled \(CUOP_CACHE_DISABLE=1\)/, args.join(' '));
    assert.ok(!existsSync(dir), 'nothing is created');
  }
});

// ------------------------------------------------------------------ cache stats

test('cache stats reports the compiles and the memory and disk hits of earlier processes', async () => {
  const dir = join(tempDir('cli-stats'), 'c');
  // First cache object: one compile, then a memory hit.
  const a = openCache(dir);
  const f = countingCompile(0);
  assert.equal((await a.getOrCompile(specFor(0), f.compile)).tier, 'compiled');
  assert.equal((await a.getOrCompile(specFor(0), f.compile)).tier, 'memory');
  await a.close();
  // Second one, as a fresh process would be: a disk hit.
  const b = openCache(dir);
  assert.equal((await b.getOrCompile(specFor(0), f.compile)).tier, 'disk');
  await b.close();
  assert.equal(f.calls(), 1);

  const check = (s: Stats) => {
    assert.equal(s.dir, dir);
    assert.equal(s.all.compiles, 1);
    assert.equal(s.all.misses, 1);
    assert.equal(s.all.hits['memory'], 1);
    assert.equal(s.all.hits['disk'], 1);
    assert.equal(s.all.hitRate, 2 / 3);
    assert.ok(s.all.savedCompileMs > 0, 'two hits of a compiled entry saved compile time');
    // The stats command itself looks nothing up.
    assert.equal(s.process.compiles, 0);
    assert.equal(s.process.misses, 0);
    assert.deepEqual(s.process.hits, { memory: 0, disk: 0, shared: 0 });
  };
  check(cuopJson<Stats>(['cache', 'stats', '--json'], { CUOP_CACHE_DIR: dir }));
  // Asking twice changes nothing; --cache-dir beats CUOP_CACHE_DIR.
  const other = join(tempDir('cli-stats-other'), 'c');
  check(cuopJson<Stats>(['cache', '--cache-dir', dir, 'stats', '--json'], { CUOP_CACHE_DIR: other }));

  const empty = cuopJson<Stats>(['cache', 'stats', '--json'], { CUOP_CACHE_DIR: other });
  assert.equal(empty.dir, other);
  assert.equal(empty.all.compiles, 0);
  assert.equal(empty.all.hits['disk'], 0);
});

// ------------------------------------------------------------------ cache verify

test('cache verify: a sound cache is sound; a flipped byte is reported, kept with --no-repair, removed without', async () => {
  const dir = join(tempDir('cli-verify'), 'c');
  const env = { CUOP_CACHE_DIR: dir };
  const [k0, k1] = await populate(dir, [0, 1]);
  assert.ok(k0 && k1);

  let v = cuopJson<Integrity>(['cache', 'verify', '--json'], env);
  assert.deepEqual(v, { ran: true, checked: 2, ok: 2, problems: [], repaired: 0, foreign: [] });

  // Corrupt k1's cubin: same size, one byte flipped in the middle.
  const kp = kernelPath(dir, k1);
  const bytes = readFileSync(kp);
  const at = bytes.length >> 1;
  bytes[at] = (bytes[at] as number) ^ 0xff;
  writeFileSync(kp, bytes);

  v = cuopJson<Integrity>(['cache', 'verify', '--no-repair', '--json'], env, 1); // problems left in place: exit 1
  assert.equal(v.checked, 2);
  assert.equal(v.ok, 1);
  assert.equal(v.repaired, 0);
  assert.equal(v.problems.length, 1);
  assert.equal(v.problems[0]?.key, k1);
  assert.match(v.problems[0]?.problem ?? '', /sha-?256|checksum/i);
  assert.ok(onDisk(dir, k1), '--no-repair only reports');
  assert.deepEqual(readFileSync(kp), bytes, '--no-repair leaves the file as it was');

  v = cuopJson<Integrity>(['cache', 'verify', '--json'], env);
  assert.equal(v.checked, 2);
  assert.equal(v.ok, 1);
  assert.equal(v.problems.length, 1);
  assert.equal(v.problems[0]?.key, k1);
  assert.equal(v.repaired, 1);
  assert.equal(existsSync(metaPath(dir, k1)), false, 'metadata of the bad entry removed');
  assert.equal(existsSync(kp), false, 'kernel of the bad entry removed');
  assert.ok(onDisk(dir, k0), 'the sound entry stays');

  v = cuopJson<Integrity>(['cache', 'verify', '--json'], env);
  assert.deepEqual(v, { ran: true, checked: 1, ok: 1, problems: [], repaired: 0, foreign: [] });

  // What survived is still served from disk; the repaired key compiles again.
  const c = openCache(dir);
  assert.equal((await c.getOrCompile(specFor(0), countingCompile(0).compile)).tier, 'disk');
  assert.equal((await c.getOrCompile(specFor(1), countingCompile(1).compile)).tier, 'compiled');
  await c.close();
});

// ------------------------------------------------------------------ cache prune

test('cache prune removes expired entries, orphan kernels, old temp files and other format versions', async () => {
  const dir = join(tempDir('cli-prune'), 'c');
  const [k0, k1, k2] = await populate(dir, [0, 1, 2]);
  assert.ok(k0 && k1 && k2);
  const now = Date.now();
  setMtime(kernelPath(dir, k0), now - 40 * DAY); // unused for longer than maxAgeMs (30 days)
  rmSync(metaPath(dir, k1)); // k1's kernel is now an orphan ...
  setMtime(kernelPath(dir, k1), now - HOUR); // ... older than the grace period (10 min)
  // temp names as a publish makes them (<key>.<pid>.<thread>.<random>.kernel)
  const oldTemp = join(dir, 'temp', `${'a'.repeat(64)}.4242.0.0badc0de.kernel`);
  const freshTemp = join(dir, 'temp', `${'b'.repeat(64)}.4243.0.0badcafe.kernel`);
  writeFileSync(oldTemp, 'x');
  setMtime(oldTemp, now - HOUR);
  writeFileSync(freshTemp, 'y');
  const foreign = 'ff'.repeat(32); // an entry written by another cache format version
  mkdirSync(dirname(metaPath(dir, foreign)), { recursive: true });
  writeFileSync(metaPath(dir, foreign), JSON.stringify({ formatVersion: 999 }));

  const r = cuopJson<{ expired: Report; stale: Report }>(['cache', 'prune', '--json'], {
    CUOP_CACHE_DIR: dir,
  });
  assert.equal(r.expired.removed, 1);
  assert.deepEqual(r.expired.byReason, { expired: 1 });
  assert.equal(r.stale.removed, 3);
  assert.deepEqual(r.stale.byReason, { orphan: 2, stale: 1 });
  assert.equal(r.stale.entries, 1);

  assert.equal(existsSync(metaPath(dir, k0)), false);
  assert.equal(existsSync(kernelPath(dir, k0)), false);
  assert.equal(existsSync(kernelPath(dir, k1)), false);
  assert.equal(existsSync(oldTemp), false);
  assert.equal(existsSync(metaPath(dir, foreign)), false);
  assert.ok(existsSync(freshTemp), 'a temp file younger than the grace period may be a write in progress');
  assert.ok(onDisk(dir, k2), 'the live entry stays');
  assert.deepEqual(filesUnder(dir, 'metadata'), [join(k2.slice(0, 2), `${k2}.json`)]);
  assert.deepEqual(filesUnder(dir, 'kernels'), [join(k2.slice(0, 2), `${k2}.cubin`)]);

  // Nothing left to prune.
  const again = cuopJson<{ expired: Report; stale: Report }>(['cache', 'prune', '--json'], {
    CUOP_CACHE_DIR: dir,
  });
  assert.equal(again.expired.removed + again.stale.removed, 0);
  assert.ok(onDisk(dir, k2));
});

// ------------------------------------------------------------------ cache shrink

test('cache shrink <size> evicts the least recently used entries until the disk tier fits', async () => {
  const dir = join(tempDir('cli-shrink'), 'c');
  const env = { CUOP_CACHE_DIR: dir };
  const [k0, k1, k2] = await populate(dir, [0, 1, 2]);
  assert.ok(k0 && k1 && k2);
  const now = Date.now();
  setMtime(kernelPath(dir, k0), now - 3 * HOUR); // oldest use: goes first
  setMtime(kernelPath(dir, k1), now - 2 * HOUR);
  setMtime(kernelPath(dir, k2), now - 1 * HOUR);
  const size = { [k0]: entryBytes(dir, k0), [k1]: entryBytes(dir, k1), [k2]: entryBytes(dir, k2) };
  const total = size[k0]! + size[k1]! + size[k2]!;

  // Bad sizes fail before anything is removed.
  const bad = cuop(['cache', 'shrink', 'banana'], env);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /not a byte size: "banana"/);
  assert.match(bad.stderr, /512MB/, 'the message shows what a size looks like');
  assert.doesNotMatch(bad.stderr, STACK_FRAME);
  assert.equal(bad.stdout, '');
  const missing = cuop(['cache', 'shrink'], env);
  assert.notEqual(missing.status, 0);
  assert.match(missing.stderr, /missing required argument 'size'/);
  assert.ok(onDisk(dir, k0) && onDisk(dir, k1) && onDisk(dir, k2), 'bad input removes nothing');

  // Already small enough: nothing happens.
  let r = cuopJson<Report>(['cache', 'shrink', '1GB', '--json'], env);
  assert.equal(r.removed, 0);
  assert.equal(r.entries, 3);
  assert.equal(r.bytes, total);

  // One byte too small: exactly the oldest entry goes.
  r = cuopJson<Report>(['cache', 'shrink', String(total - 1), '--json'], env);
  assert.equal(r.removed, 1);
  assert.deepEqual(r.byReason, { size: 1 });
  assert.equal(r.freedBytes, size[k0]);
  assert.equal(r.entries, 2);
  assert.equal(r.bytes, size[k1]! + size[k2]!);
  assert.equal(existsSync(metaPath(dir, k0)), false);
  assert.equal(existsSync(kernelPath(dir, k0)), false);
  assert.ok(onDisk(dir, k1) && onDisk(dir, k2));

  // "At most <size>": exactly the bytes on disk is small enough.
  r = cuopJson<Report>(['cache', 'shrink', String(size[k1]! + size[k2]!), '--json'], env);
  assert.equal(r.removed, 0);
  assert.equal(r.entries, 2);
  assert.ok(onDisk(dir, k1) && onDisk(dir, k2));

  // A size with a unit that holds only the newest entry.
  assert.ok(size[k1]! >= 1000, 'each entry is a real cubin of more than 1 kB');
  const limit = Math.ceil(size[k2]! / 1000);
  r = cuopJson<Report>(['cache', 'shrink', `${limit}KB`, '--json'], env);
  assert.equal(r.removed, 1);
  assert.equal(r.entries, 1);
  assert.ok(r.bytes <= limit * 1000);
  assert.equal(existsSync(kernelPath(dir, k1)), false);
  assert.ok(onDisk(dir, k2));
  assert.deepEqual(filesUnder(dir, 'metadata'), [join(k2.slice(0, 2), `${k2}.json`)]);
  assert.deepEqual(filesUnder(dir, 'kernels'), [join(k2.slice(0, 2), `${k2}.cubin`)]);
});

// ------------------------------------------------------------------ human forms (--json is for scripts)

test('stats, verify, prune, shrink and dir print for people unless --json is given', async () => {
  const dir = join(tempDir('cli-human'), 'c');
  await populate(dir, [0, 1]);
  const env = { CUOP_CACHE_DIR: dir };
  const text = (args: string[]): string => {
    const r = cuop(['cache', ...args], env);
    assert.equal(r.status, 0, r.stderr);
    assert.throws(() => JSON.parse(r.stdout) as unknown, SyntaxError, `cache ${args[0]} printed JSON`);
    return r.stdout;
  };
  const stats = text(['stats']);
  assert.match(stats, new RegExp(`^cache dir\\s+${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
  assert.match(stats, /^entries\s+2 on disk$/m);
  assert.match(stats, /^\s+lookups\s+2: 0 hits \(none\), 2 misses$/m);
  assert.match(stats, /^\s+compiles\s+2 \(0 failed, 0 joined a running one\), 800 ms compiling/m);
  assert.equal(text(['verify']), 'checked 2 entries: 2 sound, 0 problems, 0 repaired\n');
  assert.match(
    text(['prune']),
    /^expired: removed 0 entries, freed 0 B; 2 entries, [\d.]+ KiB left\nstale: /,
  );
  assert.match(
    text(['shrink', '1']),
    /^shrink: removed 2 entries \(size 2\), freed [\d.]+ KiB; 0 entries, 0 B left\n$/,
  );
  assert.equal(cuop(['cache', 'dir'], env).stdout, `${dir}\n`);
});

// ------------------------------------------------------------------ cache clear

test('cache clear removes every entry; the next lookup compiles again', async () => {
  const dir = join(tempDir('cli-clear'), 'c');
  const [k0, k1] = await populate(dir, [0, 1]);
  assert.ok(k0 && k1 && onDisk(dir, k0) && onDisk(dir, k1));

  const r = cuop(['cache', 'clear'], { CUOP_CACHE_DIR: dir });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `cleared ${dir}\n`);
  assert.deepEqual(filesUnder(dir, 'metadata'), []);
  assert.deepEqual(filesUnder(dir, 'kernels'), []);
  assert.deepEqual(cuopJson<Integrity>(['cache', 'verify', '--json'], { CUOP_CACHE_DIR: dir }), {
    ran: true,
    checked: 0,
    ok: 0,
    problems: [],
    repaired: 0,
    foreign: [],
  });
  // The history is kept (clear() keeps the stats).
  assert.equal(cuopJson<Stats>(['cache', 'stats', '--json'], { CUOP_CACHE_DIR: dir }).all.compiles, 2);

  const c = openCache(dir);
  const f = countingCompile(0);
  assert.equal((await c.getOrCompile(specFor(0), f.compile)).tier, 'compiled');
  assert.equal(f.calls(), 1);
  await c.close();
});

// ------------------------------------------------------------------ demo and info without a GPU

const noDriver = driverAvailable() ? 'this host has a CUDA driver (covered by test-gpu/)' : false;

test(
  'demo without a CUDA driver says so, compiles and caches the GEMM with nvcc, and exits 0',
  { skip: noDriver },
  () => {
    const dir = join(tempDir('cli-demo'), 'c');
    const env = { CUOP_CACHE_DIR: dir };
    const r = cuop(['demo', '--size', '64'], env);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /no CUDA driver on this host/);
    assert.match(r.stdout, /compiled and cached but not launched/);
    assert.ok(r.stdout.includes(`cache ${dir}`), r.stdout);
    assert.match(r.stdout, /first lookup in this process\s+[\d.]+ ms\s+compiled$/m);
    assert.match(r.stdout, /repeat lookup\s+[\d.]+ ms\s+memory$/m);
    assert.match(r.stdout, /first lookup in a fresh process\s+[\d.]+ ms\s+disk$/m);
    assert.doesNotMatch(r.stdout + r.stderr, STACK_FRAME);
    assert.equal(filesUnder(dir, 'metadata').length, 1, 'one GEMM kernel cached on disk');
    assert.equal(filesUnder(dir, 'kernels').length, 1);

    // A second run finds it on disk; --cache-dir beats CUOP_CACHE_DIR.
    const again = cuop(['demo', '--size', '64', '--no-child', '--cache-dir', dir], {
      CUOP_CACHE_DIR: join(tempDir('cli-demo-other'), 'c'),
    });
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /first lookup in this process\s+[\d.]+ ms\s+disk$/m);
    assert.doesNotMatch(again.stdout, /fresh process/, '--no-child skips the fresh process');
    assert.equal(filesUnder(dir, 'metadata').length, 1);
  },
);

test('demo rejects a bad --dtype or --size with a message, before compiling anything', () => {
  const dir = join(tempDir('cli-demo-bad'), 'c');
  const dtype = cuop(['demo', '--dtype', 'int8'], { CUOP_CACHE_DIR: dir });
  assert.notEqual(dtype.status, 0);
  assert.match(dtype.stderr, /--dtype must be one of float32, float16, bfloat16/);
  assert.equal(dtype.stdout, '');

  const size = cuop(['demo', '--size', '-3'], { CUOP_CACHE_DIR: dir });
  assert.notEqual(size.status, 0);
  assert.match(size.stderr, /'--size <n>' argument '-3' is invalid\. expected a positive integer/);
  assert.doesNotMatch(dtype.stderr + size.stderr, STACK_FRAME);
  assert.deepEqual(filesUnder(dir, 'metadata'), []);
});

test('info names the missing libcuda, lists nvcc and the cache directory', { skip: noDriver }, () => {
  const dir = join(tempDir('cli-info'), 'c');
  const r = cuop(['info'], { CUOP_CACHE_DIR: dir });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^driver\s+none: could not load libcuda/m);
  assert.match(r.stdout, /CUOP_LIBCUDA_PATH/, 'it tells the user how to point at the library');
  assert.match(r.stdout, /^nvcc\s+\d+\.\d+/m);
  assert.match(r.stdout, new RegExp(`^cache dir\\s+${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
  assert.doesNotMatch(r.stdout + r.stderr, STACK_FRAME);
});

test(
  'info shows the remote tier (reachable, signing, read-only) and never prints a credential; cache stats persists its counters',
  { skip: redisMissing() ?? false },
  async () => {
    const redis = await startRedis();
    try {
      const secret = 'k7:the-secret-value-0123456789';
      const env = {
        CUOP_CACHE_DIR: join(tempDir('cli-remote'), 'c'),
        CUOP_REMOTE_CACHE: redis.url.replace('//', '//default:url-password-xyz@'),
        CUOP_REMOTE_PASSWORD: 'env-password-xyz',
        CUOP_REMOTE_SECRET: secret,
      };
      // redis-server here has no password (ioredis then only warns about the one it was given).
      const withAuth = cuop(['info'], env);
      assert.equal(withAuth.status, 0, withAuth.stderr);
      const text = withAuth.stdout + withAuth.stderr;
      for (const leaked of ['the-secret-value', 'url-password-xyz', 'env-password-xyz']) {
        assert.ok(!text.includes(leaked), `info printed ${leaked}`);
      }
      assert.match(
        text,
        /^remote\s+redis:\/\/default:\*\*\*@127\.0\.0\.1:\d+ prefix cuop: \((un)?reachable/m,
      );
      const open = { ...env, CUOP_REMOTE_CACHE: redis.url, CUOP_REMOTE_PASSWORD: '' };
      const r = cuop(['info'], open);
      assert.match(
        r.stdout,
        /^remote\s+redis:\/\/127\.0\.0\.1:\d+ prefix cuop: \(reachable: connect [\d.]+ ms, round trip [\d.]+ ms\)/m,
      );
      assert.match(r.stdout, /signs with key id k7, accepts k7/);
      const readOnly = cuop(['info'], { ...open, CUOP_REMOTE_SECRET: '' });
      assert.match(readOnly.stdout, /read-only \(no CUOP_REMOTE_SECRET\)/);

      // A process that used the tier; its counters reach `cuop cache stats` of another process.
      const dir = env.CUOP_CACHE_DIR;
      const c = new KernelCache({
        dir,
        env: {},
        logger: recordingLogger().logger,
        remote: { url: redis.url, secrets: [{ id: 'k7', secret: 'the-secret-value-0123456789' }] },
      });
      await c.getOrCompile(specFor(1), countingCompile(1).compile);
      await c.close();
      const stats = cuopJson<{ all: { remote: Record<string, number> } }>(
        ['cache', '--cache-dir', dir, 'stats', '--json'],
        {},
      );
      assert.equal(stats.all.remote['misses'], 1);
      assert.equal(stats.all.remote['writes'], 1);
      assert.equal(stats.all.remote['leasesTaken'], 1);
    } finally {
      await redis.stop();
    }
  },
);

// ------------------------------------------------------------------ the CLI's own compile cache, refused dirs

const compileCacheApi =
  typeof (module as { enableCompileCache?: unknown }).enableCompileCache === 'function'
    ? false
    : 'this Node has no module.enableCompileCache (added in 22.8)';

test(
  "the CLI keeps Node's compile cache in the user's private cache dir, never in a shared one",
  { skip: compileCacheApi },
  () => {
    const dir = join(tempDir('cli-ncc'), 'c');
    assert.equal(cuop(['cache', 'dir'], { CUOP_CACHE_DIR: dir }).status, 0);
    assert.ok(!existsSync(dir), 'no cache dir yet: the CLI creates none');
    mkdirSync(dir, { mode: 0o700 });
    assert.equal(cuop(['cache', 'dir'], { CUOP_CACHE_DIR: dir }).status, 0);
    assert.ok(filesUnder(dir, 'node-compile-cache').length > 0, 'bytecode cached in the private dir');
    const stats = cuop(['cache', 'stats'], { CUOP_CACHE_DIR: dir });
    assert.equal(stats.status, 0, `a dir holding only the compile cache is still adopted: ${stats.stderr}`);
    const shared = join(tempDir('cli-ncc-shared'), 'c');
    mkdirSync(shared);
    chmodSync(shared, 0o777);
    assert.equal(cuop(['cache', 'dir'], { CUOP_CACHE_DIR: shared }).status, 0);
    assert.deepEqual(filesUnder(shared, 'node-compile-cache'), [], 'nothing cached where others can write');
  },
);

test('maintenance on a refused (world-writable) cache directory exits 1 and says why', () => {
  const dir = join(tempDir('cli-refused'), 'c');
  mkdirSync(dir);
  chmodSync(dir, 0o777);
  for (const args of [
    ['cache', 'verify'],
    ['cache', 'clear'],
  ]) {
    const r = cuop(args, { CUOP_CACHE_DIR: dir });
    assert.equal(r.status, 1, args.join(' '));
    assert.match(r.stderr, /writable/, args.join(' '));
    assert.match(r.stderr, /refused/, args.join(' '));
    assert.doesNotMatch(r.stderr, /CUOP_CACHE_DISABLE/);
  }
});

test('cache explain <spec.json>: a hit says so; after a header edit the miss names the header', async () => {
  const root = tempDir('explain');
  const dir = join(root, 'cache');
  mkdirSync(join(root, 'include'));
  writeFileSync(join(root, 'include', 'tile.cuh'), '#define TILE 4\n');
  writeFileSync(
    join(root, 'k.cu'),
    '#include "tile.cuh"\nextern "C" __global__ void scale(float* x) { x[threadIdx.x] *= TILE; }\n',
  );
  const specPath = join(root, 'spec.json');
  writeFileSync(
    specPath,
    JSON.stringify({ sourceFile: 'k.cu', name: 'scale', options: ['-Iinclude', '-DBM=64'], arch: 'sm_90' }),
  );
  const { JitCompiler } = await import('../../src/jit/index.js');
  const { readSpecFile } = await import('../../src/cli/explain.js');
  const jit = new JitCompiler({ cache: new KernelCache({ dir, logger: quiet }), compiler: 'nvcc' });
  await jit.compile(readSpecFile(specPath).spec, 'sm_90');
  await jit.cache.close();

  const env = { CUOP_COMPILER: 'nvcc' };
  const hit = cuop(['cache', '--cache-dir', dir, 'explain', specPath], env);
  assert.equal(hit.status, 0, hit.stderr);
  assert.match(hit.stdout, /^scale for sm_90 with nvcc [\d.]+: hit \(disk, entry [0-9a-f]{16}\)/);

  writeFileSync(join(root, 'include', 'tile.cuh'), '#define TILE 8\n');
  const miss = cuop(['cache', '--cache-dir', dir, 'explain', specPath], env, root);
  assert.equal(miss.status, 0, miss.stderr);
  assert.match(
    miss.stdout,
    /: miss \(key [0-9a-f]{16}\)\n {2}nearest entry [0-9a-f]{16} \(compiled .*, holds scale\):\n {4}- header include\/tile\.cuh changed$/m,
  );

  const arch = cuop(['cache', '--cache-dir', dir, 'explain', specPath, '--arch', 'sm_80', '--json'], env);
  const j = JSON.parse(arch.stdout) as { found?: unknown; nearest: { differences: { text: string }[] }[] };
  assert.equal(j.found, undefined);
  assert.ok(j.nearest[0]?.differences.some((d) => d.text === 'arch sm_90 → sm_80'));

  const broken = cuop(['cache', '--cache-dir', dir, 'explain', join(root, 'missing.json')], env);
  assert.notEqual(broken.status, 0);
  assert.match(broken.stderr, /cannot read the spec file .*missing\.json/);
});
