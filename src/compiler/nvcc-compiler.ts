// nvcc as a subprocess: the backend for hosts without libnvrtc (CPU-only CI, containers with the toolkit only).
// Every compile runs in a private temp dir holding the source and the in-memory headers as files, removed afterwards.
import { accessSync, constants, realpathSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, normalize, resolve, sep } from 'node:path';
import { performance } from 'node:perf_hooks';

import {
  compileDependencies,
  parseDepfile,
  scanRequest,
  unchangedSinceScan,
  withReportedFiles,
} from './dependencies.js';
import { CompileError, CompilerUnavailableError } from './errors.js';
import { absolutizePathOptions, NVCC_DIALECT } from './options.js';
import { signaturesOf } from './signatures.js';
import { run, type RunResult } from './subprocess.js';
import { isRelocatable } from './linker.js';
import { checkRequest, resolveTarget, sourceFileName } from './select.js';
import { getSettings } from '../settings/index.js';
import type { CompileRequest, CompileResult, Compiler, CompilerInfo } from './types.js';

/** Where NvccCompiler finds nvcc, which environment it runs in, and how long a compile may take. */
export interface NvccCompilerOptions {
  /** Path of the nvcc executable (or of the directory holding it). Taken as is: no search when given. */
  readonly nvccPath?: string;
  /** Environment for the search (CUOP_NVCC_PATH, CUDA_PATH, CUDA_HOME, PATH) and for nvcc itself. */
  readonly env?: NodeJS.ProcessEnv;
  /** Where the per-compile temp dirs are created; default os.tmpdir(). */
  readonly tempRoot?: string;
  /** A compile running longer is stopped and fails (default 10 minutes, or CUOP_COMPILE_TIMEOUT_MS). */
  readonly timeoutMs?: number;
}

const devNull = process.platform === 'win32' ? 'NUL' : '/dev/null';
const NVCC_EXE = process.platform === 'win32' ? 'nvcc.exe' : 'nvcc';
/** Prefix of the device variables that record each name expression's symbol. */
const NAME_EXPR_VAR = '__cuop_name_expr_';
const DEFAULT_PROGRAM_NAME = 'program.cu';
/** nvcc --version, --list-gpu-code, --dryrun. */
const QUERY_TIMEOUT_MS = 60_000;

/**
 * Find nvcc: the `nvccPath` option (authoritative), then CUOP_NVCC_PATH, CUDA_PATH/bin, CUDA_HOME/bin, each PATH
 * entry, /usr/local/cuda/bin. Synchronous and runs nothing. Throws a CompilerUnavailableError listing every place
 * looked at.
 */
export function findNvcc(options: { nvccPath?: string | undefined; env?: NodeJS.ProcessEnv } = {}): string {
  const env = options.env ?? process.env;
  if (options.nvccPath) {
    const why = whyNotExecutable(asExecutable(options.nvccPath));
    if (why)
      throw new CompilerUnavailableError(`nvcc not usable at ${options.nvccPath} (nvccPath option: ${why})`);
    return asExecutable(options.nvccPath);
  }
  const candidates: { path: string; source: string }[] = [];
  const explicit = getSettings(env).compiler.nvccPath;
  if (explicit) candidates.push({ path: asExecutable(explicit), source: 'CUOP_NVCC_PATH' });
  for (const v of ['CUDA_PATH', 'CUDA_HOME']) {
    const root = env[v];
    if (root) candidates.push({ path: join(root, 'bin', NVCC_EXE), source: v });
  }
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (dir) candidates.push({ path: join(dir, NVCC_EXE), source: 'PATH' });
  }
  candidates.push({ path: join('/usr/local/cuda/bin', NVCC_EXE), source: 'default toolkit' });

  const tried: string[] = [];
  const seen = new Set<string>();
  for (const c of candidates) {
    if (seen.has(c.path)) continue;
    seen.add(c.path);
    const why = whyNotExecutable(c.path);
    if (!why) return c.path;
    tried.push(`${c.path} (${c.source}: ${why})`);
  }
  throw new CompilerUnavailableError(
    `could not find nvcc. Looked in:\n${tried.map((t) => `  - ${t}`).join('\n')}\n` +
      `Set CUOP_NVCC_PATH to nvcc's full path, or CUDA_PATH to the toolkit root.`,
  );
}

