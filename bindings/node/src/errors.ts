// What an event records about a JavaScript error.

import type { ErrorInput } from '../native';
import { safeJson } from './fields';

const MAX_CAUSES = 32;

function describe(cause: unknown): string {
  if (cause instanceof Error) return `${cause.name}: ${cause.message}`;
  if (typeof cause === 'object' && cause !== null) return safeJson(cause);
  return String(cause);
}

/** name, message, stack and the `cause` chain (outermost first). */
export function errorInput(error: Error): ErrorInput {
  const causes: string[] = [];
  const seen = new Set<unknown>([error]);
  let cause: unknown = (error as { cause?: unknown }).cause;
  while (cause !== undefined && causes.length < MAX_CAUSES && !seen.has(cause)) {
    seen.add(cause);
    causes.push(describe(cause));
    cause = cause instanceof Error ? (cause as { cause?: unknown }).cause : undefined;
  }
  return {
    name: typeof error.name === 'string' ? error.name : 'Error',
    message: typeof error.message === 'string' ? error.message : String(error.message),
    stack: typeof error.stack === 'string' ? error.stack : undefined,
    causes,
  };
}
