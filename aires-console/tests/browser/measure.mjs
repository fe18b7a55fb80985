// Figures for BENCHMARKS.md (scripts/bench-console runs this): the page's
// first load (time and bytes) and live tail's event-to-screen latency, in
// Debian's Chromium. Prints JSON lines. Environment: CONSOLE_URL,
// OTLP_HTTP, CHROMIUM, RUNS (page loads, default 5), SAMPLES (tail
// events, default 20).
import { chromium } from 'playwright-core';

const CONSOLE = process.env.CONSOLE_URL;
const OTLP = process.env.OTLP_HTTP;
const runs = Number(process.env.RUNS || 5);
const samples = Number(process.env.SAMPLES || 20);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.round((xs.length - 1) * p)];

// First load, each in a fresh context (no cache): until the page's own
// load event, and until a 24-hour search's rows and histogram are shown.
const loads = [], shown = [], bytes = [];
for (let i = 0; i < runs; i++) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const started = Date.now();
  await page.goto(`${CONSOLE}/#/search?q=failed&since=24h`, { waitUntil: 'load' });
  loads.push(Date.now() - started);
  await page.waitForSelector('#results tbody tr');
  await page.waitForSelector('#histogram canvas');
  shown.push(Date.now() - started);
  bytes.push(await page.evaluate(() => performance.getEntriesByType('navigation')
    .concat(performance.getEntriesByType('resource'))
    .filter((e) => !e.name.includes('/api/'))
    .reduce((sum, e) => sum + (e.transferSize || 0), 0)));
  await context.close();
}
console.log(JSON.stringify({ case: 'page load', runs, load_ms_median: median(loads),
  results_shown_ms_median: median(shown), transfer_bytes: median(bytes) }));

// Live tail: one event at a time over OTLP/HTTP; from the collector's
// answer (stored) and from the send, until its row is on screen.
const context = await browser.newContext();
const page = await context.newPage();
await page.goto(`${CONSOLE}/#/search?q=service%3Abench-tail&since=5m&live=1`);
await page.waitForResponse((r) => r.url().endsWith('/api/tail'));
const fromStored = [], fromSent = [];
for (let i = 0; i < samples; i++) {
  const text = `tail probe ${i} ${Math.random().toString(36).slice(2)}`;
  const sent = Date.now();
  const res = await fetch(`http://${OTLP}/v1/logs`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ resourceLogs: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'bench-tail' } }] },
      scopeLogs: [{ logRecords: [{ timeUnixNano: (BigInt(sent) * 1000000n).toString(), severityNumber: 9, body: { stringValue: text } }] }],
    }] }),
  });
  if (res.status !== 200) throw new Error(`OTLP answered ${res.status}`);
  const stored = Date.now();
  await page.waitForSelector(`#results tbody tr:has-text("${text}")`, { timeout: 30000 });
  const now = Date.now();
  fromStored.push(now - stored);
  fromSent.push(now - sent);
  await page.waitForTimeout(250 + Math.random() * 500);
}
console.log(JSON.stringify({ case: 'live tail', samples,
  stored_to_screen_ms_p50: pct(fromStored, 0.5), stored_to_screen_ms_p99: pct(fromStored, 0.99),
  sent_to_screen_ms_p50: pct(fromSent, 0.5), sent_to_screen_ms_p99: pct(fromSent, 0.99) }));
await browser.close();
