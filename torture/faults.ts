// Faults: damage one random entry at a time (files of the disk tier, values of an in-process remote-like tier,
// family manifests), then look the key up through a fresh KernelCache and compare the image byte for byte with the
// key's true image. Real files, real nvcc cubins (test/cache/fixtures.ts), the cache's own API.
import { createHash } from 'node:crypto';
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

import { KernelCache } from '../src/cache/kernel-cache.js';
import { CACHE_FORMAT_VERSION, familyKey, type KeySpec } from '../src/cache/key.js';
import { decodeRemote, encodeRemote } from '../src/cache/remote-value.js';
import type { CacheTier, TierCapabilities, TierEntryInfo, TierRecord } from '../src/cache/tier.js';
import type { CompileResult } from '../src/compiler/types.js';
import { kernelSource, nvccCubin, resultFor, specFor } from '../test/cache/fixtures.js';
import { random, type Figure, type Scenario } from './figures.js';

const DISK_FAULTS = [
  'bit flip in the kernel file',
  'bit flip in the metadata',
  'kernel truncated',
  'metadata truncated',
  'kernel zero-length',
  'metadata zero-length',
  'kernel files swapped between two keys',
  'kernel missing (metadata only)',
  'metadata missing (kernel only)',
  'garbage JSON metadata',
  'schema-breaking JSON metadata',
  'future format version',
  'symlink planted at the kernel path',
  'symlink planted at the metadata path',
  'directory planted at the kernel path',
  'directory planted at the metadata path',
] as const;
/** Only for entries compiled from headers on disk. */
const DEPENDENCY_FAULTS = [
  'manifest lies: a stale entry claims the headers on disk now',
  'manifest lies: points at an entry of another family',
  "metadata lies: another compile's dependencies",
] as const;
const STORE_FAULTS = [
  'remote value: bit flip in the image',
  'remote value: bit flip anywhere',
  'remote value: truncated',
  'remote value: zero-length',
  'remote value: swapped between two keys',
  'remote value: metadata half missing',
  'remote value: image half missing',
  'remote value: garbage JSON metadata',
  'remote value: schema-breaking JSON metadata',
  'remote value: future format version',
  'remote value: header record lies (sizes shifted)',
] as const;
type Fault =
  (typeof DISK_FAULTS)[number] | (typeof DEPENDENCY_FAULTS)[number] | (typeof STORE_FAULTS)[number];
/** Faults that may leave a usable entry (a flipped byte in the host name, the log, a timestamp). */
const ALL_FAULTS: readonly Fault[] = [...DISK_FAULTS, ...DEPENDENCY_FAULTS, ...STORE_FAULTS];
const MAY_BE_HARMLESS: ReadonlySet<Fault> = new Set<Fault>([
  'bit flip in the metadata',
  'remote value: bit flip anywhere',
]);

const quiet = { warn: (): void => {}, debug: (): void => {} };
const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

interface Entry {
  readonly spec: KeySpec;
  /** The true image of the spec now. */
  readonly image: Buffer;
  readonly compile: () => Promise<CompileResult>;
  /** The key its entry is stored under (its dependent key when it read a header from disk). */
  key: string;
  readonly dep?: { header: string; staleKey: string; family: string };
}

/** A remote-like tier in this process: values encoded as the Redis tier encodes them (remote-value.ts), unsigned. */
class ValueStoreTier implements CacheTier {
  readonly name = 'store';
  readonly capabilities: TierCapabilities = { readOnly: false, persistent: true, shared: true };
  readonly values = new Map<string, Buffer>();
  /** Values it could not decode (reported as misses and removed, as the Redis tier does). */
  malformed = 0;

  async get(key: string): Promise<TierRecord | undefined> {
    const v = this.values.get(key);
    if (v === undefined) return undefined;
    const d = decodeRemote(key, v, [], true);
    if ('record' in d) return d.record;
    this.malformed++;
    this.values.delete(key);
    return undefined;
  }

  async put(record: TierRecord): Promise<void> {
    this.values.set(record.key, encodeRemote(record, undefined));
  }

  async delete(key: string): Promise<boolean> {
    return this.values.delete(key);
  }

  async *list(): AsyncIterable<string> {
    yield* [...this.values.keys()];
  }

  async stat(key: string): Promise<TierEntryInfo | undefined> {
    const v = this.values.get(key);
    return v && { key, bytes: v.length };
  }

