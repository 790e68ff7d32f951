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

/** What this host offers: driver and devices, the two compilers, the cache dir, the CUOP_* variables set. */
export async function printInfo(): Promise<void> {
  try {
    const v = driver.driverVersion();
    console.log(
      `driver      CUDA ${Math.floor(v / 1000)}.${(v % 1000) / 10} (${driver.driverLibraryPath()})`,
    );
    for (const d of Device.all()) {
      console.log(
        `device ${d.ordinal}    ${d.name}, ${d.arch}, ${d.multiprocessorCount} SMs, ` +
          `${(d.totalMemory / 2 ** 30).toFixed(1)} GiB`,
      );
    }
  } catch (e) {
    console.log(`driver      none: ${indentedMessage(e)}`);
  }
  for (const c of [new NvrtcCompiler(), new NvccCompiler()]) {
    try {
      const info = await c.info();
      const archs = await c.supportedArchs();
      console.log(`${c.id.padEnd(11)} ${info.version} (sm_${archs[0]} … sm_${archs.at(-1)})`);
    } catch (e) {
      console.log(`${c.id.padEnd(11)} unavailable: ${indentedMessage(e)}`);
    }
  }
  console.log(`cache dir   ${resolveCacheDir() ?? '(disabled: CUOP_CACHE_DISABLE=1)'}`);
  await printRemote();
  printSettings();
}

/** The shared tier, when one is configured: where, how it signs, and whether it answers now. */
async function printRemote(): Promise<void> {
  let tier;
  try {
    tier = remoteTierFromSettings(
      undefined,
      process.env,
      new CacheLog({ debug: () => {}, warn: () => {} }, false),
    );
  } catch (e) {
    console.log(`remote      misconfigured: ${indentedMessage(e)}`);
    return;
  }
  if (!tier) {
    console.log('remote      none (set CUOP_REMOTE_CACHE=redis://host:6379 to share kernels across hosts)');
    return;
  }
  try {
    const d = tier.describe();
    const [first, ...rest] = await tier.ping(3);
    const answered = rest.filter((ms): ms is number => ms !== undefined);
    const reach =
      first === undefined
        ? `unreachable (${tier.stats()['timeouts']} timeouts, ${tier.stats()['errors']} errors): lookups skip it`
        : `reachable: connect ${first.toFixed(1)} ms, round trip ${answered.length ? Math.min(...answered).toFixed(2) : '?'} ms`;
    console.log(`remote      ${d['url']} prefix ${d['prefix']} (${reach})`);
    console.log(
      `            ${d['readOnly'] ? 'read-only (no CUOP_REMOTE_SECRET)' : `signs with key id ${d['signing']}`}, ` +
        `accepts ${d['acceptedKeyIds']}, TTL ${d['ttlSeconds']} s, deadline ${d['timeoutMs']} ms, breaker ${tier.breakerState}`,
    );
  } finally {
    await tier.close();
  }
}

/** The CUOP_* variables set here and what cuop made of them; the others are at their defaults. */
function printSettings(): void {
  const settings = getSettings();
  const set = SETTINGS_VARIABLES.filter((v) => (process.env[v.name] ?? '') !== '');
  if (set.length === 0) console.log('settings    defaults (no CUOP_* variable is set)');
  for (const v of set) {
    const problem = settingsProblem(settings, v.name);
    const effective = JSON.stringify(shownSettingValue(settings, v));
    console.log(
      `setting     ${v.name}: ${v.field} = ${effective}` +
        (problem
          ? ` (ignoring ${JSON.stringify(problem.value)}: ${problem.message}; the default stands)`
          : ''),
    );
  }
}
