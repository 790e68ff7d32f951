// A static scan of a source's #include graph: every file on disk a compile may read, and every path that must stay
// absent (a file created there later would shadow one found, or satisfy an include that fails today). NVRTC 13 has
// no dependency output, so the kernel cache keys on this instead. It must be a SUPERSET: over-reporting costs a
// spurious recompile, under-reporting serves stale machine code. So conditionals are ignored (every branch counts),
// every #define of a name is a possible expansion, and whatever cannot be followed is reported as untracked.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { attachDetails, CuopError, registerErrorClass } from '../cuda/errors.js';

export interface IncludeScanInput {
  /** Main source text. It lives in no directory: its quoted includes look in the in-memory headers, then the search list. */
  readonly source: string;
  /** In-memory headers: include name -> contents (e.g. 'gemm/tile.cuh'). They also live in no directory. */
  readonly headers?: Readonly<Record<string, string>>;
  /** User include directories (-I), absolute paths, in command-line order. */
  readonly includeDirs: readonly string[];
  /** Files force-included (-include), absolute paths, processed as if `#include "<path>"` were the first lines of the main source, in order. */
  readonly preIncludes?: readonly string[];
  /** The toolkit's own include dirs (absolute). Files found there are covered by the compiler version: they are NOT hashed, NOT listed, NOT scanned further. */
  readonly coveredDirs?: readonly string[];
  /** true: covered dirs are searched before user includeDirs (NVRTC, where cuop passes the toolkit -I first); false: after (nvcc). Default false. */
  readonly coveredFirst?: boolean;
  /** -D macros: name -> replacement text ('' for -DNAME). Used only to expand computed includes. */
  readonly defines?: Readonly<Record<string, string>>;
  /**
   * Where in-memory headers live for their own quoted includes: NVRTC looks in the working directory first (seen
   * with NVRTC 13.0), nvcc in the compile's private directory (then leave this out). When it is used, the scan
   * depends on it: see IncludeScan.workingDirectory.
   */
  readonly memoryHeaderDir?: string;
  /**
   * nvcc writes in-memory headers as files of the compile's private directory, its first -I: a quoted include in
   * `sub/a.h` then finds the in-memory `sub/b.h` before `b.h`, and `./a.h` is `a.h`. NVRTC matches names exactly.
   */
  readonly memoryHeadersAsFiles?: boolean;
  /** Overrides of the scan's limits (for tests): files and in-memory headers scanned, bytes read in total. */
  readonly limits?: { readonly maxFiles?: number; readonly maxBytes?: number };
}

/** A file on disk the compile may have read, with what identifies its contents (hash, size, times, inode). */
export interface FileDependency {
  /** Absolute, normalized (path.resolve) path as it was found (symlinks not resolved). */
  readonly path: string;
  /** Lowercase hex SHA-256 of the file's bytes. */
  readonly sha256: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly ino: number;
}

/** An `#include` through a macro that the scan could not follow; a compile with one is not cached. */
export interface UntrackedInclude {
  /** Absolute path, or '<source>', or the in-memory header's name. */
  readonly file: string;
  /** 1-based line of the directive in that file. */
  readonly line: number;
  /** The directive. */
  readonly text: string;
}

export interface IncludeScan {
  /** Every on-disk file outside covered dirs that the compile may read; sorted by path, no duplicates. */
  readonly files: FileDependency[];
  /** Absolute paths that must stay absent; sorted, no duplicates. */
  readonly absent: string[];
  /** Computed includes whose target could not be determined statically, by file and line. Non-empty means the scan is NOT complete. */
  readonly untracked: UntrackedInclude[];
  /** Set when an in-memory header's quoted include was looked for in `memoryHeaderDir`: the result depends on it. */
  readonly workingDirectory?: string;
}

