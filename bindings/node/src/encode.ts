// The fast way across for flat fields: written into one reused buffer in
// the layout src/encoded.rs reads, instead of JSON.stringify and a JSON
// decoder (together about half the cost of a call; see BENCHMARKS.md).
// Anything this cannot write (nested values, bigint, NaN, reserved keys,
// a full buffer) makes `encodeFields` answer -1, and the caller sends JSON.

import * as native from '../native';
import { Fields, intercepting, intercepts } from './fields';

/** Bytes of the buffer; fields that need more go as JSON. */
const CAPACITY = 1 << 16;
const buffer = new ArrayBuffer(CAPACITY);
const bytes = new Uint8Array(buffer);
const view = new DataView(buffer);
const utf8 = new TextEncoder();

const NUMBER = 1;
const TRUE = 2;
const FALSE = 3;
const STRING = 4;

/** Key ids given by the addon for this thread; -1: send as JSON. */
const keyIds = new Map<string, number>();
/** Answers kept at most (keys chosen by a client, such as headers, are unbounded). */
const MAX_REMEMBERED = 8192;

function keyId(key: string): number {
  let id = keyIds.get(key);
  if (id === undefined) {
    id = native.defineFieldKey(key);
    if (keyIds.size < MAX_REMEMBERED) keyIds.set(key, id);
  }
  return id;
}

/**
 * Writes the flat `fields` into the buffer from byte `at`; returns the end,
 * or -1 when they must go as JSON. Only plain objects (whose own enumerable
 * properties are what JSON.stringify writes, with no `toJSON`) are written.
 */
function encodeFields(fields: Fields, at: number): number {
  const proto = Object.getPrototypeOf(fields);
  if (proto !== Object.prototype && proto !== null) return -1;
  for (const key in fields) {
    if (!Object.prototype.hasOwnProperty.call(fields, key)) continue;
    // Redaction and serializers apply on the JSON way.
    if (intercepting && intercepts(key)) return -1;
    const v = fields[key];
    let tag: number;
    switch (typeof v) {
      case 'string':
        // A leading NUL may be the JSON way's marker (bigint, NaN): let it decide.
        if (v.charCodeAt(0) === 0) return -1;
        tag = STRING;
        break;
      case 'number':
        // NaN and the infinities take the JSON way, which keeps them.
        if (v - v !== 0) return -1;
        tag = NUMBER;
        break;
      case 'boolean':
        tag = v ? TRUE : FALSE;
        break;
      case 'undefined':
        continue;
      default:
        if (v === null) continue;
        return -1;
    }
    const id = keyId(key);
    if (id < 0 || at + 11 > CAPACITY) return -1;
    bytes[at] = tag;
    view.setUint16(at + 1, id, true);
    at += 3;
    if (tag === NUMBER) {
      view.setFloat64(at, v as number, true);
      at += 8;
    } else if (tag === STRING) {
      at = writeString(v as string, at);
      if (at < 0) return -1;
    }
  }
  return at;
}

/** A length-prefixed UTF-8 string at `at`; -1 when it does not fit. */
function writeString(s: string, at: number): number {
  const start = at + 4;
  const n = s.length;
  // At most 3 bytes of UTF-8 per UTF-16 unit.
  if (start + 3 * n > CAPACITY) return -1;
  let end = start;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) {
      // Not ASCII: the encoder writes it all (lone surrogates as U+FFFD,
      // as V8 does when it hands a string to the addon).
      end = start + utf8.encodeInto(s, bytes.subarray(start)).written;
      break;
    }
    bytes[end++] = c;
  }
  view.setUint32(at, end - start, true);
  return end;
}

/** The buffer the encoded fields are in, for the addon. */
export const encodedBuffer: ArrayBuffer = buffer;

/** True while fields are being written: a getter that logs must not overwrite them. */
let writing = false;

/**
 * Writes `prefix` (encoded bindings) and then `fields` (if any) from the
 * start of the buffer; returns the end, or -1 when they must go as JSON
 * (including when a getter throws: the JSON way records why).
 */
export function encodeCall(prefix: Uint8Array, fields: Fields | undefined | null): number {
  if (writing) return -1;
  writing = true;
  try {
    if (prefix.length !== 0) bytes.set(prefix, 0);
    if (fields === undefined || fields === null) return prefix.length;
    return typeof fields === 'object' ? encodeFields(fields, prefix.length) : -1;
  } catch {
    return -1;
  } finally {
    writing = false;
  }
}

/** A copy of the first `end` bytes (a child logger's encoded bindings). */
export function encodedCopy(end: number): Uint8Array {
  return bytes.slice(0, end);
}
