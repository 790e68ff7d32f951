// A device-side assert and an illegal address: typed errors naming the kernel, and device.reset() gives a context
// that runs kernels again (the JIT reloads them). Each case runs in a child process: a fault takes the context.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { gpuSkipReason } from '../helpers.js';

const child = fileURLToPath(new URL('./child-fault.js', import.meta.url));

for (const kind of ['assert', 'illegal-address'] as const) {
  test(
    `${kind}: a typed error naming the kernel, then device.reset() and a working context`,
    { skip: gpuSkipReason },
    () => {
      const r = spawnSync(process.execPath, [child, kind], { encoding: 'utf8', timeout: 120_000 });
      const lines = r.stdout.trim().split('\n');
      const report = JSON.parse(lines[lines.length - 1] ?? '{}') as Record<string, unknown>;
      assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
      assert.equal(report['name'], kind === 'assert' ? 'DeviceAssertError' : 'KernelFaultError');
      assert.equal(report['kernel'], kind === 'assert' ? 'checked' : 'wild');
      assert.match(String(report['message']), /device\.reset\(\)/);
      assert.equal(report['secondIsSame'], true, 'later calls report the same fault');
      // Either the driver lets reset() give a fresh context (a kernel runs again), or it keeps the error for the
      // process: then the next use is the same typed error, naming the kernel and saying to restart.
      const after = report['afterReset'] as number[] | { name: string; message: string; kernel: string };
      if (Array.isArray(after)) assert.deepEqual(after, [2, 4, 6, 8]);
      else {
        assert.equal(after.name, kind === 'assert' ? 'DeviceAssertError' : 'KernelFaultError');
        assert.equal(after.kernel, report['kernel']);
        assert.match(after.message, /Restart the process/);
      }
      console.log(`${kind}: after reset(): ${JSON.stringify(after).slice(0, 160)}`);
      if (kind === 'assert') assert.match(r.stdout + r.stderr, /Assertion|assert/i);
    },
  );
}
