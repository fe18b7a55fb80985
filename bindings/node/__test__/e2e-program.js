// The application of the end-to-end test: logs through the real gRPC
// transport to AIRES_ENDPOINT, shuts down, and prints its metrics.
'use strict';
const aires = require('aires');

async function main() {
  aires.init({ service: 'node-e2e', environment: 'e2e', level: 'trace', captureCallSite: true, batchSize: 50 });
  const log = aires.child({ requestId: 'r-1', region: 'eu' });
  const err = new TypeError('payment declined', { cause: new Error('gateway timeout', { cause: 'socket hang up' }) });
  await aires.withContext(
    { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', sessionId: 'sess-1' },
    async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      log.error('checkout failed ✗', {
        err,
        orderId: 123,
        amount: 9.99,
        big: 2n ** 64n - 1n,
        paid: false,
        note: 'zürich 🚀',
        empty: '',
        user: { id: 7, plan: 'pro' },
        items: ['a', 1],
        tags: ['checkout', 'v2'],
        http: {
          method: 'POST', route: '/pay', path: '/pay/123', status: 502, durationMs: 31.5,
          userAgent: 'node-test', clientIp: '10.0.0.1', requestBytes: 120, responseBytes: 45,
          host: 'shop.example', scheme: 'https',
        },
      });
    },
  );
  for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal']) aires[level](`level ${level}`, { i: 1 });
  for (let i = 0; i < 500; i++) aires.info('bulk', { i });
  const done = await aires.shutdown(10_000);
  process.stdout.write(JSON.stringify({ done, metrics: aires.metrics() }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
