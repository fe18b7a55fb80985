// The stdout transport beside Node's own writes. A console.log (or a
// Worker) makes libuv put fd 1 into non-blocking mode; the Rust writer must
// then wait on a full pipe rather than fail, and never split or repeat a
// line, while a slow reader holds the pipe full.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');

const COUNT = 100_000;

/** Runs `script` with its stdout piped into a reader that starts after a second. */
function throughSlowReader(script) {
  return new Promise((resolve, reject) => {
    const node = JSON.stringify(process.execPath);
    const child = spawn('sh', ['-c', `${node} -e "$SCRIPT" | (sleep 1; cat)`], {
      cwd: path.join(__dirname, '..'),
      env: { ...process.env, SCRIPT: script },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = [];
    let stderr = '';
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out\n${stderr}`));
    }, 120_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr });
    });
  });
}

test('after console.log, every event is one whole line, once', async () => {
  const script = `
    const aires = require('aires');
    console.log('from console.log');
    aires.init({ service: 'pipe', transport: 'stdout', overflow: 'block', envOverrides: false });
    for (let i = 0; i < ${COUNT}; i++) {
      aires.info('line', { i });
      if (i % 20000 === 0) console.log('interleaved ' + i);
    }
    aires.shutdown(60000).then((done) => {
      const m = aires.metrics();
      console.error(JSON.stringify({ done, sent: m.eventsSent, dropped: m.eventsDropped }));
    });
  `;
  const { code, stdout, stderr } = await throughSlowReader(script);
  assert.equal(code, 0, stderr);
  const seen = new Set();
  let other = 0;
  for (const line of stdout.split('\n')) {
    if (line === '') continue;
    if (line === 'from console.log' || line.startsWith('interleaved ')) {
      other++;
      continue;
    }
    const event = JSON.parse(line); // throws on a split or merged line
    assert.equal(event.message, 'line');
    assert.ok(!seen.has(event.fields.i), `event ${event.fields.i} printed twice`);
    seen.add(event.fields.i);
  }
  assert.equal(other, 1 + COUNT / 20000);
  assert.equal(seen.size, COUNT);
  const report = JSON.parse(stderr.trim().split('\n').pop());
  assert.deepEqual(report, { done: true, sent: COUNT, dropped: 0 });
});