function asExecutable(p: string): string {
  try {
    if (statSync(p, { throwIfNoEntry: false })?.isDirectory()) return join(p, NVCC_EXE);
  } catch {
    // not there: reported by whyNotExecutable
  }
  return p;
}

function whyNotExecutable(p: string): string | undefined {
  try {
    // A missing candidate (most of PATH) without an exception: each thrown one cost ~30 µs in a fresh process.
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) return 'not found';
    if (!st.isFile()) return 'not a file';
    accessSync(p, constants.X_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'not found' : code === 'EACCES' ? 'not executable' : String(code ?? err);
  }
}

/** `name` as a path inside `dir`; throws for names that would escape it. */
function headerPath(dir: string, name: string): string {
  const rel = normalize(name);
  if (
    !name ||
    name.includes('\0') ||
    isAbsolute(name) ||
    rel === '.' ||
    rel === '..' ||
    rel.startsWith(`..${sep}`)
  ) {
    throw new TypeError(
      `header name ${JSON.stringify(name)} must be a relative path such as "gemm/tile.cuh"`,
    );
  }
  return join(dir, rel);
}

/**
 * NVRTC lowers name expressions (`gemm<float, 64>`) to mangled symbols; nvcc has no such API. Emulate it: one device
 * variable per expression, initialized with the expression's address. That instantiates the template, and the PTX
 * initializer (`= _Z...;` for a kernel, `= generic(_Z...);` for a variable) names the symbol. `#line` makes an invalid
 * expression's error point at `cuop-name-expression-<i>(1)` rather than a line past the end of the user's source.
 */
function nameExpressionSuffix(expressions: readonly string[]): string {
  return expressions
    .map((expr, i) => {
      const operand = expr.trim().replace(/^&\s*/, '');
      return `\n#line 1 "cuop-name-expression-${i}"\n__device__ void *${NAME_EXPR_VAR}${i} = (void *)&(${operand});`;
    })
    .join('')
    .concat('\n');
}

function lowerNames(ptx: string, expressions: readonly string[]): Record<string, string> {
  const lowered: Record<string, string> = {};
  expressions.forEach((expr, i) => {
    const m = new RegExp(`${NAME_EXPR_VAR}${i}\\s*=\\s*(?:generic\\(\\s*)?([A-Za-z_$%][\\w$]*)`).exec(ptx);
    if (!m?.[1])
      throw new Error(`nvcc: could not find the lowered name of name expression ${JSON.stringify(expr)}`);
    lowered[expr] = m[1];
  });
  return lowered;
}

/**
 * nvcc runs its steps (the host preprocessor, cicc, ptxas) through a shell, each argument in double quotes: inside
 * them `$(…)`, `${…}` and backticks run or expand, and a backslash escapes the closing quote (the next argument is
 * then shell syntax). NVRTC has no shell; nvcc gets no argument holding one of these (a TypeError names it).
 */
const SHELL_ACTIVE = process.platform === 'win32' ? /[$`]/ : /[$`\\]/;

