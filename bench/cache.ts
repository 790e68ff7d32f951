// npm run bench:cache — cost of the cache layer alone (no driver): memory hit, disk hit (read + verify +
// decompress), codec decompression, the compile count of 16 processes racing cold, and the hit paths with and
// without a subscriber on the cache's diagnostics channels (src/cache/trace.ts).
// Images are real nvcc-built cubins (nvcc -cubin -arch=sm_90; no GPU needed), kept under the OS temp dir.
import { execFileSync, fork } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CODECS, compress, decompress, zstdAvailable, type Codec } from '../src/cache/codec.js';
import { cacheKey, type KeySpec } from '../src/cache/key.js';
import { KernelCache } from '../src/cache/kernel-cache.js';
import { CACHE_CHANNELS } from '../src/cache/trace.js';
import { scanIncludes } from '../src/compiler/include-scan.js';
import type { CompileResult } from '../src/compiler/types.js';

const NVCC = process.env.NVCC ?? '/usr/local/bin/nvcc';
const quiet = { debug: () => {}, warn: () => {} };

const GEMM = `template <int BM, int BN, int BK, int TM>
__global__ void sgemm(const float* __restrict__ A, const float* __restrict__ B, float* __restrict__ C, int M, int N, int K) {
  __shared__ float As[BK][BM];
  __shared__ float Bs[BK][BN];
  const int tx = threadIdx.x % (BN), ty = threadIdx.x / (BN);
  const int row0 = blockIdx.y * BM, col = blockIdx.x * BN + tx;
  float acc[TM] = {0.f};
  for (int k0 = 0; k0 < K; k0 += BK) {
    for (int i = threadIdx.x; i < BM * BK; i += blockDim.x) {
      int r = i / BK, c = i % BK;
      As[c][r] = (row0 + r < M && k0 + c < K) ? A[(row0 + r) * K + k0 + c] : 0.f;
    }
    for (int i = threadIdx.x; i < BK * BN; i += blockDim.x) {
      int r = i / BN, c = i % BN;
      Bs[r][c] = (k0 + r < K && blockIdx.x * BN + c < N) ? B[(k0 + r) * N + blockIdx.x * BN + c] : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      float b = Bs[kk][tx];
#pragma unroll
      for (int m = 0; m < TM; ++m) acc[m] += As[kk][ty * TM + m] * b;
    }
    __syncthreads();
  }
#pragma unroll
  for (int m = 0; m < TM; ++m) {
    int r = row0 + ty * TM + m;
    if (r < M && col < N) C[r * N + col] = acc[m];
  }
}
template __global__ void sgemm<64, 64, 8, 8>(const float* __restrict__, const float* __restrict__, float* __restrict__, int, int, int);
template __global__ void sgemm<32, 32, 8, 4>(const float* __restrict__, const float* __restrict__, float* __restrict__, int, int, int);
`;

/** ~1 MB: 36 instantiations of an unrolled kernel (a real single cubin, not a concatenation). */
const BIG =
  `template <int N>
__global__ void big(float* __restrict__ a, const float* __restrict__ b, int n) {
  float acc = 0.f;
#pragma unroll
  for (int i = 0; i < 64; ++i) acc += a[(threadIdx.x + i * N) % n] * b[(i * 7 + N) % n] + __sinf(acc * N);
  a[threadIdx.x] = acc;
}
` +
  Array.from(
    { length: 36 },
    (_, i) =>
      `template __global__ void big<${i + 1}>(float* __restrict__, const float* __restrict__, int);\n`,
  ).join('');

const SMALL_KERNEL = (i: number) =>
  `extern "C" __global__ void k${i}(float* a) { a[threadIdx.x] *= ${i + 2}.0f; }\n`;

function nvcc(source: string): Buffer {
  const dir = join(tmpdir(), 'cuop-bench-cubins');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `${createHash('sha256').update(source).digest('hex').slice(0, 16)}.cubin`);
  if (!existsSync(out)) {
    const work = mkdtempSync(join(tmpdir(), 'cuop-bench-nvcc-'));
    writeFileSync(join(work, 'k.cu'), source);
    execFileSync(NVCC, ['-cubin', '-arch=sm_90', '-o', out, join(work, 'k.cu')], { stdio: 'inherit' });
    rmSync(work, { recursive: true, force: true });
  }
  return readFileSync(out);
}

