// cuop's errors keep their class, message and fields through JSON.stringify, structuredClone and a worker thread.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';

import { CachePolicyError } from '../../src/cache/index.js';
import { CompileError, KernelNameError } from '../../src/compiler/index.js';
import { CudaError, LibraryNotFoundError, reviveError } from '../../src/cuda/errors.js';
import { JitDisabledError } from '../../src/jit/index.js';
import { LaunchArgumentError } from '../../src/runtime/index.js';

const compileError = () =>
  new CompileError('nvcc', 'gemm.cu', 'gemm.cu(3): error: identifier "x" is undefined', [
    '-arch=sm_90',
    '-DBM=64',
  ]);

test('CompileError: message, log, options and file name in the message and in JSON', () => {
  const e = compileError();
  assert.match(e.message, /^nvcc could not compile gemm\.cu:\ngemm\.cu\(3\): error/);
  assert.match(e.message, /options: -arch=sm_90 -DBM=64$/);
  const json = JSON.parse(JSON.stringify(e)) as Record<string, unknown>;
  assert.equal(json['name'], 'CompileError');
  assert.equal(json['message'], e.message);
  assert.equal(json['log'], e.log);
  assert.deepEqual(json['options'], ['-arch=sm_90', '-DBM=64']);
  assert.equal(json['programName'], 'gemm.cu');
  assert.equal(json['compiler'], 'nvcc');
  const revived = reviveError(json) as CompileError;
  assert.ok(revived instanceof CompileError);
  assert.equal(revived.log, e.log);
});

test('structuredClone keeps every field under cause; reviveError gives the class back', () => {
  const errors: Error[] = [
    compileError(),
    new CudaError(700, 'CUDA_ERROR_ILLEGAL_ADDRESS', 'cuCtxSynchronize', 'an illegal memory access'),
    new LibraryNotFoundError('libnvrtc', ['/a (not found)'], 'CUOP_NVRTC_PATH'),
    new LaunchArgumentError('k: argument #1 is f32 but the parameter is int'),
    new JitDisabledError('not in the cache'),
    new CachePolicyError('maxDiskBytes', 'expected a byte count'),
    new KernelNameError('bad name'),
  ];
  for (const e of errors) {
    const clone = structuredClone(e) as Error;
    assert.equal(clone.message, e.message);
    const revived = reviveError(clone) as Error;
    assert.equal(Object.getPrototypeOf(revived), Object.getPrototypeOf(e), e.name);
    assert.equal(revived.name, e.name);
    assert.equal(revived.message, e.message);
    for (const [k, v] of Object.entries(e))
      assert.deepEqual((revived as unknown as Record<string, unknown>)[k], v, `${e.name}.${k}`);
  }
  assert.equal(reviveError('plain'), 'plain');
  const foreign = new Error('not ours');
  assert.equal(reviveError(foreign), foreign);
});

test('a CompileError thrown in a worker thread arrives with its log and options', async () => {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData).then(({ CompileError }) => {
      parentPort.postMessage(new CompileError('nvrtc', 'k.cu', 'k.cu(1): error: expected a ";"', ['-DX=1']));
    });`;
  const url = new URL('../../src/compiler/errors.js', import.meta.url).href;
  const received = await new Promise<unknown>((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: url });
    w.once('message', (m) => {
      resolve(m);
      void w.terminate();
    });
    w.once('error', reject);
  });
  const e = reviveError(received) as CompileError;
  assert.ok(e instanceof CompileError);
  assert.equal(e.programName, 'k.cu');
  assert.equal(e.log, 'k.cu(1): error: expected a ";"');
  assert.deepEqual(e.options, ['-DX=1']);
  assert.equal(e.compiler, 'nvrtc');
});
