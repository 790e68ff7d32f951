// docs/troubleshooting.md lists every error class cuop exports and every warning and CLI message it prints. This
// keeps it so: the sources are parsed (TypeScript's own parser, so no regex guesses at template literals) for
//   - every exported class that extends Error, directly or through another class (CuopError, TypeError, ...),
//   - every message passed to a warning call (CacheLog.warnOnce, the cache directory's refuse(), a recorder's warn()),
//     and every line the CLI writes to stderr or throws as its one-line error,
// and the page must have a heading naming each class and hold each message's longest literal piece verbatim (the
// words around the `${...}` parts), so a message that changes or appears without its entry fails here.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import ts from 'typescript';

// Tests run as build/test/docs/*.js: the repository root is three levels up.
const root = fileURLToPath(new URL('../../../', import.meta.url));
const page = readFileSync(join(root, 'docs', 'troubleshooting.md'), 'utf8');

interface Source {
  readonly path: string;
  readonly file: ts.SourceFile;
}

function sources(dir = join(root, 'src')): Source[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    if (d.isDirectory()) return sources(p);
    if (!d.name.endsWith('.ts') || d.name.endsWith('.d.ts')) return [];
    const text = readFileSync(p, 'utf8');
    return [{ path: relative(root, p), file: ts.createSourceFile(p, text, ts.ScriptTarget.Latest, true) }];
  });
}
const all = sources();

function visit(node: ts.Node, fn: (n: ts.Node) => void): void {
  fn(node);
  node.forEachChild((c) => visit(c, fn));
}

interface ErrorClass {
  readonly name: string;
  readonly base: string;
  readonly exported: boolean;
  readonly path: string;
}

/** Every class declared in src with the name of the class it extends. */
function classes(): ErrorClass[] {
  const out: ErrorClass[] = [];
  for (const { path, file } of all) {
    visit(file, (n) => {
      if (!ts.isClassDeclaration(n) || !n.name) return;
      const ext = n.heritageClauses?.find((h) => h.token === ts.SyntaxKind.ExtendsKeyword)?.types[0];
      if (!ext) return;
      const exported = ts.getModifiers(n)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword) ?? false;
      out.push({ name: n.name.text, base: ext.expression.getText(file), exported, path });
    });
  }
  return out;
}

/** The exported classes that are errors: extending Error or one of JavaScript's errors, or such a class of cuop. */
function exportedErrorClasses(): ErrorClass[] {
  const declared = classes();
  const errors = new Set(['Error', 'TypeError', 'RangeError', 'SyntaxError']);
  for (let grew = true; grew;) {
    grew = false;
    for (const c of declared) {
      if (errors.has(c.base) && !errors.has(c.name)) {
        errors.add(c.name);
        grew = true;
      }
    }
  }
  return declared.filter((c) => c.exported && errors.has(c.name));
}

/**
 * The text of a message expression, as literal pieces: `null` where a value is spliced in (a `${...}`, a variable, a
 * call). Concatenations are followed, so `a ${x} b` + ` c` gives ['a ', null, ' b c'].
 */
function pieces(e: ts.Expression): (string | null)[] {
  if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e)) return [e.text];
  if (ts.isParenthesizedExpression(e)) return pieces(e.expression);
  if (ts.isTemplateExpression(e))
    return [e.head.text, ...e.templateSpans.flatMap((s) => [null, s.literal.text])];
  if (ts.isBinaryExpression(e) && e.operatorToken.kind === ts.SyntaxKind.PlusToken) {
    const merged: (string | null)[] = [];
    for (const p of [...pieces(e.left), ...pieces(e.right)]) {
      const last = merged.length - 1;
      if (p !== null && typeof merged[last] === 'string') merged[last] += p;
      else merged.push(p);
    }
    return merged;
  }
  return [null];
}

interface Message {
  /** The message with `…` for the spliced values: what the failure shows. */
  readonly shown: string;
  /** Its longest literal piece, without the spaces and punctuation at its ends: what the page must hold. */
  readonly anchor: string;
  readonly where: string;
}

/** A literal piece shorter than this says nothing on its own (`cuop: `, `failed: `): the message is left out. */
const MIN_ANCHOR = 10;

