// Hostile places and bad input, with real files and real processes: a FIFO, a directory or a link where cuop keeps a
// file, a project folder used as the cache, a bad environment, stats files piling up. Each case failed before the
// fix (see the closing note of the change); lookups that could hang run in a child process with a deadline.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { memoizedCacheKey } from '../../src/cache/key.js';
import { KernelCache } from '../../src/cache/kernel-cache.js';
import { NvccCompiler } from '../../src/compiler/index.js';
import { JitCompiler, type KernelSpec } from '../../src/jit/index.js';
import {
  countingCompile,
  initializedCacheDir,
  kernelSource,
  nvccCubin,
  recordingLogger,
  specFor,
  tempDir,
  worker,
} from './fixtures.js';

const quiet = recordingLogger().logger;
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const cubinFile = (i: number): string => {
  const p = join(tmpdir(), `cuop-hostile-k${i}.cubin`);
  writeFileSync(p, nvccCubin(kernelSource(i)));
  return p;
};

/** A lookup of kernel i in a fresh process, bounded: a hang fails the test instead of the run. */
function lookupInChild(dir: string, i: number): { tier: string; warns: string[]; dir: string | null } {
  const r = spawnSync(process.execPath, [worker('lookup-child'), dir, String(i), cubinFile(i)], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.ok(!r.error && r.signal === null, `the lookup did not return (${r.error?.message ?? r.signal})`);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { tier: string; warns: string[]; dir: string | null };
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env },
  });
  assert.ok(
    !r.error && r.signal === null,
    `cuop ${args.join(' ')} did not return (${r.error?.message ?? r.signal})`,
  );
  return { status: r.status, out: r.stdout + r.stderr };
}

async function published(i: number): Promise<{ dir: string; key: string; meta: string; kernel: string }> {
  const dir = tempDir('hostile');
  const c = new KernelCache({ dir, env: {}, logger: quiet, policy: { maintenanceIntervalMs: 0 } });
  const { key } = await c.getOrCompile(specFor(i), countingCompile(i).compile);
  await c.close();
  const meta = join(dir, 'metadata', key.slice(0, 2), `${key}.json`);
  return { dir, key, meta, kernel: join(dir, 'kernels', key.slice(0, 2), `${key}.cubin`) };
}

const mkfifo = (p: string) => execFileSync('mkfifo', [p]);

test('1. a FIFO where cuop keeps a file never hangs a lookup or verify; the entry is recompiled', async () => {
  for (const where of ['metadata', 'kernel', 'format-version', 'lock', 'manifest'] as const) {
    const e = await published(where === 'lock' ? 20 : 21);
    const path =
      where === 'metadata'
        ? e.meta
        : where === 'kernel'
          ? e.kernel
          : where === 'format-version'
            ? join(e.dir, 'format-version')
            : where === 'lock'
              ? join(e.dir, 'locks', `${memoizedCacheKey(specFor(22))}.lock`)
              : join(e.dir, 'manifests', 'ab', `${'ab'.padEnd(64, '0')}.json`);
    if (existsSync(path)) unlinkSync(path);
    mkdirSync(join(path, '..'), { recursive: true });
    mkfifo(path);
    if (where === 'metadata' || where === 'kernel') {
      const v = cli(['cache', '--cache-dir', e.dir, 'verify', '--no-repair']);
      assert.equal(v.status, 1, `${where}: verify reports the FIFO (${v.out})`);
    }
    const i = where === 'lock' ? 22 : where === 'manifest' ? 21 : where === 'format-version' ? 21 : 21;
    const r = lookupInChild(e.dir, i);
    assert.ok(['compiled', 'disk'].includes(r.tier), `${where}: ${JSON.stringify(r)}`);
    rmSync(e.dir, { recursive: true, force: true });
  }
});