/** The scan could not be completed safely: an unreadable or non-regular file on the include path, or a limit hit. */
export class IncludeScanError extends CuopError {
  override readonly name = 'IncludeScanError';
  constructor(
    message: string,
    /** The file at fault, when there is one. */
    readonly path?: string,
    /** Its errno code (EACCES, ...), when the failure was a system call's. */
    readonly code?: string,
  ) {
    super(message);
    attachDetails(this, { ...(path !== undefined ? { path } : {}), ...(code !== undefined ? { code } : {}) });
  }
}
registerErrorClass('IncludeScanError', IncludeScanError);

const DEFAULT_MAX_FILES = 20_000;
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
const MAX_EXPANSION_DEPTH = 8;
/** More alternative expansions than this for one computed include is not worth following: report it untracked. */
const MAX_EXPANSIONS = 256;
const SOURCE_LABEL = '<source>';

/** What a file is scanned as: its name in reports, and its directory (on-disk files only) for quoted includes. */
interface Includer {
  readonly label: string;
  readonly dir: string | undefined;
  /** An in-memory header (its dir is IncludeScanInput.memoryHeaderDir). */
  readonly inMemory?: boolean;
}

type HeaderForm = 'quoted' | 'angle';

interface IncludeTarget {
  readonly form: HeaderForm;
  readonly name: string;
}

/** How a directive reads the file it names. */
interface ReadMode {
  /** #include_next / __has_include_next: which candidate wins is not modelled, so every candidate may be read. */
  readonly everyCandidate: boolean;
  /** #embed reads bytes, not directives: the file is a dependency but is not scanned. */
  readonly scanFound: boolean;
  /** Tells the modes apart in the resolution memo. */
  readonly id: string;
}

const READ_MODES: readonly ReadMode[] = [false, true].flatMap((everyCandidate) =>
  [false, true].map((scanFound) => ({ everyCandidate, scanFound, id: `${+everyCandidate}${+scanFound}` })),
);

function readMode(everyCandidate: boolean, scanFound: boolean): ReadMode {
  return READ_MODES[2 * +everyCandidate + +scanFound] as ReadMode;
}

interface ComputedInclude {
  readonly includer: Includer;
  /** The tokens after the directive name (or inside __has_include( ... )), to be macro-expanded. */
  readonly expression: string;
  readonly mode: ReadMode;
  readonly line: number;
  readonly text: string;
}

interface Definition {
  readonly replacements: Set<string>;
  functionLike: boolean;
}

interface LogicalLine {
  /** Comments replaced by a space, continuations joined, string literals and header names intact. */
  readonly text: string;
  /** 1-based physical line where it starts. */
  readonly line: number;
}

/** A place the compiler looks: an on-disk path or an in-memory header. */
type Candidate =
  | { readonly kind: 'memory'; readonly name: string }
  /**
   * `path`: where the file is (`..` resolved after the links before it, as the kernel does), for probing and for
   * the directory of its own includes; `raw`: the path as the compiler opens it, which is what gets recorded, so a
   * later check re-resolves the links (a link re-pointed elsewhere is then seen). `knownMissing`: the path runs
   * through a directory that does not exist, so it names no file today.
   */
  | { readonly kind: 'disk'; readonly path: string; readonly raw: string; readonly knownMissing: boolean };

/** Every on-disk file (outside `coveredDirs`) that compiling `input.source` may read, and the paths that must stay absent. */
export function scanIncludes(input: IncludeScanInput): IncludeScan {
  return new IncludeScanner(input).run();
}

class IncludeScanner {
  private readonly headers: Readonly<Record<string, string>>;
  private readonly searchDirs: readonly string[];
  /** Covered dirs as given and, where they are symlinks, as resolved. */
  private readonly coveredRoots: readonly string[];
  private readonly maxFiles: number;
  private readonly maxBytes: number;

