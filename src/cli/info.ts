import { resolveCacheDir } from '../cache/index.js';
import { CacheLog } from '../cache/logger.js';
import { remoteTierFromSettings } from '../cache/redis-tier.js';
import { NvccCompiler, NvrtcCompiler } from '../compiler/index.js';
import { driver } from '../cuda/index.js';
import { Device } from '../runtime/index.js';
import { getSettings, SETTINGS_VARIABLES, settingsProblem, shownSettingValue } from '../settings/index.js';

// The whole message, indented: "where I looked" lists are the useful part.
const indentedMessage = (e: unknown): string =>
  (e instanceof Error ? e.message : String(e)).replace(/\n/g, '\n            ');

/** What `cuop info` reports; its --json form (docs/cli-json.md). Failures are values, never exceptions. */
export interface HostInfo {
  driver: { version: string; library: string } | { error: string };
  devices: { ordinal: number; name: string; arch: string; multiprocessors: number; memoryBytes: number }[];
  compilers: ({ id: string; version: string; archs: string[] } | { id: string; error: string })[];
  cacheDir: string | null;
  remote: RemoteInfo | null;
  settings: {
    name: string;
    field: string;
    value: unknown;
    ignored?: { value: string; message: string };
  }[];
}

export type RemoteInfo =
  | { error: string }
  | {
      url: string;
      prefix: string;
      reachable: boolean;
      connectMs: number | null;
      roundTripMs: number | null;
      readOnly: boolean;
      signing: string;
      acceptedKeyIds: string;
      ttlSeconds: number;
      timeoutMs: number;
      breaker: string;
      timeouts: number;
      errors: number;
    };

const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** What this host offers: driver and devices, the two compilers, the cache dir, the remote tier, the settings. */
export async function gatherInfo(): Promise<HostInfo> {
  const info: HostInfo = {
    driver: { error: '' },
    devices: [],
    compilers: [],
    cacheDir: resolveCacheDir(),
    remote: null,
    settings: [],
  };
  try {
    const v = driver.driverVersion();
    info.driver = {
      version: `${Math.floor(v / 1000)}.${(v % 1000) / 10}`,
      library: driver.driverLibraryPath(),
    };
    for (const d of Device.all()) {
      info.devices.push({
        ordinal: d.ordinal,
        name: d.name,
        arch: d.arch,
        multiprocessors: d.multiprocessorCount,
        memoryBytes: d.totalMemory,
      });
    }
  } catch (e) {
    info.driver = { error: errorMessage(e) };
  }
  for (const c of [new NvrtcCompiler(), new NvccCompiler()]) {
    try {
      const v = await c.info();
      const archs = await c.supportedArchs();
      info.compilers.push({ id: c.id, version: v.version, archs: archs.map((a) => `sm_${a}`) });
    } catch (e) {
      info.compilers.push({ id: c.id, error: errorMessage(e) });
    }
  }
  info.remote = await gatherRemote();
  const settings = getSettings();
  for (const v of SETTINGS_VARIABLES.filter((x) => (process.env[x.name] ?? '') !== '')) {
    const problem = settingsProblem(settings, v.name);
    info.settings.push({
      name: v.name,
      field: v.field,
      value: shownSettingValue(settings, v),
      ...(problem ? { ignored: { value: problem.value, message: problem.message } } : {}),
    });
  }
  return info;
}

/** The shared tier, when one is configured: where, how it signs, and whether it answers now (also `cuop doctor`). */
export async function gatherRemote(env: NodeJS.ProcessEnv = process.env): Promise<RemoteInfo | null> {
  let tier;
  try {
    tier = remoteTierFromSettings(undefined, env, new CacheLog({ debug: () => {}, warn: () => {} }, false));
  } catch (e) {
    return { error: errorMessage(e) };
  }
  if (!tier) return null;
  try {
    const d = tier.describe();
    const [first, ...rest] = await tier.ping(3);
    const answered = rest.filter((ms): ms is number => ms !== undefined);
    const stats = tier.stats();
    return {
      url: String(d['url']),
      prefix: String(d['prefix']),
      reachable: first !== undefined,
      connectMs: first ?? null,
      roundTripMs: answered.length ? Math.min(...answered) : null,
      readOnly: d['readOnly'] === true,
      signing: String(d['signing']),
      acceptedKeyIds: String(d['acceptedKeyIds']),
      ttlSeconds: Number(d['ttlSeconds']),
      timeoutMs: Number(d['timeoutMs']),
      breaker: tier.breakerState,
      timeouts: Number(stats['timeouts']),
      errors: Number(stats['errors']),
    };
  } finally {
    await tier.close();
  }
}

/** The lines of `cuop info` for people. */
export function formatInfo(info: HostInfo): string {
  const out: string[] = [];
  const d = info.driver;
  out.push(
    'error' in d
      ? `driver      none: ${indentedMessage(d.error)}`
      : `driver      CUDA ${d.version} (${d.library})`,
  );
  for (const x of info.devices) {
    out.push(
      `device ${x.ordinal}    ${x.name}, ${x.arch}, ${x.multiprocessors} SMs, ` +
        `${(x.memoryBytes / 2 ** 30).toFixed(1)} GiB`,
    );
  }
  for (const c of info.compilers) {
    out.push(
      'error' in c
        ? `${c.id.padEnd(11)} unavailable: ${indentedMessage(c.error)}`
        : `${c.id.padEnd(11)} ${c.version} (${c.archs[0]} … ${c.archs.at(-1)})`,
    );
  }
  out.push(`cache dir   ${info.cacheDir ?? '(disabled: CUOP_CACHE_DISABLE=1)'}`);
  const r = info.remote;
  if (r === null)
    out.push('remote      none (set CUOP_REMOTE_CACHE=redis://host:6379 to share kernels across hosts)');
  else if ('error' in r) out.push(`remote      misconfigured: ${indentedMessage(r.error)}`);
  else {
    const reach = r.reachable
      ? `reachable: connect ${r.connectMs!.toFixed(1)} ms, round trip ${r.roundTripMs !== null ? r.roundTripMs.toFixed(2) : '?'} ms`
      : `unreachable (${r.timeouts} timeouts, ${r.errors} errors): lookups skip it`;
    out.push(`remote      ${r.url} prefix ${r.prefix} (${reach})`);
    out.push(
      `            ${r.readOnly ? 'read-only (no CUOP_REMOTE_SECRET)' : `signs with key id ${r.signing}`}, ` +
        `accepts ${r.acceptedKeyIds}, TTL ${r.ttlSeconds} s, deadline ${r.timeoutMs} ms, breaker ${r.breaker}`,
    );
  }
  if (info.settings.length === 0) out.push('settings    defaults (no CUOP_* variable is set)');
  for (const v of info.settings) {
    out.push(
      `setting     ${v.name}: ${v.field} = ${JSON.stringify(v.value)}` +
        (v.ignored
          ? ` (ignoring ${JSON.stringify(v.ignored.value)}: ${v.ignored.message}; the default stands)`
          : ''),
    );
  }
  return out.join('\n');
}

export async function printInfo(o: { json?: boolean } = {}): Promise<void> {
  const info = await gatherInfo();
  console.log(o.json ? JSON.stringify(info, null, 2) : formatInfo(info));
}
