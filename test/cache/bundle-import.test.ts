// Which archs can load which cubins, as the import decides it.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { archProblem } from '../../src/cache/bundle-import.js';

test('a cubin for sm_XY loads on sm_XZ with Z ≥ Y; sm_90a only on sm_90; no arch given: anything', () => {
  assert.equal(archProblem('sm_90', undefined), undefined);
  assert.equal(archProblem('sm_90', []), undefined);
  assert.equal(archProblem('sm_90', ['sm_90']), undefined);
  assert.equal(archProblem('sm_80', ['sm_86']), undefined);
  assert.equal(archProblem('sm_86', ['sm_80']), 'built for sm_86, which cannot run on sm_80');
  assert.equal(archProblem('sm_90', ['sm_80']), 'built for sm_90, which cannot run on sm_80');
  assert.equal(archProblem('sm_90', ['sm_100']), 'built for sm_90, which cannot run on sm_100');
  assert.equal(archProblem('sm_100', ['sm_90', 'sm_100']), undefined, 'any of several');
  assert.equal(archProblem('sm_90a', ['sm_90']), undefined);
  assert.equal(archProblem('sm_90a', ['sm_89']), 'built for sm_90a, which cannot run on sm_89');
  assert.equal(archProblem('sm_120', ['sm_121']), undefined);
  assert.match(archProblem('compute_90', ['sm_90']) ?? '', /does not know/);
});
