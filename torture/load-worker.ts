// One process of the load and network scenarios: mixed lookups, publishes, prunes, shrinks, verifies and clears on one
// small cache through the real KernelCache API, in a few concurrent loops, until the parent says 'stop'. Every image
// returned is compared with its key's true image; every error thrown to the caller is counted. The parent may name
// the current phase ({ phase }) so that lookup times are kept per phase. argv[2]: a LoadJob as JSON.
import { setImmediate as yieldNow } from 'node:timers/promises';

import { KernelCache } from '../src/cache/kernel-cache.js';
import { random } from './figures.js';
import {
  LOAD_SECRET,
  loadCompile,
  loadImage,
  loadSpec,
  type LoadJob,
  type LoadReport,
  type PhaseReport,
} from './load-kit.js';

const job = JSON.parse(process.argv[2] ?? '{}') as LoadJob;
const rand = random(job.seed);
const errors: string[] = [];
let errorCount = 0;
let bad = 0;
const ops: Record<string, number> = {};
const tiers: Record<string, number> = {};
const compiles: [number, number, number][] = [];
const phases: Record<string, PhaseReport> = {};
let phase = 'run';
let stopping = false;
let fresh = 0;

const cache = new KernelCache({
  dir: job.dir,
  env: {},
  logger: { warn: () => {}, debug: () => {} },
  policy: {
    maxDiskBytes: job.maxDiskBytes,
    memoryMaxEntries: 8,
    maintenanceIntervalMs: 1_000,
    statsFlushMs: 500,
    // Publishes of other processes are under way all the time: clear() and the sweeps must leave them alone.
    orphanGraceMs: 2_000,
    lockWaitMs: 20_000,
  },
  remote: job.remote
    ? {
        url: job.remote.url,
        prefix: job.remote.prefix,
        secrets: [LOAD_SECRET],
        timeoutMs: job.remote.timeoutMs,
        breakerCooldownMs: job.remote.breakerCooldownMs,
        connectTimeoutMs: 500,
      }
    : false,
});

process.on('message', (m: { phase?: string; stop?: boolean }) => {
  if (m.phase !== undefined) phase = m.phase;
  if (m.stop) stopping = true;
});
// The parent gone (it crashed, or was killed): stop too, never loop on as an orphan.
process.on('disconnect', () => {
  if (!stopping) process.exit(3);
});

const count = (op: string): void => void (ops[op] = (ops[op] ?? 0) + 1);
const failed = (op: string, e: unknown): void => {
  errorCount++;
  if (errors.length < 5) errors.push(`${op}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
};
const recordCompile = (id: number) => (s: number, e: number) => void compiles.push([id, s, e]);

async function lookup(id: number): Promise<void> {
  const t0 = performance.now();
  const r = await cache.getOrCompile(loadSpec(id), loadCompile(id, recordCompile(id)));
  const ms = performance.now() - t0;
  const p = (phases[phase] ??= { lookups: 0, ms: [] });
  p.lookups++;
  p.ms.push(Math.round(ms * 100) / 100);
  tiers[r.tier] = (tiers[r.tier] ?? 0) + 1;
  if (!r.entry.image.equals(loadImage(id))) bad++;
}

async function loop(): Promise<void> {
  const w = job.weights;
  let n = 0;
  while (!stopping) {
    const x = rand();
    let op = 'lookup';
    let at = 0;
    for (const [name, weight] of Object.entries(w)) {
      at += weight;
      if (x < at) {
        op = name;
        break;
      }
    }
    count(op);
    try {
      switch (op) {
        case 'lookup':
          // Skewed: a few keys are hot (memory and disk hits), the tail is evicted and compiled again.
          await lookup(Math.floor(job.keys * rand() * rand()));
          break;
        case 'publish':
          await lookup(1_000_000 * (job.worker + 1) + fresh++);
          break;
        case 'sync': {
          const id = Math.floor(job.keys * rand());
          const r = cache.lookupSync(loadSpec(id));
          if (r && !r.entry.image.equals(loadImage(id))) bad++;
          break;
        }
        case 'prune':
          await cache.pruneStale();
          break;
        case 'shrink':
          await cache.cleanupBySize(Math.floor(job.maxDiskBytes / 2));
          break;
        case 'verify':
          await cache.validateCacheIntegrity({ repair: true });
          break;
        case 'clear':
          await cache.clear();
          break;
      }
    } catch (e) {
      failed(op, e);
    }
    // Memory hits resolve without a turn of the event loop: let the parent's messages in.
    if (++n % 16 === 0) await yieldNow();
  }
}

async function main(): Promise<void> {
  process.send?.('ready');
  await Promise.all(Array.from({ length: job.loops }, () => loop()));
  const remote = cache.getStats().tiers?.['remote'];
  await cache.close();
  let integrityProblems = 0;
  if (job.checkAtEnd) {
    const check = new KernelCache({ dir: job.dir, env: {}, logger: { warn: () => {}, debug: () => {} } });
    integrityProblems = (await check.validateCacheIntegrity({ repair: false })).problems.length;
    await check.close();
  }
  const report: LoadReport = {
    worker: job.worker,
    ops,
    errors: errorCount,
    errorSamples: errors,
    bad,
    phases,
    compiles,
    tiers,
    ...(remote ? { remote } : {}),
    integrityProblems,
  };
  stopping = true;
  process.send?.(report, () => process.disconnect?.());
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(2);
});
