import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { KernelCache } from '../../src/cache/index.js';
import { TILED_GEMM_SOURCE } from '../../src/cli/sample-kernels.js';
import { JitCompiler } from '../../src/jit/index.js';
import { Device, i32 } from '../../src/runtime/index.js';
import { gpuSkipReason } from '../helpers.js';

const skip = gpuSkipReason;
const child = fileURLToPath(new URL('./child-lookup.js', import.meta.url));

test(
  'a kernel compiles once, then comes from memory in-process and from disk in a new process',
  { skip },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cuop-gpu-jit-'));
    try {
      const device = Device.get(0);
      const jit = new JitCompiler({ cache: new KernelCache({ dir }) });
      const spec = { source: TILED_GEMM_SOURCE, name: 'tiled_gemm<16>' };
      const k1 = await jit.kernel(spec, device);
      let s = jit.getStats().process;
      assert.equal(s.compiles, 1);
      // Same spec object: the resident kernel itself.
      assert.equal(await jit.kernel(spec, device), k1);
      // An equal spec in a new object goes through the key and the memory tier, and gets the same loaded kernel.
      const k2 = await jit.kernel({ ...spec }, device);
      assert.equal(k2, k1);
      s = jit.getStats().process;
      assert.equal(s.compiles, 1);
      assert.ok(s.hits.memory >= 1, `memory hits ${s.hits.memory}`);
      await jit.cache.close();

      for (let i = 0; i < 2; i++) {
        const out =
          execFileSync(process.execPath, [child, dir], { encoding: 'utf8' }).trim().split('\n').at(-1) ?? '';
        const r = JSON.parse(out) as { tier: string; lookupMs: number };
        assert.equal(r.tier, 'disk', `fresh process ${i}: ${out}`);
        console.log(`# fresh process ${i}: disk hit to launch-ready kernel in ${r.lookupMs.toFixed(3)} ms`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('a kernel handed out stays launchable after its image leaves the memory tier', { skip }, async () => {
  const device = Device.get(0);
  const jit = new JitCompiler({ cache: new KernelCache({ dir: null, policy: { memoryMaxEntries: 1 } }) });
  const add = (c: number) => ({
    source: `extern "C" __global__ void add${c}(float* x, int n) { int i = threadIdx.x; if (i < n) x[i] += ${c}.0f; }`,
    name: `add${c}`,
  });
  const k1 = await jit.kernel(add(1), device);
  const k2 = await jit.kernel(add(2), device); // evicts add1's entry (one entry allowed)
  assert.equal(jit.getStats().process.evictions.memory, 1);
  using buf = device.upload(new Float32Array(32));
  if (typeof globalThis.gc === 'function') globalThis.gc();
  k1.launch({ grid: 1, block: 32 }, [buf, i32(32)]);
  k2.launch({ grid: 1, block: 32 }, [buf, i32(32)]);
  device.synchronize();
  assert.deepEqual([...buf.downloadAs(Float32Array)], new Array(32).fill(3));
  await jit.cache.close();
});
