import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { KernelCache } from '../../src/cache/kernel-cache.js';
import { countingCompile, recordingLogger, specFor, tempDir, worker } from './fixtures.js';

function runWorker(args: string[]): Promise<number | null> {
  return new Promise((res) => {
    const c = spawn(process.execPath, [worker('stats-worker'), ...args], { stdio: 'inherit' });
    const kill = setTimeout(() => c.kill('SIGKILL'), 20_000); // a timer keeping it alive would show as a kill
    c.on('exit', (code) => {
      clearTimeout(kill);
      res(code);
    });
  });
}

test("stats from 8 concurrent processes sum exactly (ending by close(), process.exit(), or just running out, which the unref'd timers allow); compaction keeps totals", async () => {
  const dir = tempDir('stats');
  const quiet = recordingLogger().logger;
  const parent = new KernelCache({ dir, env: {}, logger: quiet });
  await parent.getOrCompile(specFor(0, { options: ['-DSHARED'] }), countingCompile(0).compile);
  await parent.close();

  const P = 8;
  const runs: Promise<number | null>[] = [];
  let own = 0;
  let hits = 0;
  for (let p = 0; p < P; p++) {
    const o = 2 + (p % 3);
    const h = 50 + p * 7;
    own += o;
    hits += h;
    runs.push(
      runWorker([dir, String(p), String(o), String(h), (['close', 'exit', 'natural'] as const)[p % 3]!]),
    );
  }
  assert.deepEqual(await Promise.all(runs), Array(P).fill(0));

  const reader = new KernelCache({ dir, env: {}, logger: quiet, policy: { maintenanceIntervalMs: 0 } });
  const check = () => {
    const s = reader.getStats().all;
    assert.equal(s.compiles, own + 1);
    assert.equal(s.misses, own + 1);
    assert.equal(s.hits.disk, P);
    assert.equal(s.hits.memory, hits - P);
    assert.equal(s.savedCompileMs, hits * 400);
    assert.equal(s.compileMs, (own + 1) * 400);
    assert.ok(s.bytesWritten > 0 && s.bytesRead > 0);
    assert.ok(Math.abs(s.hitRate - hits / (hits + own + 1)) < 1e-9);
    assert.ok(Math.abs(s.diskHitRate - P / (P + own + 1)) < 1e-9, 'memory hits are not in the disk rate');
  };
  check();
  assert.equal(reader.getStats().processFiles, P + 2);
  // maintenance folds the files of the dead processes into total.json: same totals, fewer files
  await reader.runMaintenance();
  check();
  // left: total.json and the file of the parent's first cache object (this process is alive, so it stays)
  const left = readdirSync(join(dir, 'stats')).filter((n) => n.endsWith('.json'));
  assert.deepEqual(
    left.filter((n) => !n.includes(`.${process.pid}.`)),
    ['total.json'],
  );
  assert.equal(left.length, 2);
  assert.equal(reader.getStats().processFiles, 2);
  assert.equal(reader.getStats().process.compiles, 0);
  await reader.close();
});

test('cachedKernels counts the memory tier and the committed disk entries', async () => {
  const dir = tempDir('count');
  const c = new KernelCache({
    dir,
    env: {},
    logger: recordingLogger().logger,
    policy: { maintenanceIntervalMs: 0 },
  });
  assert.deepEqual(c.getStats().cachedKernels, { memory: 0, disk: 0 });
  for (const i of [0, 1, 2]) await c.getOrCompile(specFor(i), countingCompile(i).compile);
  assert.deepEqual(c.getStats().cachedKernels, { memory: 3, disk: 3 });
  await c.close();
  const d = new KernelCache({
    dir,
    env: {},
    logger: recordingLogger().logger,
    policy: { maintenanceIntervalMs: 0 },
  });
  assert.deepEqual(d.getStats().cachedKernels, { memory: 0, disk: 3 }, 'a new process sees the disk entries');
  await d.cleanupBySize(1); // evicts everything
  assert.equal(d.getStats().cachedKernels.disk, 0);
  await d.close();
});
