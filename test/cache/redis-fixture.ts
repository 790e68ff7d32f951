// A real redis-server (the Debian package) on 127.0.0.1 and a free port, for the remote tier's tests; stopped
// after. Tests that need it skip, saying why, where redis-server is not installed (.ci/run installs it).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { after, before } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { Redis } from 'ioredis';

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

/**
 * A TCP proxy in front of `port` that holds every answer for `delayMs` (changeable while it runs): a slow Redis.
 */
export async function slowProxy(
  port: number,
  delayMs: number,
): Promise<{ url: string; delayMs: number; close(): Promise<void> }> {
  const { createConnection } = await import('node:net');
  const sockets = new Set<import('node:net').Socket>();
  const state = { delayMs };
  const server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port });
    sockets.add(client).add(upstream);
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => {
      const t = setTimeout(() => client.writable && client.write(d), state.delayMs);
      t.unref();
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  const p = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
  return {
    url: `redis://127.0.0.1:${p}`,
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(v: number) {
      state.delayMs = v;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface RunningCluster {
  readonly url: string;
  readonly ports: readonly number[];
  stop(): Promise<void>;
}

/** Three masters (no replicas) on free ports, slots assigned by `redis-cli --cluster create`; waits for state ok. */
export async function startCluster(dir: string): Promise<RunningCluster> {
  const ports = [await freePort(), await freePort(), await freePort()];
  const procs = ports.map((p) =>
    spawn(
      REDIS_SERVER,
      [
        '--port',
        String(p),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `${dir}/nodes-${p}.conf`,
        '--cluster-node-timeout',
        '2000',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
      ],
      { stdio: 'ignore' },
    ),
  );
  const stop = async (): Promise<void> => {
    await Promise.all(
      procs.map((proc) => {
        if (proc.exitCode !== null) return undefined;
        const gone = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        return gone;
      }),
    );
  };
  try {
    for (const p of ports) {
      for (let i = 0; i < 200; i++) {
        const r = spawnSync('redis-cli', ['-p', String(p), 'ping'], { encoding: 'utf8' });
        if (r.stdout?.trim() === 'PONG') break;
        await sleep(10);
      }
    }
    const made = spawnSync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...ports.map((p) => `127.0.0.1:${p}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { encoding: 'utf8' },
    );
    if (made.status !== 0) throw new Error(`redis-cli --cluster create failed: ${made.stdout}${made.stderr}`);
    for (let i = 0; i < 500; i++) {
      const ok = ports.every((p) =>
        /cluster_state:ok/.test(
          spawnSync('redis-cli', ['-p', String(p), 'cluster', 'info'], { encoding: 'utf8' }).stdout,
        ),
      );
      if (ok) break;
      await sleep(20);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { url: `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`, ports, stop };
}

/**
 * A redis-server speaking only TLS (a self-signed certificate for 127.0.0.1 made with openssl, in `dir`), with an
 * ACL user `ci` (password `ci-password-0123`) and the default user off. `ca` is the certificate to trust.
 */
export async function startTlsRedis(dir: string): Promise<RunningRedis & { ca: string }> {
  const cert = `${dir}/cert.pem`;
  const key = `${dir}/key.pem`;
  const made = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { encoding: 'utf8' },
  );
  if (made.status !== 0) throw new Error(`openssl failed: ${made.stderr}`);
  const p = await freePort();
  const proc = spawn(
    REDIS_SERVER,
    [
      '--port',
      '0',
      '--tls-port',
      String(p),
      '--bind',
      '127.0.0.1',
      '--tls-cert-file',
      cert,
      '--tls-key-file',
      key,
      '--tls-ca-cert-file',
      cert,
      '--tls-auth-clients',
      'no',
      '--save',
      '',
      '--appendonly',
      'no',
      '--user',
      'ci',
      'on',
      '>ci-password-0123',
      '~*',
      '&*',
      '+@all',
      '--user',
      'default',
      'off',
    ],
    { stdio: 'ignore' },
  );
  const cli = (...args: string[]) =>
    spawnSync(
      'redis-cli',
      [
        '--tls',
        '--cacert',
        cert,
        '-p',
        String(p),
        '--user',
        'ci',
        '--pass',
        'ci-password-0123',
        '--no-auth-warning',
        ...args,
      ],
      { encoding: 'utf8' },
    );
  for (let i = 0; ; i++) {
    if (cli('ping').stdout?.trim() === 'PONG') break;
    if (i === 200) throw new Error(`the TLS redis-server on port ${p} did not answer`);
    await sleep(10);
  }
  return {
    port: p,
    url: `rediss://127.0.0.1:${p}`,
    ca: cert,
    async stop(kill = false) {
      if (proc.exitCode !== null) return;
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill(kill ? 'SIGKILL' : 'SIGTERM');
      await gone;
    },
  };
}

/**
 * A redis-server for one test file: started in before(), stopped in after(), with a client to look inside it.
 * `server` and `admin` are there once before() ran, unless `missing` says why there is no redis-server.
 */
export function redisForFile(): {
  readonly missing: string | undefined;
  readonly server: RunningRedis;
  readonly admin: Redis;
} {
  const missing = redisMissing();
  let server: RunningRedis | undefined;
  let admin: Redis | undefined;
  before(async () => {
    if (missing) return;
    server = await startRedis();
    admin = new Redis(server.url);
  });
  after(async () => {
    admin?.disconnect();
    await server?.stop();
  });
  return {
    missing,
    get server() {
      return server!;
    },
    get admin() {
      return admin!;
    },
  };
}
