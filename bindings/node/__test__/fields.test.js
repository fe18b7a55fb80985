// Fields, levels, child loggers, errors and bad input, over the core's
// in-memory transport.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { aires, native, drain } = require('./helpers.js');

test.before(() => {
  // Nothing is running yet: this event is counted as dropped before init.
  aires.info('too early');
  assert.equal(aires.metrics().eventsDroppedBeforeInit, 1);
  aires.init({ service: 'node-tests', environment: 'test', transport: 'memory', level: 'debug', envOverrides: false });
});
test.after(() => aires.shutdown(5000));

function attrs(event) {
  return event.attributes;
}

test('every field type arrives with its type', async () => {
  aires.info('types ✓ 日本', {
    int: 123,
    negative: -7,
    float: 9.99,
    tiny: 5e-324,
    max: Number.MAX_SAFE_INTEGER,
    bigNeg: -(2n ** 63n),
    bigU64: 2n ** 64n - 1n,
    bigHuge: 2n ** 70n,
    yes: true,
    no: false,
    empty: '',
    unicode: 'zürich 🚀 \u0000 nul',
    nan: NaN,
    inf: Infinity,
    negInf: -Infinity,
  });
  const [e] = await drain();
  assert.equal(e.message, 'types ✓ 日本');
  assert.equal(e.severity, 3);
  assert.equal(e.sdkName, 'aires-node');
  assert.equal(e.service, 'node-tests');
  assert.equal(e.environment, 'test');
  assert.deepEqual(attrs(e), {
    int: { type: 'int', value: '123' },
    negative: { type: 'int', value: '-7' },
    float: { type: 'float', value: 9.99 },
    tiny: { type: 'float', value: 5e-324 },
    max: { type: 'int', value: String(Number.MAX_SAFE_INTEGER) },
    bigNeg: { type: 'int', value: '-9223372036854775808' },
    bigU64: { type: 'uint', value: '18446744073709551615' },
    bigHuge: { type: 'string', value: String(2n ** 70n) },
    yes: { type: 'bool', value: true },
    no: { type: 'bool', value: false },
    empty: { type: 'string', value: '' },
    unicode: { type: 'string', value: 'zürich 🚀 \u0000 nul' },
    nan: { type: 'float', value: 'NaN' },
    inf: { type: 'float', value: 'inf' },
    negInf: { type: 'float', value: '-inf' },
  });
  assert.match(e.id, /^[0-9a-f]{32}$/);
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  assert.ok(nowNs - BigInt(e.timestampUnixNano) < 60_000_000_000n);
});

test('nested values are flattened, arrays and dates become text, empty values are skipped', async () => {
  const circular = { name: 'loop' };
  circular.self = circular;
  aires.info('nested', {
    user: { id: 7, address: { city: 'Köln' } },
    list: [1, 'two', { three: 3 }, 4n],
    when: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6)),
    bad: new Date(NaN),
    circular,
    cause: new RangeError('nested error'),
    map: new Map([['k', 1]]),
    nothing: null,
    missing: undefined,
    fn() {},
    sym: Symbol('s'),
  });
  const [e] = await drain();
  const a = attrs(e);
  assert.deepEqual(a['user.id'], { type: 'int', value: '7' });
  assert.deepEqual(a['user.address.city'], { type: 'string', value: 'Köln' });
  assert.deepEqual(a.list, { type: 'string', value: '[1,"two",{"three":3},"4"]' });
  assert.deepEqual(a.when, { type: 'string', value: '2026-01-02T03:04:05.006Z' });
  assert.deepEqual(a.bad, { type: 'string', value: 'Invalid Date' });
  assert.deepEqual(a['circular.name'], { type: 'string', value: 'loop' });
  assert.deepEqual(a['circular.self'], { type: 'string', value: '[Circular]' });
  assert.deepEqual(a['cause.name'], { type: 'string', value: 'RangeError' });
  assert.deepEqual(a['cause.message'], { type: 'string', value: 'nested error' });
  assert.match(a['cause.stack'].value, /RangeError: nested error/);
  assert.deepEqual(a.map, { type: 'string', value: '[["k",1]]' });
  for (const skipped of ['nothing', 'missing', 'fn', 'sym']) assert.equal(a[skipped], undefined, skipped);
});

