// Manifests of kernel specs (what CUOP_RECORD writes): the line format, deduplication across recorders and reruns,
// paths resolved against the manifest's directory, and errors that name the file and line.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { entryLine, readManifest, readSpecFile, SpecRecorder, type SpecEntry } from '../../src/jit/index.js';
import { tempDir } from '../cache/fixtures.js';

const k = (i: number, over: Partial<SpecEntry> = {}): SpecEntry => ({
  spec: { source: `__global__ void k${i}() {}`, name: `k${i}`, options: ['-O3'] },
  arch: 'sm_90',
  compiler: 'nvcc',
  ...over,
});

test('a recorder writes a header and each entry once; a second recorder of the same file adds only new ones', () => {
  const path = join(tempDir('manifest'), 'run.manifest');
  const a = new SpecRecorder(path);
  assert.equal(a.record(k(1)), true);
  assert.equal(a.record(k(1)), false);
  assert.equal(a.record(k(2)), true);
  assert.equal(a.record(k(2, { arch: 'sm_100' })), true, 'another arch is another entry');
  const b = new SpecRecorder(path); // a rerun, or another process
  assert.equal(b.record(k(1)), false);
  assert.equal(b.record(k(3)), true);
  const lines = readFileSync(path, 'utf8').trim().split('\n');
  assert.equal(lines[0], '{"cuopManifest":1}');
  assert.equal(lines.length, 5);
  const entries = readManifest(path);
  assert.deepEqual(
    entries.map((e) => [('name' in e.spec && e.spec.name) || '', e.arch]),
    [
      ['k1', 'sm_90'],
      ['k2', 'sm_90'],
      ['k2', 'sm_100'],
      ['k3', 'sm_90'],
    ],
  );
  // A line written twice (two processes racing) is read once.
  writeFileSync(path, readFileSync(path, 'utf8') + `${entryLine(k(1))}\n{"cuopManifest":1}\n`);
  assert.equal(readManifest(path).length, 4);
});

test('modules, headers, program names and relative paths round-trip', () => {
  const dir = tempDir('manifest-paths');
  mkdirSync(join(dir, 'include'));
  writeFileSync(join(dir, 'k.cu'), '__global__ void a() {}\n__global__ void b() {}\n');
  const path = join(dir, 'm.manifest');
  writeFileSync(
    path,
    '{"cuopManifest":1}\n' +
      JSON.stringify({
        sourceFile: 'k.cu',
        names: ['a', 'b'],
        options: ['-Iinclude'],
        headers: { 't.cuh': '//' },
        programName: 'k.cu',
      }) +
      '\n',
  );
  const [e] = readManifest(path);
  assert.ok(e && 'names' in e.spec);
  assert.deepEqual(e.spec.names, ['a', 'b']);
  assert.deepEqual(e.spec.options, [`-I${join(dir, 'include')}`]);
  assert.deepEqual(e.spec.headers, { 't.cuh': '//' });
  assert.equal(e.spec.programName, 'k.cu');
  assert.equal(e.arch, undefined);
});

test('bad manifests and spec files: an error naming the file and line, saying what is wrong', () => {
  const dir = tempDir('manifest-bad');
  const write = (text: string): string => {
    const p = join(dir, `m${Math.random().toString(36).slice(2)}.manifest`);
    writeFileSync(p, text);
    return p;
  };
  assert.throws(() => readManifest(join(dir, 'none')), /cannot read the manifest .*none/);
  assert.throws(() => readManifest(write('')), /is empty \(the first line must be \{"cuopManifest":1\}\)/);
  assert.throws(() => readManifest(write('{"source":"x","name":"k"}\n')), /line 1: not a cuop manifest/);
  assert.throws(() => readManifest(write('{"cuopManifest":2}\n')), /line 1: a manifest of another version/);
  assert.throws(() => readManifest(write('{"cuopManifest":1}\nnot json\n')), /line 2: not JSON/);
  assert.throws(() => readManifest(write('{"cuopManifest":1}\n{"source":"x"}\n')), /line 2: needs "name"/);
  assert.throws(
    () => readManifest(write('{"cuopManifest":1}\n{"source":"x","name":"k","arch":"hopper"}\n')),
    /line 2: "arch" must be like "sm_90"/,
  );
  assert.throws(
    () => readManifest(write('{"cuopManifest":1}\n{"source":"x","name":"k","options":"-O3"}\n')),
    /line 2: "options" must be an array of strings/,
  );
  assert.throws(() => readSpecFile(join(dir, 'missing.json')), /cannot read the spec file/);
});

test('a recorder that cannot write warns once and stops; it never throws', () => {
  const warnings: string[] = [];
  const r = new SpecRecorder(join(tempDir('manifest-ro'), 'no', 'such', 'dir', 'm'), (m) => warnings.push(m));
  assert.equal(r.record(k(1)), false);
  assert.equal(r.record(k(2)), false);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /cannot record kernel specs into .*; recording stopped/);
});