  private readonly files = new Map<string, FileDependency>();
  private readonly absent = new Set<string>();
  private readonly scannedHeaders = new Set<string>();
  private readonly scannedPaths = new Set<string>();
  private readonly probed = new Map<string, 'file' | 'missing' | 'directory'>();
  private readonly resolved = new Set<string>();
  private readonly definitions = new Map<string, Definition>();
  /** Bumped whenever a definition is added: computed includes are re-expanded after that. */
  private definitionsVersion = 0;
  private readonly computed: ComputedInclude[] = [];
  /** Scanned text waiting for its directives to be followed (a work list, not recursion: include chains can be deep). */
  private readonly pending: { includer: Includer; text: string }[] = [];
  private usedMemoryHeaderDir = false;
  /** A relative -include was looked up in the working directory. */
  private usedCwd = false;
  private filesScanned = 0;
  private bytesRead = 0;

  constructor(private readonly input: IncludeScanInput) {
    this.headers = input.headers ?? {};
    // Not path.resolve: `dir/..` must stay for diskCandidate to resolve it as the kernel will.
    const absolute = (d: string) => (path.isAbsolute(d) ? d : process.cwd() + path.sep + d);
    const user = input.includeDirs.map(absolute);
    const covered = (input.coveredDirs ?? []).map(absolute);
    this.searchDirs = input.coveredFirst ? [...covered, ...user] : [...user, ...covered];
    const roots = new Set(covered.map((d) => path.resolve(d)));
    for (const dir of covered) {
      try {
        roots.add(fs.realpathSync.native(dir));
      } catch {
        // A covered dir that does not exist holds no file to find.
      }
    }
    this.coveredRoots = [...roots];
    this.maxFiles = input.limits?.maxFiles ?? DEFAULT_MAX_FILES;
    this.maxBytes = input.limits?.maxBytes ?? DEFAULT_MAX_BYTES;
    for (const [key, value] of Object.entries(input.defines ?? {})) {
      // includeOptions passes `-DF(x)=...` through with its parameter list in the key.
      const m = /^([A-Za-z_]\w*)(\()?/.exec(key.trim());
      if (m?.[1] !== undefined) this.define(m[1], m[2] !== undefined ? undefined : value.trim());
    }
  }

  run(): IncludeScan {
    const source: Includer = { label: SOURCE_LABEL, dir: undefined };
    for (const pre of this.input.preIncludes ?? []) {
      if (!path.isAbsolute(pre)) this.usedCwd = true;
      // A relative -include is looked up from the working directory first, as gcc does.
      this.resolve({ form: 'quoted', name: pre }, readMode(false, true), {
        label: SOURCE_LABEL,
        dir: process.cwd(),
      });
      this.drain();
    }
    this.enqueue(source, this.input.source);
    this.drain();

    // #defines may sit in files scanned after the #include that uses them: expand with everything known so far,
    // scan what that finds, and repeat until neither new definitions nor new computed includes turn up.
    let untracked: UntrackedInclude[] = [];
    let expandedAt = '';
    for (;;) {
      const stamp = `${this.definitionsVersion}/${this.computed.length}`;
      if (stamp === expandedAt) break;
      expandedAt = stamp;
      untracked = [];
      for (const c of this.computed) {
        const targets = this.expand(c.expression, 0, new Set());
        if (targets === undefined) {
          untracked.push({ file: c.includer.label, line: c.line, text: c.text });
          continue;
        }
        for (const t of targets) this.resolve(t, c.mode, c.includer);
      }
      this.drain();
    }

    const files = [...this.files.values()].sort((a, b) => compare(a.path, b.path));
    const recorded = new Set(files.map((f) => f.path));
    const absent = [...this.absent].filter((p) => !this.files.has(p) && !recorded.has(p)).sort(compare);
    untracked.sort((a, b) => compare(a.file, b.file) || a.line - b.line);
    const dir = this.usedMemoryHeaderDir
      ? this.input.memoryHeaderDir
      : this.usedCwd
        ? process.cwd()
        : undefined;
    return { files, absent, untracked, ...(dir !== undefined ? { workingDirectory: dir } : {}) };
  }

  private drain(): void {
    for (let next = this.pending.pop(); next !== undefined; next = this.pending.pop()) {
      this.scanText(next.includer, next.text);
    }
  }

  private enqueue(includer: Includer, text: string): void {
    this.bytesRead += text.length;
    this.checkLimits();
    this.pending.push({ includer, text });
  }

  private checkLimits(): void {
    const over =
      this.filesScanned > this.maxFiles
        ? `more than ${this.maxFiles} files`
        : this.bytesRead > this.maxBytes
          ? `more than ${this.maxBytes} bytes`
          : undefined;
    if (over === undefined) return;
    const dirs = this.searchDirs.length > 0 ? this.searchDirs.join(', ') : '(none)';
    throw new IncludeScanError(`the include scan read ${over} (its limit); include dirs: ${dirs}`);
  }

  /** Follows every directive of one file's text: plain includes now, computed ones once definitions are known. */
  private scanText(includer: Includer, text: string): void {
    for (const { text: lineText, line } of logicalLines(text)) {
      const directive = DIRECTIVE.exec(lineText);
      if (directive !== null) {
        const keyword = directive[1] as string;
        const rest = directive[2] as string;
        if (keyword === 'define') this.defineFrom(rest);
        else this.includeFrom(includer, keyword, rest, line, lineText);
      }
      if (lineText.includes('__has_')) this.hasIncludesFrom(includer, lineText, line);
    }
  }

  private includeFrom(includer: Includer, keyword: string, rest: string, line: number, text: string): void {
    const mode = readMode(keyword === 'include_next', keyword !== 'embed');
    const target = headerName(rest);
    if (target !== undefined) this.resolve(target, mode, includer);
    else this.computed.push({ includer, expression: rest.trim(), mode, line, text: text.trim() });
  }

  /** __has_include("x") and friends anywhere in a line: a file found is read by a later #include, most likely. */
  private hasIncludesFrom(includer: Includer, text: string, line: number): void {
    HAS_INCLUDE.lastIndex = 0;
    for (let m = HAS_INCLUDE.exec(text); m !== null; m = HAS_INCLUDE.exec(text)) {
      const mode = readMode(m[2] === '_next', m[1] === 'include');
      const args = balancedArguments(text, HAS_INCLUDE.lastIndex);
      const target = headerName(args);
      if (target !== undefined) this.resolve(target, mode, includer);
      else this.computed.push({ includer, expression: args.trim(), mode, line, text: text.trim() });
    }
  }

  private defineFrom(rest: string): void {
    const body = rest.trimStart();
    const m = /^([A-Za-z_]\w*)(\()?/.exec(body);
    if (m?.[1] === undefined) return;
    // `NAME(` with no space between is function-like: its expansion needs arguments, which are not followed.
    this.define(m[1], m[2] !== undefined ? undefined : body.slice(m[0].length).trim());
  }

  /** Records one definition of `name`; `replacement` undefined for a function-like macro. */
  private define(name: string, replacement: string | undefined): void {
    let def = this.definitions.get(name);
    if (def === undefined) {
      def = { replacements: new Set(), functionLike: false };
      this.definitions.set(name, def);
    }
    if (replacement === undefined) {
      if (!def.functionLike) this.definitionsVersion++;
      def.functionLike = true;
    } else if (!def.replacements.has(replacement)) {
      def.replacements.add(replacement);
      this.definitionsVersion++;
    }
  }

  /** Every header name `expression` may expand to, or undefined when some expansion cannot be determined. */
  private expand(
    expression: string,
    depth: number,
    active: ReadonlySet<string>,
  ): IncludeTarget[] | undefined {
    const text = expression.trim();
    const direct = headerName(text);
    if (direct !== undefined) return text.length === direct.name.length + 2 ? [direct] : undefined;
    if (!/^[A-Za-z_]\w*$/.test(text) || depth >= MAX_EXPANSION_DEPTH || active.has(text)) return undefined;
    const def = this.definitions.get(text);
    if (def === undefined || def.functionLike || def.replacements.size === 0) return undefined;
    const inner = new Set(active).add(text);
    const targets: IncludeTarget[] = [];
    for (const replacement of def.replacements) {
      const more = this.expand(replacement, depth + 1, inner);
      if (more === undefined) return undefined;
      targets.push(...more);
      if (targets.length > MAX_EXPANSIONS) return undefined;
    }
    return targets;
  }

  /** Finds the file `include` names as the compiler would, recording what it read and what it looked for. */
  private resolve({ form, name }: IncludeTarget, mode: ReadMode, includer: Includer): void {
    const quotedDir = form === 'quoted' && !path.isAbsolute(name) ? includer.dir : undefined;
    if (quotedDir !== undefined && includer.inMemory) this.usedMemoryHeaderDir = true;
    const key = `${mode.id}${form === 'quoted' ? 'q' : 'a'}${quotedDir ?? ''}\0${name}`;
    if (this.resolved.has(key)) return;
    this.resolved.add(key);

    const list = this.candidates(name, quotedDir, includer);
    const hasMemory = list.some((c) => c.kind === 'memory');
    for (const [i, candidate] of list.entries()) {
      if (candidate.kind === 'memory') {
        if (mode.scanFound && !this.scannedHeaders.has(candidate.name)) {
          this.scannedHeaders.add(candidate.name);
          this.filesScanned++;
          this.enqueue(
            { label: candidate.name, dir: this.input.memoryHeaderDir, inMemory: true },
            this.headers[candidate.name] as string,
          );
        }
        if (mode.everyCandidate) continue;
        return;
      }
      const covered = this.isCovered(candidate.path);
      const state = candidate.knownMissing ? 'missing' : this.probe(candidate.path);
      if (state === 'file') {
        if (!covered) this.read(candidate.path, mode.scanFound, candidate.raw);
        // Which of the includer's directory and an in-memory header of the same name a compiler takes first is
        // not known for every case: both count as read.
        if (mode.everyCandidate || (i === 0 && quotedDir !== undefined && hasMemory)) continue;
        return;
      }
      // A directory is skipped by the compiler; it must not turn into a file later ("absent" means: no file here).
      if (!covered) this.absent.add(candidate.raw);
    }
  }

  /** The places the compiler looks for `name`, in order. `quotedDir`: the includer's dir, for a quoted include. */
  private candidates(name: string, quotedDir: string | undefined, includer: Includer): Candidate[] {
    if (path.isAbsolute(name)) return [diskCandidate(name)];
    const list: Candidate[] = [];
    if (quotedDir !== undefined) list.push(diskCandidate(quotedDir + path.sep + name));
    if (this.input.memoryHeadersAsFiles) {
      // nvcc: the in-memory headers are files of one directory; a quoted include of one of them looks beside it.
      const names = new Set<string>();
      if (quotedDir === undefined && includer.inMemory) {
        names.add(path.posix.normalize(path.posix.join(path.posix.dirname(includer.label), name)));
      }
      names.add(path.posix.normalize(name));
      for (const n of names) if (Object.hasOwn(this.headers, n)) list.push({ kind: 'memory', name: n });
    } else if (Object.hasOwn(this.headers, name)) {
      list.push({ kind: 'memory', name });
    }
    for (const dir of this.searchDirs) list.push(diskCandidate(dir + path.sep + name));
    return list;
  }

  private isCovered(p: string): boolean {
    return this.coveredRoots.some((root) => {
      const rel = path.relative(root, p);
      return !rel.startsWith('..') && !path.isAbsolute(rel);
    });
  }

  /** What is at `p` (symlinks followed). Throws for anything a compile cannot be trusted to treat as missing. */
  private probe(p: string): 'file' | 'missing' | 'directory' {
    const known = this.probed.get(p);
    if (known !== undefined) return known;
    let state: 'file' | 'missing' | 'directory';
    try {
      const st = fs.statSync(p, { throwIfNoEntry: false });
      if (st === undefined) state = 'missing';
      else if (st.isFile()) state = 'file';
      else if (st.isDirectory()) state = 'directory';
      else throw notRegular(p);
    } catch (err) {
      if (err instanceof IncludeScanError) throw err;
      const code = errnoCode(err);
      if (code !== 'ENOTDIR') throw unreadable(p, code);
      state = 'missing';
    }
    this.probed.set(p, state);
    return state;
  }

  /** Hashes `p` and queues its text; stat and bytes come from one descriptor so they describe the same file. */
  private read(p: string, scan: boolean, recordAs: string = p): void {
    // A file first #embed-ded (hashed only) and later #included is read again to be scanned.
    if (this.files.has(p) && (!scan || this.scannedPaths.has(p))) return;
    let fd: number;
    try {
      // O_NONBLOCK: a FIFO swapped in after the probe must not hang the scan.
      fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    } catch (err) {
      throw unreadable(p, errnoCode(err));
    }
    let bytes: Buffer;
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw notRegular(p);
      this.filesScanned++;
      this.bytesRead += st.size;
      this.checkLimits();
      bytes = fs.readFileSync(fd);
      this.files.set(p, {
        path: recordAs,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        size: st.size,
        mtimeMs: st.mtimeMs,
        ctimeMs: st.ctimeMs,
        ino: st.ino,
      });
    } catch (err) {
      if (err instanceof IncludeScanError) throw err;
      throw unreadable(p, errnoCode(err));
    } finally {
      fs.closeSync(fd);
    }
    // Its bytes were counted above; only the text's directives remain to be followed.
    if (!scan) return;
    this.scannedPaths.add(p);
    this.pending.push({ includer: { label: p, dir: path.dirname(p) }, text: bytes.toString('utf8') });
  }
}

/**
 * `raw` as a path to record. path.resolve drops `dir/..` textually, but the kernel resolves `..` after following
 * `dir` (a symlink may point elsewhere): where the two can differ, the prefix up to the last `..` is resolved on disk.
 */
function diskCandidate(raw: string): Candidate {
  const segments = raw.split(path.sep);
  const lastUp = segments.lastIndexOf('..');
  if (lastUp < 0) {
    const p = path.resolve(raw);
    return { kind: 'disk', path: p, raw: p, knownMissing: false };
  }
  const prefix = segments.slice(0, lastUp + 1).join(path.sep) || path.sep;
  try {
    // .native: the JS realpathSync applies path.resolve first, dropping `dir/..` textually itself.
    const real = fs.realpathSync.native(prefix);
    return {
      kind: 'disk',
      path: path.resolve(real, ...segments.slice(lastUp + 1)),
      raw,
      knownMissing: false,
    };
  } catch {
    // The path runs through a directory that is not there: nothing to read, and the raw path (which the
    // dependency check will stat just as the compiler opens it) must stay absent.
    return { kind: 'disk', path: raw, raw, knownMissing: true };
  }
}

/** A `"name"` or `<name>` at the start of `text`, or undefined when it starts with anything else. */
function headerName(text: string): IncludeTarget | undefined {
  const s = text.trimStart();
  const open = s.charCodeAt(0);
  const close = open === QUOTE ? '"' : open === LESS ? '>' : undefined;
  if (close === undefined) return undefined;
  const end = s.indexOf(close, 1);
  if (end < 0) return undefined;
  return { form: open === QUOTE ? 'quoted' : 'angle', name: s.slice(1, end) };
}

/** The text from `start` up to the `)` that closes an already opened parenthesis. */
function balancedArguments(text: string, start: number): string {
  let depth = 1;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return text.slice(start, i);
  }
  return text.slice(start);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function errnoCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'EUNKNOWN';
}

