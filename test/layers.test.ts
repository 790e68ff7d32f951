// The layering of src/, kept true. Each folder is a layer and imports only the layers below it; FFI (koffi) stays in
// src/cuda; no two folders import each other round a cycle. Read from the sources with TypeScript's own parser (so a
// commented-out import or one inside a string is no import), type-only imports included: `import type` from a layer
// above ties a layer to it just the same.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * The layers, lowest first. `settings` may not exist yet; when it does it is the bottom layer. src/index.ts, the
 * package entry, sits above them all and may import any of them.
 */
const LAYERS = ['settings', 'cuda', 'compiler', 'cache', 'runtime', 'jit', 'ops', 'api', 'cli'];
/** The only layer that may import koffi. */
const FFI_LAYER = 'cuda';
const ENTRY = 'src/index.ts';
const TOP = '(src/index.ts)';

// Tests run as build/test/*.js: the repository root is two levels up.
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface ImportRef {
  /** The importing file, e.g. src/jit/global.ts. */
  readonly file: string;
  readonly line: number;
  readonly specifier: string;
  readonly kind: 'import' | 'export from' | 'import()' | 'import type()' | 'require';
}

/** Every .ts file under src/, keyed by its path from the repository root ('/'-separated). */
function readSources(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.name.endsWith('.ts'))
        out.set(relative(root, p).split(sep).join('/'), readFileSync(p, 'utf8'));
    }
  };
  walk(join(root, 'src'));
  return out;
}

/** The module specifiers `file` names: static imports and re-exports, import(), import types and require(). */
function importsOf(file: string, text: string): { refs: ImportRef[]; computed: number[] } {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const refs: ImportRef[] = [];
  const computed: number[] = [];
  const lineOf = (n: ts.Node) => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
  const add = (n: ts.Node, spec: ts.Node | undefined, kind: ImportRef['kind']) => {
    if (spec && ts.isStringLiteralLike(spec))
      refs.push({ file, line: lineOf(n), specifier: spec.text, kind });
    else computed.push(lineOf(n));
  };
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n)) add(n, n.moduleSpecifier, 'import');
    else if (ts.isExportDeclaration(n) && n.moduleSpecifier) add(n, n.moduleSpecifier, 'export from');
    else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference)) {
      add(n, n.moduleReference.expression, 'require');
    } else if (ts.isImportTypeNode(n)) {
      const arg = n.argument;
      add(n, ts.isLiteralTypeNode(arg) ? arg.literal : undefined, 'import type()');
    } else if (ts.isCallExpression(n)) {
      if (n.expression.kind === ts.SyntaxKind.ImportKeyword) add(n, n.arguments[0], 'import()');
      else if (ts.isIdentifier(n.expression) && n.expression.text === 'require' && n.arguments.length === 1) {
        add(n, n.arguments[0], 'require');
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return { refs, computed };
}

/**
 * The layer of a path under src/ (a source, or an import's target, spelled .js): its first folder, TOP for
 * src/index.ts, undefined for another file in src/ itself.
 */
function layerOf(path: string): string | undefined {
  const parts = path.split('/');
  if (parts.length > 2) return parts[1];
  return /^index\.[cm]?[jt]s$/.test(parts[1] ?? '') ? TOP : undefined;
}

/** What is wrong with the layering of `sources` (path → text), one line per problem; empty when nothing is. */
function checkLayers(sources: ReadonlyMap<string, string>): string[] {
  const problems: string[] = [];
  const rank = (layer: string) => (layer === TOP ? LAYERS.length : LAYERS.indexOf(layer));
  /** Folder → folder it imports → the first import that does. */
  const edges = new Map<string, Map<string, ImportRef>>();
  const show = (r: ImportRef) => `${r.file}:${r.line} ${r.kind} '${r.specifier}'`;

  for (const [file, text] of [...sources].sort(([a], [b]) => a.localeCompare(b))) {
    const from = layerOf(file);
    if (from === undefined) {
      problems.push(
        `${file} sits in src/ itself, in no layer: move it into a layer folder (${LAYERS.join(', ')})`,
      );
      continue;
    }
    if (rank(from) < 0) {
      problems.push(`${file}: folder src/${from}/ is in no layer; add it to LAYERS in test/layers.test.ts`);
      continue;
    }
    const { refs, computed } = importsOf(file, text);
    for (const line of computed) {
      problems.push(
        `${file}:${line} imports a computed specifier the layer check cannot follow; use a string literal`,
      );
    }
    for (const r of refs) {
      if ((r.specifier === 'koffi' || r.specifier.startsWith('koffi/')) && from !== FFI_LAYER) {
        problems.push(`${show(r)}: koffi (FFI) belongs in src/${FFI_LAYER}/ only; use its typed wrappers`);
      }
      if (!r.specifier.startsWith('.')) continue;
      const target = posix.normalize(posix.join(posix.dirname(file), r.specifier));
      if (!target.startsWith('src/')) {
        problems.push(`${show(r)}: reaches outside src/ (${target})`);
        continue;
      }
      const to = layerOf(target);
      if (to === undefined || to === from) continue; // another root file is reported as such; same layer is free
      if (!edges.has(from)) edges.set(from, new Map());
      if (!edges.get(from)!.has(to)) edges.get(from)!.set(to, r);
      if (from === TOP) continue; // the entry may import every layer
      if (to === TOP) {
        problems.push(`${show(r)}: imports the package entry (src/index.ts); import from the layer itself`);
      } else if (rank(to) < 0) {
        problems.push(`${show(r)}: src/${to}/ is in no layer; add it to LAYERS in test/layers.test.ts`);
      } else if (rank(to) > rank(from)) {
        const below = LAYERS.slice(0, rank(from)).join(', ') || 'nothing';
        problems.push(`${show(r)}: ${to} is a layer above ${from} (${from} may import only: ${below})`);
      }
    }
  }

  // Cycles between folders: a strongly connected component of more than one folder holds one. Report a shortest
  // cycle through its first folder, with the import behind each step.
  for (const component of stronglyConnected(edges)) {
    if (component.length < 2) continue;
    const inside = new Set(component);
    const start = [...component].sort()[0]!;
    const back = new Map<string, string>();
    const queue = [start];
    let last: string | undefined;
    while (queue.length > 0 && last === undefined) {
      const at = queue.shift()!;
      for (const next of [...(edges.get(at)?.keys() ?? [])].sort()) {
        if (!inside.has(next)) continue;
        if (next === start) {
          last = at;
          break;
        }
        if (!back.has(next)) {
          back.set(next, at);
          queue.push(next);
        }
      }
    }
    const path = [start];
    for (let at = last!; at !== start; at = back.get(at)!) path.splice(1, 0, at);
    path.push(start);
    const steps = path.slice(1).map((to, i) => show(edges.get(path[i]!)!.get(to)!));
    problems.push(`folder cycle ${path.join(' → ')}: ${steps.join('; ')}`);
  }
  return problems;
}

/** Tarjan's strongly connected components of a directed graph. */
function stronglyConnected(edges: ReadonlyMap<string, ReadonlyMap<string, unknown>>): string[][] {
  const nodes = new Set<string>();
  for (const [from, tos] of edges) {
    nodes.add(from);
    for (const to of tos.keys()) nodes.add(to);
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      out.push(component);
    }
  };
  for (const v of [...nodes].sort()) if (!index.has(v)) visit(v);
  return out;
}

