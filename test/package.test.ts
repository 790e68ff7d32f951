// The published entry point: `import 'cuop'` resolves to the bundled dist/index.js, which must expose exactly what
// the compiled sources export and behave the same (it is built from them by scripts/bundle-lib.mjs).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as sources from '../src/index.js';
import { countingCompile, specFor, tempDir } from './cache/fixtures.js';

test("import 'cuop' gives the bundle, with the same exports as the sources", async () => {
  const pkg = (await import('cuop')) as typeof sources;
  const resolved = fileURLToPath(import.meta.resolve('cuop'));
  assert.match(resolved, /[/\\]dist[/\\]index\.js$/);
  assert.deepEqual(Object.keys(pkg).sort(), Object.keys(sources).sort());
  assert.notEqual(pkg.KernelCache, sources.KernelCache, 'a separate copy, not a re-export of build/');
});

test('the bundle keeps koffi external and works on its own: same keys, a real cache round trip', async () => {
  const bundleText = readFileSync(fileURLToPath(import.meta.resolve('cuop')), 'utf8');
  assert.match(bundleText, /from ["']koffi["']/, 'koffi is imported, not inlined');
  const pkg = (await import('cuop')) as typeof sources;
  const spec = specFor(3);
  assert.equal(pkg.cacheKey(spec), sources.cacheKey(spec));
  const dir = tempDir('bundle');
  const a = new pkg.KernelCache({ dir, env: {} });
  assert.equal((await a.getOrCompile(spec, countingCompile(3).compile)).tier, 'compiled');
  await a.close();
  const b = new sources.KernelCache({ dir, env: {} }); // the sources read what the bundle wrote
  const hit = await b.getOrCompile(specFor(3), () => Promise.reject(new Error('expected a disk hit')));
  assert.equal(hit.tier, 'disk');
  await b.close();
});

test(
  "CommonJS code can require('cuop') where Node loads ES modules from require()",
  {
    skip:
      (process.features as { require_module?: boolean }).require_module === true
        ? false
        : 'this Node cannot require() an ES module',
  },
  () => {
    const required = createRequire(import.meta.url)('cuop') as typeof sources;
    assert.equal(typeof required.JitWrapper, 'function');
    assert.deepEqual(Object.keys(required).sort(), Object.keys(sources).sort());
  },
);
