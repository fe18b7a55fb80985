// The opt-in call site: file, line and function of the code that logged.
// A structured V8 stack capture costs a few microseconds per event, which
// is why it is off unless `captureCallSite: true`.

import type { CallSiteInput } from '../native';

const DIST_DIR = __dirname;

interface Frame {
  getFileName(): string | null | undefined;
  getLineNumber(): number | null;
  getFunctionName(): string | null;
  getMethodName(): string | null;
  getTypeName(): string | null;
}

function frames(_: Error, stack: Frame[]): Frame[] {
  return stack;
}

/** The first frame outside this package, or undefined. */
export function callSite(): CallSiteInput | undefined {
  const previousPrepare = Error.prepareStackTrace;
  const previousLimit = Error.stackTraceLimit;
  Error.prepareStackTrace = frames as typeof Error.prepareStackTrace;
  Error.stackTraceLimit = 12;
  const holder: { stack?: Frame[] } = {};
  Error.captureStackTrace(holder, callSite);
  const stack = holder.stack;
  Error.prepareStackTrace = previousPrepare;
  Error.stackTraceLimit = previousLimit;
  if (!Array.isArray(stack)) return undefined;
  for (const frame of stack) {
    const file = frame.getFileName() ?? '';
    if (file.startsWith(DIST_DIR) || file.startsWith(`file://${DIST_DIR}`)) continue;
    const fn = frame.getFunctionName();
    const type = frame.getTypeName();
    const method = frame.getMethodName();
    const name = fn ?? (method !== null ? `${type ?? ''}.${method}` : '<anonymous>');
    return { file, line: frame.getLineNumber() ?? 0, function: name };
  }
  return undefined;
}
