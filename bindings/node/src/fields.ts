// Turning a fields object into the JSON text the addon decodes (see
// src/fields.rs for the other side): the way for everything the bytes
// of src/encode.ts cannot carry (nested values, bigint, NaN, reserved keys)
// and for events with a context, an error or a call site.
//
// When every top-level value is a string, a finite number, a boolean,
// null or undefined, the text is V8's own JSON.stringify of the object.
// Anything else goes through `normalise` first.

import { Redactor, RedactOption } from './redact';

/** Values a field may hold. Anything else is recorded as documented in the README. */
export type FieldValue = string | number | bigint | boolean | null | undefined | Date | Error | object;

/** The fields of an event: `{ orderId: 123, currency: 'EUR' }`. */
export type Fields = Record<string, FieldValue>;

/** Prefix of a string carrying what JSON cannot (bigint, NaN, infinities). */
const MARKER = '\u0000\u0001aires:';
const MAX_DEPTH = 8;

/** A function that turns the value under one top-level key into what is stored, as pino's `serializers`. */
export type Serializer = (value: any) => unknown; // eslint-disable-line @typescript-eslint/no-explicit-any

let redactor: Redactor | undefined;
let serializers: Record<string, Serializer> | undefined;
/** True when some top-level keys need `normalise` (redaction, serializers). */
export let intercepting = false;
const interceptKeys = new Set<string>();
let interceptAll = false;
/** Bumped whenever the rules change, so bindings encoded before are encoded again. */
export let rulesGeneration = 0;

/** Checks init's `redact` and `serializers` (TypeError on bad ones) and returns what puts them in force. */
export function prepareRules(redact: RedactOption | undefined, given: Record<string, Serializer> | undefined): () => void {
  if (given !== undefined && (typeof given !== 'object' || given === null || Object.values(given).some((f) => typeof f !== 'function'))) {
    throw new TypeError('aires.init: serializers must be an object of functions');
  }
  const compiled = redact === undefined ? undefined : new Redactor(redact);
  return () => setRules(compiled, given);
}

function setRules(compiled: Redactor | undefined, given: Record<string, Serializer> | undefined): void {
  redactor = compiled;
  serializers = given === undefined || Object.keys(given).length === 0 ? undefined : { ...given };
  interceptKeys.clear();
  interceptAll = compiled?.firstKeys.has('*') ?? false;
  for (const key of compiled?.firstKeys ?? []) interceptKeys.add(key);
  for (const key of Object.keys(serializers ?? {})) interceptKeys.add(key);
  intercepting = interceptAll || interceptKeys.size > 0;
  rulesGeneration++;
}

/** Whether the top-level `key` needs `normalise` (only asked while `intercepting`). */
export function intercepts(key: string): boolean {
  if (interceptAll || interceptKeys.has(key)) return true;
  // A literal dotted key is stored as the path it spells: `user.token`.
  const dot = key.indexOf('.');
  return dot > 0 && interceptKeys.has(key.slice(0, dot));
}

function hasToJSON(o: object): o is { toJSON(key: string): unknown } {
  return typeof (o as { toJSON?: unknown }).toJSON === 'function';
}

/** Whether `JSON.stringify(fields)` keeps every value exactly (and no rule applies). */
export function isFlat(fields: Fields): boolean {
  if (hasToJSON(fields)) return false;
  for (const key in fields) {
    if (!hasOwn(fields, key)) continue;
    if (intercepting && intercepts(key)) return false;
    const v = fields[key];
    switch (typeof v) {
      case 'string':
        // A string that looks like a marker must be escaped (see `put`).
        if (isMarked(v)) return false;
        continue;
      case 'boolean':
      case 'undefined':
        continue;
      case 'number':
        // NaN and the infinities become null in JSON.
        if (v - v !== 0) return false;
        continue;
      default:
        if (v !== null) return false;
    }
  }
  return true;
}

/** Own properties only, as JSON.stringify reads them. */
function hasOwn(o: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, key);
}

export function isError(v: unknown): v is Error {
  return v instanceof Error || Object.prototype.toString.call(v) === '[object Error]';
}

