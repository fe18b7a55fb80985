// node bench/call.js: the per-call cost of aires.info with the standard
// event (five flat fields), drop policy and a queue that holds a run, so
// the call alone is timed and not the pipeline's pace. Prints the median
// and minimum ns per call over 9 runs of 200,000 calls, and the main
// thread's CPU ns per call over them (from /proc: not counting time spent
// waiting for a CPU on a busy machine).
'use strict';
const fs = require('node:fs');
const aires = require('aires');
const { MESSAGE, fields } = require('./event.js');

function mainThreadCpuNs() {
  const stat = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 1e7;
}

aires.init({ service: 'bench', transport: 'null', queueCapacity: 1 << 20, envOverrides: false });
(async () => {
  const N = 200_000;
  const runs = [];
  for (let i = 0; i < 20000; i++) aires.info(MESSAGE, fields(i));
  await aires.flush(60000);
  let cpu = 0;
  for (let r = 0; r < 9; r++) {
    const c0 = mainThreadCpuNs();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) aires.info(MESSAGE, fields(i));
    runs.push(Number(process.hrtime.bigint() - t0) / N);
    cpu += mainThreadCpuNs() - c0;
    await aires.flush(60000);
  }
  runs.sort((a, b) => a - b);
  const dropped = aires.metrics().eventsDropped;
  console.log(JSON.stringify({ median: Math.round(runs[4]), min: Math.round(runs[0]), cpuPerCall: Math.round(cpu / (9 * N)), dropped }));
  process.exit(0);
})();
