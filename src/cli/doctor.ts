// `cuop doctor`: is everything cuop needs on this host, and what to do about what is not. Each check says ok, warn or
// fail in one line, with a one-line fix for the others; the exit status is 1 when something needed is missing.
import { accessSync, constants, existsSync, statfsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { KernelCache } from '../cache/kernel-cache.js';
import { CACHE_FORMAT_VERSION } from '../cache/key.js';
import { FORMAT_FILE } from '../cache/layout.js';
import { resolveCacheDir } from '../cache/policy.js';
import { trustRule, dirProblem } from '../cache/trust.js';
import { NvccCompiler, NvrtcCompiler, selectCompiler, type Compiler } from '../compiler/index.js';
import { driver, nvjitlink, nvrtc } from '../cuda/index.js';
import { Device } from '../runtime/index.js';
import { getSettings } from '../settings/index.js';
import { gatherRemote } from './info.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

/**
 * One check of `cuop doctor --json`. `id` is stable: driver, devices (only when the driver loads), nvrtc, nvcc,
 * nvjitlink, toolkit-headers, compiler, cache-dir, remote. `fix` is present exactly when the status is not ok.
 * `details` holds the facts behind the message (paths, versions, sizes); its fields per id are listed in
 * docs/cli-json.md.
 */
export interface DoctorCheck {
  readonly id: string;
  readonly status: CheckStatus;
  /** One line: what was found. */
  readonly message: string;
  /** One line: what to do; only when the status is warn or fail. */
  readonly fix?: string;
  readonly details?: Record<string, unknown>;
}

/**
 * What `cuop doctor --json` prints: `{ ok, checks }`. `ok` is false exactly when a check failed, which is also when
 * the exit status is 1: no usable compiler (NVRTC or nvcc), no usable cache directory, a misconfigured remote tier,
 * or (with --require-gpu) no driver or device.
 */
export interface DoctorReport {
  readonly ok: boolean;
  readonly checks: DoctorCheck[];
}

export interface DoctorOptions {
  readonly json?: boolean;
  /** A missing driver or device fails instead of warning. */
  readonly requireGpu?: boolean;
  /** The cache directory to check (default: the resolved one). */
  readonly cacheDir?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** The headers kernels most often include that NVRTC finds only through an -I for the toolkit. */
const TOOLKIT_HEADERS = ['cuda_fp16.h', 'cuda_bf16.h', 'cooperative_groups.h'] as const;
/** The kernel of the test compiles. */
const TRIAL_SOURCE = 'extern "C" __global__ void cuop_doctor(float* x) { x[threadIdx.x] *= 2.0f; }\n';
/** Below this much free space the cache directory gets a warning. */
const LOW_FREE_BYTES = 512 * 2 ** 20;

/**
 * An error in one line: its first, or for a "Looked in:" list (a library or nvcc not found) the first line and how
 * many places; the list itself goes to the details (see searched).
 */
function firstLine(e: unknown): string {
  const [head = '', ...rest] = (e instanceof Error ? e.message : String(e)).split('\n');
  const places = rest.filter((l) => l.startsWith('  - ')).length;
  return head.endsWith(' Looked in:')
    ? `${head.slice(0, -' Looked in:'.length).replace(/\.$/, '')} (looked in ${places} places)`
    : head;
}

/** The places a not-found error lists, for the details. */
function searched(e: unknown): string[] {
  return (e instanceof Error ? e.message : String(e))
    .split('\n')
    .filter((l) => l.startsWith('  - '))
    .map((l) => l.slice(4));
}
const gib = (n: number): string => `${(n / 2 ** 30).toFixed(1)} GiB`;
const mib = (n: number): string => (n < 2 ** 30 ? `${(n / 2 ** 20).toFixed(1)} MiB` : gib(n));
const archRange = (archs: readonly number[]): string =>
  archs.length ? `sm_${Math.min(...archs)} … sm_${Math.max(...archs)}` : 'no archs';

function check(
  id: string,
  status: CheckStatus,
  message: string,
  fix?: string,
  details?: Record<string, unknown>,
): DoctorCheck {
  return {
    id,
    status,
    message,
    ...(status !== 'ok' && fix ? { fix } : {}),
    ...(details ? { details } : {}),
  };
}

/** Runs every check; prints the report (table or JSON); returns the exit status. */
export async function runDoctor(opts: DoctorOptions = {}): Promise<number> {
  const report = await diagnose(opts);
  if (opts.json) console.log(JSON.stringify(report, null, 2));
  else printReport(report);
  return report.ok ? 0 : 1;
}

/** Every check, in the order they are printed. */
export async function diagnose(opts: DoctorOptions = {}): Promise<DoctorReport> {
  const env = opts.env ?? process.env;
  const gpu = checkDriver(opts.requireGpu ?? false);
  const nvrtcFound = await checkNvrtc();
  const nvccFound = await checkNvcc(env);
  const checks: DoctorCheck[] = [
    ...gpu.checks,
    nvrtcFound.check,
    nvccFound.check,
    checkNvJitLink(),
    await checkHeaders(nvrtcFound.includeDirs, nvccFound.compiler),
    await checkCompiler(env, gpu.arch),
    await checkCacheDir(opts.cacheDir, env),
    await checkRemote(env),
  ];
  return { ok: checks.every((c) => c.status !== 'fail'), checks };
}

function checkDriver(requireGpu: boolean): { checks: DoctorCheck[]; arch?: string } {
  const missing: CheckStatus = requireGpu ? 'fail' : 'warn';
  let version: number;
  try {
    version = driver.driverVersion();
  } catch (e) {
    return {
      checks: [
        check(
          'driver',
          missing,
          `no CUDA driver (libcuda): compile and cache only, no launches (${firstLine(e)})`,
          'install the NVIDIA driver on a host with a GPU, or set CUOP_LIBCUDA_PATH to its libcuda.so.1',
          { found: false, error: firstLine(e), searched: searched(e) },
        ),
      ],
    };
  }
  const cuda = `${Math.floor(version / 1000)}.${(version % 1000) / 10}`;
  const driverCheck = check(
    'driver',
    'ok',
    `CUDA ${cuda} driver (${driver.driverLibraryPath()})`,
    undefined,
    {
      found: true,
      path: driver.driverLibraryPath(),
      cudaVersion: cuda,
    },
  );
  let devices: Device[] = [];
  let error: string | undefined;
  try {
    devices = Device.all();
  } catch (e) {
    error = firstLine(e);
  }
  const list = devices.map((d) => ({
    ordinal: d.ordinal,
    name: d.name,
    arch: d.arch,
    memoryBytes: d.totalMemory,
    multiprocessors: d.multiprocessorCount,
  }));
  const devicesCheck =
    devices.length > 0
      ? check(
          'devices',
          'ok',
          list.map((d) => `${d.ordinal}: ${d.name} (${d.arch}, ${gib(d.memoryBytes)})`).join('; '),
          undefined,
          { devices: list },
        )
      : check(
          'devices',
          missing,
          `the driver sees no device${error ? ` (${error})` : ''}: compile and cache only, no launches`,
          'check nvidia-smi and CUDA_VISIBLE_DEVICES',
          { devices: [], ...(error ? { error } : {}) },
        );
  return { checks: [driverCheck, devicesCheck], ...(devices[0] ? { arch: devices[0].arch } : {}) };
}

async function checkNvrtc(): Promise<{ check: DoctorCheck; includeDirs?: string[] }> {
  const compiler = new NvrtcCompiler();
  let version: string;
  let archs: number[];
  try {
    version = (await compiler.info()).version;
    archs = await compiler.supportedArchs();
  } catch (e) {
    return {
      check: check(
        'nvrtc',
        'warn',
        'NVRTC not found: nvcc compiles instead, if present (a subprocess: slower first compiles)',
        'pip install nvidia-cuda-nvrtc (CUDA 13) in the active environment, or set CUOP_NVRTC_PATH to libnvrtc.so',
        { found: false, error: firstLine(e), searched: searched(e) },
      ),
    };
  }
  const path = nvrtc.nvrtcLibraryPath();
  const includes = nvrtc.nvrtcToolkitIncludes();
  const builtins = nvrtc.nvrtcBuiltins();
  const details = {
    found: true,
    path,
    version,
    archs: { min: Math.min(...archs), max: Math.max(...archs) },
    includeDirs: includes.dirs,
    includeDirsLooked: includes.looked,
    builtins: {
      name: builtins.name,
      found: builtins.found ?? null,
      looked: builtins.looked,
      ...(builtins.loadError ? { loadError: builtins.loadError } : {}),
    },
  };
  const summary = `NVRTC ${version} (${path}, ${archRange(archs)})`;
  // Not beside libnvrtc: the dynamic loader may still find it (LD_LIBRARY_PATH); a compile tells.
  const viaLoader =
    builtins.looked.length === 0 || (!builtins.found && (await compilesTrial(compiler, archs)));
  if (builtins.loadError !== undefined || (!builtins.found && !viaLoader)) {
    return {
      check: check(
        'nvrtc',
        'fail',
        `${summary}: its builtins library ${builtins.name} ` +
          (builtins.found
            ? `does not load (${builtins.loadError})`
            : `is missing from ${builtins.looked.join(', ')}`),
        'reinstall NVRTC so that both libraries come from one release (pip install nvidia-cuda-nvrtc, or the toolkit)',
        details,
      ),
      includeDirs: includes.dirs,
    };
  }
  return {
    check: check(
      'nvrtc',
      'ok',
      `${summary}, builtins ${builtins.found ?? 'from the dynamic loader'}`,
      undefined,
      details,
    ),
    includeDirs: includes.dirs,
  };
}

async function compilesTrial(compiler: Compiler, archs: readonly number[]): Promise<boolean> {
  try {
    await compiler.compile({ source: TRIAL_SOURCE, arch: `sm_${Math.max(...archs)}` });
    return true;
  } catch {
    return false;
  }
}

async function checkNvcc(env: NodeJS.ProcessEnv): Promise<{ check: DoctorCheck; compiler?: NvccCompiler }> {
  const compiler = new NvccCompiler({ env });
  try {
    const { version } = await compiler.info();
    const archs = await compiler.supportedArchs();
    return {
      check: check('nvcc', 'ok', `nvcc ${version} (${compiler.path}, ${archRange(archs)})`, undefined, {
        found: true,
        path: compiler.path,
        version,
        archs: { min: Math.min(...archs), max: Math.max(...archs) },
      }),
      compiler,
    };
  } catch (e) {
    return {
      check: check(
        'nvcc',
        'warn',
        `nvcc not usable: ${firstLine(e)}`,
        'install the CUDA toolkit (or pip install nvidia-cuda-nvcc) and put its bin/ on PATH, or set CUOP_NVCC_PATH',
        { found: false, error: firstLine(e), searched: searched(e) },
      ),
    };
  }
}

function checkNvJitLink(): DoctorCheck {
  try {
    const { major, minor } = nvjitlink.nvJitLinkVersion();
    const path = nvjitlink.nvJitLinkLibraryPath();
    return check('nvjitlink', 'ok', `nvJitLink ${major}.${minor} (${path})`, undefined, {
      found: true,
      path,
      version: `${major}.${minor}`,
    });
  } catch (e) {
    return check(
      'nvjitlink',
      'warn',
      'nvJitLink not found: device links (-rdc, LTO) use nvcc’s nvlink, if present',
      'pip install nvidia-nvjitlink (CUDA 13) beside NVRTC, or set CUOP_NVJITLINK_PATH to libnvJitLink.so',
      { found: false, error: firstLine(e), searched: searched(e) },
    );
  }
}

/** Where each of TOOLKIT_HEADERS is in `dirs`, null when in none. */
function findHeaders(dirs: readonly string[]): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const h of TOOLKIT_HEADERS) out[h] = dirs.map((d) => join(d, h)).find((p) => existsSync(p)) ?? null;
  return out;
}