function message(arg: ts.Expression, file: ts.SourceFile, path: string): Message | undefined {
  const p = pieces(arg);
  const anchor = p
    .filter((s): s is string => s !== null)
    .map((s) => s.replace(/^[\s.,;:()]+|[\s,;:(]+$/g, ''))
    .reduce((a, b) => (b.length > a.length ? b : a), '');
  if (anchor.length < MIN_ANCHOR) return undefined;
  const line = file.getLineAndCharacterOfPosition(arg.getStart(file)).line + 1;
  return { shown: p.map((s) => s ?? '…').join(''), anchor, where: `${path}:${line}` };
}

const calleeName = (c: ts.CallExpression | ts.NewExpression): string | undefined =>
  ts.isIdentifier(c.expression)
    ? c.expression.text
    : ts.isPropertyAccessExpression(c.expression)
      ? c.expression.name.text
      : undefined;

/** Which argument of a call is a message cuop prints, by the function called; undefined: not such a call. */
function messageArgument(c: ts.CallExpression | ts.NewExpression, inCli: boolean): number | undefined {
  const name = calleeName(c);
  if (ts.isNewExpression(c))
    return inCli && (name === 'Error' || name === 'InvalidArgumentError') ? 0 : undefined;
  if (name === 'warnOnce' || name === 'refuse') return 1;
  if (name === 'warn') return 0;
  if (inCli && name === 'error' && c.expression.getText().startsWith('console.')) return 0;
  return undefined;
}

function printedMessages(): Message[] {
  const out: Message[] = [];
  for (const { path, file } of all) {
    const inCli = path.startsWith(join('src', 'cli'));
    visit(file, (n) => {
      if (!ts.isCallExpression(n) && !ts.isNewExpression(n)) return;
      const i = messageArgument(n, inCli);
      const arg = i === undefined ? undefined : n.arguments?.[i];
      const m = arg && message(arg, file, path);
      if (m) out.push(m);
    });
  }
  return out;
}

test('the scan finds the errors and warnings it is meant to (so an empty list cannot pass by accident)', () => {
  const names = exportedErrorClasses().map((c) => c.name);
  for (const known of ['CuopError', 'CudaError', 'CompileError', 'DeviceAssertError', 'ShapeError'])
    assert.ok(names.includes(known), `${known} not found among ${names.join(', ')}`);
  const anchors = printedMessages().map((m) => m.anchor);
  assert.ok(
    anchors.some((a) => a.includes('kernels are cached in memory only')),
    anchors.join('\n'),
  );
  assert.ok(
    anchors.some((a) => a.includes('the cache directory was refused')),
    anchors.join('\n'),
  );
});

test('every error class the package exports is among those the scan found in src', async () => {
  const scanned = new Set(exportedErrorClasses().map((c) => c.name));
  const api = (await import(new URL('../../src/index.js', import.meta.url).href)) as Record<string, unknown>;
  const exported = Object.entries(api).filter(
    ([, v]) => typeof v === 'function' && (v as { prototype?: unknown }).prototype instanceof Error,
  );
  assert.ok(exported.length >= 10, `only ${exported.length} error classes exported`);
  const unseen = exported.map(([k]) => k).filter((k) => !scanned.has(k));
  assert.deepEqual(unseen, [], 'exported error classes the source scan missed');
});

test('docs/troubleshooting.md has an entry for every exported error class', () => {
  const missing = exportedErrorClasses().filter(
    (c) => !new RegExp(`^#{2,4} .*\`${c.name}\``, 'm').test(page),
  );
  assert.deepEqual(
    missing.map((c) => `${c.name} (${c.path})`),
    [],
    'error classes without a heading in docs/troubleshooting.md (add "### `Name`: ..." with what it means and the fix)',
  );
});

test('docs/troubleshooting.md holds every warning and CLI message cuop prints', () => {
  const missing = printedMessages().filter((m) => !page.includes(m.anchor));
  assert.deepEqual(
    missing.map((m) => `${m.where}: ${JSON.stringify(m.shown)} (needs the text ${JSON.stringify(m.anchor)})`),
    [],
    'messages missing from docs/troubleshooting.md',
  );
});
