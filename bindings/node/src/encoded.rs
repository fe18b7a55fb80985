//! Fields as bytes: the TypeScript layer's fast path (`src/encode.ts`)
//! writes a flat fields object into a buffer it reuses, and the addon reads
//! it here, instead of `JSON.stringify` on one side and a JSON decoder on
//! the other (the two cost about half of a call, see BENCHMARKS.md).
//!
//! The layout, entry after entry, little-endian:
//!
//! | byte | then | value |
//! |---|---|---|
//! | 1 | key id (u16), f64 | a number: an integer below 2^63 in magnitude as `I64`, from 2^63 to 2^64 as `U64`, otherwise `F64` (as its JSON text decodes, except that integers beyond 2^53 keep their exact value, where JSON writes V8's shortest decimal) |
//! | 2 | key id (u16) | `true` |
//! | 3 | key id (u16) | `false` |
//! | 4 | key id (u16), length (u32), UTF-8 bytes | a string |
//!
//! Key ids come from [`FieldKeys::define`], per thread: the layer asks once
//! per key and remembers the answer, and ids are never reused, so every
//! copy of the layer loaded on a thread agrees with the addon. Reserved
//! keys (`traceId`, `http`, ...) get no id: objects using them go the JSON
//! way, which fills the event's columns from them.

use std::collections::HashMap;

use aires_core::{Str, Value};

use crate::fields::{put, Decoded};
use crate::keys::Interner;

/// Ids handed out per thread at most; later keys go the JSON way. Every
/// copy of the layer loaded on the thread shares them.
const MAX_KEYS: usize = 4096;
/// Longer keys go the JSON way (each id keeps its key twice per thread).
const MAX_KEY_LEN: usize = 64;

/// The field keys of one thread, by id.
#[derive(Debug, Default)]
pub(crate) struct FieldKeys {
    by_id: Vec<Str>,
    ids: HashMap<String, u16>,
}

impl FieldKeys {
    /// The id of `key`, or `None` when it is reserved or the table is full.
    pub(crate) fn define(&mut self, key: &str, interner: &mut Interner) -> Option<u16> {
        if key.len() > MAX_KEY_LEN
            || matches!(key, "traceId" | "spanId" | "sessionId" | "tags" | "http")
        {
            return None;
        }
        if let Some(&id) = self.ids.get(key) {
            return Some(id);
        }
        if self.by_id.len() >= MAX_KEYS {
            return None;
        }
        let id = self.by_id.len() as u16;
        self.by_id.push(interner.get(key));
        self.ids.insert(key.to_owned(), id);
        Some(id)
    }
}

/// Why encoded fields do not read (only a direct call of the addon can
/// send such bytes; the layer never does).
#[derive(Debug, PartialEq)]
pub(crate) struct Malformed(pub(crate) &'static str, pub(crate) usize);

/// Decodes `bytes` into `out`.
pub(crate) fn decode(bytes: &[u8], keys: &FieldKeys, out: &mut Decoded) -> Result<(), Malformed> {
    out.clear();
    let mut at = 0;
    while at < bytes.len() {
        let tag = bytes[at];
        let id = read::<2>(bytes, at + 1).ok_or(Malformed("truncated key id", at))?;
        let key = keys
            .by_id
            .get(usize::from(u16::from_le_bytes(id)))
            .ok_or(Malformed("unknown key id", at))?
            .clone();
        at += 3;
        let value = match tag {
            1 => {
                let raw = read::<8>(bytes, at).ok_or(Malformed("truncated number", at))?;
                at += 8;
                number(f64::from_le_bytes(raw))
            }
            2 => Value::Bool(true),
            3 => Value::Bool(false),
            4 => {
                let len = read::<4>(bytes, at).ok_or(Malformed("truncated length", at))?;
                let len = u32::from_le_bytes(len) as usize;
                let text = bytes
                    .get(at + 4..at + 4 + len)
                    .ok_or(Malformed("truncated string", at))?;
                let text = std::str::from_utf8(text).map_err(|_| Malformed("invalid UTF-8", at))?;
                at += 4 + len;
                Value::Str(text.to_owned().into())
            }
            _ => return Err(Malformed("unknown tag", at - 3)),
        };
        put(&mut out.attributes, key, value);
    }
    Ok(())
}

fn read<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at + N)?.try_into().ok()
}