async function checkHeaders(
  nvrtcDirs: string[] | undefined,
  nvcc: NvccCompiler | undefined,
): Promise<DoctorCheck> {
  const details: Record<string, unknown> = {};
  const missing: string[] = [];
  if (nvrtcDirs) {
    const headers = findHeaders(nvrtcDirs);
    details['nvrtc'] = { includeDirs: nvrtcDirs, headers };
    for (const [h, at] of Object.entries(headers)) if (at === null) missing.push(`${h} (NVRTC)`);
  }
  if (nvcc) {
    // nvcc passes its own include dirs: reported, not passed by cuop.
    let dirs: string[] = [];
    try {
      dirs = await nvcc.toolkitIncludeDirs();
    } catch {
      // nvcc --dryrun failed: its headers cannot be told
    }
    const headers = findHeaders(dirs);
    details['nvcc'] = { includeDirs: dirs, headers };
    for (const [h, at] of Object.entries(headers)) if (at === null) missing.push(`${h} (nvcc)`);
  }
  if (!nvrtcDirs && !nvcc)
    return check(
      'toolkit-headers',
      'warn',
      'no compiler to find toolkit headers for',
      'see the compiler check',
      details,
    );
  if (missing.length > 0)
    return check(
      'toolkit-headers',
      'warn',
      `not found: ${missing.join(', ')}: kernels that include them will not compile`,
      nvrtcDirs
        ? 'install the CUDA runtime headers of NVRTC’s release (pip install nvidia-cuda-runtime for CUDA 13), or pass -I'
        : 'reinstall the CUDA toolkit',
      details,
    );
  // Where cuda_fp16.h is for each compiler: the directory that matters (the others are CCCL's and the like).
  const at = (['nvrtc', 'nvcc'] as const)
    .map((k) => [k, (details[k] as { headers: Record<string, string | null> } | undefined)?.headers] as const)
    .filter(([, h]) => h)
    .map(([k, h]) => `${k === 'nvrtc' ? 'NVRTC' : 'nvcc'}: ${dirname(h?.[TOOLKIT_HEADERS[0]] ?? '')}`);
  return check(
    'toolkit-headers',
    'ok',
    `${TOOLKIT_HEADERS.join(', ')} found (${at.join('; ')})`,
    undefined,
    details,
  );
}