/** JSON text of anything, never throwing (bigint, cycles, toJSON errors). */
export function safeJson(value: unknown): string {
  const seen = new WeakSet<object>();
  try {
    return (
      JSON.stringify(value, function (this: Record<string, unknown>, key: string, v: unknown) {
        // A Buffer's toJSON has run already; the holder still has the bytes.
        const original = this[key];
        if (original instanceof Uint8Array) return base64(original);
        if (typeof v === 'bigint') return v.toString();
        if (typeof v === 'object' && v !== null) {
          if (seen.has(v)) return '[Circular]';
          seen.add(v);
          if (isError(v)) return { name: v.name, message: v.message };
        }
        return v;
      }) ?? String(value)
    );
  } catch (e) {
    return `[unserialisable: ${(e as Error)?.message ?? String(e)}]`;
  }
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** Removed by a `remove` redaction (inside arrays it becomes null, as fast-redact leaves it). */
const REMOVED = Symbol('removed');

/**
 * A copy of `value` (found at `path`) with the redaction paths applied
 * inside it: arrays (`list.0`, `list.*.pw`), Maps and Sets by key, and
 * objects deeper than the flattening goes. Only called when a path reaches
 * below `path`.
 */
function redactCopy(value: unknown, path: string, depth: number, seen: Set<object>): unknown {
  const r = redactor as Redactor;
  if (r.matches(path)) return r.censor ?? REMOVED;
  if (typeof value !== 'object' || value === null || depth > 64 || value instanceof Date || value instanceof Uint8Array) {
    return value;
  }
  if (seen.has(value)) return '[Circular]';
  seen.add(value);
  let out: unknown;
  if (Array.isArray(value) || value instanceof Set) {
    out = [...value].map((v, i) => {
      const x = redactCopy(v, `${path}.${i}`, depth + 1, seen);
      return x === REMOVED ? null : x;
    });
  } else if (value instanceof Map) {
    const entries: [unknown, unknown][] = [];
    for (const [k, v] of value) {
      const x = redactCopy(v, `${path}.${String(k)}`, depth + 1, seen);
      if (x !== REMOVED) entries.push([k, x]);
    }
    out = entries;
  } else if (hasToJSON(value)) {
    out = redactCopy(value.toJSON(''), path, depth + 1, seen);
  } else {
    const o: Record<string, unknown> = {};
    for (const k in value) {
      if (!hasOwn(value, k)) continue;
      const x = redactCopy((value as Record<string, unknown>)[k], `${path}.${k}`, depth + 1, seen);
      if (x !== REMOVED) o[k] = x;
    }
    out = o;
  }
  seen.delete(value);
  return out;
}

/** `safeJson`, with the redaction paths applied inside first when one reaches below `path`. */
function textOf(value: unknown, path: string): string {
  if (redactor !== undefined && redactor.coversBelow(path)) {
    return safeJson(redactCopy(value, path, 0, new Set()));
  }
  return safeJson(value);
}

/** Whether a string begins as the marker does: it is sent escaped, so an application's string is never read as a bigint or a float. */
function isMarked(v: string): boolean {
  return v.charCodeAt(0) === 0 && v.startsWith(MARKER);
}

function put(out: Record<string, unknown>, key: string, v: unknown, depth: number, seen: Set<object>): void {
  if (depth > 0 && redactor !== undefined && redactor.matches(key)) {
    if (redactor.censor !== undefined) out[key] = redactor.censor;
    return;
  }
  switch (typeof v) {
    case 'string':
      out[key] = isMarked(v) ? `${MARKER}string:${v}` : v;
      return;
    case 'boolean':
      out[key] = v;
      return;
    case 'number':
      out[key] = v - v === 0 ? v : `${MARKER}float:${v}`;
      return;
    case 'bigint':
      out[key] = `${MARKER}bigint:${v.toString()}`;
      return;
    case 'undefined':
    case 'function':
    case 'symbol':
      return;
  }
  if (v === null) return;
  const obj = v as object;
  if (obj instanceof Date) {
    out[key] = Number.isNaN(obj.getTime()) ? 'Invalid Date' : obj.toISOString();
  } else if (isError(obj)) {
    out[`${key}.name`] = obj.name;
    out[`${key}.message`] = obj.message;
    if (typeof obj.stack === 'string') out[`${key}.stack`] = obj.stack;
  } else if (obj instanceof Uint8Array) {
    // A Buffer or bytes: base64, as the Python SDK stores bytes.
    out[key] = base64(obj);
  } else if (Array.isArray(obj) || ArrayBuffer.isView(obj) || obj instanceof Map || obj instanceof Set) {
    const plain = obj instanceof Map ? [...obj] : obj instanceof Set ? [...obj] : ArrayBuffer.isView(obj) ? Array.from(obj as unknown as ArrayLike<unknown>) : obj;
    out[key] = redactor !== undefined && redactor.coversBelow(key) ? textOf(obj instanceof Map ? obj : plain, key) : safeJson(plain);
  } else if (seen.has(obj)) {
    out[key] = '[Circular]';
  } else if (depth >= MAX_DEPTH) {
    out[key] = textOf(obj, key);
  } else if (hasToJSON(obj)) {
    // A URL, a class that redacts itself: stored as what JSON.stringify writes, at any depth.
    seen.add(obj);
    put(out, key, obj.toJSON(key), depth + 1, seen);
    seen.delete(obj);
  } else {
    seen.add(obj);
    for (const k in obj) {
      if (!hasOwn(obj, k)) continue;
      put(out, `${key}.${k}`, (obj as Record<string, unknown>)[k], depth + 1, seen);
    }
    seen.delete(obj);
  }
}

/** The result of `normalise`: flat fields, and the error found under `err` / `error`. */
export interface Normalised {
  fields: Record<string, unknown>;
  error: Error | undefined;
}

/**
 * Flattens nested objects to dotted keys, turns arrays into JSON text and
 * Dates into ISO-8601 text, and lifts an Error under `err` or `error` out
 * of the fields. `http` (an object) and `tags` (an array of strings) stay
 * as they are: the addon fills the event's own columns from them.
 */
export function normalise(fields: Fields): Normalised {
  const out: Record<string, unknown> = {};
  let error: Error | undefined;
  const seen = new Set<object>();
  for (const key in fields) {
    if (!hasOwn(fields, key)) continue;
    let v: unknown = fields[key];
    if (intercepting && intercepts(key)) {
      if (redactor !== undefined && redactor.matches(key)) {
        if (redactor.censor !== undefined) out[key] = redactor.censor;
        continue;
      }
      const serialize = serializers?.[key];
      if (serialize !== undefined) v = serialize(v);
    }
    if ((key === 'err' || key === 'error') && isError(v) && error === undefined) {
      error = v;
      // As pino's err serializer: the error's own properties (code, status...) are kept.
      for (const k of Object.keys(v)) {
        if (k !== 'name' && k !== 'message' && k !== 'stack' && k !== 'cause') {
          put(out, `${key}.${k}`, (v as unknown as Record<string, unknown>)[k], 1, seen);
        }
      }
    } else if (key === 'http' && typeof v === 'object' && v !== null && !Array.isArray(v)) {
      out[key] = v;
    } else if (key === 'tags' && Array.isArray(v) && v.every((t) => typeof t === 'string')) {
      out[key] = v;
    } else if (key === 'tags' && typeof v !== 'string') {
      // Not tags: an ordinary field by the value rules. Text made from it
      // (an array's JSON) is marked, so the addon does not read it as a tag.
      put(out, key, v, 0, seen);
      const made = out[key];
      if (typeof made === 'string' && !isMarked(made)) out[key] = `${MARKER}string:${made}`;
    } else {
      put(out, key, v, 0, seen);
    }
  }
  return { fields: out, error };
}

/**
 * JSON text of an object of fields. An array is one field, `value`, holding
 * its JSON text; an object whose `toJSON` gives something else than an
 * object (a Date, a URL) is one field, `value`, holding that.
 */
export function objectJson(fields: Fields, flat: boolean): { json: string | undefined; error: Error | undefined } {
  if (!flat && hasToJSON(fields)) {
    const j = fields.toJSON('');
    if (typeof j !== 'object' || j === null) return objectJson({ value: j as FieldValue }, false);
    if (j !== fields) return objectJson(j as Fields, false);
  }
  if (Array.isArray(fields)) return { json: JSON.stringify({ value: safeJson(fields) }), error: undefined };
  const n = flat ? { fields, error: undefined } : normalise(fields);
  const json = JSON.stringify(n.fields);
  if (json === undefined || json[0] === '{') return { json, error: n.error };
  return { json: `{"value":${json}}`, error: n.error };
}

/** The fields' JSON text without its braces (bindings to merge). */
export function inner(fields: Fields): string {
  const { json } = objectJson(fields, isFlat(fields));
  return json !== undefined && json.length > 2 ? json.slice(1, -1) : '';
}
