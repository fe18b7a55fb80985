// Shared by the tests: the package as an application sees it, the
// in-memory transport's read-back, and child processes.
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');

const aires = require('aires');
const native = require('../native.js');

const SEVERITY = { trace: 1, debug: 2, info: 3, warn: 4, error: 5, fatal: 6 };
const NON_FINITE = new Set(['NaN', 'inf', '-inf']);
const camel = (s) => s.replace(/_([a-z])/g, (_, c) => c.toUpperCase());

/** A field's [type, text] pair of the shared records, as the tests read it: 64-bit integers stay text. */
function attribute([kind, text]) {
  switch (kind) {
    case 'str':
      return { type: 'string', value: text };
    case 'float':
      return { type: 'float', value: NON_FINITE.has(text) ? text : Number(text) };
    case 'bool':
      return { type: 'bool', value: text === 'true' };
    default:
      return { type: kind, value: text };
  }
}

/** One shared record (aires_core::sdk::record) with camelCase keys, the severity as a number. */
function event(record) {
  const e = {};
  for (const [key, value] of Object.entries(record)) e[camel(key)] = value;
  e.severity = SEVERITY[record.level];
  e.attributes = Object.fromEntries(Object.entries(record.attributes).map(([k, pair]) => [k, attribute(pair)]));
  if (record.http !== null) {
    e.http = Object.fromEntries(Object.entries(record.http).map(([k, v]) => [camel(k), v]));
    e.http.requestBytes = Number(e.http.requestBytes);
    e.http.responseBytes = Number(e.http.responseBytes);
  }
  return e;
}

/** Flushes, then returns every event the in-memory transport holds, and forgets them. */
async function drain() {
  const done = await aires.flush(10_000);
  if (!done) throw new Error('flush did not complete');
  const events = JSON.parse(native.memoryEvents()).map(event);
  native.memoryClear();
  return events;
}

/** Runs node with `args` and resolves { code, stdout, stderr }; rejects after 60 s. `options.env` adds (or, with null, removes) variables. */
function run(args, options = {}) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ...options.env };
    // null removes a variable (an empty AIRES_* value would override).
    for (const [k, v] of Object.entries(env)) if (v === null) delete env[k];
    const child = spawn(process.execPath, args, {
      cwd: path.join(__dirname, '..'),
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out: node ${args.join(' ')}\n${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

module.exports = { aires, native, drain, run };
