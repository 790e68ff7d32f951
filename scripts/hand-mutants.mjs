#!/usr/bin/env node
// Hand-written mutants of the cache (src/cache, as compiled in build/src/cache), applied one at a time to build/:
// each one breaks one rule, the chosen tests run, and the mutant is killed (a test failed) or survived. The file is
// restored after each run, whatever happens. Not part of CI: `npm run mutation` is the StrykerJS run; this is the
// quick, targeted check that each deterministic test of the publish and read paths fails when its rule breaks.
//
//   node scripts/hand-mutants.mjs                 every mutant, its own tests
//   node scripts/hand-mutants.mjs --only P1,R9    some of them
//   node scripts/hand-mutants.mjs --tests build/test/cache/fault-injection.test.js   every mutant, those tests
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const T = (name) => `build/test/cache/${name}.test.js`;
const PUBLISH = T('disk-tier-publish');
const READ = T('disk-tier-read');
const VERIFY = T('verify');

/** id, file under build/src/cache, exact text, its replacement, what breaks, the tests that should kill it. */
const MUTANTS = [
  [
    'P1',
    'disk-tier.js',
    'fs.renameSync(kernelTemp, kernelPath);',
    'fs.writeFileSync(kernelPath, stored); fs.unlinkSync(kernelTemp);',
    'kernel written straight to its final path',
    [PUBLISH],
  ],
  [
    'P2',
    'disk-tier.js',
    'fs.renameSync(metaTemp, metaPath);',
    'fs.writeFileSync(metaPath, json); fs.unlinkSync(metaTemp);',
    'metadata written straight to its final path',
    [PUBLISH],
  ],
  [
    'P3',
    'disk-tier.js',
    'if (this.committed(key) && this.soundEntry(key)) {',
    'if (false) {',
    'a publish overwrites a sound entry on disk',
    [PUBLISH],
  ],
  [
    'P4',
    'disk-tier.js',
    'if (this.committed(key) && this.soundEntry(key)) {',
    'if (this.committed(key)) {',
    'a publish keeps an unsound committed entry',
    [PUBLISH],
  ],
  [
    'P5',
    'disk-tier.js',
    "fs.renameSync(kernelTemp, kernelPath);\n            temps[0] = '';\n            fs.renameSync(metaTemp, metaPath);\n            temps[1] = '';",
    "fs.renameSync(metaTemp, metaPath);\n            temps[1] = '';\n            fs.renameSync(kernelTemp, kernelPath);\n            temps[0] = '';",
    'metadata renamed into place before the kernel',
    [PUBLISH],
  ],
  [
    'P6',
    'safe-fs.js',
    'const CREATE_FLAGS = O_WRONLY | O_CREAT | O_EXCL | (O_NOFOLLOW ?? 0);',
    'const CREATE_FLAGS = O_WRONLY | O_CREAT | fs.constants.O_TRUNC;',
    'temp files opened over existing files and through links',
    [PUBLISH],
  ],
  [
    'R1',
    'disk-tier.js',
    "return { reason: 'metadata is not JSON', paths: [metaPath] };",
    'return undefined;',
    'unparsable metadata is a silent miss, left in place',
    [READ],
  ],
  [
    'R2',
    'disk-tier.js',
    'if (!parsed.success) {',
    'if (false) {',
    'the metadata schema is not checked',
    [READ],
  ],
  [
    'R3',
    'disk-tier.js',
    'if (meta.formatVersion !== CACHE_FORMAT_VERSION)\n            return',
    'if (false)\n            return',
    'the tier reads another format version',
    [READ],
  ],
  [
    'R4',
    'disk-tier.js',
    "if (meta.key !== key)\n            return { reason: 'metadata describes another entry', paths: both };",
    '',
    "the metadata's key is not compared with its file's key",
    [READ],
  ],
  [
    'R5',
    'disk-tier.js',
    "if (errorCode(e) === 'ENOENT')\n                return { reason: 'kernel file missing', paths: [metaPath] };",
    "if (errorCode(e) === 'ENOENT')\n                return undefined;",
    'metadata without its kernel is kept (a plain miss)',
    [READ],
  ],
  [
    'R6',
    'disk-tier.js',
    'if (stored.length !== meta.storedBytes) {',
    'if (false) {',
    'no stored-size check before decompressing and hashing',
    [READ],
  ],
  [
    'R7',
    'disk-tier.js',
    'stored = readTrusted(kernelPath, this.opts.rule, meta.storedBytes, seen);',
    'stored = readTrusted(kernelPath, this.opts.rule, meta.storedBytes + 4096, seen);',
    'the kernel read is not bounded by its recorded size',
    [READ],
  ],
  [
    'R8',
    'disk-tier.js',
    'if (image.length !== meta.rawBytes) {',
    'if (false) {',
    'no raw-size check after decompressing',
    [READ],
  ],
  [
    'R9',
    'safe-fs.js',
    'const READ_FLAGS = O_RDONLY | O_NONBLOCK | (O_NOFOLLOW ?? 0);',
    'const READ_FLAGS = O_RDONLY | O_NONBLOCK;',
    'links followed on reads',
    [READ],
  ],
  [
    'R10',
    'safe-fs.js',
    'const READ_FLAGS = O_RDONLY | O_NONBLOCK | (O_NOFOLLOW ?? 0);',
    'const READ_FLAGS = O_RDONLY | (O_NOFOLLOW ?? 0);',
    'a FIFO blocks the read (no O_NONBLOCK)',
    [READ],
  ],
  [
    'R11',
    'trust.js',
    "if (!st.isFile())\n        return 'it is not a regular file';",
    '',
    'non-regular files (FIFO, directory) read',
    [READ],
  ],
  [
    'R12',
    'safe-fs.js',
    'if (st.size > maxBytes)',
    'if (false)',
    'reads not refused by size before reading',
    [READ],
  ],
  ['R13', 'trust.js', 'if (st.mode & 0o002)', 'if (false)', 'world-writable files trusted', [READ]],
  [
    'R14',
    'trust.js',
    "rule.sharing === 'private' && st.mode & 0o020",
    'false',
    'group-writable files trusted in private mode',
    [READ],
  ],
  [
    'R15',
    'trust.js',
    'if (rule.uid === undefined || st.uid === rule.uid) {',
    'if (true) {',
    "another user's files trusted",
    [READ],
  ],
  [
    'R16',
    'disk-tier.js',
    'if (!st.isDirectory()) {\n                    // A file or a link',
    'if (false) {\n                    // A file or a link',
    'a link at a fan-out dir is left in place',
    [READ],
  ],
  [
    'V1',
    'verify.js',
    'if (rec.key !== key || meta.key !== key)',
    'if (meta.key !== key)',
    "the record's key not compared",
    [VERIFY],
  ],
  [
    'V2',
    'verify.js',
    'if (rec.key !== key || meta.key !== key)',
    'if (rec.key !== key)',
    "the metadata's key not compared",
    [VERIFY],
  ],
  [
    'V3',
    'verify.js',
    'if (meta.formatVersion !== CACHE_FORMAT_VERSION)\n        return',
    'if (false)\n        return',
    'another format version accepted',
    [VERIFY],
  ],
  ['V4', 'verify.js', '(meta.target !== expect.target ||', '(false ||', 'the target not compared', [VERIFY]],
  [
    'V5',
    'verify.js',
    'meta.requestedImageKind !== expect.imageKind ||',
    'false ||',
    'the image kind not compared',
    [VERIFY],
  ],
  [
    'V6',
    'verify.js',
    'meta.compiler.id !== expect.compiler.id ||',
    'false ||',
    'the compiler id not compared',
    [VERIFY],
  ],
  [
    'V7',
    'verify.js',
    'meta.compiler.version !== expect.compiler.version)) {',
    'false)) {',
    'the compiler version not compared',
    [VERIFY],
  ],
  [
    'V8',
    'verify.js',
    'if (rec.image.length !== meta.rawBytes) {',
    "if (checksum && sha256Hex(rec.image) !== meta.checksum.value) return 'checksum mismatch';\n    if (rec.image.length !== meta.rawBytes) {",
    'the checksum computed before the size check',
    [VERIFY],
  ],
  [
    'V9',
    'verify.js',
    'if (sha256Hex(rec.image) !== meta.checksum.value)',
    'if (false)',
    'the checksum skipped',
    [VERIFY],
  ],
  [
    'V10',
    'verify.js',
    'if (checksum && meta.checksum.algorithm',
    'if (meta.checksum.algorithm',
    'checksums computed when the policy turns them off',
    [VERIFY],
  ],
];

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const only = opt('--only')?.split(',');
const tests = opt('--tests')?.split(',');
const timeoutMs = Number(opt('--timeout-ms') ?? 60_000);