  async clear(): Promise<void> {
    this.values.clear();
  }
}

/** A value's parts: [magic + length, header JSON, metadata JSON, image]. */
function splitValue(v: Buffer): { header: Record<string, unknown>; meta: Buffer; image: Buffer } {
  const hLen = v.readUInt32BE(7);
  const header = JSON.parse(v.subarray(11, 11 + hLen).toString('utf8')) as Record<string, unknown>;
  const metaBytes = header['metaBytes'] as number;
  return {
    header,
    meta: v.subarray(11 + hLen, 11 + hLen + metaBytes),
    image: v.subarray(11 + hLen + metaBytes),
  };
}

function joinValue(header: Record<string, unknown>, meta: Buffer, image: Buffer): Buffer {
  const h = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(h.length);
  return Buffer.concat([Buffer.from('CUOPR1\n'), len, h, meta, image]);
}

/** True when both gzip streams decode, to the same bytes. */
function sameGunzip(a: Buffer, b: Buffer): boolean {
  try {
    return gunzipSync(a).equals(gunzipSync(b));
  } catch {
    return false;
  }
}

function flip(b: Buffer, rand: () => number, from = 0, to = b.length): Buffer {
  const c = Buffer.from(b);
  if (to <= from) return c;
  const at = from + Math.floor(rand() * (to - from));
  c[at] = c[at]! ^ (1 << Math.floor(rand() * 8));
  return c;
}

/** JSON that parses but breaks the metadata's schema: a field dropped, of the wrong type, or out of range. */
function breakSchema(meta: Record<string, unknown>, rand: () => number): Record<string, unknown> {
  const m = { ...meta };
  const pick = Math.floor(rand() * 8);
  if (pick === 0) delete m['checksum'];
  else if (pick === 1) m['rawBytes'] = String(m['rawBytes']);
  else if (pick === 2) m['rawBytes'] = -1;
  else if (pick === 3) m['key'] = 'not a key';
  else if (pick === 4) m['imageKind'] = 'elf';
  else if (pick === 5) m['checksum'] = { algorithm: 'sha256', value: 'zz' };
  else if (pick === 6) m['storedBytes'] = 1.5;
  else delete m['formatVersion'];
  return m;
}

const GARBAGE = ['{', 'null', '[]', '42', '"x"', 'not json', '\u0000\u0001\u0002', '{"key":1}', '{}{}', ''];

