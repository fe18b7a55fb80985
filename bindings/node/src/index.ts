/**
 * Aires for Node.js: structured events, batched on the Rust core's own
 * threads and shipped to the Aires collector (and from there ClickHouse).
 *
 * ```ts
 * import * as aires from 'aires';
 * aires.init({ service: 'checkout', endpoint: 'http://127.0.0.1:4317' });
 * aires.info('order placed', { orderId: 123, amount: 9.99 });
 * await aires.shutdown(5000);
 * ```
 */

import { isMainThread } from 'node:worker_threads';
import * as native from '../native';
import { callSite } from './callsite';
import { ambient, getContext, useOpenTelemetry, withContext } from './context';
import { errorInput } from './errors';
import { encodeCall, encodedBuffer, encodedCopy } from './encode';
import { Fields, FieldValue, isError, isFlat, inner, objectJson, prepareRules, rulesGeneration, Serializer } from './fields';
import type { RedactOption } from './redact';

export type { Fields, FieldValue, RedactOption, Serializer };

/**
 * The per-event entry point. src/emit.rs registers it by hand (without
 * napi-rs' per-call wrapper, see there), so the generated native.d.ts does
 * not list it.
 */
const emitEvent = (
  native as unknown as { emit(level: number, message: string, fields?: string | ArrayBuffer, length?: number): void }
).emit;
export { withContext, getContext };

/** The six levels, least severe first. */
export type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/**
 * The self-metrics of the pipeline (see `metrics()`): the core's counters,
 * named as in every SDK (camelCase here). Exact below 2^53.
 */
export interface Metrics {
  eventsEnqueued: number;
  eventsSent: number;
  /** The sum of every `eventsDropped*` below. */
  eventsDropped: number;
  eventsDroppedQueueFull: number;
  /** Below the level: those the core saw, plus those this thread's loggers filtered in JavaScript. */
  eventsDroppedFiltered: number;
  eventsDroppedBeforeInit: number;
  eventsDroppedAfterShutdown: number;
  eventsDroppedTransport: number;
  eventsDroppedRejected: number;
  eventsDroppedAbandoned: number;
  /** Events given up on after an attempt whose outcome is unknown (they may be stored). */
  eventsOutcomeUnknown: number;
  batchesOutcomeUnknown: number;
  eventsReplayed: number;
  eventsLeftInSpool: number;
  batchesNotSpooled: number;
  batchesSent: number;
  batchesFailed: number;
  batchRetries: number;
  valuesTruncated: number;
  queueDepth: number;
  batchesInFlight: number;
}

