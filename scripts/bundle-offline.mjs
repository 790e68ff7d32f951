#!/usr/bin/env node
// Produce a folder that runs with only a `node` binary on a host without network (how a GPU host gets cuop):
// the built JS (library, CLI, benchmarks, GPU tests), the test runner script, and the production dependencies.
// Usage: npm run bundle:gpu -- [outDir]   (default: bundle/cuop)
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';

const root = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..');
const out = resolve(process.argv[2] ?? join(root, 'bundle', 'cuop'));
if (!existsSync(join(root, 'build', 'src', 'index.js')) || !existsSync(join(root, 'dist', 'index.js'))) {
  console.error('no build output: run "npm run build" first');
  process.exit(1);
}
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
// src/ops/cuda: the operators' CUDA templates, which build/src/ops reads at run time (dist has them inlined).
for (const dir of ['build/src', 'build/bench', 'build/test-gpu', 'dist', 'src/ops/cuda']) {
  if (existsSync(join(root, dir))) {
    cpSync(join(root, dir), join(out, dir), { recursive: true, filter: (p) => !p.endsWith('.map') });
  }
}
for (const f of ['scripts/run-tests.mjs', 'package-lock.json', 'README.md'])
  cpSync(join(root, f), join(out, f));
if (existsSync(join(root, 'bench'))) {
  // Python peers (PyTorch/CuPy/Triton) run beside the Node benchmarks on the GPU host.
  cpSync(join(root, 'bench'), join(out, 'bench'), { recursive: true, filter: (p) => !p.endsWith('.ts') });
}
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
delete pkg.scripts.prepare; // nothing to compile on the target
writeFileSync(join(out, 'package.json'), JSON.stringify(pkg, null, 2));
execFileSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], {
  cwd: out,
  stdio: 'inherit',
});
const size = execFileSync('du', ['-sh', out], { encoding: 'utf8' }).trim();
console.log(`offline bundle: ${size}`);
console.log(`run there: node ${join(out, 'build/src/cli/main.js')} demo`);
