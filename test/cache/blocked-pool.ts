// Runs a function while every thread of libuv's pool is blocked, so an asynchronous fs call it makes cannot have
// taken effect by the time it returns: "done synchronously" then becomes a deterministic check rather than a race
// between the main thread and an idle pool thread. Each pool thread is parked in an open() of a FIFO that has no
// writer yet; a probe call shows the pool is full before the function runs.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { tempDir } from './fixtures.js';

export async function withPoolBlocked<T>(fn: () => T): Promise<T> {
  const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  const dir = tempDir('pool');
  const fifos = Array.from({ length: threads }, (_, i) => join(dir, `fifo-${i}`));
  for (const f of fifos) execFileSync('mkfifo', [f]);
  const readers = fifos.map((f) => fsp.open(f, 'r')); // each blocks a pool thread until a writer opens the FIFO
  let probed = false;
  const probe = fsp.stat(dir).then(() => (probed = true));
  await sleep(50);
  const writers: number[] = [];
  try {
    assert.equal(probed, false, 'the thread pool is not full: the check would be a race');
    return fn();
  } finally {
    for (const f of fifos) writers.push(openSync(f, constants.O_WRONLY | constants.O_NONBLOCK));
    for (const h of await Promise.all(readers)) await h.close();
    for (const w of writers) closeSync(w);
    await probe;
  }
}
