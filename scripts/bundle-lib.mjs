#!/usr/bin/env node
// Bundle the library entry (tsc's output, build/src/index.js) into one ESM file, dist/index.js, the package's
// import target. Resolving and loading 51 small modules costs a fresh process ~40 ms of `import cuop` on the CI
// box; one file ~23 ms. koffi (a native addon) and Node's built-ins stay external; types still come from
// build/src/*.d.ts. The CLI is not bundled: it loads its commands lazily and uses Node's compile cache instead.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
rmSync(join(root, 'dist'), { recursive: true, force: true }); // no chunks of an earlier build left behind
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
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
});
