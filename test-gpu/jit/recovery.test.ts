// A cache entry whose bytes are intact (its checksum matches) but which the driver refuses to load must not fail
// the caller: the JIT drops it from every tier, compiles afresh and republishes a loadable image.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { KernelCache } from '../../src/cache/index.js';
import { JitCompiler } from '../../src/jit/index.js';
import { Device, i32 } from '../../src/runtime/index.js';
import { gpuSkipReason } from '../helpers.js';

const skip = gpuSkipReason;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

test('an image the driver refuses (checksum intact) is invalidated and recompiled', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cuop-gpu-recover-'));
  try {
    const device = Device.get(0);
    const spec = {
      source: 'extern "C" __global__ void inc(int* x, int n) { int i = threadIdx.x; if (i < n) x[i] += 1; }',
      name: 'inc',
    };
    const a = new JitCompiler({ cache: new KernelCache({ dir }) });
    const { key } = await a.compile(spec, device.arch, device);
    await a.cache.close();

    // Replace the image with an ELF header followed by garbage (so the driver parses it as a broken cubin, not as
    // PTX text), and make the metadata vouch for it.
    const kernelPath = join(dir, 'kernels', key.slice(0, 2), `${key}.cubin`);
    const metaPath = join(dir, 'metadata', key.slice(0, 2), `${key}.json`);
    const bogus = Buffer.alloc(512, 0xab);
    bogus.write('\x7fELF', 0, 'latin1');
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as Record<string, unknown>;
    writeFileSync(kernelPath, bogus);
    writeFileSync(
      metaPath,
      JSON.stringify({
        ...meta,
        rawBytes: bogus.length,
        storedBytes: bogus.length,
        checksum: { algorithm: 'sha256', value: sha256(bogus) },
      }),
    );

    const warnings: string[] = [];
    const b = new JitCompiler({
      cache: new KernelCache({ dir, logger: { debug: () => {}, warn: (m) => warnings.push(m) } }),
    });
    const k = await b.kernel(spec, device);
    const s = b.getStats().process;
    assert.equal(s.hits.disk, 1, 'the forged entry passed the cache checks, as intended');
    assert.equal(s.compiles, 1, 'then the driver refused it and the JIT compiled afresh');
    assert.ok(s.corruptFound >= 1);
    assert.ok(
      warnings.some((w) => w.includes(key) && /unusable/.test(w)),
      `warnings: ${warnings.join(' | ')}`,
    );

    using x = device.upload(new Int32Array([5, 6, 7]));
    k.launch({ grid: 1, block: 32 }, [x, i32(3)]);
    device.synchronize();
    assert.deepEqual([...x.downloadAs(Int32Array)], [6, 7, 8]);
    await b.cache.close();

    // The disk holds a real image again, with metadata that matches it.
    const image = readFileSync(kernelPath);
    assert.equal(image.subarray(0, 4).toString('latin1'), '\x7fELF');
    const meta2 = JSON.parse(readFileSync(metaPath, 'utf8')) as { checksum: { value: string } };
    assert.equal(meta2.checksum.value, sha256(image));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