function unreadable(p: string, code: string): IncludeScanError {
  return new IncludeScanError(`the include scan cannot read ${p} (${code})`, p, code);
}

function notRegular(p: string): IncludeScanError {
  return new IncludeScanError(`${p} is on the include path but is not a regular file`, p);
}

// `%:` is the digraph of `#`. `import` is gcc's once-only include; `embed` (C23) reads a file's bytes.
const DIRECTIVE = /^\s*(?:#|%:)\s*(include_next|include|import|embed|define)\b([\s\S]*)$/;
const HAS_INCLUDE = /__has_(include|embed)(_next)?\s*\(/g;
/** Before a `<` that opens a header name, not a comparison: `//` inside `<a//b.h>` is no comment. */
const HEADER_NAME_CONTEXT =
  /(?:^\s*(?:#|%:)\s*(?:include_next|include|import|embed)|__has_(?:include|embed)(?:_next)?\s*\()\s*$/;
/** The characters where the lexing state can change: line ends, comment starts, literals, header names. */
const SIGNIFICANT = /[\n/"'<]/g;
const RAW_STRING_PREFIXES = new Set(['R', 'LR', 'uR', 'UR', 'u8R']);

const NEWLINE = 10;
const QUOTE = 34;
const APOSTROPHE = 39;
const SLASH = 47;
const STAR = 42;
const LESS = 60;
const BACKSLASH = 92;
const CR = 13;
const HASH = 35;
const PERCENT = 37;
const COLON = 58;

/**
 * The text with backslash-newlines removed, and for each of its lines the 1-based physical line it starts on
 * (undefined when nothing was joined: line k is line k + 1).
 */
function splice(text: string): { text: string; startLine: number[] | undefined } {
  if (!text.includes('\\\n') && !text.includes('\\\r\n')) return { text, startLine: undefined };
  const pieces: string[] = [];
  const startLine = [1];
  let physical = 1;
  let from = 0;
  for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', nl + 1)) {
    physical++;
    const end = text.charCodeAt(nl - 1) === CR ? nl - 1 : nl;
    if (end > 0 && text.charCodeAt(end - 1) === BACKSLASH) {
      pieces.push(text.slice(from, end - 1));
      from = nl + 1;
    } else {
      startLine.push(physical);
    }
  }
  pieces.push(text.slice(from));
  return { text: pieces.join(''), startLine };
}

/**
 * The logical lines of a file that can name a file (directives, and lines with a __has_include test): continuations
 * joined, `//` and `/* *\/` comments (even multi-line ones) replaced by a space, string and character literals and
 * header names kept whole so that a `//` inside one is no comment.
 */
function logicalLines(original: string): LogicalLine[] {
  const { text, startLine } = splice(original);
  const lines: LogicalLine[] = [];
  const n = text.length;
  let spliced = 0; // index of the spliced line the scan is on
  let lineStart = 0; // spliced line where the current logical line starts
  let kept = ''; // the logical line so far, up to `from`
  let from = 0;
  let sawToken = false;
  let isDirective = false;
  let i = 0;
  let lineBegin = 0; // index in `text` where the current logical line starts
  let nextHasTest = text.indexOf('__has_'); // the next `__has_` at or after lineBegin (usually none at all)
  const finishLine = (end: number) => {
    // Only directives and __has_include tests can name a file: other lines are not kept. A __has_include outside
    // a directive is kept with its comments (over-reporting is harmless), saving the copying for every code line.
    while (nextHasTest >= 0 && nextHasTest < lineBegin) nextHasTest = text.indexOf('__has_', nextHasTest + 1);
    const hasTest = nextHasTest >= 0 && nextHasTest < end;
    if (isDirective || hasTest) {
      const body = isDirective ? kept + text.slice(from, end) : text.slice(lineBegin, end);
      lines.push({ text: body, line: startLine?.[lineStart] ?? lineStart + 1 });
    }
    kept = '';
    sawToken = false;
    isDirective = false;
  };
  const countNewlines = (start: number, end: number) => {
    for (let j = text.indexOf('\n', start); j >= 0 && j < end; j = text.indexOf('\n', j + 1)) spliced++;
  };
  while (i < n) {
    if (!sawToken) {
      // The line's first token (comments aside) decides whether it is a directive.
      while (i < n && isBlank(text.charCodeAt(i))) i++;
      const first = text.charCodeAt(i);
      const opensComment =
        first === SLASH && (text.charCodeAt(i + 1) === SLASH || text.charCodeAt(i + 1) === STAR);
      if (i < n && first !== NEWLINE && !opensComment) {
        sawToken = true;
        isDirective = first === HASH || (first === PERCENT && text.charCodeAt(i + 1) === COLON);
      }
    }
    // Jump to the next character that can change the lexing state (the regex engine skips the rest fast).
    SIGNIFICANT.lastIndex = i;
    if (!SIGNIFICANT.test(text)) break;
    i = SIGNIFICANT.lastIndex - 1;
    const c = text.charCodeAt(i);
    if (c === NEWLINE) {
      finishLine(i);
      i++;
      from = i;
      lineBegin = i;
      spliced++;
      lineStart = spliced;
      continue;
    }
    if (c === SLASH && (text.charCodeAt(i + 1) === SLASH || text.charCodeAt(i + 1) === STAR)) {
      if (isDirective || !sawToken) kept += text.slice(from, i) + ' ';
      if (text.charCodeAt(i + 1) === SLASH) {
        const nl = text.indexOf('\n', i);
        i = nl < 0 ? n : nl;
      } else {
        const close = text.indexOf('*/', i + 2);
        const end = close < 0 ? n : close + 2;
        countNewlines(i, end);
        i = end;
      }
      from = i;
      continue;
    }
    if (c === QUOTE) {
      const rawEnd = rawStringEnd(text, i);
      if (rawEnd !== undefined) {
        countNewlines(i, rawEnd);
        i = rawEnd;
      } else {
        i = quotedEnd(text, i, QUOTE);
      }
      continue;
    }
    if (c === APOSTROPHE && !isDigitSeparator(text, i)) {
      i = quotedEnd(text, i, APOSTROPHE);
      continue;
    }
    if (c === LESS && isDirective && HEADER_NAME_CONTEXT.test(kept + text.slice(from, i))) {
      const close = text.indexOf('>', i);
      const nl = text.indexOf('\n', i);
      i = close >= 0 && (nl < 0 || close < nl) ? close + 1 : nl < 0 ? n : nl;
      continue;
    }
    i++;
  }
  if (from < n || kept !== '') finishLine(n);
  return lines;
}

function isBlank(c: number): boolean {
  return c === 32 || c === 9 || c === 11 || c === 12 || c === CR || c === 0xfeff;
}

/** Index after the literal opened at `start`; an unterminated one ends before the newline. */
function quotedEnd(text: string, start: number, quote: number): number {
  for (let i = start + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH) i++;
    else if (c === quote) return i + 1;
    else if (c === NEWLINE) return i;
  }
  return text.length;
}

/** Index after a raw string literal R"delim( ... )delim" whose quote is at `quote`, or undefined if it is none. */
function rawStringEnd(text: string, quote: number): number | undefined {
  let start = quote;
  while (start > 0 && /\w/.test(text[start - 1] as string)) start--;
  if (!RAW_STRING_PREFIXES.has(text.slice(start, quote))) return undefined;
  const open = text.indexOf('(', quote);
  if (open < 0 || open - quote - 1 > 16) return undefined;
  const delimiter = text.slice(quote + 1, open);
  if (/[\s\\()"]/.test(delimiter)) return undefined;
  const close = text.indexOf(`)${delimiter}"`, open);
  return close < 0 ? text.length : close + delimiter.length + 2;
}

/** A `'` inside a pp-number (C++14 `1'000'000`) separates digits; it opens no character literal. */
function isDigitSeparator(text: string, at: number): boolean {
  let start = at;
  while (start > 0 && /[\w.']/.test(text[start - 1] as string)) start--;
  if (start === at) return false;
  const first = text[start] as string;
  return (first >= '0' && first <= '9') || (first === '.' && /\d/.test(text[start + 1] ?? ''));
}
