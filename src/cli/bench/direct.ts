// A cold compile through cuop beside the same compile made directly: NVRTC's API called by hand where NVRTC is the
// compiler, else the nvcc command line cuop's nvcc backend runs, spawned by hand. The difference is what cuop adds
// to a miss (key, include scan, lock, metadata, publish to the disk).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { KernelCache } from '../../cache/kernel-cache.js';
import { NvccCompiler } from '../../compiler/nvcc-compiler.js';
import { canonicalKernelName } from '../../compiler/names.js';
import type { Compiler } from '../../compiler/types.js';
import { nvrtcCompile, nvrtcToolkitIncludeDirs } from '../../cuda/nvrtc.js';
import { JitCompiler } from '../../jit/jit-compiler.js';
import type { KernelSpec } from '../../jit/types.js';

export interface DirectComparison {
  readonly compiler: 'nvrtc' | 'nvcc';
  readonly cuopMs: number[];
  readonly directMs: number[];
  /** Each cuop sample less the compiler's own time as cuop recorded it (entry.meta.compileMs): cuop's share. */
  readonly overheadMs: number[];
  /** What the direct side ran, for the method text. */
  readonly direct: string;
}

/**
 * `samples` pairs, in alternating order (neither side always runs second), after one untimed warm-up of each (the
 * library or the nvcc binary loaded, the page cache warm). Each cuop compile has an empty cache of its own.
 */
export async function compareDirect(
  compiler: Compiler,
  spec: KernelSpec,
  arch: string,
  scratch: string,
  samples: number,
  salt: string,
): Promise<DirectComparison> {
  const direct =
    compiler instanceof NvccCompiler
      ? nvccDirect(compiler, spec, arch, scratch)
      : nvrtcDirect(spec, arch, scratch);
  let n = 0;
  const overheadMs: number[] = [];
  const throughCuop = async (): Promise<number> => {
    const cache = new KernelCache({
      dir: join(scratch, `direct-cuop-${n++}`),
      remote: false,
      policy: { salt, maintenanceIntervalMs: 0 },
    });
    const jit = new JitCompiler({ cache, compiler });
    const t0 = performance.now();
    const r = await jit.compile(spec, arch);
    const ms = performance.now() - t0;
    await cache.close();
    if (r.tier !== 'compiled') throw new Error(`expected a compile, got a ${r.tier} hit`);
    overheadMs.push(ms - r.entry.meta.compileMs);
    return ms;
  };
  await direct.run();
  await throughCuop();
  overheadMs.length = 0; // the warm-up's
  const cuopMs: number[] = [];
  const directMs: number[] = [];
  for (let i = 0; i < samples; i++) {
    if (i % 2 === 0) {
      directMs.push(await direct.run());
      cuopMs.push(await throughCuop());
    } else {
      cuopMs.push(await throughCuop());
      directMs.push(await direct.run());
    }
  }
  return { compiler: compiler.id, cuopMs, directMs, overheadMs, direct: direct.what };
}

interface DirectCompile {
  run(): Promise<number>;
  readonly what: string;
}

/** nvrtcCreateProgram → AddNameExpression → CompileProgram → GetCUBIN → GetLoweredName → Destroy, by hand. */
function nvrtcDirect(spec: KernelSpec, arch: string, scratch: string): DirectCompile {
  const home = mkdtempSync(join(scratch, 'nvrtc-direct-'));
  const options = [
    `--gpu-architecture=${arch}`,
    ...nvrtcToolkitIncludeDirs().map((d) => `-I${d}`),
    ...(spec.options ?? []),
  ];
  const name = canonicalKernelName(spec.name);
  return {
    what: `the NVRTC API by hand (create, name expression, compile with cuop's options: ${options.length} flags, get CUBIN, lowered name, destroy)`,
    async run() {
      const t0 = performance.now();
      const out = await nvrtcCompile({
        source: spec.source,
        name: join(home, spec.programName ?? 'program.cu'),
        headers: [],
        nameExpressions: [name],
        options,
        want: 'cubin',
      });
      const ms = performance.now() - t0;
      if (!out.ok) throw new Error(`direct NVRTC compile failed: ${out.log.split('\n')[0] ?? ''}`);
      return ms;
    },
  };
}

/** The command line NvccCompiler runs for a cubin (its flags, depfile and -keep for the PTX it reads), spawned. */
function nvccDirect(compiler: NvccCompiler, spec: KernelSpec, arch: string, scratch: string): DirectCompile {
  let n = 0;
  const nvcc = compiler.path;
  const fileName = spec.programName ?? 'program.cu';
  return {
    what: `${nvcc} -x cu -cubin -arch=${arch} -I<src> -MD -MF <deps> -keep --keep-dir=<work> ${fileName} -o <out>, spawned by hand (TMPDIR in the work dir, as cuop does)`,
    async run() {
      const root = join(scratch, `nvcc-direct-${n++}`);
      const src = join(root, 'src');
      const work = join(root, 'work');
      // The temp dirs, the write, the read back and the removal are timed: cuop's compile does each of them too.
      const t0 = performance.now();
      mkdirSync(src, { recursive: true });
      mkdirSync(work);
      writeFileSync(join(src, fileName), spec.source);
      const args = [
        '-x',
        'cu',
        '-cubin',
        `-arch=${arch}`,
        `-I${src}`,
        '-MD',
        '-MF',
        join(work, 'deps.d'),
        '-keep',
        `--keep-dir=${work}`,
        ...(spec.options ?? []),
        fileName,
        '-o',
        join(work, 'out.cubin'),
      ];
      const code = await new Promise<number | null>((resolve, reject) => {
        const child = spawn(nvcc, args, {
          cwd: src,
          env: { ...process.env, TMPDIR: work, TMP: work, TEMP: work },
          stdio: ['ignore', 'ignore', 'pipe'],
          timeout: 600_000,
          killSignal: 'SIGKILL',
        });
        child.stderr.resume();
        child.on('error', reject);
        child.on('close', resolve);
      });
      if (code !== 0) throw new Error(`direct nvcc exited ${code}`);
      readFileSync(join(work, 'out.cubin'));
      rmSync(root, { recursive: true, force: true });
      return performance.now() - t0;
    },
  };
}
