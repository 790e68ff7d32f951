// `cuop bench`, run for real: the built CLI in a child process with real nvcc compiles, fresh cuop processes and real
// cache directories (no GPU needed). The --quick report's JSON keeps its documented fields, the --chart SVG is
// well-formed XML with one bar per measured timing row, and the markdown table has one row per scenario.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import type { BenchReport } from '../../src/cli/bench/run.js';
import type { BenchRow } from '../../src/cli/bench/names.js';
import { svgChart } from '../../src/cli/bench/svg-chart.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'cuop-bench-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** The test process's environment without anything that steers cuop (CUOP_*, a remote tier) or the runner. */
function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('CUOP_') || k.startsWith('npm_') || k.startsWith('NODE_TEST')) continue;
    env[k] = v;
  }
  return { ...env, CUOP_CACHE_DIR: join(scratch, 'default-cache'), CUOP_CODE_CACHE: '0' };
}

function cuop(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: baseEnv(),
    timeout: 110_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function cuopJson(args: string[]): BenchReport {
  const r = cuop([...args, '--json']);
  assert.equal(r.status, 0, `cuop ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return JSON.parse(r.stdout) as BenchReport;
}

// ---- A strict XML well-formedness check (elements nest and close, attributes are quoted and unique, every & is an
// entity, one root element). Enough for SVG written by hand; no DTDs.
const NAME = /^[A-Za-z_:][\w.:-]*/;
const ENTITY = /^&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9A-Fa-f]+);/;

function checkText(text: string, where: number): void {
  for (let i = text.indexOf('&'); i >= 0; i = text.indexOf('&', i + 1)) {
    if (!ENTITY.test(text.slice(i))) throw new Error(`bare & at ${where + i}`);
  }
}

function assertWellFormedXml(xml: string): void {
  let i = 0;
  const stack: string[] = [];
  let roots = 0;
  if (xml.startsWith('<?xml')) {
    const end = xml.indexOf('?>');
    if (end < 0) throw new Error('unterminated XML declaration');
    i = end + 2;
  }
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const text = xml.slice(i, lt < 0 ? xml.length : lt);
    if (stack.length === 0 && text.trim() !== '') throw new Error(`text outside the root at ${i}`);
    if (text.includes('>')) throw new Error(`stray > at ${i + text.indexOf('>')}`);
    checkText(text, i);
    if (lt < 0) break;
    i = lt;
    if (xml.startsWith('<!--', i)) {
      const end = xml.indexOf('-->', i + 4);
      if (end < 0) throw new Error(`unterminated comment at ${i}`);
      if (xml.slice(i + 4, end).includes('--')) throw new Error(`-- inside a comment at ${i}`);
      i = end + 3;
      continue;
    }
    if (xml.startsWith('<![CDATA[', i)) {
      const end = xml.indexOf(']]>', i);
      if (end < 0 || stack.length === 0) throw new Error(`bad CDATA at ${i}`);
      i = end + 3;
      continue;
    }
    if (xml.startsWith('<?', i) || xml.startsWith('<!', i)) throw new Error(`unexpected markup at ${i}`);
    if (xml.startsWith('</', i)) {
      const name = NAME.exec(xml.slice(i + 2))?.[0];
      const end = xml.indexOf('>', i);
      if (!name || end < 0 || xml.slice(i + 2 + name.length, end).trim() !== '')
        throw new Error(`bad end tag at ${i}`);
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> at ${i} closes <${open ?? 'nothing'}>`);
      i = end + 1;
      continue;
    }
    const name = NAME.exec(xml.slice(i + 1))?.[0];
    if (!name) throw new Error(`bad tag name at ${i}`);
    if (stack.length === 0 && roots++ > 0) throw new Error(`a second root element at ${i}`);
    let j = i + 1 + name.length;
    const seen = new Set<string>();
    for (;;) {
      const ws = /^\s*/.exec(xml.slice(j))![0].length;
      j += ws;
      if (xml.startsWith('/>', j)) {
        j += 2;
        break;
      }
      if (xml[j] === '>') {
        stack.push(name);
        j += 1;
        break;
      }
      if (ws === 0) throw new Error(`attributes of <${name}> need whitespace between them at ${j}`);
      const attr = NAME.exec(xml.slice(j))?.[0];
      if (!attr) throw new Error(`bad attribute in <${name}> at ${j}`);
      if (seen.has(attr)) throw new Error(`attribute ${attr} twice in <${name}> at ${j}`);
      seen.add(attr);
      j += attr.length;
      const eq = /^\s*=\s*(["'])/.exec(xml.slice(j));
      if (!eq) throw new Error(`attribute ${attr} of <${name}> is not quoted at ${j}`);
      j += eq[0].length;
      const close = xml.indexOf(eq[1]!, j);
      if (close < 0) throw new Error(`unterminated attribute ${attr} at ${j}`);
      const value = xml.slice(j, close);
      if (value.includes('<')) throw new Error(`< in attribute ${attr} at ${j}`);
      checkText(value, j);
      j = close + 1;
    }
    i = j;
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack.join('> <')}>`);
  if (roots !== 1) throw new Error('no root element');
}

/** The `data-scenario` of every `<rect class="bar">`. */
function barsOf(svg: string): string[] {
  return [...svg.matchAll(/<rect class="bar" data-scenario="([^"]*)"/g)].map((m) => unescape(m[1]!));
}
const unescape = (s: string): string =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');

/** The rows that must each have exactly one bar: measured timing rows of a kernel. */
const measuredTimings = (rows: readonly BenchRow[]): string[] =>
  rows.filter((r) => r.kernel && r.series && r.value !== null && r.value > 0).map((r) => r.name);

// ---- The quick run, once for the tests below.
let report: BenchReport;
let svg: string;
before(() => {
  const chart = join(scratch, 'quick.svg');
  report = cuopJson(['bench', '--quick', '--chart', chart]);
  svg = readFileSync(chart, 'utf8');
});

test('bench --quick --json: the documented fields, every quick scenario, deterministic outcomes', () => {
  assert.equal(report.schema, 1);
  assert.ok(!Number.isNaN(Date.parse(report.date)), report.date);
  assert.equal(typeof report.machine.description, 'string');
  assert.equal(typeof report.machine.cpu, 'string');
  assert.ok(Number.isInteger(report.machine.cores) && report.machine.cores > 0);
  assert.ok(report.machine.gpu === null || typeof report.machine.gpu.name === 'string');
  assert.equal(typeof report.compiler?.id, 'string');
  assert.equal(typeof report.compiler?.version, 'string');
  assert.match(report.arch, /^sm_\d+/);
  assert.equal(typeof report.launch, 'boolean');
  assert.equal(report.quick, true);
  assert.equal(report.peers, false);
  assert.deepEqual(report.groups, ['gemm-256', 'storage', 'hit-rate', 'direct', 'concurrent']);
  assert.equal(typeof report.elapsedMs, 'number');

  const names = report.rows.map((r) => r.name);
  assert.equal(new Set(names).size, names.length, 'row names are unique');
  for (const r of report.rows) {
    assert.ok(report.groups.includes(r.group as never), `${r.name}: group ${r.group}`);
    assert.equal(r.tool, 'cuop');
    assert.ok(['ms', 'bytes', '%', 'x'].includes(r.unit), `${r.name}: unit ${r.unit}`);
    assert.ok(typeof r.method === 'string' && r.method.length > 20, `${r.name}: method`);
    if (r.value === null) assert.equal(typeof r.skipped, 'string', `${r.name}: a skipped row says why`);
    else {
      assert.ok(Number.isFinite(r.value) && r.value >= 0, `${r.name}: value ${r.value}`);
      assert.equal(r.skipped, undefined);
    }
    if (r.ratio !== undefined) assert.equal(typeof r.ratioOf, 'string', `${r.name}: ratioOf`);
  }
  const row = (name: string): BenchRow => {
    const r = report.rows.find((x) => x.name === name);
    assert.ok(r, `row ${name} in ${names.join(', ')}`);
    return r;
  };
  for (const s of ['compile', 'memory hit', 'disk hit']) {
    const r = row(`gemm-256/${s}`);
    assert.equal(r.kernel, 'gemm-256');
    assert.equal(r.series, s);
    assert.equal(typeof r.value, 'number', `gemm-256/${s} measured: ${r.skipped ?? ''}`);
  }
  // No CUOP_REMOTE_CACHE in this environment: skipped, with what to set.
  assert.match(row('gemm-256/remote hit').skipped ?? '', /CUOP_REMOTE_CACHE/);
  assert.ok((row('storage/100/disk').value ?? 0) > 0);
  assert.ok((row('storage/100/memory').value ?? -1) >= 0);
  // Run 1 of the workload compiles everything, run 2 is served by the disk tier alone.
  assert.equal(row('hit-rate/run-1').value, 0);
  assert.equal(row('hit-rate/run-2').value, 100);
  const cuopDirect = report.rows.find((r) => /^direct\/cuop-(nvrtc|nvcc)$/.test(r.name) && r.value !== null);
  assert.ok(cuopDirect, 'a cuop vs direct compile was measured');
  assert.equal(typeof cuopDirect.ratio, 'number');
  if (report.compiler?.id === 'nvcc') assert.match(row('direct/cuop-vs-nvrtc').skipped ?? '', /NVRTC/);
  assert.equal(typeof row('concurrent/1-process').value, 'number');
  const four = row('concurrent/4-processes');
  assert.equal(typeof four.value, 'number', four.skipped ?? '');
  assert.match(four.notes ?? '', /4 of 4 compiled, 4 distinct keys/);
});

test('bench --chart: well-formed XML with exactly one bar per measured timing row', () => {
  assertWellFormedXml(svg);
  assert.match(svg, /<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  const bars = barsOf(svg);
  assert.deepEqual([...bars].sort(), measuredTimings(report.rows).sort());
  // The log axis is labelled in decades from 1 µs to at least 1 s, and the title names the machine.
  for (const tick of ['1 µs', '1 ms', '1 s']) assert.ok(svg.includes(`>${tick}</text>`), tick);
  assert.ok(svg.includes(report.machine.description.replace(/&/g, '&amp;')));
  assert.ok(svg.includes(report.date.slice(0, 10)));
});

test('the chart: peers beside cuop, skipped series as n/a, text escaped', () => {
  const row = (tool: BenchRow['tool'], series: BenchRow['series'], value: number | null): BenchRow => ({
    name: `${tool}/gemm-1024/${series}`,
    group: 'gemm-1024',
    tool,
    kernel: 'gemm-1024',
    series,
    value,
    unit: 'ms',
    method: 'synthetic',
    ...(value === null ? { skipped: 'not here' } : {}),
  });
  const rows = [
    row('cuop', 'compile', 900),
    row('cuop', 'memory hit', 0.0004),
    row('cuop', 'disk hit', 3),
    row('cuop', 'remote hit', null),
    row('cupy', 'compile', 1200),
    row('cupy', 'memory hit', 0.02),
    row('cupy', 'disk hit', null),
    row('triton', 'compile', 20_000),
    { ...row('cuop', 'compile', 1), name: 'storage/100/disk', kernel: undefined, series: undefined },
  ] as BenchRow[];
  const doc = svgChart({
    ...report,
    machine: { ...report.machine, description: 'GPU <A&B> "x"' },
    rows,
  });
  assertWellFormedXml(doc);
  assert.deepEqual(barsOf(doc).sort(), measuredTimings(rows).sort());
  assert.equal([...doc.matchAll(/class="na"/g)].length, 2);
  for (const tool of ['cuop', 'CuPy', 'Triton']) assert.ok(doc.includes(`>${tool}</text>`), tool);
  assert.ok(doc.includes('GPU &lt;A&amp;B&gt; &quot;x&quot;'));
  assert.ok(doc.includes('>10 s</text>'), 'the axis grows past 1 s for a 20 s compile');
  assert.ok(doc.includes('>100 ns</text>'), 'and below 1 µs for a 0.4 µs hit');
});

test('the XML check itself refuses what is not well-formed', () => {
  for (const bad of [
    '<svg><rect></svg>',
    '<svg a="1" a="2"/>',
    '<svg a=1/>',
    '<svg>&nbsp;</svg>',
    '<svg/><svg/>',
    '<svg><g></h></svg>',
    '<svg>a & b</svg>',
  ]) {
    assert.throws(() => assertWellFormedXml(bad), Error, bad);
  }
  assertWellFormedXml('<?xml version="1.0"?>\n<svg a="&amp;"><!-- c --><g/>t &lt; &#233;</svg>\n');
});

test('bench markdown: a header and one row per scenario, the same scenarios as --json', () => {
  const args = ['bench', '--quick', '--only', 'gemm-256'];
  const r = cuop(args);
  assert.equal(r.status, 0, r.stderr);
  const table = r.stdout.split('\n').filter((l) => l.startsWith('|'));
  assert.equal(table[0], '| scenario | value | unit | ratio | notes |');
  assert.match(table[1] ?? '', /^\| --- \| ---: \| --- \| ---: \| --- \|$/);
  const names = table.slice(2).map((l) => l.split(' | ')[0]!.replace(/^\| /, ''));
  assert.deepEqual(names, [
    'gemm-256/compile',
    'gemm-256/memory hit',
    'gemm-256/disk hit',
    'gemm-256/remote hit',
  ]);
  assert.deepEqual(
    names,
    cuopJson(args).rows.map((x) => x.name),
  );
  for (const l of table) assert.equal(l.split(/(?<!\\)\|/).length, 7, `5 cells: ${l}`);
  assert.match(r.stdout, /How each was measured/);
});

test('bench --only with an unknown scenario: a usage error that lists the names', () => {
  const r = cuop(['bench', '--only', 'gemm-512']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /unknown scenario gemm-512; pick from gemm-256, .*concurrent/);
});

test('bench --peers without CuPy or Triton: each peer a skipped row with the reason, no chart bars', () => {
  const chart = join(scratch, 'peers.svg');
  const rep = cuopJson(['bench', '--quick', '--only', 'storage', '--peers', '--chart', chart]);
  assert.equal(rep.peers, true);
  for (const tool of ['cupy', 'triton'] as const) {
    const r = rep.rows.find((x) => x.name === tool);
    if (r === undefined) continue; // installed here: its rows are the peer's own
    assert.equal(r.value, null);
    assert.match(r.skipped ?? '', new RegExp(`python3 with ${tool} not found`));
    assert.equal(r.kernel, undefined);
  }
  assertWellFormedXml(readFileSync(chart, 'utf8'));
});
