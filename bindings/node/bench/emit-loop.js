// N calls of the addon's per-event function with a fixed 5-field JSON text,
// for counting its instructions under callgrind (see BENCHMARKS.md, "Node
// SDK"): run it with two values of N and divide the difference.
//
//   valgrind --tool=callgrind --separate-threads=yes --collect-atstart=no \
//     --toggle-collect='*emit_callback*' node bench/emit-loop.js 20000
'use strict';
const native = require('../native.js');
const { MESSAGE, fields } = require('./event.js');

const calls = Number(process.argv[2] ?? 20000);
native.init({ service: 'bench', transport: 'null', queueCapacity: 1 << 20, overflow: 'block', envOverrides: false });
const json = JSON.stringify(fields(1));
for (let i = 0; i < calls; i++) native.emit(3, MESSAGE, json);
native.shutdownSync(10_000);