export async function runFaults(o: {
  short: boolean;
  workDir: string;
  seed: number;
  log: (l: string) => void;
}): Promise<Figure[]> {
  const rand = random(o.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const total = o.short ? 500 : 10_400;
  const images = Array.from({ length: 8 }, (_, k) => nvccCubin(kernelSource(k)));
  const dir = join(o.workDir, 'cache');
  const inc = join(o.workDir, 'include');
  mkdirSync(inc, { recursive: true });

  // ---- the entries: plain ones, and ones that read a header from disk (found through their family's manifest)
  const entries: Entry[] = [];
  const PLAIN = 48;
  for (let i = 0; i < PLAIN; i++) {
    const k = i % 8;
    entries.push({
      spec: specFor(k, { options: ['-O3', `-DENTRY=${i}`] }),
      image: images[k]!,
      compile: async () => resultFor(images[k]!, `k${k}`),
      key: '',
    });
  }
  const headerOf = (d: number, version: number): string =>
    `// header ${d}, version ${version}${'.'.repeat(version)}\n`;
  const depCompile = (d: number, k: number, header: string) => async (): Promise<CompileResult> => {
    const text = readFileSync(header, 'utf8');
    const version = text === headerOf(d, 0) ? 0 : 1;
    const st = statSync(header);
    return {
      ...resultFor(images[(k + version) % 8]!, `k${k}`),
      dependencies: {
        files: [
          {
            path: header,
            sha256: sha(text),
            size: st.size,
            mtimeMs: st.mtimeMs,
            ctimeMs: st.ctimeMs,
            ino: st.ino,
          },
        ],
        absent: [],
        untracked: [],
        stable: true,
      },
    };
  };
  const DEP = 8;
  const setupCache = (codec: 'none' | 'gzip'): KernelCache =>
    new KernelCache({ dir, env: {}, logger: quiet, policy: { compression: codec } });
  for (const e of entries) {
    const c = setupCache(rand() < 0.5 ? 'none' : 'gzip');
    e.key = (await c.getOrCompile(e.spec, e.compile)).key;
    await c.close();
  }
  for (let d = 0; d < DEP; d++) {
    const k = d % 8;
    const header = join(inc, `h${d}.cuh`);
    const spec = specFor(k, {
      source: `#include "h${d}.cuh"\n${kernelSource(k)}`,
      options: ['-O3', `-I${inc}`, `-DDEP=${d}`],
    });
    writeFileSync(header, headerOf(d, 0));
    const compile = depCompile(d, k, header);
    let c = setupCache('none');
    const stale = await c.getOrCompile(spec, compile);
    await c.close();
    writeFileSync(header, headerOf(d, 1));
    c = setupCache('gzip');
    const now = await c.getOrCompile(spec, compile);
    await c.close();
    entries.push({
      spec,
      image: images[(k + 1) % 8]!,
      compile,
      key: now.key,
      dep: { header, staleKey: stale.key, family: familyKey(spec) },
    });
  }
  const metaPath = (key: string): string => join(dir, 'metadata', key.slice(0, 2), `${key}.json`);
  const manifestPath = (family: string): string =>
    join(dir, 'manifests', family.slice(0, 2), `${family}.json`);
  /** The live kernel file (the one its metadata's codec names; a dead one of another codec may lie next to it). */
  const kernelPathOf = (key: string): string | undefined => {
    const kdir = join(dir, 'kernels', key.slice(0, 2));
    try {
      const codec = (JSON.parse(readFileSync(metaPath(key), 'utf8')) as { codec: string }).codec;
      return join(kdir, `${key}.cubin${codec === 'gzip' ? '.gz' : ''}`);
    } catch {
      const n = readdirSync(kdir).find((f) => f.startsWith(`${key}.`));
      return n === undefined ? undefined : join(kdir, n);
    }
  };
  // Every entry's files as published, and each dependent family's honest manifest, to fault afresh each time.
  const baseline = new Map<string, { meta: string }>();
  for (const e of entries) baseline.set(e.key, { meta: readFileSync(metaPath(e.key), 'utf8') });
  for (const e of entries) {
    if (e.dep) baseline.set(e.dep.staleKey, { meta: readFileSync(metaPath(e.dep.staleKey), 'utf8') });
  }
  const manifests = new Map<string, string>();
  for (const e of entries)
    if (e.dep) manifests.set(e.dep.family, readFileSync(manifestPath(e.dep.family), 'utf8'));

  // ---- the remote-like tier's world: the plain entries published to it
  const store = new ValueStoreTier();
  const storeCache = (): KernelCache =>
    new KernelCache({ dir: null, env: {}, logger: quiet, tiers: [store] });
  {
    const c = storeCache();
    for (const e of entries.slice(0, PLAIN)) await c.getOrCompile(e.spec, e.compile);
    await c.close();
  }

  // ---- figures
  const injected = new Map<Fault, number>();
  const detectedBy = new Map<Fault, number>();
  const harmless = new Map<Fault, number>();
  const harmlessByConstruction = new Map<Fault, number>();
  let bad = 0;
  let errors = 0;
  let detected = 0;
  let corruptCounted = 0;
  let recompiled = 0;
  let undetectedHarmless = 0;
  let repairedByLookup = 0;
  let repairedByIntegrity = 0;
  let unsound = 0;
  let lookups = 0;
  const badCases: string[] = [];

  /** One lookup through a fresh cache, strictly compared; what it saw. */
  const lookUp = async (
    e: Entry,
    make: () => KernelCache,
    ctx: string,
  ): Promise<{ compiled: boolean; corrupt: number; ok: boolean }> => {
    let compiled = false;
    const c = make();
    lookups++;
    try {
      const r = await c.getOrCompile(e.spec, async () => {
        compiled = true;
        return e.compile();
      });
      const ok = r.entry.image.equals(e.image);
      if (!ok) {
        bad++;
        if (badCases.length < 5) badCases.push(`${ctx} (tier ${r.tier})`);
      }
      return { compiled, corrupt: c.getStats().process.corruptFound, ok };
    } catch (err) {
      errors++;
      if (badCases.length < 5) badCases.push(`${ctx}: threw ${(err as Error).message}`);
      return { compiled, corrupt: 0, ok: false };
    } finally {
      await c.close();
    }
  };

  /** Sound = found without a compile, with the true image (lookupSync: no compile, no publish). */
  const soundOnDisk = async (e: Entry): Promise<boolean> => {
    const c = new KernelCache({ dir, env: {}, logger: quiet });
    try {
      const r = c.lookupSync(e.spec);
      return r !== undefined && r.tier === 'disk' && r.entry.image.equals(e.image);
    } catch {
      errors++;
      return false;
    } finally {
      await c.close();
    }
  };
  const soundInStore = async (e: Entry): Promise<boolean> => {
    const c = storeCache();
    try {
      const r = await c.getOrCompile(e.spec, async () => {
        throw new Error('not in the store');
      });
      return r.tier === 'store' && r.entry.image.equals(e.image);
    } catch {
      return false;
    } finally {
      await c.close();
    }
  };

  // Returns true when the fault left the loadable image byte-identical (see the gzip case): then an undetected
  // fault of a kind that otherwise cannot be harmless is counted as harmless, not as a miss of the cache.
  const injectDisk = (fault: Fault, e: Entry, other: Entry): boolean => {
    let imageUnchanged = false;
    const mp = metaPath(e.key);
    const kp = kernelPathOf(e.key);
    if (kp === undefined) throw new Error(`no kernel file for ${e.key}`);
    const meta = JSON.parse(readFileSync(mp, 'utf8')) as Record<string, unknown>;
    const kernel = readFileSync(kp);
    switch (fault) {
      case 'bit flip in the kernel file': {
        const flipped = flip(kernel, rand);
        writeFileSync(kp, flipped);
        // gzip's header has bytes no decoder checks (MTIME, XFL, OS): a flip there leaves the image as it was.
        if (meta['codec'] === 'gzip') imageUnchanged = sameGunzip(flipped, kernel);
        break;
      }
      case 'bit flip in the metadata':
        writeFileSync(mp, flip(readFileSync(mp), rand));
        break;
      case 'kernel truncated':
        truncateSync(kp, Math.floor(rand() * kernel.length));
        break;
      case 'metadata truncated':
        truncateSync(mp, Math.floor(rand() * statSync(mp).size));
        break;
      case 'kernel zero-length':
        writeFileSync(kp, '');
        break;
      case 'metadata zero-length':
        writeFileSync(mp, '');
        break;
      case 'kernel files swapped between two keys': {
        const op = kernelPathOf(other.key)!;
        const theirs = readFileSync(op);
        writeFileSync(op, kernel);
        writeFileSync(kp, theirs);
        break;
      }
      case 'kernel missing (metadata only)':
        rmSync(kp);
        break;
      case 'metadata missing (kernel only)':
        rmSync(mp);
        break;
      case 'garbage JSON metadata':
        writeFileSync(mp, pick(GARBAGE));
        break;
      case 'schema-breaking JSON metadata':
        writeFileSync(mp, JSON.stringify(breakSchema(meta, rand)));
        break;
      case 'future format version':
        writeFileSync(mp, JSON.stringify({ ...meta, formatVersion: CACHE_FORMAT_VERSION + 1 }));
        break;
      case 'symlink planted at the kernel path':
        rmSync(kp);
        symlinkSync(kernelPathOf(other.key)!, kp);
        break;
      case 'symlink planted at the metadata path':
        rmSync(mp);
        symlinkSync(metaPath(other.key), mp);
        break;
      case 'directory planted at the kernel path':
        rmSync(kp);
        mkdirSync(join(kp, 'sub'), { recursive: true });
        break;
      case 'directory planted at the metadata path':
        rmSync(mp);
        mkdirSync(mp);
        break;
      case 'manifest lies: a stale entry claims the headers on disk now': {
        const dep = e.dep!;
        const m = JSON.parse(manifests.get(dep.family)!) as { candidates: Record<string, unknown>[] };
        const current = m.candidates.find((c) => c['key'] === e.key)!;
        const stale = m.candidates.find((c) => c['key'] === dep.staleKey)!;
        const lie = { ...stale, dependencies: current['dependencies'] };
        // The stale candidate first; half the time the honest one is gone.
        m.candidates = rand() < 0.5 ? [lie] : [lie, current];
        writeFileSync(manifestPath(dep.family), JSON.stringify(m));
        break;
      }
      case 'manifest lies: points at an entry of another family': {
        const dep = e.dep!;
        const m = JSON.parse(manifests.get(dep.family)!) as { candidates: Record<string, unknown>[] };
        const current = m.candidates.find((c) => c['key'] === e.key)!;
        // Another family's sound entry (same target and compiler), under this family's names and files.
        m.candidates = [{ ...current, key: other.key }];
        writeFileSync(manifestPath(dep.family), JSON.stringify(m));
        break;
      }
      case "metadata lies: another compile's dependencies": {
        const staleMeta = JSON.parse(baseline.get(e.dep!.staleKey)!.meta) as Record<string, unknown>;
        writeFileSync(mp, JSON.stringify({ ...meta, dependencies: staleMeta['dependencies'] }));
        break;
      }
      default:
        throw new Error(`not a disk fault: ${fault}`);
    }
    return imageUnchanged;
  };

  const injectStore = (fault: Fault, e: Entry, other: Entry): void => {
    const v = store.values.get(e.key);
    if (v === undefined) throw new Error(`no value for ${e.key}`);
    const { header, meta, image } = splitValue(v);
    const metaObj = JSON.parse(meta.toString('utf8')) as Record<string, unknown>;
    const withMeta = (m: Buffer): Buffer => joinValue({ ...header, metaBytes: m.length }, m, image);
    let out: Buffer;
    switch (fault) {
      case 'remote value: bit flip in the image':
        out = flip(v, rand, v.length - image.length);
        break;
      case 'remote value: bit flip anywhere':
        out = flip(v, rand);
        break;
      case 'remote value: truncated':
        out = v.subarray(0, Math.floor(rand() * v.length));
        break;
      case 'remote value: zero-length':
        out = Buffer.alloc(0);
        break;
      case 'remote value: swapped between two keys':
        out = store.values.get(other.key)!;
        store.values.set(other.key, v);
        break;
      case 'remote value: metadata half missing':
        out = withMeta(Buffer.alloc(0));
        break;
      case 'remote value: image half missing':
        out = joinValue({ ...header, imageBytes: 0 }, meta, Buffer.alloc(0));
        break;
      case 'remote value: garbage JSON metadata':
        out = withMeta(Buffer.from(pick(GARBAGE)));
        break;
      case 'remote value: schema-breaking JSON metadata':
        out = withMeta(Buffer.from(JSON.stringify(breakSchema(metaObj, rand))));
        break;
      case 'remote value: future format version':
        out = withMeta(Buffer.from(JSON.stringify({ ...metaObj, formatVersion: CACHE_FORMAT_VERSION + 1 })));
        break;
      case 'remote value: header record lies (sizes shifted)': {
        const shift = 1 + Math.floor(rand() * 64);
        const s = rand() < 0.5 ? shift : -Math.min(shift, meta.length);
        const m = header['metaBytes'] as number;
        out = joinValue({ ...header, metaBytes: m + s, imageBytes: image.length - s }, meta, image);
        break;
      }
      default:
        throw new Error(`not a store fault: ${fault}`);
    }
    store.values.set(e.key, out);
  };

  const diskCache = (): KernelCache =>
    new KernelCache({ dir, env: {}, logger: quiet, policy: { compression: rand() < 0.5 ? 'none' : 'gzip' } });
  const depEntries = entries.filter((e) => e.dep);
  const plainEntries = entries.slice(0, PLAIN);
  const statsDir = join(dir, 'stats');
  const started = Date.now();
  for (let n = 0; n < total; n++) {
    // Every kind equally often (the dependency faults on entries that read a header from disk).
    const fault = ALL_FAULTS[n % ALL_FAULTS.length]!;
    const inStore = (STORE_FAULTS as readonly Fault[]).includes(fault);
    const e = inStore
      ? pick(plainEntries)
      : (DEPENDENCY_FAULTS as readonly Fault[]).includes(fault)
        ? pick(depEntries)
        : pick(entries);
    // Swaps and planted links use another key with a different image (of another family for the manifest lie).
    let other = pick(e.dep && fault.startsWith('manifest') ? depEntries : inStore ? plainEntries : entries);
    while (other === e || other.image.equals(e.image)) other = pick(inStore ? plainEntries : entries);
    const ctx = `fault ${n} (seed ${o.seed}) ${fault} on ${e.key.slice(0, 12)}`;
    let imageUnchanged = false;
    if (inStore) injectStore(fault, e, other);
    else imageUnchanged = injectDisk(fault, e, other);
    injected.set(fault, (injected.get(fault) ?? 0) + 1);
    const touched = fault.includes('swap') ? [e, other] : [e];
    let counted = false;
    let compiled = false;
    for (const t of touched) {
      const storeBefore = store.malformed;
      const r = await lookUp(t, inStore ? storeCache : diskCache, ctx);
      if (r.corrupt > 0 || store.malformed > storeBefore) counted = true;
      if (r.compiled) compiled = true;
    }
    if (counted) corruptCounted++;
    if (compiled) recompiled++;
    if (counted || compiled) {
      detected++;
      detectedBy.set(fault, (detectedBy.get(fault) ?? 0) + 1);
    } else {
      // Nothing noticed: only a fault that left the entry usable may do that (the image compared equal above).
      undetectedHarmless++;
      harmless.set(fault, (harmless.get(fault) ?? 0) + 1);
      if (imageUnchanged) harmlessByConstruction.set(fault, (harmlessByConstruction.get(fault) ?? 0) + 1);
    }
    for (const t of touched) {
      if (inStore ? await soundInStore(t) : await soundOnDisk(t)) {
        repairedByLookup++;
        continue;
      }
      if (!inStore) {
        const c = new KernelCache({ dir, env: {}, logger: quiet });
        await c.validateCacheIntegrity({ repair: true });
        await c.close();
        if (await soundOnDisk(t)) {
          repairedByIntegrity++;
          continue;
        }
      }
      unsound++;
      if (badCases.length < 5)
        badCases.push(`${ctx}: entry not sound after the lookup and the integrity check`);
      // Put it back for the next faults.
      const c = inStore ? storeCache() : diskCache();
      await c.getOrCompile(t.spec, t.compile).catch(() => undefined);
      await c.close();
    }
    // Each cache object leaves its stats file, and getStats() reads them all: this process's closed ones go.
    if (n % 50 === 49) for (const s of readdirSync(statsDir)) rmSync(join(statsDir, s), { force: true });
    if (n % 1000 === 999)
      o.log(`faults: ${n + 1} of ${total}, ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
  // A last full integrity pass over the disk tier: every entry there verifies.
  const last = new KernelCache({ dir, env: {}, logger: quiet });
  const integrity = await last.validateCacheIntegrity({ repair: false });
  await last.close();
  for (const c of badCases) o.log(`faults: ${c}`);

  const f = (figure: string, value: number, unit?: string, mustBe?: number): Figure => ({
    scenario: 'faults',
    figure,
    value,
    ...(unit !== undefined ? { unit } : {}),
    ...(mustBe !== undefined ? { mustBe } : {}),
  });
  const kindsUsed = [...DISK_FAULTS, ...DEPENDENCY_FAULTS, ...STORE_FAULTS];
  return [
    f(
      'faults injected',
      total,
      `${injected.size} kinds, ${entries.length} disk + ${PLAIN} remote-like entries`,
    ),
    ...kindsUsed.map((k) =>
      f(
        `  ${k}`,
        injected.get(k) ?? 0,
        `detected ${detectedBy.get(k) ?? 0}${harmless.has(k) ? `, harmless ${harmless.get(k)}` : ''}` +
          (harmlessByConstruction.has(k)
            ? ` (${harmlessByConstruction.get(k)} in a gzip header byte no decoder reads)`
            : ''),
      ),
    ),
    f('lookups (fresh KernelCache each)', lookups),
    f('bad images returned', bad, 'byte-for-byte against the true image', 0),
    f('errors thrown to the caller', errors, undefined, 0),
    f('detected', detected, 'corrupt counted or a miss + recompile'),
    f('  counted corrupt by the cache (corruptFound, or the tier rejected the value)', corruptCounted),
    f('  a miss and a recompile', recompiled),
    f('undetected, entry still sound (harmless faults only)', undetectedHarmless),
    f(
      'undetected faults of a kind that cannot be harmless',
      [...harmless.entries()]
        .filter(([k]) => !MAY_BE_HARMLESS.has(k))
        .reduce((s, [k, v]) => s + v - (harmlessByConstruction.get(k) ?? 0), 0),
      'a fault that left the image byte-identical is not one',
      0,
    ),
    f('repaired by the lookup (sound at the next lookup)', repairedByLookup),
    f('repaired by validateCacheIntegrity', repairedByIntegrity),
    f('entries left unsound', unsound, undefined, 0),
    f('integrity problems at the end', integrity.problems.length, `of ${integrity.checked} entries`, 0),
  ];
}

const scenario: Scenario = {
  name: 'faults',
  description: 'damaged disk files, remote values and manifests → strict lookups through fresh caches',
  run: (o) => runFaults(o),
};
export default scenario;
