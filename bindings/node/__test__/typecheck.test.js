// The public types: a small program using the API compiles under
// `tsc --noEmit --strict`, and a misuse does not.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { run } = require('./helpers.js');

const tsc = require.resolve('typescript/bin/tsc');

test('types.ts compiles with tsc --noEmit --strict', async () => {
  const { code, stdout, stderr } = await run([tsc, '--noEmit', '--strict', '-p', path.join(__dirname, 'tsconfig.json')]);
  assert.equal(code, 0, stdout + stderr);
});

test('a wrongly typed call is a compile error', async () => {
  const dir = fs.mkdtempSync(path.join(__dirname, '.tmp-'));
  try {
    fs.writeFileSync(path.join(dir, 'bad.ts'), "import * as aires from 'aires';\naires.init({ batchSize: 'many' });\naires.setLevel('loud');\n");
    const { code, stdout } = await run([tsc, '--noEmit', '--strict', '--types', 'node', '--module', 'node16', '--moduleResolution', 'node16', path.join(dir, 'bad.ts')]);
    assert.notEqual(code, 0);
    assert.match(stdout, /bad.ts\(2,\d+\): error TS2322/);
    assert.match(stdout, /"loud"/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
