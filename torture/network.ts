// The network: a load run of processes that each stand for a host (a cache dir of their own) sharing kernels through
// a real redis-server, reached through a TCP proxy in this process (test/cache/fault-proxy.ts). In the middle of the
// run, phase after phase: Redis killed (SIGKILL) and restarted on its port, paused (SIGSTOP, then SIGCONT), slowed
// (the proxy holds every answer back), answering garbage (the proxy flips bytes, pushes bytes of no RESP, adds a
// reply too many), then healthy again. Figures: failed lookups (errors thrown or a wrong image: 0), lookup times per
// phase (p50 / p99 / max) against the healthy phase with the added p99 bounded, and what the hosts' disks hold at the
// end (every entry verifies: nothing bad copied down from the remote tier).
import { join } from 'node:path';

import { faultProxy, type Garbage } from '../test/cache/fault-proxy.js';
import type { Figure, Scenario, ScenarioOptions } from './figures.js';
import { runFleet, type FleetResult } from './load.js';
import { freePort, quantile, redisAvailable, RedisProcess, type LoadJob } from './load-kit.js';

/** The tier's deadline per call in this run; the p99 a phase may add is a few of them (see the check). */
const TIMEOUT_MS = 50;
const ADDED_P99_BOUND_MS = 5 * TIMEOUT_MS;

const PHASES = ['healthy', 'killed', 'paused', 'slowed', 'garbage', 'healthy again'] as const;

export async function runNetwork(o: ScenarioOptions): Promise<Figure[]> {
  const f = (figure: string, value: number, unit?: string, mustBe?: number): Figure => ({
    scenario: 'network',
    figure,
    value,
    ...(unit !== undefined ? { unit } : {}),
    ...(mustBe !== undefined ? { mustBe } : {}),
  });
  if (!redisAvailable()) return [f('skipped: no redis-server here', 0)];
  const hosts = o.short ? 4 : 16;
  const phaseMs = o.short ? 1_200 : 15_000;
  const redis = new RedisProcess(await freePort());
  await redis.start();
  const proxy = await faultProxy(redis.port);
  const jobs: LoadJob[] = Array.from({ length: hosts }, (_, w) => ({
    dir: join(o.workDir, `host-${w}`),
    worker: w,
    seed: (o.seed * 17 + w) >>> 0,
    keys: 48,
    loops: 2,
    maxDiskBytes: 256 * 1024,
    weights: { publish: 0.05, sync: 0.05, prune: 0.002, shrink: 0.004, verify: 0.002, clear: 0.0005 },
    checkAtEnd: true,
    remote: { url: proxy.url, prefix: `net${o.seed}:`, timeoutMs: TIMEOUT_MS, breakerCooldownMs: 250 },
  }));
  const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  let fleet: FleetResult;
  try {
    fleet = await runFleet(
      jobs,
      async (fleet) => {
        // Connections made, hot keys compiled and shared: the healthy phase measures a warm fleet.
        fleet.phase('warm-up');
        await wait(phaseMs / 2);
        for (const p of PHASES) {
          fleet.phase(p);
          o.log(`network: ${p}`);
          switch (p) {
            case 'killed':
              await redis.kill();
              await wait(phaseMs / 2);
              await redis.start();
              await wait(phaseMs / 2);
              break;
            case 'paused':
              redis.pause();
              await wait(phaseMs);
              redis.resume();
              break;
            case 'slowed':
              proxy.delayMs = 4 * TIMEOUT_MS;
              await wait(phaseMs);
              proxy.delayMs = 0;
              break;
            case 'garbage': {
              const kinds: Garbage[] = ['flip', 'junk', 'extra-reply'];
              for (const g of kinds) {
                proxy.garbage = g;
                await wait(phaseMs / kinds.length);
              }
              proxy.garbage = 'none';
              break;
            }
            default:
              await wait(phaseMs);
          }
        }
      },
      (PHASES.length + 1) * phaseMs + 60_000,
    );
  } finally {
    await proxy.close();
    await redis.stop();
  }
  const reports = fleet.reports;
  for (const c of fleet.crashes) o.log(`network: ${c}`);

  const errors = reports.reduce((s, r) => s + r.errors, 0);
  const bad = reports.reduce((s, r) => s + r.bad, 0);
  const samples = reports.flatMap((r) => r.errorSamples).slice(0, 3);
  const remote: Record<string, number> = {};
  for (const r of reports)
    for (const [k, v] of Object.entries(r.remote ?? {}))
      if (typeof v === 'number') remote[k] = (remote[k] ?? 0) + v;
  const perPhase = new Map<string, number[]>();
  for (const r of reports) {
    for (const [p, rep] of Object.entries(r.phases)) {
      const l = perPhase.get(p) ?? [];
      for (const ms of rep.ms) l.push(ms);
      perPhase.set(p, l);
    }
  }
  for (const l of perPhase.values()) l.sort((a, b) => a - b);
  const healthy = perPhase.get('healthy') ?? [];
  const hp99 = quantile(healthy, 0.99);
  const lookups = PHASES.reduce((s, p) => s + (perPhase.get(p)?.length ?? 0), 0);
  const figures: Figure[] = [
    f(
      'lookups',
      lookups,
      `${hosts} hosts (processes with their own cache dir), ${PHASES.length} phases of ${phaseMs} ms after a warm-up`,
    ),
    f('host processes that crashed or hung', fleet.crashed, fleet.crashes[0], 0),
    f(
      'failed lookups',
      errors + bad,
      `errors thrown ${errors}, wrong images ${bad}${samples.length ? `: ${samples.join(' | ')}` : ''}`,
      0,
    ),
  ];
  for (const p of PHASES) {
    const l = perPhase.get(p) ?? [];
    const p99 = quantile(l, 0.99);
    const unit = `ms; p99 ${p99.toFixed(1)}, max ${(l.at(-1) ?? 0).toFixed(1)}; ${l.length} lookups`;
    figures.push(f(`${p}: lookup p50`, quantile(l, 0.5), unit));
    if (p !== 'healthy')
      figures.push(
        f(
          `${p}: p99 added over healthy beyond ${ADDED_P99_BOUND_MS} ms`,
          Math.max(0, Math.round(p99 - hp99 - ADDED_P99_BOUND_MS)),
          `ms (added ${(p99 - hp99).toFixed(1)} ms; the bound: ${ADDED_P99_BOUND_MS / TIMEOUT_MS} deadlines of ${TIMEOUT_MS} ms)`,
          0,
        ),
      );
  }
  const integrity = reports.reduce((s, r) => s + r.integrityProblems, 0);
  figures.push(
    f("bad entries on the hosts' disks at the end", integrity, `integrity check of ${hosts} cache dirs`, 0),
    f(
      'remote tier, all hosts',
      Number(remote['hits'] ?? 0),
      `hits; errors ${remote['errors'] ?? 0}, timeouts ${remote['timeouts'] ?? 0}, breaker trips ${remote['breakerTrips'] ?? 0}, rejected ${remote['rejectedSignatures'] ?? 0}, malformed ${remote['malformed'] ?? 0}, lease release retries ${remote['leaseReleaseRetries'] ?? 0}`,
    ),
    f('answers corrupted by the proxy', proxy.corrupted),
  );
  return figures;
}

const scenario: Scenario = {
  name: 'network',
  description:
    'Redis killed, paused, slowed and answering garbage in the middle of a load run: no failed lookup, bounded latency',
  run: (o) => runNetwork(o),
};
export default scenario;
