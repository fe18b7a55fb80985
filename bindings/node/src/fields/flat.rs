//! The common case decoded by hand: the text of a flat object as
//! `JSON.stringify` writes it (no whitespace), whose keys and strings have
//! no escapes and whose values are strings, numbers, booleans or null.
//!
//! serde_json's general decoder and its visitors cost several times this
//! per event (see BENCHMARKS.md); anything outside the common case returns
//! `None` and goes to that decoder, which also reports malformed text. The
//! two agree on every text this one accepts (tested below; serde_json is
//! built with `float_roundtrip`, so both read floats exactly).

use aires_core::{SpanId, TraceId, Value};

use super::{put, Column, Decoded};
use crate::keys::Interner;

/// Decodes `json` into `out`, or `None` when it is not the common case
/// (then `out` holds a partial result for the caller to clear).
pub(super) fn decode(json: &str, out: &mut Decoded, keys: &mut Interner) -> Option<()> {
    let bytes = json.as_bytes();
    if bytes.first() != Some(&b'{') {
        return None;
    }
    let mut at = 1;
    if bytes.get(at) == Some(&b'}') {
        return (bytes.len() == 2).then_some(());
    }
    let mut position = 0;
    loop {
        if bytes.get(at) != Some(&b'"') {
            return None;
        }
        let (key, next) = string(json, at + 1)?;
        at = next;
        if bytes.get(at) != Some(&b':') {
            return None;
        }
        at += 1;
        match *bytes.get(at)? {
            b'"' => {
                let (text, next) = string(json, at + 1)?;
                at = next;
                if !column(out, key, text) {
                    put(
                        &mut out.attributes,
                        keys.at(position, key),
                        Value::Str(text.to_owned().into()),
                    );
                }
            }
            b't' if bytes[at..].starts_with(b"true") => {
                at += 4;
                put_value(out, keys, position, key, Value::Bool(true))?;
            }
            b'f' if bytes[at..].starts_with(b"false") => {
                at += 5;
                put_value(out, keys, position, key, Value::Bool(false))?;
            }
            b'n' if bytes[at..].starts_with(b"null") => {
                at += 4;
                ordinary(key).then_some(())?;
            }
            b'-' | b'0'..=b'9' => {
                let (value, next) = number(json, at)?;
                at = next;
                put_value(out, keys, position, key, value)?;
            }
            _ => return None,
        }
        position += 1;
        match *bytes.get(at)? {
            b',' => at += 1,
            b'}' => return (at + 1 == bytes.len()).then_some(()),
            _ => return None,
        }
    }
}

/// Whether `key` is not one the full decoder treats apart (see the
/// `fields` module).
fn ordinary(key: &str) -> bool {
    !matches!(key, "traceId" | "spanId" | "sessionId" | "tags" | "http")
}

/// Puts a non-string value; `None` for a reserved key (the full decoder
/// decides what those hold).
fn put_value(
    out: &mut Decoded,
    keys: &mut Interner,
    position: usize,
    key: &str,
    value: Value,
) -> Option<()> {
    ordinary(key).then_some(())?;
    put(&mut out.attributes, keys.at(position, key), value);
    Some(())
}

/// Fills a column from a string under a reserved key, as the full decoder
/// does; false when the key is not reserved or the string has not the
/// column's shape (it is then an ordinary field).
fn column(out: &mut Decoded, key: &str, text: &str) -> bool {
    let column = match key {
        "traceId" => match TraceId::from_hex(text) {
            Ok(id) => Column::TraceId(id),
            Err(_) => return false,
        },
        "spanId" => match SpanId::from_hex(text) {
            Ok(id) => Column::SpanId(id),
            Err(_) => return false,
        },
        "sessionId" => Column::SessionId(text.to_owned()),
        // One string is one tag, as in every SDK.
        "tags" => Column::Tags(vec![text.to_owned()]),
        _ => return false,
    };
    out.columns.push(column);
    true
}

/// The text of a string whose opening quote is before `start`, and the
/// index after its closing quote; `None` if it has an escape or a control
/// character (left to the full decoder).
fn string(json: &str, start: usize) -> Option<(&str, usize)> {
    let bytes = json.as_bytes();
    let len = bytes
        .get(start..)?
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    let end = start + len;
    (bytes[end] == b'"').then(|| (&json[start..end], end + 1))
}

