// `cuop cache show <key-prefix>` on a real cache: nvcc cubins and nvcc PTX put through KernelCache, one entry with
// its source saved. Prefixes that match one, none or several entries; --ptx, --source, --sass (through cuobjdump
// where this host has it, else the message saying it is missing).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';

import { KernelCache } from '../../src/cache/kernel-cache.js';
import { findCuobjdump } from '../../src/cli/cache-show.js';
import { kernelSource, NVCC, nvccCubin, resultFor, specFor } from '../cache/fixtures.js';
import { cuop, cuopJson, tempDir } from './cli-fixture.js';

const quiet = { debug: () => {}, warn: () => {} };

/** nvcc -ptx of `source` (what an entry holds when the compiler did not know the arch). */
function nvccPtx(source: string): string {
  const work = mkdtempSync(join(tmpdir(), 'cuop-ptx-'));
  try {
    writeFileSync(join(work, 'k.cu'), source);
    execFileSync(NVCC, ['-ptx', '-arch=compute_90', '-o', join(work, 'k.ptx'), join(work, 'k.cu')], {
      stdio: 'pipe',
    });
    return readFileSync(join(work, 'k.ptx'), 'utf8');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

let dir: string;
let cubinKey: string;
let ptxKey: string;
let savedKey: string;
/** 17 entries of one cubin under different options: two of them must share their first hex digit. */
const many: string[] = [];

before(async () => {
  dir = join(tempDir('cli-show'), 'c');
  const plain = new KernelCache({ dir, env: {}, logger: quiet, policy: { maintenanceIntervalMs: 0 } });
  const image = nvccCubin(kernelSource(3));
  cubinKey = (await plain.getOrCompile(specFor(3), async () => resultFor(image, 'k3'))).key;
  const ptx = nvccPtx(kernelSource(4));
  ptxKey = (
    await plain.getOrCompile(specFor(4), async () => ({
      ...resultFor(Buffer.from(ptx), 'k4'),
      imageKind: 'ptx' as const,
      target: 'compute_90',
    }))
  ).key;
  for (let i = 0; i < 17; i++) {
    const spec = specFor(3, { options: ['-O3', `-DVARIANT=${i}`] });
    many.push((await plain.getOrCompile(spec, async () => resultFor(image, 'k3'))).key);
  }
  await plain.close();
  const saving = new KernelCache({
    dir,
    env: {},
    logger: quiet,
    policy: { maintenanceIntervalMs: 0, saveSource: true },
  });
  savedKey = (await saving.getOrCompile(specFor(5), async () => resultFor(nvccCubin(kernelSource(5)), 'k5')))
    .key;
  await saving.close();
});

const show = (...args: string[]) => cuop(['cache', '--cache-dir', dir, 'show', ...args]);

interface Shown {
  entry: { key: string; kernelNames: string[]; bytes: number; uses: number; imageKind: string };
  metadata: Record<string, unknown>;
  problem?: string;
  ptx?: string;
  source?: string;
  sass?: string;
  missing?: Record<string, string>;
}

test('show <unique prefix> prints the entry: key, kernels, arch, image, compiler, options, size, uses, times', () => {
  const r = show(cubinKey.slice(0, 12));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^key\\s+${cubinKey}$`, 'm'));
  assert.match(r.stdout, /^kernels\s+k3$/m);
  assert.match(r.stdout, /^arch\s+sm_90$/m);
  assert.match(r.stdout, /^image\s+cubin, [\d.]+ KiB \(stored [\d.]+ KiB, none\)$/m);
  assert.match(r.stdout, /^compiler\s+nvcc 13\.0\.88$/m);
  assert.match(r.stdout, /^options\s+-O3$/m);
  assert.match(r.stdout, /^uses\s+1$/m);
  assert.match(r.stdout, /^last use\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(\d+[smhd] ago\)$/m);
  assert.match(r.stdout, /^source\s+sha256 [0-9a-f]{64} \(not saved\)$/m);
  // The full key and upper-case digits work too.
  assert.equal(show(cubinKey.toUpperCase()).status, 0);
});

test('show with a prefix of several entries exits 2 and lists them; with one of none, exits 1', () => {
  const byDigit = new Map<string, string[]>();
  for (const k of many) byDigit.set(k[0]!, [...(byDigit.get(k[0]!) ?? []), k]);
  const [digit, shared] = [...byDigit.entries()].find(([, ks]) => ks.length > 1)!;
  const r = show(digit);
  assert.equal(r.status, 2);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, new RegExp(`key prefix ${digit} matches \\d+ entries; give more digits:`));
  for (const k of shared) assert.ok(r.stderr.includes(k), `candidate ${k} listed`);

  const all = [cubinKey, ptxKey, savedKey, ...many];
  let absent = '000000000000';
  while (all.some((k) => k.startsWith(absent)))
    absent = (BigInt(`0x${absent}`) + 1n).toString(16).padStart(12, '0');
  const none = show(absent);
  assert.equal(none.status, 1);
  assert.match(
    none.stderr,
    new RegExp(`no cache entry has a key starting with ${absent} \\(cuop cache ls lists them\\)`),
  );

  const bad = show('xyz');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /'xyz' is not a key prefix: expected 1 to 64 hex digits/);
});

test('show --json: the listing entry and the metadata as stored', () => {
  const j = cuopJson<Shown>(['cache', '--cache-dir', dir, 'show', cubinKey.slice(0, 12), '--json']);
  assert.equal(j.entry.key, cubinKey);
  assert.deepEqual(j.entry.kernelNames, ['k3']);
  assert.equal(j.entry.uses, 1);
  const meta = JSON.parse(
    readFileSync(join(dir, 'metadata', cubinKey.slice(0, 2), `${cubinKey}.json`), 'utf8'),
  ) as Record<string, unknown>;
  assert.deepEqual(j.metadata, meta);
  assert.equal(j.problem, undefined);
  assert.equal(j.missing, undefined);
});

test('show --ptx prints the PTX of a PTX entry alone; of a cubin it exits 1 saying cuop keeps none', () => {
  const r = show(ptxKey.slice(0, 12), '--ptx');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^\.version \d+\.\d+$/m);
  assert.match(r.stdout, /\.entry k4\(/);
  assert.match(show(ptxKey.slice(0, 12)).stdout, /^arch\s+sm_90 \(image built for compute_90\)$/m);

  const cubin = show(cubinKey.slice(0, 12), '--ptx');
  assert.equal(cubin.status, 1);
  assert.equal(cubin.stdout, '');
  assert.match(cubin.stderr, /no ptx for [0-9a-f]{12}: the entry holds a cubin for sm_90, not PTX/);
  const j = cuopJson<Shown>(
    ['cache', '--cache-dir', dir, 'show', cubinKey.slice(0, 12), '--ptx', '--json'],
    {},
    1,
  );
  assert.match(j.missing?.['ptx'] ?? '', /not PTX/);
  assert.equal(j.ptx, undefined);
  const p = cuopJson<Shown>(['cache', '--cache-dir', dir, 'show', ptxKey.slice(0, 12), '--ptx', '--json']);
  assert.match(p.ptx ?? '', /\.entry k4\(/);
});

test('show --source prints the source where it was saved, and says it was not saved elsewhere', () => {
  const r = show(savedKey.slice(0, 12), '--source');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, kernelSource(5));
  const j = cuopJson<Shown>([
    'cache',
    '--cache-dir',
    dir,
    'show',
    savedKey.slice(0, 12),
    '--source',
    '--json',
  ]);
  assert.equal(j.source, kernelSource(5));
  assert.equal(j.metadata['source'], undefined, 'the source only under `source`');

  const not = show(cubinKey.slice(0, 12), '--source');
  assert.equal(not.status, 1);
  assert.match(
    not.stderr,
    /the source was not saved \(sha256 [0-9a-f]{64}\): cuop saves it only when the cache policy's saveSource is on/,
  );
});

const cuobjdump = findCuobjdump();
/** An environment where no cuobjdump can be found: no PATH, no toolkit variables, no nvcc to ask. */
const toolless = { PATH: '/nonexistent', CUDA_PATH: '', CUDA_HOME: '', CUOP_NVCC_PATH: '' };
const toollessSkip =
  'path' in findCuobjdump(toolless) ? 'this host has a toolkit at /usr/local/cuda/bin with cuobjdump' : false;

test(
  'show --sass disassembles the cubin through cuobjdump, naming the kernel',
  { skip: 'path' in cuobjdump ? false : 'no cuobjdump on this host (the next test covers that)' },
  () => {
    const r = show(cubinKey.slice(0, 12), '--sass');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Function : k3\b/);
    assert.match(r.stdout, /\bEXIT\b/);
    const ptx = show(ptxKey.slice(0, 12), '--sass');
    assert.equal(ptx.status, 1);
    assert.match(ptx.stderr, /holds ptx, not a cubin/);
  },
);

test(
  'show --sass without cuobjdump exits 1 and says where it looked and where it comes from',
  { skip: toollessSkip },
  () => {
    const r = cuop(['cache', '--cache-dir', dir, 'show', cubinKey.slice(0, 12), '--sass'], toolless);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assert.match(
      r.stderr,
      /no sass for [0-9a-f]{12}: cuobjdump not found \(it comes with the CUDA toolkit, next to nvcc; put it on PATH\)\. Looked at: .*\/nonexistent\/cuobjdump/,
    );
  },
);
