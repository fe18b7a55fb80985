// The console in a real browser (Debian's Chromium through playwright-core),
// against the dev ClickHouse filled by the demo's web-shop traffic, through
// the collector and the console binary that scripts/console-browser-test
// starts. What the page shows is checked against direct SQL counts.
//
// Environment: CONSOLE_URL, CLICKHOUSE_URL, OTLP_HTTP (the collector's
// OTLP/HTTP address), AIRES_BIN (the `aires` binary, for the command line
// on the same data), SCREENSHOTS (a directory for the screenshots kept as
// artefacts), CHROMIUM (default /usr/bin/chromium).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';

const CONSOLE = process.env.CONSOLE_URL;
const CLICKHOUSE = process.env.CLICKHOUSE_URL;
const OTLP = process.env.OTLP_HTTP;
const SHOTS = process.env.SCREENSHOTS || 'screenshots';
const DEADLINE = 20_000;
mkdirSync(SHOTS, { recursive: true });

let browser;
before(async () => {
  assert.ok(CONSOLE && CLICKHOUSE && OTLP, 'CONSOLE_URL, CLICKHOUSE_URL and OTLP_HTTP are set');
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
after(async () => { await browser?.close(); });

/** A fresh page; fails the test on any server error or page error. */
async function open(t, hash = '') {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, timezoneId: 'UTC' });
  const page = await context.newPage();
  const problems = [];
  page.on('response', (r) => { if (r.status() >= 500) problems.push(`${r.status()} ${r.url()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  t.after(async () => {
    await context.close();
    assert.deepEqual(problems, [], 'no server or page errors');
  });
  await page.goto(CONSOLE + '/' + hash);
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: `${SHOTS}/${name}.png` });
}

/** Runs SQL on the store directly; the first column of the first row. */
async function sql(query) {
  const res = await fetch(`${CLICKHOUSE}/?database=aires`, { method: 'POST', body: query });
  const text = await res.text();
  assert.ok(res.ok, `${query}: ${text}`);
  return text.trim();
}

/** Types a query line and runs it; waits for the answer. */
async function search(page, line, range = '1h') {
  await page.selectOption('#range', range);
  await page.fill('#q', line);
  const answered = page.waitForResponse((r) => r.url().endsWith('/api/search') && r.request().method() === 'POST');
  await page.click('#run');
  await answered;
  await page.waitForFunction(() => document.querySelector('#count').textContent !== 'searching…');
}

test('a word and field filters: the rows and the total match a direct SQL count', async (t) => {
  const page = await open(t);
  await search(page, 'served service:webshop route:/pay http.status:200');
  const where = `hasToken(message, 'served') AND service = 'webshop' AND http_route = '/pay' AND http_status = 200 AND timestamp >= now64(9) - INTERVAL 1 HOUR`;
  const count = Number(await sql(`SELECT count() FROM events WHERE ${where}`));
  assert.ok(count > 0, 'the demo traffic has such events');
  assert.equal(Number(await page.getAttribute('#count', 'data-total')), count, 'histogram total');
  const shown = await page.$$eval('#results tbody tr', (rows) => rows.map((r) => r.dataset.id));
  assert.equal(shown.length, Math.min(100, count), 'one page of rows');
  const newest = (await sql(`SELECT toString(id) FROM events WHERE ${where} ORDER BY timestamp DESC, toString(id) DESC LIMIT 100 FORMAT TSV`)).split('\n');
  assert.deepEqual(shown, newest, 'the same rows, newest first');
  // Older pages follow the cursor.
  if (count > 100) {
    await page.click('#more');
    await page.waitForFunction(() => document.querySelectorAll('#results tbody tr').length > 100);
    const all = await page.$$eval('#results tbody tr', (rows) => rows.map((r) => r.dataset.id));
    assert.equal(new Set(all).size, all.length, 'no row twice');
  }
  await shot(page, 'search');
});

test('an event opens with its error chain, and its trace follows', async (t) => {
  const page = await open(t);
  await search(page, 'error:* route:/pay');
  await page.click('#results tbody tr:first-child');
  await page.waitForSelector('#detail:not([hidden]) #detail-error');
  const detail = await page.textContent('#detail-body');
  assert.match(detail, /payment for order \d+ was declined/);
  assert.match(detail, /caused by: card gateway timed out after 30s/);
  assert.match(detail, /order_id/);
  assert.match(await page.textContent('#detail-error pre'), /demo_traffic::main/, 'the backtrace');
  assert.match(detail, /examples\/demo_traffic\.rs:\d+/, 'the call site');
  await shot(page, 'event');
  const traceId = (await page.getAttribute('#detail-trace', 'href')).split('/').pop();
  await page.click('#detail-trace');
  await page.waitForSelector('#view-trace:not([hidden]) #trace-events tbody tr');
  const rows = await page.$$eval('#trace-events tbody tr', (r) => r.length);
  assert.equal(rows, Number(await sql(`SELECT count() FROM events WHERE trace_id = '${traceId}'`)));
  assert.ok(await page.$$eval('#trace-timeline .lane', (l) => l.length) >= 1);
  assert.ok(await page.$$eval('#trace-timeline .dot', (d) => d.length) === rows, 'one dot per event');
  await shot(page, 'trace');
});

test('live tail shows a freshly stored event within seconds', async (t) => {
  const page = await open(t);
  await search(page, 'service:browser-test');
  await page.click('#live');
  await page.waitForResponse((r) => r.url().endsWith('/api/tail'));
  const text = `fresh event ${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const sent = Date.now();
  const nanos = (BigInt(sent) * 1000000n).toString();
  const res = await fetch(`http://${OTLP}/v1/logs`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ resourceLogs: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'browser-test' } }] },
      scopeLogs: [{ scope: { name: 'browser' }, logRecords: [{
        timeUnixNano: nanos, severityNumber: 9, severityText: 'INFO', body: { stringValue: text } }] }],
    }] }),
  });
  assert.equal(res.status, 200, 'the collector stored it');
  const stored = Date.now();
  await page.waitForSelector(`#results tbody tr:has-text("${text}")`, { timeout: DEADLINE });
  const onScreen = Date.now();
  writeFileSync(`${SHOTS}/tail-latency.json`, JSON.stringify({ sent_to_screen_ms: onScreen - sent, stored_to_screen_ms: onScreen - stored }));
  // Pausing keeps what is shown and where the tail is: what arrives
  // meanwhile comes on resuming, and nothing twice.
  await page.click('#live');
  assert.equal(await page.getAttribute('#live', 'aria-pressed'), 'false');
  assert.ok(await page.$(`#results tbody tr:has-text("${text}")`), 'still shown when paused');
  const during = `${text} while paused`;
  assert.equal((await sendLog('browser-test', during)).status, 200);
  await page.click('#live');
  await page.waitForSelector(`#results tbody tr:has-text("${during}")`, { timeout: DEADLINE });
  assert.equal(await page.$$eval('#results tbody tr', (rows, t) => rows.filter((r) => r.textContent.includes(t) && !r.textContent.includes('paused')).length, text), 1);
  await shot(page, 'tail');
});

