// Stats temps of killed writers: a process killed between writing its stats file's temp and renaming it (or a
// compaction killed the same way) leaves stats/<name>.json.tmp that nobody renames any more. The sweep removes those
// older than the grace period (policy.orphanGraceMs), keeps younger ones (a flush may be under way) and files of
// names cuop never writes; a torn temp never counts in the totals.
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { KernelCache } from '../../src/cache/kernel-cache.js';
import { countingCompile, specFor, tempDir, worker } from './fixtures.js';

const quiet = { debug: () => {}, warn: () => {} };

/** A real stats file, written by a child process that used the cache and ended (close, exit or running out). */
async function childStatsFile(dir: string): Promise<string> {
  const child = fork(worker('stats-worker'), [dir, '0', '1', '3', 'close'], { stdio: 'ignore' });
  const code = await new Promise((r) => child.once('exit', r));
  assert.equal(code, 0);
  const name = readdirSync(join(dir, 'stats')).find((n) => n.endsWith('.json') && n !== 'total.json');
  assert.ok(name, 'the child left its stats file');
  return name;
}

test('the sweep removes stats temps of killed flushes older than the grace period, and only those', async () => {
  const dir = tempDir('stats-temp');
  const statsDir = join(dir, 'stats');
  const name = await childStatsFile(dir);
  const text = readFileSync(join(statsDir, name), 'utf8');
  const before = new KernelCache({ dir, env: {}, logger: quiet }).getStats().all.hits;
  // What a writer killed mid-flush leaves: its file's temp, torn (half the JSON) or whole.
  const oldTorn = join(statsDir, `${name}.tmp`);
  writeFileSync(oldTorn, text.slice(0, text.length >> 1));
  const otherName = name.replace(/-([0-9a-z]+)\.json$/, '-zzzzzz.json');
  const oldWhole = join(statsDir, `${otherName}.tmp`);
  writeFileSync(oldWhole, text);
  const oldTotal = join(statsDir, 'total.json.4242.tmp');
  writeFileSync(oldTotal, '{"v":1,');
  const young = join(statsDir, `${name.replace(/-([0-9a-z]+)\.json$/, '-yyyyyy.json')}.tmp`);
  writeFileSync(young, text);
  const foreign = join(statsDir, 'notes.tmp');
  writeFileSync(foreign, 'not cuop');
  const twoMinutesAgo = (Date.now() - 120_000) / 1000;
  for (const p of [oldTorn, oldWhole, oldTotal, foreign]) utimesSync(p, twoMinutesAgo, twoMinutesAgo);

  // Temps never count: the totals are the child's alone.
  const c = new KernelCache({ dir, env: {}, logger: quiet, policy: { orphanGraceMs: 60_000 } });
  assert.deepEqual(c.getStats().all.hits, before);
  const rep = await c.pruneStale();
  assert.equal(rep.byReason.orphan, 3, JSON.stringify(rep));
  const left = readdirSync(statsDir).sort();
  for (const p of [oldTorn, oldWhole, oldTotal]) assert.ok(!left.includes(p.slice(statsDir.length + 1)), p);
  assert.ok(left.includes(young.slice(statsDir.length + 1)), 'a temp younger than the grace stays');
  assert.ok(left.includes('notes.tmp'), 'a file of a name cuop never writes stays');
  assert.ok(left.includes(name), 'the stats file itself stays');
  // The background pass does the same once the young one is old enough.
  utimesSync(young, twoMinutesAgo, twoMinutesAgo);
  await c.runMaintenance({ wait: true });
  assert.ok(!readdirSync(statsDir).some((n) => n.endsWith('.json.tmp')), readdirSync(statsDir).join(', '));
  await c.getOrCompile(specFor(1), countingCompile(1).compile);
  await c.close();
});