/** Options of `init`. Every one is optional; `AIRES_*` variables override them. */
export interface Options {
  /** The emitting service. Default `unknown_service`; `AIRES_SERVICE`. */
  service?: string;
  /** The deployment environment. Default `development`; `AIRES_ENVIRONMENT`. */
  environment?: string;
  /** The collector, `http://host:4317`. Default none: events go to stdout as JSON lines. `AIRES_ENDPOINT`. */
  endpoint?: string;
  /** The least severe level recorded. Default `info`; `AIRES_LEVEL`. */
  level?: Level | 'off';
  /** Events per batch. Default 256; `AIRES_BATCH_SIZE`. */
  batchSize?: number;
  /** Longest wait before a partial batch is sent, ms. Default 500; `AIRES_BATCH_TIMEOUT_MS`. */
  batchTimeoutMs?: number;
  /** A batch is cut before its encoded size passes this, bytes. Default 1 MiB (1048576); `AIRES_MAX_BATCH_BYTES`. */
  maxBatchBytes?: number;
  /** Events queued before new ones are dropped (and counted). Default 4096; `AIRES_QUEUE_CAPACITY`. */
  queueCapacity?: number;
  /** Batches sent concurrently. Default 64; `AIRES_MAX_IN_FLIGHT`. */
  maxInFlight?: number;
  /** Per-send timeout, ms. Default 10000; `AIRES_SEND_TIMEOUT_MS`. */
  sendTimeoutMs?: number;
  /** How long a failed batch is retried, ms. Default 120000; `AIRES_RETRY_MAX_ELAPSED_MS`. */
  retryMaxElapsedMs?: number;
  /** `drop` (default): a full queue drops the event (counted), never blocking. `block`: wait for room, losing nothing. `grow`: list what does not fit on the heap, up to `overflowMaxBytes`, then drop (counted), never blocking. `AIRES_OVERFLOW`. */
  overflow?: 'drop' | 'block' | 'grow';
  /** With `overflow: 'grow'`: the bytes listed at most. Default 64 MiB. */
  overflowMaxBytes?: number;
  /** With `overflow: 'block'`: the longest wait, ms, then the event is dropped (counted). Default none: wait as long as it takes. */
  blockTimeoutMs?: number;
  /** Keep batches in this directory until settled; the next start sends what a crash left. Default none; `AIRES_SPOOL_DIR`. */
  spoolDir?: string;
  /** Bytes the spool keeps at most. Default 64 MiB; `AIRES_SPOOL_MAX_BYTES`. */
  spoolMaxBytes?: number;
  /** Whether `AIRES_*` variables override these options. Default true. */
  envOverrides?: boolean;
  /** Default `default`: gRPC with an endpoint (also `grpc`), else `stdout`; `null` (discard) or `memory` (tests). */
  transport?: 'default' | 'grpc' | 'stdout' | 'null' | 'memory';
  /** Record file, line and function of each call (a few µs per event). Default false. */
  captureCallSite?: boolean;
  /** Take trace and span ids from the active OpenTelemetry span when @opentelemetry/api is installed. Default true. */
  openTelemetry?: boolean;
  /** How long exit (`process.exit()`, the program's end) waits to send what is queued, ms. Default 5000. */
  shutdownTimeoutMs?: number;
  /** The former name of `shutdownTimeoutMs`. */
  exitTimeoutMs?: number;
  /** Paths to censor, as pino's `redact`: `['password', 'user.token', '*.secret', 'headers["x-api-key"]']`, or `{ paths, censor?, remove? }`. At any depth, in call fields, child bindings and context. */
  redact?: RedactOption;
  /** Functions applied to the value under a top-level key before it is stored, as pino's `serializers`. Without an `err` one, an Error under `err` fills the error columns and keeps its own properties as `err.*` fields. */
  serializers?: Record<string, Serializer>;
}

/**
 * A logging function. The argument orders of pino work alongside Aires' own:
 * `(message, fields?)`, `(message, error)`, `(error, message?)` and
 * `(fields, message?)`. An Error goes to the event's error columns (with its
 * own properties, such as `code`, as `err.*` fields); a string message is
 * recorded as it is (no `%s` interpolation).
 */
export interface LogFn {
  (message: string, fields?: Fields | Error): void;
  (error: Error, message?: string): void;
  (fields: Fields, message?: string): void;
}

/** A logger: the six levels, its own level, and `child` for bound fields. */
export interface Logger {
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
  /** A logger adding `bindings` to every event (call fields win). `options.level` gives it a level of its own. */
  child(bindings: Fields, options?: ChildOptions): Logger;
  /** The bindings this logger adds (its parents' included). */
  bindings(): Fields;
  /** This logger's level. Setting it on the root logger is `setLevel`; on a child, it changes that child only. */
  level: Level | 'off';
  /** Whether an event at `level` would be recorded by this logger. */
  isLevelEnabled(level: Level): boolean;
}

/** Options of `child`. */
export interface ChildOptions {
  /** The child's own level; without one it follows its parent's. */
  level?: Level | 'off';
}

const LEVELS: Record<Level | 'off', number> = { trace: 1, debug: 2, info: 3, warn: 4, error: 5, fatal: 6, off: 7 };
const LEVEL_NAMES = Object.keys(LEVELS) as (Level | 'off')[];

function levelNumber(level: unknown, where: string): number {
  if (typeof level !== 'string' || !(level in LEVELS)) {
    throw new TypeError(`${where}: level must be one of ${LEVEL_NAMES.join(', ')}; got ${String(level)}`);
  }
  return LEVELS[level as Level];
}

// Until init, and after shutdown, every call crosses into the core, which
// counts it as dropped before init / after shutdown, as in Rust.
let minLevel = 0;
/** The core's own level: the least severe any logger records. */
let coreLevel = 0;
let captureSites = false;
/** Calls this thread's loggers filtered out in JavaScript (counted as `eventsDroppedFiltered`). */
let filtered = 0;
let exitTimeoutMs = 5000;
let dirty = false;
let exitHooked = false;