async function checkCompiler(env: NodeJS.ProcessEnv, deviceArch: string | undefined): Promise<DoctorCheck> {
  const settings = getSettings(env);
  const forced = settings.compiler.preference !== 'auto';
  let compiler: Compiler;
  try {
    compiler = selectCompiler('auto', { env });
  } catch (e) {
    return check(
      'compiler',
      'fail',
      `no usable compiler: ${firstLine(e)}`,
      forced
        ? `install ${settings.compiler.preference} or unset CUOP_COMPILER`
        : 'pip install nvidia-cuda-nvrtc (CUDA 13) or install the CUDA toolkit (nvcc); or set CUOP_NVRTC_PATH / CUOP_NVCC_PATH',
      { error: firstLine(e), preference: settings.compiler.preference },
    );
  }
  const why = forced
    ? `CUOP_COMPILER=${settings.compiler.preference}`
    : compiler.id === 'nvrtc'
      ? 'auto: NVRTC opens; in-process, the fastest'
      : 'auto: NVRTC is not found, so nvcc';
  const details: Record<string, unknown> = {
    id: compiler.id,
    reason: why,
    preference: settings.compiler.preference,
  };
  try {
    const { version } = await compiler.info();
    const archs = await compiler.supportedArchs();
    // A real compile of a small kernel: for this host's GPU, else the newest arch the compiler knows.
    const arch = deviceArch ?? `sm_${Math.max(...archs)}`;
    const r = await compiler.compile({ source: TRIAL_SOURCE, arch });
    Object.assign(details, { version, trialArch: arch, trialMs: Math.round(r.compileMs) });
    return check(
      'compiler',
      'ok',
      `${compiler.id} ${version} will compile (${why}); a test kernel for ${arch} compiled`,
      undefined,
      details,
    );
  } catch (e) {
    details['error'] = firstLine(e);
    return check(
      'compiler',
      'fail',
      `${compiler.id} was chosen (${why}) but cannot compile: ${firstLine(e)}`,
      compiler.id === 'nvrtc'
        ? 'fix NVRTC (see the nvrtc check), or set CUOP_COMPILER=nvcc'
        : 'fix nvcc (see the nvcc check), or install NVRTC (pip install nvidia-cuda-nvrtc)',
      details,
    );
  }
}

