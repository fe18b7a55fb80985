// The blocking overflow policy, through a collector that is away for a
// while: `overflow: 'block'` without a timeout waits as long as it takes and
// loses nothing; retries outlast the outage; the metrics name outcomes that
// are unknown apart from drops.
//
// Needs the collector binary (AIRES_COLLECTOR_BIN, default
// $CARGO_TARGET_DIR/debug/aires-collector); skipped without it unless
// AIRES_NODE_E2E=1.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { aires, run } = require('./helpers.js');

const repo = path.resolve(__dirname, '..', '..', '..');
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(repo, 'target');
const collectorBin = process.env.AIRES_COLLECTOR_BIN ?? path.join(targetDir, 'debug', 'aires-collector');
const skip = !fs.existsSync(collectorBin) && process.env.AIRES_NODE_E2E !== '1' ? `missing ${collectorBin}` : false;

function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const PRODUCER = `
const aires = require('aires');
aires.init({ service: 'node-block', endpoint: process.env.ENDPOINT, overflow: 'block',
  queueCapacity: 64, batchSize: 16, batchTimeoutMs: 20, envOverrides: false });
const started = Date.now();
for (let i = 0; i < 2000; i++) aires.info('tick', { i });
const waited = Date.now() - started;
aires.flush(60000).then((done) => {
  console.log(JSON.stringify({ done, waited, metrics: aires.metrics() }));
});
`;

test('block without a timeout loses nothing while the collector is away', { skip }, async () => {
  const port = await freePort();
  const producer = run(['-e', PRODUCER], { env: { ENDPOINT: `http://127.0.0.1:${port}` }, timeoutMs: 120_000 });
  // The outage: nothing listens for 1.5 s, longer than any bounded wait.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const collector = spawn(collectorBin, ['--sink', 'null', '--listen', `127.0.0.1:${port}`, '--metrics-listen', '127.0.0.1:0'], {
    stdio: 'ignore',
  });
  try {
    const { code, stdout, stderr } = await producer;
    assert.equal(code, 0, stderr);
    const { done, waited, metrics } = JSON.parse(stdout);
    assert.ok(done);
    assert.ok(waited >= 1000, `the producer should have waited for the collector, waited ${waited} ms`);
    assert.equal(metrics.eventsSent, 2000);
    assert.equal(metrics.eventsDropped, 0);
    assert.equal(metrics.eventsOutcomeUnknown, 0);
    assert.ok(metrics.batchRetries > 0);
  } finally {
    collector.kill('SIGTERM');
  }
});

test('overflow options are checked', () => {
  assert.throws(() => aires.init({ transport: 'memory', overflow: 'wait' }), /overflow must be 'drop' or 'block'/);
  assert.throws(() => aires.init({ transport: 'memory', blockTimeoutMs: 5, envOverrides: false }), /blockTimeoutMs needs overflow: 'block'/);
});

test('a spool keeps what a cut-short shutdown could not send, for the next start', async () => {
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'aires-spool-'));
  const port = await freePort();
  aires.init({ service: 'node-spool', endpoint: `http://127.0.0.1:${port}`, spoolDir: dir, batchTimeoutMs: 20, envOverrides: false });
  for (let i = 0; i < 300; i++) aires.info('kept', { i });
  await aires.shutdown(800);
  const first = aires.metrics();
  assert.equal(first.eventsLeftInSpool, 300);
  assert.equal(first.eventsDropped, 0);
  aires.init({ service: 'node-spool', transport: 'memory', spoolDir: dir, envOverrides: false });
  try {
    const { drain } = require('./helpers.js');
    const events = await drain();
    assert.deepEqual(events.map((e) => Number(e.attributes.i.value)).sort((a, b) => a - b), [...Array(300).keys()]);
    assert.equal(aires.metrics().eventsReplayed, 300);
  } finally {
    await aires.shutdown(5000);
  }
});
