// How to pass the fields of one event from JavaScript into Rust: the ways
// measured before the bytes (flat fields) and the JSON string (the rest)
// were chosen. Each variant builds the same event in the core and enqueues
// it (null transport).
//
//   node bench/crossing.js     (after `npm run build`, a release build)
'use strict';
const native = require('../native.js');
const { encodeCall, encodedBuffer } = require('../dist/encode.js');
const { MESSAGE, fields } = require('./event.js');

const NONE = new Uint8Array(0);

const KEYS = ['orderId', 'amount', 'currency', 'customer', 'paid'];
const variants = {
  'JSON string (JSON.stringify, one string)': (i) => native.emit(3, MESSAGE, JSON.stringify(fields(i))),
  'bytes in a reused buffer (src/encode.ts)': (i) => native.emit(3, MESSAGE, encodedBuffer, encodeCall(NONE, fields(i))),
  'object, property by property': (i) => native._emitObject(3, MESSAGE, fields(i)),
  'flat arrays (keys, values)': (i) => {
    const f = fields(i);
    native._emitFlat(3, MESSAGE, KEYS, [f.orderId, f.amount, f.currency, f.customer, f.paid]);
  },
  'no fields (message only, the floor)': () => native.emit(3, MESSAGE),
};

const N = 200_000;
const RUNS = 7;
native.init({ service: 'bench', transport: 'null', queueCapacity: 1 << 20, overflow: 'block', envOverrides: false });

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

const results = {};
for (const [name, fn] of Object.entries(variants)) {
  for (let i = 0; i < 50_000; i++) fn(i); // warm-up
  native.flushSync(30_000);
  const runs = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) fn(i);
    runs.push(Number(process.hrtime.bigint() - t0) / N);
    native.flushSync(30_000);
  }
  results[name] = median(runs);
}
const m = native.metrics();
const base = results['JSON string (JSON.stringify, one string)'];
console.log('| way across | ns per event (median of 7 × 200k) | vs JSON string |');
console.log('|---|---:|---:|');
for (const [name, ns] of Object.entries(results)) console.log(`| ${name} | ${ns.toFixed(0)} | ${(ns / base).toFixed(2)}× |`);
console.log(`\ndropped: ${m.eventsDropped}`);
native.shutdownSync(10_000);