let restore;
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => (restore?.(), process.exit(130)));

const rows = [];
for (const [id, file, find, replace, what, own] of MUTANTS) {
  if (only && !only.includes(id)) continue;
  const path = join(root, 'build/src/cache', file);
  const original = readFileSync(path, 'utf8');
  const at = original.indexOf(find);
  if (at < 0 || original.indexOf(find, at + 1) >= 0) {
    rows.push({ id, what, outcome: 'NOT APPLIED (text not found once: rebuild?)', ms: 0 });
    continue;
  }
  restore = () => writeFileSync(path, original);
  const t0 = Date.now();
  let r;
  try {
    writeFileSync(path, original.slice(0, at) + replace + original.slice(at + find.length));
    r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...(tests ?? own)], {
      cwd: root,
      encoding: 'utf8',
      timeout: timeoutMs,
      env: { ...process.env, CUOP_CODE_CACHE: '0' },
    });
  } finally {
    restore();
    restore = undefined;
  }
  const failed = (r.stdout.match(/^not ok \d+ - (.*)$/gm) ?? []).map((l) => l.replace(/^not ok \d+ - /, ''));
  const outcome =
    r.signal !== null
      ? `killed (timeout ${timeoutMs} ms)`
      : r.status === 0
        ? 'SURVIVED'
        : `killed: ${failed.join(' | ') || `exit ${r.status}`}`;
  rows.push({ id, what, outcome, ms: Date.now() - t0 });
  console.error(`${id} ${outcome.slice(0, 100)}`);
}
console.log('| mutant | what it breaks | outcome | s |\n| --- | --- | --- | --- |');
for (const r of rows)
  console.log(`| ${r.id} | ${r.what} | ${r.outcome.replace(/\|/g, '\\|')} | ${(r.ms / 1000).toFixed(1)} |`);
const survived = rows.filter((r) => !r.outcome.startsWith('killed')).length;
console.log(`\n${rows.length - survived} of ${rows.length} killed.`);
process.exitCode = survived === 0 ? 0 : 1;
