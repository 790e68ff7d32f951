// clear() racing publishes of other processes (here: another cache object on the same directory, whose publish is
// interleaved with the clear at every step the event loop gives): a publish under way is left alone (its temp files
// and its kernel not yet committed by its metadata are younger than policy.orphanGraceMs), so it either commits a
// whole entry after the clear or its files are gone with it; never a half entry, never a publish broken by the clear.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { KernelCache } from '../../src/cache/kernel-cache.js';
import { countingCompile, nvccCubin, kernelSource, specFor, tempDir } from './fixtures.js';

const quiet = { debug: () => {}, warn: () => {} };
const list = (d: string): string[] => {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
};
/** Metadata files whose key has no kernel file, and kernel files whose key has no metadata. */
function halves(dir: string): { metaOnly: number; kernelOnly: number } {
  const metas = new Set<string>();
  const kernels = new Set<string>();
  for (const s of list(join(dir, 'metadata')))
    for (const n of list(join(dir, 'metadata', s))) metas.add(n.split('.')[0]!);
  for (const s of list(join(dir, 'kernels')))
    for (const n of list(join(dir, 'kernels', s))) kernels.add(n.split('.')[0]!);
  return {
    metaOnly: [...metas].filter((k) => !kernels.has(k)).length,
    kernelOnly: [...kernels].filter((k) => !metas.has(k)).length,
  };
}

test('clear() at every step of a concurrent publish: no half entry, no broken publish, the survivor is sound', async () => {
  const dir = tempDir('clear-race');
  const image = nvccCubin(kernelSource(3));
  const outcomes = new Map<string, number>();
  for (let step = 0; step < 40; step++) {
    const spec = specFor(3, { options: ['-O3', `-DSTEP=${step}`] });
    const writer = new KernelCache({ dir, env: {}, logger: quiet, policy: { maintenanceIntervalMs: 0 } });
    const clearer = new KernelCache({ dir, env: {}, logger: quiet, policy: { maintenanceIntervalMs: 0 } });
    const publish = writer.getOrCompile(spec, countingCompile(3).compile);
    for (let i = 0; i < step; i++) await new Promise((r) => setImmediate(r));
    const cleared = await clearer.clear();
    const r = await publish;
    assert.equal(cleared, true, `step ${step}: clear() succeeded`);
    assert.ok(r.entry.image.equals(image), `step ${step}: the caller got the true image`);
    assert.equal(writer.getStats().process.writeFailures, 0, `step ${step}: the clear broke the publish`);
    const h = halves(dir);
    assert.deepEqual(h, { metaOnly: 0, kernelOnly: 0 }, `step ${step}: a half entry after the clear`);
    const reader = new KernelCache({ dir, env: {}, logger: quiet, policy: { maintenanceIntervalMs: 0 } });
    const found = reader.lookupSync(spec);
    const outcome = found === undefined ? 'cleared' : found.entry.image.equals(image) ? 'survived' : 'BAD';
    assert.notEqual(outcome, 'BAD', `step ${step}`);
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    await Promise.all([writer.close(), clearer.close(), reader.close()]);
  }
  // The sweep over steps is only worth its name if it covered both sides of the publish.
  assert.ok((outcomes.get('survived') ?? 0) > 0, JSON.stringify([...outcomes]));
});
