// OpenTelemetry logs from the OpenTelemetry JS SDK itself (not requests
// built by hand): its LoggerProvider (@opentelemetry/sdk-logs) and its
// three OTLP log exporters (-grpc, -proto: HTTP/protobuf gzipped, -http:
// HTTP/JSON) -> the real aires-collector binary -> the ClickHouse engine
// (tools/clickhouse-dev over chDB). Every stored row is read back and each
// column is checked against the mapping table in README.md ("OpenTelemetry
// logs (OTLP)").
//
// Needs the collector binary (AIRES_COLLECTOR_BIN, default
// $CARGO_TARGET_DIR/debug/aires-collector) and the ClickHouse dev venv
// (scripts/clickhouse-dev setup). scripts/test provides both and sets
// AIRES_REQUIRE_E2E=1, which turns a missing part into a failure; without
// it the tests are skipped when a part is missing.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { randomUUID } = require('node:crypto');
const { spawn } = require('node:child_process');

const { context, trace, ROOT_CONTEXT, TraceFlags } = require('@opentelemetry/api');
const { SeverityNumber } = require('@opentelemetry/api-logs');
const { LoggerProvider, SimpleLogRecordProcessor, BatchLogRecordProcessor } = require('@opentelemetry/sdk-logs');
const { defaultResource, resourceFromAttributes } = require('@opentelemetry/resources');
const { BasicTracerProvider } = require('@opentelemetry/sdk-trace-base');
const { Metadata } = require('@grpc/grpc-js');
const { OTLPLogExporter: GrpcLogExporter } = require('@opentelemetry/exporter-logs-otlp-grpc');
const { OTLPLogExporter: ProtoLogExporter } = require('@opentelemetry/exporter-logs-otlp-proto');
const { OTLPLogExporter: JsonLogExporter } = require('@opentelemetry/exporter-logs-otlp-http');

const repo = path.resolve(__dirname, '..', '..', '..', '..');
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(repo, 'target');
const collectorBin = process.env.AIRES_COLLECTOR_BIN ?? path.join(targetDir, 'debug', 'aires-collector');
const python = path.join(repo, 'tools', 'clickhouse-dev', '.venv', 'bin', 'python');
const missing = [collectorBin, python].filter((p) => !fs.existsSync(p));
const skip = missing.length > 0 && process.env.AIRES_REQUIRE_E2E !== '1' ? `missing ${missing.join(', ')}` : false;

const API_KEY = 'interop-key';
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';
const DEADLINE_MS = 60_000;

// ---- The stack: ClickHouse (dev server) and the collector binary ----------

const started = [];

/** Starts a process and resolves the first match of `pattern` in its output. */
function start(cmd, args, pattern, env = process.env) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  started.push(child);
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`${cmd} did not print ${pattern} in 60 s:\n${output}`)), DEADLINE_MS);
    const onData = (d) => {
      output += d;
      const m = output.match(pattern);
      if (m) {
        clearTimeout(timer);
        resolve(m);
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

let stack;

async function startStack() {
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'aires-otel-node-'));
  const [, clickhouse] = await start(
    python,
    [path.join(repo, 'tools', 'clickhouse-dev', 'server.py'), '--port', '0', '--data', data],
    /(http:\/\/[0-9.:]+)/,
  );
  const [listening] = await start(
    collectorBin,
    [
      '--sink', 'clickhouse', '--clickhouse-url', clickhouse,
      '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--otlp-http-listen', '127.0.0.1:0',
      '--batch-timeout-ms', '50', '--api-key', API_KEY,
    ],
    /listening.*otlp_http=\S+/,
    { ...process.env, NO_COLOR: '1' },
  );
  const addresses = Object.fromEntries([...listening.matchAll(/(grpc|metrics|otlp_http)=([0-9.:]+)/g)].map((m) => [m[1], m[2]]));
  assert.deepEqual(Object.keys(addresses).sort(), ['grpc', 'metrics', 'otlp_http'], listening);
  return { clickhouse, ...addresses };
}

test.before(async () => {
  // Missing parts fail each test (or skip it) with what is missing.
  if (missing.length === 0) stack = await startStack();
});

