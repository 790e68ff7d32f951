// A deliberately faulty tier for the conformance suite and the lookup's fault tests: it wraps a real tier and
// drops writes, delays calls, corrupts what it returns, or throws, as told (and can be told to stop).
import { setTimeout as sleep } from 'node:timers/promises';

import {
  ReadOnlyTierError,
  type CacheTier,
  type ExpectedIdentity,
  type TierCapabilities,
  type TierEntryInfo,
  type TierRecord,
} from '../../src/cache/tier.js';

export interface Faults {
  /** put resolves but stores nothing. */
  dropWrites?: boolean;
  /** Every call waits this long first. */
  delayMs?: number;
  /** get returns the record with one image byte flipped (metadata unchanged). */
  corruptImage?: boolean;
  /** get returns the record with the image cut short. */
  truncateImage?: boolean;
  /** get returns the record of another key under the asked one. */
  swapKey?: string;
  /** These calls throw an I/O-like error. */
  throwOn?: ReadonlySet<'get' | 'put' | 'delete' | 'list' | 'stat' | 'clear'>;
  /** Refuses put/delete/clear as a read-only tier must. */
  readOnly?: boolean;
}

export class FaultyTier implements CacheTier {
  readonly name: string;
  faults: Faults;
  readonly calls = { get: 0, put: 0, delete: 0 };

  constructor(
    private readonly inner: CacheTier,
    faults: Faults = {},
    name = 'faulty',
  ) {
    this.name = name;
    this.faults = faults;
  }

  get capabilities(): TierCapabilities {
    return { readOnly: this.faults.readOnly ?? false, persistent: true, shared: true };
  }

  private async enter(op: 'get' | 'put' | 'delete' | 'list' | 'stat' | 'clear'): Promise<void> {
    if (this.faults.delayMs) await sleep(this.faults.delayMs);
    if (this.faults.throwOn?.has(op)) {
      const e = new Error(`injected ${op} failure`) as NodeJS.ErrnoException;
      e.code = 'EIO';
      throw e;
    }
  }

  async get(key: string, expect?: ExpectedIdentity): Promise<TierRecord | undefined> {
    this.calls.get++;
    await this.enter('get');
    const rec = await this.inner.get(this.faults.swapKey ?? key, expect);
    if (!rec) return undefined;
    let image = rec.image;
    if (this.faults.corruptImage) {
      image = Buffer.from(image);
      image[image.length >> 1] = image[image.length >> 1]! ^ 0x10;
    }
    if (this.faults.truncateImage) image = image.subarray(0, image.length >> 1);
    return { key: this.faults.swapKey ? key : rec.key, image, meta: rec.meta };
  }

  async put(record: TierRecord): Promise<void> {
    this.calls.put++;
    if (this.faults.readOnly) throw new ReadOnlyTierError(this.name);
    await this.enter('put');
    if (this.faults.dropWrites) return;
    await this.inner.put(record);
  }

  async delete(key: string): Promise<boolean> {
    this.calls.delete++;
    if (this.faults.readOnly) throw new ReadOnlyTierError(this.name);
    await this.enter('delete');
    return this.inner.delete(key);
  }

  async *list(): AsyncIterable<string> {
    await this.enter('list');
    yield* this.inner.list();
  }

  async stat(key: string): Promise<TierEntryInfo | undefined> {
    await this.enter('stat');
    return this.inner.stat(key);
  }

  async clear(): Promise<void> {
    if (this.faults.readOnly) throw new ReadOnlyTierError(this.name);
    await this.enter('clear');
    await this.inner.clear();
  }
}
