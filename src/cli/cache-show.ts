// `cuop cache show <key-prefix>`: one entry's metadata; `--ptx` (kept when the image is PTX), `--source` (saved
// only under the policy's saveSource), `--sass` (the cubin through cuobjdump, when the toolkit has one here).
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';

import type { CacheEntryInfo, EntryMetadata, InspectedEntry, KernelCache } from '../cache/index.js';
import { findNvcc } from '../compiler/nvcc-compiler.js';
import { namesCell, shortKey } from './cache-ls.js';
import { formatBytes, formatDuration, formatMs, formatTime } from './format.js';

export interface ShowOptions {
  ptx?: boolean;
  source?: boolean;
  sass?: boolean;
  json?: boolean;
}

/** A prefix matched no entry or several: what to tell the user, and the exit status. */
export class EntryNotFound extends Error {
  constructor(
    message: string,
    readonly status: 1 | 2,
  ) {
    super(message);
    this.name = 'EntryNotFound';
  }
}

/** The one entry whose key starts with `prefix`; none: status 1; several: status 2 with the candidates. */
export function matchPrefix(entries: readonly CacheEntryInfo[], prefix: string): CacheEntryInfo {
  const p = prefix.toLowerCase();
  if (!/^[0-9a-f]{1,64}$/.test(p))
    throw new EntryNotFound(
      `'${prefix}' is not a key prefix: expected 1 to 64 hex digits (see cuop cache ls)`,
      2,
    );
  const found = entries.filter((e) => e.key.startsWith(p));
  if (found.length === 1) return found[0]!;
  if (found.length === 0)
    throw new EntryNotFound(`no cache entry has a key starting with ${p} (cuop cache ls lists them)`, 1);
  const shown = found.slice(0, 20).map((e) => `  ${e.key}  ${namesCell(e.kernelNames)}  ${e.target}`);
  const more = found.length > 20 ? [`  … and ${found.length - 20} more`] : [];
  throw new EntryNotFound(
    [`key prefix ${p} matches ${found.length} entries; give more digits:`, ...shown, ...more].join('\n'),
    2,
  );
}