function spec(source: string, i: number): KeySpec {
  return {
    source,
    nameExpressions: ['k'],
    options: ['-O3', `-DVARIANT=${i}`],
    compiler: { id: 'nvcc', version: '13.0.88' },
    target: 'sm_90',
    imageKind: 'cubin',
  };
}

function result(image: Buffer, compileMs = 400, dependencies?: CompileResult['dependencies']): CompileResult {
  return {
    image,
    imageKind: 'cubin',
    target: 'sm_90',
    log: '',
    loweredNames: { k: 'k' },
    compileMs,
    compiler: { id: 'nvcc', version: '13.0.88' },
    ...(dependencies ? { dependencies } : {}),
  };
}

/** Median of `reps` timings of `n` iterations each, in µs per iteration. */
async function timeUs(n: number, reps: number, fn: (i: number) => unknown): Promise<number> {
  const per: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const v = fn(i);
      if (v instanceof Promise) await v;
    }
    per.push(Number(process.hrtime.bigint() - t0) / 1e3 / n);
  }
  per.sort((a, b) => a - b);
  return per[Math.floor(per.length / 2)]!;
}

/**
 * Fills a directory with `count` entries. The measured entries go through getOrCompile (the real publish path);
 * the filler entries are copies of a published entry's files under new keys (metadata rewritten with the new key),
 * written directly without fsync so that 10 000 entries take seconds, not minutes. Same format as a real publish.
 */
async function populate(
  dir: string,
  image: Buffer,
  measured: KeySpec[],
  count: number,
  filler: Buffer,
): Promise<void> {
  const c = new KernelCache({ dir, env: {}, logger: quiet, policy: { maintenanceIntervalMs: 0 } });
  for (const s of measured) await c.getOrCompile(s, async () => result(image));
  const tmpl = spec('filler', -1);
  const tk = (await c.getOrCompile(tmpl, async () => result(filler))).key;
  await c.close();
  const meta = JSON.parse(readFileSync(join(dir, 'metadata', tk.slice(0, 2), `${tk}.json`), 'utf8')) as {
    key: string;
  };
  for (let i = measured.length + 1; i < count; i++) {
    const key = cacheKey(spec('filler', i));
    mkdirSync(join(dir, 'kernels', key.slice(0, 2)), { recursive: true, mode: 0o700 });
    mkdirSync(join(dir, 'metadata', key.slice(0, 2)), { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, 'kernels', key.slice(0, 2), `${key}.cubin`), filler);
    writeFileSync(join(dir, 'metadata', key.slice(0, 2), `${key}.json`), JSON.stringify({ ...meta, key }));
  }
}

/**
 * `n` headers on disk, one including the next, older than the "too new" window (so a lookup stats them and hashes
 * none), and the real include scan of a source that includes the first: the dependencies a compile would record.
 */