/** Lets events at `level` through the core, for a logger more verbose than the root. */
function lowerCoreLevel(level: number): void {
  if (level !== 0 && coreLevel !== 0 && level < coreLevel && native.isRunning()) {
    coreLevel = native.setLevel(LEVEL_NAMES[level - 1]);
  }
}

/** A logger's bound fields: the merged bindings, as JSON text without braces and encoded (null when they cannot be). */
class Bound {
  json = '';
  bytes: Uint8Array | null = new Uint8Array(0);
  private generation = -1;

  constructor(readonly fields: Fields) {
    // Encoded now, as pino does: a later change to the object is not seen.
    this.current();
  }

  /** Encodes the bindings again if the redaction or serializer rules changed since. */
  current(): this {
    if (this.generation !== rulesGeneration) {
      this.generation = rulesGeneration;
      this.json = '';
      this.bytes = new Uint8Array(0);
      if (Object.keys(this.fields).length !== 0) {
        this.json = inner(this.fields);
        const end = encodeCall(this.bytes, this.fields);
        this.bytes = end >= 0 ? encodedCopy(end) : null;
      }
    }
    return this;
  }
}

/** How a call's arguments read, whichever order they came in. */
function emit(level: number, bound: Bound, first: unknown, second: unknown): void {
  let text: string;
  let fields: unknown;
  if (typeof first === 'string') {
    text = first;
    fields = second;
    // A plain object (the common case) is fields; only another object may be an Error.
    if (typeof second === 'object' && second !== null && Object.getPrototypeOf(second) !== Object.prototype && isError(second)) {
      fields = { err: second };
    }
  } else if (isError(first)) {
    text = typeof second === 'string' ? second : first.message;
    fields = typeof second === 'object' && second !== null ? { err: first, ...second } : { err: first };
  } else if (typeof first === 'object' && first !== null) {
    fields = first;
    if (second !== undefined) {
      text = String(second);
    } else if (typeof (first as { msg?: unknown }).msg === 'string') {
      // pino's messageKey: `{ msg }` alone is the message.
      const { msg, ...rest } = first as { msg: string };
      text = msg;
      fields = rest;
    } else {
      text = '';
    }
  } else {
    text = String(first);
    fields = second;
  }
  const context = ambient();
  const binding = bound.current();
  dirty = true;
  // The fast way: flat fields (and bindings), no context, no error, no call site.
  if (!captureSites && context === '' && binding.bytes !== null) {
    const at = encodeCall(binding.bytes, fields as Fields | undefined);
    if (at >= 0) {
      emitEvent(level, text, encodedBuffer, at);
      return;
    }
  }
  let json: string | undefined;
  let error: Error | undefined;
  if (fields !== undefined && fields !== null) {
    try {
      if (typeof fields !== 'object') {
        json = JSON.stringify({ value: String(fields) });
      } else {
        const o = objectJson(fields as Fields, isFlat(fields as Fields));
        error = o.error;
        json = o.json;
      }
    } catch (e) {
      // A getter, toJSON or serializer that throws: the event is still recorded, and says why its fields are missing.
      json = JSON.stringify({ 'aires.fields_error': e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
    }
  }
  if (context !== '' || binding.json !== '') {
    let parts = context;
    if (binding.json !== '') parts = parts === '' ? binding.json : `${parts},${binding.json}`;
    if (json !== undefined && json.length > 2) parts = `${parts},${json.slice(1, -1)}`;
    json = `{${parts}}`;
  }
  if (error === undefined && !captureSites) {
    emitEvent(level, text, json);
  } else {
    native.emitWith(level, text, json, error === undefined ? undefined : errorInput(error), captureSites ? callSite() : undefined);
  }
}

/** A logger's state: its bindings and its own level (0: follow the parent's). */
interface LoggerState {
  bound: Bound;
  level: number;
  parent: LoggerState | undefined;
}

/** The level a logger records from: its own, else its nearest ancestor's, else the root's. */
function effectiveLevel(state: LoggerState): number {
  for (let s: LoggerState | undefined = state; s !== undefined; s = s.parent) {
    if (s.level !== 0) return s.level;
  }
  return minLevel;
}

function levelFn(level: number, state: LoggerState): LogFn {
  if (state.parent === undefined) {
    return ((first: unknown, second?: unknown) => {
      if (level >= minLevel) emit(level, state.bound, first, second);
      else if (minLevel !== 0) filtered++;
    }) as LogFn;
  }
  return ((first: unknown, second?: unknown) => {
    if (level >= effectiveLevel(state)) emit(level, state.bound, first, second);
    else if (minLevel !== 0) filtered++;
  }) as LogFn;
}

function makeLogger(state: LoggerState): Logger {
  const root = state.parent === undefined;
  return {
    trace: levelFn(1, state),
    debug: levelFn(2, state),
    info: levelFn(3, state),
    warn: levelFn(4, state),
    error: levelFn(5, state),
    fatal: levelFn(6, state),
    child(bindings, options) {
      if (typeof bindings !== 'object' || bindings === null) {
        throw new TypeError('child(bindings): bindings must be an object');
      }
      const level = options?.level === undefined ? 0 : levelNumber(options.level, 'child(bindings, options)');
      lowerCoreLevel(level);
      const fields = { ...state.bound.fields, ...bindings };
      return makeLogger({ bound: new Bound(fields), level, parent: state });
    },
    bindings() {
      return { ...state.bound.fields };
    },
    get level(): Level | 'off' {
      const n = effectiveLevel(state);
      return n === 0 ? 'info' : LEVEL_NAMES[n - 1];
    },
    set level(level: Level | 'off') {
      if (root) {
        setLevel(level);
      } else {
        state.level = levelNumber(level, 'logger.level');
        lowerCoreLevel(state.level);
      }
    },
    isLevelEnabled(level) {
      return LEVELS[level] >= effectiveLevel(state);
    },
  };
}

/** The root logger; the top-level functions log through it. */
export const logger: Logger = makeLogger({ bound: new Bound({}), level: 0, parent: undefined });

/** Records an event at trace level. */
export const trace: LogFn = logger.trace;
/** Records an event at debug level. */
export const debug: LogFn = logger.debug;
/** Records an event at info level. */
export const info: LogFn = logger.info;
/** Records an event at warn level. */
export const warn: LogFn = logger.warn;
/** Records an event at error level; the error may come first, second, or as `{ err }`. */
export const error: LogFn = logger.error;
/** Records an event at fatal level. It does not stop the process. */
export const fatal: LogFn = logger.fatal;

/** A logger adding `bindings` to every event. */
export function child(bindings: Fields, options?: ChildOptions): Logger {
  return logger.child(bindings, options);
}

/** Whether an event at `level` would be recorded by the root logger. */
export function isLevelEnabled(level: Level): boolean {
  return LEVELS[level] >= minLevel;
}

/** Changes the root logger's level, in the whole process (other worker threads see it at their next `init`). Children with a level of their own keep it. */
export function setLevel(level: Level | 'off'): void {
  levelNumber(level, 'setLevel');
  minLevel = native.setLevel(level);
  coreLevel = minLevel;
}

const STRING_OPTIONS = ['service', 'environment', 'endpoint', 'level', 'transport', 'overflow', 'spoolDir'] as const;
const COUNT_OPTIONS = ['batchSize', 'batchTimeoutMs', 'maxBatchBytes', 'queueCapacity', 'maxInFlight', 'sendTimeoutMs', 'retryMaxElapsedMs', 'blockTimeoutMs', 'overflowMaxBytes', 'spoolMaxBytes', 'shutdownTimeoutMs', 'exitTimeoutMs'] as const;
const BOOLEAN_OPTIONS = ['envOverrides', 'captureCallSite', 'openTelemetry'] as const;

function check(options: Options): void {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('aires.init(options): options must be an object');
  }
  for (const key of STRING_OPTIONS) {
    const v = options[key];
    if (v !== undefined && typeof v !== 'string') {
      throw new TypeError(`aires.init: ${key} must be a string, got ${typeof v}`);
    }
  }
  for (const key of COUNT_OPTIONS) {
    const v = options[key];
    if (v !== undefined && !(Number.isInteger(v) && v >= 0 && v <= 0xffffffff)) {
      throw new TypeError(`aires.init: ${key} must be an integer from 0 to 4294967295, got ${String(v)}`);
    }
  }
  for (const key of BOOLEAN_OPTIONS) {
    const v = options[key];
    if (v !== undefined && typeof v !== 'boolean') {
      throw new TypeError(`aires.init: ${key} must be a boolean, got ${typeof v}`);
    }
  }
  if (options.overflow !== undefined && options.overflow !== 'drop' && options.overflow !== 'block' && options.overflow !== 'grow') {
    throw new TypeError(`aires.init: overflow must be 'drop', 'block' or 'grow'; got ${options.overflow}`);
  }
  if (options.level !== undefined && !(options.level in LEVELS)) {
    throw new TypeError(`aires.init: level must be one of ${Object.keys(LEVELS).join(', ')}; got ${options.level}`);
  }
}

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  // The event loop is empty: send what is queued, keeping the loop alive
  // until it is sent (or the timeout passes). Runs again only if more was logged.
  process.on('beforeExit', () => {
    if (!dirty || !native.isRunning()) return;
    dirty = false;
    void native.flush(exitTimeoutMs);
  });
  // process.exit() or the end of the program: no more event loop, so wait
  // synchronously, bounded by exitTimeoutMs.
  process.on('exit', () => {
    if (!native.isRunning()) return;
    if (isMainThread) native.shutdownSync(exitTimeoutMs);
    else if (dirty) native.flushSync(exitTimeoutMs);
  });
}

