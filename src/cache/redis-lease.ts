// The lease of a fleet: one compile per key across hosts. `SET <prefix>lease:<key> <token> NX PX <ttl> GET` takes it
// or names the holder in one round trip; the holder renews it while compiling and releases it by compare-and-delete,
// so a lease that lapsed (a holder paused past its TTL) and was taken by another host is never deleted by the first.
// A holder that dies stops renewing: its lease expires after `ttlMs` and a waiter of another host takes it then; a
// waiter of the holder's own host sees the holder's pid gone and deletes that lease at once (compare-and-delete of
// the dead holder's token). A release that fails (the link dropped, the breaker open) is retried in the background
// until it goes through or the lease would have lapsed anyway, so that waiters never sit out a whole TTL behind a
// holder that finished. Any fault of the server is `unavailable`: the caller compiles without the fleet's lease (the
// host's own lease still holds).
import { randomBytes } from 'node:crypto';

import { HOST, pidAlive } from './lock.js';
import type { Lease, LeaseAttempt, LeaseProvider } from './single-flight.js';

/** What the lease needs of a Redis client (ioredis's Redis and Cluster both route `call` by the command's key). */
export interface LeaseClient {
  call(command: string, ...args: string[]): Promise<unknown>;
}

/** A call within the tier's deadline and breaker: undefined when skipped, failed or late. */
export type RemoteCall = <T>(what: string, fn: (c: LeaseClient) => Promise<T>) => Promise<T | undefined>;

const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`;

/** What the lease reports to its tier's counters and log. */
export interface LeaseEvents {
  /** The lease lapsed while its compile ran (another host may compile too). */
  lost?(key: string): void;
  /** A lease of a dead process of this host was deleted so that this one could be taken. */
  takenOver?(key: string, holder: string): void;
  /** A release failed and is retried in the background. */
  releaseRetried?(key: string): void;
}

/**
 * First wait before a failed release is sent again, and the longest between two tries. Short: a waiter of another
 * host sits out every ms of it (the network scenario measured p99 lookups of 450–700 ms after the faults with a 1 s
 * cap), and a try the open breaker skips costs no round trip.
 */
const RELEASE_RETRY_FIRST_MS = 25;
const RELEASE_RETRY_MAX_MS = 250;

export class RedisLeaseProvider implements LeaseProvider {
  readonly name = 'redis';
  /** host:pid:random, so that a holder is named in logs and only its own token releases the lease. */
  private readonly owner = `${HOST}:${process.pid}`;
  /** Releases being retried (close() tries them once more). */
  private readonly retrying = new Set<() => Promise<boolean>>();
  /** Set by settle(): no more retries (what is left lapses by its TTL). */
  private settled = false;

  constructor(
    private readonly call: RemoteCall,
    private readonly keyOf: (key: string) => string,
    /** How long a lease lives without renewal; renewed every third of it. */
    private readonly ttlMs: number,
    private readonly events: LeaseEvents = {},
  ) {}

  async tryAcquire(key: string): Promise<LeaseAttempt> {
    const lk = this.keyOf(key);
    const token = `${this.owner}:${randomBytes(6).toString('hex')}`;
    for (let attempt = 0; ; attempt++) {
      let sent = false;
      const sentAt = Date.now();
      const held = await this.call('lease', async (c) => {
        sent = true;
        return { prev: await c.call('SET', lk, token, 'PX', String(this.ttlMs), 'NX', 'GET') };
      });
      if (held === undefined) {
        // A SET sent but not answered in time may still land (a paused or slow server answers late, in order): our
        // token would then hold the key a whole TTL, renewed and released by nobody, while the others wait on it.
        // Released in the background like a release that failed (the release follows the SET on the connection).
        if (sent) {
          this.events.releaseRetried?.(key);
          this.retryRelease(this.releaser(lk, token), sentAt + this.ttlMs);
        }
        return { unavailable: 'the remote cache did not answer' };
      }
      if (held.prev === null) return { lease: this.leaseOf(key, lk, token) };
      const prev = String(held.prev);
      const holder = holderOf(prev);
      // A holder of this host whose process is gone renews nothing and releases nothing: its lease is an orphan.
      // Deleted by its own token only (another process may have taken the key since), then taken once more.
      if (attempt === 0 && orphaned(holder)) {
        const gone = await this.call('takeover', (c) => c.call('EVAL', RELEASE, '1', lk, prev));
        if (gone === 1) {
          this.events.takenOver?.(key, holder);
          continue;
        }
      }
      return { busy: true, holder };
    }
  }

  /** Tries the releases still being retried once more, then stops retrying (the tier is closing). */
  async settle(): Promise<void> {
    await Promise.all([...this.retrying].map((r) => r()));
    this.settled = true;
    this.retrying.clear();
  }

  private leaseOf(key: string, lk: string, token: string): Lease {
    let renewing: Promise<unknown> | undefined;
    /** When the lease lapses unless renewed again (a failed release need not be retried past it). */
    let lapsesAt = Date.now() + this.ttlMs;
    const timer = setInterval(
      () => {
        const sent = Date.now();
        renewing ??= this.call('renew', (c) =>
          c.call('EVAL', RENEW, '1', lk, token, String(this.ttlMs)),
        ).then((r) => {
          renewing = undefined;
          if (r === 1) lapsesAt = sent + this.ttlMs;
          // 0: the lease lapsed and someone else holds it now (their compile and ours both publish the same key).
          if (r === 0) this.events.lost?.(key);
        });
      },
      Math.max(10, Math.floor(this.ttlMs / 3)),
    );
    timer.unref();
    const releaseOnce = this.releaser(lk, token);
    return {
      release: async () => {
        clearInterval(timer);
        await renewing;
        if (await releaseOnce()) return;
        this.events.releaseRetried?.(key);
        this.retryRelease(releaseOnce, lapsesAt);
      },
    };
  }

  /** One compare-and-delete of `token`'s lease; true when the server answered (deleted or not ours any more). */
  private releaser(lk: string, token: string): () => Promise<boolean> {
    return async () =>
      (await this.call('release', (c) => c.call('EVAL', RELEASE, '1', lk, token))) !== undefined;
  }

  /**
   * A release that did not go through, sent again with backoff (25 ms doubling to 250 ms) until it does or the lease
   * lapses by itself. The timers keep no process alive: a process that exits leaves the lease to its TTL.
   */
  private retryRelease(releaseOnce: () => Promise<boolean>, lapsesAt: number): void {
    let delay = RELEASE_RETRY_FIRST_MS;
    let done = false;
    const attempt = async (): Promise<boolean> => {
      if (done || this.settled) return true;
      if (Date.now() >= lapsesAt || (await releaseOnce())) {
        done = true;
        this.retrying.delete(attempt);
      }
      return done;
    };
    this.retrying.add(attempt);
    const next = (): void => {
      const t = setTimeout(
        () => {
          void attempt().then((ok) => {
            if (ok) return;
            delay = Math.min(delay * 2, RELEASE_RETRY_MAX_MS);
            next();
          });
        },
        Math.min(delay, Math.max(0, lapsesAt - Date.now())),
      );
      t.unref();
    };
    next();
  }
}

/** `host:pid` of a token. */
function holderOf(token: string): string {
  const at = token.lastIndexOf(':');
  return at > 0 ? token.slice(0, at) : token;
}

/** True when `host:pid` names a process of this host that no longer exists. */
function orphaned(holder: string): boolean {
  const at = holder.lastIndexOf(':');
  if (at <= 0 || holder.slice(0, at) !== HOST) return false;
  const pid = Number(holder.slice(at + 1));
  return Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && !pidAlive(pid);
}
