// Both module systems load the package: `import` here, `require` in the others.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as aires from 'aires';
import { info, init, withContext } from 'aires';

test('named and namespace imports, and require, give the same functions', () => {
  const required = createRequire(import.meta.url)('aires');
  assert.equal(typeof info, 'function');
  assert.equal(aires.init, init);
  assert.equal(required.withContext, withContext);
  for (const name of ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'child', 'flush', 'shutdown', 'metrics', 'withContext']) {
    assert.equal(typeof aires[name], 'function', name);
  }
});
