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
  queueCapacity: 64, batchSize: 16, maxBatchBytes: 65536, batchTimeoutMs: 20, envOverrides: false });
const started = Date.now();
// More than the window (64 x 16), the batches that grow behind it (three
// of 64 KiB, ~1,400 events each) and the queue hold.
for (let i = 0; i < 10000; i++) aires.info('tick', { i });
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
    assert.equal(metrics.eventsSent, 10000);
    assert.equal(metrics.eventsDropped, 0);
    assert.equal(metrics.eventsOutcomeUnknown, 0);
    assert.ok(metrics.batchRetries > 0);
  } finally {
    collector.kill('SIGTERM');
  }
});

test('overflow options are checked', () => {
  assert.throws(() => aires.init({ transport: 'memory', overflow: 'wait' }), /overflow must be 'drop', 'block' or 'grow'/);
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

const GROW_PRODUCER = `
const aires = require('aires');
aires.init({ service: 'node-grow', endpoint: process.env.ENDPOINT, overflow: process.env.OVERFLOW,
  queueCapacity: 64, batchSize: 16, maxBatchBytes: 65536, batchTimeoutMs: 20, envOverrides: false });
// Returns with nothing listening: no call waits for the collector.
for (let i = 0; i < 20000; i++) aires.info('tick', { i });
console.log(JSON.stringify(aires.metrics()));
if (process.env.OVERFLOW === 'drop') process.exit(0);
// The parent starts the collector once it has read the line above.
process.stdin.once('data', () => {
  aires.flush(60000).then((done) => console.log(JSON.stringify({ done, metrics: aires.metrics() })));
});
`;

for (const overflow of ['drop', 'grow']) {
  test(`overflow '${overflow}' with the collector away: ${overflow === 'grow' ? 'lists the burst and delivers it' : 'drops and counts'}`, { skip }, async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['-e', GROW_PRODUCER], {
      cwd: path.join(__dirname, '..'),
      env: { ...process.env, ENDPOINT: `http://127.0.0.1:${port}`, OVERFLOW: overflow },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    const lines = [];
    const nextLine = () => new Promise((resolve) => {
      const look = () => {
        const at = out.indexOf('\n');
        if (at >= 0) { lines.push(out.slice(0, at)); out = out.slice(at + 1); resolve(lines[lines.length - 1]); } else child.stdout.once('data', (d) => { out += d; look(); });
      };
      look();
    });
    const first = JSON.parse(await nextLine());
    if (overflow === 'drop') {
      assert.ok(first.eventsDroppedQueueFull > 0, JSON.stringify(first));
      child.stdin.end();
      return;
    }
    assert.equal(first.eventsDropped, 0, JSON.stringify(first));
    assert.ok(first.queueDepth > 64, 'listed beyond the queue');
    const collector = spawn(collectorBin, ['--sink', 'null', '--listen', `127.0.0.1:${port}`, '--metrics-listen', '127.0.0.1:0'], { stdio: 'ignore' });
    try {
      child.stdin.write('go\n');
      const { done, metrics } = JSON.parse(await nextLine());
      assert.ok(done);
      assert.equal(metrics.eventsSent, 20000);
      assert.equal(metrics.eventsDropped, 0);
    } finally {
      collector.kill('SIGTERM');
      child.kill();
    }
  });
}

test('grow options are checked', () => {
  assert.throws(() => aires.init({ transport: 'memory', overflowMaxBytes: 1 << 20, envOverrides: false }), /overflowMaxBytes needs overflow: 'grow'/);
  assert.throws(() => aires.init({ transport: 'memory', overflow: 'grow', overflowMaxBytes: 0, envOverrides: false }), /overflowMaxBytes/);
});
