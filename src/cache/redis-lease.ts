// The lease of a fleet: one compile per key across hosts. `SET <prefix>lease:<key> <token> NX PX <ttl> GET` takes it
// or names the holder in one round trip; the holder renews it while compiling and releases it by compare-and-delete,
// so a lease that lapsed (a holder paused past its TTL) and was taken by another host is never deleted by the first.
// A holder that dies stops renewing: its lease expires after `ttlMs` and a waiter takes it. Any fault of the server is
// `unavailable`: the caller compiles without the fleet's lease (the host's own lease still holds).
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

import type { Lease, LeaseAttempt, LeaseProvider } from './single-flight.js';

/** What the lease needs of a Redis client (ioredis's Redis and Cluster both route `call` by the command's key). */
export interface LeaseClient {
  call(command: string, ...args: string[]): Promise<unknown>;
}

/** A call within the tier's deadline and breaker: undefined when skipped, failed or late. */
export type RemoteCall = <T>(what: string, fn: (c: LeaseClient) => Promise<T>) => Promise<T | undefined>;

const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`;

export class RedisLeaseProvider implements LeaseProvider {
  readonly name = 'redis';
  /** host:pid:random, so that a holder is named in logs and only its own token releases the lease. */
  private readonly owner = `${hostname()}:${process.pid}`;

  constructor(
    private readonly call: RemoteCall,
    private readonly keyOf: (key: string) => string,
    /** How long a lease lives without renewal; renewed every third of it. */
    private readonly ttlMs: number,
    private readonly onLost: (key: string) => void = () => {},
  ) {}

  async tryAcquire(key: string): Promise<LeaseAttempt> {
    const lk = this.keyOf(key);
    const token = `${this.owner}:${randomBytes(6).toString('hex')}`;
    const held = await this.call('lease', async (c) => ({
      prev: await c.call('SET', lk, token, 'PX', String(this.ttlMs), 'NX', 'GET'),
    }));
    if (held === undefined) return { unavailable: 'the remote cache did not answer' };
    if (held.prev !== null) return { busy: true, holder: holderOf(String(held.prev)) };
    return { lease: this.leaseOf(key, lk, token) };
  }

  private leaseOf(key: string, lk: string, token: string): Lease {
    let renewing: Promise<unknown> | undefined;
    const timer = setInterval(
      () => {
        renewing ??= this.call('renew', (c) =>
          c.call('EVAL', RENEW, '1', lk, token, String(this.ttlMs)),
        ).then((r) => {
          renewing = undefined;
          // 0: the lease lapsed and someone else holds it now (their compile and ours both publish the same key).
          if (r === 0) this.onLost(key);
        });
      },
      Math.max(10, Math.floor(this.ttlMs / 3)),
    );
    timer.unref();
    return {
      release: async () => {
        clearInterval(timer);
        await renewing;
        await this.call('release', (c) => c.call('EVAL', RELEASE, '1', lk, token));
      },
    };
  }
}

/** `host:pid` of a token. */
function holderOf(token: string): string {
  const at = token.lastIndexOf(':');
  return at > 0 ? token.slice(0, at) : token;
}
