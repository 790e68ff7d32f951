// Hostile places (issue 20): the cache directory is read-only, another user's, world-writable, on a full disk, or a
// file. In each place, child processes (torture/hostile-child.ts) open the cache where CUOP_CACHE_DIR points, with the
// default logger, and ask for kernels whose "compile" returns real nvcc images (and, as root, one kernel compiled by
// nvcc for real through the cache). Refused places hold planted entries: self-consistent records whose image is
// another kernel's, so a refusal that does not happen shows up as a wrong image.
//
// Figures per place:
// - callers without a working kernel (must be 0): lookups that threw or got an image other than the one nvcc makes of
//   that source; a child that crashed or ran past its deadline counts all of its lookups.
// - warnings printed (must be the expected number): lines `cuop cache: warning:` on the children's stderr. The
//   decision: a process in a hostile place prints exactly one warning (the refusal, the unusable path, or the first
//   write that failed), whatever the number of lookups; a process in a sound place (the controls) prints none.
// - counter mismatches (must be 0): per process, compiles, misses, disk hits and memory hits against what the place
//   implies (a refused or unwritable place stores nothing; a read-only one still serves what it holds), and the
//   compile functions' calls against the compiles counter.
// - files changed in a refused place (must be 0): cuop leaves a directory it refuses (and a file at the cache path)
//   exactly as it was.
// The places that need root (mounts, chown) or another user are skipped, with the reason, where that is not possible.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { KernelCache } from '../src/cache/kernel-cache.js';
import { cacheKey, type KeySpec } from '../src/cache/key.js';
import { CacheLayout } from '../src/cache/layout.js';
import type { ChildJob, ChildReport } from './hostile-child.js';
import type { Figure, Scenario, ScenarioOptions } from './figures.js';

const NVCC = process.env['NVCC'] ?? '/usr/local/bin/nvcc';
const BUILD = fileURLToPath(new URL('../', import.meta.url)); // build/
const CHILD = join(BUILD, 'torture', 'hostile-child.js');
const CHILD_DEADLINE_MS = 60_000;
const WARNING = /^cuop cache: warning:/gm;
const IDENTITY = { id: 'nvcc', version: '13.0.88' } as const;

const kernelSource = (i: number): string =>
  `extern "C" __global__ void h${i}(float* a, const float* b, int n) {\n` +
  `  int t = blockIdx.x * blockDim.x + threadIdx.x;\n` +
  `  if (t < n) a[t] = a[t] * ${i + 3}.0f - b[t] * ${i}.25f;\n}\n`;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** nvcc's cubin of `source`, kept under the OS temp dir so repeated runs compile each kernel once. */
function nvccCubin(source: string): Buffer {
  const dir = join(tmpdir(), 'cuop-torture-cubins');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `${sha(Buffer.from(source)).slice(0, 16)}.cubin`);
  if (existsSync(out)) return readFileSync(out);
  const cu = `${out}.${process.pid}.cu`;
  writeFileSync(cu, source);
  const r = spawnSync(NVCC, ['-cubin', '-arch=sm_90', '-o', `${out}.${process.pid}`, cu], {
    stdio: 'pipe',
    timeout: 120_000,
  });
  rmSync(cu, { force: true });
  if (r.status !== 0) throw new Error(`nvcc failed: ${r.error?.message ?? String(r.stderr)}`);
  renameSync(`${out}.${process.pid}`, out);
  return readFileSync(out);
}

interface Kernel {
  readonly source: string;
  readonly name: string;
  readonly cubin: string;
  readonly sha: string;
}

interface Runner {
  /** The user the children run as; undefined = this process's user (root in CI). */
  readonly user?: string;
  /** The child script and the node binary that user can run. */
  readonly child: string;
  readonly node: string;
}

interface ChildOutcome {
  readonly report?: ChildReport;
  readonly warnings: number;
  readonly problem?: string;
}

