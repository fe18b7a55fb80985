// The cross-language conformance cases (conformance/cases.json) through the
// Node SDK: each case is a logging call made as a Node user makes it, and
// its canonical row (aires_core::sdk::rows, the same code in every SDK)
// must be the case's.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { aires, native } = require('./helpers.js');

const { cases } = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'conformance', 'cases.json'), 'utf8'));

function text(v) {
  return typeof v === 'string' ? v : v.$repeat.repeat(v.times) + (v.then ?? '');
}

/** A tagged JSON value as the JavaScript value a user would pass. */
function value(v) {
  if (Array.isArray(v)) return v.map(value);
  if (v === null || typeof v !== 'object') return v;
  if ('$bigint' in v) return BigInt(v.$bigint);
  if ('$float' in v) return { NaN: NaN, inf: Infinity, '-inf': -Infinity }[v.$float];
  if ('$datetime' in v) return new Date(v.$datetime);
  if ('$bytes' in v) return Buffer.from(v.$bytes, 'base64');
  if ('$repeat' in v) return text(v);
  if ('$utf16' in v) return String.fromCharCode(...v.$utf16);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, value(x)]));
}

function expand(v) {
  if (Array.isArray(v)) return v.map(expand);
  if (v === null || typeof v !== 'object') return v;
  if ('$repeat' in v) return text(v);
  if ('$utf16' in v) return String.fromCharCode(...v.$utf16);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, expand(x)]));
}

const ID_KEYS = { trace_id: 'traceId', span_id: 'spanId', session_id: 'sessionId' };

function call(c) {
  const fields = value(c.fields ?? {});
  for (const [k, v] of Object.entries(c.ids ?? {})) fields[ID_KEYS[k]] = v;
  if (c.error) fields.err = new globalThis[c.error.type](c.error.message);
  const logger = c.bindings ? aires.child(value(c.bindings)) : aires.logger;
  const log = () => logger[c.level ?? 'info'](text(c.message), fields);
  if (c.context) aires.withContext(value(c.context), log);
  else log();
}

test.before(() => aires.init({ service: 'conformance', transport: 'memory', level: 'trace', envOverrides: false }));
test.after(() => aires.shutdown(5000));

for (const c of cases.filter((c) => !(c.not && 'node' in c.not))) {
  test(c.name, async () => {
    native.memoryClear();
    call(c);
    assert.ok(await aires.flush(10_000));
    const rows = JSON.parse(native.memoryRows());
    assert.equal(rows.length, 1);
    for (const [key, want] of Object.entries(expand(c.row))) {
      assert.deepStrictEqual(rows[0][key], want, key);
    }
  });
}
