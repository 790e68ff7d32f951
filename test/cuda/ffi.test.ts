// koffi's native stacks are enlarged before cuop loads a library: a compile or link that recurses deeply (NVVM,
// ptxas) must not overflow koffi's 128 KiB default async stack. Checked with a real shared library that uses ~2 MiB
// of stack, called sync and async in a child process (an overflow is a SIGSEGV, which the child turns into a
// failed exit status instead of killing the runner).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ffiModule = fileURLToPath(new URL('../../src/cuda/ffi.js', import.meta.url));

function buildDeepLibrary(): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'cuop-ffi-'));
  const src = join(dir, 'deep.c');
  // Each frame keeps 4 KiB live; 512 frames need 2 MiB of stack.
  writeFileSync(
    src,
    'int deep(int n) { volatile char buf[4096]; buf[0] = (char)n; buf[4095] = 1;\n' +
      '  return n ? deep(n - 1) + buf[4095] : 0; }\n',
  );
  const out = join(dir, 'libdeep.so');
  for (const cc of ['cc', 'gcc', 'clang']) {
    const r = spawnSync(cc, ['-O0', '-shared', '-fPIC', '-o', out, src], { encoding: 'utf8' });
    if (r.status === 0) return out;
  }
  return undefined;
}

test('the stacks are enlarged when cuop loads first', () => {
  const script = `
    const { ffiStackProblem, koffi } = await import(${JSON.stringify(ffiModule)});
    const c = koffi.config();
    console.log(JSON.stringify({ problem: ffiStackProblem ?? null, sync: c.sync_stack_size, async: c.async_stack_size }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout) as { problem: string | null; sync: number; async: number };
  assert.equal(got.problem, null);
  assert.ok(got.async >= 8 * 2 ** 20, `async stack ${got.async}`);
  assert.ok(got.sync >= 8 * 2 ** 20, `sync stack ${got.sync}`);
});

test('a native call using 2 MiB of stack runs, sync and async', (t) => {
  const lib = buildDeepLibrary();
  if (!lib) return t.skip('no C compiler (cc, gcc, clang) on this host');
  const script = `
    const { koffi } = await import(${JSON.stringify(ffiModule)});
    const deep = koffi.load(${JSON.stringify(lib)}).func('int deep(int n)');
    const sync = deep(512);
    const async = await new Promise((res, rej) => deep.async(512, (e, v) => (e ? rej(e) : res(v))));
    console.log(sync, async);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.signal, null, `the child died of ${r.signal}: a native stack overflowed`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), '512 512');
});

test('without the enlargement the same async call overflows (the test above can fail)', (t) => {
  const lib = buildDeepLibrary();
  if (!lib) return t.skip('no C compiler (cc, gcc, clang) on this host');
  const script = `
    const koffi = (await import('koffi')).default;
    const deep = koffi.load(${JSON.stringify(lib)}).func('int deep(int n)');
    await new Promise((res, rej) => deep.async(512, (e, v) => (e ? rej(e) : res(v))));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    cwd: fileURLToPath(new URL('../../', import.meta.url)),
  });
  assert.notEqual(r.status, 0, "a 2 MiB recursion fit in koffi's default async stack");
});
