#!/usr/bin/env node
// Bundle the library entry (tsc's output, build/src/index.js) into one ESM file, dist/index.js, the package's
// import target. Resolving and loading 51 small modules costs a fresh process ~40 ms of `import cuop` on the CI
// box; one file ~23 ms. koffi (a native addon) and Node's built-ins stay external; types still come from
// build/src/*.d.ts. The CLI is not bundled: it loads its commands lazily and uses Node's compile cache instead.
import { build } from 'esbuild';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
rmSync(join(root, 'dist'), { recursive: true, force: true }); // no chunks of an earlier build left behind
// The operators' CUDA templates (src/ops/cuda/*.cu, *.cuh) go into the bundle as text, the global that
// src/ops/cuda-text.ts reads before looking for files: the bundle works wherever its code ends up (dist/index.js, a
// chunk, or an application's own bundle). build/ reads the same files from src/ops/cuda/ at run time.
const cudaDir = join(root, 'src/ops/cuda');
const cudaFiles = Object.fromEntries(
  readdirSync(cudaDir)
    .filter((f) => /\.cuh?$/.test(f))
    .sort()
    .map((f) => [f, readFileSync(join(cudaDir, f), 'utf8')]),
);
if (Object.keys(cudaFiles).length === 0) throw new Error(`no CUDA templates in ${cudaDir}`);
await build({
  entryPoints: [join(root, 'build/src/index.js')],
  outdir: join(root, 'dist'),
  // What only a compile or an explanation needs (include scanner, PTX parameter parser, explain) goes into chunks
  // loaded by dynamic import: a process whose kernels all hit parses none of it.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  external: ['koffi'],
  define: { __CUOP_CUDA_FILES__: JSON.stringify(cudaFiles) },
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
});
