// cuop: CUDA JIT compilation for Node.js with a persistent kernel cache and runtime-specialized operators.
export {
  CuopError,
  CudaError,
  NvrtcError,
  NvrtcBuiltinsError,
  LibraryNotFoundError,
  reviveError,
  type ErrorDetails,
} from './cuda/errors.js';
export { KernelParamBlock, type ParamType } from './cuda/index.js';
export { driverAvailable } from './cuda/driver.js';
export { nvrtcAvailable } from './cuda/nvrtc.js';
export { NvJitLinkError, nvJitLinkAvailable } from './cuda/nvjitlink.js';
export * from './compiler/index.js';
export {
  readSettings,
  getSettings,
  SETTINGS_VARIABLES,
  type Settings,
  type SettingsField,
  type SettingsProblem,
  type SettingsVariable,
} from './settings/index.js';
export {
  KernelCache,
  cacheKey,
  familyKey,
  dependentKey,
  CODEGEN_EPOCH,
  CACHE_FORMAT_VERSION,
  CachePolicyError,
  BundleRejectedError,
  archProblem,
  parseByteSize,
  resolveCacheDir,
  type KeySpec,
  type CacheLookup,
  type CacheExplanation,
  type KeyDifference,
  type NearEntry,
  type CacheEntry,
  type CacheTier,
  type KernelCacheOptions,
  type CacheStats,
  type CacheStatsSnapshot,
  type CacheLogger,
  type MaintenanceReport,
  type IntegrityReport,
  type EntryMetadata,
  type BundleExportReport,
  type BundleImportReport,
  type RemoteSecret,
  CACHE_METRICS,
  MetricLabelError,
  PROMETHEUS_TEXT_CONTENT_TYPE,
  toPrometheusText,
  type MetricFamilyDescription,
  type MetricSample,
  type MetricScope,
  type MetricType,
  type PrometheusTextOptions,
  CACHE_CHANNELS,
  type CacheCompileMessage,
  type CacheEvictMessage,
  type CacheLookupMessage,
  type CachePublishMessage,
  type CacheRepairMessage,
  // The cache's own (resolved) policy; `CachePolicy` below is the seed's field names over it.
  type CachePolicy as CacheSettings,
  type CachePolicyInput as CacheSettingsInput,
} from './cache/index.js';
export * from './runtime/index.js';
export * from './jit/index.js';
export * from './ops/index.js';
export * from './api/index.js';
// Types that the signatures above name, exported so callers can name them too (and the API reference links them).
export type {
  BundleExportOptions,
  BundleImportOptions,
  CacheEntryInfo,
  CacheSharing,
  Codec,
  CompileExtras,
  Dependencies,
  DependencyRecord,
  EvictionReason,
  ExpectedIdentity,
  InspectedEntry,
  IntegrityProblem,
  KeyInput,
  LookupTier,
  ParamRecord,
  TierCapabilities,
  TierEntryInfo,
  TierRecord,
  TrustRule,
} from './cache/index.js';
export type { DependencyDigest } from './cache/key.js';
export type { Manifest, ManifestCandidate } from './cache/manifest.js';
export type { RedisTierOptions } from './cache/redis-tier.js';
export type { IncludeOptions } from './compiler/options.js';
export type { ParamValue, RawSlot, SlotType } from './cuda/index.js';
export type { FieldScalar } from './runtime/struct-layout.js';
export type { PromCounter, PromGauge, PromMetric, PromMetricConfig } from './api/metrics.js';
export type { GemmConfig, GemmSpec } from './ops/gemm-source.js';
export type { GemmOptions, GemmProblem } from './ops/gemm.js';
export type { WgmmaConfig } from './ops/gemm-wgmma-source.js';