test('src/: each folder imports only the layers below it, koffi only in src/cuda, no cycle between folders', () => {
  const sources = readSources(ROOT);
  assert.ok(sources.has(ENTRY), `no ${ENTRY} under ${ROOT}: is the repository root found?`);
  const entryImports = importsOf(ENTRY, sources.get(ENTRY)!).refs.length;
  assert.ok(entryImports > 0, 'the parser found no import in src/index.ts');
  const problems = checkLayers(sources);
  assert.equal(
    problems.length,
    0,
    `layering broken (order, lowest first: ${LAYERS.join(' → ')}; src/index.ts on top):\n  ${problems.join('\n  ')}`,
  );
});

test('the layer check catches upward imports of every form, koffi outside src/cuda and folder cycles', () => {
  const sources = new Map<string, string>([
    ['src/index.ts', "export * from './cli/program.js';\n"],
    ['src/settings/env.ts', "import { x } from '../cuda/driver.js';\n"],
    ['src/cuda/driver.ts', "import koffi from 'koffi';\nimport { s } from '../settings/env.js';\n"],
    ['src/cuda/loop.ts', "import { c } from '../compiler/select.js';\n"],
    ['src/compiler/select.ts', "import { d } from '../cuda/driver.js';\n"],
    ['src/jit/wrapper.ts', "import type { Operator } from '../ops/operator.js';\n"],
    ['src/cache/explain.ts', "export const m = async () => (await import('../cli/program.js')).x;\n"],
    ['src/runtime/again.ts', "export { JitWrapper } from '../api/index.js';\n"],
    ['src/runtime/types.ts', "export type K = import('../jit/types.js').KernelSpec;\n"],
    ['src/ops/ffi.ts', "import koffi from 'koffi';\n"],
    ['src/ops/entry.ts', "import { x } from '../index.js';\n"],
    [
      'src/api/quiet.ts',
      "// import { main } from '../cli/main.js';\nconst text = \"import('../cli/main.js')\";\n" +
        "import { Gemm } from '../ops/gemm.js';\n",
    ],
    ['src/cli/program.ts', "import { JitWrapper } from '../api/index.js';\n"],
  ]);
  const problems = checkLayers(sources);
  const expected = [
    "src/cache/explain.ts:1 import() '../cli/program.js': cli is a layer above cache",
    "src/cuda/loop.ts:1 import '../compiler/select.js': compiler is a layer above cuda",
    "src/jit/wrapper.ts:1 import '../ops/operator.js': ops is a layer above jit",
    "src/ops/entry.ts:1 import '../index.js': imports the package entry",
    "src/ops/ffi.ts:1 import 'koffi': koffi (FFI) belongs in src/cuda/ only",
    "src/runtime/again.ts:1 export from '../api/index.js': api is a layer above runtime",
    "src/runtime/types.ts:1 import type() '../jit/types.js': jit is a layer above runtime",
    "src/settings/env.ts:1 import '../cuda/driver.js': cuda is a layer above settings (settings may import only: nothing)",
    "folder cycle compiler → cuda → compiler: src/compiler/select.ts:1 import '../cuda/driver.js'; src/cuda/loop.ts:1",
    'folder cycle (src/index.ts) → cli → api → ops → (src/index.ts):',
  ];
  for (const e of expected)
    assert.ok(
      problems.some((p) => p.includes(e)),
      `missing "${e}" in:\n${problems.join('\n')}`,
    );
  assert.equal(problems.length, expected.length, problems.join('\n'));
  // Its one real import (line 3) is the api → ops step of the second cycle; lines 1 and 2 hold none.
  assert.ok(!/src\/api\/quiet\.ts:[12]\b/.test(problems.join('\n')), 'comments and strings are no imports');
  assert.ok(
    !problems.some((p) => p.startsWith('src/cuda/driver.ts')),
    'koffi and settings are fine in src/cuda',
  );
  assert.ok(!problems.some((p) => p.startsWith('src/index.ts')), 'the entry may import every layer');
});
