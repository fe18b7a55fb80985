// The Node logging benchmark: Aires against pino, winston and the
// OpenTelemetry JS logs SDK, for the same event (a message and five
// fields), each library in processes of its own, ROUNDS rounds in
// alternating order; the table shows medians over the rounds.
//
//   npm run build && node bench/run.js [ROUNDS]
'use strict';
const { execFileSync } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');

const ROUNDS = Number(process.argv[2] ?? 3);
const LIBS = ['aires', 'pino', 'winston', 'otel', 'aires-redact', 'pino-redact'];
const LABELS = {
  aires: 'Aires (null transport)',
  pino: 'pino → file (sonic-boom, async)',
  winston: 'winston JSON → file',
  otel: 'OTel logs SDK, BatchLogRecordProcessor, no-op exporter',
  'aires-redact': 'Aires, redact 2 paths (7 fields, one nested)',
  'pino-redact': 'pino, redact the same 2 paths → file',
};

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

const results = Object.fromEntries(LIBS.map((l) => [l, []]));
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? LIBS : [...LIBS].reverse();
  for (const lib of order) {
    const out = execFileSync(process.execPath, [path.join(__dirname, 'one.js'), lib], { encoding: 'utf8' });
    const r = JSON.parse(out.trim().split('\n').pop());
    results[lib].push(r);
    process.stderr.write(
      `round ${round + 1} ${lib}: ${r.nsPerCall.toFixed(0)} ns/call, ${r.mainThreadCpuNsPerEvent.toFixed(0)} CPU ns/event, ${Math.round(r.eventsPerSecond)} events/s, dropped ${r.dropped}\n`,
    );
  }
}

const pino = median(results.pino.map((r) => r.nsPerCall));
console.log(`Node ${process.version}, ${os.cpus().length} vCPU (${os.cpus()[0].model}), ${ROUNDS} rounds, ${new Date().toISOString().slice(0, 10)}\n`);
const pinoCpu = median(results.pino.map((r) => r.mainThreadCpuNsPerEvent));
console.log('| library | ns per call (median) | vs pino | main-thread CPU ns per event, sustained (median) | vs pino | sustained events/s (median) | dropped |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const lib of LIBS) {
  const ns = median(results[lib].map((r) => r.nsPerCall));
  const eps = median(results[lib].map((r) => r.eventsPerSecond));
  const cpu = median(results[lib].map((r) => r.mainThreadCpuNsPerEvent));
  const dropped = results[lib].reduce((a, r) => a + r.dropped, 0);
  console.log(
    `| ${LABELS[lib]} | ${ns.toFixed(0)} | ${(ns / pino).toFixed(2)}× | ${cpu.toFixed(0)} | ${(cpu / pinoCpu).toFixed(2)}× | ${Math.round(eps).toLocaleString('en-US')} | ${dropped} |`,
  );
}