/**
 * Starts the pipeline. In a worker thread whose process already runs one
 * (started by the main thread or another worker), attaches to it: one
 * pipeline per process. Throws TypeError / Error on bad options.
 */
export function init(options: Options = {}): void {
  check(options);
  const { captureCallSite, openTelemetry, shutdownTimeoutMs, exitTimeoutMs: exitMs, redact, serializers, ...core } = options;
  const applyRules = prepareRules(redact, serializers);
  if (!isMainThread && native.isRunning()) {
    minLevel = native.currentLevel();
  } else {
    minLevel = native.init(core);
  }
  coreLevel = minLevel;
  applyRules();
  captureSites = captureCallSite === true;
  exitTimeoutMs = shutdownTimeoutMs ?? exitMs ?? 5000;
  useOpenTelemetry(openTelemetry !== false);
  hookExit();
}

/** Resolves true once everything logged before the call is sent, false after the timeout (default 5000 ms). */
export function flush(timeoutMs?: number): Promise<boolean> {
  return native.flush(timeoutMs);
}

/**
 * Sends what is queued and stops the pipeline (for every thread). Resolves
 * true when that completed within the timeout (default 5000 ms). Events
 * logged afterwards are counted as dropped; `init` may be called again.
 */
export async function shutdown(timeoutMs?: number): Promise<boolean> {
  const done = await native.shutdown(timeoutMs);
  minLevel = 0;
  coreLevel = 0;
  dirty = false;
  return done;
}

