// The published entry point: `import 'cuop'` resolves to the bundled dist/index.js, which must expose exactly what
// the compiled sources export and behave the same (it is built from them by scripts/bundle-lib.mjs). And the
// package as `npm pack` makes it: installed elsewhere, both its layouts (dist/ and build/src/) generate the same
// operator sources as the sources here, which needs the CUDA templates of src/ops/cuda/ to ship.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve, sep } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as sources from '../src/index.js';
import { countingCompile, specFor, tempDir } from './cache/fixtures.js';
import { redisForFile } from './cache/redis-fixture.js';

const redis = redisForFile();

test("import 'cuop' gives the bundle, with the same exports as the sources", async () => {
  const pkg = (await import('cuop')) as typeof sources;
  const resolved = fileURLToPath(import.meta.resolve('cuop'));
  assert.match(resolved, /[/\\]dist[/\\]index\.js$/);
  // The loader adds one name of its own: whether V8's code cache was used.
  assert.deepEqual(
    Object.keys(pkg)
      .filter((k) => k !== 'codeCache')
      .sort(),
    Object.keys(sources).sort(),
  );
  assert.equal(typeof (pkg as unknown as { codeCache: { used: boolean } }).codeCache.used, 'boolean');
  assert.notEqual(pkg.KernelCache, sources.KernelCache, 'a separate copy, not a re-export of build/');
});