function headerTree(n: number): {
  dir: string;
  options: string[];
  dependencies: CompileResult['dependencies'];
} {
  const dir = mkdtempSync(join(tmpdir(), 'cuop-bench-headers-'));
  for (let i = 0; i < n; i++) {
    const p = join(dir, `h${i}.cuh`);
    writeFileSync(p, `#pragma once\n${i + 1 < n ? `#include "h${i + 1}.cuh"\n` : ''}#define H${i} ${i}\n`);
  }
  // utimes cannot move ctime back: wait out the "too new" window so the headers are judged by their stat data.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2_100);
  const scan = scanIncludes({ source: '#include "h0.cuh"\n', includeDirs: [dir] });
  return { dir, options: [`-I${dir}`], dependencies: { ...scan, stable: true } };
}

/** Disk hits of specs that read `headers` files from disk: the manifest check (a stat per file) + the entry read. */
async function measureWithHeaders(
  image: Buffer,
  entries: number,
  filler: Buffer,
  headers: number,
): Promise<number> {
  const tree = headerTree(headers);
  const source = `#include "h0.cuh"\n// with headers\n`;
  const nMeasured = Math.min(10, entries);
  const specs = Array.from({ length: nMeasured }, (_, i) => ({
    ...spec(source, i),
    options: [...tree.options, `-DV=${i}`],
  }));
  const dir = mkdtempSync(join(tmpdir(), 'cuop-bench-deps-'));
  const c = new KernelCache({ dir, env: {}, logger: quiet, policy: { maintenanceIntervalMs: 0 } });
  for (const sp of specs) await c.getOrCompile(sp, async () => result(image, 400, tree.dependencies));
  await c.close();
  await populate(dir, image, [], entries - nMeasured, filler);
  const disk = new KernelCache({
    dir,
    env: {},
    logger: quiet,
    policy: { memoryMaxBytes: 1, maintenanceIntervalMs: 0 },
  });
  let found = 0;
  const us = await timeUs(3_000, 5, async (i) => {
    const r = await disk.getOrCompile(specs[i % nMeasured]!, async () => {
      throw new Error('unexpected miss');
    });
    if (r.entry.meta.dependencies?.files.length === headers) found++;
  });
  if (found === 0) throw new Error('the header specs did not hit entries with dependencies');
  await disk.close();
  rmSync(dir, { recursive: true, force: true });
  rmSync(tree.dir, { recursive: true, force: true });
  return us;
}

interface Row {
  image: string;
  entries: number;
  memoryUs: number;
  peekUs: number;
  diskUs: number;
}

async function measure(label: string, image: Buffer, entries: number, filler: Buffer): Promise<Row> {
  const source = `// ${label}\n`;
  const nMeasured = Math.min(10, entries);
  const specs = Array.from({ length: nMeasured }, (_, i) => spec(source, i));
  // memory: `entries` resident entries (they may share one image buffer: only the index size matters here)
  const mem = new KernelCache({
    dir: null,
    env: {},
    logger: quiet,
    policy: { memoryMaxEntries: entries + 10, memoryMaxBytes: Number.MAX_SAFE_INTEGER },
  });
  for (let i = 0; i < entries; i++) {
    const s = i < nMeasured ? specs[i]! : spec(source, 1_000_000 + i);
    await mem.getOrCompile(s, async () => result(image));
  }
  const keys = specs.map((s) => cacheKey(s));
  const memoryUs = await timeUs(100_000, 5, (i) =>
    mem.getOrCompile(specs[i % nMeasured]!, async () => result(image)),
  );
  const peekUs = await timeUs(200_000, 5, (i) => mem.peek(keys[i % nMeasured]!));
  await mem.close();
  // disk: a cache whose memory tier keeps nothing, so every lookup is a verified disk read
  const dir = mkdtempSync(join(tmpdir(), 'cuop-bench-disk-'));
  await populate(dir, image, specs, entries, filler);
  const disk = new KernelCache({
    dir,
    env: {},
    logger: quiet,
    policy: { memoryMaxBytes: 1, maintenanceIntervalMs: 0 },
  });
  const iters = image.length > 100_000 ? 300 : 5_000;
  const diskUs = await timeUs(iters, 5, (i) =>
    disk.getOrCompile(specs[i % nMeasured]!, async () => {
      throw new Error('unexpected miss');
    }),
  );
  await disk.close();
  rmSync(dir, { recursive: true, force: true });
  return { image: label, entries, memoryUs, peekUs, diskUs };
}

async function codecTable(images: [string, Buffer][], diskUs: Map<string, number>): Promise<void> {
  console.log('\nCodec cost (decompress, median µs) vs the uncompressed disk hit of the same image');
  console.log('| image | codec | stored bytes | ratio | decompress µs | % of disk hit |');
  console.log('|---|---|---|---|---|---|');
  for (const [label, img] of images) {
    for (const codec of CODECS as Codec[]) {
      if (codec === 'none') continue;
      if (codec === 'zstd' && !zstdAvailable()) {
        console.log(`| ${label} | zstd | — | — | (not in Node ${process.versions.node}) | — |`);
        continue;
      }
      const stored = compress(codec, img);
      const n = img.length > 100_000 ? 200 : 3000;
      const us = await timeUs(n, 5, () => decompress(codec, stored, img.length));
      const pct = (100 * us) / diskUs.get(label)!;
      console.log(
        `| ${label} | ${codec} | ${stored.length} | ${(img.length / stored.length).toFixed(2)}× | ${us.toFixed(1)} | ${pct.toFixed(0)} % |`,
      );
    }
  }
}

// ---------------------------------------------------------------- tracing

/** A subscriber on every cache channel that keeps a count and the last message (so the message is really built). */
function subscribeAll(): () => number {
  let n = 0;
  let last: unknown;
  const h = (m: unknown) => {
    n++;
    last = m;
  };
  for (const name of Object.values(CACHE_CHANNELS)) subscribe(name, h);
  return () => {
    for (const name of Object.values(CACHE_CHANNELS)) unsubscribe(name, h);
    return last === undefined ? 0 : n;
  };
}

interface TracingRow {
  path: string;
  withoutNs: number;
  withNs: number;
  afterNs: number;
}

/**
 * The hit paths with nobody subscribed (measured first: no subscriber has existed in this process yet, so the
 * channels' hasSubscribers sites have only seen inactive channels), with a subscriber on every channel, and after
 * it left. ns per lookup, median of 5 runs each.
 */
async function tracingTable(image: Buffer): Promise<TracingRow[]> {
  const specs = Array.from({ length: 10 }, (_, i) => spec('// tracing\n', i));
  const mem = new KernelCache({ dir: null, env: {}, logger: quiet });
  for (const s of specs) await mem.getOrCompile(s, async () => result(image));
  const dir = mkdtempSync(join(tmpdir(), 'cuop-bench-trace-'));
  await populate(dir, image, specs, 10, image);
  const disk = new KernelCache({
    dir,
    env: {},
    logger: quiet,
    policy: { memoryMaxBytes: 1, maintenanceIntervalMs: 0 },
  });
  const miss = async (): Promise<CompileResult> => {
    throw new Error('unexpected miss');
  };
  const paths: [string, number, (i: number) => unknown][] = [
    ['memory hit (getOrCompile)', 200_000, (i) => mem.getOrCompile(specs[i % 10]!, miss)],
    ['memory hit (lookupSync)', 400_000, (i) => mem.lookupSync(specs[i % 10]!)],
    ['disk hit (getOrCompile)', 5_000, (i) => disk.getOrCompile(specs[i % 10]!, miss)],
    ['disk hit (lookupSync)', 5_000, (i) => disk.lookupSync(specs[i % 10]!)],
  ];
  for (const [, n, fn] of paths) await timeUs(n, 2, fn); // warm-up: every column measures optimized code
  const without: number[] = [];
  for (const [, n, fn] of paths) without.push(await timeUs(n, 5, fn));
  const withSub: number[] = [];
  const stop = subscribeAll();
  for (const [, n, fn] of paths) withSub.push(await timeUs(n, 5, fn));
  if (stop() === 0) throw new Error('the subscriber saw no message');
  const after: number[] = [];
  for (const [, n, fn] of paths) after.push(await timeUs(n, 5, fn));
  await mem.close();
  await disk.close();
  rmSync(dir, { recursive: true, force: true });
  return paths.map(([path], i) => ({
    path,
    withoutNs: without[i]! * 1000,
    withNs: withSub[i]! * 1000,
    afterNs: after[i]! * 1000,
  }));
}

// ---------------------------------------------------------------- 16-process race

const SELF = fileURLToPath(import.meta.url);

async function raceWorker(dir: string, kernels: number): Promise<void> {
  const c = new KernelCache({ dir, env: {}, logger: quiet, policy: { maintenanceIntervalMs: 0 } });
  const images = Array.from({ length: kernels }, (_, i) => nvcc(SMALL_KERNEL(i)));
  process.send!('ready');
  await new Promise<void>((res) => process.once('message', () => res()));
  let compiles = 0;
  await Promise.all(
    images.map((img, i) =>
      c.getOrCompile(spec(SMALL_KERNEL(i), i), async () => {
        compiles++;
        // the compile: a real nvcc-built image returned after the measured nvcc time (0.4 s)
        await new Promise((r) => setTimeout(r, 400));
        return result(img);
      }),
    ),
  );
  await c.close();
  process.send!({ compiles }, () => process.exit(0));
}

async function race(procs: number, kernels: number): Promise<{ compiles: number; ms: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'cuop-bench-race-'));
  for (let i = 0; i < kernels; i++) nvcc(SMALL_KERNEL(i));
  const kids = Array.from({ length: procs }, () =>
    fork(SELF, ['--race-worker', dir, String(kernels)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  );
  await Promise.all(kids.map((k) => new Promise((res) => k.once('message', res))));
  const t0 = performance.now();
  const done = kids.map(
    (k) => new Promise<number>((res) => k.once('message', (m) => res((m as { compiles: number }).compiles))),
  );
  for (const k of kids) k.send('go');
  const counts = await Promise.all(done);
  const ms = performance.now() - t0;
  rmSync(dir, { recursive: true, force: true });
  return { compiles: counts.reduce((a, b) => a + b, 0), ms };
}

async function main(): Promise<void> {
  if (process.argv[2] === '--race-worker') return raceWorker(process.argv[3]!, Number(process.argv[4]));
  const small = nvcc(GEMM);
  if (process.argv[2] === '--tracing') return printTracing(await tracingTable(small), small);
  const big = nvcc(BIG);
  const smallLabel = `${(small.length / 1024).toFixed(1)} KB`;
  const bigLabel = `${(big.length / 2 ** 20).toFixed(2)} MB`;
  console.log(
    `Node ${process.versions.node}; images: sgemm cubin ${small.length} B, big cubin ${big.length} B (nvcc sm_90)`,
  );
  console.log(
    'Cache layer alone (no driver), warm page cache, median of 5 runs; checksum (SHA-256) on, codec none\n',
  );
  const rows: Row[] = [];
  for (const [label, img] of [
    [smallLabel, small],
    [bigLabel, big],
  ] as [string, Buffer][]) {
    for (const n of [10, 10_000]) rows.push(await measure(label, img, n, small));
  }
  console.log('| image | entries | memory hit getOrCompile µs | peek µs | disk hit µs (read+verify) |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) {
    console.log(
      `| ${r.image} | ${r.entries} | ${r.memoryUs.toFixed(2)} | ${r.peekUs.toFixed(3)} | ${r.diskUs.toFixed(1)} |`,
    );
  }
  console.log(
    `\nDisk hit of a spec whose compile read 20 headers from disk (${smallLabel} image): manifest check`,
  );
  console.log('| entries | no headers on disk µs | 20 headers on disk µs |');
  console.log('|---|---|---|');
  for (const n of [10, 10_000]) {
    const plain = rows.find((r) => r.image === smallLabel && r.entries === n)!.diskUs;
    const withHeaders = await measureWithHeaders(small, n, small, 20);
    console.log(`| ${n} | ${plain.toFixed(1)} | ${withHeaders.toFixed(1)} |`);
  }
  if (rows.some((r) => r.image === bigLabel && r.entries === 10_000)) {
    console.log(`(1 MB with 10 000 entries: 10 entries of the 1 MB image among 9 990 ${smallLabel} fillers)`);
  }
  const disk10 = new Map(rows.filter((r) => r.entries === 10).map((r) => [r.image, r.diskUs]));
  await codecTable(
    [
      [smallLabel, small],
      [bigLabel, big],
    ],
    disk10,
  );
  // Before anything subscribes in this process: the first rows of the table are the untraced cost.
  printTracing(await tracingTable(small), small);
  const r = await race(16, 4);
  console.log(
    `\n16 processes start cold at once, 4 kernels each (compile = real nvcc-built image after a 400 ms delay):` +
      ` ${r.compiles} compiles for 64 look-ups, ${r.ms.toFixed(0)} ms`,
  );
}

function printTracing(rows: TracingRow[], image: Buffer): void {
  console.log(
    `\nThe hit paths without and with a subscriber on every cuop:cache:* channel (${image.length} B image, 10 entries;` +
      ' ns per lookup, median of 5 runs)',
  );
  console.log('| path | no subscriber ns | with a subscriber ns | after it unsubscribed ns |');
  console.log('|---|---|---|---|');
  for (const r of rows) {
    console.log(
      `| ${r.path} | ${r.withoutNs.toFixed(0)} | ${r.withNs.toFixed(0)} | ${r.afterNs.toFixed(0)} |`,
    );
  }
}

await main();
