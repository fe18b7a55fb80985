// A full queue drops (never blocks, by default) and counts every drop, as
// the core does: each event is either delivered or counted.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { aires, drain } = require('./helpers.js');

test('every event is delivered or counted as dropped when the queue is full', async () => {
  aires.init({ service: 'drops', transport: 'memory', queueCapacity: 1, envOverrides: false });
  try {
    const COUNT = 20_000;
    for (let i = 0; i < COUNT; i++) aires.info('burst', { i });
    const delivered = await drain();
    const m = aires.metrics();
    assert.equal(delivered.length, m.eventsSent);
    assert.equal(m.eventsSent + m.eventsDroppedQueueFull, COUNT);
    assert.equal(m.eventsDropped, m.eventsDroppedQueueFull);
    // Delivered events are whole and in order.
    const seen = delivered.map((e) => Number(e.attributes.i.value));
    assert.deepEqual(seen, [...seen].sort((a, b) => a - b));
  } finally {
    await aires.shutdown(5000);
  }
});
