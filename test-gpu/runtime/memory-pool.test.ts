// Stream-ordered memory: buffers from the device's pool hold data like cuMemAlloc's, go back on dispose() without a
// device synchronization, and the operators' fresh outputs come from it.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { add, Tensor } from '../../src/ops/index.js';
import { Device } from '../../src/runtime/index.js';
import { gpuSkipReason } from '../helpers.js';

const skip = gpuSkipReason;

test(
  'pooled buffers: round trip on the legacy and on a created stream; reuse after dispose',
  { skip },
  () => {
    const device = Device.get(0);
    assert.equal(device.memoryPoolsSupported, true, 'an H200 with driver 580 has memory pools');
    const stream = device.createStream({ nonBlocking: true });
    for (const s of [undefined, stream]) {
      const b = device.allocAsync(1 << 20, s);
      assert.notEqual(b.poolStream, undefined, 'from the pool');
      const host = Float32Array.from({ length: 1 << 18 }, (_, i) => i * 0.5);
      s?.synchronize();
      b.upload(host);
      assert.deepEqual(b.downloadAs(Float32Array).subarray(0, 4), host.subarray(0, 4));
      assert.equal(b.downloadAs(Float32Array)[(1 << 18) - 1], host[(1 << 18) - 1]);
      b.dispose();
    }
    const ptrs = new Set<bigint>();
    for (let i = 0; i < 20; i++) {
      const b = device.allocAsync(1 << 20);
      ptrs.add(b.devicePtr);
      b.dispose();
    }
    assert.ok(ptrs.size < 20, `the pool reuses freed memory (${ptrs.size} distinct addresses of 20)`);
    device.synchronize();
    stream.dispose();
  },
);

test(
  'an elementwise op with a fresh output each call (pooled) gives the right values',
  { skip },
  async () => {
    const device = Device.get(0);
    const n = 1 << 16;
    const a = Tensor.fromArray(
      device,
      Float32Array.from({ length: n }, (_, i) => i),
      [n],
    );
    for (let r = 0; r < 50; r++) {
      const c = await add(a, a);
      if (r === 49) {
        const out = c.toArray();
        assert.equal(out[12345], 24690);
        assert.equal(out[n - 1], 2 * (n - 1));
      }
      c.dispose();
    }
    a.dispose();
  },
);
