// Processes released together on the same keys (race-worker.ts): each reports what it compiled and which tier
// answered each of its lookups.
import { fork, type ChildProcess } from 'node:child_process';
import { worker } from './fixtures.js';

export interface Report {
  compiled: number[];
  tiers: string[];
  /** The remote tier's counters, when it had one. */
  remote?: Record<string, number | string>;
}

/** Starts `procs` children, releases them together, collects their reports. */
export async function race(
  dir: string | ((p: number) => string),
  procs: number,
  kernels: number,
  remote: readonly string[] = [],
  env: NodeJS.ProcessEnv = process.env,
): Promise<Report[]> {
  const children: ChildProcess[] = [];
  const ready: Promise<void>[] = [];
  const done: Promise<Report>[] = [];
  for (let p = 0; p < procs; p++) {
    const where = typeof dir === 'string' ? dir : dir(p);
    const child = fork(worker('race-worker'), [where, String(kernels), 'plain', ...remote], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env,
    });
    children.push(child);
    ready.push(new Promise((res) => child.once('message', () => res())));
    done.push(
      new Promise((res, rej) => {
        child.on('message', (m) => {
          if (m !== 'ready') res(m as Report);
        });
        child.once('exit', (code) => (code === 0 ? undefined : rej(new Error(`worker exited ${code}`))));
      }),
    );
  }
  await Promise.all(ready);
  for (const c of children) c.send('go');
  return Promise.all(done);
}
