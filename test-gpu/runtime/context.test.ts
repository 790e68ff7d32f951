// Contexts and images beyond the plain cubin: what happens around Device.reset(), a context switched by someone
// else, and fatbins (nvcc's multi-arch container, including the PTX-only fallback the driver JIT-compiles).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { findNvcc, NvrtcCompiler } from '../../src/compiler/index.js';
import { VECTOR_ADD_SOURCE } from '../../src/cli/sample-kernels.js';
import { driver } from '../../src/cuda/index.js';
import { Device, f32, i32 } from '../../src/runtime/index.js';
import { gpuSkipReason, randomArray, relativeError } from '../helpers.js';

const skip = gpuSkipReason;

function nvccOrSkip(): string | undefined {
  try {
    return findNvcc();
  } catch {
    return undefined;
  }
}

function vaddCheck(device: Device, image: Uint8Array): void {
  const k = device.loadModule(image).getKernel('vadd');
  const n = 1000;
  const a = randomArray(n);
  const b = randomArray(n);
  using da = device.upload(a);
  using db = device.upload(b);
  using dc = device.upload(new Float32Array(n).fill(NaN));
  k.launch({ grid: Math.ceil(n / 128), block: 128 }, [da, db, dc, i32(n), f32(0.5)]);
  device.synchronize();
  const ref = Array.from(a, (x, i) => x + 0.5 * (b[i] as number));
  assert.ok(relativeError(dc.downloadAs(Float32Array), ref) < 1e-6);
}

test(
  'a context switched away by other code is restored before the next call and launch',
  { skip },
  async () => {
    const device = Device.get(0);
    device.makeCurrent();
    const r = await new NvrtcCompiler().compile({
      source: VECTOR_ADD_SOURCE,
      arch: device.arch,
      nameExpressions: ['vadd'],
    });
    const k = device.loadModule(r.image).getKernel('vadd');
    const n = 256;
    using a = device.upload(new Float32Array(n).fill(1));
    using b = device.upload(new Float32Array(n).fill(2));
    using c = device.upload(new Float32Array(n).fill(NaN));
    // What another CUDA user in the process may do; each call below would be CUDA_ERROR_INVALID_CONTEXT if cuop
    // trusted a remembered "current" flag.
    driver.contextSetCurrent(0n);
    assert.equal(driver.contextCurrentRaw(), 0n);
    k.launch({ grid: 1, block: n }, [a, b, c, i32(n), f32(3)]);
    assert.notEqual(driver.contextCurrentRaw(), 0n, 'the launch made the context current again');
    driver.contextSetCurrent(0n);
    assert.deepEqual([...c.downloadAs(Float32Array)], new Array(n).fill(7), 'and so does a download');
  },
);

test(
  'fatbins load: the sm_90 cubin inside one, and a PTX-only fatbin the driver JIT-compiles',
  { skip },
  (t) => {
    const nvcc = nvccOrSkip();
    if (!nvcc) return t.skip('nvcc not found on this host');
    const device = Device.get(0);
    const cc = `${device.computeCapability.major}${device.computeCapability.minor}`;
    const work = mkdtempSync(join(tmpdir(), 'cuop-fatbin-'));
    try {
      writeFileSync(join(work, 'k.cu'), VECTOR_ADD_SOURCE);
      const build = (name: string, gencode: string): Uint8Array => {
        execFileSync(nvcc, ['-fatbin', `-gencode=${gencode}`, '-o', join(work, name), join(work, 'k.cu')]);
        return readFileSync(join(work, name));
      };
      vaddCheck(device, build('native.fatbin', `arch=compute_${cc},code=[sm_${cc},compute_${cc}]`));
      // An older virtual arch only: nothing native for this GPU, so the driver must JIT the embedded PTX.
      vaddCheck(device, build('ptx-only.fatbin', 'arch=compute_75,code=compute_75'));
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  },
);

// Last in this file: it releases the primary context.
test('after Device.reset(), memory from the old context is never freed into the new one', { skip }, () => {
  const device = Device.get(0);
  const old = device.alloc(1 << 20);
  device.reset();
  // The new context's first allocation of that size tends to get the address the old buffer had.
  using fresh = device.upload(new Float32Array(1 << 18).fill(7));
  old.dispose(); // must not cuMemFree `fresh`'s memory, whatever the addresses
  using other = device.upload(new Float32Array(1 << 18).fill(9));
  assert.notEqual(other.devicePtr, fresh.devicePtr, 'a freed-by-mistake block was handed out again');
  const back = fresh.downloadAs(Float32Array);
  assert.equal(back[0], 7);
  assert.equal(back[back.length - 1], 7);
});
