// Compiled with `tsc --noEmit --strict` by typecheck.test.js: the public
// API as a TypeScript user writes it.
import * as aires from 'aires';
import { info, type Logger, type Fields, type Metrics } from 'aires';

async function main(): Promise<void> {
  aires.init({ service: 'checkout', environment: 'prod', endpoint: 'http://127.0.0.1:4317', level: 'debug', captureCallSite: false });
  info('order placed', { orderId: 123, amount: 9.99, currency: 'EUR', big: 1n, when: new Date() });
  const err = new Error('card declined', { cause: new Error('gateway') });
  aires.error('payment failed', { err, http: { method: 'POST', route: '/pay', status: 502, durationMs: 31.5 } });
  aires.error('payment failed', err);
  aires.error(err, 'payment failed');
  aires.info({ orderId: 1 }, 'placed');
  aires.init({ redact: ['password', 'user.token'], serializers: { req: (r: { url: string }) => ({ url: r.url }) } });
  aires.init({ redact: { paths: ['password'], censor: '***' } });
  const log: Logger = aires.child({ requestId: 'r-1' }, { level: 'debug' });
  log.level = 'warn';
  const bound: Fields = log.bindings();
  void bound;
  const fields: Fields = { ms: 812 };
  const result: number = aires.withContext({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', sessionId: 's-1' }, () => {
    log.warn('slow query', fields);
    return 1;
  });
  const m: Metrics = aires.metrics();
  const sent: number = m.eventsSent + result;
  const flushed: boolean = await aires.flush(2000);
  const stopped: boolean = await aires.shutdown(5000);
  void [sent, flushed, stopped];
}
void main;
