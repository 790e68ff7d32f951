// Every command's --json document against docs/cli-json.md, read from the doc itself so that the two cannot drift:
// each field the doc marks `always` is there, and the document has no top-level field the doc does not name. The
// cache is built by the CLI itself with real nvcc (cuop cache warm of a one-kernel manifest); no GPU needed.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { kernelSource } from '../cache/fixtures.js';
import { cuopJson, tempDir } from './cli-fixture.js';

const DOC = fileURLToPath(new URL('../../../docs/cli-json.md', import.meta.url));

interface Field {
  readonly path: string;
  readonly always: boolean;
}

/**
 * `## cuop <command>` sections → the rows of their field tables (`field` and whether it is always present). Only
 * tables whose header starts with `field` describe the document; others (doctor's checks by id, bench's rows by
 * group) are prose in table form and must not count as fields.
 */
export function documentedShapes(markdown: string): Map<string, Field[]> {
  const out = new Map<string, Field[]>();
  let current: Field[] | undefined;
  let inFieldTable = false;
  let previous = '';
  for (const line of markdown.split('\n')) {
    const heading = /^## cuop (.+)$/.exec(line);
    if (heading) {
      current = [];
      out.set(heading[1]!.trim(), current);
      previous = line;
      continue;
    }
    if (/^#{1,2} /.test(line)) current = undefined;
    // Cells split at pipes that are not escaped (`string \| null` is one cell).
    const cells = line.split(/(?<!\\)\|/).map((c) => c.trim());
    const isRow = line.startsWith('|');
    if (isRow && !previous.startsWith('|')) inFieldTable = cells[1] === 'field';
    previous = line;
    const field = /^`([^`]+)`$/.exec(cells[1] ?? '');
    if (current && isRow && inFieldTable && field)
      current.push({ path: field[1]!, always: cells[3] === 'always' });
  }
  return out;
}

/** The values at a dotted path, `[]` standing for each element of an array (none when the array is empty). */
function valuesAt(doc: unknown, path: string): { found: boolean; values: unknown[] } {
  let values: unknown[] = [doc];
  for (const part of path.split('.')) {
    const each = part.endsWith('[]');
    const name = each ? part.slice(0, -2) : part;
    const next: unknown[] = [];
    for (const v of values) {
      if (typeof v !== 'object' || v === null || !(name in v)) return { found: false, values: [] };
      const child = (v as Record<string, unknown>)[name];
      if (each) {
        if (!Array.isArray(child)) return { found: false, values: [] };
        next.push(...(child as unknown[]));
      } else next.push(child);
    }
    values = next;
  }
  return { found: true, values };
}

const shapes = documentedShapes(readFileSync(DOC, 'utf8'));
const docs = new Map<string, unknown>();

before(async () => {
  const work = tempDir('cli-json');
  const dir = join(work, 'c');
  const at = ['cache', '--cache-dir', dir];
  const record = { source: kernelSource(7), name: 'k7', options: ['-O3'], arch: 'sm_90', compiler: 'nvcc' };
  const manifest = join(work, 'run.manifest');
  writeFileSync(manifest, `{"cuopManifest":1}\n${JSON.stringify(record)}\n`);
  const spec = join(work, 'k7.json');
  writeFileSync(spec, JSON.stringify(record));
  const bundle = join(work, 'all.cuopbundle');

  docs.set('cache warm', cuopJson([...at, 'warm', manifest, '--json']));
  docs.set('cache check', cuopJson([...at, 'check', manifest, '--json']));
  docs.set('cache explain', cuopJson([...at, 'explain', spec, '--json']));
  const listed = cuopJson<{ entries: { key: string }[] }>([...at, 'ls', '--json']);
  docs.set('cache ls', listed);
  docs.set('cache show', cuopJson([...at, 'show', listed.entries[0]!.key.slice(0, 12), '--json']));
  docs.set('cache stats', cuopJson([...at, 'stats', '--json']));
  docs.set('cache verify', cuopJson([...at, 'verify', '--json']));
  docs.set('cache prune', cuopJson([...at, 'prune', '--json']));
  docs.set('cache shrink', cuopJson([...at, 'shrink', '1GB', '--json']));
  docs.set('cache dir', cuopJson([...at, 'dir', '--json']));
  docs.set('cache export', cuopJson([...at, 'export', bundle, '--all', '--json']));
  const fresh = ['cache', '--cache-dir', join(work, 'fresh')];
  docs.set('cache import', cuopJson([...fresh, 'import', bundle, '--arch', 'sm_90', '--json']));
  docs.set('cache clear', cuopJson([...fresh, 'clear', '--json']));
  // A variable set, so that `settings` has a row to check.
  docs.set('info', cuopJson(['info', '--json'], { CUOP_CACHE_DIR: dir, CUOP_CACHE_MAX_SIZE: '2GB' }));
  // Exit 0 here (nvcc compiles; no driver is a warning), and on a GPU host.
  docs.set('doctor', cuopJson(['doctor', '--json'], { CUOP_CACHE_DIR: dir }));
  // One kernel's rows (compile, memory, disk, remote): kernel, series, ratio and skipped all appear. The bench
  // works in a scratch dir of its own; CUOP_CACHE_DIR keeps its child processes off the user's cache.
  docs.set(
    'bench',
    cuopJson(['bench', '--quick', '--json', '--only', 'gemm-256'], {
      CUOP_CACHE_DIR: join(work, 'bench-default'),
    }),
  );
});

test('docs/cli-json.md documents every command that prints JSON', () => {
  for (const cmd of docs.keys())
    assert.ok(shapes.has(cmd), `no "## cuop ${cmd}" section in docs/cli-json.md`);
  for (const [cmd, fields] of shapes) {
    assert.ok(docs.has(cmd), `docs/cli-json.md documents "cuop ${cmd}", which this test does not run`);
    assert.ok(fields.length > 0, `the ${cmd} section has no field table`);
  }
});

test('each --json document has the fields docs/cli-json.md marks always, and no undocumented top-level one', () => {
  for (const [cmd, doc] of docs) {
    const fields = shapes.get(cmd) ?? [];
    for (const f of fields.filter((x) => x.always)) {
      assert.ok(valuesAt(doc, f.path).found, `cuop ${cmd} --json lacks ${f.path}`);
    }
    const top = new Set(fields.filter((f) => !/[.[]/.test(f.path)).map((f) => f.path));
    for (const k of Object.keys(doc as object)) {
      assert.ok(top.has(k), `cuop ${cmd} --json has ${k}, which docs/cli-json.md does not document`);
    }
  }
});

test('the documents describe the cache they ran on (not just the right names)', () => {
  const ls = docs.get('cache ls') as { count: number; entries: { kernelNames: string[] }[] };
  assert.equal(ls.count, 1);
  assert.deepEqual(ls.entries[0]!.kernelNames, ['k7']);
  assert.equal((docs.get('cache warm') as { compiled: number }).compiled, 1);
  assert.equal((docs.get('cache check') as { hits: number }).hits, 1);
  assert.equal((docs.get('cache stats') as { cachedKernels: { disk: number } }).cachedKernels.disk, 1);
  assert.equal((docs.get('cache verify') as { ok: number }).ok, 1);
  assert.equal((docs.get('cache import') as { imported: string[] }).imported.length, 1);
  assert.deepEqual(docs.get('cache clear'), {
    dir: join((docs.get('cache import') as { path: string }).path, '..', 'fresh'),
    cleared: true,
  });
  const doctor = docs.get('doctor') as { ok: boolean; checks: { id: string; details?: { path?: string } }[] };
  assert.equal(doctor.ok, true);
  assert.equal(
    doctor.checks.find((c) => c.id === 'cache-dir')?.details?.path,
    (docs.get('cache dir') as { dir: string }).dir,
  );
  const bench = docs.get('bench') as { groups: string[]; rows: { name: string }[] };
  assert.deepEqual(bench.groups, ['gemm-256']);
  assert.deepEqual(
    bench.rows.map((r) => r.name),
    ['gemm-256/compile', 'gemm-256/memory hit', 'gemm-256/disk hit', 'gemm-256/remote hit'],
  );
  const info = docs.get('info') as { settings: { name: string; value: unknown }[] };
  assert.deepEqual(
    info.settings.map((s) => [s.name, s.value]),
    [
      ['CUOP_CACHE_DIR', (docs.get('cache dir') as { dir: string }).dir],
      ['CUOP_CACHE_MAX_SIZE', 2_000_000_000],
    ],
  );
});

test('the doc parser reads the tables (a check of the check)', () => {
  const parsed = documentedShapes(
    '## cuop x\n\n| field | type | present | meaning |\n| --- | --- | --- | --- |\n' +
      '| `a` | string \\| null | always | … |\n| `b.c` | number | when set | … |\n\n| id | details |\n| --- | --- |\n' +
      '| `y` | not a field |\n## other\n| `z` | t | always | … |\n',
  );
  assert.deepEqual([...parsed.keys()], ['x']);
  assert.deepEqual(parsed.get('x'), [
    { path: 'a', always: true },
    { path: 'b.c', always: false },
  ]);
});
