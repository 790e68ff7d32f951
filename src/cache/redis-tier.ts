// The shared tier: kernels in a Redis (or Redis Cluster) that a whole fleet reads and writes. One value per entry
// (remote-value.ts: header, metadata, image, HMAC signature), under `<prefix><key>`, with a TTL refreshed on every
// hit (GETEX: still one round trip). Every call has a deadline and goes through a circuit breaker; writes are queued
// (bounded) and sent in the background, so a compile never waits on the network. The client (ioredis) is imported
// only when the tier is first used. Any fault is a miss or a skipped write, never an error for the caller.
import { createRequire } from 'node:module';
import type { Cluster, Redis, RedisOptions } from 'ioredis';

import { getSettings, redactUrlPassword } from '../settings/index.js';

import { CircuitBreaker } from './circuit-breaker.js';
import { isCacheKey } from './key.js';
import { guardedConnector } from './redis-guard.js';
import { sha256Hex } from './sha256.js';
import { errorText, type CacheLog } from './logger.js';
import { RedisLeaseProvider, type LeaseClient } from './redis-lease.js';
import { decodeRemote, encodeRemote, type RemoteSecret } from './remote-value.js';
import type { LeaseProvider } from './single-flight.js';
import {
  ReadOnlyTierError,
  type CacheTier,
  type TierCapabilities,
  type TierEntryInfo,
  type TierRecord,
} from './tier.js';

/** Settings of the remote (Redis) tier; KernelCacheOptions.remote overrides any of them. */
export interface RedisTierOptions {
  /** redis://[user:password@]host:port[/db] or rediss:// (TLS); redis+cluster:// (or ?cluster=1) for a Cluster. */
  url: string;
  /** Overrides the URL's password (CUOP_REMOTE_PASSWORD). */
  password?: string;
  /** Secrets whose key ids are accepted; the first one signs what this process writes. */
  secrets: readonly RemoteSecret[];
  /** Read and write unsigned entries (only where every writer is trusted by other means). */
  allowUnsigned: boolean;
  /** Namespace of every key (team, project). */
  prefix: string;
  /** Lifetime of an entry after its last use, seconds. */
  ttlSeconds: number;
  /** Entries larger than this are not stored (bytes of the whole value). */
  maxEntryBytes: number;
  /** Deadline of each call once connected, ms. */
  timeoutMs: number;
  /**
   * Bound on the first connection (importing the client, TCP, TLS, AUTH), ms; later calls never wait for a
   * connection (a command on a lost one fails at once, and the client reconnects in the background).
   */
  connectTimeoutMs: number;
  /** Consecutive failures that open the breaker, and how long it stays open. */
  breakerFailures: number;
  breakerCooldownMs: number;
  /** Writes waiting to be sent; more are dropped (counted). */
  queueLimit: number;
  /** Life of a compile lease without renewal (renewed every third of it while the compile runs), ms. */
  leaseTtlMs: number;
  /** @internal The cache's own log; KernelCache sets it, whatever the options say. */
  log: CacheLog;
}

/** The bounds a tier gets unless told otherwise (the remote settings override some of them). */
export const REDIS_TIER_DEFAULTS = {
  allowUnsigned: false,
  prefix: 'cuop:',
  ttlSeconds: 30 * 24 * 3600,
  maxEntryBytes: 64 * 2 ** 20,
  timeoutMs: 50,
  connectTimeoutMs: 1_000,
  breakerFailures: 3,
  breakerCooldownMs: 10_000,
  queueLimit: 256,
  leaseTtlMs: 20_000,
} as const satisfies Partial<RedisTierOptions>;

/** What this tier counts (per process). */
export interface RemoteTierCounters {
  hits: number;
  misses: number;
  errors: number;
  timeouts: number;
  breakerTrips: number;
  rejectedSignatures: number;
  malformed: number;
  bytesIn: number;
  bytesOut: number;
  writes: number;
  writesDropped: number;
  oversized: number;
  /** Second looks that found nothing (after taking a lease, or while waiting for another host's compile). */
  rechecks: number;
  leasesTaken: number;
  leasesBusy: number;
  leasesLost: number;
  /** Leases of dead processes of this host deleted so that a waiter could take them at once. */
  leasesTakenOver: number;
  /** Releases that failed and were retried in the background. */
  leaseReleaseRetries: number;
}

