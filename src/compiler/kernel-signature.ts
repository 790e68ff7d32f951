// Kernel parameter types recovered from compiled code, so the cache can record a signature for every kernel and a
// launch can check (and type) its arguments without a hand-written one. Two sources: the PTX `.entry` declaration
// (exact sizes, coarse class) and, for C++ kernels, the Itanium-mangled entry name (exact C++ types). The mangled
// name only refines what the PTX says; whenever the two disagree the PTX wins, because a wrong refinement would
// make a correct launch fail.

/** Coarse class of one kernel parameter as far as the compiled code tells. */
export type ParamKind =
  | 'ptr' // a pointer (known from the mangled name, or a PTX `.ptr` attribute)
  | 'i8'
  | 'u8'
  | 'i16'
  | 'u16'
  | 'i32'
  | 'u32'
  | 'i64'
  | 'u64' // integer of known signedness (mangled name)
  | 'b8'
  | 'b16'
  | 'b32'
  | 'b64' // integer-or-pointer of this width, signedness unknown (PTX only: extern "C" kernels; b64 may also be a pointer)
  | 'f16'
  | 'bf16'
  | 'f32'
  | 'f64'
  | 'bool'
  | 'bytes'; // aggregate passed by value (struct/array/union), or anything else: only size and align are known

/**
 * One kernel parameter as the compiled code declares it: its kind, size and alignment, and its C++ type where
 * known.
 */
export interface KernelParam {
  readonly kind: ParamKind;
  readonly size: number;
  readonly align: number;
  /** C++ type as far as the mangled name says, e.g. 'const float*', 'int', 'Params' (absent for extern "C") */
  readonly cType?: string;
}

// ---------------------------------------------------------------------------------------------------------------
// PTX
// ---------------------------------------------------------------------------------------------------------------

// PTX types allowed on a kernel parameter. PTX gives no signedness (nvcc writes `.u32` for int and unsigned alike,
// `.u8` for char and bool) and no pointer-ness (`.u64` for pointers and 64-bit integers), so every integer type
// becomes the width-only `b<W>` kind. `.f16`/`.bf16` are plain 16-bit containers in PTX, hence `b16` too.
const PTX_SCALAR_TYPES: Readonly<Record<string, { kind: ParamKind; size: number }>> = {
  '.u8': { kind: 'b8', size: 1 },
  '.s8': { kind: 'b8', size: 1 },
  '.b8': { kind: 'b8', size: 1 },
  '.u16': { kind: 'b16', size: 2 },
  '.s16': { kind: 'b16', size: 2 },
  '.b16': { kind: 'b16', size: 2 },
  '.f16': { kind: 'b16', size: 2 },
  '.bf16': { kind: 'b16', size: 2 },
  '.u32': { kind: 'b32', size: 4 },
  '.s32': { kind: 'b32', size: 4 },
  '.b32': { kind: 'b32', size: 4 },
  '.f16x2': { kind: 'bytes', size: 4 },
  '.bf16x2': { kind: 'bytes', size: 4 },
  '.u64': { kind: 'b64', size: 8 },
  '.s64': { kind: 'b64', size: 8 },
  '.b64': { kind: 'b64', size: 8 },
  '.f32': { kind: 'f32', size: 4 },
  '.f64': { kind: 'f64', size: 8 },
};
const PTX_STATE_SPACES = new Set(['.global', '.const', '.shared', '.local']);
const PTX_IDENTIFIER = '[A-Za-z_$%][\\w$%]*';

/** Every `.entry` in the PTX text: entry (mangled or extern "C") name -> its parameters in order. */
export function ptxEntryParams(ptx: string): Map<string, KernelParam[]> {
  const text = stripCommentsAndStrings(ptx);
  const entries = new Map<string, KernelParam[]>();
  // `.entry` may follow `.visible`, `.weak` or nothing (static kernels); `.func` declarations never match.
  const entryHead = new RegExp(`(?:^|\\s)\\.entry\\s+(${PTX_IDENTIFIER})\\s*`, 'g');
  for (let match = entryHead.exec(text); match; match = entryHead.exec(text)) {
    const name = match[1]!;
    const afterName = match.index + match[0].length;
    let params: KernelParam[] | undefined = [];
    if (text[afterName] === '(') {
      const close = text.indexOf(')', afterName);
      if (close < 0) break; // truncated text: nothing after this can be a complete entry
      params = parsePtxParamList(text.slice(afterName + 1, close));
      entryHead.lastIndex = close + 1;
    }
    // An entry whose parameters this parser does not understand is left out: no signature beats a wrong one.
    if (params && !entries.has(name)) entries.set(name, params);
  }
  return entries;
}