/** The nearest directory that exists at or above `dir`. */
function existingAncestor(dir: string): string {
  let d = dir;
  while (!existsSync(d) && dirname(d) !== d) d = dirname(d);
  return d;
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function checkCacheDir(given: string | undefined, env: NodeJS.ProcessEnv): Promise<DoctorCheck> {
  const settings = getSettings(env);
  if (settings.cache.disabled)
    return check(
      'cache-dir',
      'warn',
      'the disk cache is disabled (CUOP_CACHE_DISABLE=1): kernels are cached in memory only',
      'unset CUOP_CACHE_DISABLE to keep compiled kernels across runs',
      { disabled: true },
    );
  const dir = given ?? resolveCacheDir(env);
  if (dir === null) return check('cache-dir', 'warn', 'no cache directory', 'set CUOP_CACHE_DIR', {});
  const rule = trustRule(settings.cache.sharing);
  const base: Record<string, unknown> = {
    path: dir,
    sharing: rule.sharing,
    formatVersion: { cuop: CACHE_FORMAT_VERSION },
  };
  const freeBytes = (at: string): number | undefined => {
    try {
      const s = statfsSync(at);
      return s.bavail * s.bsize;
    } catch {
      return undefined;
    }
  };
  const redirect = 'or point CUOP_CACHE_DIR (or --cache-dir) at a directory of your own';
  if (!existsSync(dir)) {
    const parent = existingAncestor(dir);
    const free = freeBytes(parent);
    Object.assign(base, { exists: false, freeBytes: free ?? null });
    return writable(parent)
      ? check(
          'cache-dir',
          'ok',
          `${dir} does not exist yet; it will be made at the first compile`,
          undefined,
          base,
        )
      : check(
          'cache-dir',
          'fail',
          `${dir} does not exist and ${parent} is not writable`,
          `mkdir -p ${dir}, ${redirect}`,
          base,
        );
  }
  const st = statSync(dir);
  const mode = `0${(st.mode & 0o7777).toString(8)}`;
  const free = freeBytes(dir);
  Object.assign(base, { exists: true, ownerUid: st.uid, mode, freeBytes: free ?? null });
  const where = `${dir} (owner uid ${st.uid}, mode ${mode})`;
  const problem = dirProblem(st, rule);
  if (problem)
    return check(
      'cache-dir',
      'fail',
      `${where} is refused: ${problem}; kernels would be cached in memory only`,
      `chown it to yourself and chmod 700, ${redirect}`,
      base,
    );
  if (!writable(dir))
    return check(
      'cache-dir',
      'fail',
      `${where} is not writable: its entries are read, new kernels are kept in memory only`,
      `chmod u+rwx ${dir}, ${redirect}`,
      base,
    );
  const warnings: string[] = [];
  const cache = new KernelCache({
    dir,
    env,
    remote: false,
    policy: { maintenanceIntervalMs: 0 },
    logger: { debug: () => {}, warn: (m) => warnings.push(m) },
  });
  try {
    if (cache.dir === null)
      return check('cache-dir', 'fail', `${where}: ${warnings[0] ?? 'refused by the cache'}`, redirect, {
        ...base,
        warnings,
      });
    const usage = await cache.diskUsage();
    const onDisk = Number.parseInt(cache.readRootFile(FORMAT_FILE)?.trim() ?? '', 10);
    Object.assign(base, {
      sizeBytes: usage.bytes,
      entries: usage.entries,
      formatVersion: { cuop: CACHE_FORMAT_VERSION, onDisk: Number.isFinite(onDisk) ? onDisk : null },
      ...(warnings.length ? { warnings } : {}),
    });
    const summary =
      `${where}: ${usage.entries} entries, ${mib(usage.bytes)}, format ${Number.isFinite(onDisk) ? onDisk : '?'}, ` +
      `${free === undefined ? 'free space unknown' : `${gib(free)} free`}`;
    if (warnings.length > 0)
      return check(
        'cache-dir',
        'warn',
        `${summary}; ${warnings[0]}`,
        'see the warning; `cuop cache verify` checks every entry',
        base,
      );
    if (free !== undefined && free < LOW_FREE_BYTES)
      return check(
        'cache-dir',
        'warn',
        `${summary}: little free space`,
        `free space on its disk, or cuop cache shrink <size>, ${redirect}`,
        base,
      );
    return check('cache-dir', 'ok', summary, undefined, base);
  } finally {
    await cache.close();
  }
}

async function checkRemote(env: NodeJS.ProcessEnv): Promise<DoctorCheck> {
  const r = await gatherRemote(env);
  if (r && 'error' in r) {
    const error = firstLine(new Error(r.error));
    return check(
      'remote',
      'fail',
      `the remote tier is misconfigured: ${error}`,
      'fix or unset CUOP_REMOTE_CACHE and the remote settings (cuop info lists them)',
      { configured: true, error },
    );
  }
  if (!r)
    return check(
      'remote',
      'ok',
      'none configured (CUOP_REMOTE_CACHE=redis://host:6379 shares kernels across hosts)',
      undefined,
      { configured: false },
    );
  const signing = r.readOnly ? 'read-only (no CUOP_REMOTE_SECRET)' : `signs with key id ${r.signing}`;
  const details = {
    configured: true,
    url: r.url,
    prefix: r.prefix,
    reachable: r.reachable,
    connectMs: r.connectMs,
    roundTripMs: r.roundTripMs,
    readOnly: r.readOnly,
    signing: r.signing,
  };
  if (r.connectMs === null)
    return check(
      'remote',
      'warn',
      `${r.url} is unreachable: lookups skip it (${signing})`,
      'check the server and CUOP_REMOTE_CACHE; kernels are still cached on this host',
      details,
    );
  const rtt = r.roundTripMs === null ? '?' : r.roundTripMs.toFixed(2);
  return check(
    'remote',
    'ok',
    `${r.url} reachable: connect ${r.connectMs.toFixed(1)} ms, round trip ${rtt} ms; ${signing}`,
    undefined,
    details,
  );
}

const STATUS_WORD: Record<CheckStatus, string> = { ok: 'ok', warn: 'WARN', fail: 'FAIL' };

/** One aligned line per check; a fix on the line below, indented; then one line of verdict. */
function printReport(report: DoctorReport): void {
  const idWidth = Math.max(...report.checks.map((c) => c.id.length));
  const indent = ' '.repeat(4 + 2 + idWidth + 2);
  for (const c of report.checks) {
    console.log(`${STATUS_WORD[c.status].padEnd(4)}  ${c.id.padEnd(idWidth)}  ${c.message}`);
    if (c.fix) console.log(`${indent}fix: ${c.fix}`);
  }
  const failed = report.checks.filter((c) => c.status === 'fail').map((c) => c.id);
  const warned = report.checks.filter((c) => c.status === 'warn').length;
  console.log(
    failed.length > 0
      ? `\ncuop doctor: missing what cuop needs (${failed.join(', ')})`
      : `\ncuop doctor: everything cuop needs is here${warned ? ` (${warned} warning${warned > 1 ? 's' : ''})` : ''}`,
  );
}
