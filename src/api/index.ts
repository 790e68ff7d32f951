// The seed's API: process-wide managers, its CachePolicy, and JitWrapper over the operators.
export { JitWrapper } from './wrapper.js';
export { GlobalJitManager, GlobalPersistentCacheManager, type GlobalJitConfig } from './global.js';
export { CachePolicy, type CachePolicyFields } from './cache-policy.js';
export {
  registerCacheMetrics,
  PromClientMissingError,
  type CacheMetricsOptions,
  type CacheMetricsRegistration,
  type PromClient,
  type PromRegistry,
} from './metrics.js';
