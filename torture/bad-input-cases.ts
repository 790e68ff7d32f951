// The library cases of the bad-input scenario (torture/bad-input.ts), run by torture/bad-input-child.ts. Each case
// either throws (the outcome is then classified: typed or not) or returns (it was accepted). `mayPass`: accepting
// it is right too (a payload that nvcc takes as plain data, a bad CUOP_* variable that warns and keeps the default);
// every other case must fail. `compiles`: a compile through the shared cache, tried twice when it fails (the second
// try must fail again: nothing of a failed compile may be served).
import { join } from 'node:path';

import { KernelCache } from '../src/cache/kernel-cache.js';
import type { CachePolicyInput } from '../src/cache/policy.js';
import { CachePolicy } from '../src/api/cache-policy.js';
import { NvccCompiler } from '../src/compiler/nvcc-compiler.js';
import type { JitCompiler, KernelSpec, ModuleSpec } from '../src/jit/index.js';
import { payloads } from './bad-input.js';

export interface CaseContext {
  readonly jit: JitCompiler;
  readonly sentinels: string;
  readonly work: string;
  readonly tempRoot: string;
  readonly env: NodeJS.ProcessEnv;
}

export interface Case {
  readonly id: string;
  readonly group: string;
  readonly mayPass?: boolean;
  /** In the short run too (the rest only in the full one). */
  readonly short?: boolean;
  readonly compiles?: boolean;
  run(ctx: CaseContext): Promise<unknown>;
}

const K = 'extern "C" __global__ void k(float* x, int n) { if (threadIdx.x < n) x[threadIdx.x] = 1.0f; }';
const kernel = (over: Partial<KernelSpec>): Omit<Case, 'id' | 'group'> => ({
  compiles: true,
  run: ({ jit }) => jit.compile({ source: K, name: 'k', ...over } as KernelSpec, 'sm_90'),
});
const quiet = { warn: () => {}, debug: () => {} };
const policy = (p: Record<string, unknown>): Omit<Case, 'id' | 'group'> => ({
  short: true,
  run: async () => {
    const c = new KernelCache({ dir: null, env: {}, logger: quiet, policy: p as Partial<CachePolicyInput> });
    await c.close();
  },
});
const seedPolicy = (fields: Record<string, unknown>): Omit<Case, 'id' | 'group'> => ({
  short: true,
  run: async () => {
    const p = new CachePolicy(fields as never).toCachePolicyInput();
    const c = new KernelCache({ dir: null, env: {}, logger: quiet, policy: p });
    await c.close();
  },
});
/** A KernelCache under a bad CUOP_* value: it must warn (once) and keep the default, never throw. */
const envVar = (variable: string, value: string): Omit<Case, 'id' | 'group'> => ({
  short: true,
  mayPass: true,
  run: async ({ work }) => {
    const warns: string[] = [];
    const c = new KernelCache({
      dir: join(work, 'env-cache'),
      env: { [variable]: value },
      logger: { warn: (m) => warns.push(m), debug: () => {} },
      policy: { maintenanceIntervalMs: 0 },
    });
    await c.close();
    if (warns.length !== 1)
      throw new Error(`${warns.length} warnings for ${variable}=${JSON.stringify(value)}`);
  },
});
const nvccEnv = (over: NodeJS.ProcessEnv, opts: { nvccPath?: string } = {}): Omit<Case, 'id' | 'group'> => ({
  short: true,
  run: ({ env, tempRoot }) =>
    new NvccCompiler({ env: { ...env, ...over }, tempRoot, ...opts }).compile({
      source: K,
      arch: 'sm_90',
      nameExpressions: ['k'],
    }),
});

