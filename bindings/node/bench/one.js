// One library's figures, in a process of its own: per-call cost (median of
// several timed runs), sustained events/s, and the main thread's CPU time
// per event over the sustained run (including work a library defers to
// later turns of the event loop). Prints one JSON line.
//
//   node bench/one.js aires|pino|winston|otel|aires-redact|pino-redact
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { MESSAGE, fields, secretFields, REDACT_PATHS } = require('./event.js');

const RUNS = 7;
const PER_RUN = 100_000;
const SUSTAINED = 1_000_000;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aires-bench-'));

/**
 * CPU time of the main (JavaScript) thread so far, in ns: what the calls
 * really cost that thread, whatever else the machine runs. Linux only
 * (/proc), 10 ms resolution, so it is read over the long sustained run.
 */
function mainThreadCpuNs() {
  const stat = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the line, in clock ticks (100 Hz).
  return (Number(fields[11]) + Number(fields[12])) * 1e7;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** Each setup returns { log(i), settle(): Promise (waits until everything is written/sent), dropped() }. */
const setups = {
  aires() {
    const aires = require('aires');
    // Nothing dropped: a full queue makes the caller wait (backpressure)
    // instead of dropping, so the sustained figure is what the pipeline
    // really absorbs. Otherwise the defaults (a queue of 4096 events).
    aires.init({ service: 'bench', transport: 'null', overflow: 'block', envOverrides: false });
    return {
      log: (i) => aires.info(MESSAGE, fields(i)),
      settle: () => aires.flush(60_000),
      dropped: () => aires.metrics().eventsDropped,
      sent: () => aires.metrics().eventsSent,
    };
  },
  // Redaction, with the same paths in both: a top-level key and a nested one.
  'aires-redact'() {
    const aires = require('aires');
    aires.init({ service: 'bench', transport: 'null', overflow: 'block', envOverrides: false, redact: REDACT_PATHS });
    return {
      log: (i) => aires.info(MESSAGE, secretFields(i)),
      settle: () => aires.flush(60_000),
      dropped: () => aires.metrics().eventsDropped,
    };
  },
  'pino-redact'() {
    const pino = require('pino');
    const dest = pino.destination({ dest: path.join(tmp, 'pino.log'), minLength: 4096, sync: false });
    const logger = pino({ redact: REDACT_PATHS }, dest);
    let ready = false;
    dest.once('ready', () => (ready = true));
    return {
      log: (i) => logger.info(secretFields(i), MESSAGE),
      settle: async () => {
        if (!ready) await new Promise((resolve) => dest.once('ready', resolve));
        ready = true;
        dest.flushSync();
      },
      dropped: () => 0,
    };
  },
  pino() {
    const pino = require('pino');
    const dest = pino.destination({ dest: path.join(tmp, 'pino.log'), minLength: 4096, sync: false });
    const logger = pino(dest);
    let ready = false;
    dest.once('ready', () => (ready = true));
    return {
      log: (i) => logger.info(fields(i), MESSAGE),
      settle: async () => {
        if (!ready) await new Promise((resolve) => dest.once('ready', resolve));
        ready = true;
        dest.flushSync();
      },
      dropped: () => 0,
    };
  },
  winston() {
    const winston = require('winston');
    const file = new winston.transports.File({ filename: path.join(tmp, 'winston.log') });
    const logger = winston.createLogger({ format: winston.format.json(), transports: [file] });
    return {
      log: (i) => logger.info(MESSAGE, fields(i)),
      // Written once the file stream has drained what winston queued.
      settle: () => new Promise((resolve) => setImmediate(function poll() {
        if (file._stream && file._stream.writableLength === 0 && !file._drain) resolve();
        else setTimeout(poll, 5);
      })),
      dropped: () => 0,
    };
  },
  otel() {
    const { LoggerProvider, BatchLogRecordProcessor } = require('@opentelemetry/sdk-logs');
    const { SeverityNumber } = require('@opentelemetry/api-logs');
    let exported = 0;
    const exporter = {
      export(records, done) {
        exported += records.length;
        done({ code: 0 });
      },
      forceFlush: () => Promise.resolve(),
      forceFlush: () => Promise.resolve(),
      shutdown: () => Promise.resolve(),
    };
    // A queue large enough that nothing is dropped (the default, 2048,
    // drops most of a tight loop).
    const processor = new BatchLogRecordProcessor({ exporter, maxQueueSize: 1 << 21, maxExportBatchSize: 512 });
    const provider = new LoggerProvider({ processors: [processor] });
    const logger = provider.getLogger('bench');
    let emitted = 0;
    return {
      log: (i) => {
        emitted++;
        logger.emit({ severityNumber: SeverityNumber.INFO, severityText: 'INFO', body: MESSAGE, attributes: fields(i) });
      },
      settle: () => provider.forceFlush(),
      dropped: () => emitted - exported,
    };
  },
};

async function main() {
  const name = process.argv[2];
  const lib = setups[name]();
  for (let i = 0; i < 20_000; i++) lib.log(i); // warm-up
  await lib.settle();
  const perCall = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < PER_RUN; i++) lib.log(i);
    perCall.push(Number(process.hrtime.bigint() - t0) / PER_RUN);
    await lib.settle();
  }
  // Sustained: a million events, timed until every one is written or sent.
  const cpu0 = mainThreadCpuNs();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < SUSTAINED; i++) lib.log(i);
  await lib.settle();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpuPerEvent = (mainThreadCpuNs() - cpu0) / SUSTAINED;
  const result = {
    name,
    nsPerCall: median(perCall),
    perCallRuns: perCall.map((x) => Math.round(x)),
    eventsPerSecond: SUSTAINED / seconds,
    mainThreadCpuNsPerEvent: cpuPerEvent,
    dropped: lib.dropped(),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  fs.rmSync(tmp, { recursive: true, force: true });
  process.exit(0);
}

main();
