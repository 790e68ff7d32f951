// A real redis-server (the Debian package) on 127.0.0.1 and a free port, for the remote tier's tests; stopped
// after. Tests that need it skip, saying why, where redis-server is not installed (.ci/run installs it).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export const REDIS_SERVER = process.env.REDIS_SERVER ?? 'redis-server';

/** undefined when redis-server runs here, else why not (the skip reason). */
export function redisMissing(): string | undefined {
  const r = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : `no ${REDIS_SERVER} on this host (apt-get install redis-server)`;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RunningRedis {
  readonly port: number;
  readonly url: string;
  /** SIGKILL (a crash), or a clean stop. */
  stop(kill?: boolean): Promise<void>;
}

export async function startRedis(port?: number): Promise<RunningRedis> {
  const p = port ?? (await freePort());
  const proc: ChildProcess = spawn(
    REDIS_SERVER,
    [
      '--port',
      String(p),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'yes',
    ],
    { stdio: 'ignore' },
  );
  const url = `redis://127.0.0.1:${p}`;
  for (let i = 0; i < 200; i++) {
    const r = spawnSync('redis-cli', ['-p', String(p), 'ping'], { encoding: 'utf8' });
    if (r.stdout?.trim() === 'PONG') break;
    await sleep(10);
  }
  return {
    port: p,
    url,
    async stop(kill = false) {
      if (proc.exitCode !== null) return;
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill(kill ? 'SIGKILL' : 'SIGTERM');
      await gone;
    },
  };
}