function executable(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * cuobjdump: on PATH, else next to nvcc (also behind a wrapper script: the toolkit root nvcc --dryrun names), else
 * /usr/local/cuda/bin. Returns the path, or the places looked at.
 */
export function findCuobjdump(env: NodeJS.ProcessEnv = process.env): { path: string } | { tried: string[] } {
  const dirs = (env['PATH'] ?? '').split(delimiter).filter(Boolean);
  for (const v of ['CUDA_PATH', 'CUDA_HOME']) if (env[v]) dirs.push(join(env[v], 'bin'));
  try {
    const nvcc = findNvcc({ env });
    dirs.push(dirname(nvcc), dirname(realpathSync(nvcc)));
    const dry = spawnSync(nvcc, ['--dryrun', '-x', 'cu', '-cubin', '-o', '/dev/null', '/dev/null'], {
      encoding: 'utf8',
      env,
      timeout: 60_000,
    });
    const top = /^#\$\s*TOP=(.*)$/m.exec(`${dry.stdout}\n${dry.stderr}`)?.[1]?.trim();
    if (top) dirs.push(join(top, 'bin'));
  } catch {
    // no nvcc: PATH and the default toolkit only
  }
  dirs.push('/usr/local/cuda/bin');
  const tried = [...new Set(dirs.map((d) => join(d, 'cuobjdump')))];
  const path = tried.find(executable);
  return path ? { path } : { tried };
}

/** What --ptx, --source and --sass give for an entry: the text, or why there is none. */
type Extra = { text: string } | { missing: string };

function ptxOf(e: InspectedEntry): Extra {
  if (e.meta.imageKind === 'ptx') {
    if (!e.image) return { missing: `the PTX could not be read: ${e.problem ?? 'unknown reason'}` };
    return { text: e.image.toString('utf8') };
  }
  return {
    missing:
      `the entry holds a ${e.meta.imageKind} for ${e.meta.imageTarget}, not PTX: cuop keeps PTX only when the ` +
      `compiler gave PTX (an arch it did not know). --sass disassembles a cubin`,
  };
}

function sourceOf(meta: EntryMetadata): Extra {
  if (meta.source !== undefined) return { text: meta.source };
  return {
    missing:
      `the source was not saved (sha256 ${meta.sourceSha256}): cuop saves it only when the cache policy's ` +
      `saveSource is on (new KernelCache({ policy: { saveSource: true } }))`,
  };
}

function sassOf(e: InspectedEntry, env: NodeJS.ProcessEnv): Extra {
  if (e.meta.imageKind !== 'cubin')
    return {
      missing: `the entry holds ${e.meta.imageKind}, not a cubin: SASS exists only once the driver compiles it`,
    };
  if (!e.image) return { missing: `the cubin could not be read: ${e.problem ?? 'unknown reason'}` };
  const found = findCuobjdump(env);
  if (!('path' in found))
    return {
      missing:
        `cuobjdump not found (it comes with the CUDA toolkit, next to nvcc; put it on PATH). Looked at: ` +
        found.tried.join(', '),
    };
  const work = mkdtempSync(join(tmpdir(), 'cuop-sass-'));
  try {
    const file = join(work, `${e.meta.key}.cubin`);
    writeFileSync(file, e.image, { mode: 0o600 });
    const r = spawnSync(found.path, ['-sass', file], { encoding: 'utf8', timeout: 60_000 });
    if (r.error) return { missing: `${found.path} failed to run: ${r.error.message}` };
    if (r.status !== 0) return { missing: `${found.path} -sass exited ${r.status}: ${r.stderr.trim()}` };
    return { text: r.stdout };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const row = (label: string, text: string): string => `${label.padEnd(13)}${text}`;

export function formatEntry(info: CacheEntryInfo, e: InspectedEntry, now = Date.now()): string {
  const m = e.meta;
  const lowered = Object.entries(m.loweredNames)
    .filter(([expr, name]) => expr !== name)
    .map(([expr, name]) => `${expr} → ${name}`);
  const sigs = Object.entries(m.signatures ?? {}).map(
    ([name, ps]) => `${name}(${ps.map((p) => p.cType ?? p.kind).join(', ')})`,
  );
  const headers = Object.entries(m.headers).map(([n, h]) => `${n} (sha256 ${h.slice(0, 16)})`);
  const deps = m.dependencies
    ? [...m.dependencies.files.map((f) => f.path), ...m.dependencies.absent.map((a) => `${a} (absent)`)]
    : [];
  return [
    row('key', m.key),
    row('kernels', m.kernelNames.join(', ')),
    ...(lowered.length > 0 ? [row('lowered', lowered.join(', '))] : []),
    ...(sigs.length > 0 ? [row('parameters', sigs.join('; '))] : []),
    row('arch', m.target + (m.imageTarget !== m.target ? ` (image built for ${m.imageTarget})` : '')),
    row(
      'image',
      `${m.imageKind}, ${formatBytes(m.rawBytes)} (stored ${formatBytes(m.storedBytes)}, ${m.codec})`,
    ),
    row('compiler', `${m.compiler.id} ${m.compiler.version}`),
    row('options', m.options.length > 0 ? m.options.join(' ') : '(none)'),
    ...(headers.length > 0 ? [row('headers', headers.join(', '))] : []),
    ...(deps.length > 0 ? [row('files read', deps.join(', '))] : []),
    row('size', `${formatBytes(info.bytes)} on disk`),
    row('uses', String(info.uses)),
    row('last use', `${formatTime(info.lastUseMs)} (${formatDuration(now - info.lastUseMs)} ago)`),
    row(
      'created',
      `${formatTime(m.createdAt)} (${formatDuration(now - m.createdAt)} ago) on ${m.host}, ` +
        `compiled in ${formatMs(m.compileMs)}`,
    ),
    row('driver', m.driverVersion ?? '(none recorded)'),
    row(
      'source',
      `sha256 ${m.sourceSha256}${m.source !== undefined ? ' (saved: --source)' : ' (not saved)'}`,
    ),
    row('checksum', `${m.checksum.algorithm} ${m.checksum.value}`),
    row('family', m.familyKey),
    ...(e.problem ? [row('problem', `${e.problem} (cuop cache verify repairs it)`)] : []),
    ...(m.log.trim() ? [row('log', m.log.trim().replace(/\n/g, `\n${' '.repeat(13)}`))] : []),
  ].join('\n');
}

export async function runShow(
  cache: KernelCache,
  prefix: string,
  o: ShowOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let info: CacheEntryInfo;
  try {
    info = matchPrefix(await cache.listEntries(), prefix);
  } catch (e) {
    if (!(e instanceof EntryNotFound)) throw e;
    console.error(`cuop: ${e.message}`);
    return e.status;
  }
  const entry = cache.inspectEntry(info.key);
  if (!entry) {
    console.error(
      `cuop: entry ${shortKey(info.key)} vanished while it was read (removed by another process?)`,
    );
    return 1;
  }
  const extras: [name: 'ptx' | 'source' | 'sass', get: () => Extra][] = [];
  if (o.ptx) extras.push(['ptx', () => ptxOf(entry)]);
  if (o.source) extras.push(['source', () => sourceOf(entry.meta)]);
  if (o.sass) extras.push(['sass', () => sassOf(entry, env)]);
  const got = extras.map(([name, get]) => [name, get()] as const);
  const missing = got.filter(([, x]) => 'missing' in x);
  if (o.json) {
    const { source: _source, ...metadata } = entry.meta;
    const out: Record<string, unknown> = { entry: info, metadata };
    if (entry.problem !== undefined) out['problem'] = entry.problem;
    for (const [name, x] of got) if ('text' in x) out[name] = x.text;
    if (missing.length > 0)
      out['missing'] = Object.fromEntries(
        missing.map(([name, x]) => [name, 'missing' in x ? x.missing : '']),
      );
    console.log(JSON.stringify(out, null, 2));
  } else if (got.length === 0) {
    console.log(formatEntry(info, entry));
  } else {
    // The texts alone, so that `--ptx > k.ptx` writes just the PTX.
    for (const [, x] of got)
      if ('text' in x) process.stdout.write(x.text.endsWith('\n') ? x.text : `${x.text}\n`);
  }
  for (const [name, x] of missing)
    if ('missing' in x) console.error(`cuop: no ${name} for ${shortKey(info.key)}: ${x.missing}`);
  return missing.length > 0 ? 1 : 0;
}
