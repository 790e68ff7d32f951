// The shared tier: kernels in a Redis (or Redis Cluster) that a whole fleet reads and writes. One value per entry
// (remote-value.ts: header, metadata, image, HMAC signature), under `<prefix><key>`, with a TTL refreshed on every
// hit (GETEX: still one round trip). Every call has a deadline and goes through a circuit breaker; writes are queued
// (bounded) and sent in the background, so a compile never waits on the network. The client (ioredis) is imported
// only when the tier is first used. Any fault is a miss or a skipped write, never an error for the caller.
import type { Cluster, Redis, RedisOptions } from 'ioredis';

import { CircuitBreaker } from './circuit-breaker.js';
import { isCacheKey } from './key.js';
import { errorText, type CacheLog } from './logger.js';
import { decodeRemote, encodeRemote, type RemoteSecret } from './remote-value.js';
import {
  ReadOnlyTierError,
  type CacheTier,
  type TierCapabilities,
  type TierEntryInfo,
  type TierRecord,
} from './tier.js';

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
  /** Deadline of each call, ms. */
  timeoutMs: number;
  /** Consecutive failures that open the breaker, and how long it stays open. */
  breakerFailures: number;
  breakerCooldownMs: number;
  /** Writes waiting to be sent; more are dropped (counted). */
  queueLimit: number;
  log: CacheLog;
}

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
  };
  private readonly o: RedisTierOptions;
  private readonly breaker: CircuitBreaker;
  private client: Promise<Client> | undefined;
  private readonly queue: TierRecord[] = [];
  private draining: Promise<void> | undefined;
  private closed = false;

  constructor(opts: RedisTierOptions) {
    this.o = opts;
    this.breaker = new CircuitBreaker(opts.breakerFailures, opts.breakerCooldownMs);
    const readOnly = opts.secrets.length === 0 && !opts.allowUnsigned;
    this.capabilities = { readOnly, persistent: true, shared: true, maxRecordBytes: opts.maxEntryBytes };
  }

  stats(): Readonly<Record<string, number | string>> {
    return { ...this.counters, breaker: this.breaker.state, queued: this.queue.length };
  }

  /** closed | open | half-open, for `cuop info` and tests. */
  get breakerState(): string {
    return this.breaker.state;
  }

  /** The client once it is connected (commands are not queued while it is not: they would outlive the deadline). */
  private async connect(): Promise<Client> {
    const c = await this.create();
    if (c.status === 'ready') return c;
    return new Promise<Client>((resolve) => c.once('ready', () => resolve(c)));
  }

  private create(): Promise<Client> {
    this.client ??= (async () => {
      const { Redis, Cluster } = await import('ioredis');
      const url = parseRemoteUrl(this.o.url);
      const password = this.o.password ?? url.password;
      const common: RedisOptions = {
        ...(url.username ? { username: url.username } : {}),
        ...(password !== undefined ? { password } : {}),
        ...(url.tls ? { tls: {} } : {}),
        // Fail fast: no queue while disconnected, no retries of a command; reconnects run in the background.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        connectTimeout: Math.max(200, this.o.timeoutMs * 4),
        retryStrategy: (n: number) => Math.min(100 * 2 ** n, 5_000),
        lazyConnect: false,
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
    const trips = this.breaker.trips;
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        this.connect().then(fn),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Timeout(this.o.timeoutMs)), this.o.timeoutMs);
        }),
      ]);
      this.breaker.success();
      return result;
    } catch (e) {
      if (e instanceof Timeout) this.counters.timeouts++;
      else this.counters.errors++;
      this.breaker.failure();
      if (this.breaker.trips > trips) {
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
    return this.o.url.replace(/\/\/([^@/:]*):[^@/]*@/, '//$1:***@');
  }

  private keyOf(key: string): string {
    return `${this.o.prefix}${key}`;
  }

  async get(key: string): Promise<TierRecord | undefined> {
    const ttl = String(this.o.ttlSeconds);
    const value = await this.call(
      'get',
      (c) => c.callBuffer('GETEX', this.keyOf(key), 'EX', ttl) as Promise<Buffer | null>,
    );
    if (!value) {
      this.counters.misses++;
      return undefined;
    }
    this.counters.bytesIn += value.length;
    const d = decodeRemote(key, value, this.o.secrets, this.o.allowUnsigned);
    if ('rejected' in d) {
      this.counters.rejectedSignatures++;
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
    if (this.queue.length >= this.o.queueLimit) {
      this.counters.writesDropped++;
      return;
    }
    this.queue.push(record);
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

  /** Sends the queued writes (at most ~1 s more), then disconnects. */
  async close(): Promise<void> {
    const flushed = this.flush();
    await Promise.race([flushed, new Promise((r) => setTimeout(r, 1_000).unref())]);
    this.closed = true;
    if (this.client) {
      const c = await this.client.catch(() => undefined);
      c?.disconnect();
    }
  }
}