test('a string that looks like an internal type marker stays the string it is', async () => {
  const forged = '\u0000\u0001aires:bigint:12345';
  const nan = '\u0000\u0001aires:float:NaN';
  aires.info('forged', { forged, nan, nested: { forged } });
  aires.child({ bound: forged }).info('bound');
  const [flat, bound] = await drain();
  const a = attrs(flat);
  assert.deepEqual(a.forged, { type: 'string', value: forged });
  assert.deepEqual(a.nan, { type: 'string', value: nan });
  assert.deepEqual(a['nested.forged'], { type: 'string', value: forged });
  assert.deepEqual(attrs(bound).bound, { type: 'string', value: forged });
});

test('levels below the threshold are filtered in JavaScript; all six levels are recorded', async () => {
  const before = aires.metrics().eventsEnqueued;
  aires.trace('filtered');
  assert.equal(aires.isLevelEnabled('trace'), false);
  assert.equal(aires.metrics().eventsEnqueued, before, 'a filtered call must not reach the core');
  aires.setLevel('trace');
  try {
    for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal']) aires[level](level);
    const events = await drain();
    assert.deepEqual(
      events.map((e) => [e.message, e.severity]),
      [['trace', 1], ['debug', 2], ['info', 3], ['warn', 4], ['error', 5], ['fatal', 6]],
    );
    aires.setLevel('error');
    aires.warn('filtered');
    aires.child({ a: 1 }).info('filtered');
    aires.error('kept');
    assert.deepEqual((await drain()).map((e) => e.message), ['kept']);
  } finally {
    aires.setLevel('debug');
  }
});

test('child loggers merge bindings; call fields win, nested children add up', async () => {
  const log = aires.child({ requestId: 'r-1', region: 'eu', shared: 'child' });
  const deeper = log.child({ step: 2, shared: 'grandchild' });
  log.info('one', { shared: 'call', ms: 5 });
  deeper.warn('two');
  aires.info('root');
  const [one, two, root] = await drain();
  assert.deepEqual(attrs(one), {
    requestId: { type: 'string', value: 'r-1' },
    region: { type: 'string', value: 'eu' },
    shared: { type: 'string', value: 'call' },
    ms: { type: 'int', value: '5' },
  });
  assert.deepEqual(attrs(two), {
    requestId: { type: 'string', value: 'r-1' },
    region: { type: 'string', value: 'eu' },
    shared: { type: 'string', value: 'grandchild' },
    step: { type: 'int', value: '2' },
  });
  assert.deepEqual(attrs(root), {});
  assert.throws(() => aires.child(null), TypeError);
});

test('errors: name, message, stack and the cause chain', async () => {
  const err = new TypeError('payment failed', {
    cause: new Error('gateway timeout', { cause: { code: 'ETIMEDOUT' } }),
  });
  aires.error('checkout failed', { err, http: { method: 'POST', route: '/pay', path: '/pay/9', status: 502, durationMs: 31.5, userAgent: 'ua', clientIp: '10.0.0.1', requestBytes: 10, responseBytes: 20, host: 'shop', scheme: 'https' }, orderId: 9 });
  aires.error(new RangeError('thrown directly'));
  const looped = new Error('loop');
  looped.cause = looped;
  aires.warn('self cause', { error: looped });
  const [first, direct, loop] = await drain();
  assert.equal(first.message, 'checkout failed');
  assert.deepEqual(
    { ...first.error, backtrace: undefined },
    { type: 'TypeError', message: 'payment failed', chain: ['Error: gateway timeout', '{"code":"ETIMEDOUT"}'], backtrace: undefined },
  );
  assert.match(first.error.backtrace, /^TypeError: payment failed\n\s+at /);
  assert.deepEqual(first.http, {
    method: 'POST', route: '/pay', path: '/pay/9', status: 502, durationNanos: '31500000',
    userAgent: 'ua', clientIp: '10.0.0.1', requestBytes: 10, responseBytes: 20, host: 'shop', scheme: 'https',
  });
  assert.deepEqual(attrs(first), { orderId: { type: 'int', value: '9' } });
  assert.equal(direct.message, 'thrown directly');
  assert.equal(direct.error.type, 'RangeError');
  assert.deepEqual(loop.error.chain, []);
});

