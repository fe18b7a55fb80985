// Ambient fields: `withContext` (AsyncLocalStorage) and the active
// OpenTelemetry span, when @opentelemetry/api is installed.

import { AsyncLocalStorage } from 'node:async_hooks';
import { Fields, inner } from './fields';

interface Store {
  fields: Fields;
  /** The fields as JSON text without braces, encoded once on entry. */
  json: string;
}

// Created on first use: an AsyncLocalStorage costs nothing until then.
let storage: AsyncLocalStorage<Store> | undefined;

/**
 * Runs `fn` with `fields` added to every event logged inside it, including
 * from callbacks, timers and promises it starts. Nested calls merge, the
 * inner one winning.
 */
export function withContext<T>(fields: Fields, fn: () => T): T {
  if (typeof fields !== 'object' || fields === null) {
    throw new TypeError('withContext(fields, fn): fields must be an object');
  }
  if (typeof fn !== 'function') {
    throw new TypeError('withContext(fields, fn): fn must be a function');
  }
  storage ??= new AsyncLocalStorage<Store>();
  const merged = { ...storage.getStore()?.fields, ...fields };
  return storage.run({ fields: merged, json: inner(merged) }, fn);
}

/** The fields set by the enclosing `withContext` calls. */
export function getContext(): Fields {
  return { ...storage?.getStore()?.fields };
}

interface OtelApi {
  trace: { getActiveSpan(): { spanContext(): { traceId: string; spanId: string } } | undefined };
}

let otel: OtelApi | undefined;
let otelLoaded = false;

/** Looks for @opentelemetry/api once; `enabled` false turns the lookup off. */
export function useOpenTelemetry(enabled: boolean): void {
  otel = undefined;
  otelLoaded = true;
  if (!enabled) return;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    otel = require('@opentelemetry/api') as OtelApi;
  } catch {
    otel = undefined;
  }
}

const INVALID_TRACE = '00000000000000000000000000000000';

/** The ambient fields as JSON text without braces ('' when none). */
export function ambient(): string {
  let json = '';
  if (otelLoaded && otel !== undefined) {
    const span = otel.trace.getActiveSpan();
    if (span !== undefined) {
      const { traceId, spanId } = span.spanContext();
      if (traceId !== INVALID_TRACE) json = `"traceId":"${traceId}","spanId":"${spanId}"`;
    }
  }
  if (storage !== undefined) {
    const store = storage.getStore();
    if (store !== undefined && store.json !== '') {
      json = json === '' ? store.json : `${json},${store.json}`;
    }
  }
  return json;
}