type Client = Redis | Cluster;

/** What a remote URL names: redis://[user:password@]host:port[/db], rediss:// (TLS), redis+cluster://h:p,h:p. */
export interface RemoteUrl {
  readonly cluster: boolean;
  readonly tls: boolean;
  readonly username?: string;
  readonly password?: string;
  readonly nodes: readonly { readonly host: string; readonly port: number }[];
  readonly db: number;
}

export function parseRemoteUrl(text: string): RemoteUrl {
  const m = /^(redis|rediss|redis\+cluster):\/\/(?:([^@/]*)@)?([^/?#]+)(?:\/(\d*))?(?:\?([^#]*))?$/.exec(
    text,
  );
  if (!m) throw new Error(`not a redis://, rediss:// or redis+cluster:// URL: ${text}`);
  const [, scheme, auth, hosts, db, query] = m;
  const params = new URLSearchParams(query ?? '');
  let username: string | undefined;
  let password: string | undefined;
  if (auth !== undefined) {
    const at = auth.indexOf(':');
    username = decodeURIComponent(at >= 0 ? auth.slice(0, at) : auth) || undefined;
    password = at >= 0 ? decodeURIComponent(auth.slice(at + 1)) : undefined;
  }
  const nodes = hosts!.split(',').map((h) => {
    const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(h);
    if (v6) return { host: v6[1]!, port: Number(v6[2] ?? 6379) };
    const [host, port] = h.split(':');
    return { host: host || '127.0.0.1', port: Number(port || 6379) };
  });
  return {
    cluster: scheme === 'redis+cluster' || params.get('cluster') === '1',
    tls: scheme === 'rediss' || params.get('tls') === '1',
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    nodes,
    db: Number(db || 0),
  };
}

class Timeout extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

export class RedisTier implements CacheTier {
  readonly name = 'remote';
  readonly capabilities: TierCapabilities;
  readonly counters: RemoteTierCounters = {
    hits: 0,
    misses: 0,
    errors: 0,
    timeouts: 0,
    breakerTrips: 0,
    rejectedSignatures: 0,
    malformed: 0,
    bytesIn: 0,
    bytesOut: 0,
    writes: 0,
    writesDropped: 0,
    oversized: 0,
    rechecks: 0,
    leasesTaken: 0,
    leasesBusy: 0,
    leasesLost: 0,
    leasesTakenOver: 0,
    leaseReleaseRetries: 0,
  };
  private readonly o: RedisTierOptions;
  private readonly breaker: CircuitBreaker;
  private client: Promise<Client> | undefined;
  private firstConnection: Promise<void> | undefined;
  /** Writes and lease releases, sent in order: a lease is released only after its key's entry was sent. */
  private readonly queue: (TierRecord | (() => Promise<unknown>))[] = [];
  private queuedWrites = 0;
  private readonly rejected = new Set<string>();
  private draining: Promise<void> | undefined;
  private closed = false;
  private leaseProvider: RedisLeaseProvider | undefined;

  constructor(opts: RedisTierOptions) {
    this.o = opts;
    this.breaker = new CircuitBreaker(opts.breakerFailures, opts.breakerCooldownMs);
    const readOnly = opts.secrets.length === 0 && !opts.allowUnsigned;
    this.capabilities = { readOnly, persistent: true, shared: true, maxRecordBytes: opts.maxEntryBytes };
  }

  /**
   * The fleet's compile lease (redis-lease.ts); undefined for a read-only consumer, which never publishes what
   * others would wait for.
   */
  leases(): LeaseProvider | undefined {
    if (this.capabilities.readOnly) return undefined;
    const provider = new RedisLeaseProvider(
      (what, fn) => this.call(what, (c) => fn(c as unknown as LeaseClient)),
      (key) => this.keyOf(`lease:${key}`),
      this.o.leaseTtlMs,
      {
        lost: (key) => {
          this.counters.leasesLost++;
          this.o.log.debug(`remote lease of ${key} lapsed while compiling; another host may compile it too`);
        },
        takenOver: (key, holder) => {
          this.counters.leasesTakenOver++;
          this.o.log.debug(
            `remote lease of ${key} held by ${holder}, a process gone from this host: taken over`,
          );
        },
        releaseRetried: (key) => {
          this.counters.leaseReleaseRetries++;
          this.o.log.debug(`remote lease of ${key} not released (no answer); retried in the background`);
        },
      },
    );
    this.leaseProvider = provider;
    return {
      name: provider.name,
      tryAcquire: async (key) => {
        const got = await provider.tryAcquire(key);
        if ('busy' in got) this.counters.leasesBusy++;
        if (!('lease' in got)) return got;
        this.counters.leasesTaken++;
        // Released behind the publish of the compile it guarded (same queue), so that a host waiting for the
        // entry never finds the lease free and the entry not yet there. The caller does not wait for either.
        const lease = got.lease;
        return { lease: { release: () => this.enqueue(() => Promise.resolve(lease.release())) } };
      },
    };
  }

  stats(): Readonly<Record<string, number | string>> {
    return { ...this.counters, breaker: this.breaker.state, queued: this.queuedWrites };
  }

  /**
   * Round trips to the server, for `cuop info` and `cuop doctor`: the first includes connecting (and importing the
   * client). Undefined entries failed (counted like any call).
   */
  async ping(times = 3): Promise<(number | undefined)[]> {
    const out: (number | undefined)[] = [];
    for (let i = 0; i < times; i++) {
      const t0 = performance.now();
      const ok = await this.call('ping', (c) => c.ping());
      out.push(ok === undefined ? undefined : performance.now() - t0);
    }
    return out;
  }

  /** What this tier is, for `cuop info`: the server (password hidden), signing, bounds. */
  describe(): Record<string, string | number | boolean> {
    return {
      url: this.redactedUrl(),
      readOnly: this.capabilities.readOnly,
      signing: this.o.secrets[0]?.id ?? (this.o.allowUnsigned ? 'unsigned (allowed)' : 'none'),
      acceptedKeyIds: this.o.secrets.map((s) => s.id).join(',') || '-',
      prefix: this.o.prefix,
      ttlSeconds: this.o.ttlSeconds,
      timeoutMs: this.o.timeoutMs,
      breaker: this.breaker.state,
    };
  }

  /** closed | open | half-open, for `cuop info` and tests. */
  get breakerState(): string {
    return this.breaker.state;
  }

  /**
   * The client, once its first connection is up (bounded by connectTimeoutMs; a refused one fails at once). Later
   * calls do not wait: without an offline queue a command on a lost connection fails at once.
   */
  private async connect(): Promise<Client> {
    const c = await this.create();
    if (c.status === 'ready') return c;
    this.firstConnection ??= new Promise<void>((resolve, reject) => {
      const done = (e?: unknown): void => {
        clearTimeout(timer);
        c.off('ready', ready);
        c.off('error', done);
        if (e === undefined) resolve();
        else reject(e instanceof Error ? e : new Error(String(e)));
      };
      const ready = (): void => done();
      const timer = setTimeout(() => done(new Timeout(this.o.connectTimeoutMs)), this.o.connectTimeoutMs);
      c.once('ready', ready);
      c.once('error', done);
    });
    await this.firstConnection;
    return c;
  }

  private create(): Promise<Client> {
    this.client ??= (async () => {
      // require(), not import(): the package entry runs the bundle through vm.Script, where import() has no
      // loader (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING) and the remote tier would only ever count errors.
      const { Redis, Cluster, AbstractConnector } = createRequire(import.meta.url)(
        'ioredis',
      ) as typeof import('ioredis');
      const url = parseRemoteUrl(this.o.url);
      const password = this.o.password ?? url.password;
      const common: RedisOptions = {
        ...(url.username ? { username: url.username } : {}),
        ...(password !== undefined ? { password } : {}),
        ...(url.tls ? { tls: {} } : {}),
        // Fail fast: no queue while disconnected, no retries of a command; reconnects run in the background.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        connectTimeout: this.o.connectTimeoutMs,
        retryStrategy: (n: number) => Math.min(100 * 2 ** n, 5_000),
        lazyConnect: false,
        // The ready check (INFO, waiting out a loading server) would add a round trip to the first call.
        enableReadyCheck: false,
        // Nor the CLIENT SETINFO pair and the HELLO 3 that ioredis sends and awaits on every connection by default:
        // RESP2 with no handshake is ready at TCP connect (or after AUTH, when there is a password).
        disableClientInfo: true,
        protocol: 2,
        // Replies framed as RESP2 before ioredis sees them (redis-guard.ts): a server answering garbage is a fault
        // of this connection, never an exception thrown out of ioredis's reply handler.
        Connector: guardedConnector(AbstractConnector),
      };
      const onError = (e: unknown): void => this.o.log.debug(`remote cache: ${errorText(e)}`);
      // The connection never keeps a process alive by itself (a drain in progress does: see put).
      const unref = (r: Redis): void => {
        r.on('connect', () => (r as unknown as { stream?: { unref?: () => void } }).stream?.unref?.());
      };
      if (url.cluster) {
        const c = new Cluster([...url.nodes], { redisOptions: common, enableOfflineQueue: false });
        c.on('error', onError);
        c.on('+node', (node: Redis) => unref(node));
        return c;
      }
      const c = new Redis({ ...common, ...url.nodes[0]!, db: url.db });
      c.on('error', onError);
      unref(c);
      return c;
    })();
    return this.client;
  }

  /** One call within the deadline, through the breaker; undefined when skipped, failed or late (counted). */
  private async call<T>(what: string, fn: (c: Client) => Promise<T>): Promise<T | undefined> {
    if (this.closed || !this.breaker.allow()) return undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      const c = await this.connect();
      const result = await Promise.race([
        fn(c),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Timeout(this.o.timeoutMs)), this.o.timeoutMs);
        }),
      ]);
      this.breaker.success();
      return result;
    } catch (e) {
      if (e instanceof Timeout) this.counters.timeouts++;
      else this.counters.errors++;
      // Only the failure that opened the breaker counts a trip (calls in flight then fail after it).
      if (this.breaker.failure()) {
        this.counters.breakerTrips++;
        this.o.log.warnOnce(
          'remote-breaker',
          `the remote cache ${this.redactedUrl()} failed or was slow (${what}: ${errorText(e)}); it is skipped for ` +
            `${this.o.breakerCooldownMs} ms at a time until it answers again. Local tiers are unaffected.`,
        );
      }
      this.o.log.debug(`remote ${what} failed: ${errorText(e)}`);
      return undefined;
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  private redactedUrl(): string {
    return redactUrlPassword(this.o.url);
  }

  private keyOf(key: string): string {
    return `${this.o.prefix}${key}`;
  }

  async get(key: string, _expect?: unknown, recheck = false): Promise<TierRecord | undefined> {
    const ttl = String(this.o.ttlSeconds);
    const value = await this.call(
      'get',
      (c) => c.callBuffer('GETEX', this.keyOf(key), 'EX', ttl) as Promise<Buffer | null>,
    );
    if (!value) {
      if (recheck) this.counters.rechecks++;
      else this.counters.misses++;
      return undefined;
    }
    this.counters.bytesIn += value.length;
    const d = decodeRemote(key, value, this.o.secrets, this.o.allowUnsigned);
    if ('rejected' in d) {
      // The same value read again (e.g. the re-check after taking the lease) is counted and reported once.
      const seen = `${key}:${sha256Hex(value)}`;
      if (!this.rejected.has(seen)) {
        if (this.rejected.size >= 1024) this.rejected.clear();
        this.rejected.add(seen);
        this.counters.rejectedSignatures++;
      }
      this.o.log.warnOnce(
        'remote-rejected',
        `rejected a remote cache entry (${key}): ${d.rejected}. It is never loaded; the kernel is compiled here. ` +
          `Check that every writer signs with a secret whose key id this host accepts (CUOP_REMOTE_SECRET).`,
      );
      return undefined;
    }
    if ('malformed' in d) {
      this.counters.malformed++;
      this.o.log.debug(`remote entry ${key} unusable: ${d.malformed}`);
      return undefined;
    }
    this.counters.hits++;
    return d.record;
  }

  /** Queued, not awaited: the caller's compile returns at once; close() sends what is left (bounded). */
  async put(record: TierRecord): Promise<void> {
    if (this.capabilities.readOnly) throw new ReadOnlyTierError(this.name);
    if (!isCacheKey(record.key)) throw new Error(`not a cache key: ${record.key}`);
    if (this.queuedWrites >= this.o.queueLimit) {
      this.counters.writesDropped++;
      return;
    }
    this.queuedWrites++;
    this.enqueue(record);
  }

  private enqueue(job: TierRecord | (() => Promise<unknown>)): void {
    this.queue.push(job);
    if (!this.draining) {
      // Keeps the process alive until the queue is sent ("flushed at exit"); each send is bounded by the deadline.
      const alive = setInterval(() => {}, 1_000);
      this.draining = this.drain().finally(() => {
        clearInterval(alive);
        this.draining = undefined;
      });
    }
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const rec = this.queue.shift()!;
      if (typeof rec === 'function') {
        await rec().catch(() => {});
        continue;
      }
      this.queuedWrites--;
      const value = encodeRemote(rec, this.o.secrets[0]);
      if (value.length > this.o.maxEntryBytes) {
        this.counters.oversized++;
        continue;
      }
      const ok = await this.call('put', (c) => c.set(this.keyOf(rec.key), value, 'EX', this.o.ttlSeconds));
      if (ok === 'OK') {
        this.counters.writes++;
        this.counters.bytesOut += value.length;
      } else {
        this.counters.writesDropped++;
      }
    }
  }

  /** Resolves when every queued write was sent (or dropped). */
  async flush(): Promise<void> {
    while (this.draining) await this.draining;
  }

  async delete(key: string): Promise<boolean> {
    if (this.capabilities.readOnly) throw new ReadOnlyTierError(this.name);
    return ((await this.call('delete', (c) => c.del(this.keyOf(key)))) ?? 0) > 0;
  }

  async *list(): AsyncIterable<string> {
    const keys = await this.call('list', async (c) => {
      const found: string[] = [];
      const nodes = 'nodes' in c ? (c as Cluster).nodes('master') : [c as Redis];
      for (const node of nodes) {
        let cursor = '0';
        do {
          const [next, batch] = await node.scan(cursor, 'MATCH', `${this.o.prefix}*`, 'COUNT', 500);
          cursor = next;
          found.push(...batch);
        } while (cursor !== '0');
      }
      return found;
    });
    for (const k of keys ?? []) {
      const key = k.slice(this.o.prefix.length);
      if (isCacheKey(key)) yield key;
    }
  }

  async stat(key: string): Promise<TierEntryInfo | undefined> {
    const bytes = await this.call('stat', (c) => c.strlen(this.keyOf(key)));
    return bytes ? { key, bytes } : undefined;
  }

  async clear(): Promise<void> {
    if (this.capabilities.readOnly) throw new ReadOnlyTierError(this.name);
    const keys: string[] = [];
    for await (const k of this.list()) keys.push(this.keyOf(k));
    for (let i = 0; i < keys.length; i += 256) {
      const batch = keys.slice(i, i + 256);
      // One DEL per key: in a Cluster the keys of a batch live in different slots.
      await this.call('clear', (c) => Promise.all(batch.map((k) => c.del(k))));
    }
  }

  /** Sends the queued writes and retried lease releases (at most ~1 s more), then disconnects. */
  async close(): Promise<void> {
    const flushed = this.flush().then(() => this.leaseProvider?.settle());
    await Promise.race([flushed, new Promise((r) => setTimeout(r, 1_000).unref())]);
    this.closed = true;
    if (this.client) {
      const c = await this.client.catch(() => undefined);
      c?.disconnect();
    }
  }
}

/** The remote tier the options and the remote settings (CUOP_REMOTE_CACHE and the rest) ask for, or undefined. */
export function remoteTierFromSettings(
  given: Partial<RedisTierOptions> | false | undefined,
  env: NodeJS.ProcessEnv,
  log: CacheLog,
): RedisTier | undefined {
  if (given === false) return undefined;
  const r = getSettings(env).remote;
  const url = given?.url ?? r.url;
  if (url === undefined) return undefined;
  return new RedisTier({
    ...REDIS_TIER_DEFAULTS,
    url,
    ...(r.password !== undefined ? { password: r.password } : {}),
    secrets: r.secrets,
    allowUnsigned: r.allowUnsigned,
    prefix: r.prefix,
    ttlSeconds: r.ttlSeconds,
    timeoutMs: r.timeoutMs,
    ...given,
    log,
  });
}