test.after(async () => {
  // The collector first, so it drains into ClickHouse before that stops.
  for (const child of started.reverse()) {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const code = await exited;
      if (child.spawnfile === collectorBin) assert.equal(code, 0, 'the collector shuts down cleanly');
    }
  }
});

async function query(url, sql) {
  const response = await fetch(url, { method: 'POST', body: `${sql} FORMAT JSONEachRow` });
  const text = await response.text();
  if (!response.ok) throw new Error(`${response.status}: ${text}`);
  return text.split('\n').filter(Boolean).map((line) => JSON.parse(line));
}

/** The rows of one run, polled until `count` have arrived (or the deadline passes). */
async function rowsOf(url, run, count) {
  const sql = 'SELECT *, toString(toUnixTimestamp64Nano(timestamp)) AS ts, toString(id) AS sid '
    + `FROM aires.events WHERE attributes_string['run'] = '${run}' ORDER BY timestamp`;
  const deadline = Date.now() + DEADLINE_MS;
  let rows = [];
  for (;;) {
    try {
      rows = await query(url, sql);
    } catch {
      rows = []; // the table appears once the collector has migrated
    }
    if (rows.length >= count) return rows;
    if (Date.now() > deadline) throw new Error(`${rows.length} of ${count} rows arrived: ${JSON.stringify(rows)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The collector's count of OTLP log records received. */
async function received(metricsAddr) {
  const text = await (await fetch(`http://${metricsAddr}/metrics`)).text();
  const m = text.match(/^aires_collector_otlp_log_records_received_total (\d+)$/m);
  assert.ok(m, text);
  return Number(m[1]);
}

// ---- The program: records with every kind of field, through the SDK --------

/** Passes batches to the SDK's exporter and keeps each export's result, so a
 * refused export fails the test with its own error. */
class Recording {
  constructor(inner) {
    this.inner = inner;
    this.results = [];
  }

  export(logs, done) {
    this.inner.export(logs, (result) => {
      this.results.push(result);
      done(result);
    });
  }

  forceFlush() {
    return this.inner.forceFlush();
  }

  shutdown() {
    return this.inner.shutdown();
  }
}

function providerFor(transport) {
  const resource = defaultResource().merge(resourceFromAttributes({
    'service.name': 'checkout',
    'deployment.environment.name': 'prod',
    'host.name': 'web-1',
  }));
  const headers = { 'x-api-key': API_KEY };
  let exporter;
  let processor;
  if (transport === 'grpc') {
    const metadata = new Metadata();
    metadata.set('x-api-key', API_KEY);
    exporter = new Recording(new GrpcLogExporter({ url: `http://${stack.grpc}`, metadata, timeoutMillis: 10_000 }));
    processor = new SimpleLogRecordProcessor({ exporter });
  } else if (transport === 'http-protobuf') {
    exporter = new Recording(new ProtoLogExporter({
      url: `http://${stack.otlp_http}/v1/logs`, headers, compression: 'gzip', timeoutMillis: 10_000,
    }));
    processor = new BatchLogRecordProcessor({ exporter, scheduledDelayMillis: 50 });
  } else {
    exporter = new Recording(new JsonLogExporter({
      url: `http://${stack.otlp_http}/v1/logs`, headers, timeoutMillis: 10_000,
    }));
    processor = new BatchLogRecordProcessor({ exporter, scheduledDelayMillis: 50 });
  }
  return { provider: new LoggerProvider({ resource, processors: [processor] }), exporter, resource };
}

/** The line the caller is on. */
function callerLine() {
  const frame = new Error().stack.split('\n')[2];
  return Number(frame.match(/:(\d+):\d+\)?$/)[1]);
}

class CardError extends Error {
  constructor(message) {
    super(message);
    this.name = 'CardError';
  }
}

/** Emits four records; returns what the checks need to know about them. */
function emit(provider, run, atSeconds) {
  const seen = {};
  const payments = provider.getLogger('shop.payments', '1.0.0');

  // 1. An error inside a real SDK span, with an exception object, every
  // kind of attribute value, the current HTTP and code semantic
  // conventions, and a timestamp to the nanosecond.
  const span = new BasicTracerProvider().getTracer('interop').startSpan('checkout');
  seen.spanContext = span.spanContext();
  let error;
  try {
    throw new CardError('declined by issuer');
  } catch (e) {
    error = e;
  }
  seen.stack = error.stack;
  seen.line = callerLine() + 1;
  payments.emit({
    timestamp: [atSeconds, 123_456_789],
    observedTimestamp: [atSeconds + 1, 0],
    context: trace.setSpan(context.active(), span),
    severityNumber: SeverityNumber.ERROR,
    severityText: 'ERROR',
    body: 'payment declined',
    eventName: 'payment.failed',
    exception: error,
    attributes: {
      run,
      order_id: 7,
      amount: 9.5,
      retry: false,
      raw: new Uint8Array([0, 1, 2, 255]),
      items: ['a', 2],
      card: { brand: 'visa', last4: '4242' },
      'session.id': 'sess-node',
      'http.request.method': 'POST',
      'http.route': '/pay/{id}',
      'url.path': '/pay/7',
      'http.response.status_code': 402,
      'code.file.path': __filename,
      'code.line.number': seen.line,
      'code.function.name': 'emit',
    },
  });
  span.end();

  // 2. A warning with no time of its own (the SDK stamps it) and no span.
  payments.emit({
    severityNumber: SeverityNumber.WARN,
    severityText: 'WARN',
    body: 'slow checkout',
    attributes: { run, elapsed_ms: 812 },
  });

  // 3. Explicit ids, a map body, scope attributes, the older semantic
  // convention names, an exception with a code (the SDK's type for it).
  const audit = provider.getLogger('shop.audit', '2.0.0', { attributes: { tier: 'scope', 'host.name': 'scope-host' } });
  const failure = Object.assign(new Error('bad amount'), { code: 'EAUDIT' });
  seen.auditStack = failure.stack;
  audit.emit({
    timestamp: [atSeconds + 2, 5],
    context: trace.setSpanContext(ROOT_CONTEXT, { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: TraceFlags.SAMPLED }),
    severityNumber: SeverityNumber.INFO2,
    severityText: 'WARNING',
    body: { order: 7, ok: true, lines: ['a', 'b'] },
    exception: failure,
    attributes: {
      run,
      tier: 'record',
      count: -3,
      ratio: 0.25,
      audited: true,
      'code.filepath': 'shop/audit.js',
      'code.lineno': 99,
      'code.function': 'audit',
      'code.namespace': 'shop.audit.jobs',
      'http.method': 'GET',
      'http.target': '/orders/7',
      'http.status_code': 200,
      'user_agent.original': 'curl/8.5',
      'client.address': '10.1.2.3',
      'server.address': 'shop.example',
      'url.scheme': 'https',
      'http.request.body.size': 120,
      'http.response.body.size': 48,
      'http.server.request.duration': 0.0315,
    },
  });

  // 4. A bare record: a body and the run, nothing else.
  audit.emit({ body: 'bare', attributes: { run } });
  return seen;
}

// ---- The checks -------------------------------------------------------------

/** Attributes split into the four typed maps, as the collector stores them
 * (JS numbers: integers are OTLP ints, the rest doubles). */
function typed(attributes) {
  const maps = { string: {}, int: {}, float: {}, bool: {} };
  for (const [key, value] of Object.entries(attributes)) {
    if (typeof value === 'boolean') maps.bool[key] = value;
    else if (typeof value === 'number') (Number.isInteger(value) ? maps.int : maps.float)[key] = value;
    else maps.string[key] = value;
  }
  return maps;
}

/** A row's typed maps, with ints as numbers (ClickHouse quotes 64-bit ints). */
function mapsOf(row) {
  return {
    string: row.attributes_string,
    int: Object.fromEntries(Object.entries(row.attributes_int).map(([k, v]) => [k, Number(v)])),
    float: row.attributes_float,
    bool: row.attributes_bool,
  };
}

function httpOf(row) {
  return {
    method: row.http_method, route: row.http_route, path: row.http_path, status: row.http_status,
    durationNs: Number(row.http_duration_ns), userAgent: row.http_user_agent, clientIp: row.http_client_ip,
    requestBytes: Number(row.http_request_bytes), responseBytes: Number(row.http_response_bytes),
    host: row.http_host, scheme: row.http_scheme,
  };
}

const NO_HTTP = {
  method: '', route: '', path: '', status: 0, durationNs: 0, userAgent: '', clientIp: '',
  requestBytes: 0, responseBytes: 0, host: '', scheme: '',
};

async function shipsEveryField(transport) {
  assert.deepEqual(missing, [], 'scripts/test builds the collector and the ClickHouse venv');
  const run = `node-${transport}-${randomUUID().slice(0, 8)}`;
  const before = await received(stack.metrics);
  const { provider, exporter, resource } = providerFor(transport);
  // An hour ago, to the second: the table's TTL (30 days by default) must
  // not drop the rows.
  const atSeconds = Math.floor(Date.now() / 1000) - 3600;
  const startNs = BigInt(Date.now()) * 1_000_000n;
  const seen = emit(provider, run, atSeconds);
  const endNs = (BigInt(Date.now()) + 1n) * 1_000_000n;
  await provider.forceFlush();
  await provider.shutdown();
  assert.ok(exporter.results.length > 0, 'the SDK exported');
  for (const result of exporter.results) assert.equal(result.code, 0, `export failed: ${result.error}`);

  const rows = await rowsOf(stack.clickhouse, run, 4);
  assert.equal(rows.length, 4, JSON.stringify(rows));
  const byMessage = Object.fromEntries(rows.map((row) => [row.message, row]));
  const error = byMessage['payment declined'];
  const warn = byMessage['slow checkout'];
  const bare = byMessage.bare;
  const audit = rows.find((row) => ![error, warn, bare].includes(row));
  assert.ok(error && warn && bare && audit, JSON.stringify(rows.map((r) => r.message)));

  // The resource: service and environment in their columns, the SDK in
  // sdk_name/sdk_version, every other resource attribute on every row.
  const rest = { ...resource.attributes };
  delete rest['service.name'];
  delete rest['deployment.environment.name'];
  assert.equal(rest['telemetry.sdk.language'], 'nodejs');
  assert.equal(rest['host.name'], 'web-1');
  const shared = typed(rest);
  for (const row of rows) {
    assert.equal(row.service, 'checkout');
    assert.equal(row.environment, 'prod');
    assert.equal(row.sdk_name, 'otlp-nodejs');
    assert.equal(row.sdk_version, resource.attributes['telemetry.sdk.version']);
    assert.match(row.sdk_version, /^\d+\.\d+\.\d+/);
    assert.match(row.sid, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/, 'a UUID v7');
    assert.deepEqual([row.tags, row.error_chain], [[], []]);
    assert.equal(row.attributes_string['service.name'], undefined, 'in its column only');
  }
  assert.equal(new Set(rows.map((r) => r.sid)).size, 4);

  // 1. The error in a span.
  assert.equal(error.ts, `${atSeconds}123456789`, 'time_unix_nano to the nanosecond');
  assert.equal(error.severity, 'error');
  assert.equal(error.trace_id, seen.spanContext.traceId);
  assert.equal(error.span_id, seen.spanContext.spanId);
  assert.match(error.trace_id, /^[0-9a-f]{32}$/);
  assert.equal(error.session_id, 'sess-node');
  assert.equal(error.error_type, 'CardError');
  assert.equal(error.error_message, 'declined by issuer');
  assert.equal(error.error_backtrace, seen.stack);
  assert.match(error.error_backtrace, /^CardError: declined by issuer\n\s+at /);
  assert.deepEqual([error.file, error.line, error.function], [__filename, seen.line, 'emit']);
  assert.equal(error.module, 'shop.payments', "the scope's name");
  assert.deepEqual(httpOf(error), { ...NO_HTTP, method: 'POST', route: '/pay/{id}', path: '/pay/7', status: 402 });
  const errorMaps = mapsOf(error);
  assert.deepEqual(errorMaps.int, { ...shared.int, order_id: 7 });
  assert.deepEqual(errorMaps.float, { ...shared.float, amount: 9.5 });
  assert.deepEqual(errorMaps.bool, { ...shared.bool, retry: false });
  const strings = { ...errorMaps.string };
  // JSON text: its spacing and key order are not part of the mapping.
  strings.items = JSON.parse(strings.items);
  strings.card = JSON.parse(strings.card);
  assert.deepEqual(strings, {
    ...shared.string,
    run,
    severity_text: 'ERROR',
    'event.name': 'payment.failed',
    raw: Buffer.from([0, 1, 2, 255]).toString('base64'),
    items: ['a', 2],
    card: { brand: 'visa', last4: '4242' },
  });

  // 2. The warning: stamped by the SDK while emit() ran; no ids, no error.
  assert.ok(BigInt(warn.ts) >= startNs && BigInt(warn.ts) <= endNs, `${startNs} <= ${warn.ts} <= ${endNs}`);
  assert.equal(warn.severity, 'warn');
  assert.deepEqual([warn.trace_id, warn.span_id, warn.session_id], ['', '', '']);
  assert.deepEqual([warn.error_type, warn.error_message, warn.error_backtrace], ['', '', '']);
  assert.deepEqual([warn.file, warn.line, warn.function, warn.module], ['', 0, '', 'shop.payments']);
  assert.deepEqual(httpOf(warn), NO_HTTP);
  assert.deepEqual(mapsOf(warn), {
    string: { ...shared.string, run, severity_text: 'WARN' },
    int: { ...shared.int, elapsed_ms: 812 },
    float: shared.float,
    bool: shared.bool,
  });

  // 3. The audit record: explicit everything, older names, scope attributes.
  assert.equal(audit.ts, `${atSeconds + 2}000000005`);
  assert.equal(audit.severity, 'info', 'the number (INFO2) wins over the text');
  assert.deepEqual(JSON.parse(audit.message), { order: 7, ok: true, lines: ['a', 'b'] });
  assert.deepEqual([audit.trace_id, audit.span_id, audit.session_id], [TRACE_ID, SPAN_ID, '']);
  assert.equal(audit.error_type, 'EAUDIT', "the SDK's exception.type: the error's code");
  assert.equal(audit.error_message, 'bad amount');
  assert.equal(audit.error_backtrace, seen.auditStack);
  assert.deepEqual([audit.file, audit.line, audit.function], ['shop/audit.js', 99, 'audit']);
  assert.equal(audit.module, 'shop.audit.jobs', "code.namespace over the scope's name");
  assert.deepEqual(httpOf(audit), {
    method: 'GET', route: '', path: '/orders/7', status: 200, durationNs: 31_500_000, userAgent: 'curl/8.5',
    clientIp: '10.1.2.3', requestBytes: 120, responseBytes: 48, host: 'shop.example', scheme: 'https',
  });
  assert.deepEqual(mapsOf(audit), {
    string: {
      ...shared.string,
      'host.name': 'scope-host', // the scope's over the resource's
      tier: 'record', // the record's over the scope's
      run,
      severity_text: 'WARNING',
    },
    int: { ...shared.int, count: -3 },
    float: { ...shared.float, ratio: 0.25 },
    bool: { ...shared.bool, audited: true },
  });

  // 4. The bare record: info, the scope's name and attributes.
  assert.ok(BigInt(bare.ts) >= startNs && BigInt(bare.ts) <= endNs, `${startNs} <= ${bare.ts} <= ${endNs}`);
  assert.equal(bare.severity, 'info');
  assert.deepEqual([bare.trace_id, bare.span_id, bare.error_type], ['', '', '']);
  assert.deepEqual([bare.file, bare.line, bare.function, bare.module], ['', 0, '', 'shop.audit']);
  assert.deepEqual(httpOf(bare), NO_HTTP);
  assert.deepEqual(mapsOf(bare), {
    string: { ...shared.string, 'host.name': 'scope-host', tier: 'scope', run },
    int: shared.int,
    float: shared.float,
    bool: shared.bool,
  });

  assert.equal((await received(stack.metrics)) - before, 4);
}

test('the OpenTelemetry JS SDK ships every field over OTLP/gRPC', { skip, timeout: 120_000 }, () => shipsEveryField('grpc'));
test('the OpenTelemetry JS SDK ships every field over OTLP/HTTP protobuf (gzip)', { skip, timeout: 120_000 }, () => shipsEveryField('http-protobuf'));
test('the OpenTelemetry JS SDK ships every field over OTLP/HTTP JSON', { skip, timeout: 120_000 }, () => shipsEveryField('http-json'));
