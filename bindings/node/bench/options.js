// What the optional work costs per call, in one process: the call site
// capture (captureCallSite) and the OpenTelemetry span lookup
// (@opentelemetry/api is installed here, with no span active), against
// the default, for the same event as bench/one.js.
//
//   node bench/options.js     (after `npm run build`)
'use strict';
const aires = require('aires');
const { MESSAGE, fields } = require('./event.js');

const N = 100_000;
const RUNS = 7;
const variants = {
  'default (OpenTelemetry lookup on)': {},
  'openTelemetry: false': { openTelemetry: false },
  'captureCallSite: true': { captureCallSite: true },
};

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

async function main() {
  const results = {};
  for (let round = 0; round < 2; round++) {
    for (const [name, options] of Object.entries(variants)) {
      aires.init({ service: 'bench', transport: 'null', overflow: 'block', envOverrides: false, ...options });
      for (let i = 0; i < 20_000; i++) aires.info(MESSAGE, fields(i));
      await aires.flush(60_000);
      for (let r = 0; r < RUNS; r++) {
        const t0 = process.hrtime.bigint();
        for (let i = 0; i < N; i++) aires.info(MESSAGE, fields(i));
        (results[name] ??= []).push(Number(process.hrtime.bigint() - t0) / N);
        await aires.flush(60_000);
      }
      await aires.shutdown(10_000);
    }
  }
  const base = median(results['default (OpenTelemetry lookup on)']);
  console.log('| variant | ns per call (median of 14 × 100k) | difference |');
  console.log('|---|---:|---:|');
  for (const [name, runs] of Object.entries(results)) {
    const ns = median(runs);
    console.log(`| ${name} | ${ns.toFixed(0)} | ${ns - base >= 0 ? '+' : ''}${(ns - base).toFixed(0)} ns |`);
  }
}

main();
