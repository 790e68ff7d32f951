// A family manifest only points at keys: a manifest that lies (its candidate's dependencies are not the entry's,
// it names an entry of another family, or names kernels its entry was not compiled for) must never make a lookup
// return that entry's image. Found by the torture harness's faults scenario (issue 20).
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { familyKey, type KeySpec } from '../../src/cache/key.js';
import { KernelCache } from '../../src/cache/kernel-cache.js';
import { sha256Hex } from '../../src/cache/sha256.js';
import type { CompileResult } from '../../src/compiler/types.js';
import { recordingLogger, tempDir } from './fixtures.js';

interface Candidate {
  key: string;
  names: string[];
  dependencies?: { files: Record<string, unknown>[]; absent: string[] };
  createdAt: number;
}
interface StoredManifest {
  formatVersion: number;
  family: string;
  candidates: Candidate[];
}

function setup(): {
  dir: string;
  header: string;
  spec: (names?: string[], source?: string) => KeySpec;
  compile: (image: Buffer, names?: string[], deps?: boolean) => () => Promise<CompileResult>;
  manifestPath: (s: KeySpec) => string;
  open: () => { cache: KernelCache; warns: string[] };
} {
  const root = tempDir('manifest-lie');
  const dir = join(root, 'cache');
  const header = join(root, 'h.cuh');
  const dep = (): Record<string, unknown> => {
    const st = statSync(header);
    return {
      path: header,
      sha256: sha256Hex(readFileSync(header)),
      size: st.size,
      mtimeMs: st.mtimeMs,
      ctimeMs: st.ctimeMs,
      ino: st.ino,
    };
  };
  return {
    dir,
    header,
    spec: (names = ['k'], source = '#include "h.cuh"\n') => ({
      source,
      nameExpressions: names,
      options: [`-I${root}`],
      compiler: { id: 'nvcc', version: '13.0.88' },
      target: 'sm_90',
      imageKind: 'cubin',
    }),
    compile:
      (image, names = ['k'], deps = true) =>
      async () => ({
        image,
        imageKind: 'cubin',
        target: 'sm_90',
        log: '',
        loweredNames: Object.fromEntries(names.map((n) => [n, n])),
        compileMs: 5,
        compiler: { id: 'nvcc', version: '13.0.88' },
        ...(deps
          ? {
              dependencies: {
                files: [dep() as never],
                absent: [],
                untracked: [],
                stable: true,
              },
            }
          : {}),
      }),
    manifestPath: (s) => {
      const f = familyKey(s);
      return join(dir, 'manifests', f.slice(0, 2), `${f}.json`);
    },
    open: () => {
      const r = recordingLogger();
      return { cache: new KernelCache({ dir, env: {}, logger: r.logger }), warns: r.warns };
    },
  };
}

const imageA = Buffer.from('image compiled against header A '.repeat(8));
const imageB = Buffer.from('image compiled against header B '.repeat(8));

test('a manifest whose candidate claims the headers on disk now, pointing at an entry of older headers: a miss', async () => {
  const s = setup();
  writeFileSync(s.header, 'A\n');
  let c = s.open().cache;
  const a = await c.getOrCompile(s.spec(), s.compile(imageA));
  await c.close();
  writeFileSync(s.header, 'B changed\n');
  c = s.open().cache;
  const b = await c.getOrCompile(s.spec(), s.compile(imageB));
  assert.equal(b.tier, 'compiled');
  await c.close();
  const path = s.manifestPath(s.spec());
  const m = JSON.parse(readFileSync(path, 'utf8')) as StoredManifest;
  const ofB = m.candidates.find((x) => x.key === b.key)!;
  const ofA = m.candidates.find((x) => x.key === a.key)!;
  // The lie: only A's entry, with B's (current) dependencies.
  writeFileSync(path, JSON.stringify({ ...m, candidates: [{ ...ofA, dependencies: ofB.dependencies }] }));

  const o = s.open();
  let compiles = 0;
  const r = await o.cache.getOrCompile(s.spec(), async () => {
    compiles++;
    return s.compile(imageB)();
  });
  assert.ok(r.entry.image.equals(imageB), 'returned the image of the older headers');
  assert.equal(r.tier, 'compiled');
  assert.equal(compiles, 1);
  assert.equal(o.cache.getStats().process.corruptFound, 1);
  assert.ok(o.warns.some((w) => /manifest/.test(w)));
  await o.cache.close();
  // The lie is gone from the manifest written after the compile; a fresh cache finds B's entry.
  const after = JSON.parse(readFileSync(path, 'utf8')) as StoredManifest;
  assert.ok(!after.candidates.some((x) => x.key === a.key));
  const f = s.open().cache;
  const again = await f.getOrCompile(s.spec(), async () => assert.fail('recompiled'));
  assert.equal(again.tier, 'disk');
  assert.ok(again.entry.image.equals(imageB));
  await f.close();
});

