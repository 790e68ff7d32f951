import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { GlobalJitManager, JitWrapper } from '../../src/api/index.js';
import { Gemm, Tensor } from '../../src/ops/index.js';
import { Device } from '../../src/runtime/index.js';
import { gpuSkipReason } from '../helpers.js';

const skip = gpuSkipReason;
const child = fileURLToPath(new URL('./child-forward.js', import.meta.url));

test(
  'forward: compiled once, then memory in-process and disk in a new process (tiers from stats)',
  { skip },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cuop-gpu-wrapper-'));
    try {
      const runChild = () =>
        JSON.parse(
          execFileSync(process.execPath, [child, dir], { encoding: 'utf8' }).trim().split('\n').at(-1)!,
        ) as {
          compiles: number;
          disk: number;
          memory: number;
          sum: number;
        };
      const first = runChild();
      assert.deepEqual([first.compiles, first.disk], [1, 0], 'a cold cache compiles');
      const second = runChild();
      assert.deepEqual([second.compiles, second.disk], [0, 1], 'a new process hits the disk');
      assert.equal(second.sum, first.sum, 'same kernel, same result');

      const device = Device.get(0);
      const n = 96;
      const values = Float32Array.from({ length: n * n }, (_, i) => ((i * 37) % 101) / 101 - 0.5);
      const A = Tensor.fromArray(device, values, [n, n]);
      const B = Tensor.fromArray(device, values, [n, n]);
      const C = Tensor.empty(device, [n, n]);
      const wrapped = new JitWrapper(new Gemm()).setPersistentCacheDirectory(dir);
      await wrapped.forward([A, B], [C]);
      await wrapped.forward([A, B], [C]);
      const s = wrapped.jit.getStats().process;
      assert.deepEqual([s.compiles, s.hits.disk], [0, 1], 'this process: one disk hit');
      assert.ok(s.hits.memory >= 1, `then memory (${s.hits.memory} memory hits)`);
      const viaWrapper = C.toArray();

      // Zero intrusion: the bare operator (global JIT) computes the same thing with the same call.
      GlobalJitManager.instance().setGlobalConfig({ cacheDir: dir });
      const C2 = Tensor.empty(device, [n, n]);
      await new Gemm().forward([A, B], [C2]);
      assert.deepEqual(C2.toArray(), viaWrapper);
      for (const t of [A, B, C, C2]) t.dispose();
      await wrapped.jit.cache.close();
      await GlobalJitManager.reset();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