test('2. a directory squatting a file path, or a file squatting a fan-out dir, is repaired, not warned about forever', async () => {
  const e = await published(23);
  rmSync(e.kernel);
  rmSync(e.meta);
  mkdirSync(e.kernel); // a directory at kernels/<aa>/<key>.cubin
  const first = lookupInChild(e.dir, 23);
  assert.equal(first.tier, 'compiled');
  assert.deepEqual(first.warns, [], 'no write failure');
  assert.equal(lookupInChild(e.dir, 23).tier, 'disk', 'the next process hits');
  // a plain file where the fan-out directory kernels/<aa> belongs
  rmSync(join(e.kernel, '..'), { recursive: true });
  rmSync(e.meta);
  writeFileSync(join(e.kernel, '..'), 'squatter');
  assert.equal(lookupInChild(e.dir, 23).tier, 'compiled');
  assert.equal(lookupInChild(e.dir, 23).tier, 'disk');
  // prune removes what it reports removing: a directory at a metadata path is gone afterwards
  const other = memoizedCacheKey(specFor(24));
  const squat = join(e.dir, 'metadata', other.slice(0, 2), `${other}.json`);
  mkdirSync(squat, { recursive: true });
  const p = cli(['cache', '--cache-dir', e.dir, 'prune']);
  assert.equal(p.status, 0, p.out);
  assert.ok(!existsSync(squat), 'the squatting directory is gone');
  rmSync(e.dir, { recursive: true, force: true });
});

test('3 (one user). the one rule: a group-writable directory anywhere in the tree is refused unless group mode is on', async () => {
  for (const sub of ['', 'kernels', 'metadata', 'temp', 'locks', 'stats']) {
    const e = await published(25);
    chmodSync(join(e.dir, sub), 0o770);
    const r = lookupInChild(e.dir, 25);
    assert.equal(r.dir, null, `${sub || 'root'}: refused`);
    assert.match(r.warns.join('\n'), /group-writable .* CUOP_CACHE_SHARED=group/);
    rmSync(e.dir, { recursive: true, force: true });
  }
  const e = await published(25);
  chmodSync(join(e.dir, 'kernels', e.key.slice(0, 2)), 0o777); // a fan-out dir: its entries are not loaded
  const log = recordingLogger();
  const c = new KernelCache({
    dir: e.dir,
    env: {},
    logger: log.logger,
    policy: { maintenanceIntervalMs: 0 },
  });
  assert.equal((await c.getOrCompile(specFor(25), countingCompile(25).compile)).tier, 'compiled');
  assert.match(log.warns.join('\n'), /world-writable/);
  await c.close();
  rmSync(e.dir, { recursive: true, force: true });
});

test('4. links are never followed inside the cache: a linked kernels/ is refused, a linked file is not read', async () => {
  const e = await published(26);
  const elsewhere = mkdtempSync(join(tmpdir(), 'cuop-elsewhere-'));
  rmSync(join(e.dir, 'kernels'), { recursive: true });
  symlinkSync(elsewhere, join(e.dir, 'kernels'));
  const r = lookupInChild(e.dir, 27);
  assert.equal(r.dir, null);
  assert.match(r.warns.join('\n'), /kernels: it is a symbolic link/);
  assert.deepEqual(readdirSync(elsewhere), [], 'nothing written through the link');
  rmSync(e.dir, { recursive: true, force: true });

  // a kernel file replaced by a link to a (valid!) cubin elsewhere: not read, the entry is recompiled
  const f = await published(28);
  const planted = join(elsewhere, 'planted.cubin');
  writeFileSync(planted, readFileSync(f.kernel));
  rmSync(f.kernel);
  symlinkSync(planted, f.kernel);
  assert.equal(lookupInChild(f.dir, 28).tier, 'compiled');
  assert.ok(lstatSync(f.kernel).isFile(), 'the link was replaced by a file of cuop');
  rmSync(f.dir, { recursive: true, force: true });
  rmSync(elsewhere, { recursive: true, force: true });
});

