import { attachDetails, registerErrorClass } from '../cuda/errors.js';

// Kernel names and name expressions (`gemm<float, 128>`, `&ns::k<1>`) as the user spells them, checked and put in
// one canonical spelling before anything is keyed or compiled. A name is code: nvcc's path pastes it into the
// translation unit (see nvcc-compiler.ts), so only the shape of a C++ id-expression with template arguments passes.

/** A kernel name or name expression that is not one. Raised before any compile. */
export class KernelNameError extends TypeError {
  override readonly name = 'KernelNameError';
  constructor(message: string) {
    super(message);
    attachDetails(this, {});
  }
}
registerErrorClass('KernelNameError', KernelNameError);

// Characters a (possibly templated, qualified) id-expression can need: identifiers, numbers with suffixes and
// exponents, scope, template brackets, commas, pointer / reference declarators, parentheses and the arithmetic of
// constant expressions, plus the spaces between tokens. Everything else (`;`, `{`, `#`, quotes, `/`, `\`, newlines,
// `=`) is refused, so a name can never end the expression it is placed in.
const ALLOWED_PUNCTUATION = ':<>,*&()+-.~ \t';
const MAX_LENGTH = 4096;

// By char code, not by regex: this runs on the first lookup of every kernel of a fresh process, where compiling a
// regex costs more than the whole check.
const isLetter = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isAllowed = (ch: string): boolean =>
  isLetter(ch.charCodeAt(0)) || isDigit(ch.charCodeAt(0)) || ALLOWED_PUNCTUATION.includes(ch);

/** Starts with an identifier, after an optional `&` and a leading `::`. */
function startsWithIdentifier(s: string): boolean {
  let i = 0;
  const skipSpace = () => {
    while (s[i] === ' ' || s[i] === '\t') i++;
  };
  skipSpace();
  if (s[i] === '&') i++;
  skipSpace();
  if (s[i] === ':' && s[i + 1] === ':') i += 2;
  skipSpace();
  return i < s.length && isLetter(s.charCodeAt(i));
}

/**
 * The canonical spelling of a kernel name or name expression: no leading `&`, no spaces except the one between two
 * word tokens (`unsigned int`), so `k<float>`, `k< float >` and `&k<float>` are one name. Throws a KernelNameError
 * naming what is wrong.
 */
export function canonicalKernelName(name: unknown, what = 'kernel name'): string {
  if (typeof name !== 'string') throw new KernelNameError(`${what} must be a string, got ${typeof name}`);
  if (isPlainName(name)) return name;
  const shown = JSON.stringify(name.length > 120 ? `${name.slice(0, 120)}…` : name);
  const refuse = (why: string): never => {
    throw new KernelNameError(
      `${what} ${shown} ${why}. Expected a kernel name or name expression such as "sgemm", "ns::k" or ` +
        `"gemm<float, 128>".`,
    );
  };
  if (name.length === 0 || name.trim().length === 0) refuse('is empty');
  if (name.length > MAX_LENGTH) refuse(`is longer than ${MAX_LENGTH} characters`);
  for (const c of name) {
    if (!isAllowed(c)) refuse(`contains ${JSON.stringify(c)}, which cannot appear in a C++ name expression`);
  }
  if (!startsWithIdentifier(name)) refuse('does not start with an identifier');
  let angle = 0;
  let paren = 0;
  for (const c of name) {
    if (c === '(') paren++;
    else if (c === ')' && --paren < 0) refuse('has an unbalanced ")"');
    else if (c === '<' && paren === 0) angle++;
    else if (c === '>' && paren === 0 && --angle < 0) refuse('has an unbalanced ">"');
  }
  if (paren !== 0) refuse('has an unbalanced "("');
  if (angle !== 0) refuse('has an unbalanced "<"');
  let body = name.trim();
  if (body.startsWith('&')) body = body.slice(1).trimStart();
  return canonicalSpelling(body);
}

/** `sgemm`, `ns::k`: already canonical. */
function isPlainName(s: string): boolean {
  const n = s.length;
  if (n === 0 || n > MAX_LENGTH) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (isLetter(c) || (i > 0 && isDigit(c))) continue;
    // `::` between identifiers
    if (c === 58 && s.charCodeAt(i + 1) === 58 && i > 0 && i + 2 < n) {
      i++;
      continue;
    }
    return false;
  }
  return true;
}

// Spaces next to these go: they cannot fuse with a neighbour into another token, except in the pairs below.
const LOOSE = new Set([',', '(', ')', '<', '>', '*', '&', ':']);
const FUSING = new Set(['<<', '&&', '::', ':>', '<:']);

/**
 * Collapse whitespace to the canonical spelling: a space survives only where removing it would join two tokens
 * into another (`unsigned int`, `1 - -1`, `0xe + 1`, `a < <b`), and is dropped next to `,()<>*&:` otherwise.
 */
function canonicalSpelling(s: string): string {
  let out = '';
  let pendingSpace = false;
  for (const c of s) {
    if (c === ' ' || c === '\t') {
      pendingSpace = out.length > 0;
      continue;
    }
    if (pendingSpace) {
      const prev = out[out.length - 1] as string;
      const loose = (LOOSE.has(prev) || LOOSE.has(c)) && !FUSING.has(prev + c);
      if (!loose) out += ' ';
    }
    pendingSpace = false;
    out += c;
  }
  return out;
}

/** Canonical, deduplicated and sorted: the name set of one module (order does not change the machine code). */
export function canonicalKernelNames(names: unknown, what = 'names'): string[] {
  if (!Array.isArray(names)) throw new KernelNameError(`${what} must be an array of kernel names`);
  if (names.length === 0) throw new KernelNameError(`${what} must name at least one kernel`);
  const out = new Set<string>();
  names.forEach((n, i) => out.add(canonicalKernelName(n, `${what}[${i}]`)));
  return [...out].sort();
}