/** Sends one log record over OTLP/HTTP JSON to the collector. */
function sendLog(service, body, attributes = []) {
  return fetch(`http://${OTLP}/v1/logs`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ resourceLogs: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
      scopeLogs: [{ logRecords: [{ timeUnixNano: (BigInt(Date.now()) * 1000000n).toString(), severityNumber: 9, body: { stringValue: body }, attributes }] }],
    }] }),
  });
}

test('an event links to the other events of its session', async (t) => {
  // A session id with a quote and a backslash: the link must quote it.
  const session = `s-${Date.now()} "quoted" \\ id`;
  const attrs = [{ key: 'session.id', value: { stringValue: session } }];
  for (const body of ['session start', 'session step', 'session end']) {
    assert.equal((await sendLog('browser-session', body, attrs)).status, 200);
  }
  await sendLog('browser-session', 'another session', [{ key: 'session.id', value: { stringValue: 'other' } }]);
  const page = await open(t);
  await search(page, 'service:browser-session "session end"');
  await page.click('#results tbody tr:first-child');
  await page.waitForSelector('#detail:not([hidden]) #detail-session');
  const answered = page.waitForResponse((r) => r.url().endsWith('/api/search'));
  await page.click('#detail-session');
  await answered;
  await page.waitForFunction(() => document.querySelector('#count').textContent !== 'searching…');
  const messages = await page.$$eval('#results tbody tr', (rows) => rows.map((r) => r.children[3].textContent));
  assert.deepEqual(messages.sort(), ['session end', 'session start', 'session step']);
});

test('live tail under a flood samples, says so on screen, and stays responsive', async (t) => {
  const page = await open(t);
  await search(page, 'service:browser-flood');
  await page.click('#live');
  await page.waitForResponse((r) => r.url().endsWith('/api/tail'));
  const now = BigInt(Date.now()) * 1000000n;
  const records = Array.from({ length: 3000 }, (_, i) => ({
    timeUnixNano: (now + BigInt(i)).toString(), severityNumber: 9, body: { stringValue: `flood ${i}` } }));
  const res = await fetch(`http://${OTLP}/v1/logs`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ resourceLogs: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'browser-flood' } }] },
      scopeLogs: [{ logRecords: records }] }] }),
  });
  assert.equal(res.status, 200);
  await page.waitForFunction(() => /too many to show/.test(document.querySelector('#tail-rate').textContent), null, { timeout: DEADLINE });
  const said = await page.textContent('#tail-rate');
  assert.match(said, /3,000 new events/);
  const rows = await page.$$eval('#results tbody tr', (r) => r.length);
  assert.ok(rows > 0 && rows <= 1000, `rows shown: ${rows}`);
  // Still responsive: the page takes a click and pauses.
  await page.click('#live', { timeout: DEADLINE });
  assert.equal(await page.getAttribute('#live', 'aria-pressed'), 'false');
  await shot(page, 'tail-flood');
});

