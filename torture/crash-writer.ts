// One crash writer (a child of the crashes scenario): publishes the trial's keys through KernelCache.getOrCompile,
// in its own order, until the parent kills it with SIGKILL (or it finishes). argv[2]: JSON of CrashWriterArgs.
import { KernelCache } from '../src/cache/kernel-cache.js';
import { crashCompile, crashSpec } from './crash-kit.js';

export interface CrashWriterArgs {
  readonly dir: string;
  readonly trial: number;
  readonly keys: readonly number[];
  readonly maxBytes: number;
  readonly codec: 'none' | 'gzip';
}

async function main(): Promise<void> {
  const a = JSON.parse(process.argv[2] ?? '{}') as CrashWriterArgs;
  const cache = new KernelCache({
    dir: a.dir,
    env: {},
    logger: { warn: () => {}, debug: () => {} },
    policy: { compression: a.codec, lockWaitMs: 20_000 },
  });
  process.send?.('ready');
  for (const k of a.keys)
    await cache.getOrCompile(crashSpec(a.trial, k), crashCompile(a.trial, k, a.maxBytes));
  await cache.close();
  process.send?.('done');
  process.disconnect?.();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(2);
});
