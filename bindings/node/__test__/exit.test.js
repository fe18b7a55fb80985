// Exit: process.exit() and the natural end of the program still deliver
// what was logged. The child processes use the stdout transport, so what
// was delivered can be counted from outside.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { run } = require('./helpers.js');

const COUNT = 5000;
const logMany = `
  const aires = require('aires');
  aires.init({ service: 'exit', transport: 'stdout', batchTimeoutMs: 60000, queueCapacity: 65536, envOverrides: false });
  for (let i = 0; i < ${COUNT}; i++) aires.info('bye', { i });
`;

function delivered(stdout) {
  return stdout.split('\n').filter((line) => line.includes('"bye"')).length;
}

test('process.exit() delivers what was enqueued', async () => {
  const { code, stdout, stderr } = await run(['-e', `${logMany}; process.exit(3);`]);
  assert.equal(code, 3, stderr);
  assert.equal(delivered(stdout), COUNT);
});

test('the end of the program (beforeExit) delivers what was enqueued', async () => {
  const { code, stdout, stderr } = await run(['-e', `${logMany}; setTimeout(() => aires.info('bye', { last: true }), 10);`]);
  assert.equal(code, 0, stderr);
  assert.equal(delivered(stdout), COUNT + 1);
});

test('an unreachable collector does not hold process.exit() beyond its timeout', async () => {
  const script = `
    const aires = require('aires');
    aires.init({ endpoint: 'http://127.0.0.1:9', exitTimeoutMs: 300, retryMaxElapsedMs: 0, envOverrides: false });
    aires.info('lost');
    process.exit(0);
  `;
  // The deadline here is only a guard against hanging; the exit itself is bounded by exitTimeoutMs.
  const { code, stderr } = await run(['-e', script], { timeoutMs: 30_000 });
  assert.equal(code, 0, stderr);
});