test('the dashboards render non-empty series from the views', async (t) => {
  const page = await open(t, '#/dashboards');
  await page.waitForSelector('#dash-errors[data-series]');
  assert.ok(Number(await page.getAttribute('#dash-errors', 'data-series')) >= 1);
  assert.ok(Number(await page.getAttribute('#dash-errors', 'data-points')) >= 1);
  await page.waitForSelector('#dash-latency .route[data-series]');
  const routes = await page.$$eval('#dash-latency .route', (r) => r.map((e) => Number(e.dataset.points)));
  const expected = Number(await sql(`SELECT uniqExact(route) FROM http_latency_per_minute WHERE minute >= now() - INTERVAL 1 HOUR`));
  assert.equal(routes.length, Math.min(8, expected));
  assert.ok(routes.every((points) => points > 0), 'every route has points');
  assert.ok(await page.$('#dash-errors canvas'), 'drawn');
  await shot(page, 'dashboards');
});

test('hostile query text gets a clear error or no rows, never a server error', async (t) => {
  const page = await open(t);
  const before = await sql('SELECT count() FROM events');
  await search(page, `'; DROP TABLE events; --`);
  assert.equal(await page.isHidden('#error'), true);
  assert.equal(await page.$$eval('#results tbody tr', (r) => r.length), 0);
  await search(page, `service:"x' OR 1=1 --"`);
  assert.equal(await page.$$eval('#results tbody tr', (r) => r.length), 0);
  await search(page, '"never closed');
  assert.match(await page.textContent('#error'), /never closed/);
  await search(page, 'x'.repeat(100 * 1024));
  assert.match(await page.textContent('#error'), /at most 4096 are accepted/);
  await shot(page, 'hostile');
  assert.ok(Number(await sql('SELECT count() FROM events')) >= Number(before), 'nothing deleted');
});

test('dragging on the histogram narrows the range', async (t) => {
  const page = await open(t);
  await search(page, '', '1h');
  const total = Number(await page.getAttribute('#count', 'data-total'));
  const box = await (await page.$('#histogram .u-over')).boundingBox();
  const asked = page.waitForRequest((r) => r.url().endsWith('/api/search'));
  await page.mouse.move(box.x + box.width * 0.50, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.99, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  const body = JSON.parse((await asked).postData());
  await page.waitForFunction(() => document.querySelector('#count').textContent !== 'searching…');
  assert.equal(await page.inputValue('#range'), 'custom');
  // About the second half of the hour, in the request the drag made.
  const span = Number(body.to) - Number(body.from);
  assert.ok(span > 0.40 * 3600e3 && span < 0.55 * 3600e3, `span ${span} ms`);
  assert.ok(Math.abs(Number(body.to) - Date.now()) < 0.1 * 3600e3, 'ends near now');
  assert.ok(Number(await page.getAttribute('#count', 'data-total')) <= total);
});

test('the command line finds the same events in the same store', async () => {
  const aires = (...args) => execFileSync(process.env.AIRES_BIN, ['--clickhouse-url', CLICKHOUSE, ...args], { encoding: 'utf8' });
  const lines = aires('search', 'served', 'route:/pay', '--since', '1h', '--limit', '100000', '--json').trim().split('\n');
  const count = Number(await sql(`SELECT count() FROM events WHERE hasToken(message, 'served') AND http_route = '/pay' AND timestamp >= now64(9) - INTERVAL 1 HOUR`));
  assert.equal(lines.length, count);
  assert.ok(lines.every((l) => JSON.parse(l).http_route === '/pay'));
  const trace = await sql(`SELECT trace_id FROM events WHERE severity = 'error' AND service = 'webshop' ORDER BY timestamp DESC LIMIT 1`);
  const traced = aires('trace', trace, '--json').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(traced.length, Number(await sql(`SELECT count() FROM events WHERE trace_id = '${trace}'`)));
  assert.ok(traced.every((e) => e.trace_id === trace));
  const errors = aires('errors', 'service:webshop', '--limit', '3');
  assert.match(errors, /caused by: (card gateway timed out after 30s|inventory service reset the connection)/);
  assert.equal(errors.split('\n').filter((l) => l.includes('ERROR')).length, 3);
});