test('5. a project folder used as the cache dir is refused; cuop removes only names it generates', async () => {
  const project = mkdtempSync(join(tmpdir(), 'cuop-project-'));
  mkdirSync(join(project, 'metadata', 'notes'), { recursive: true });
  mkdirSync(join(project, 'kernels', 'src'), { recursive: true });
  writeFileSync(join(project, 'metadata', 'notes', 'important.txt'), 'mine');
  writeFileSync(join(project, 'kernels', 'src', 'main.c'), 'int main() {}');
  for (const cmd of [['prune'], ['clear'], ['verify'], ['shrink', '0']]) {
    const r = cli(['cache', ...cmd], { CUOP_CACHE_DIR: project });
    assert.equal(r.status, 1, `${cmd[0]}: ${r.out}`);
    assert.match(r.out, /not a cuop cache/);
  }
  assert.equal(readFileSync(join(project, 'metadata', 'notes', 'important.txt'), 'utf8'), 'mine');
  assert.ok(existsSync(join(project, 'kernels', 'src', 'main.c')));
  assert.equal(lookupInChild(project, 29).dir, null);
  rmSync(project, { recursive: true, force: true });

  // inside a real cache: files of names cuop never makes survive prune, clear and verify, and are reported
  const e = await published(29);
  const foreign = [join(e.dir, 'metadata', 'notes.txt'), join(e.dir, 'kernels', e.key.slice(0, 2), 'mine.c')];
  for (const p of foreign) writeFileSync(p, 'not cuop');
  const v = JSON.parse(cli(['cache', '--cache-dir', e.dir, 'verify', '--json']).out) as { foreign: string[] };
  assert.deepEqual(v.foreign.sort(), [...foreign].sort());
  assert.equal(cli(['cache', '--cache-dir', e.dir, 'prune']).status, 0);
  assert.equal(cli(['cache', '--cache-dir', e.dir, 'clear']).status, 0);
  for (const p of foreign) assert.ok(existsSync(p), `${p} kept`);
  assert.ok(!existsSync(e.meta) && !existsSync(e.kernel), 'the entry itself was cleared');
  rmSync(e.dir, { recursive: true, force: true });
});

test('6. options given as one string are a TypeError at once; nvcc gets no stdin and a deadline', async () => {
  const jit = new JitCompiler({ cache: new KernelCache({ dir: null, logger: quiet }), compiler: 'nvcc' });
  const t0 = Date.now();
  await assert.rejects(
    jit.compile(
      { source: 'extern "C" __global__ void k() {}', name: 'k', options: '-O3' } as unknown as KernelSpec,
      'sm_90',
    ),
    (e: unknown) => e instanceof TypeError && /options must be an array of strings/.test(e.message),
  );
  assert.ok(Date.now() - t0 < 5_000);
  await jit.cache.close();
  // '-' as an option: nvcc reads stdin, which is /dev/null, so it returns (with an error) instead of waiting
  const nvcc = new NvccCompiler();
  const r = await nvcc
    .compile({ source: 'extern "C" __global__ void k() {}', arch: 'sm_90', options: ['-'] })
    .then(
      () => 'compiled',
      (e: Error) => e.name,
    );
  assert.ok(['compiled', 'CompileError'].includes(r), r);
  // a compile past its deadline is stopped, process group and all, and says why
  const slow = new NvccCompiler({ timeoutMs: 30 });
  await assert.rejects(
    slow.compile({ source: 'extern "C" __global__ void k() {}', arch: 'sm_90' }),
    /did not finish within 30 ms and was stopped/,
  );
});

