// Real nvcc-built images for the cache tests (no GPU needed: nvcc -cubin runs on the CPU box).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CompileResult } from '../../src/compiler/types.js';
import type { KeySpec } from '../../src/cache/key.js';

/** One key spec with every field set, for the key tests (their pinned keys are computed from it). */
export const KEY_SPEC_SAMPLE: KeySpec = {
  source: 'extern "C" __global__ void k(float* a) { a[threadIdx.x] *= 2.0f; }\n',
  headers: { 'b.h': '#define B 2\n', 'a.h': '#define A 1\n' },
  nameExpressions: ['k'],
  options: ['-DBM=64', '--use_fast_math'],
  compiler: { id: 'nvrtc', version: '13.0' },
  target: 'sm_90',
  imageKind: 'cubin',
};

export const NVCC = process.env.NVCC ?? '/usr/local/bin/nvcc';

/** Small distinct kernels. */
export function kernelSource(i: number): string {
  return (
    `extern "C" __global__ void k${i}(float* a, const float* b, int n) {\n` +
    `  int t = blockIdx.x * blockDim.x + threadIdx.x;\n` +
    `  if (t < n) a[t] = a[t] * ${i + 2}.0f + b[t] * ${i}.5f;\n}\n`
  );
}

/**
 * Compiles `source` with nvcc into a cubin and returns the bytes. Results are kept in a per-source directory
 * under the OS temp dir, so the test files of one run compile each fixture once.
 */
export function nvccCubin(source: string, arch = 'sm_90'): Buffer {
  const h = createHash('sha256').update(source).update(arch).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), 'cuop-test-cubins');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `${h}.cubin`);
  if (existsSync(out)) return readFileSync(out);
  const work = mkdtempSync(join(tmpdir(), 'cuop-nvcc-'));
  try {
    writeFileSync(join(work, 'k.cu'), source);
    execFileSync(NVCC, ['-cubin', `-arch=${arch}`, '-o', join(work, 'k.cubin'), join(work, 'k.cu')], {
      stdio: 'pipe',
    });
    renameSync(join(work, 'k.cubin'), out);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return readFileSync(out);
}

export function specFor(i: number, over: Partial<KeySpec> = {}): KeySpec {
  return {
    source: kernelSource(i),
    nameExpressions: [`k${i}`],
    options: ['-O3'],
    compiler: { id: 'nvcc', version: '13.0.88' },
    target: 'sm_90',
    imageKind: 'cubin',
    ...over,
  };
}

export function resultFor(image: Buffer, name: string, compileMs = 400): CompileResult {
  return {
    image,
    imageKind: 'cubin',
    target: 'sm_90',
    log: '',
    loweredNames: { [name]: name },
    compileMs,
    compiler: { id: 'nvcc', version: '13.0.88' },
  };
}

/** A compile function that returns the real cubin of kernel i and counts its calls. */
export function countingCompile(i: number): { compile: () => Promise<CompileResult>; calls: () => number } {
  let n = 0;
  const image = nvccCubin(kernelSource(i));
  return {
    compile: async () => {
      n++;
      return resultFor(image, `k${i}`);
    },
    calls: () => n,
  };
}

export function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `cuop-cache-${tag}-`));
}

/** A temp dir made into a cuop cache (marker, format file, subdirs), for tests that plant files before opening it. */
export async function initializedCacheDir(tag: string): Promise<string> {
  const dir = tempDir(tag);
  const { KernelCache } = await import('../../src/cache/kernel-cache.js');
  await new KernelCache({ dir, env: {}, logger: { warn: () => {}, debug: () => {} } }).close();
  return dir;
}

export const here = dirname(fileURLToPath(import.meta.url));
/** Compiled helper script of test/cache/workers/<name>.ts. */
export function worker(name: string): string {
  return resolve(here, 'workers', `${name}.js`);
}

/** A logger that records lines. */
export function recordingLogger(): {
  logger: { debug(m: string): void; warn(m: string): void };
  warns: string[];
  debugs: string[];
} {
  const warns: string[] = [];
  const debugs: string[] = [];
  return { logger: { debug: (m) => debugs.push(m), warn: (m) => warns.push(m) }, warns, debugs };
}
