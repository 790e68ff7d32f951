// `cuop doctor`, run for real: the built build/src/cli/main.js in a child process, on this host as it is (no driver
// on the CPU CI; real nvcc), with cache directories filled through KernelCache with real nvcc cubins.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { after, test } from 'node:test';

import { KernelCache } from '../../src/cache/kernel-cache.js';
import type { DoctorCheck, DoctorReport } from '../../src/cli/doctor.js';
import { driverAvailable } from '../../src/cuda/driver.js';
import { nvrtcBuiltinsFor } from '../../src/cuda/library-discovery.js';
import { nvrtcLibraryLocation } from '../../src/cuda/nvrtc.js';
import { countingCompile, recordingLogger, specFor, tempDir as fixtureTempDir } from '../cache/fixtures.js';
import { baseEnv, CLI, type Run } from './cli-fixture.js';

const scratch: string[] = [];
function tempDir(tag: string): string {
  const d = fixtureTempDir(tag);
  scratch.push(d);
  return d;
}
after(() => {
  for (const d of scratch) {
    chmodSync(d, 0o700);
    rmSync(d, { recursive: true, force: true });
  }
});

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Run {
  const r = spawnSync(command, args, { encoding: 'utf8', env, timeout: 120_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function doctor(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  return run(process.execPath, [CLI, 'doctor', ...args], { ...baseEnv(), ...env });
}

function doctorJson(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { status: number | null; report: DoctorReport } {
  const r = doctor(['--json', ...args], env);
  let report: DoctorReport;
  try {
    report = JSON.parse(r.stdout) as DoctorReport;
  } catch {
    assert.fail(`doctor --json printed no JSON (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  assertShape(report);
  return { status: r.status, report };
}

/** The documented shape (docs/cli-json.md): { ok, checks: [{ id, status, message, fix?, details? }] }. */
function assertShape(report: DoctorReport): void {
  assert.equal(typeof report.ok, 'boolean');
  assert.ok(Array.isArray(report.checks) && report.checks.length > 0);
  for (const c of report.checks) {
    assert.equal(typeof c.id, 'string');
    assert.ok(['ok', 'warn', 'fail'].includes(c.status), `${c.id}: status ${c.status}`);
    assert.equal(typeof c.message, 'string');
    assert.ok(!c.message.includes('\n'), `${c.id}: one line`);
    if (c.status === 'ok') assert.equal(c.fix, undefined, `${c.id}: no fix when ok`);
    else
      assert.ok(
        typeof c.fix === 'string' && c.fix.length > 0 && !c.fix.includes('\n'),
        `${c.id}: one-line fix`,
      );
    if (c.details !== undefined) assert.equal(typeof c.details, 'object');
  }
  for (const id of [
    'driver',
    'nvrtc',
    'nvcc',
    'nvjitlink',
    'toolkit-headers',
    'compiler',
    'cache-dir',
    'remote',
  ])
    assert.ok(
      report.checks.some((c) => c.id === id),
      `check ${id} is there`,
    );
  assert.equal(
    report.ok,
    report.checks.every((c) => c.status !== 'fail'),
    'ok is false exactly when a check failed',
  );
}

function checkOf(report: DoctorReport, id: string): DoctorCheck {
  const c = report.checks.find((x) => x.id === id);
  assert.ok(c, `no check ${id}`);
  return c;
}

const noDriver = driverAvailable() ? 'this host has a CUDA driver (the GPU suite runs doctor there)' : false;
const isRoot = process.getuid?.() === 0;

test(
  'no driver: the driver check warns "compile and cache only", nvcc compiles, exit 0',
  { skip: noDriver },
  () => {
    const dir = join(tempDir('doctor-nodriver'), 'cache');
    const { status, report } = doctorJson([], { CUOP_CACHE_DIR: dir });
    const d = checkOf(report, 'driver');
    assert.equal(d.status, 'warn');
    assert.match(d.message, /no CUDA driver \(libcuda\): compile and cache only, no launches/);
    assert.match(d.fix ?? '', /CUOP_LIBCUDA_PATH/);
    assert.ok(!report.checks.some((c) => c.id === 'devices'), 'no device check without a driver');
    const nvcc = checkOf(report, 'nvcc');
    assert.equal(nvcc.status, 'ok');
    assert.match(nvcc.message, /^nvcc \d+\.\d+\.\d+ \(.+, sm_\d+ … sm_\d+\)$/);
    const compiler = checkOf(report, 'compiler');
    assert.equal(compiler.status, 'ok');
    assert.ok(['nvrtc', 'nvcc'].includes(String(compiler.details?.['id'])));
    assert.equal(report.ok, true);
    assert.equal(status, 0);
  },
);

test('--require-gpu: no driver is a failure, exit 1', { skip: noDriver }, () => {
  const dir = join(tempDir('doctor-requiregpu'), 'cache');
  const { status, report } = doctorJson(['--require-gpu'], { CUOP_CACHE_DIR: dir });
  assert.equal(checkOf(report, 'driver').status, 'fail');
  assert.equal(report.ok, false);
  assert.equal(status, 1);
});

/** Toolkit roots under /usr/local (nvcc's last fallback, and NVRTC's default place), real paths. */
function localToolkits(): string[] {
  let names: string[];
  try {
    names = readdirSync('/usr/local').filter((n) => n === 'cuda' || n.startsWith('cuda-'));
  } catch {
    return [];
  }
  return [...new Set(names.map((n) => realpathSync(join('/usr/local', n))))];
}

/**
 * How to run doctor with no compiler in reach: PATH without nvcc and CUDA_PATH/CUDA_HOME unset, and the toolkits of
 * /usr/local (which cuop finds without being told) hidden behind empty directories in a private mount namespace.
 * Undefined (with the reason) where that cannot be done.
 */
function withoutCompilers(): { command: string; prefix: string[]; env: NodeJS.ProcessEnv } | string {
  const path = [dirname(process.execPath), '/usr/bin', '/bin'].filter((d) => !existsSync(join(d, 'nvcc')));
  if (!path.includes(dirname(process.execPath))) return 'node shares its directory with nvcc';
  const env: NodeJS.ProcessEnv = { ...baseEnv(), PATH: path.join(delimiter) };
  delete env['CUDA_PATH'];
  delete env['CUDA_HOME'];
  delete env['VIRTUAL_ENV'];
  delete env['CONDA_PREFIX'];
  delete env['PYTHONPATH'];
  const toolkits = localToolkits();
  if (toolkits.length === 0) return { command: process.execPath, prefix: [], env };
  // unshare -r: root of a new user namespace (no privilege needed), whose mounts no one else sees.
  const probe = spawnSync('unshare', ['-r', '-m', 'true']);
  if (probe.status !== 0) return 'a toolkit is in /usr/local and `unshare -r -m` is not available to hide it';
  const empty = tempDir('doctor-empty');
  const mounts = toolkits.map((t) => `mount --bind '${empty}' '${t}'`).join(' && ');
  return {
    command: 'unshare',
    prefix: ['-r', '-m', 'sh', '-c', `${mounts} && exec "$0" "$@"`, process.execPath],
    env,
  };
}

const hidden = withoutCompilers();

test(
  'no NVRTC and no nvcc: the compiler check fails with a fix, exit 1',
  { skip: typeof hidden === 'string' ? hidden : false },
  (t) => {
    if (typeof hidden === 'string') return;
    const dir = join(tempDir('doctor-nocompiler'), 'cache');
    const r = run(hidden.command, [...hidden.prefix, CLI, 'doctor', '--json'], {
      ...hidden.env,
      CUOP_CACHE_DIR: dir,
    });
    const report = JSON.parse(r.stdout) as DoctorReport;
    assertShape(report);
    if (checkOf(report, 'nvrtc').status === 'ok') {
      t.skip(`an NVRTC outside /usr/local is found (${String(checkOf(report, 'nvrtc').details?.['path'])})`);
      return;
    }
    const nvcc = checkOf(report, 'nvcc');
    assert.equal(nvcc.status, 'warn');
    assert.match(nvcc.message, /could not find nvcc \(looked in \d+ places\)/);
    assert.ok(Array.isArray(nvcc.details?.['searched']), 'the places looked at are in the details');
    const compiler = checkOf(report, 'compiler');
    assert.equal(compiler.status, 'fail');
    assert.match(compiler.message, /^no usable compiler: /);
    assert.match(compiler.fix ?? '', /pip install nvidia-cuda-nvrtc/);
    assert.match(compiler.fix ?? '', /nvcc/);
    assert.equal(report.ok, false);
    assert.equal(r.status, 1, r.stderr);
  },
);

async function populate(dir: string, n: number): Promise<void> {
  const c = new KernelCache({
    dir,
    env: {},
    logger: recordingLogger().logger,
    policy: { maintenanceIntervalMs: 0 },
  });
  for (let i = 0; i < n; i++) await c.getOrCompile(specFor(i), countingCompile(i).compile);
  await c.close();
}

test('cache-dir: path, owner, mode, free space, entries, size and format version of a real cache', async () => {
  const dir = join(tempDir('doctor-cache'), 'cache');
  await populate(dir, 3);
  const { report } = doctorJson([], { CUOP_CACHE_DIR: dir });
  const c = checkOf(report, 'cache-dir');
  assert.equal(c.status, 'ok', c.message);
  const d = c.details ?? {};
  assert.equal(d['path'], dir);
  assert.equal(d['exists'], true);
  assert.equal(d['ownerUid'], process.getuid?.());
  assert.equal(d['mode'], '0700');
  assert.equal(d['entries'], 3);
  assert.ok(typeof d['sizeBytes'] === 'number' && d['sizeBytes'] > 0);
  assert.ok(typeof d['freeBytes'] === 'number' && d['freeBytes'] > 0);
  assert.deepEqual(d['formatVersion'], { cuop: 2, onDisk: 2 });
  assert.match(
    c.message,
    new RegExp(`^${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(owner uid \\d+, mode 0700\\): 3 entries, `),
  );

  // --cache-dir wins over CUOP_CACHE_DIR.
  const other = join(tempDir('doctor-cache-flag'), 'not-yet');
  const flagged = checkOf(doctorJson(['--cache-dir', other], { CUOP_CACHE_DIR: dir }).report, 'cache-dir');
  assert.equal(flagged.details?.['path'], other);
  assert.equal(flagged.status, 'ok');
  assert.match(flagged.message, /does not exist yet/);
  assert.ok(!existsSync(other), 'doctor does not make the directory');
});

test('cache-dir: a world-writable directory is refused: fail, exit 1, with the fix', () => {
  const dir = join(tempDir('doctor-cache-open'), 'cache');
  mkdirSync(dir);
  chmodSync(dir, 0o777);
  const { status, report } = doctorJson([], { CUOP_CACHE_DIR: dir });
  const c = checkOf(report, 'cache-dir');
  assert.equal(c.status, 'fail');
  assert.match(c.message, /mode 0777\) is refused: /);
  assert.match(c.fix ?? '', /chmod 700/);
  assert.equal(status, 1);
});

test(
  'cache-dir: an unwritable directory (chmod 500) fails, exit 1',
  { skip: isRoot ? 'root writes through mode 500: the check cannot fail for root' : false },
  async () => {
    const dir = join(tempDir('doctor-cache-ro'), 'cache');
    await populate(dir, 1);
    chmodSync(dir, 0o500);
    let run;
    try {
      run = doctorJson([], { CUOP_CACHE_DIR: dir });
    } finally {
      chmodSync(dir, 0o700); // so that it can be removed
    }
    const { status, report } = run;
    const c = checkOf(report, 'cache-dir');
    assert.equal(c.status, 'fail');
    assert.match(c.message, /mode 0500\) is not writable/);
    assert.match(c.fix ?? '', /chmod u\+rwx/);
    assert.equal(status, 1);
  },
);

test('human output: one aligned line per check, fixes indented below, a verdict; same exit status', () => {
  const dir = join(tempDir('doctor-human'), 'cache');
  const r = doctor([], { CUOP_CACHE_DIR: dir });
  const { status, report } = doctorJson([], { CUOP_CACHE_DIR: dir });
  assert.equal(r.status, status);
  const lines = r.stdout.split('\n');
  const checkLines = lines.filter((l) => /^(ok|WARN|FAIL)\s/.test(l));
  assert.equal(checkLines.length, report.checks.length);
  const messageColumn = new Set(
    checkLines.map((l) => l.indexOf(report.checks[checkLines.indexOf(l)]!.message)),
  );
  assert.equal(messageColumn.size, 1, 'messages start in one column');
  const fixLines = lines.filter((l) => l.trimStart().startsWith('fix: '));
  assert.equal(fixLines.length, report.checks.filter((c) => c.fix).length);
  for (const l of fixLines) assert.equal(l.indexOf('fix: '), [...messageColumn][0], 'fix under the message');
  for (const c of report.checks) {
    const line = checkLines.find((l) => l.includes(c.message));
    assert.ok(line, `a line for ${c.id}`);
    assert.match(line, new RegExp(`^${{ ok: 'ok', warn: 'WARN', fail: 'FAIL' }[c.status]}\\s+${c.id}\\s`));
  }
  assert.match(r.stdout, /\ncuop doctor: (everything cuop needs is here|missing what cuop needs)/);
});

const realNvrtc = nvrtcLibraryLocation();

test(
  'a real libnvrtc laid out as the CUDA 13 wheel, named by path: without its builtins beside it the nvrtc and ' +
    'compiler checks fail naming the library; with them (and no LD_LIBRARY_PATH) a compile works',
  { skip: realNvrtc ? false : 'no libnvrtc on this host' },
  () => {
    if (!realNvrtc) return;
    const lib = join(tempDir('doctor-wheel'), 'site-packages', 'nvidia', 'cu13', 'lib');
    mkdirSync(lib, { recursive: true });
    copyFileSync(realpathSync(realNvrtc), join(lib, 'libnvrtc.so.13'));
    const env = { CUOP_NVRTC_PATH: join(lib, 'libnvrtc.so.13'), CUOP_CACHE_DIR: join(lib, '..', 'cache') };
    const noLoaderPath = { LD_LIBRARY_PATH: '' };
    const without = doctorJson([], { ...env, ...noLoaderPath });
    const n = checkOf(without.report, 'nvrtc');
    assert.equal(n.status, 'fail', n.message);
    assert.match(
      n.message,
      new RegExp(`builtins library libnvrtc-builtins\\.so\\.\\d+\\.\\d+ is missing from ${lib}`),
    );
    const compiler = checkOf(without.report, 'compiler');
    assert.equal(compiler.status, 'fail');
    assert.match(
      compiler.message,
      /NVRTC_ERROR_BUILTIN_OPERATION_FAILURE \(7\): NVRTC's builtins library .* is missing/,
    );
    assert.equal(without.status, 1);

    const name = String((n.details?.['builtins'] as { name: string }).name);
    const [major, minor] = name.replace('libnvrtc-builtins.so.', '').split('.').map(Number);
    const original = nvrtcBuiltinsFor(realNvrtc, major ?? 0, minor ?? 0).found;
    assert.ok(original, `${name} beside ${realNvrtc}`);
    copyFileSync(realpathSync(original), join(lib, name));
    const withIt = doctorJson([], { ...env, ...noLoaderPath });
    assert.equal(checkOf(withIt.report, 'nvrtc').status, 'ok');
    const c = checkOf(withIt.report, 'compiler');
    assert.equal(c.status, 'ok', c.message);
    assert.equal(c.details?.['id'], 'nvrtc');
  },
);
