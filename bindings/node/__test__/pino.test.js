// What a pino user expects: the argument orders, errors with their own
// properties, toJSON at any depth, redaction paths, serializers, and
// per-logger levels.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { aires, drain } = require('./helpers.js');

class Secret {
  constructor() {
    this.name = 'ada';
    this.password = 'p4ss';
  }
  toJSON() {
    return { name: this.name };
  }
}

function fields(event) {
  return Object.fromEntries(Object.entries(event.attributes).map(([k, v]) => [k, v.value]));
}

test.before(() => {
  aires.init({
    service: 'pino-like',
    transport: 'memory',
    level: 'info',
    envOverrides: false,
    redact: ['password', 'user.token', '*.secret', 'headers["x-api-key"]', 'card'],
    serializers: { req: (req) => ({ method: req.method, url: req.url }) },
  });
});
test.after(() => aires.shutdown(5000));

test('an error in any argument position fills the error columns', async () => {
  const err = new TypeError('card declined');
  err.code = 'E_CARD';
  aires.error('payment failed', err);
  aires.error({ err, orderId: 7 }, 'payment failed, pino order');
  aires.error(err, 'error first');
  aires.error(err);
  const events = await drain();
  assert.deepEqual(events.map((e) => e.message), ['payment failed', 'payment failed, pino order', 'error first', 'card declined']);
  for (const e of events) {
    assert.equal(e.error.type, 'TypeError');
    assert.equal(e.error.message, 'card declined');
    assert.match(e.error.backtrace, /^TypeError: card declined/);
    assert.equal(fields(e)['err.code'], 'E_CARD', 'own properties are kept, as pino does');
  }
  assert.equal(fields(events[1]).orderId, '7');
});

test('(fields, message) takes the message from the second argument', async () => {
  aires.info({ orderId: 1 }, 'placed');
  aires.info({ orderId: 2 });
  const [a, b] = await drain();
  assert.equal(a.message, 'placed');
  assert.deepEqual(fields(a), { orderId: '1' });
  assert.equal(b.message, '');
});

test('toJSON is honoured at every depth, in call fields and in bindings', async () => {
  aires.info('nested', { user: new Secret(), url: new URL('https://shop.example/pay?x=1') });
  aires.child({ user: new Secret() }).info('bound');
  aires.info('top', new Secret());
  const [nested, bound, top] = await drain();
  assert.deepEqual(fields(nested), { 'user.name': 'ada', url: 'https://shop.example/pay?x=1' });
  assert.deepEqual(fields(bound), { 'user.name': 'ada' });
  assert.deepEqual(fields(top), { name: 'ada' });
});

test('redaction paths apply at any depth, in call fields, bindings and context', async () => {
  aires.info('call', {
    password: 'hunter2',
    user: { id: 7, token: 't0k3n' },
    db: { secret: 's', host: 'db1' },
    headers: { 'x-api-key': 'k', accept: 'json' },
    card: { number: '4242', last4: '4242' },
  });
  aires.child({ password: 'bound', user: { token: 'bound' } }).info('child');
  aires.withContext({ db: { secret: 'ctx' } }, () => aires.info('context'));
  const [call, child, context] = await drain();
  assert.deepEqual(fields(call), {
    password: '[Redacted]',
    'user.id': '7',
    'user.token': '[Redacted]',
    'db.secret': '[Redacted]',
    'db.host': 'db1',
    'headers.x-api-key': '[Redacted]',
    'headers.accept': 'json',
    card: '[Redacted]',
  });
  assert.deepEqual(fields(child), { password: '[Redacted]', 'user.token': '[Redacted]' });
  assert.deepEqual(fields(context), { 'db.secret': '[Redacted]' });
});

test('serializers shape the value under their key', async () => {
  aires.info('request', { req: { method: 'GET', url: '/x', headers: { cookie: 'c' } } });
  const [e] = await drain();
  assert.deepEqual(fields(e), { 'req.method': 'GET', 'req.url': '/x' });
});

