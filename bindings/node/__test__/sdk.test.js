// This binding against the layer every SDK shares (aires_core::sdk): each
// shared option is an `init` option, documented (in the types and in the
// README) with the core's default and environment variable, and
// `metrics()` has every core counter under its shared name.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { aires, native } = require('./helpers.js');

const root = path.join(__dirname, '..');
const dts = fs.readFileSync(path.join(root, 'dist', 'index.d.ts'), 'utf8');
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');

/** The doc comment and declaration of `name` inside `interface`. */
function member(iface, name) {
  const start = dts.indexOf(`export interface ${iface} {`);
  const body = dts.slice(start, dts.indexOf('\n}', start));
  const at = body.search(new RegExp(`\\n\\s*${name}\\??:`));
  if (at < 0) return undefined;
  const docStart = body.lastIndexOf('/**', at);
  return body.slice(docStart, at + name.length + 8);
}

function renderings(unit, value) {
  if (value === '') return ['none', 'Default none'];
  if (unit === 'Bytes') {
    const n = Number(value);
    return n % (1 << 20) === 0 ? [String(n), `${n / (1 << 20)} MiB`] : [String(n)];
  }
  if (unit === 'Text') return [`\`${value}\``, `'${value}'`, ` ${value} `, ` ${value};`];
  return [value];
}

function readmeRow(name) {
  return readme.split('\n').find((line) => line.startsWith('| ') && line.split('|')[1].includes(`\`${name}\``));
}

const camel = (s) => s.replace(/_([a-z])/g, (_, c) => c.toUpperCase());

test('every shared option is an init option, documented with the core default', () => {
  for (const o of JSON.parse(native.sdkOptions())) {
    const doc = member('Options', o.jsName);
    assert.ok(doc !== undefined, `Options has no ${o.jsName}`);
    const row = readmeRow(o.jsName);
    assert.ok(row !== undefined, `the README's configuration table has no ${o.jsName}`);
    const shown = renderings(o.unit, o.default);
    assert.ok(shown.some((s) => doc.includes(s)), `${o.jsName}: default ${o.default} not in ${doc}`);
    assert.ok(shown.some((s) => row.includes(s)), `${o.jsName}: default ${o.default} not in ${row}`);
    if (o.env !== null) {
      assert.ok(doc.includes(o.env), `${o.jsName}: ${o.env} not in ${doc}`);
      assert.ok(row.includes(o.env), `${o.jsName}: ${o.env} not in ${row}`);
    }
  }
});

test('metrics() has every core counter by its shared name, as its type says', () => {
  const names = native.sdkMetricNames().map(camel).sort();
  assert.deepEqual(Object.keys(aires.metrics()).sort(), names);
  for (const name of names) assert.ok(member('Metrics', name) !== undefined, `Metrics type has no ${name}`);
});
