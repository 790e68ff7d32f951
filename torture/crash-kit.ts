// What the crash writers publish and the reader checks: one spec and one true image per (trial, key), the images
// real nvcc cubin bytes repeated to a size of their own (up to a few MB, so a publish takes a while to write).
import { kernelSource, nvccCubin, resultFor, specFor } from '../test/cache/fixtures.js';
import type { KeySpec } from '../src/cache/key.js';
import type { CompileResult } from '../src/compiler/types.js';

export function crashSpec(trial: number, key: number): KeySpec {
  return specFor(key % 8, { options: ['-O3', `-DTRIAL=${trial}`, `-DKEY=${key}`] });
}

/** The image of (trial, key): its own length, so no two keys of a trial share one. */
export function crashImage(trial: number, key: number, maxBytes: number): Buffer {
  const cubin = nvccCubin(kernelSource(key % 8));
  const h = (Math.imul(trial + 1, 2654435761) ^ Math.imul(key + 1, 40503)) >>> 0;
  const size = 64 * 1024 + (h % Math.max(1, maxBytes - 64 * 1024)) + key;
  const out = Buffer.alloc(size);
  for (let at = 0; at < size; at += cubin.length) cubin.copy(out, at, 0, Math.min(cubin.length, size - at));
  out.writeUInt32LE(trial, 0);
  out.writeUInt32LE(key, 4);
  return out;
}

export function crashCompile(trial: number, key: number, maxBytes: number): () => Promise<CompileResult> {
  return async () => resultFor(crashImage(trial, key, maxBytes), `k${key % 8}`);
}
