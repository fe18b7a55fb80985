// End to end: a Node program -> the real aires-collector over gRPC on
// loopback -> the ClickHouse engine (tools/clickhouse-dev over chDB); the
// rows are queried back and compared field by field.
//
// Needs the collector binary (AIRES_COLLECTOR_BIN, default
// $CARGO_TARGET_DIR/debug/aires-collector) and the ClickHouse dev venv
// (scripts/clickhouse-dev setup). scripts/test provides both and sets
// AIRES_NODE_E2E=1, which turns a missing part into a failure; without it
// the test is skipped when a part is missing.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { run } = require('./helpers.js');

const repo = path.resolve(__dirname, '..', '..', '..');
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(repo, 'target');
const collectorBin = process.env.AIRES_COLLECTOR_BIN ?? path.join(targetDir, 'debug', 'aires-collector');
const python = path.join(repo, 'tools', 'clickhouse-dev', '.venv', 'bin', 'python');
const missing = [collectorBin, python].filter((p) => !fs.existsSync(p));
const skip = missing.length > 0 && process.env.AIRES_NODE_E2E !== '1' ? `missing ${missing.join(', ')}` : false;

const started = [];

/** Starts a process and resolves the first match of `pattern` in its output. */
function start(cmd, args, pattern) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`${cmd} did not print ${pattern} in 60 s:\n${output}`)), 60_000);
    const onData = (d) => {
      output += d;
      const m = output.match(pattern);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited (${code}) before printing ${pattern}:\n${output}`));
    });
  });
}

async function query(url, sql) {
  const response = await fetch(url, { method: 'POST', body: `${sql} FORMAT JSONEachRow` });
  const text = await response.text();
  if (!response.ok) throw new Error(`${response.status}: ${text}`);
  return text.split('\n').filter(Boolean).map((line) => JSON.parse(line));
}

/** Polls `sql` until `done(rows)`, for up to 60 s. */
async function until(url, sql, done) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const rows = await query(url, sql);
    if (done(rows)) return rows;
    if (Date.now() > deadline) throw new Error(`timed out waiting on: ${sql}\nlast: ${JSON.stringify(rows)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test.after(async () => {
  // The collector first, so it drains into ClickHouse before that stops.
  for (const child of started.reverse()) {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  }
});

test('every field of a Node event arrives in ClickHouse', { skip, timeout: 180_000 }, async () => {
  assert.deepEqual(missing, [], 'scripts/test builds the collector and the ClickHouse venv');
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'aires-node-e2e-'));
  const clickhouse = await start(python, [path.join(repo, 'tools', 'clickhouse-dev', 'server.py'), '--port', '0', '--data', data], /(http:\/\/[0-9.:]+)/);
  const grpc = await start(
    collectorBin,
    ['--sink', 'clickhouse', '--clickhouse-url', clickhouse, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--batch-timeout-ms', '100'],
    /grpc=([0-9.:]+)/,
  );
  const before = BigInt(Date.now()) * 1_000_000n;
  const program = await run([path.join(__dirname, 'e2e-program.js')], {
    env: { AIRES_ENDPOINT: `http://${grpc}`, AIRES_SERVICE: null, AIRES_ENVIRONMENT: null, AIRES_LEVEL: null },
  });
  const after = BigInt(Date.now()) * 1_000_000n;
  assert.equal(program.code, 0, program.stderr);
  const { done, metrics } = JSON.parse(program.stdout);
  assert.equal(done, true);
  const TOTAL = 1 + 6 + 500;
  assert.equal(metrics.eventsSent, TOTAL);
  assert.equal(metrics.eventsDropped, 0);

  const counted = await until(clickhouse, "SELECT count() AS n, uniqExact(id) AS ids FROM aires.events WHERE service = 'node-e2e'", (rows) => Number(rows[0].n) >= TOTAL);
  assert.equal(Number(counted[0].n), TOTAL, 'each event exactly once');
  assert.equal(Number(counted[0].ids), TOTAL);

  const [row] = await query(clickhouse, "SELECT toUnixTimestamp64Nano(timestamp) AS ts, * FROM aires.events WHERE message = 'checkout failed ✗'");
  const ts = BigInt(row.ts);
  assert.ok(ts >= before && ts <= after, `timestamp ${ts} within the program's run`);
  assert.match(row.id, /^[0-9a-f-]{36}$/);
  assert.equal(row.service, 'node-e2e');
  assert.equal(row.environment, 'e2e');
  assert.equal(row.severity, 'error');
  assert.equal(row.trace_id, '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.equal(row.span_id, '00f067aa0ba902b7');
  assert.equal(row.session_id, 'sess-1');
  assert.deepEqual(row.attributes_string, {
    requestId: 'r-1', region: 'eu', note: 'zürich 🚀', empty: '', 'user.plan': 'pro', items: '["a",1]', big: '18446744073709551615',
  });
  assert.deepEqual(
    Object.fromEntries(Object.entries(row.attributes_int).map(([k, v]) => [k, Number(v)])),
    { orderId: 123, 'user.id': 7 },
  );
  assert.deepEqual(row.attributes_float, { amount: 9.99 });
  assert.deepEqual(row.attributes_bool, { paid: false });
  assert.deepEqual(row.tags, ['checkout', 'v2']);
  assert.deepEqual(
    {
      method: row.http_method, route: row.http_route, path: row.http_path, status: row.http_status,
      durationNs: String(row.http_duration_ns), userAgent: row.http_user_agent, clientIp: row.http_client_ip,
      requestBytes: String(row.http_request_bytes), responseBytes: String(row.http_response_bytes),
      host: row.http_host, scheme: row.http_scheme,
    },
    {
      method: 'POST', route: '/pay', path: '/pay/123', status: 502, durationNs: '31500000', userAgent: 'node-test',
      clientIp: '10.0.0.1', requestBytes: '120', responseBytes: '45', host: 'shop.example', scheme: 'https',
    },
  );
  assert.equal(row.error_type, 'TypeError');
  assert.equal(row.error_message, 'payment declined');
  assert.deepEqual(row.error_chain, ['Error: gateway timeout', 'socket hang up']);
  assert.match(row.error_backtrace, /^TypeError: payment declined\n\s+at .*e2e-program\.js/);
  assert.equal(row.file, path.join(__dirname, 'e2e-program.js'));
  assert.ok(row.line > 10, String(row.line));
  assert.equal(row.module, '');
  assert.equal(row.sdk_name, 'aires-node');
  assert.equal(row.sdk_version, '0.1.0');

  const levels = await query(clickhouse, "SELECT severity FROM aires.events WHERE service = 'node-e2e' AND message LIKE 'level %' ORDER BY timestamp");
  assert.deepEqual(levels.map((r) => r.severity), ['trace', 'debug', 'info', 'warn', 'error', 'fatal']);
  const bulk = await query(clickhouse, "SELECT count() AS n, uniqExact(attributes_int['i']) AS distinct_i FROM aires.events WHERE message = 'bulk'");
  assert.equal(Number(bulk[0].n), 500);
  assert.equal(Number(bulk[0].distinct_i), 500);
});
