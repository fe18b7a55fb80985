// worker_threads: the addon loads in each worker and all share one pipeline.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { once } = require('node:events');
const { aires, drain } = require('./helpers.js');

test('the main thread and two workers emit into one pipeline', async () => {
  aires.init({ service: 'workers', transport: 'memory', queueCapacity: 65536, envOverrides: false });
  try {
    const COUNT = 2000;
    const workers = ['w1', 'w2'].map(
      (name) => new Worker(path.join(__dirname, 'worker-emit.js'), { workerData: { name, count: COUNT } }),
    );
    // Listen before anything can arrive: an event with no listener is lost.
    const finished = workers.map((worker) =>
      Promise.all([once(worker, 'message'), once(worker, 'exit')]),
    );
    const log = aires.child({ thread: 'main' });
    for (let i = 0; i < COUNT; i++) log.info('from main', { i });
    for (const [[flushed], [code]] of await Promise.all(finished)) {
      assert.equal(flushed, true);
      assert.equal(code, 0);
    }
    const events = await drain();
    const byThread = {};
    for (const e of events) {
      const thread = e.attributes.thread.value;
      (byThread[thread] ??= new Set()).add(e.attributes.i.value);
    }
    assert.deepEqual(Object.keys(byThread).sort(), ['main', 'w1', 'w2']);
    for (const thread of Object.keys(byThread)) assert.equal(byThread[thread].size, COUNT, thread);
    assert.equal(events.length, 3 * COUNT);
    assert.equal(aires.metrics().eventsDroppedQueueFull, 0);
  } finally {
    await aires.shutdown(5000);
  }
});