/** One child, bounded: SIGKILL at the deadline. */
function runChild(runner: Runner, job: ChildJob, env: Record<string, string>): Promise<ChildOutcome> {
  const argv = [runner.child, JSON.stringify(job)];
  const [cmd, args] = runner.user
    ? setprivOk()
      ? [
          'setpriv',
          [
            `--reuid=${runner.user}`,
            `--regid=${runner.user === 'nobody' ? 'nogroup' : runner.user}`,
            '--clear-groups',
            runner.node,
            ...argv,
          ],
        ]
      : ['runuser', ['-u', runner.user, '--', runner.node, ...argv]]
    : [runner.node, argv];
  return new Promise((resolve) => {
    const child = spawn(cmd as string, args as string[], {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_DEADLINE_MS);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ warnings: 0, problem: `could not start: ${e.message}` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const warnings = err.match(WARNING)?.length ?? 0;
      if (code !== 0 || signal !== null) {
        resolve({ warnings, problem: `exit ${code ?? signal}: ${err.slice(-400)}` });
        return;
      }
      try {
        resolve({ report: JSON.parse(out) as ChildReport, warnings });
      } catch {
        resolve({ warnings, problem: `no report: ${out.slice(0, 200)}` });
      }
    });
  });
}

let setprivChecked: boolean | undefined;
function setprivOk(): boolean {
  setprivChecked ??= spawnSync('sh', ['-c', 'command -v setpriv'], { timeout: 5_000 }).status === 0;
  return setprivChecked;
}

const isRoot = process.getuid?.() === 0;