function build(): Case[] {
  const cases: Case[] = [];
  const add = (group: string, id: string, c: Omit<Case, 'id' | 'group'>): void => {
    cases.push({ group, id, ...c });
  };
  // Malformed CUDA
  add('malformed', 'a syntax error', {
    ...kernel({ source: 'extern "C" __global__ void k( {' }),
    short: true,
  });
  add(
    'malformed',
    'an undefined identifier',
    kernel({ source: 'extern "C" __global__ void k() { y = 1; }' }),
  );
  add('malformed', 'the kernel asked for is not in the source', kernel({ name: 'missing' }));
  add('malformed', 'binary garbage with NULs', {
    ...kernel({
      source: Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)).toString('latin1'),
    }),
    short: true,
  });
  add('malformed', '#error', kernel({ source: `#error stop here\n${K}` }));
  add('malformed', '#include of a missing header', kernel({ source: `#include <no/such/header.h>\n${K}` }));
  add('malformed', '#include of a file that is not C++', kernel({ source: `#include "/etc/passwd"\n${K}` }));
  add('malformed', 'a host-only program (no kernel)', kernel({ source: 'int main() { return 0; }' }));
  add('malformed', 'source is not a string', { ...kernel({ source: 42 as unknown as string }), short: true });
  // Empty
  add('empty', 'an empty source', { ...kernel({ source: '' }), short: true });
  add('empty', 'whitespace only', kernel({ source: ' \n\t\n' }));
  add('empty', 'an empty kernel name', { ...kernel({ name: '' }), short: true });
  add('empty', 'a module without names', {
    short: true,
    compiles: true,
    run: ({ jit }) => jit.compile({ source: K, names: [] } as ModuleSpec, 'sm_90'),
  });
  // 50 MB
  const big = 50 * 2 ** 20;
  add('huge', 'a 50 MB source (a kernel and a 50 MB comment)', {
    compiles: true,
    mayPass: true,
    short: true,
    run: ({ jit }) => jit.compile({ source: `${K}\n/*${'x'.repeat(big)}*/\n`, name: 'k' }, 'sm_90'),
  });
  add('huge', 'a 50 MB source of garbage', {
    compiles: true,
    run: ({ jit }) => jit.compile({ source: `${K}\n${'@#! '.repeat(big / 4)}`, name: 'k' }, 'sm_90'),
  });
  // Unknown and misshapen options
  add('options', 'an unknown option', { ...kernel({ options: ['--no-such-option'] }), short: true });
  add('options', 'an unknown short option', kernel({ options: ['-Zq'] }));
  add('options', 'options as one string', {
    ...kernel({ options: '-O3' as unknown as string[] }),
    short: true,
  });
  add('options', 'a number among the options', kernel({ options: [42 as unknown as string] }));
  add('options', "'-' (nvcc would read stdin)", { ...kernel({ options: ['-'] }), mayPass: true });
  add('options', 'a second -o pointing elsewhere', {
    ...kernel({}),
    mayPass: true,
    short: true,
    run: ({ jit, work }) =>
      jit.compile({ source: K, name: 'k', options: ['-o', join(work, 'evil-out.cubin')] }, 'sm_90'),
  });
  add('options', 'a conflicting -arch', { ...kernel({ options: ['-arch=sm_1'] }), mayPass: true });
  add('options', 'a leading space', { ...kernel({ options: [' -O3'] }), mayPass: true });
  add('options', 'three leading dashes', { ...kernel({ options: ['---O3'] }) });
  add('options', "'--' then an option", { ...kernel({ options: ['--', '-O3'] }), mayPass: true });
  add('options', 'a NUL inside an option', { ...kernel({ options: ['-DX=1\0-run'] }), short: true });
  add('options', '--run (run the output)', { ...kernel({ options: ['--run'] }), mayPass: true });
  // Option injection: every payload in every place a value reaches nvcc's command line.
  const spots: [string, (p: string) => string[], boolean][] = [
    ['a -D value', (p) => [`-DX=${p}`], true],
    ['a -I dir', (p) => [`-I/tmp/no such dir/${p}`], true],
    ['a relative -I dir', (p) => ['-I', p], false],
    ['an -isystem dir', (p) => ['-isystem', `/tmp/${p}`], false],
    ['a --define-macro', (p) => [`--define-macro=Y=${p}`], false],
    ['an -Xcompiler flag', (p) => ['-Xcompiler', `-DZ=${p}`], false],
  ];
  for (const [where, opts, inShort] of spots) {
    add('injection', `a trailing backslash breaking out of ${where}`, {
      ...kernel({}),
      mayPass: true,
      short: inShort,
      run: ({ jit, sentinels }) =>
        jit.compile(
          {
            source: K,
            name: 'k',
            options: [...opts('a\\'), ...opts(`;touch ${sentinels}/backslash-${where.length};#`)],
          },
          'sm_90',
        ),
    });
    for (const id of payloads('S').map((p) => p.id)) {
      add('injection', `${id} in ${where}`, {
        compiles: true,
        mayPass: true,
        short: inShort,
        run: ({ jit, sentinels }) => {
          const p = payloads(sentinels, `${where.replace(/\W/g, '')}-`).find((x) => x.id === id)!;
          return jit.compile({ source: K, name: 'k', options: opts(p.text) }, 'sm_90');
        },
      });
    }
  }
  for (const p of payloads('S')) {
    add('injection', `${p.id} in the program name`, {
      compiles: true,
      mayPass: true,
      short: p.id === 'dollar' || p.id === 'quote',
      run: ({ jit, sentinels }) =>
        jit.compile(
          {
            source: K,
            name: 'k',
            programName: `${payloads(sentinels, 'program-').find((x) => x.id === p.id)!.text}.cu`,
          },
          'sm_90',
        ),
    });
    add('injection', `${p.id} in a header name`, {
      compiles: true,
      mayPass: true,
      short: p.id === 'dollar',
      run: ({ jit, sentinels }) => {
        const name = `${payloads(sentinels, 'header-').find((x) => x.id === p.id)!.text}.h`;
        return jit.compile(
          {
            source: `#include "${name.replace(/\n/g, '')}"\n${K}`,
            name: 'k',
            headers: { [name]: '#define H 1\n' },
          },
          'sm_90',
        );
      },
    });
  }
  // As the payload names above: a program name that is not a plain file name never reaches a path or a command line
  // (sourceFileName renames the file, messages keep the name), so accepting it is safe; nothing may run or escape.
  add('injection', 'a program name with a leading dash', {
    ...kernel({ programName: '-run.cu' }),
    mayPass: true,
  });
  add('injection', 'a program name with ../', {
    ...kernel({ programName: '../../evil-program.cu' }),
    mayPass: true,
  });
  // Names that try to inject code
  for (const [id, name] of [
    [
      'a kernel name that closes the expression',
      'k); extern "C" __global__ void injected() {} static void* z = (0',
    ],
    ['a kernel name with a newline and #include', 'k\n#include "/etc/shadow"'],
    ['a kernel name with a comment opener', 'k/*'],
    ['a kernel name that is a shell payload', '$(touch SENTINEL/name)'],
    ['a kernel name with a leading dash', '-run'],
    ['a kernel name with a quote', 'k"'],
    ['a 100 000-character kernel name', 'k'.repeat(100_000)],
  ] as const) {
    add('names', id, {
      compiles: true,
      short: true,
      run: ({ jit, sentinels }) =>
        jit.compile({ source: K, name: name.replace('SENTINEL', sentinels) }, 'sm_90'),
    });
  }
  add('names', 'a module name list with an injecting name', {
    compiles: true,
    run: ({ jit }) => jit.compile({ source: K, names: ['k', 'k); void evil() {'] }, 'sm_90'),
  });
  // Header maps
  for (const [id, name, mayPass] of [
    ['a header name with ../', '../evil1.h', false],
    ['a header name with ../../', '../../evil2.h', false],
    ['a header name climbing out of the work dir', '../../../../evil3.h', false],
    ['an absolute header name', '/tmp/evil.h', false],
    ['a header name with a/../../', 'a/../../evil4.h', false],
    ['an empty header name', '', false],
    ['a header name with a NUL', 'evil\0.h', false],
    ['a header name that is .', '.', false],
    ['a header name that stays inside (a/../b.h)', 'a/../evil-inside.h', true],
  ] as const) {
    add('headers', id, {
      compiles: true,
      mayPass,
      short: true,
      run: ({ jit }) =>
        jit.compile(
          {
            source: `#include "${name.replace('\0', '')}"\n${K}`,
            name: 'k',
            headers: { [name]: '#define H 1\n' },
          },
          'sm_90',
        ),
    });
  }
  add('headers', 'a header that is not text', {
    ...kernel({ headers: { 'x.h': 42 as unknown as string } }),
    short: true,
  });
  add('headers', 'headers as an array', kernel({ headers: ['x.h'] as unknown as Record<string, string> }));
  // Bad policy values: KernelCache options
  add('policy', 'maxDiskBytes -1', policy({ maxDiskBytes: -1 }));
  add('policy', "maxDiskBytes 'lots'", policy({ maxDiskBytes: 'lots' }));
  add('policy', 'maxDiskBytes 2^64', policy({ maxDiskBytes: 2 ** 64 }));
  add('policy', 'maxAgeMs NaN', policy({ maxAgeMs: Number.NaN }));
  add('policy', 'maxAgeMs Infinity', { ...policy({ maxAgeMs: -Infinity }) });
  add('policy', 'maxEntries 1.5', policy({ maxEntries: 1.5 }));
  add('policy', "checksum 'yes'", policy({ checksum: 'yes' }));
  add('policy', "compression 'lz77'", policy({ compression: 'lz77' }));
  add('policy', 'an unknown field', policy({ maxDiskByte: 1 }));
  add(
    'policy',
    'a __proto__ field',
    policy(JSON.parse('{"__proto__": {"checksum": false}}') as Record<string, unknown>),
  );
  add('policy', 'policy null', {
    short: true,
    run: async () => {
      const c = new KernelCache({
        dir: null,
        logger: quiet,
        policy: null as unknown as Partial<CachePolicyInput>,
      });
      await c.close();
    },
  });
  // CachePolicy (the seed's fields)
  add('policy', "CachePolicy maxDiskCacheSize 'garbage'", seedPolicy({ maxDiskCacheSize: 'garbage' }));
  add('policy', 'CachePolicy cacheExpirationTime -5', seedPolicy({ cacheExpirationTime: -5 }));
  add('policy', 'CachePolicy maxCachedKernels -1', seedPolicy({ maxCachedKernels: -1 }));
  add('policy', "CachePolicy enableChecksum 'no'", seedPolicy({ enableChecksum: 'no' }));
  // CUOP_* variables: warn once, keep the default
  add('env', 'CUOP_CACHE_MAX_SIZE=garbage', envVar('CUOP_CACHE_MAX_SIZE', 'garbage'));
  add('env', 'CUOP_CACHE_MAX_SIZE=-1GB', envVar('CUOP_CACHE_MAX_SIZE', '-1GB'));
  add('env', 'CUOP_CACHE_SHARED=everyone', envVar('CUOP_CACHE_SHARED', 'everyone'));
  add('env', 'CUOP_DEBUG=verbose', envVar('CUOP_DEBUG', 'verbose'));
  add('env', 'CUOP_CACHE_MAX_SIZE=1e400', envVar('CUOP_CACHE_MAX_SIZE', '1e400'));
  add('env', 'CUOP_CACHE_DISABLE=maybe', envVar('CUOP_CACHE_DISABLE', 'maybe'));
  add('env', 'CUOP_CACHE_MAX_SIZE=$(touch …)', {
    ...envVar('CUOP_CACHE_MAX_SIZE', ''),
    run: async (ctx) => envVar('CUOP_CACHE_MAX_SIZE', `$(touch ${ctx.sentinels}/env-max-size)`).run(ctx),
  });
  add('env', 'CUOP_CACHE_DIR with a payload (a literal name)', {
    mayPass: true,
    short: true,
    run: async ({ work, sentinels }) => {
      const c = new KernelCache({
        env: { CUOP_CACHE_DIR: join(work, `$(touch ${sentinels}/env-dir)`) },
        logger: quiet,
      });
      await c.close();
    },
  });
  // CUOP_NVCC_PATH is the first candidate of the search, not the only one (findNvcc): a bad one may fall back.
  add('env', 'CUOP_NVCC_PATH=$(touch …)', {
    ...nvccEnv({}),
    mayPass: true,
    run: (ctx) => nvccEnv({ CUOP_NVCC_PATH: `$(touch ${ctx.sentinels}/env-nvcc-path)` }).run(ctx),
  });
  add('env', 'CUOP_NVCC_PATH=nvcc; touch …', {
    ...nvccEnv({}),
    mayPass: true,
    run: (ctx) =>
      nvccEnv({ CUOP_NVCC_PATH: `/usr/local/bin/nvcc; touch ${ctx.sentinels}/env-nvcc-semicolon` }).run(ctx),
  });
  add('env', 'nvccPath with an option after it', {
    ...nvccEnv({}),
    run: (ctx) => nvccEnv({}, { nvccPath: '/usr/local/bin/nvcc --run' }).run(ctx),
  });
  add('env', 'CUOP_COMPILE_TIMEOUT_MS=-5', { ...nvccEnv({ CUOP_COMPILE_TIMEOUT_MS: '-5' }), mayPass: true });
  add('env', 'NVCC_APPEND_FLAGS with a payload', {
    ...nvccEnv({}),
    mayPass: true,
    run: (ctx) => nvccEnv({ NVCC_APPEND_FLAGS: `-DX=$(touch ${ctx.sentinels}/env-append)` }).run(ctx),
  });
  add('env', 'CUOP_COMPILER=bogus', {
    short: true,
    run: async ({ work }) => {
      const { JitCompiler } = await import('../src/jit/index.js');
      const saved = process.env['CUOP_COMPILER'];
      process.env['CUOP_COMPILER'] = 'bogus';
      const cache = new KernelCache({ dir: join(work, 'env-compiler'), env: {}, logger: quiet });
      try {
        return await new JitCompiler({ cache, record: null }).compile({ source: K, name: 'k' }, 'sm_90');
      } finally {
        if (saved === undefined) delete process.env['CUOP_COMPILER'];
        else process.env['CUOP_COMPILER'] = saved;
        await cache.close();
      }
    },
  });
  add('env', "an arch that is not one ('sm_x;ls')", {
    short: true,
    compiles: true,
    run: ({ jit }) => jit.compile({ source: K, name: 'k' }, 'sm_x;ls'),
  });
  add('env', "an arch with a payload ('sm_90 $(touch …)')", {
    compiles: true,
    run: ({ jit, sentinels }) => jit.compile({ source: K, name: 'k' }, `sm_90 $(touch ${sentinels}/arch)`),
  });
  return cases;
}

export const CASES: readonly Case[] = build();