const handledSignals = new Set<string>();

/**
 * Flushes on each of `signals` (default SIGTERM). When no other listener
 * handles the signal, it sends what is queued (for at most `timeoutMs`) and
 * ends the process as the signal would have. With listeners of your own (a
 * server's graceful stop), it flushes and leaves the pipeline running, so
 * what they log while stopping is sent too; the exit handler shuts it down.
 */
export function handleSignals(signals: NodeJS.Signals[] = ['SIGTERM'], timeoutMs = 5000): void {
  for (const signal of signals) {
    if (handledSignals.has(signal)) continue;
    handledSignals.add(signal);
    const onSignal = (): void => {
      if (process.listenerCount(signal) > 1) {
        // The application's own listener stops the process, and may log
        // while it does: flush, and leave the pipeline running (the exit
        // handler shuts it down).
        void flush(timeoutMs);
        return;
      }
      void shutdown(timeoutMs).finally(() => {
        process.removeListener(signal, onSignal);
        handledSignals.delete(signal);
        process.kill(process.pid, signal);
      });
    };
    process.on(signal, onSignal);
  }
}

/** The pipeline's self-metrics: enqueued, sent, dropped by reason, queue depth. */
export function metrics(): Metrics {
  const m = native.metrics() as unknown as Metrics;
  m.eventsDroppedFiltered += filtered;
  m.eventsDropped += filtered;
  return m;
}