/// A JavaScript number typed as the JSON decoder types its text: JSON
/// writes integers below 1e21 in full, which decode as integers when they
/// fit 64 bits. (Beyond 2^53 the JSON text is V8's shortest decimal, which
/// can land the other side of a bound: `-(2 ** 63)` is an `F64` there.)
fn number(v: f64) -> Value {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    const TWO_64: f64 = 18_446_744_073_709_551_616.0;
    if v.fract() != 0.0 || v.abs() >= 1e21 {
        Value::F64(v)
    } else if (-TWO_63..TWO_63).contains(&v) {
        Value::I64(v as i64)
    } else if (0.0..TWO_64).contains(&v) {
        Value::U64(v as u64)
    } else {
        Value::F64(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tag: u8, id: u16, rest: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        v.extend_from_slice(&id.to_le_bytes());
        v.extend_from_slice(rest);
        v
    }

    fn string(id: u16, s: &str) -> Vec<u8> {
        let mut rest = (s.len() as u32).to_le_bytes().to_vec();
        rest.extend_from_slice(s.as_bytes());
        entry(4, id, &rest)
    }

    #[test]
    fn every_kind_decodes_and_later_keys_win() {
        let (mut keys, mut interner) = (FieldKeys::default(), Interner::keys());
        let a = keys.define("a", &mut interner).unwrap();
        let b = keys.define("b", &mut interner).unwrap();
        assert_eq!(keys.define("a", &mut interner), Some(a), "one id per key");
        assert_eq!(keys.define("traceId", &mut interner), None, "reserved");
        let bytes = [
            entry(1, a, &2.5f64.to_le_bytes()),
            entry(2, b, &[]),
            string(a, "zürich ✓"),
            entry(3, b, &[]),
        ]
        .concat();
        let mut out = Decoded::default();
        decode(&bytes, &keys, &mut out).unwrap();
        let got: Vec<_> = out
            .attributes
            .iter()
            .map(|x| (&*x.key, x.value.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("a", Value::Str("zürich ✓".into())),
                ("b", Value::Bool(false))
            ]
        );
    }

    #[test]
    fn numbers_type_as_their_json_text_would() {
        assert_eq!(number(123.0), Value::I64(123));
        assert_eq!(number(-0.0), Value::I64(0));
        assert_eq!(number(9.99), Value::F64(9.99));
        assert_eq!(number(2f64.powi(63)), Value::U64(1 << 63));
        assert_eq!(number(-(2f64.powi(63))), Value::I64(i64::MIN));
        assert_eq!(number(1e20), Value::F64(1e20));
        assert_eq!(number(1e21), Value::F64(1e21));
    }

    #[test]
    fn malformed_bytes_are_errors() {
        let (mut keys, mut interner) = (FieldKeys::default(), Interner::keys());
        let a = keys.define("a", &mut interner).unwrap();
        let mut out = Decoded::default();
        for (bytes, why) in [
            (entry(1, a, &[0; 7]), "truncated number"),
            (entry(2, 9, &[]), "unknown key id"),
            (entry(9, a, &[]), "unknown tag"),
            (vec![2, 0], "truncated key id"),
            (entry(4, a, &[5, 0, 0, 0, b'x']), "truncated string"),
            (entry(4, a, &[1, 0, 0, 0, 0xff]), "invalid UTF-8"),
        ] {
            assert_eq!(decode(&bytes, &keys, &mut out).unwrap_err().0, why);
        }
    }
}