/** Removes `//` and `/* *\/` comments and empties string literals (`.file 1 "a//b.cu"`), which hold neither. */
function stripCommentsAndStrings(ptx: string): string {
  // One native regex pass, left to right as a lexer would (a `//` inside a string is string, a `"` inside a comment
  // is comment); a char-by-char loop took 3-10 ms over a 60 KB GEMM PTX in a fresh process.
  return ptx.replace(STRIPPED, (m) => (m.startsWith('"') ? '""' : m.startsWith('//') ? '' : ' '));
}
const STRIPPED = /"[^"]*(?:"|$)|\/\/[^\n]*|\/\*[\s\S]*?(?:\*\/|$)/g;

function parsePtxParamList(list: string): KernelParam[] | undefined {
  if (list.trim() === '') return [];
  const params: KernelParam[] = [];
  for (const declaration of list.split(',')) {
    const param = parsePtxParam(declaration);
    if (!param) return undefined;
    params.push(param);
  }
  return params;
}

// One `.param [.align N] <type> [.ptr [<space>] [.align N]] name[[SIZE]]`.
function parsePtxParam(declaration: string): KernelParam | undefined {
  const tokens = declaration.trim().split(/\s+/);
  if (tokens[0] !== '.param') return undefined;
  let type: { kind: ParamKind; size: number } | undefined;
  let isPointer = false;
  let align: number | undefined;
  let i = 1;
  for (; i < tokens.length && tokens[i]!.startsWith('.'); i++) {
    const token = tokens[i]!;
    if (token === '.align') {
      const value = Number(tokens[++i]);
      if (!Number.isInteger(value) || value <= 0) return undefined;
      // After `.ptr` the alignment is the pointee's, not the parameter's.
      if (!isPointer) align = value;
    } else if (token === '.ptr') {
      isPointer = true;
    } else if (PTX_STATE_SPACES.has(token) && isPointer) {
      // the pointee's state space: irrelevant to the parameter itself
    } else if (PTX_SCALAR_TYPES[token] && !type) {
      type = PTX_SCALAR_TYPES[token];
    } else {
      return undefined; // .texref/.samplerref/.surfref or something newer
    }
  }
  const declarator = new RegExp(`^(${PTX_IDENTIFIER})\\s*(?:\\[\\s*(\\d+)\\s*\\])?$`).exec(
    tokens.slice(i).join(' '),
  );
  if (!type || !declarator) return undefined;
  if (declarator[2] !== undefined) {
    // `.b8 name[24]`: an aggregate passed by value, of which only the layout is known.
    if (isPointer) return undefined;
    return { kind: 'bytes', size: type.size * Number(declarator[2]), align: align ?? type.size };
  }
  return { kind: isPointer ? 'ptr' : type.kind, size: type.size, align: align ?? type.size };
}

// ---------------------------------------------------------------------------------------------------------------
// Itanium C++ ABI mangled names
// ---------------------------------------------------------------------------------------------------------------

type TypeNode =
  | { readonly tag: 'builtin'; readonly name: string; readonly kind: ParamKind | undefined }
  // Classes, enums, namespaces (as name prefixes) and template names: the demangler cannot tell them apart.
  | { readonly tag: 'named'; readonly name: string; readonly kind: ParamKind }
  | { readonly tag: 'qualified'; readonly qualifiers: string; readonly inner: TypeNode }
  | { readonly tag: 'pointer' | 'lvalueRef' | 'rvalueRef'; readonly inner: TypeNode }
  | { readonly tag: 'array'; readonly dimension: string; readonly inner: TypeNode }
  | { readonly tag: 'function'; readonly result: TypeNode; readonly params: readonly TypeNode[] };

type TemplateArg = { readonly type: TypeNode } | { readonly literal: string };

// Plain char (and wchar_t) follow the host ABI, which nvcc matches: unsigned on AArch64 and POWER Linux.
const CHAR_IS_UNSIGNED = process.arch === 'arm64' || process.arch === 'ppc64';
const PLAIN_CHAR_KIND: ParamKind = CHAR_IS_UNSIGNED ? 'u8' : 'i8';

const BUILTIN_TYPES: Readonly<Record<string, { name: string; kind: ParamKind | undefined }>> = {
  v: { name: 'void', kind: undefined },
  b: { name: 'bool', kind: 'bool' },
  c: { name: 'char', kind: PLAIN_CHAR_KIND },
  a: { name: 'signed char', kind: 'i8' },
  h: { name: 'unsigned char', kind: 'u8' },
  s: { name: 'short', kind: 'i16' },
  t: { name: 'unsigned short', kind: 'u16' },
  i: { name: 'int', kind: 'i32' },
  j: { name: 'unsigned int', kind: 'u32' },
  // LP64. Where long is 32 bits the PTX size disagrees and kernelParams falls back to the PTX.
  l: { name: 'long', kind: 'i64' },
  m: { name: 'unsigned long', kind: 'u64' },
  x: { name: 'long long', kind: 'i64' },
  y: { name: 'unsigned long long', kind: 'u64' },
  // No 128-bit integer kind: passed as `.b8[16]`, only the layout is known.
  n: { name: '__int128', kind: 'bytes' },
  o: { name: 'unsigned __int128', kind: 'bytes' },
  f: { name: 'float', kind: 'f32' },
  d: { name: 'double', kind: 'f64' },
  w: { name: 'wchar_t', kind: CHAR_IS_UNSIGNED ? 'u32' : 'i32' },
};
// The `D`-prefixed builtins (after the `D`).
const D_BUILTIN_TYPES: Readonly<Record<string, { name: string; kind: ParamKind | undefined }>> = {
  h: { name: 'half', kind: 'f16' },
  F16_: { name: '_Float16', kind: 'f16' },
  F16b: { name: 'std::bfloat16_t', kind: 'bf16' },
  F32_: { name: '_Float32', kind: 'f32' },
  F64_: { name: '_Float64', kind: 'f64' },
  s: { name: 'char16_t', kind: 'u16' },
  i: { name: 'char32_t', kind: 'u32' },
  u: { name: 'char8_t', kind: 'u8' },
  n: { name: 'decltype(nullptr)', kind: 'ptr' },
};
// CUDA's half types are classes (cuda_fp16.h / cuda_bf16.h) but hold exactly one IEEE half / bfloat16.
const CLASS_KINDS: ReadonlyMap<string, ParamKind> = new Map([
  ['__half', 'f16'],
  ['__nv_bfloat16', 'bf16'],
]);
// Deeper type nesting than any real kernel has: refuse rather than overflow the stack on a hostile name.
const MAX_TYPE_DEPTH = 64;

/** Thrown for anything outside the supported subset; turned into `undefined` at the API boundary. */
class NotUnderstood extends Error {}

/**
 * Parameter types of an Itanium-mangled function name, or undefined when the name is not mangled (extern "C") or
 * uses something this parser does not understand.
 */
export function mangledParamTypes(mangled: string): { kind: ParamKind; cType: string }[] | undefined {
  if (!mangled.startsWith('_Z')) return undefined;
  try {
    const params = new ItaniumParser(mangled).parseEncoding();
    const result: { kind: ParamKind; cType: string }[] = [];
    for (const param of params) {
      const kind = kindOf(param);
      if (!kind) return undefined; // void, an array or a function type by value: not a real parameter
      result.push({ kind, cType: renderType(param) });
    }
    return result;
  } catch (error) {
    if (error instanceof NotUnderstood) return undefined;
    throw error;
  }
}

// A recursive-descent parser for the subset of the Itanium grammar that kernel names use. Substitution bookkeeping
// follows the ABI (and LLVM's demangler): every name prefix and every non-builtin type is recorded once, in the
// order its parse completes, so `S_`, `S0_`, ... resolve to the same components the compiler numbered.
class ItaniumParser {
  private pos = 2; // past `_Z`
  private readonly substitutions: TypeNode[] = [];
  private templateArgs: readonly TemplateArg[] | undefined;
  private typeDepth = 0;

  constructor(private readonly input: string) {}

  /** `<encoding> ::= <name> [<return type>] <bare-function-type>`; returns the parameter types. */
  parseEncoding(): TypeNode[] {
    // `_ZT...`/`_ZG...` are special names (vtables, guards), `_ZZ...` local entities: none is a kernel.
    if ('TGZ'.includes(this.peek())) throw new NotUnderstood();
    const { args } = this.parseName(true);
    if (args) {
      // The final template arguments are what `T_`, `T0_`... refer to, and a template's return type is mangled.
      this.templateArgs = args;
      this.parseType();
    }
    const params: TypeNode[] = [];
    if (this.peek() === 'v' && this.pos + 1 === this.input.length) {
      this.pos++;
      return params; // `(void)`: no parameters
    }
    while (this.pos < this.input.length) params.push(this.parseType());
    if (params.length === 0) throw new NotUnderstood();
    return params;
  }

  private peek(offset = 0): string {
    return this.input[this.pos + offset] ?? '';
  }

  private consume(prefix: string): boolean {
    if (!this.input.startsWith(prefix, this.pos)) return false;
    this.pos += prefix.length;
    return true;
  }

  private expect(prefix: string): void {
    if (!this.consume(prefix)) throw new NotUnderstood();
  }

  /**
   * `<name>`: unscoped (`[St]<source-name>`), nested (`N ... E`) or a substitution, each optionally followed by
   * template arguments. When `isEncoding`, this is the function's own name, whose full form is not substitutable.
   */
  private parseName(isEncoding: boolean): { node: TypeNode; args?: readonly TemplateArg[] } {
    if (this.peek() === 'N') return this.parseNestedName(isEncoding);
    let node: TypeNode;
    if (this.peek() === 'S' && this.peek(1) !== 't') {
      node = this.parseSubstitution();
      if (this.peek() !== 'I') return { node };
    } else {
      const isStd = this.consume('St');
      this.consume('L'); // internal linkage marker that GCC-style manglers emit before static names
      node = named((isStd ? 'std::' : '') + this.parseSourceName());
      if (this.peek() !== 'I') return { node };
      this.substitutions.push(node); // <unscoped-template-name>
    }
    const args = this.parseTemplateArgs();
    return { node: withTemplateArgs(node, args), args };
  }

  // `N [<CV-qualifiers>] [<ref-qualifier>] <prefix> <unqualified-name> E`
  private parseNestedName(isEncoding: boolean): { node: TypeNode; args?: readonly TemplateArg[] } {
    this.expect('N');
    // Qualifiers of a member function's `this`; they do not change the parameters.
    while ('rVK'.includes(this.peek()) && this.peek() !== '') this.pos++;
    if (this.peek() === 'R' || this.peek() === 'O') this.pos++;
    let node: TypeNode | undefined;
    let args: readonly TemplateArg[] | undefined;
    for (;;) {
      if (this.consume('E')) break;
      if (node && args === undefined && this.peek() === 'I') {
        args = this.parseTemplateArgs();
        node = withTemplateArgs(node, args);
      } else if (!node && this.consume('St')) {
        node = named('std::' + this.parseSourceName());
        args = undefined;
      } else if (!node && this.peek() === 'S') {
        node = this.parseSubstitution();
        if (this.peek() === 'E') throw new NotUnderstood(); // a nested name is never just a substitution
        continue; // already a recorded component: not pushed again
      } else if (/[0-9]/.test(this.peek())) {
        if (args !== undefined && isEncoding) throw new NotUnderstood(); // member of a class template
        const component = this.parseSourceName();
        node = named(node ? `${renderType(node)}::${component}` : component);
        args = undefined;
      } else {
        throw new NotUnderstood(); // operators, constructors, decltype, template-param prefixes, abi tags, ...
      }
      if (this.peek() !== 'E') this.substitutions.push(node); // a <prefix>; the complete name is not one
    }
    if (!node) throw new NotUnderstood();
    return args ? { node, args } : { node };
  }

  // `<source-name> ::= <length> <identifier>`
  private parseSourceName(): string {
    const digits = /^[1-9][0-9]*/.exec(this.input.slice(this.pos));
    if (!digits) throw new NotUnderstood();
    const start = this.pos + digits[0].length;
    const end = start + Number(digits[0]);
    if (end > this.input.length) throw new NotUnderstood();
    this.pos = end;
    const identifier = this.input.slice(start, end);
    // nvcc names an anonymous namespace `_GLOBAL__N__<hash>`, GCC `_GLOBAL__N_1`.
    return identifier.startsWith('_GLOBAL__N') ? '(anonymous namespace)' : identifier;
  }

  // `S_`, `S<base-36 seq-id>_`: the (id+1)-th recorded component.
  private parseSubstitution(): TypeNode {
    this.expect('S');
    const index = this.parseSequenceIndex();
    const node = this.substitutions[index];
    if (!node) throw new NotUnderstood(); // Sa, Ss, So, ... std abbreviations, or a bad index
    return node;
  }

  // `_` -> 0, `<seq-id>_` -> seq-id + 1 (used by both `S..._` and `T..._`).
  private parseSequenceIndex(): number {
    const match = /^([0-9A-Z]*)_/.exec(this.input.slice(this.pos));
    if (!match) throw new NotUnderstood();
    this.pos += match[0].length;
    return match[1] === '' ? 0 : parseInt(match[1]!, 36) + 1;
  }

  // `T_`, `T<n>_`: a template argument of the function template being named.
  private parseTemplateParam(): TemplateArg {
    this.expect('T');
    const arg = this.templateArgs?.[this.parseSequenceIndex()];
    if (!arg) throw new NotUnderstood();
    return arg;
  }

  // `I <template-arg>+ E`
  private parseTemplateArgs(): TemplateArg[] {
    this.expect('I');
    const args: TemplateArg[] = [];
    while (!this.consume('E')) {
      if (this.pos >= this.input.length) throw new NotUnderstood();
      args.push(this.parseTemplateArg());
    }
    return args;
  }

  private parseTemplateArg(): TemplateArg {
    if (this.consume('L')) return { literal: this.parseLiteral() };
    if (this.consume('X')) {
      // Only the expression that is a bare non-type template parameter (`Arr<T, N>` -> `XT0_E`).
      const arg = this.parseTemplateParam();
      this.expect('E');
      if (!('literal' in arg)) throw new NotUnderstood();
      return arg;
    }
    // `J...E` packs fall through to parseType and are rejected there.
    return { type: this.parseType() };
  }

  // `L <type> <value> E` after the `L`: integer, bool and enum literals.
  private parseLiteral(): string {
    if (this.peek() === '_' || this.peek() === 'Z') throw new NotUnderstood(); // an entity (function pointer)
    const type = this.parseType();
    const match = /^(n?)([0-9]+)E/.exec(this.input.slice(this.pos));
    if (!match) throw new NotUnderstood(); // float literals, nullptr, ...
    this.pos += match[0].length;
    const value = (match[1] ? '-' : '') + match[2]!;
    if (type.tag === 'builtin') {
      const suffix: Record<string, string> = {
        int: '',
        'unsigned int': 'u',
        long: 'l',
        'unsigned long': 'ul',
        'long long': 'll',
        'unsigned long long': 'ull',
      };
      if (type.name === 'bool' && (value === '0' || value === '1')) return value === '1' ? 'true' : 'false';
      if (suffix[type.name] !== undefined) return value + suffix[type.name];
    }
    return `(${renderType(type)})${value}`;
  }

  private parseType(): TypeNode {
    if (++this.typeDepth > MAX_TYPE_DEPTH) throw new NotUnderstood();
    try {
      return this.parseTypeBody();
    } finally {
      this.typeDepth--;
    }
  }

  private parseTypeBody(): TypeNode {
    const ch = this.peek();
    const builtin = BUILTIN_TYPES[ch];
    if (builtin) {
      this.pos++;
      return { tag: 'builtin', ...builtin };
    }
    if (ch === 'D') {
      for (const [code, type] of Object.entries(D_BUILTIN_TYPES)) {
        if (this.input.startsWith(code, this.pos + 1)) {
          this.pos += 1 + code.length;
          return { tag: 'builtin', ...type };
        }
      }
      throw new NotUnderstood(); // pack expansions (Dp), decltype (Dt/DT), other _FloatN, ...
    }
    if (ch === 'u') {
      // Vendor extended type: a builtin, hence never substitutable.
      this.pos++;
      return named(this.parseSourceName());
    }
    if (ch === 'S' && this.peek(1) !== 't') {
      const node = this.parseSubstitution();
      if (this.peek() !== 'I') return node;
      return this.recorded(withTemplateArgs(node, this.parseTemplateArgs()));
    }
    let node: TypeNode;
    if (ch === 'r' || ch === 'V' || ch === 'K') {
      const qualifiers: string[] = [];
      // Mangled order is r, V, K; written order is const volatile __restrict__.
      if (this.consume('r')) qualifiers.unshift('__restrict__');
      if (this.consume('V')) qualifiers.unshift('volatile');
      if (this.consume('K')) qualifiers.unshift('const');
      node = { tag: 'qualified', qualifiers: qualifiers.join(' '), inner: this.parseType() };
    } else if (ch === 'P' || ch === 'R' || ch === 'O') {
      this.pos++;
      const tag = ch === 'P' ? 'pointer' : ch === 'R' ? 'lvalueRef' : 'rvalueRef';
      node = { tag, inner: this.parseType() };
    } else if (ch === 'A') {
      this.pos++;
      const match = /^([0-9]+)_/.exec(this.input.slice(this.pos));
      if (!match) throw new NotUnderstood(); // dependent array bounds
      this.pos += match[0].length;
      node = { tag: 'array', dimension: match[1]!, inner: this.parseType() };
    } else if (ch === 'F') {
      node = this.parseFunctionType();
    } else if (ch === 'T') {
      const arg = this.parseTemplateParam();
      if (!('type' in arg) || this.peek() === 'I') throw new NotUnderstood(); // non-type, or template template
      node = arg.type;
    } else if (ch === 'N' || /[0-9]/.test(ch) || ch === 'S') {
      node = this.parseName(false).node; // a class or enum type
    } else {
      throw new NotUnderstood(); // pointers to members, vendor qualifiers, packs, closures, ...
    }
    return this.recorded(node);
  }

  // `F [Y] <return type> <parameter types> [<ref-qualifier>] E`
  private parseFunctionType(): TypeNode {
    this.expect('F');
    this.consume('Y');
    const result = this.parseType();
    const params: TypeNode[] = [];
    if (!this.consume('vE')) {
      while (!this.consume('E')) {
        if (this.peek() === 'R' && this.peek(1) === 'E') throw new NotUnderstood(); // ref-qualified member
        if (this.peek() === 'O' && this.peek(1) === 'E') throw new NotUnderstood();
        if (this.pos >= this.input.length) throw new NotUnderstood();
        params.push(this.parseType());
      }
    }
    return { tag: 'function', result, params };
  }

  private recorded(node: TypeNode): TypeNode {
    this.substitutions.push(node);
    return node;
  }
}

function named(name: string): TypeNode {
  return { tag: 'named', name, kind: CLASS_KINDS.get(name) ?? 'bytes' };
}

function withTemplateArgs(template: TypeNode, args: readonly TemplateArg[]): TypeNode {
  const rendered = args.map((arg) => ('type' in arg ? renderType(arg.type) : arg.literal));
  // A class template instance is never one of the special half classes.
  return { tag: 'named', name: `${renderType(template)}<${rendered.join(', ')}>`, kind: 'bytes' };
}

function kindOf(node: TypeNode): ParamKind | undefined {
  switch (node.tag) {
    case 'builtin':
    case 'named':
      return node.kind;
    case 'qualified':
      return kindOf(node.inner);
    case 'pointer':
    case 'lvalueRef':
    case 'rvalueRef':
      return 'ptr';
    case 'array':
    case 'function':
      return undefined;
  }
}

/** C++ spelling with the qualifier first ('const float*'); `declarator` is what goes around the name. */
function renderType(node: TypeNode, declarator = ''): string {
  switch (node.tag) {
    case 'builtin':
    case 'named':
      if (declarator === '' || declarator.startsWith('*') || declarator.startsWith('&')) {
        return node.name + declarator;
      }
      return `${node.name} ${declarator}`;
    case 'qualified': {
      const inner = node.inner;
      // A qualified pointer puts the qualifier after its `*`: 'const float* const*'.
      if (inner.tag === 'pointer' || inner.tag === 'lvalueRef' || inner.tag === 'rvalueRef') {
        return renderType(inner.inner, `${pointerSymbol(inner.tag)} ${node.qualifiers}${declarator}`);
      }
      return `${node.qualifiers} ${renderType(inner, declarator)}`;
    }
    case 'pointer':
    case 'lvalueRef':
    case 'rvalueRef': {
      // 'int* (*)()': a space before a parenthesised declarator, none before another '*'.
      const symbol = pointerSymbol(node.tag) + (declarator.startsWith('(') ? ' ' : '') + declarator;
      const needsParens = node.inner.tag === 'array' || node.inner.tag === 'function';
      return renderType(node.inner, needsParens ? `(${symbol})` : symbol);
    }
    case 'array':
      return renderType(node.inner, `${declarator}[${node.dimension}]`);
    case 'function':
      return renderType(node.result, `${declarator}(${node.params.map((p) => renderType(p)).join(', ')})`);
  }
}

function pointerSymbol(tag: 'pointer' | 'lvalueRef' | 'rvalueRef'): string {
  return tag === 'pointer' ? '*' : tag === 'lvalueRef' ? '&' : '&&';
}

// ---------------------------------------------------------------------------------------------------------------
// Both together
// ---------------------------------------------------------------------------------------------------------------

const KIND_SIZES: Readonly<Partial<Record<ParamKind, number>>> = {
  ptr: 8,
  i8: 1,
  u8: 1,
  b8: 1,
  bool: 1,
  i16: 2,
  u16: 2,
  b16: 2,
  f16: 2,
  bf16: 2,
  i32: 4,
  u32: 4,
  b32: 4,
  f32: 4,
  i64: 8,
  u64: 8,
  b64: 8,
  f64: 8,
};

/**
 * PTX params refined by the mangled name when both agree on the count and sizes; PTX alone otherwise. Undefined
 * when the PTX has no such entry.
 */
export function kernelParams(ptx: string, entryName: string): KernelParam[] | undefined {
  return refinedParams(ptxEntryParams(ptx), entryName);
}

/** kernelParams over entries already parsed by ptxEntryParams (one parse for every kernel of a module). */
export function refinedParams(
  entries: ReadonlyMap<string, KernelParam[]>,
  entryName: string,
): KernelParam[] | undefined {
  const fromPtx = entries.get(entryName);
  if (!fromPtx) return undefined;
  const fromName = mangledParamTypes(entryName);
  if (!fromName || fromName.length !== fromPtx.length) return fromPtx;
  const merged: KernelParam[] = [];
  for (const [i, ptxParam] of fromPtx.entries()) {
    const refined = refineParam(ptxParam, fromName[i]!);
    // One disagreement means the name was misread somewhere: trust none of it.
    if (!refined) return fromPtx;
    merged.push(refined);
  }
  return merged;
}

function refineParam(
  ptxParam: KernelParam,
  named: { kind: ParamKind; cType: string },
): KernelParam | undefined {
  const layout = { size: ptxParam.size, align: ptxParam.align };
  if (named.kind === 'bytes') {
    // A class name may just as well be an enum, which PTX passes as a plain integer: keep the PTX kind then.
    return { kind: ptxParam.kind, ...layout, cType: named.cType };
  }
  if (KIND_SIZES[named.kind] !== ptxParam.size) return undefined;
  // Same size is not enough where PTX itself is specific: a float register or a `.ptr` attribute.
  const ptxIsSpecific = ptxParam.kind === 'f32' || ptxParam.kind === 'f64' || ptxParam.kind === 'ptr';
  if (ptxIsSpecific && named.kind !== ptxParam.kind) return undefined;
  return { kind: named.kind, ...layout, cType: named.cType };
}
