// Shared by the tests: the package as an application sees it, the
// in-memory transport's read-back, and child processes.
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');

const aires = require('aires');
const native = require('../native.js');

/** Flushes, then returns every event the in-memory transport holds, and forgets them. */
async function drain() {
  const done = await aires.flush(10_000);
  if (!done) throw new Error('flush did not complete');
  const events = JSON.parse(native.memoryEvents());
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
