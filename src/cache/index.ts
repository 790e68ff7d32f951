export {
  CACHE_FORMAT_VERSION,
  CODEGEN_EPOCH,
  cacheKey,
  familyKey,
  dependentKey,
  memoizedCacheKey,
  memoizedFamilyKey,
  isCacheKey,
  sameHeaders,
  sameStrings,
  type KeySpec,
} from './key.js';
export type { KeyDifference, KeyInput, NearEntry } from './explain.js';
export type { Dependencies, DependencyRecord } from './dependencies.js';
export {
  KernelCache,
  type CacheLookup,
  type CacheEntryInfo,
  type CacheExplanation,
  type CompileExtras,
  type InspectedEntry,
  type KernelCacheOptions,
  type LookupTier,
  type MaintenanceReport,
  type IntegrityReport,
  type IntegrityProblem,
} from './kernel-cache.js';
export { MemoryTier, type CacheEntry } from './memory-tier.js';
export { DiskTier, unsafeDirReason, type DiskEntryInfo, type DiskTierOptions } from './disk-tier.js';
export {
  noHooks,
  ReadOnlyTierError,
  type CacheTier,
  type TierCapabilities,
  type TierEntryInfo,
  type TierRecord,
  type TierHooks,
  type ExpectedIdentity,
  type EvictionReason,
} from './tier.js';
export { recordProblem } from './verify.js';
export { sha256Hex } from './sha256.js';
export {
  RECORD_COMPILER_ID,
  recordKeySpec,
  recordText,
  isRecordSpec,
  type RecordDescription,
} from './records.js';
export { CacheLayout } from './layout.js';
export {
  leaseOrWait,
  SingleFlight,
  type Lease,
  type LeaseAttempt,
  type LeaseProvider,
} from './single-flight.js';
export {
  DEFAULT_POLICY,
  CachePolicyError,
  DEFAULT_CODEC,
  parseByteSize,
  resolveCacheDir,
  resolvePolicy,
  type CachePolicy,
  type CachePolicyInput,
  type EnvProblem,
} from './policy.js';
export { trustRule, dirProblem, fileProblem, type TrustRule, type CacheSharing } from './trust.js';
export { readTrustedTextOrUndefined, UntrustedPathError } from './safe-fs.js';
export { parseEntryMetadata, type EntryMetadata, type MetadataParse, type ParamRecord } from './metadata.js';
export { CacheLog, stderrLogger, type CacheLogger } from './logger.js';
export { emptyCounters, type CacheCounters, type CacheStats, type CacheStatsSnapshot } from './stats.js';
export { CODECS, zstdAvailable, CodecUnavailableError, type Codec } from './codec.js';
export {
  archProblem,
  BundleRejectedError,
  type BundleExportOptions,
  type BundleExportReport,
  type BundleImportOptions,
  type BundleImportReport,
} from './bundle-import.js';
export type { RemoteSecret } from './remote-value.js';
export {
  CACHE_METRICS,
  MetricLabelError,
  PROMETHEUS_TEXT_CONTENT_TYPE,
  toPrometheusText,
  type MetricFamilyDescription,
  type MetricSample,
  type MetricScope,
  type MetricType,
  type PrometheusTextOptions,
} from './metrics.js';
export {
  CACHE_CHANNELS,
  type CacheCompileMessage,
  type CacheEvictMessage,
  type CacheLookupMessage,
  type CachePublishMessage,
  type CacheRepairMessage,
} from './trace.js';