function mountTmpfs(at: string, sizeKb: number): string | undefined {
  if (!isRoot) return 'needs root (to mount a tmpfs), as on the CI machine';
  mkdirSync(at, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k,mode=0700`, 'tmpfs', at], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  return r.status === 0
    ? undefined
    : `mount is not permitted here (${(r.stderr || r.error?.message || '').trim()})`;
}
function umount(at: string): void {
  if (spawnSync('umount', [at], { timeout: 10_000 }).status !== 0)
    spawnSync('umount', ['-l', at], { timeout: 10_000 });
}

/** Every file and directory under `root` with what it is (mode, owner, size, content hash). */
function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (p: string): void => {
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (!st) return;
    const what = `${st.mode}:${st.uid}:${st.size}`;
    if (st.isDirectory()) {
      out.set(p, what);
      for (const n of readdirSync(p)) walk(join(p, n));
    } else out.set(p, st.isFile() ? `${what}:${sha(readFileSync(p))}` : what);
  };
  walk(root);
  return out;
}
function changed(before: Map<string, string>, after: Map<string, string>): number {
  let n = 0;
  for (const [p, v] of before) if (after.get(p) !== v) n++;
  for (const p of after.keys()) if (!before.has(p)) n++;
  return n;
}

const keySpec = (k: Pick<Kernel, 'source' | 'name'>): KeySpec => ({
  source: k.source,
  nameExpressions: [k.name],
  options: [],
  compiler: IDENTITY,
  target: 'sm_90',
  imageKind: 'cubin',
});

/** Publishes `kernels` into `dir`, each under its own key but with the image of `imageOf(i)` (planted when not i). */
async function publishInto(
  dir: string,
  kernels: readonly Kernel[],
  imageOf: (i: number) => Kernel,
): Promise<void> {
  const cache = new KernelCache({
    dir,
    env: {},
    logger: { warn: () => {}, debug: () => {} },
    policy: { maintenanceIntervalMs: 0 },
  });
  for (const [i, k] of kernels.entries()) {
    const planted = imageOf(i);
    await cache.getOrCompile(keySpec(k), async () => ({
      image: readFileSync(planted.cubin),
      imageKind: 'cubin',
      target: 'sm_90',
      log: '',
      loweredNames: { [k.name]: k.name },
      compileMs: 1,
      compiler: IDENTITY,
    }));
  }
  await cache.close();
}

/** The job's kernels with a complete entry (a metadata file: the kernel file is renamed into place first) in `dir`. */
function entriesOf(dir: string, job: ChildJob): number {
  const specs = [...job.kernels.map(keySpec), ...(job.nvcc ? [keySpec(job.nvcc)] : [])];
  return specs.filter((spec) => {
    return existsSync(new CacheLayout(dir).metaPath(cacheKey(spec)));
  }).length;
}

interface Place {
  readonly name: string;
  /** Who runs the children. */
  readonly asUser?: 'nobody';
  /** Why it cannot run here, if it cannot. */
  readonly skip?: () => string | undefined;
  /** Makes the place; returns the children's environment (CUOP_CACHE_DIR, HOME) and what to clean up. */
  readonly setup: (ctx: PlaceContext) => Promise<{ env: Record<string, string>; cleanup?: () => void }>;
  /** Kernels of the job, `many` for the disk that fills up. */
  readonly many?: boolean;
  /** Warnings each process must print. */
  readonly warnings: 0 | 1;
  /**
   * Whether the place's entries may be served: then a process hits every kernel of its job whose entry is on disk when
   * it starts (sound and read-only places); otherwise (refused places) it compiles every kernel.
   */
  readonly serves: boolean;
  /** The place is refused: its files must be left exactly as they were. */
  readonly untouched?: string;
  /** Run the children at once (places where nothing persists, so the counters do not depend on the order). */
  readonly concurrent?: boolean;
}

interface PlaceContext {
  readonly root: string;
  readonly kernels: readonly Kernel[];
  readonly manyKernels: readonly Kernel[];
  /** nobody's uid and gid. */
  readonly nobody?: { uid: number; gid: number };
  /** Runs one child as `asUser` to prepare a place (its own entries). */
  readonly prepareAs: (env: Record<string, string>, kernels: readonly Kernel[]) => Promise<void>;
}

const half = (ks: readonly Kernel[]): Kernel[] => ks.slice(0, Math.floor(ks.length / 2));
const planted = (ks: readonly Kernel[]) => (i: number) => ks[(i + 1) % ks.length] as Kernel;

function places(): Place[] {
  const needRoot = (): string | undefined =>
    isRoot ? undefined : 'needs root (chown, chmod of a dir root made)';
  return [
    {
      name: 'a private dir (control)',
      warnings: 0,
      serves: true,
      setup: async ({ root }) => ({ env: { CUOP_CACHE_DIR: join(root, 'cache') } }),
    },
    {
      name: 'a read-only mount (half of the kernels on it)',
      warnings: 1,
      serves: true,
      concurrent: true,
      skip: needRoot,
      setup: async ({ root, kernels }) => {
        const at = join(root, 'ro-mount');
        const why = mountTmpfs(at, 4096);
        if (why) throw new SkipPlace(why);
        await publishInto(join(at, 'cache'), half(kernels), (i) => kernels[i] as Kernel);
        const r = spawnSync('mount', ['-o', 'remount,ro', at], { encoding: 'utf8', timeout: 10_000 });
        if (r.status !== 0) {
          umount(at);
          throw new SkipPlace(`remount read-only is not permitted (${r.stderr.trim()})`);
        }
        return { env: { CUOP_CACHE_DIR: join(at, 'cache') }, cleanup: () => umount(at) };
      },
    },
    {
      name: 'a dir owned by another user (nobody), as root',
      warnings: 1,
      serves: false,
      concurrent: true,
      skip: needRoot,
      untouched: 'cache',
      setup: async ({ root, kernels, nobody }) => {
        if (!nobody) throw new SkipPlace('no user nobody');
        const dir = join(root, 'cache');
        await publishInto(dir, kernels, planted(kernels));
        spawnSync('chown', ['-R', `${nobody.uid}:${nobody.gid}`, dir], { timeout: 10_000 });
        return { env: { CUOP_CACHE_DIR: dir } };
      },
    },
    {
      name: 'a world-writable dir (mode 0777)',
      warnings: 1,
      serves: false,
      concurrent: true,
      untouched: 'cache',
      setup: async ({ root, kernels }) => {
        const dir = join(root, 'cache');
        await publishInto(dir, kernels, planted(kernels));
        chmodSync(dir, 0o777);
        return { env: { CUOP_CACHE_DIR: dir } };
      },
    },
    {
      name: 'a world-writable kernels/ inside the tree',
      warnings: 1,
      serves: false,
      concurrent: true,
      untouched: 'cache',
      setup: async ({ root, kernels }) => {
        const dir = join(root, 'cache');
        await publishInto(dir, kernels, planted(kernels));
        chmodSync(join(dir, 'kernels'), 0o1777);
        return { env: { CUOP_CACHE_DIR: dir } };
      },
    },
    {
      name: 'a full disk (1 MB tmpfs, filled)',
      warnings: 1,
      serves: false,
      concurrent: true,
      setup: async ({ root }) => {
        const at = join(root, 'full');
        const why = mountTmpfs(at, 1024);
        if (why) throw new SkipPlace(why);
        fill(at);
        return { env: { CUOP_CACHE_DIR: join(at, 'cache') }, cleanup: () => umount(at) };
      },
    },
    {
      name: 'a disk that fills up during the run (1 MB tmpfs)',
      warnings: 1,
      serves: true,
      many: true,
      setup: async ({ root }) => {
        const at = join(root, 'filling');
        const why = mountTmpfs(at, 1024);
        if (why) throw new SkipPlace(why);
        return { env: { CUOP_CACHE_DIR: join(at, 'cache') }, cleanup: () => umount(at) };
      },
    },
    {
      name: 'the cache dir path is a file',
      warnings: 1,
      serves: false,
      concurrent: true,
      untouched: 'file',
      setup: async ({ root }) => {
        writeFileSync(join(root, 'file'), 'a file of the user, not a cache\n', { mode: 0o600 });
        return { env: { CUOP_CACHE_DIR: join(root, 'file') } };
      },
    },
    {
      name: 'the cache dir path is below a file',
      warnings: 1,
      serves: false,
      concurrent: true,
      untouched: 'file',
      setup: async ({ root }) => {
        writeFileSync(join(root, 'file'), 'a file of the user, not a cache\n', { mode: 0o600 });
        return { env: { CUOP_CACHE_DIR: join(root, 'file', 'cuop') } };
      },
    },
    {
      name: 'own private dir, as nobody (control)',
      asUser: 'nobody',
      warnings: 0,
      serves: true,
      setup: async ({ root, nobody }) => {
        const dir = join(root, 'cache');
        mkdirSync(dir, { mode: 0o700 });
        chownSync(dir, nobody!.uid, nobody!.gid);
        return { env: { CUOP_CACHE_DIR: dir, HOME: '/nonexistent' } };
      },
    },
    {
      name: 'own dir made read-only (chmod -R a-w), as nobody',
      asUser: 'nobody',
      warnings: 1,
      serves: true,
      concurrent: true,
      setup: async ({ root, nobody, kernels, prepareAs }) => {
        const dir = join(root, 'cache');
        mkdirSync(dir, { mode: 0o700 });
        chownSync(dir, nobody!.uid, nobody!.gid);
        const env = { CUOP_CACHE_DIR: dir, HOME: '/nonexistent' };
        await prepareAs(env, half(kernels));
        spawnSync('chmod', ['-R', 'a-w', dir], { timeout: 10_000 });
        return { env };
      },
    },
    {
      name: "root's dir, as nobody",
      asUser: 'nobody',
      warnings: 1,
      serves: false,
      concurrent: true,
      untouched: 'cache',
      setup: async ({ root, kernels }) => {
        const dir = join(root, 'cache');
        await publishInto(dir, kernels, planted(kernels));
        spawnSync('chmod', ['-R', 'a+rX', dir], { timeout: 10_000 }); // readable: only the owner rule refuses it
        return { env: { CUOP_CACHE_DIR: dir, HOME: '/nonexistent' } };
      },
    },
    {
      name: 'no CUOP_CACHE_DIR and a HOME that cannot be made, as nobody',
      asUser: 'nobody',
      warnings: 1,
      serves: false,
      concurrent: true,
      setup: async () => ({ env: { HOME: '/nonexistent' } }),
    },
  ];
}

class SkipPlace extends Error {}

/** Fills the file system at `at` until it has no space left. */
function fill(at: string): void {
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  for (let i = 0; ; i++) {
    try {
      writeFileSync(join(at, `filler-${i}`), chunk);
    } catch {
      break;
    }
  }
  for (let i = 0; ; i++) {
    try {
      writeFileSync(join(at, `small-${i}`), 'x'.repeat(512));
    } catch {
      break;
    }
  }
}

/** A world-readable copy of what the children need, and a node binary another user may run. */
function stageFor(user: string, root: string): Runner | string {
  if (!isRoot) return 'needs root (to run a child as nobody)';
  if (!setprivOk() && spawnSync('sh', ['-c', 'command -v runuser'], { timeout: 5_000 }).status !== 0)
    return 'neither setpriv nor runuser is available';
  const stage = join(root, 'stage');
  mkdirSync(stage, { mode: 0o755 });
  for (const part of ['src/cache', 'src/settings', 'src/cuda/errors.js', 'torture/hostile-child.js']) {
    cpSync(join(BUILD, part), join(stage, part), { recursive: true });
  }
  writeFileSync(join(stage, 'package.json'), '{"type":"module"}');
  let node = process.execPath;
  const asUser = (n: string): boolean =>
    spawnSync(
      setprivOk() ? 'setpriv' : 'runuser',
      setprivOk()
        ? [`--reuid=${user}`, '--regid=nogroup', '--clear-groups', n, '-e', '0']
        : ['-u', user, '--', n, '-e', '0'],
      { timeout: 20_000 },
    ).status === 0;
  if (!asUser(node)) {
    copyFileSync(process.execPath, join(stage, 'node'));
    node = join(stage, 'node');
  }
  spawnSync('chmod', ['-R', 'a+rX', stage], { timeout: 10_000 });
  chmodSync(root, 0o755);
  if (!asUser(node)) return `${user} cannot run node (${node})`;
  return { user, node, child: join(stage, 'torture/hostile-child.js') };
}

async function run(o: ScenarioOptions): Promise<Figure[]> {
  const processes = o.short ? 2 : 4;
  const rounds = o.short ? 2 : 3;
  const distinct = o.short ? 4 : 8;
  const many = o.short ? 160 : 240;
  const kernels: Kernel[] = [];
  for (let i = 0; i < distinct; i++) {
    const source = kernelSource(i);
    const bytes = nvccCubin(source);
    const cubin = join(o.workDir, `h${i}.cubin`);
    writeFileSync(cubin, bytes, { mode: 0o644 });
    kernels.push({ source, name: `h${i}`, cubin, sha: sha(bytes) });
  }
  // The disk that fills up: many keys (one source each, a comment apart), each compiled to its kernel's image.
  const manyKernels = Array.from({ length: many }, (_, i) => {
    const k = kernels[i % distinct] as Kernel;
    return { ...k, source: `${k.source}// copy ${i}\n` };
  });
  // The one kernel compiled by nvcc for real through the cache (root's children): its image as nvcc makes it.
  const realSource =
    'extern "C" __global__ void hreal(float* x, int n) { if (threadIdx.x < n) x[threadIdx.x] += 1.0f; }';
  const { NvccCompiler } = await import('../src/compiler/nvcc-compiler.js');
  const real = await new NvccCompiler().compile({
    source: realSource,
    arch: 'sm_90',
    nameExpressions: ['hreal'],
  });
  const nvcc = { source: realSource, name: 'hreal', sha: sha(real.image) };
  const nobodyId = ((): { uid: number; gid: number } | undefined => {
    const u = spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8', timeout: 5_000 });
    const g = spawnSync('id', ['-g', 'nobody'], { encoding: 'utf8', timeout: 5_000 });
    return u.status === 0 && g.status === 0 ? { uid: Number(u.stdout), gid: Number(g.stdout) } : undefined;
  })();
  const self: Runner = { node: process.execPath, child: CHILD };
  const staged = stageFor('nobody', o.workDir);
  chmodSync(o.workDir, 0o755);
  for (const k of kernels) chmodSync(k.cubin, 0o644);

  const figures: Figure[] = [];
  let tried = 0;
  const fig = (place: string, figure: string, value: number, unit?: string, mustBe?: number): void => {
    figures.push({
      scenario: 'hostile',
      figure: `${place}: ${figure}`,
      value,
      ...(unit === undefined ? {} : { unit }),
      ...(mustBe === undefined ? {} : { mustBe }),
    });
  };

  for (const [pi, place] of places().entries()) {
    const why = place.skip?.() ?? (place.asUser && typeof staged === 'string' ? staged : undefined);
    if (why || (place.asUser && !nobodyId)) {
      fig(place.name, `skipped: ${why ?? 'no user nobody'}`, 0, 'skipped');
      o.log(`hostile: ${place.name}: skipped (${why})`);
      continue;
    }
    const runner = place.asUser ? (staged as Runner) : self;
    const root = join(o.workDir, `place-${pi}`);
    mkdirSync(root, { mode: 0o755 });
    if (place.asUser) chmodSync(root, 0o755);
    let made: { env: Record<string, string>; cleanup?: () => void };
    const prepareAs = async (env: Record<string, string>, ks: readonly Kernel[]): Promise<void> => {
      const r = await runChild(runner, { kernels: ks, rounds: 1 }, env);
      if (!r.report || r.report.failed > 0)
        throw new Error(`preparing ${place.name} failed: ${r.problem ?? ''}`);
    };
    try {
      made = await place.setup({
        root,
        kernels,
        manyKernels,
        ...(nobodyId ? { nobody: nobodyId } : {}),
        prepareAs,
      });
    } catch (e) {
      if (!(e instanceof SkipPlace)) throw e;
      fig(place.name, `skipped: ${e.message}`, 0, 'skipped');
      o.log(`hostile: ${place.name}: skipped (${e.message})`);
      continue;
    }
    tried++;
    try {
      const ks = place.many ? manyKernels : kernels;
      const withReal = runner === self;
      const job = (first: boolean): ChildJob => ({
        kernels: ks,
        rounds,
        // nvcc for real: every process in the full run, the first of each place in the short one
        ...(withReal && (first || !o.short) ? { nvcc } : {}),
      });
      const watched = place.untouched ? join(root, place.untouched) : undefined;
      const before = watched ? snapshot(watched) : undefined;
      const env = { ...made.env, HOME: made.env['HOME'] ?? join(root, 'home') };
      const outcomes: { job: ChildJob; outcome: ChildOutcome; onDiskBefore: number }[] = [];
      const cacheDir = made.env['CUOP_CACHE_DIR'];
      const served = (j: ChildJob): number => (place.serves && cacheDir ? entriesOf(cacheDir, j) : 0);
      if (place.concurrent) {
        const jobs = Array.from({ length: processes }, (_, i) => job(i === 0));
        const onDisk = jobs.map(served);
        const res = await Promise.all(jobs.map((j) => runChild(runner, j, env)));
        res.forEach((outcome, i) =>
          outcomes.push({ job: jobs[i] as ChildJob, outcome, onDiskBefore: onDisk[i] as number }),
        );
      } else {
        for (let i = 0; i < processes; i++) {
          const j = job(i === 0);
          const onDiskBefore = served(j);
          outcomes.push({ job: j, outcome: await runChild(runner, j, env), onDiskBefore });
        }
      }
      let noKernel = 0;
      let warnings = 0;
      let mismatches = 0;
      const problems: string[] = [];
      for (const { job: j, outcome, onDiskBefore } of outcomes) {
        const asked = j.kernels.length * j.rounds + (j.nvcc ? j.rounds : 0);
        warnings += outcome.warnings;
        if (outcome.warnings !== place.warnings) problems.push(`${outcome.warnings} warnings`);
        const r = outcome.report;
        if (!r) {
          noKernel += asked;
          mismatches++;
          problems.push(outcome.problem ?? 'no report');
          continue;
        }
        noKernel += r.failed + (asked - r.lookups);
        if (r.errors.length > 0) problems.push(...r.errors);
        // What the place implies for this process's counters: hits for what it may serve, compiles for the rest.
        const distinctAsked = j.kernels.length + (j.nvcc ? 1 : 0);
        const compiles = distinctAsked - onDiskBefore;
        const want = {
          compiles,
          misses: compiles,
          diskHits: distinctAsked - compiles,
          memoryHits: distinctAsked * (j.rounds - 1),
          compileCalls: compiles,
        };
        const got = { ...r.stats, compileCalls: r.compileCalls };
        for (const key of Object.keys(want) as (keyof typeof want)[]) {
          if (got[key] !== want[key]) {
            mismatches++;
            problems.push(`${key} ${got[key]}, expected ${want[key]}`);
          }
        }
      }
      const where = `in ${outcomes.length} processes`;
      fig(
        place.name,
        'callers without a working kernel',
        noKernel,
        `of ${outcomes.reduce((n, x) => n + x.job.kernels.length * x.job.rounds + (x.job.nvcc ? x.job.rounds : 0), 0)} lookups`,
        0,
      );
      fig(
        place.name,
        'warnings printed',
        warnings,
        `${where}, ${place.warnings} each`,
        place.warnings * outcomes.length,
      );
      fig(place.name, 'counter mismatches', mismatches, where, 0);
      if (watched && before)
        fig(
          place.name,
          'files changed in the refused place',
          changed(before, snapshot(watched)),
          `of ${before.size}`,
          0,
        );
      if (problems.length > 0)
        o.log(`hostile: ${place.name}: ${[...new Set(problems)].slice(0, 6).join('; ')}`);
    } finally {
      made.cleanup?.();
    }
  }
  figures.unshift({
    scenario: 'hostile',
    figure: 'places tried',
    value: tried,
    unit: `of ${places().length}`,
  });
  return figures;
}

const scenario: Scenario = {
  name: 'hostile',
  description:
    'read-only, foreign, world-writable, full and file-shaped cache dirs: child processes get the right image, one warning, right counters',
  run,
};
export default scenario;