test('the bundle keeps koffi external and works on its own: same keys, a real cache round trip', async () => {
  const bundleText = readFileSync(
    join(dirname(fileURLToPath(import.meta.resolve('cuop'))), 'cuop.cjs'),
    'utf8',
  );
  assert.match(bundleText, /require\(["']koffi["']\)/, 'koffi is required, not inlined');
  const pkg = (await import('cuop')) as typeof sources;
  const spec = specFor(3);
  assert.equal(pkg.cacheKey(spec), sources.cacheKey(spec));
  const dir = tempDir('bundle');
  const a = new pkg.KernelCache({ dir, env: {} });
  assert.equal((await a.getOrCompile(spec, countingCompile(3).compile)).tier, 'compiled');
  await a.close();
  const b = new sources.KernelCache({ dir, env: {} }); // the sources read what the bundle wrote
  const hit = await b.getOrCompile(specFor(3), () => Promise.reject(new Error('expected a disk hit')));
  assert.equal(hit.tier, 'disk');
  await b.close();
});

test(
  "the bundle's shared tier reaches Redis (its client loads inside the vm.Script the package entry runs)",
  { skip: redis.missing ?? false },
  async () => {
    const pkg = (await import('cuop')) as typeof sources;
    const remote = {
      url: redis.server.url,
      secrets: [{ id: 'k1', secret: 'package-test-secret-0123' }],
      prefix: 'pkg:',
      timeoutMs: 2000,
    };
    const quiet = { warn: () => {}, debug: () => {} };
    const a = new pkg.KernelCache({ dir: tempDir('bundle-remote-a'), env: {}, logger: quiet, remote });
    assert.equal((await a.getOrCompile(specFor(4), countingCompile(4).compile)).tier, 'compiled');
    await a.close(); // sends the queued publish
    assert.equal(a.getStats().tiers?.['remote']?.['errors'], 0, 'no client errors');
    const b = new pkg.KernelCache({ dir: tempDir('bundle-remote-b'), env: {}, logger: quiet, remote });
    const hit = await b.getOrCompile(specFor(4), () => Promise.reject(new Error('expected a remote hit')));
    assert.equal(hit.tier, 'remote');
    await b.close();
  },
);

test(
  "CommonJS code can require('cuop') where Node loads ES modules from require()",
  {
    skip:
      (process.features as { require_module?: boolean }).require_module === true
        ? false
        : 'this Node cannot require() an ES module',
  },
  () => {
    const required = createRequire(import.meta.url)('cuop') as typeof sources;
    assert.equal(typeof required.JitWrapper, 'function');
    assert.deepEqual(Object.keys(required).sort(), Object.keys(sources).sort());
  },
);

// ---- the packed package, installed ----

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const cleanup: string[] = [];
after(() => cleanup.forEach((d) => rmSync(d, { recursive: true, force: true })));

/**
 * Runs in a fresh process inside the installed package's consumer: prints, as JSON, the sources one GEMM per dtype
 * family (requested through a recording provider over fake tensors), one elementwise, one reduce and one softmax
 * kernel generate through the layout named by argv[2]: 'dist' (`import 'cuop'`) or 'build' (build/src/ops).
 */
const PROBE = `
const ops = process.argv[2] === 'dist'
  ? await import('cuop')
  : await import(new URL('./node_modules/cuop/build/src/ops/index.js', import.meta.url).href);
const device = { multiprocessorCount: 132 };
const fake = (shape, dtype) =>
  new ops.Tensor({ byteLength: 1 << 20, device, devicePtr: 4096n }, shape, dtype);
const out = {};
const jit = { kernel: async (spec) => { out[spec.name] = spec.source; return { launch() {} }; } };
for (const dtype of ['float32', 'float16']) {
  await new ops.Gemm({ dtype }).forward([fake([64, 64], dtype), fake([64, 64], dtype)], [fake([64, 64], dtype)], { jit });
}
const e = ops.elementwiseSource({ expr: ops.ew.input(0).mul(ops.ew.input(1)).gelu(), dtype: 'bfloat16', vec: 8 });
const r = ops.reduceSource({ op: 'max', dtype: 'float16', shape: 'block', vec: 8 });
const s = ops.softmaxSource({ dtype: 'float32', shape: 'warp', vec: 4 });
for (const g of [e, r, s]) out[g.name] = g.source;
console.log(JSON.stringify(out));
`;

/** What PROBE prints, generated here from the sources under test. */
async function expectedProbe(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const { gemmSource } = await import('../src/ops/gemm-source.js');
  const { Gemm } = await import('../src/ops/gemm.js');
  for (const dtype of ['float32', 'float16'] as const) {
    const g = gemmSource(new Gemm({ dtype }).specFor({ M: 64, N: 64, K: 64 }, [4096n, 4096n, 4096n], 132));
    out[g.name] = g.source;
  }
  const e = sources.elementwiseSource({
    expr: sources.ew.input(0).mul(sources.ew.input(1)).gelu(),
    dtype: 'bfloat16',
    vec: 8,
  });
  const r = sources.reduceSource({ op: 'max', dtype: 'float16', shape: 'block', vec: 8 });
  const s = sources.softmaxSource({ dtype: 'float32', shape: 'warp', vec: 4 });
  for (const g of [e, r, s]) out[g.name] = g.source;
  return out;
}

test('the packed package ships the CUDA templates; installed, dist/ and build/src/ generate the same sources', async () => {
  const dir = tempDir('pack');
  cleanup.push(dir);
  // --ignore-scripts: pack this build as it is (no "prepare" rebuild in the middle of a test run).
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  ) as { filename: string; files: { path: string }[] }[];
  const info = packed[0] as { filename: string; files: { path: string }[] };
  const paths = info.files.map((f) => f.path);
  for (const f of ['src/ops/cuda/gemm-simt.cu', 'src/ops/cuda/prelude.cuh', 'build/src/ops/cuda-text.js']) {
    assert.ok(paths.includes(f), `${f} is not in the package`);
  }
  assert.deepEqual(
    paths.filter((p) => p.startsWith('src/') && !/^src\/ops\/cuda\/([^/]+\.cuh?|README\.md)$/.test(p)),
    [],
    'only the CUDA templates (and their README, which npm always packs) ship from src/',
  );

  // Install: unpack into a consumer's node_modules, next to the dependencies this checkout has.
  const app = join(dir, 'app');
  const pkgDir = join(app, 'node_modules', 'cuop');
  mkdirSync(pkgDir, { recursive: true });
  execFileSync('tar', ['-xzf', join(dir, info.filename), '-C', pkgDir, '--strip-components=1']);
  const require = createRequire(join(root, 'package.json'));
  for (const dep of ['koffi', 'commander']) {
    const entry = require.resolve(dep); // …/node_modules/<dep>/<main>: the package folder is the part up to <dep>
    const at = entry.lastIndexOf(`node_modules${sep}${dep}${sep}`) + `node_modules${sep}${dep}`.length;
    symlinkSync(entry.slice(0, at), join(app, 'node_modules', dep), 'dir');
  }
  writeFileSync(join(app, 'probe.mjs'), PROBE);
  const probe = (layout: 'dist' | 'build') =>
    spawnSync(process.execPath, [join(app, 'probe.mjs'), layout], { cwd: app, encoding: 'utf8' });

  const expected = await expectedProbe();
  assert.equal(Object.keys(expected).length, 5);
  for (const layout of ['dist', 'build'] as const) {
    const r = probe(layout);
    assert.equal(r.status, 0, `${layout}: ${r.stderr}`);
    assert.deepEqual(JSON.parse(r.stdout), expected, `${layout} generated other sources`);
  }

  // build/src reads the templates at run time: without one it says which file and that the package is incomplete.
  // dist/ has them inlined and does not care.
  rmSync(join(pkgDir, 'src', 'ops', 'cuda', 'gemm-simt.cu'));
  const broken = probe('build');
  assert.notEqual(broken.status, 0);
  assert.match(broken.stderr, /src[/\\]ops[/\\]cuda[/\\]gemm-simt\.cu \(ENOENT\)/);
  assert.match(broken.stderr, /the cuop package is incomplete/);
  assert.equal(probe('dist').status, 0);
});

// ---- V8's code cache of the bundle (scripts/bundle-lib.mjs) ----

/** In a fresh process: import 'cuop', look one kernel up in `cacheDir` (or not), print the loader's codeCache. */
const CODE_CACHE_PROBE = `
const pkg = await import('cuop');
if (process.argv[2] === 'lookup') {
  const c = new pkg.KernelCache({ dir: process.env.CUOP_CACHE_DIR, logger: { debug() {}, warn() {} } });
  const compiler = { id: 'nvcc', version: 'probe' };
  const spec = { source: 'x', nameExpressions: ['k'], options: [], target: 'sm_90', imageKind: 'cubin', compiler };
  await c.getOrCompile(spec, async () => ({ image: Buffer.from('cubin'), imageKind: 'cubin', target: 'sm_90', log: '',
    loweredNames: { k: 'k' }, compileMs: 1, compiler }));
  await c.close();
}
console.log(JSON.stringify(pkg.codeCache));
`;

function codeCacheRun(env: NodeJS.ProcessEnv, mode: 'lookup' | 'import'): { used: boolean; file?: string } {
  const probe = join(tempDir('probe'), 'probe.mjs');
  writeFileSync(probe, CODE_CACHE_PROBE);
  // Resolved from this package (node_modules/cuop is the repo itself, linked): a probe outside it imports by path.
  const text = readFileSync(probe, 'utf8').replace(
    "import('cuop')",
    `import(${JSON.stringify(import.meta.resolve('cuop'))})`,
  );
  writeFileSync(probe, text);
  const out = execFileSync(process.execPath, [probe, mode], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').pop()!) as { used: boolean; file?: string };
}

test('code cache: written at exit by a process that looked a kernel up, used by the next, only in a private cuop cache', async () => {
  const dir = await (await import('./cache/fixtures.js')).initializedCacheDir('code-cache');
  const env = { CUOP_CACHE_DIR: dir, CUOP_CODE_CACHE: '' };
  const plain = codeCacheRun(env, 'import');
  assert.equal(plain.used, false);
  assert.ok(plain.file?.startsWith(join(dir, 'code-cache')), `kept in the cache dir: ${plain.file}`);
  assert.equal(
    spawnSync('test', ['-e', plain.file!]).status,
    1,
    'a process that looked nothing up writes none',
  );
  assert.equal(codeCacheRun(env, 'lookup').used, false);
  assert.equal(codeCacheRun(env, 'import').used, true, 'the next process loads the compiled functions');
  // A cache file others could have written is never loaded (V8 runs its bytecode unchecked).
  execFileSync('chmod', ['g+w', plain.file!]);
  assert.equal(codeCacheRun(env, 'import').used, false);
  // Off by request, and never in a directory that is not a cuop cache.
  assert.equal(codeCacheRun({ ...env, CUOP_CODE_CACHE: '0' }, 'import').file, undefined);
  assert.equal(codeCacheRun({ CUOP_CACHE_DIR: tempDir('not-cuop') }, 'lookup').file, undefined);
});

test('the bundled CLI (the package bin, dist/cli/main.js) runs its commands', async () => {
  const bin = join(root, 'dist/cli/main.js');
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    version: string;
    bin: { cuop: string };
  };
  assert.equal(resolve(root, pkg.bin.cuop), bin);
  assert.equal(execFileSync(process.execPath, [bin, '--version'], { encoding: 'utf8' }).trim(), pkg.version);
  const dir = await (await import('./cache/fixtures.js')).initializedCacheDir('bundled-cli');
  const stats = JSON.parse(
    execFileSync(process.execPath, [bin, 'cache', '--cache-dir', dir, 'stats', '--json'], {
      encoding: 'utf8',
    }),
  ) as { dir: string; cachedKernels: { disk: number } };
  assert.equal(stats.dir, dir);
  assert.equal(stats.cachedKernels.disk, 0);
});
