// The seed's CachePolicy (field names a user of the original C++ API knows), mapped onto the cache's own policy.
import type { CachePolicyInput } from '../cache/index.js';

const HOUR = 3_600_000;

/** The seed's policy fields. Sizes in bytes, times in milliseconds. */
export interface CachePolicyFields {
  /** Upper bound of the disk cache, bytes (or a string like '5GB'). */
  maxDiskCacheSize?: number | string;
  /** Upper bound of the number of kernels on disk. */
  maxCachedKernels?: number;
  /** An entry unused for this long expires (ms). */
  cacheExpirationTime?: number;
  /** Compress images on disk (gzip; the default codec is chosen by benchmark and is 'none'). */
  enableCompression?: boolean;
  /** Verify size + SHA-256 of each disk hit. */
  enableChecksum?: boolean;
  /** Log every cache decision to stderr. */
  enableDebug?: boolean;
}

/**
 * Cache policy in the seed's terms, with presets for its three deployments. Anything not set keeps the cache's
 * default (1 GiB, 30 days, checksums on, no compression).
 */
export class CachePolicy implements CachePolicyFields {
  maxDiskCacheSize?: number | string;
  maxCachedKernels?: number;
  cacheExpirationTime?: number;
  enableCompression?: boolean;
  enableChecksum?: boolean;
  enableDebug?: boolean;

  constructor(fields: CachePolicyFields = {}) {
    Object.assign(this, fields);
  }

  /** Development: entries expire after a day, every decision is logged. */
  static development(): CachePolicy {
    return new CachePolicy({ cacheExpirationTime: 24 * HOUR, enableDebug: true });
  }

  /** Production: 30-day expiry, compressed on disk, checksums verified. */
  static production(): CachePolicy {
    return new CachePolicy({
      cacheExpirationTime: 720 * HOUR,
      enableCompression: true,
      enableChecksum: true,
    });
  }

  /**
   * High performance: no compression (decompression is pure overhead on a fast SSD), checksums kept (a wrong cubin is
   * worse than 20 µs), a large disk budget. Put the cache dir on local SSD, not network storage.
   */
  static highPerformance(): CachePolicy {
    return new CachePolicy({
      cacheExpirationTime: 720 * HOUR,
      enableCompression: false,
      enableChecksum: true,
      maxDiskCacheSize: '8GB',
    });
  }

  /** The cache's own policy input (validated by the cache; a bad value names the seed field it came from). */
  toCachePolicyInput(): Partial<CachePolicyInput> {
    const out: Partial<CachePolicyInput> = {};
    if (this.maxDiskCacheSize !== undefined) out.maxDiskBytes = this.maxDiskCacheSize;
    if (this.maxCachedKernels !== undefined) out.maxEntries = this.maxCachedKernels;
    if (this.cacheExpirationTime !== undefined) out.maxAgeMs = this.cacheExpirationTime;
    if (this.enableCompression !== undefined) out.compression = this.enableCompression ? 'gzip' : 'none';
    if (this.enableChecksum !== undefined) out.checksum = this.enableChecksum;
    if (this.enableDebug !== undefined) out.debug = this.enableDebug;
    return out;
  }
}