test('reserved keys fill their columns; malformed ones stay fields', async () => {
  aires.info('ids', { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', sessionId: 'sess-9', tags: ['a', 'b'] });
  aires.info('bad ids', { traceId: 'nope', tags: [1, 2] });
  const [ok, bad] = await drain();
  assert.equal(ok.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.equal(ok.spanId, '00f067aa0ba902b7');
  assert.equal(ok.sessionId, 'sess-9');
  assert.deepEqual(ok.tags, ['a', 'b']);
  assert.deepEqual(attrs(ok), {});
  assert.equal(bad.traceId, '');
  assert.deepEqual(attrs(bad), { traceId: { type: 'string', value: 'nope' }, tags: { type: 'string', value: '[1,2]' } });
});

test('repeated messages and changing key orders keep every value with its key', async () => {
  const shapes = [
    ['order placed', { orderId: 1, currency: 'EUR', paid: true }],
    ['order placed', { currency: 'USD', orderId: 2 }],
    ['refund', { orderId: 3, reason: 'late', amount: 1.5, paid: false }],
    ['order placed', { orderId: 4, currency: 'EUR', paid: true }],
    ['x'.repeat(200), { ['k'.repeat(80)]: 'long key', orderId: 5 }],
    ['order placed', { a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, a2: 7 }],
  ];
  for (let round = 0; round < 3; round++) {
    for (const [message, fields] of shapes) aires.info(message, fields);
  }
  const events = await drain();
  assert.equal(events.length, shapes.length * 3);
  events.forEach((e, i) => {
    const [message, fields] = shapes[i % shapes.length];
    assert.equal(e.message, message);
    assert.deepEqual(Object.keys(attrs(e)).sort(), Object.keys(fields).sort(), `event ${i}`);
    for (const [k, v] of Object.entries(fields)) {
      const expected =
        typeof v === 'boolean' ? { type: 'bool', value: v }
        : typeof v === 'string' ? { type: 'string', value: v }
        : Number.isInteger(v) ? { type: 'int', value: String(v) }
        : { type: 'float', value: v };
      assert.deepEqual(attrs(e)[k], expected, `event ${i} ${k}`);
    }
  });
});

test('flat fields sent as bytes arrive exactly as the JSON way sends them', async () => {
  const fields = {
    ascii: 'EUR',
    accents: 'zürich, ÅÆØ',
    emoji: '🚀 done',
    lone: 'x\uD800y',
    control: 'tab\tnul\u0000',
    empty: '',
    negZero: -0,
    int: 42,
    safe: Number.MAX_SAFE_INTEGER,
    two63: 2 ** 63,
    big: 1e20,
    huge: 1e21,
    float: 1.5,
    tiny: 5e-324,
    yes: true,
    no: false,
    skippedNull: null,
    skippedUndefined: undefined,
  };
  aires.info('bytes', fields);
  // A context makes the same call go the JSON way.
  aires.withContext({ via: 'json' }, () => aires.info('json', fields));
  aires.child({ bound: 'b', int: 1 }).info('bytes, bound', fields);
  const [bytes, json, bound] = await drain();
  // 2 ** 63 is exact as bytes; its JSON text is V8's shortest decimal form
  // of the same double, 9223372036854776000.
  const { via, two63: jsonTwo63, ...jsonAttrs } = attrs(json);
  const { two63, ...bytesAttrs } = attrs(bytes);
  assert.deepEqual(via, { type: 'string', value: 'json' });
  assert.deepEqual(bytesAttrs, jsonAttrs);
  assert.deepEqual(two63, { type: 'uint', value: '9223372036854775808' });
  assert.deepEqual(jsonTwo63, { type: 'uint', value: '9223372036854776000' });
  assert.deepEqual(bytesAttrs.lone, { type: 'string', value: 'x\uFFFDy' });
  assert.deepEqual(bytesAttrs.big, { type: 'float', value: 1e20 });
  assert.deepEqual(attrs(bound), { ...attrs(bytes), bound: { type: 'string', value: 'b' } }, 'call fields win over bindings');
});

test('the bytes way falls back to JSON for what it cannot carry', async () => {
  // A getter that logs while the fields are written: its event goes the
  // JSON way and the outer one keeps its own fields.
  const outer = {
    before: 1,
    get nested() {
      aires.info('from a getter', { inner: true });
      return 'n';
    },
    after: 2,
  };
  aires.info('outer', outer);
  const [fromGetter, outerEvent] = await drain();
  assert.equal(fromGetter.message, 'from a getter');
  assert.deepEqual(attrs(fromGetter), { inner: { type: 'bool', value: true } });
  assert.deepEqual(attrs(outerEvent), {
    before: { type: 'int', value: '1' },
    nested: { type: 'string', value: 'n' },
    after: { type: 'int', value: '2' },
  });
  // A string too long for the buffer (the core then cuts it at its value
  // limit, as on the JSON way); more distinct keys than a thread gets ids for.
  const long = 'é'.repeat(40_000);
  aires.info('long', { long });
  aires.withContext({ via: 'json' }, () => aires.info('long', { long }));
  for (let i = 0; i < 4200; i++) aires.info('key', { [`key${i}`]: i });
  const events = await drain();
  assert.equal(events.length, 2 + 4200);
  assert.ok(attrs(events[0]).long.value.startsWith('éééé'));
  assert.deepEqual(attrs(events[0]).long, attrs(events[1]).long);
  for (let i = 0; i < 4200; i++) {
    assert.deepEqual(attrs(events[2 + i]), { [`key${i}`]: { type: 'int', value: String(i) } }, `key${i}`);
  }
});

test('a dropped or refused event leaves nothing for the next one', async () => {
  // Fields of a call refused half decoded (a malformed text from a direct
  // call) must not reach the next event without fields.
  assert.throws(() => native.emit(3, 'refused', '{"card":"4242","sessionId":"victim",'), TypeError);
  aires.error(new Error('unrelated'));
  aires.info('plain');
  const events = await drain();
  assert.deepEqual(events.map((e) => [e.message, attrs(e), e.sessionId]), [
    ['unrelated', {}, ''],
    ['plain', {}, ''],
  ]);
});

test('fields that are not a plain object are recorded as JSON.stringify sees them', async () => {
  class Card {
    constructor() {
      this.number = '4242 4242 4242 4242';
      this.last4 = '4242';
    }
    toJSON() {
      return { last4: this.last4 };
    }
  }
  const inherited = Object.create({ inherited: 1 });
  inherited.own = 2;
  const bare = Object.assign(Object.create(null), { a: 1 });
  aires.info('toJSON', new Card());
  aires.info('inherited', inherited);
  aires.info('array', ['a', 'b']);
  aires.info('date', new Date(0));
  aires.info('bare', bare);
  aires.child({ requestId: 'r-1' }).info('array, bound', ['a']);
  const byMessage = Object.fromEntries((await drain()).map((e) => [e.message, attrs(e)]));
  assert.deepEqual(byMessage.toJSON, { last4: { type: 'string', value: '4242' } }, 'toJSON redaction holds');
  assert.deepEqual(byMessage.inherited, { own: { type: 'int', value: '2' } });
  assert.deepEqual(byMessage.array, { value: { type: 'string', value: '["a","b"]' } });
  assert.deepEqual(byMessage.date, { value: { type: 'string', value: '1970-01-01T00:00:00.000Z' } });
  assert.deepEqual(byMessage.bare, { a: { type: 'int', value: '1' } });
  assert.deepEqual(byMessage['array, bound'], {
    requestId: { type: 'string', value: 'r-1' },
    value: { type: 'string', value: '["a"]' },
  });
});

test('bad input throws a clear error, never aborts', async () => {
  assert.throws(() => aires.init('x'), { name: 'TypeError', message: /options must be an object/ });
  assert.throws(() => aires.init({ batchSize: -1 }), { name: 'TypeError', message: /batchSize must be an integer/ });
  assert.throws(() => aires.init({ level: 'loud' }), { name: 'TypeError', message: /level must be one of/ });
  assert.throws(() => aires.init({ transport: 'memory' }), /already initialized/);
  assert.throws(() => native.panicForTest(), /deliberate panic/);
  assert.throws(() => native.emit(9, 'x'), /level must be 1..=6/);
  assert.throws(() => native.emit(3, 'x', 'not json'), { name: 'TypeError', message: /fields are not a JSON object/ });
  assert.throws(() => native.emit(3, 'x', '{"a":1,}'), { name: 'TypeError', message: /fields are not a JSON object/ });
  assert.throws(() => native.emit('info', 'x'), { name: 'TypeError', message: /level must be an integer/ });
  assert.throws(() => native.emit(2 ** 32 + 3, 'x'), { name: 'TypeError', message: /level must be an integer/ });
  assert.throws(() => native.emit(3.5, 'x'), { name: 'TypeError', message: /level must be an integer/ });
  assert.throws(() => native.emit(3, 42), { name: 'TypeError', message: /expected a string/ });
  assert.throws(() => native.emit(3, 'x', { a: 1 }), { name: 'TypeError', message: /JSON text or an ArrayBuffer/ });
  assert.throws(() => native.emit(3, 'x', new ArrayBuffer(4), 8), { name: 'TypeError', message: /past the buffer/ });
  assert.throws(() => native.emit(3, 'x', new Uint8Array([9, 0, 0]).buffer, 3), { name: 'TypeError', message: /encoded fields are malformed at byte 0/ });
  assert.throws(() => native.emit(3, 'x', new ArrayBuffer(4), 'four'), { name: 'TypeError', message: /length must be an integer/ });
  assert.throws(() => native.emit(3, 'x', new SharedArrayBuffer(4), 0), { name: 'TypeError', message: /JSON text or an ArrayBuffer/ });

  assert.throws(() => native.emit(), { name: 'TypeError' });
  assert.equal((await drain()).length, 0, 'a refused call enqueues nothing');
  // An HTTP duration past what the core's duration holds is unknown, not a throw.
  aires.info('slow', { http: { method: 'GET', route: '/', durationMs: 1e23 } });
  const [slow] = await drain();
  assert.deepEqual([slow.message, slow.http.method, slow.http.durationNanos], ['slow', 'GET', '0']);
  assert.throws(() => aires.withContext(null, () => {}), TypeError);
  // A getter that throws does not make logging throw.
  aires.info('hostile', { get boom() { throw new RangeError('no'); } });
  const [hostile] = await drain();
  assert.deepEqual(attrs(hostile), { 'aires.fields_error': { type: 'string', value: 'RangeError: no' } });
  // Still working afterwards.
  aires.info('after the errors', 'not an object');
  const [e] = await drain();
  assert.deepEqual(attrs(e), { value: { type: 'string', value: 'not an object' } });
});

test('the configuration is checked by the core at init: bad endpoint, batch size 0', async () => {
  await aires.shutdown(5000);
  try {
    assert.throws(() => aires.init({ endpoint: 'ftp://x', envOverrides: false }), {
      message: /endpoint "ftp:\/\/x" is invalid: scheme must be http or https/,
    });
    assert.throws(() => aires.init({ transport: 'memory', batchSize: 0, envOverrides: false }), {
      message: /batch_size must be greater than 0, got 0/,
    });
    assert.throws(() => aires.init({ transport: 'grpc', envOverrides: false }), /needs an endpoint/);
    assert.equal(native.isRunning(), false);
    // Logged while nothing runs: counted, not lost silently.
    const before = aires.metrics().eventsDroppedAfterShutdown;
    aires.fatal('nobody listens');
    assert.equal(aires.metrics().eventsDroppedAfterShutdown, before + 1);
  } finally {
    aires.init({ service: 'node-tests', environment: 'test', transport: 'memory', level: 'debug', envOverrides: false });
  }
});

test('the call site is recorded only when asked for', async () => {
  aires.info('no site');
  const [plain] = await drain();
  assert.equal(plain.callSite, null);
  await aires.shutdown(5000);
  aires.init({ service: 'node-tests', environment: 'test', transport: 'memory', captureCallSite: true, envOverrides: false });
  function placeOrder() {
    aires.child({ a: 1 }).info('with site');
  }
  placeOrder();
  const [sited] = await drain();
  assert.equal(sited.callSite.file, __filename);
  assert.equal(sited.callSite.function, 'placeOrder');
  assert.ok(sited.callSite.line > 0);
});

test('metrics count what was sent', async () => {
  const before = aires.metrics();
  for (let i = 0; i < 100; i++) aires.info('m', { i });
  await drain();
  const after = aires.metrics();
  assert.equal(after.eventsSent - before.eventsSent, 100);
  assert.equal(after.eventsDroppedQueueFull, 0);
  assert.equal(after.queueDepth, 0);
});
