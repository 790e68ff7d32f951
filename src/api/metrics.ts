// The cache's metric families (src/cache/metrics.ts) in an application's prom-client registry. prom-client is an
// optional peer dependency: it is required here, when registerCacheMetrics is called, from where cuop is installed
// (so the application's own copy), and never otherwise; a process that only imports cuop never loads it.
import { createRequire } from 'node:module';

import { attachDetails, CuopError, registerErrorClass } from '../cuda/errors.js';
import { CACHE_METRICS, checkLabelNames, type MetricScope } from '../cache/metrics.js';
import type { CacheStats } from '../cache/stats.js';

// prom-client's shapes, as much of them as is used here: its types are not needed to build or use cuop.
/** What cuop calls on a prom-client metric. */
export interface PromMetric {
  /** Clears the metric's values before collect() sets them again. */
  reset(): void;
}
/** A prom-client Counter, as used here. */
export interface PromCounter extends PromMetric {
  /** Adds `value` to the series with `labels`. */
  inc(labels: Record<string, string>, value: number): void;
}
/** A prom-client Gauge, as used here. */
export interface PromGauge extends PromMetric {
  /** Sets the series with `labels` to `value`. */
  set(labels: Record<string, string>, value: number): void;
}
/** The constructor options cuop passes to prom-client's Counter and Gauge. */
export interface PromMetricConfig<T> {
  name: string;
  help: string;
  labelNames: string[];
  registers: PromRegistry[];
  /** Called by prom-client at each scrape: sets the values from the cache's stats. */
  collect(this: T): void;
}
/** A prom-client Registry (its `register`, or a `new Registry()`). */
export interface PromRegistry {
  /** Removes one metric by name. */
  removeSingleMetric(name: string): void;
  /** The metric registered under a name, if any. */
  getSingleMetric(name: string): unknown;
}
/** The prom-client module (what `require('prom-client')` returns). */
export interface PromClient {
  Counter: new (config: PromMetricConfig<PromCounter>) => PromCounter;
  Gauge: new (config: PromMetricConfig<PromGauge>) => PromGauge;
  register: PromRegistry;
}

/** registerCacheMetrics needs prom-client, and it is not installed where cuop can require it. */
export class PromClientMissingError extends CuopError {
  override readonly name = 'PromClientMissingError';
  constructor(readonly reason: string) {
    super(
      `registerCacheMetrics needs prom-client, which cuop could not load (${reason}). Install it next to cuop ` +
        `(npm install prom-client), or pass your copy: registerCacheMetrics(cache, registry, { client: require('prom-client') }).`,
    );
    attachDetails(this, { reason });
  }
}
registerErrorClass('PromClientMissingError', PromClientMissingError);

/** How registerCacheMetrics reports. */
export interface CacheMetricsOptions {
  /**
   * Default `process`: this cache object's counters, the Prometheus way (each process is scraped; counters restart
   * with the process). `all`: the persisted totals of every process of the cache directory (each scrape reads the
   * stats files): for one exporter that speaks for the whole directory.
   */
  scope?: MetricScope;
  /** The prom-client module to use (default: required from where cuop is installed). */
  client?: PromClient;
  /** Labels added to every sample, e.g. `{ service: 'render' }`. */
  labels?: Readonly<Record<string, string>>;
}

/** What registerCacheMetrics registered, and how to take it back. */
export interface CacheMetricsRegistration {
  /** The metric names registered. */
  readonly names: readonly string[];
  /** Removes them from the registry. */
  unregister(): void;
}

function loadPromClient(): PromClient {
  try {
    return createRequire(import.meta.url)('prom-client') as PromClient;
  } catch (e) {
    throw new PromClientMissingError(e instanceof Error ? e.message.split('\n')[0]! : String(e));
  }
}

/**
 * Registers the cache's metric families (docs/metrics.md) in a prom-client registry (default: prom-client's global
 * `register`). Values are read at scrape time, in each family's collect(): one getStats() per scrape, shared by
 * all families. Throws PromClientMissingError when prom-client cannot be loaded, and prom-client's own error when
 * a name is already registered there (one cache per registry).
 */
export function registerCacheMetrics(
  cache: { getStats(): CacheStats },
  registry?: PromRegistry,
  opts: CacheMetricsOptions = {},
): CacheMetricsRegistration {
  const client = opts.client ?? loadPromClient();
  const into = registry ?? client.register;
  const scope = opts.scope ?? 'process';
  const extra = opts.labels ?? {};
  checkLabelNames(Object.keys(extra));
  // A scrape collects every family in one synchronous stretch (prom-client starts each get() in one loop): read
  // the stats once and drop them at the next microtask.
  let stats: CacheStats | undefined;
  const current = (): CacheStats => {
    if (stats === undefined) {
      stats = cache.getStats();
      queueMicrotask(() => (stats = undefined));
    }
    return stats;
  };
  const names: string[] = [];
  try {
    for (const f of CACHE_METRICS) {
      const labelNames = [...Object.keys(extra), ...f.labelNames];
      const samples = () =>
        f.samples(current(), scope).map((s) => ({ ...s, labels: { ...extra, ...s.labels } }));
      if (f.type === 'counter') {
        new client.Counter({
          name: f.name,
          help: f.help,
          labelNames,
          registers: [into],
          collect() {
            // The cache's counters are totals: reset, then add the total (prom-client counters cannot be set).
            this.reset();
            for (const s of samples()) this.inc(s.labels, s.value);
          },
        });
      } else {
        new client.Gauge({
          name: f.name,
          help: f.help,
          labelNames,
          registers: [into],
          collect() {
            this.reset();
            for (const s of samples()) this.set(s.labels, s.value);
          },
        });
      }
      names.push(f.name);
    }
  } catch (e) {
    for (const n of names) into.removeSingleMetric(n);
    throw e;
  }
  return {
    names,
    unregister: () => {
      for (const n of names) into.removeSingleMetric(n);
    },
  };
}