test("a manifest naming an entry of another family (same target and compiler) is not answered with that entry's image", async () => {
  const s = setup();
  writeFileSync(s.header, 'A\n');
  const mine = s.spec(['k', 'k2'], 'mine\n');
  const other = s.spec(['k', 'k2'], 'another source\n');
  let c = s.open().cache;
  await c.getOrCompile(mine, s.compile(imageA, ['k', 'k2'], false));
  const o2 = await c.getOrCompile(other, s.compile(imageB, ['k', 'k2'], false));
  await c.close();
  const path = s.manifestPath(mine);
  const m = JSON.parse(readFileSync(path, 'utf8')) as StoredManifest;
  writeFileSync(path, JSON.stringify({ ...m, candidates: [{ ...m.candidates[0]!, key: o2.key }] }));
  c = s.open().cache;
  const r = await c.getOrCompile(s.spec(['k'], 'mine\n'), s.compile(imageA, ['k'], false));
  assert.ok(!r.entry.image.equals(imageB), "returned another family's image");
  assert.equal(r.tier, 'compiled');
  assert.equal(c.getStats().process.corruptFound, 1);
  await c.close();
});

test('a manifest claiming names its entry was not compiled for is not answered', async () => {
  const s = setup();
  writeFileSync(s.header, 'A\n');
  let c = s.open().cache;
  // A module of k and k2, then the lie: it holds k3 as well.
  await c.getOrCompile(s.spec(['k', 'k2'], 'module\n'), s.compile(imageA, ['k', 'k2'], false));
  await c.close();
  const path = s.manifestPath(s.spec(['k'], 'module\n'));
  const m = JSON.parse(readFileSync(path, 'utf8')) as StoredManifest;
  writeFileSync(
    path,
    JSON.stringify({ ...m, candidates: [{ ...m.candidates[0]!, names: ['k', 'k2', 'k3'] }] }),
  );
  c = s.open().cache;
  const r = await c.getOrCompile(s.spec(['k3'], 'module\n'), s.compile(imageB, ['k3'], false));
  assert.ok(r.entry.image.equals(imageB), 'returned a module without the kernel asked for');
  assert.equal(r.tier, 'compiled');
  assert.equal(c.getStats().process.corruptFound, 1);
  await c.close();
});

test("an entry whose metadata's dependencies are not those of its key is removed and compiled again, then found", async () => {
  const s = setup();
  writeFileSync(s.header, 'A\n');
  let c = s.open().cache;
  const a = await c.getOrCompile(s.spec(), s.compile(imageA));
  await c.close();
  writeFileSync(s.header, 'B changed\n');
  c = s.open().cache;
  const b = await c.getOrCompile(s.spec(), s.compile(imageB));
  await c.close();
  const metaOf = (k: string): string => join(s.dir, 'metadata', k.slice(0, 2), `${k}.json`);
  const ma = JSON.parse(readFileSync(metaOf(a.key), 'utf8')) as Record<string, unknown>;
  const mb = JSON.parse(readFileSync(metaOf(b.key), 'utf8')) as Record<string, unknown>;
  writeFileSync(metaOf(b.key), JSON.stringify({ ...mb, dependencies: ma['dependencies'] }));
  c = s.open().cache;
  const r = await c.getOrCompile(s.spec(), s.compile(imageB));
  assert.ok(r.entry.image.equals(imageB));
  assert.equal(r.tier, 'compiled');
  const st = c.getStats().process;
  assert.equal(st.corruptFound, 1);
  assert.equal(st.corruptRepaired, 1);
  await c.close();
  const f = s.open().cache;
  const again = await f.getOrCompile(s.spec(), async () => assert.fail('not repaired'));
  assert.equal(again.tier, 'disk');
  assert.ok(again.entry.image.equals(imageB));
  await f.close();
});
