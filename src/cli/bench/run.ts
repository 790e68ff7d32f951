// `cuop bench`: the seed's tables measured for real on this host. Every scenario runs against caches of its own in
// one scratch directory (removed at the end), under a salt of this run so that no tier (the remote one included)
// holds any of its keys yet. Output: a markdown table, or --json; --chart writes an SVG.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { KernelCache, type KeySpec } from '../../cache/index.js';
import { canonicalKernelName } from '../../compiler/names.js';
import { selectCompiler } from '../../compiler/select.js';
import type { Compiler, CompilerInfo } from '../../compiler/types.js';
import { JitCompiler } from '../../jit/jit-compiler.js';
import type { KernelSpec } from '../../jit/types.js';
import { Device } from '../../runtime/index.js';
import { getSettings } from '../../settings/index.js';
import type { LookupResult, StorageResult, WorkloadResult } from './child.js';
import { compareDirect } from './direct.js';
import { describeMachine, type MachineInfo } from './machine.js';
import { markdownReport } from './markdown.js';
import { runPeers } from './peers.js';
import { runCuopChild } from './processes.js';
import {
  DEFAULT_SM_COUNT,
  describeKernel,
  kernelSpec,
  planFor,
  variantOf,
  type BenchRow,
  type GroupName,
  type KernelName,
  type Plan,
} from './scenarios.js';
import { svgChart } from './svg-chart.js';

export interface BenchOptions {
  readonly json?: boolean;
  readonly chart?: string;
  readonly peers?: boolean;
  readonly quick?: boolean;
  readonly only?: GroupName[];
  /** internal: run one task as a fresh process (child.ts) */
  readonly child?: string;
}

/** The --json document (docs/cli-json.md, `## cuop bench`). */
export interface BenchReport {
  readonly schema: 1;
  readonly date: string;
  readonly machine: MachineInfo;
  readonly compiler: CompilerInfo | null;
  readonly arch: string;
  /** Kernels were loaded on the GPU (a driver and a device); false: compiled up to the image only. */
  readonly launch: boolean;
  readonly quick: boolean;
  readonly peers: boolean;
  readonly groups: readonly GroupName[];
  readonly rows: readonly BenchRow[];
  readonly elapsedMs: number;
}

/** A child that compiles may take long (heavy templates, a loaded host), but never forever. */
const CHILD_TIMEOUT_MS = 600_000;
const quiet = { debug: () => {}, warn: (m: string) => console.error(`cuop: ${m}`) };

interface Context {
  readonly plan: Plan;
  readonly scratch: string;
  readonly salt: string;
  readonly compiler: Compiler;
  readonly info: CompilerInfo;
  readonly arch: string;
  readonly device: Device | undefined;
  readonly smCount: number;
  readonly cores: number;
  readonly remote: { readonly ok: true } | { readonly ok: false; readonly why: string };
  /** A real image of gemm-256 and its key inputs, once compiled (the storage scenario copies it). */
  seed?: { image: Buffer; spec: KeySpec; kernelName: string };
}

export async function runBench(o: BenchOptions): Promise<number> {
  if (o.child) {
    const { runChildTask } = await import('./child.js');
    return runChildTask(o.child);
  }
  const started = performance.now();
  const plan = planFor(o.quick ?? false, o.only);
  const machine = describeMachine();
  let compiler: Compiler;
  let info: CompilerInfo;
  try {
    compiler = selectCompiler('auto');
    info = await compiler.info();
  } catch (e) {
    console.error(`cuop bench: no compiler to measure: ${e instanceof Error ? e.message : String(e)}`);
    console.error('  Install the CUDA toolkit (nvcc) or NVRTC, or see `cuop info`.');
    return 1;
  }
  const device = machine.gpu ? Device.get(0) : undefined;
  const scratch = mkdtempSync(join(tmpdir(), 'cuop-bench-'));
  const ctx: Context = {
    plan,
    scratch,
    salt: `bench-${randomBytes(6).toString('hex')}`,
    compiler,
    info,
    arch: machine.gpu?.arch ?? 'sm_90',
    device,
    smCount: machine.gpu?.smCount ?? DEFAULT_SM_COUNT,
    cores: machine.cores,
    remote: remoteState(),
  };
  const steps = [...plan.groups.map((g) => g as string), ...(o.peers ? ['peers'] : [])];
  const bar = await progressBar(steps.length, o.json === true);
  const rows: BenchRow[] = [];
  try {
    for (const g of plan.groups) {
      bar.step(g);
      rows.push(...(await runGroup(g, ctx)));
    }
    if (o.peers) {
      bar.step('peers');
      rows.push(...(await runPeers(peerKernels(ctx), scratch, plan)));
    }
  } finally {
    bar.stop();
    rmSync(scratch, { recursive: true, force: true, maxRetries: 3 });
  }
  const report: BenchReport = {
    schema: 1,
    date: new Date().toISOString(),
    machine,
    compiler: info,
    arch: ctx.arch,
    launch: device !== undefined,
    quick: o.quick ?? false,
    peers: o.peers ?? false,
    groups: plan.groups,
    rows,
    elapsedMs: performance.now() - started,
  };
  if (o.chart) writeFileSync(o.chart, svgChart(report));
  if (o.json) console.log(JSON.stringify(report, null, 2));
  else console.log(markdownReport(report));
  return 0;
}