test('7. a bad CUOP_* variable warns once, naming it and the value, and the default stands', () => {
  for (const [variable, value, why] of [
    ['CUOP_CACHE_MAX_SIZE', 'garbage', /not a byte size/],
    ['CUOP_CACHE_MAX_SIZE', '99999999999999999999TB', /too large \(at most 9007199254740991 bytes/],
    ['CUOP_CACHE_SHARED', 'everyone', /'private' or 'group'/],
    ['CUOP_DEBUG', 'verbose', /true or false/],
    ['CUOP_CACHE_DISABLE', 'maybe', /expected 1 or true/],
  ] as const) {
    const log = recordingLogger();
    const c = new KernelCache({ dir: null, env: { [variable]: value }, logger: log.logger });
    assert.equal(log.warns.length, 1, variable);
    assert.match(log.warns[0] ?? '', new RegExp(`ignoring ${variable}="${value.replace(/[()]/g, '\\$&')}"`));
    assert.match(log.warns[0] ?? '', why);
    assert.equal(c.policy.maxDiskBytes, 2 ** 30);
    void c.close();
  }
  // explicit code still throws, and NaN is printed as NaN
  assert.throws(() => new KernelCache({ dir: null, policy: { maxAgeMs: Number.NaN } }), /got NaN/);
});

test('8. stats files of dead processes are folded into the total once they pile up', async () => {
  const dir = await initializedCacheDir('stats-bound');
  for (let i = 0; i < 300; i++) {
    const pid = 2 ** 30 + i;
    writeFileSync(
      join(dir, 'stats', `${hostname()}.${pid}.0.abc-1-xyz.json`),
      JSON.stringify({
        v: 1,
        pid,
        host: hostname(),
        threadId: 0,
        startedAt: 1,
        updatedAt: 1,
        counters: { misses: 1 },
        keyUses: {},
      }),
    );
  }
  const c = new KernelCache({ dir, env: {}, logger: quiet, policy: { maintenanceIntervalMs: 0 } });
  await c.getOrCompile(specFor(30), countingCompile(30).compile);
  await c.close(); // flushes, and folds
  assert.ok(readdirSync(join(dir, 'stats')).length < 10, String(readdirSync(join(dir, 'stats')).length));
  const again = new KernelCache({ dir, env: {}, logger: quiet });
  assert.equal(again.getStats().all.misses, 301, 'nothing counted lost or twice');
  await again.close();
  rmSync(dir, { recursive: true, force: true });
});

test(
  '9. a full disk at first use: one warning, no empty or half-written file left, and the dir usable once there is room',
  {
    skip:
      process.getuid?.() !== 0
        ? 'needs root (to mount a tmpfs), as on the CI machine'
        : spawnSync('mount', ['--version']).status !== 0
          ? 'no mount'
          : false,
  },
  (t) => {
    const at = mkdtempSync(join(tmpdir(), 'cuop-full-'));
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1024k', 'tmpfs', at], { encoding: 'utf8' });
    if (m.status !== 0) {
      t.skip(`mount is not permitted here (${m.stderr.trim()})`);
      rmSync(at, { recursive: true, force: true });
      return;
    }
    try {
      const fillers: string[] = [];
      for (const [size, tag] of [
        [65536, 'big'],
        [512, 'small'],
      ] as const) {
        for (let i = 0; ; i++) {
          const p = join(at, `${tag}-${i}`);
          try {
            writeFileSync(p, Buffer.alloc(size, 1));
            fillers.push(p);
          } catch {
            rmSync(p, { force: true });
            break;
          }
        }
      }
      const dir = join(at, 'cache');
      const full = lookupInChild(dir, 31);
      assert.equal(full.tier, 'compiled');
      assert.equal(full.warns.length, 1, `one warning, not one per failed write: ${full.warns.join(' | ')}`);
      assert.match(full.warns[0] ?? '', /ENOSPC/);
      const files = (p: string): string[] =>
        lstatSync(p).isDirectory() ? readdirSync(p).flatMap((n) => files(join(p, n))) : [p];
      assert.deepEqual(existsSync(dir) ? files(dir) : [], [], 'no empty or partial file left behind');
      for (const p of fillers) rmSync(p);
      const roomy = lookupInChild(dir, 31);
      assert.deepEqual(roomy.warns, [], 'with room again the dir is a cache, not "a foreign directory"');
      assert.equal(roomy.dir !== null, true);
      assert.equal(roomy.tier, 'compiled');
      assert.equal(lookupInChild(dir, 31).tier, 'disk');
    } finally {
      spawnSync('umount', [at]);
      rmSync(at, { recursive: true, force: true });
    }
  },
);
