// withContext over AsyncLocalStorage, and the active OpenTelemetry span.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { setTimeout: sleep } = require('node:timers/promises');
const otel = require('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
const { aires, drain } = require('./helpers.js');

const TRACE_A = '4bf92f3577b34da6a3ce929d0e0e4736';
const TRACE_B = '0af7651916cd43dd8448eb211c80319c';

test.before(() => aires.init({ service: 'ctx', transport: 'memory', envOverrides: false }));
test.after(() => aires.shutdown(5000));

test('context follows async work: await, timers, promises; concurrent contexts stay apart', async () => {
  const log = aires.child({ component: 'db' });
  async function request(traceId, sessionId) {
    await aires.withContext({ traceId, sessionId, tenant: sessionId }, async () => {
      await sleep(5);
      log.warn('after await', { ms: 812 });
      await new Promise((resolve) =>
        setTimeout(() => {
          aires.info('in timer');
          resolve();
        }, 1),
      );
      await Promise.resolve().then(() => aires.info('in then'));
      aires.withContext({ sessionId: `${sessionId}-inner` }, () => aires.info('nested'));
    });
  }
  await Promise.all([request(TRACE_A, 'sa'), request(TRACE_B, 'sb')]);
  aires.info('outside');
  const events = await drain();
  assert.equal(events.length, 9);
  for (const e of events.filter((e) => e.message !== 'outside')) {
    const expected = e.traceId === TRACE_A ? 'sa' : 'sb';
    assert.ok([TRACE_A, TRACE_B].includes(e.traceId), e.message);
    if (e.message === 'nested') {
      assert.equal(e.sessionId, `${expected}-inner`);
    } else {
      assert.equal(e.sessionId, expected, e.message);
    }
    assert.deepEqual(e.attributes.tenant, { type: 'string', value: expected });
  }
  const slow = events.filter((e) => e.message === 'after await');
  assert.equal(slow.length, 2);
  assert.deepEqual(slow[0].attributes.component, { type: 'string', value: 'db' });
  assert.deepEqual(slow[0].attributes.ms, { type: 'int', value: '812' });
  const outside = events.find((e) => e.message === 'outside');
  assert.equal(outside.traceId, '');
  assert.equal(outside.sessionId, '');
  assert.deepEqual(aires.getContext(), {});
  assert.equal(aires.withContext({ a: 1 }, () => aires.getContext().a), 1);
});

test('the active OpenTelemetry span gives trace and span ids; explicit context wins', async () => {
  const manager = new AsyncLocalStorageContextManager().enable();
  otel.context.setGlobalContextManager(manager);
  try {
    const span = otel.trace.wrapSpanContext({ traceId: TRACE_B, spanId: '00f067aa0ba902b7', traceFlags: 1 });
    await otel.context.with(otel.trace.setSpan(otel.context.active(), span), async () => {
      await sleep(1);
      aires.info('in span');
      aires.withContext({ traceId: TRACE_A }, () => aires.info('explicit wins'));
    });
    aires.info('no span');
    const [inSpan, explicit, none] = await drain();
    assert.equal(inSpan.traceId, TRACE_B);
    assert.equal(inSpan.spanId, '00f067aa0ba902b7');
    assert.equal(explicit.traceId, TRACE_A);
    assert.equal(none.traceId, '');
  } finally {
    otel.context.disable();
  }
});
