// Emits from a worker thread: attaches to the process's pipeline.
'use strict';
const { workerData, parentPort } = require('node:worker_threads');
const aires = require('aires');

aires.init({ transport: 'memory' });
const log = aires.child({ thread: workerData.name });
for (let i = 0; i < workerData.count; i++) log.info('from worker', { i });
aires.flush(10_000).then((done) => parentPort.postMessage(done));
