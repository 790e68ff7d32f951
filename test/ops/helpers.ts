// Shared by the CPU operator tests (elementwise, reduce, softmax, gemm): no GPU, no driver.
// - nvcc: finding it, and compiling generated sources (2 nvcc processes at a time).
// - checks on generated sources: NVRTC-safe, deterministic, one distinct source per specialization.
// - fakes: a minimal DeviceBuffer/Device ({ byteLength, device, devicePtr } and { multiprocessorCount, alloc, allocAsync }) under
//   real Tensor objects, and KernelProviders that either must never be reached or record the requested spec and the
//   launch instead of touching a GPU.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KernelProvider, KernelSpec } from '../../src/jit/types.js';
import { ShapeError, Tensor, type DType } from '../../src/ops/index.js';
import type { Device, DeviceBuffer, Kernel, KernelArg, LaunchConfig } from '../../src/runtime/index.js';

export const DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16'];
/** The widest vector access per dtype (16 bytes). */
export const WIDTH: Readonly<Record<DType, number>> = { float32: 4, float16: 8, bfloat16: 8 };

// ---- nvcc ----

/** The first candidate that runs `--version`, or undefined. */
export function findNvcc(candidates: readonly (string | undefined)[]): string | undefined {
  for (const p of candidates) {
    if (!p) continue;
    try {
      execFileSync(p, ['--version'], { stdio: 'ignore' });
      return p;
    } catch {
      // try the next
    }
  }
  return undefined;
}

export const NVCC = process.env.NVCC ?? 'nvcc';
/** A skip reason when NVCC does not run, else false. */
export const nvccMissing: string | false = findNvcc([NVCC])
  ? false
  : `nvcc not found (set NVCC=/path/to/nvcc)`;

/** Run the jobs 2 at a time; results in completion order. */
export async function twoAtATime<T>(jobs: readonly (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const job = jobs[next++] as () => Promise<T>;
      results.push(await job());
    }
  };
  await Promise.all([worker(), worker()]);
  return results;
}

/** Compile each source for each arch (2 nvcc processes at a time) in a fresh temp dir; returns failure messages. */
export async function compileAll(
  units: { label: string; source: string }[],
  archs: string[],
  tmpPrefix: string,
): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), tmpPrefix));
  const jobs = units.flatMap((u, i) => archs.map((arch) => ({ ...u, arch, file: join(dir, `k${i}.cu`) })));
  units.forEach((u, i) => writeFileSync(join(dir, `k${i}.cu`), u.source));
  const failures: string[] = [];
  try {
    await twoAtATime(
      jobs.map(
        (j) => () =>
          new Promise<void>((done) => {
            execFile(
              NVCC,
              ['-cubin', `-arch=${j.arch}`, '-o', `${j.file}.${j.arch}.cubin`, j.file],
              (err, _o, stderr) => {
                if (err) failures.push(`${j.label} (${j.arch}): ${stderr || err.message}`);
                done();
              },
            );
          }),
      ),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return failures;
}

/** compileAll for sm_90 and sm_80, asserting that every unit compiled. */
export async function assertCompiles(
  units: { label: string; source: string }[],
  tmpPrefix: string,
): Promise<void> {
  const failures = await compileAll(units, ['sm_90', 'sm_80'], tmpPrefix);
  assert.deepEqual(failures, [], failures.join('\n\n'));
}

// ---- generated sources ----

/** NVRTC resolves no system header and has no <math.h> macros: only the fp16/bf16 headers may be included. */
export function assertNvrtcSafe(label: string, source: string): void {
  for (const inc of source.match(/#include\s*[<"][^>"]*[>"]/g) ?? []) {
    assert.match(inc, /^#include <cuda_(fp16|bf16)\.h>$/, `${label}: ${inc} would not resolve under NVRTC`);
  }
  assert.doesNotMatch(
    source,
    /\b(INFINITY|NAN|HUGE_VALF?|FLT_MAX)\b/,
    `${label}: uses a <math.h>/<float.h> macro`,
  );
}

/**
 * One more specialization `key`: its source (regenerated as `again`, when given) is deterministic, differs from every
 * source in `seen`, and is NVRTC-safe; then it joins `seen`.
 */
export function assertNewSpecialization(
  seen: Map<string, string>,
  key: string,
  source: string,
  again?: string,
): void {
  if (again !== undefined) assert.equal(again, source, `${key} is not deterministic`);
  for (const [k2, s2] of seen) assert.notEqual(source, s2, `${key} generated the same source as ${k2}`);
  assertNvrtcSafe(key, source);
  seen.set(key, source);
}

// ---- fakes ----

export interface Launch {
  spec: KernelSpec;
  config: LaunchConfig;
  args: readonly KernelArg[];
}
export const fakeDevice = {
  multiprocessorCount: 132,
  alloc: (bytes: number) => fakeBuffer(bytes, 8192n),
  // Tensor.empty allocates from the pool: the same fake memory here.
  allocAsync: (bytes: number) => fakeBuffer(bytes, 8192n),
} as unknown as Device;
export function fakeBuffer(byteLength: number, ptr: bigint, device = fakeDevice): DeviceBuffer {
  return { byteLength, device, devicePtr: ptr } as unknown as DeviceBuffer;
}
/** A tensor over a 1 GiB fake buffer at `ptr` (default 4096, aligned). */
export function fake(
  shape: number[],
  dtype: DType = 'float32',
  opts: { strides?: number[]; ptr?: bigint } = {},
): Tensor {
  return new Tensor(fakeBuffer(1 << 30, opts.ptr ?? 4096n), shape, dtype, opts.strides);
}
/** A provider that must never be reached (validation must fail first). */
export const noJit: KernelProvider = {
  kernel: () => {
    throw new Error('a kernel was requested: validation should have failed before');
  },
};
/** A provider whose kernels record each launch (with the spec that was requested) instead of running. */
export function recordingJit(): { jit: KernelProvider; launches: Launch[] } {
  const launches: Launch[] = [];
  const jit: KernelProvider = {
    kernel: (spec) =>
      Promise.resolve({
        launch: (config: LaunchConfig, args: readonly KernelArg[]) => launches.push({ spec, config, args }),
      } as unknown as Kernel),
  };
  return { jit, launches };
}

// ---- validation ----

/** `run` rejects with a ShapeError whose message matches `message`; `label` (when given) names the case. */
export async function assertShapeError(
  run: () => Promise<unknown>,
  message: RegExp,
  label?: string,
): Promise<void> {
  await assert.rejects(run, (e: unknown) => {
    assert.ok(e instanceof ShapeError, `${label ? `${label}: ` : ''}expected ShapeError, got ${String(e)}`);
    assert.match(e.message, message, label);
    return true;
  });
}

/** Each [label, run, message] case rejects with a matching ShapeError. */
export async function assertShapeErrors(cases: [string, () => Promise<unknown>, RegExp][]): Promise<void> {
  for (const [label, run, message] of cases) await assertShapeError(run, message, label);
}
