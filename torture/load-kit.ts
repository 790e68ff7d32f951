// What the load and network scenarios share: the keys and their true images (real nvcc cubins, made distinct per
// key so a wrong key's image shows), the worker's job and report, a real redis-server to start, kill, pause and
// restart, and the percentiles of lookup times.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import type { KeySpec } from '../src/cache/key.js';
import type { CompileResult } from '../src/compiler/types.js';
import { kernelSource, nvccCubin, resultFor, specFor } from '../test/cache/fixtures.js';

/** Keys 0 … K-1 are shared by every worker; larger ids are fresh keys of one publish each. */
export function loadSpec(id: number): KeySpec {
  return specFor(id % 8, { options: ['-O3', `-DLOAD=${id}`] });
}

const cubins = new Map<number, Buffer>();
/** The true image of key `id`: nvcc's cubin of its kernel, repeated to a size of its own (8–40 KB), id stamped in. */
export function loadImage(id: number): Buffer {
  const k = id % 8;
  let cubin = cubins.get(k);
  if (!cubin) cubins.set(k, (cubin = nvccCubin(kernelSource(k))));
  const size = 8 * 1024 + ((Math.imul(id + 1, 2654435761) >>> 0) % (32 * 1024));
  const out = Buffer.alloc(size);
  for (let at = 0; at < size; at += cubin.length) cubin.copy(out, at, 0, Math.min(cubin.length, size - at));
  out.writeUInt32LE(id >>> 0, 0);
  return out;
}

/** The fake compile of key `id`: a short wait (the load is on the cache, not on nvcc), then its true image. */
export function loadCompile(id: number, onCompile: (start: number, end: number) => void) {
  return async (): Promise<CompileResult> => {
    const start = performance.timeOrigin + performance.now();
    await sleep(2 + (id % 5));
    const r = resultFor(loadImage(id), `k${id % 8}`, 3);
    onCompile(start, performance.timeOrigin + performance.now());
    return r;
  };
}

export interface LoadJob {
  readonly dir: string;
  readonly worker: number;
  readonly seed: number;
  /** Shared keys. */
  readonly keys: number;
  /** Concurrent op loops in the process (in-process single flight is exercised too). */
  readonly loops: number;
  /** Disk bound: small, so that eviction runs all the time. */
  readonly maxDiskBytes: number;
  /** Weights of the ops (lookups of shared keys are the rest). */
  readonly weights: {
    readonly publish: number;
    readonly sync: number;
    readonly prune: number;
    readonly shrink: number;
    readonly verify: number;
    readonly clear: number;
  };
  /** Verify the directory when done (it is this worker's own: nobody else changes it then). */
  readonly checkAtEnd: boolean;
  readonly remote?: {
    readonly url: string;
    readonly prefix: string;
    readonly timeoutMs: number;
    readonly breakerCooldownMs: number;
  };
}

export const LOAD_SECRET = { id: 'load', secret: 'torture-load-secret-0123456789' } as const;

/** Lookups of one phase in one worker. */
export interface PhaseReport {
  lookups: number;
  /** Lookup times, ms (rounded to 0.01). */
  ms: number[];
}

export interface LoadReport {
  readonly worker: number;
  readonly ops: Record<string, number>;
  /** Errors thrown to the caller by any cache call (message samples in `errorSamples`). */
  readonly errors: number;
  readonly errorSamples: readonly string[];
  /** Lookups whose image was not byte for byte the key's true image. */
  readonly bad: number;
  readonly phases: Record<string, PhaseReport>;
  /** Compiles: key id and the interval [start, end] (ms since the epoch, sub-ms). */
  readonly compiles: readonly [number, number, number][];
  readonly tiers: Record<string, number>;
  readonly remote?: Readonly<Record<string, number | string>>;
  /** Integrity problems of the worker's directory at its end (with the Redis tier: nothing bad copied down). */
  readonly integrityProblems: number;
}

/** Quantile of sorted values (nearest rank). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Pairs of compiles of one key whose intervals overlap (across every process). */
export function overlappingCompiles(compiles: readonly [number, number, number][]): number {
  const byKey = new Map<number, [number, number][]>();
  for (const [id, s, e] of compiles) {
    let l = byKey.get(id);
    if (!l) byKey.set(id, (l = []));
    l.push([s, e]);
  }
  let n = 0;
  for (const l of byKey.values()) {
    l.sort((a, b) => a[0] - b[0]);
    let end = -Infinity;
    for (const [s, e] of l) {
      if (s < end) n++;
      end = Math.max(end, e);
    }
  }
  return n;
}

/** A port nobody listens on now (127.0.0.1). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export const REDIS_SERVER = process.env['REDIS_SERVER'] ?? 'redis-server';

export function redisAvailable(): boolean {
  return spawnSync(REDIS_SERVER, ['--version']).status === 0;
}

/** A real redis-server on 127.0.0.1:port, no persistence: killed, paused and restarted by the network scenario. */
export class RedisProcess {
  private proc: ChildProcess | undefined;

  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.proc = spawn(
      REDIS_SERVER,
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    this.proc.on('error', () => {});
    for (let i = 0; i < 300; i++) {
      const r = spawnSync('redis-cli', ['-p', String(this.port), 'ping'], { encoding: 'utf8' });
      if (r.stdout?.trim() === 'PONG') return;
      await sleep(10);
    }
    throw new Error(`redis-server on port ${this.port} did not answer`);
  }

  /** SIGKILL; resolves when it is gone. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  }

  pause(): void {
    this.proc?.kill('SIGSTOP');
  }

  resume(): void {
    this.proc?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    this.resume();
    await this.kill();
  }
}