function remoteState(): Context['remote'] {
  const r = getSettings().remote;
  if (!r.url)
    return { ok: false, why: 'no remote tier: set CUOP_REMOTE_CACHE=redis://host:6379 to measure one' };
  if (r.secrets.length === 0 && !r.allowUnsigned) {
    return {
      ok: false,
      why: 'the remote tier is read-only (no CUOP_REMOTE_SECRET): this run could publish nothing to read back',
    };
  }
  return { ok: true };
}

async function runGroup(g: GroupName, ctx: Context): Promise<BenchRow[]> {
  switch (g) {
    case 'storage':
      return storageRows(ctx);
    case 'hit-rate':
      return hitRateRows(ctx);
    case 'direct':
      return directRows(ctx);
    case 'concurrent':
      return concurrentRows(ctx);
    default:
      return kernelRows(g, ctx);
  }
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const list = (xs: readonly number[], digits = 1): string => xs.map((x) => x.toFixed(digits)).join(', ');
const what = (ctx: Context): string =>
  ctx.device
    ? `to a kernel loaded on ${ctx.device.name} (jit.kernel)`
    : `to the ${ctx.arch} image (jit.compile; no GPU driver here, so no module load)`;

/** First compile, in-process repeat, fresh-process disk hit and (configured) remote hit of one kernel. */
async function kernelRows(name: KernelName, run: Context): Promise<BenchRow[]> {
  // A salt per kernel: GEMM 256 and 1024 use the same kernel, and the 256 rows' compile (published to the remote
  // tier too) must not turn the 1024 compile into a hit.
  const ctx: Context = { ...run, salt: `${run.salt}-${name}` };
  const spec = kernelSpec(name, ctx.smCount);
  const about = describeKernel(name, spec);
  const dir = join(ctx.scratch, name);
  const cache = new KernelCache({
    dir,
    logger: quiet,
    policy: { salt: ctx.salt, maintenanceIntervalMs: 0 },
    ...(ctx.remote.ok ? {} : { remote: false }),
  });
  const jit = new JitCompiler({ cache, compiler: ctx.compiler });
  const get = async (): Promise<void> => {
    if (ctx.device) await jit.kernel(spec, ctx.device);
    else await jit.compile(spec, ctx.arch);
  };
  const rows: BenchRow[] = [];
  const base = { group: name, tool: 'cuop', kernel: name } as const;
  let compileMs: number;
  try {
    const t0 = performance.now();
    await get();
    compileMs = performance.now() - t0;
    if (cache.getStats().process.compiles !== 1) throw new Error('the first lookup did not compile');
  } catch (e) {
    await cache.close();
    const why = `the compile failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
    return (['compile', 'memory hit', 'disk hit', 'remote hit'] as const).map((series) =>
      skippedRow({ ...base, name: `${name}/${series}`, series, unit: 'ms', method: about }, why),
    );
  }
  rows.push({
    ...base,
    name: `${name}/compile`,
    series: 'compile',
    value: compileMs,
    unit: 'ms',
    method:
      `${about}: first lookup in this process against a fresh empty cache dir, through JitCompiler with ` +
      `${ctx.info.id} ${ctx.info.version}, ${what(ctx)}; the compiler was already initialized in this process`,
  });

  const repeats = ctx.plan.repeats;
  const t1 = performance.now();
  for (let i = 0; i < repeats; i++) await get();
  const memoryMs = (performance.now() - t1) / repeats;
  rows.push({
    ...base,
    name: `${name}/memory hit`,
    series: 'memory hit',
    value: memoryMs,
    unit: 'ms',
    ...speedup(compileMs, memoryMs),
    method: `the same lookup repeated in the same process, mean of ${repeats} (${ctx.device ? 'the JIT’s loaded-kernel map' : 'the memory tier'})`,
  });
  const image = (await jit.compile(spec, ctx.arch)).entry.image;
  ctx.seed ??= {
    image,
    kernelName: canonicalKernelName(spec.name),
    spec: {
      source: spec.source,
      nameExpressions: [canonicalKernelName(spec.name)],
      options: [...(spec.options ?? [])],
      compiler: { id: ctx.info.id, version: ctx.info.version },
      target: ctx.arch,
      imageKind: 'cubin',
    },
  };
  await cache.close(); // the stats, and the remote tier's publish queue, flushed

  const restarts: LookupResult[] = [];
  let failure: string | undefined;
  let wall: number[] = [];
  for (let i = 0; i < ctx.plan.restarts && failure === undefined; i++) {
    const r = await runCuopChild<LookupResult>(ctx.scratch, lookupTask(ctx, spec, dir, false), {
      timeoutMs: CHILD_TIMEOUT_MS,
    });
    if (!r.result) failure = r.failure;
    else if (r.result.tier !== 'disk')
      failure = `expected a disk hit, the fresh process got ${r.result.tier}`;
    else {
      restarts.push(r.result);
      wall.push(r.wallMs);
    }
  }
  const restartMethod =
    'application restart: a new cuop process opens the warm cache dir and looks the kernel up, timed from ' +
    `opening the cache ${what(ctx)}` +
    `${ctx.device ? ' (its CUDA context made before the clock)' : ''}; median of ${ctx.plan.restarts}`;
  if (failure !== undefined) {
    rows.push(
      skippedRow(
        { ...base, name: `${name}/disk hit`, series: 'disk hit', unit: 'ms', method: restartMethod },
        failure,
      ),
    );
  } else {
    const ms = median(restarts.map((r) => r.ms));
    rows.push({
      ...base,
      name: `${name}/disk hit`,
      series: 'disk hit',
      value: ms,
      unit: 'ms',
      ...speedup(compileMs, ms),
      method: restartMethod,
      notes: `samples ${list(
        restarts.map((r) => r.ms),
        2,
      )} ms; whole process ${list(wall, 0)} ms (Node start included)`,
    });
  }

  const remoteMethod =
    'a new cuop process with an empty cache dir and the remote tier (CUOP_REMOTE_CACHE) looks the kernel up, ' +
    `timed from opening the cache ${what(ctx)}; the first compile above published it; median of ${ctx.plan.restarts}`;
  if (!ctx.remote.ok) {
    rows.push(
      skippedRow(
        { ...base, name: `${name}/remote hit`, series: 'remote hit', unit: 'ms', method: remoteMethod },
        ctx.remote.why,
      ),
    );
  } else {
    const got: number[] = [];
    wall = [];
    failure = undefined;
    for (let i = 0; i < ctx.plan.restarts && failure === undefined; i++) {
      const r = await runCuopChild<LookupResult>(
        ctx.scratch,
        lookupTask(ctx, spec, join(ctx.scratch, `${name}-remote-${i}`), true),
        { timeoutMs: CHILD_TIMEOUT_MS },
      );
      if (!r.result) failure = r.failure;
      else if (r.result.tier !== 'remote')
        failure = `expected a remote hit, the fresh process got ${r.result.tier}`;
      else {
        got.push(r.result.ms);
        wall.push(r.wallMs);
      }
    }
    const ms = median(got);
    rows.push(
      failure !== undefined
        ? skippedRow(
            { ...base, name: `${name}/remote hit`, series: 'remote hit', unit: 'ms', method: remoteMethod },
            failure,
          )
        : {
            ...base,
            name: `${name}/remote hit`,
            series: 'remote hit',
            value: ms,
            unit: 'ms',
            ...speedup(compileMs, ms),
            method: remoteMethod,
            notes: `samples ${list(got, 2)} ms; whole process ${list(wall, 0)} ms`,
          },
    );
  }
  return rows;
}

function lookupTask(ctx: Context, spec: KernelSpec, cacheDir: string, remote: boolean): object {
  return {
    kind: 'lookup',
    cacheDir,
    salt: ctx.salt,
    remote,
    spec,
    arch: ctx.arch,
    launch: ctx.device !== undefined,
  };
}

function speedup(compileMs: number, ms: number): Pick<BenchRow, 'ratio' | 'ratioOf'> {
  return ms > 0 ? { ratio: compileMs / ms, ratioOf: 'compile / this' } : {};
}

function skippedRow(r: Omit<BenchRow, 'value' | 'skipped'>, why: string): BenchRow {
  return { ...r, value: null, skipped: why };
}

/** A real image to copy into synthesized entries: gemm-256's, compiled now unless a kernel row already has it. */
async function seedImage(ctx: Context): Promise<NonNullable<Context['seed']>> {
  if (ctx.seed) return ctx.seed;
  const spec = kernelSpec('gemm-256', ctx.smCount);
  const cache = new KernelCache({
    dir: join(ctx.scratch, 'seed'),
    logger: quiet,
    remote: false,
    policy: { salt: ctx.salt, maintenanceIntervalMs: 0 },
  });
  const jit = new JitCompiler({ cache, compiler: ctx.compiler });
  const image = (await jit.compile(spec, ctx.arch)).entry.image;
  await cache.close();
  const kernelName = canonicalKernelName(spec.name);
  ctx.seed = {
    image,
    kernelName,
    spec: {
      source: spec.source,
      nameExpressions: [kernelName],
      options: [...(spec.options ?? [])],
      compiler: { id: ctx.info.id, version: ctx.info.version },
      target: ctx.arch,
      imageKind: 'cubin',
    },
  };
  return ctx.seed;
}

async function storageRows(ctx: Context): Promise<BenchRow[]> {
  const seed = await seedImage(ctx);
  const imageFile = join(ctx.scratch, 'seed-image.cubin');
  writeFileSync(imageFile, seed.image);
  const rows: BenchRow[] = [];
  const method =
    `N entries put through the cache's API (KernelCache.getOrCompile with a compile that returns a copy of ` +
    `a real ${ctx.info.id} image: gemm-256's, ${seed.image.length} bytes) under N distinct keys (the GEMM ` +
    `source with a distinct __constant__), in a fresh process started with --expose-gc`;
  for (const count of ctx.plan.storageCounts) {
    const r = await runCuopChild<StorageResult>(
      ctx.scratch,
      {
        kind: 'storage',
        cacheDir: join(ctx.scratch, `storage-${count}`),
        count,
        imageFile,
        spec: seed.spec,
        kernelName: seed.kernelName,
      },
      { timeoutMs: CHILD_TIMEOUT_MS, nodeFlags: ['--expose-gc'] },
    );
    rmSync(join(ctx.scratch, `storage-${count}`), { recursive: true, force: true });
    const memName = `storage/${count}/memory`;
    const diskName = `storage/${count}/disk`;
    const memMethod = `${method}: heap + external (Buffers) grown by, after GC, with every entry in the memory tier`;
    const diskMethod = `${method}: blocks the cache dir takes on disk (st_blocks × 512, every file)`;
    if (!r.result) {
      const base = { group: 'storage', tool: 'cuop', unit: 'bytes' } as const;
      rows.push(skippedRow({ ...base, name: memName, method: memMethod }, r.failure ?? '?'));
      rows.push(skippedRow({ ...base, name: diskName, method: diskMethod }, r.failure ?? '?'));
      continue;
    }
    const s = r.result;
    rows.push({
      name: memName,
      group: 'storage',
      tool: 'cuop',
      value: s.memoryBytes,
      unit: 'bytes',
      method: memMethod,
      notes: `${kib(s.memoryBytes / count)} per kernel; RSS grew ${mib(s.rssBytes)}`,
    });
    rows.push({
      name: diskName,
      group: 'storage',
      tool: 'cuop',
      value: s.diskBytes,
      unit: 'bytes',
      method: diskMethod,
      notes:
        `${kib(s.diskBytes / count)} per kernel; ${s.files} files, ${mib(s.apparentBytes)} apparent; ` +
        `filled in ${(s.populateMs / 1000).toFixed(1)} s`,
    });
  }
  return rows;
}

const kib = (b: number): string => `${(b / 1024).toFixed(1)} KiB`;
const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;

async function hitRateRows(ctx: Context): Promise<BenchRow[]> {
  const { hitRateRuns: runs, hitRateKernels: k, hitRateCalls: calls } = ctx.plan;
  const gemm = kernelSpec('gemm-256', ctx.smCount);
  const specs = Array.from({ length: k }, (_, i) => variantOf(gemm, `mix${i}`));
  const dir = join(ctx.scratch, 'hit-rate');
  const method =
    `${runs} runs of one workload, each a fresh cuop process on the same cache dir: ${k} kernels (gemm-256 ` +
    `under ${k} distinct keys), each looked up ${calls} times ${what(ctx)}. Value: the persistent tiers' ` +
    `share (hits below memory / (those + misses)) from the process's stats`;
  const rows: BenchRow[] = [];
  for (let run = 1; run <= runs; run++) {
    const r = await runCuopChild<WorkloadResult>(
      ctx.scratch,
      {
        kind: 'workload',
        cacheDir: dir,
        salt: ctx.salt,
        remote: false,
        specs,
        calls,
        arch: ctx.arch,
        launch: ctx.device !== undefined,
      },
      { timeoutMs: CHILD_TIMEOUT_MS },
    );
    const name = `hit-rate/run-${run}`;
    if (!r.result) {
      rows.push(skippedRow({ name, group: 'hit-rate', tool: 'cuop', unit: '%', method }, r.failure ?? '?'));
      continue;
    }
    const s = r.result.stats;
    rows.push({
      name,
      group: 'hit-rate',
      tool: 'cuop',
      value: s.diskHitRate * 100,
      unit: '%',
      method,
      notes:
        `all tiers ${(s.hitRate * 100).toFixed(1)}%; ${s.compiles} compiled, ${s.hits['disk'] ?? 0} disk hits, ` +
        `${s.hits['memory'] ?? 0} memory hits; process ${(r.wallMs / 1000).toFixed(2)} s`,
    });
  }
  return rows;
}

async function directRows(ctx: Context): Promise<BenchRow[]> {
  const spec = variantOf(kernelSpec('gemm-256', ctx.smCount), 'direct');
  const rows: BenchRow[] = [];
  const base = { group: 'direct', tool: 'cuop' } as const;
  if (ctx.info.id !== 'nvrtc') {
    rows.push(
      skippedRow(
        {
          ...base,
          name: 'direct/cuop-vs-nvrtc',
          unit: 'ms',
          method: 'cold compile through cuop / the same NVRTC call',
        },
        `NVRTC is not the compiler here (${nvrtcAbsence()}); compared with nvcc below`,
      ),
    );
  }
  // NVRTC's compile varies by ±20 % from one call to the next, far more than cuop's share: more pairs where they
  // are cheap (~25 ms each), so the medians settle; nvcc's take a second each.
  const samples = ctx.info.id === 'nvrtc' ? ctx.plan.directSamples * 4 + 1 : ctx.plan.directSamples;
  try {
    const c = await compareDirect(ctx.compiler, spec, ctx.arch, ctx.scratch, samples, ctx.salt);
    const cuop = median(c.cuopMs);
    const direct = median(c.directMs);
    const method =
      `gemm-256 (${spec.name}), ${samples} interleaved pairs after one untimed warm-up each, ` +
      `median; cuop: jit.compile against an empty cache dir (opened before the clock; the compile, key, scan, ` +
      `lock, metadata and publish timed); direct: ${c.direct}`;
    rows.push({
      ...base,
      name: `direct/${c.compiler}`,
      value: direct,
      unit: 'ms',
      method,
      notes: `samples ${list(c.directMs, 0)} ms`,
    });
    rows.push({
      ...base,
      name: `direct/cuop-${c.compiler}`,
      value: cuop,
      unit: 'ms',
      ratio: cuop / direct,
      ratioOf: `cuop / direct ${c.compiler}`,
      method,
      notes:
        `target ≤ 1.05×; samples ${list(c.cuopMs, 0)} ms; cuop's own share (a sample less the compile ` +
        `time cuop recorded for it): median ${median(c.overheadMs).toFixed(2)} ms`,
    });
  } catch (e) {
    rows.push(
      skippedRow(
        {
          ...base,
          name: `direct/cuop-${ctx.info.id}`,
          unit: 'ms',
          method: 'cold compile through cuop / direct',
        },
        e instanceof Error ? e.message.split('\n')[0]! : String(e),
      ),
    );
  }
  return rows;
}

function nvrtcAbsence(): string {
  try {
    selectCompiler('nvrtc');
    return 'CUOP_COMPILER picks nvcc';
  } catch (e) {
    // The first line, without the list of places looked at (`cuop doctor` / `cuop info` show them).
    const first = (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
    return first.replace(/\.?\s*Looked in:?\s*$/, '');
  }
}

async function concurrentRows(ctx: Context): Promise<BenchRow[]> {
  const n = ctx.plan.concurrentProcesses;
  const gemm = kernelSpec('gemm-256', ctx.smCount);
  const child = (tag: string, dir: string): Promise<import('./processes.js').ChildOutcome<LookupResult>> =>
    runCuopChild<LookupResult>(ctx.scratch, lookupTask(ctx, variantOf(gemm, tag), dir, false), {
      timeoutMs: CHILD_TIMEOUT_MS,
    });
  const base = { group: 'concurrent', tool: 'cuop' } as const;
  const method =
    `wall time from spawning to the last exit of fresh cuop processes, each compiling gemm-256 under a key of ` +
    `its own (${what(ctx)}), all on one empty cache dir; ${ctx.plan.concurrentProcesses} processes against one ` +
    `alone on another empty dir; ${ctx.info.id}, ${ctx.cores} cores`;
  const solo = await child('solo', join(ctx.scratch, 'concurrent-1'));
  if (!solo.result || solo.result.tier !== 'compiled') {
    const why = solo.failure ?? `the process got a ${solo.result?.tier} hit, not a compile`;
    return [
      skippedRow({ ...base, name: 'concurrent/1-process', unit: 'ms', method }, why),
      skippedRow({ ...base, name: `concurrent/${n}-processes`, unit: 'ms', method }, why),
    ];
  }
  const dir = join(ctx.scratch, `concurrent-${n}`);
  const t0 = performance.now();
  const all = await Promise.all(Array.from({ length: n }, (_, i) => child(`p${i}`, dir)));
  const wall = performance.now() - t0;
  const rows: BenchRow[] = [
    {
      ...base,
      name: 'concurrent/1-process',
      value: solo.wallMs,
      unit: 'ms',
      method,
      notes: `its compile ${solo.result.ms.toFixed(0)} ms`,
    },
  ];
  const failed = all.filter((r) => !r.result);
  const keys = new Set(all.map((r) => r.result?.key));
  const compiled = all.filter((r) => r.result?.tier === 'compiled').length;
  if (failed.length > 0) {
    rows.push(
      skippedRow(
        { ...base, name: `concurrent/${n}-processes`, unit: 'ms', method },
        `${failed.length} of ${n} processes failed: ${failed[0]!.failure}`,
      ),
    );
  } else {
    rows.push({
      ...base,
      name: `concurrent/${n}-processes`,
      value: wall,
      unit: 'ms',
      ratio: wall / solo.wallMs,
      ratioOf: `${n} processes / 1`,
      method,
      notes:
        `${compiled} of ${n} compiled, ${keys.size} distinct keys; first kernel per ` +
        `process median ${median(all.map((r) => r.result!.ms)).toFixed(0)} ms`,
    });
  }
  return rows;
}

/** The kernels of this run for the peers, written as .cu files. */
function peerKernels(ctx: Context): { kernel: KernelName; file: string; name: string; options: string[] }[] {
  const out: { kernel: KernelName; file: string; name: string; options: string[] }[] = [];
  for (const g of ctx.plan.groups) {
    if (g === 'storage' || g === 'hit-rate' || g === 'direct' || g === 'concurrent') continue;
    const spec = kernelSpec(g, ctx.smCount);
    const file = join(ctx.scratch, `${g}.cu`);
    // A line naming the row: GEMM 256 and 1024 share a kernel, and a peer's in-memory cache would turn the second
    // row's cold compile into a hit (cuop's rows get a salt per kernel for the same reason).
    writeFileSync(file, `${spec.source}\n// cuop bench: ${g}\n`);
    out.push({ kernel: g, file, name: spec.name, options: [...(spec.options ?? [])] });
  }
  return out;
}

interface ProgressBar {
  step(label: string): void;
  stop(): void;
}

/** cli-progress on a terminal (loaded only then), never in --json mode; nothing otherwise. */
async function progressBar(total: number, json: boolean): Promise<ProgressBar> {
  if (json || !process.stderr.isTTY) return { step: () => {}, stop: () => {} };
  const { SingleBar, Presets } = await import('cli-progress');
  const bar = new SingleBar(
    { format: 'bench [{bar}] {value}/{total} {step}', stream: process.stderr, hideCursor: true },
    Presets.shades_classic,
  );
  let done = -1;
  bar.start(total, 0, { step: '' });
  return {
    step: (label) => bar.update(Math.max(0, ++done), { step: label }),
    stop: () => {
      bar.update(total, { step: 'done' });
      bar.stop();
    },
  };
}