/// A number starting at `start`: an integer of at most 18 digits as
/// `I64` (but `-0` as `F64`), a number with a fraction or exponent as `F64`; `None` for
/// anything else (longer integers, malformed numbers).
fn number(json: &str, start: usize) -> Option<(Value, usize)> {
    let bytes = json.as_bytes();
    let len = bytes[start..]
        .iter()
        .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
        .unwrap_or(bytes.len() - start);
    let text = &json[start..start + len];
    let digits = text.strip_prefix('-').unwrap_or(text);
    let first = *digits.as_bytes().first()?;
    let leading_zero = first == b'0' && digits.len() > 1 && digits.as_bytes()[1].is_ascii_digit();
    if !first.is_ascii_digit() || leading_zero {
        return None;
    }
    if digits.bytes().all(|b| b.is_ascii_digit()) {
        if digits.len() > 18 {
            return None;
        }
        // serde_json reads "-0" as the float, keeping its sign.
        let value = if text == "-0" {
            Value::F64(-0.0)
        } else {
            Value::I64(text.parse().ok()?)
        };
        return Some((value, start + len));
    }
    // JSON's own shape of a fraction and exponent: digits after the point
    // and after the exponent's sign. Rust's parser accepts more ("1.", "1e").
    let (mantissa, exponent) = match digits.find(['e', 'E']) {
        Some(e) => (&digits[..e], Some(&digits[e + 1..])),
        None => (digits, None),
    };
    if let Some((whole, fraction)) = mantissa.split_once('.') {
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(whole) || !all_digits(fraction) {
            return None;
        }
    } else if !mantissa.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Some(exponent) = exponent {
        let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
        if exponent.is_empty() || !exponent.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    let value: f64 = text.parse().ok()?;
    // "1e400": serde_json calls it out of range.
    value
        .is_finite()
        .then_some((Value::F64(value), start + len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::Fields;

    /// What the full decoder makes of `json`.
    fn full(json: &str) -> Result<Decoded, serde_json::Error> {
        let mut out = Decoded::default();
        let mut de = serde_json::Deserializer::from_str(json);
        serde::Deserializer::deserialize_map(
            &mut de,
            super::super::Top {
                out: &mut out,
                keys: &mut Interner::keys(),
            },
        )?;
        de.end()?;
        Ok(out)
    }

    fn fast(json: &str) -> Option<Decoded> {
        let mut out = Decoded::default();
        decode(json, &mut out, &mut Interner::keys())?;
        Some(out)
    }

    fn attributes(d: &Decoded) -> Fields {
        d.attributes.clone()
    }

    #[test]
    fn agrees_with_the_full_decoder() {
        let texts = [
            r#"{}"#,
            r#"{"orderId":123,"amount":9.99,"currency":"EUR","customer":"c-42","paid":true}"#,
            r#"{"a":-0,"b":-12,"c":1e+21,"d":1.5e-7,"e":0.1,"f":false,"g":null,"h":""}"#,
            r#"{"k":1,"k":"again","zürich":"grüezi ✓"}"#,
            r#"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","sessionId":"s-1","x":1}"#,
            r#"{"traceId":"not hex","sessionId":"","n":999999999999999999}"#,
        ];
        for json in texts {
            let (fast, full) = (fast(json).expect(json), full(json).unwrap());
            assert_eq!(attributes(&fast), attributes(&full), "{json}");
            assert_eq!(
                format!("{:?}", fast.columns),
                format!("{:?}", full.columns),
                "{json}"
            );
        }
    }

    #[test]
    fn leaves_the_rest_to_the_full_decoder() {
        for json in [
            r#"{"s":"quote \" inside"}"#,
            r#"{"big":1234567890123456789}"#,
            r#"{"nested":{"a":1}}"#,
            r#"{"list":[1]}"#,
            r#"{"tags":["t"]}"#,
            r#"{"http":{"method":"GET"}}"#,
            r#"{"traceId":null}"#,
            r#"{"spanId":7}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":1e}"#,
            r#"{"a":-}"#,
            r#"{"a":1} "#,
            r#"{"a":1,}"#,
            r#"{"a" :1}"#,
            r#"[1]"#,
            r#"{"a":tru}"#,
            "{\"a\":\"\u{1}\"}",
            r#"{"a":1"#,
            r#"{"a":1e400}"#,
        ] {
            assert!(fast(json).is_none(), "{json}");
        }
    }
}
