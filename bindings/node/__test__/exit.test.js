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

const queued = `
  const aires = require('aires');
  aires.init({ service: 'exit', transport: 'stdout', batchSize: 8192, batchTimeoutMs: 60000, queueCapacity: 65536, envOverrides: false });
  for (let i = 0; i < ${COUNT}; i++) aires.info('bye', { i });
`;

test('an uncaught exception still delivers what was enqueued', async () => {
  const { code, stdout } = await run(['-e', `${queued}; setTimeout(() => { throw new Error('boom'); }, 10);`]);
  assert.equal(code, 1);
  assert.equal(delivered(stdout), COUNT);
});

test('an unhandled rejection still delivers what was enqueued', async () => {
  const { code, stdout } = await run(['-e', `${queued}; setTimeout(() => Promise.reject(new Error('nobody catches')), 10);`]);
  assert.equal(code, 1);
  assert.equal(delivered(stdout), COUNT);
});

/** Runs `script`, sends it SIGTERM once it printed READY on stderr; resolves { code, signal, stdout }. */
function terminated(script) {
  const { spawn } = require('node:child_process');
  const path = require('node:path');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { cwd: path.join(__dirname, '..'), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      if (stderr.includes('READY') && !child.signalled) {
        child.signalled = true;
        child.kill('SIGTERM');
      }
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out\n${stderr}`));
    }, 60_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const waitForSignal = `console.error('READY'); setInterval(() => {}, 1000);`;

test('SIGTERM with handleSignals() delivers what was enqueued, then ends as SIGTERM', async () => {
  const { signal, stdout, stderr } = await terminated(`${queued}; aires.handleSignals(); ${waitForSignal}`);
  assert.equal(signal, 'SIGTERM', stderr);
  assert.equal(delivered(stdout), COUNT);
});

test('SIGTERM with handleSignals() and a listener of the application: the listener decides', async () => {
  const stop = `process.on('SIGTERM', () => { for (let i = 0; i < 100; i++) aires.info('bye', { draining: i }); setTimeout(() => process.exit(7), 100); })`;
  const script = `${queued}; aires.handleSignals(); ${stop}; ${waitForSignal}`;
  const { code, stdout, stderr } = await terminated(script);
  assert.equal(code, 7, stderr);
  assert.equal(delivered(stdout), COUNT + 100, 'what the listener logs while stopping is sent too');
});

test('SIGTERM without a handler ends the process at once: what was queued is lost (documented)', async () => {
  const { signal, stdout } = await terminated(`${queued}; ${waitForSignal}`);
  assert.equal(signal, 'SIGTERM');
  assert.equal(delivered(stdout), 0);
});