function checkShellSafe(args: readonly string[], userOptions: readonly string[]): void {
  for (const a of args) {
    const m = SHELL_ACTIVE.exec(a);
    if (!m) continue;
    const i = userOptions.indexOf(a);
    const what =
      i >= 0
        ? `options[${i}] (${JSON.stringify(a)})`
        : `the nvcc argument ${JSON.stringify(a)} (from TMPDIR)`;
    throw new TypeError(
      `compile request: ${what} holds ${JSON.stringify(m[0])}, which nvcc would hand to a shell (it runs its ` +
        `steps through sh, where $, \` and \\ are not plain characters); refused. Spell the value without it, or ` +
        `use NVRTC, which runs no shell.`,
    );
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export class NvccCompiler implements Compiler {
  readonly id = 'nvcc' as const;
  private readonly env: NodeJS.ProcessEnv;
  private readonly tempRoot: string;
  private nvccPath: string | undefined;
  private infoPromise: Promise<CompilerInfo> | undefined;
  private archsPromise: Promise<number[]> | undefined;
  private includesPromise: Promise<string[]> | undefined;

  private readonly timeoutMs: number;

  constructor(private readonly options: NvccCompilerOptions = {}) {
    this.env = options.env ?? process.env;
    this.tempRoot = options.tempRoot ?? tmpdir();
    // CUOP_COMPILE_TIMEOUT_MS, else the default (10 minutes: heavy template code can take minutes).
    this.timeoutMs = options.timeoutMs ?? getSettings(this.env).compiler.timeoutMs;
  }

  /** The nvcc executable this compiler runs (searched once). Throws CompilerUnavailableError when there is none. */
  get path(): string {
    this.nvccPath ??= findNvcc({ nvccPath: this.options.nvccPath, env: this.env });
    return this.nvccPath;
  }

  /**
   * The toolkit's own include dirs (cuda_runtime.h, cuda_fp16.h, cccl/), as nvcc itself passes them (its INCLUDES
   * and SYSTEM_INCLUDES in `nvcc --dryrun`: the nvcc on PATH may be a wrapper script), with their real paths.
   * Headers there are covered by nvcc's version, not hashed one by one. Asked once.
   */
  toolkitIncludeDirs(): Promise<string[]> {
    this.includesPromise ??= this.readToolkitIncludes();
    return this.includesPromise;
  }

  private async readToolkitIncludes(): Promise<string[]> {
    const r = await this.runNvcc(['--dryrun', '-x', 'cu', '-cubin', '-o', devNull, devNull]);
    const dirs = new Set<string>();
    for (const line of `${r.stdout}\n${r.stderr}`.split('\n')) {
      const m = /^#\$\s*(?:SYSTEM_)?INCLUDES=(.*)$/.exec(line.trim());
      if (!m?.[1]) continue;
      const tokens = [...(m[1].matchAll(/"([^"]*)"|(\S+)/g) ?? [])].map((t) => t[1] ?? t[2] ?? '');
      for (let i = 0; i < tokens.length; i++) {
        const t = tokens[i] as string;
        const dir =
          t === '-isystem' || t === '-I' ? tokens[++i] : t.startsWith('-I') ? t.slice(2) : undefined;
        if (!dir) continue;
        dirs.add(resolve(dir));
        try {
          dirs.add(realpathSync(dir));
        } catch {
          // listed but absent: nothing can be found there
        }
      }
    }
    return [...dirs];
  }

  /** `nvcc --version` → `{ id: 'nvcc', version: '13.0.88' }`, asked once. */
  info(): Promise<CompilerInfo> {
    this.infoPromise ??= this.readInfo().catch((err: unknown) => {
      this.infoPromise = undefined;
      throw err;
    });
    return this.infoPromise;
  }

  /** Archs nvcc can emit cubins for (`nvcc --list-gpu-code`, else `--list-gpu-arch`), ascending, asked once. */
  supportedArchs(): Promise<number[]> {
    this.archsPromise ??= this.readArchs().catch((err: unknown) => {
      this.archsPromise = undefined;
      throw err;
    });
    return this.archsPromise.then((a) => [...a]);
  }

  private async readInfo(): Promise<CompilerInfo> {
    const nvcc = this.path;
    const r = await this.runNvcc(['--version']);
    const text = `${r.stdout}\n${r.stderr}`;
    const m = /release (\d+)\.(\d+)(?:, V(\d+(?:\.\d+)+))?/.exec(text);
    if (r.code !== 0 || !m) {
      throw new CompilerUnavailableError(`${nvcc} --version failed (exit ${r.code}): ${text.trim()}`);
    }
    const version = m[3] ?? `${m[1]}.${m[2]}`;
    const extra = nvccEnvFlags(this.env);
    // nvcc adds NVCC_PREPEND_FLAGS / NVCC_APPEND_FLAGS to every command line: they change the machine code as much
    // as options do, so they become part of the identity (and so of every cache key).
    return { id: 'nvcc', version: extra ? `${version}+env:${extra}` : version };
  }

  private async readArchs(): Promise<number[]> {
    for (const [flag, prefix] of [
      ['--list-gpu-code', 'sm'],
      ['--list-gpu-arch', 'compute'],
    ] as const) {
      const r = await this.runNvcc([flag]);
      if (r.code !== 0) continue;
      const archs = new Set<number>();
      for (const line of r.stdout.split('\n')) {
        const m = new RegExp(`^\\s*${prefix}_(\\d+)[a-z]?\\s*$`).exec(line);
        if (m) archs.add(Number(m[1]));
      }
      if (archs.size > 0) return [...archs].sort((a, b) => a - b);
    }
    throw new CompilerUnavailableError(
      `${this.path} lists no GPU archs (tried --list-gpu-code and --list-gpu-arch)`,
    );
  }

  private async runNvcc(
    args: readonly string[],
    cwd?: string,
    extraEnv?: NodeJS.ProcessEnv,
    timeoutMs = QUERY_TIMEOUT_MS,
  ): Promise<RunResult> {
    const nvcc = this.path;
    try {
      return await run(nvcc, args, { ...(cwd ? { cwd } : {}), env: { ...this.env, ...extraEnv }, timeoutMs });
    } catch (err) {
      throw new CompilerUnavailableError(
        `could not run ${nvcc}: ${err instanceof Error ? err.message : err}`,
        {
          cause: err,
        },
      );
    }
  }

  async compile(request: CompileRequest): Promise<CompileResult> {
    checkRequest(request);
    const [compiler, archs] = await Promise.all([this.info(), this.supportedArchs()]);
    const programName = request.programName ?? DEFAULT_PROGRAM_NAME;
    const { imageKind, target } = resolveTarget(
      request.arch,
      request.imageKind ?? 'cubin',
      archs,
      `nvcc ${compiler.version}`,
    );
    const headers = Object.entries(request.headers ?? {});
    const expressions = request.nameExpressions ?? [];
    const userOptions = absolutizePathOptions(request.options ?? [], process.cwd(), NVCC_DIALECT);
    const srcName = sourceFileName(programName, new Set(headers.map(([n]) => n)));
    const source =
      expressions.length > 0 ? request.source + nameExpressionSuffix(expressions) : request.source;
    // A cubin build also keeps its intermediate PTX: its initializers name the symbols of name expressions, and its
    // .entry declarations give each kernel's parameters.
    const keepPtx = imageKind === 'cubin';
    const covered = await this.toolkitIncludeDirs();
    const scan0 = await scanRequest({ ...request, options: userOptions }, NVCC_DIALECT, covered, false);
    // LTO IR: -dlto with the lto_NN arch, relocatable (nvcc insists).
    const kindFlags =
      imageKind === 'ptx'
        ? ['-ptx']
        : imageKind === 'ltoir'
          ? ['-ltoir', '-dlto', ...(isRelocatable(userOptions) ? [] : ['-rdc=true'])]
          : ['-cubin'];
    const reportedOptions = [...kindFlags, `-arch=${target}`, ...userOptions];

    const root = await mkdtemp(join(this.tempRoot, 'cuop-nvcc-'));
    try {
      const srcDir = join(root, 'src');
      const workDir = join(root, 'work');
      await mkdir(srcDir);
      await mkdir(workDir);
      for (const [name, contents] of headers) {
        const file = headerPath(srcDir, name);
        await mkdir(dirname(file), { recursive: true });
        await writeFile(file, contents);
      }
      await writeFile(join(srcDir, srcName), source);
      const out = join(workDir, `out.${imageKind}`);
      const depfile = join(workDir, 'deps.d');
      // -MD (all headers, system ones too): what the scan could not foresee is still recorded.
      const args = ['-x', 'cu', ...kindFlags, `-arch=${target}`, `-I${srcDir}`, '-MD', '-MF', depfile];
      if (keepPtx) args.push('-keep', `--keep-dir=${workDir}`);
      args.push(...userOptions, srcName, '-o', out);
      checkShellSafe(args, userOptions);

      const started = performance.now();
      const startedWall = Date.now();
      // nvcc's own intermediates go to TMPDIR: keep them in the private dir, removed with it.
      const r = await this.runNvcc(
        args,
        srcDir,
        { TMPDIR: workDir, TMP: workDir, TEMP: workDir },
        this.timeoutMs,
      );
      const compileMs = performance.now() - started;
      const log = cleanLog(`${r.stderr}${r.stdout}`, root, srcName, programName);
      if (r.code !== 0) throw new CompileError('nvcc', programName, log, reportedOptions);

      let image = await readFile(out);
      let ptxText = '';
      if (imageKind === 'ptx') {
        if (image.length === 0 || image[image.length - 1] !== 0)
          image = Buffer.concat([image, Buffer.from([0])]);
        ptxText = image.toString('utf8');
      } else if (keepPtx) {
        for (const f of (await readdir(workDir)).filter((n) => n.endsWith('.ptx'))) {
          const text = await readFile(join(workDir, f), 'utf8');
          if (!ptxText || text.includes(`${NAME_EXPR_VAR}0`)) ptxText = text;
        }
      } else if (imageKind === 'ltoir' && expressions.length > 0) {
        // LTO IR has no PTX to read symbols from: the same source as PTX, once, names them.
        ptxText = await this.ptxFor(
          srcDir,
          srcName,
          target.replace(/^lto_/, 'compute_'),
          userOptions,
          workDir,
        );
      }
      const loweredNames = expressions.length > 0 ? lowerNames(ptxText, expressions) : {};
      // What nvcc says it read joins the scan: a file the scan did not predict is still a dependency.
      const reported = parseDepfile(await readFile(depfile, 'utf8').catch(() => ''));
      const { scan, fresh } = withReportedFiles(scan0, reported, srcDir, covered, [root], startedWall);
      const signatures = ptxText ? await signaturesOf(ptxText) : {};
      for (const name of Object.keys(signatures)) if (name.startsWith(NAME_EXPR_VAR)) delete signatures[name];
      return {
        image,
        imageKind,
        target,
        log,
        loweredNames,
        compileMs,
        compiler,
        dependencies: compileDependencies(scan, !fresh && unchangedSinceScan(scan)),
        signatures,
      };
    } finally {
      await rm(root, { recursive: true, force: true, maxRetries: 3 });
    }
  }

  /** The PTX of a source already written to `srcDir` (for the symbols of an LTO IR compile's name expressions). */
  private async ptxFor(
    srcDir: string,
    srcName: string,
    virtualArch: string,
    userOptions: readonly string[],
    workDir: string,
  ): Promise<string> {
    const out = join(workDir, 'names.ptx');
    const rdc = isRelocatable(userOptions) ? [] : ['-rdc=true'];
    const args = ['-x', 'cu', '-ptx', `-arch=${virtualArch}`, ...rdc, `-I${srcDir}`, ...userOptions, srcName];
    checkShellSafe([...args, out], userOptions);
    const r = await this.runNvcc(
      [...args, '-o', out],
      srcDir,
      { TMPDIR: workDir, TMP: workDir, TEMP: workDir },
      this.timeoutMs,
    );
    if (r.code !== 0) throw new CompileError('nvcc', srcName, r.stderr, args);
    return readFile(out, 'utf8');
  }
}

/** nvcc's messages with the private temp dir taken out, so they read `gemm.cu(12): error: ...`. */
function cleanLog(text: string, root: string, srcName: string, programName: string): string {
  let out = text;
  const roots = [root];
  try {
    const real = realpathSync(root);
    if (real !== root) roots.push(real);
  } catch {
    // already gone
  }
  for (const r of roots) {
    out = out
      .split(join(r, 'src', srcName))
      .join(programName)
      .split(`${join(r, 'src')}${sep}`)
      .join('')
      .split(`${join(r, 'work')}${sep}`)
      .join('')
      .split(`${r}${sep}`)
      .join('')
      .split(r)
      .join('.');
  }
  if (srcName !== programName) {
    out = out.replace(new RegExp(`(^|[\\s"'])${escapeRegExp(srcName)}(?=[("':])`, 'gm'), `$1${programName}`);
  }
  return out.trim();
}

/** The flags nvcc takes from its environment, as one string ('' when none). */
export function nvccEnvFlags(env: NodeJS.ProcessEnv): string {
  const pre = env['NVCC_PREPEND_FLAGS']?.trim() ?? '';
  const post = env['NVCC_APPEND_FLAGS']?.trim() ?? '';
  // The host preprocessor's search path from the environment changes which headers a compile reads.
  const paths = ['CPATH', 'C_INCLUDE_PATH', 'CPLUS_INCLUDE_PATH']
    .filter((v) => env[v])
    .map((v) => `${v}=${env[v]}`)
    .join(';');
  return pre || post || paths ? `${pre}|${post}${paths ? `|${paths}` : ''}` : '';
}