test('a child can have its own level; logger.level and bindings() answer', async () => {
  const verbose = aires.child({ part: 'db' }, { level: 'debug' });
  const quiet = aires.child({ part: 'http' });
  assert.equal(verbose.level, 'debug');
  assert.equal(quiet.level, 'info');
  assert.deepEqual(verbose.bindings(), { part: 'db' });
  assert.deepEqual(verbose.child({ q: 1 }).bindings(), { part: 'db', q: 1 });
  const before = aires.metrics().eventsDroppedFiltered;
  verbose.debug('recorded');
  quiet.debug('filtered');
  aires.debug('filtered at the root');
  quiet.level = 'warn';
  quiet.info('filtered by its own level');
  quiet.warn('kept');
  assert.equal(aires.logger.level, 'info');
  const events = await drain();
  assert.deepEqual(events.map((e) => e.message), ['recorded', 'kept']);
  // Filtered in JavaScript, and counted.
  assert.equal(aires.metrics().eventsDroppedFiltered - before, 3);
  assert.throws(() => aires.child({}, { level: 'loud' }), { name: 'TypeError', message: /level must be one of/ });
});

test('bad redaction paths and serializers are refused at init', () => {
  assert.throws(() => aires.init({ transport: 'memory', redact: ['a..b'] }), { name: 'TypeError', message: /redact path/ });
  assert.throws(() => aires.init({ transport: 'memory', serializers: { req: 1 } }), { name: 'TypeError', message: /serializers/ });
});

test('redact with remove drops the key; with censor writes the censor', async () => {
  await aires.shutdown(5000);
  aires.init({ service: 'pino-like', transport: 'memory', envOverrides: false, redact: { paths: ['password', 'user.pin'], remove: true } });
  aires.info('removed', { password: 'x', user: { pin: 1, id: 2 } });
  let [e] = await drain();
  assert.deepEqual(fields(e), { 'user.id': '2' });
  await aires.shutdown(5000);
  aires.init({ service: 'pino-like', transport: 'memory', envOverrides: false, redact: { paths: ['password'], censor: '***' } });
  aires.info('censored', { password: 'x' });
  [e] = await drain();
  assert.deepEqual(fields(e), { password: '***' });
});

test('redaction reaches into arrays, Maps, deep objects, and literal dotted keys', async () => {
  await aires.shutdown(5000);
  const deep = { a: { b: { c: { d: { e: { f: { g: { h: { i: { password: 'LEAK9', ok: 1 } } } } } } } } } };
  aires.init({
    service: 'pino-like',
    transport: 'memory',
    envOverrides: false,
    redact: ['arr[0]', 'list[*].pw', 'a.b.c.d.e.f.g.h.i.password', 'm.password', 'user.token'],
  });
  aires.info('deep', {
    arr: ['A0', 'A1'],
    list: [{ pw: 'P1', ok: 1 }],
    ...deep,
    m: new Map([['password', 'x'], ['kept', 'y']]),
    'user.token': 'literal',
  });
  const [e] = await drain();
  const f = fields(e);
  assert.equal(f.arr, '["[Redacted]","A1"]');
  assert.equal(f.list, '[{"pw":"[Redacted]","ok":1}]');
  assert.equal(f['a.b.c.d.e.f.g.h.i'], '{"password":"[Redacted]","ok":1}');
  assert.equal(f.m, '[["password","[Redacted]"],["kept","y"]]');
  assert.equal(f['user.token'], '[Redacted]');
  assert.ok(!JSON.stringify(e).includes('LEAK9') && !JSON.stringify(e).includes('P1'));
});

test('{ msg } alone is the message, as pino reads it', async () => {
  aires.info({ msg: 'from msg', orderId: 3 });
  const [e] = await drain();
  assert.equal(e.message, 'from msg');
  assert.deepEqual(fields(e), { orderId: '3' });
});
