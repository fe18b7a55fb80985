//! The fields of an event, decoded from the JSON text the TypeScript layer
//! sends into a reused [`Decoded`] (no intermediate map): flat objects by
//! hand ([`flat`]), anything else through serde_json.
//!
//! The TypeScript layer sends `JSON.stringify` of the merged fields when
//! every value is a string, a finite number or a boolean, and otherwise a
//! normalised copy (nested objects flattened to dotted keys, arrays as JSON
//! text, Errors and Dates as text). Here:
//!
//! - integers become `I64` (`U64` above `i64::MAX`), other numbers `F64`;
//! - strings starting with [`MARKER`] carry what JSON cannot: `string:<s>`
//!   (an application's string that itself begins with the marker), `bigint:<n>`
//!   and `float:NaN` / `float:Infinity` / `float:-Infinity`;
//! - `null` is skipped; a nested object is flattened (`a.b`); an array is
//!   kept as its JSON text;
//! - the top-level keys `traceId`, `spanId`, `sessionId`, `tags` and `http`
//!   fill the event's own columns when their value has the right shape,
//!   and are ordinary fields otherwise;
//! - a key given twice keeps its last value (call fields override child
//!   bindings and context).

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use aires_core::__private::Attributes;
use aires_core::{Attribute, EventBuilder, HttpInfo, SpanId, Str, TraceId, Value};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::keys::Interner;

mod flat;

/// Prefix of a string that encodes a value JSON cannot hold.
pub(crate) const MARKER: &str = "\u{0}\u{1}aires:";

/// The attributes of one event while they are decoded.
/// The event's own list type, so that it moves into the event whole.
pub(crate) type Fields = Attributes;

/// An event column filled from a reserved key.
#[derive(Debug)]
enum Column {
    TraceId(TraceId),
    SpanId(SpanId),
    SessionId(String),
    Tags(Vec<String>),
    Http(HttpInfo),
}

/// The fields text of one event, decoded: its attributes, and the columns
/// set by reserved keys. It is decoded before the event is started, so a
/// malformed text refuses the event without using a queue slot; reused
/// from call to call.
#[derive(Debug, Default)]
pub(crate) struct Decoded {
    pub(crate) attributes: Fields,
    columns: Vec<Column>,
}

impl Decoded {
    /// Moves everything decoded into `builder`, leaving `self` empty. (An
    /// event dropped before it is built never calls this: the caller
    /// clears what is left.)
    pub(crate) fn apply(&mut self, builder: &mut EventBuilder) {
        builder.set_attributes(std::mem::take(&mut self.attributes));
        for column in self.columns.drain(..) {
            match column {
                Column::TraceId(id) => builder.set_trace_id(id),
                Column::SpanId(id) => builder.set_span_id(id),
                Column::SessionId(id) => builder.set_session_id(id),
                Column::Tags(tags) => builder.extend_tags(tags),
                Column::Http(http) => builder.set_http(http),
            }
        }
    }

    pub(crate) fn clear(&mut self) {
        self.attributes.clear();
        self.columns.clear();
    }
}

/// Decodes `json` (an object) into `out`.
pub(crate) fn decode(
    json: &str,
    out: &mut Decoded,
    keys: &mut Interner,
) -> Result<(), serde_json::Error> {
    out.clear();
    if flat::decode(json, out, keys).is_some() {
        return Ok(());
    }
    out.clear();
    match full(json, out, keys) {
        Err(e) if e.is_syntax() => match lone_surrogates_replaced(json) {
            // JSON.stringify escapes a lone surrogate (`"\ud800"`), which
            // serde_json refuses; it becomes U+FFFD, as V8 writes it in UTF-8.
            Some(repaired) => {
                out.clear();
                full(&repaired, out, keys)
            }
            None => Err(e),
        },
        result => result,
    }
}

fn full(json: &str, out: &mut Decoded, keys: &mut Interner) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(json);
    de.deserialize_map(Top { out, keys })?;
    de.end()
}

/// `json` with every `\u` escape of a lone surrogate replaced by `\ufffd`;
/// `None` when there is none.
fn lone_surrogates_replaced(json: &str) -> Option<String> {
    let bytes = json.as_bytes();
    let surrogate = |at: usize| -> Option<u16> {
        let hex = json.get(at + 2..at + 6)?;
        (bytes.get(at) == Some(&b'\\') && bytes.get(at + 1) == Some(&b'u'))
            .then(|| u16::from_str_radix(hex, 16).ok())
            .flatten()
            .filter(|u| (0xd800..0xe000).contains(u))
    };
    let mut out = String::new();
    let (mut copied, mut at, mut changed) = (0, 0, false);
    while at < bytes.len() {
        if bytes[at] != b'\\' {
            at += 1;
            continue;
        }
        match surrogate(at) {
            Some(0xd800..=0xdbff) if surrogate(at + 6).is_some_and(|low| low >= 0xdc00) => {
                at += 12;
            }
            Some(_) => {
                out.push_str(&json[copied..at]);
                out.push_str("\\ufffd");
                at += 6;
                copied = at;
                changed = true;
            }
            // Any other escape: skip the backslash and what it escapes.
            None => at += 2,
        }
    }
    changed.then(|| {
        out.push_str(&json[copied..]);
        out
    })
}

/// Adds a field; a key seen before keeps the newer value.
pub(crate) fn put(fields: &mut Fields, key: Str, value: Value) {
    match fields.iter_mut().find(|a| same_key(&a.key, &key)) {
        Some(existing) => existing.value = value,
        None => fields.push(Attribute { key, value }),
    }
}

/// Whether two keys are the same text. Borrowed keys here all come from
/// the [`Interner`], so two of them are equal exactly when they share a
/// pointer; only an owned key (too long to intern, or flattened) needs
/// its bytes compared.
fn same_key(a: &Str, b: &Str) -> bool {
    debug_assert!(
        [a, b]
            .iter()
            .all(|k| !matches!(k, Cow::Borrowed(_)) || crate::keys::is_interned(k)),
        "a borrowed key that is not interned"
    );
    match (a, b) {
        (Cow::Borrowed(a), Cow::Borrowed(b)) => a.as_ptr() == b.as_ptr() && a.len() == b.len(),
        _ => a == b,
    }
}

/// A key, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

struct Top<'a> {
    out: &'a mut Decoded,
    keys: &'a mut Interner,
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of fields")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match &*key {
                "traceId" | "spanId" | "sessionId" | "tags" | "http" => {
                    let value: serde_json::Value = map.next_value()?;
                    if !self.reserved(&key, &value) {
                        Nested {
                            fields: &mut self.out.attributes,
                            prefix: key.into_owned(),
                        }
                        .json_value(value);
                    }
                }
                _ => map.next_value_seed(Field {
                    fields: &mut self.out.attributes,
                    keys: self.keys,
                    key: &key,
                })?,
            }
        }
        Ok(())
    }
}

impl Top<'_> {
    /// Fills an event column from a reserved key; false when the value does
    /// not have the column's shape (it is then kept as a field).
    fn reserved(&mut self, key: &str, value: &serde_json::Value) -> bool {
        use serde_json::Value as J;
        let column = match (key, value) {
            ("traceId", J::String(s)) => match TraceId::from_hex(s) {
                Ok(id) => Column::TraceId(id),
                Err(_) => return false,
            },
            ("spanId", J::String(s)) => match SpanId::from_hex(s) {
                Ok(id) => Column::SpanId(id),
                Err(_) => return false,
            },
            ("sessionId", J::String(s)) => Column::SessionId(s.clone()),
            // One string is one tag, as in every SDK.
            // (A marked string is a value converted to text: a field.)
            ("tags", J::String(tag)) if !tag.starts_with(MARKER) => Column::Tags(vec![tag.clone()]),
            ("tags", J::Array(items)) if items.iter().all(J::is_string) => Column::Tags(
                items
                    .iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect(),
            ),
            ("http", J::Object(o)) => Column::Http(http_info(o)),
            _ => return false,
        };
        self.out.columns.push(column);
        true
    }
}

fn http_info(o: &serde_json::Map<String, serde_json::Value>) -> HttpInfo {
    let text = |k: &str| -> Str {
        match o.get(k) {
            Some(serde_json::Value::String(s)) => Cow::Owned(s.clone()),
            Some(serde_json::Value::Null) | None => Cow::Borrowed(""),
            Some(other) => Cow::Owned(other.to_string()),
        }
    };
    let number = |k: &str| o.get(k).and_then(serde_json::Value::as_f64).unwrap_or(0.0);
    let status = number("status");
    let duration_ms = number("durationMs");
    HttpInfo::new(text("method"), text("route"))
        .path(text("path"))
        .status(if (0.0..=65535.0).contains(&status) {
            status as u16
        } else {
            0
        })
        .duration(if duration_ms > 0.0 {
            // NaN, infinities and durations past `Duration::MAX` are unknown.
            Duration::try_from_secs_f64(duration_ms / 1000.0).unwrap_or(Duration::ZERO)
        } else {
            Duration::ZERO
        })
        .user_agent(text("userAgent"))
        .client_ip(text("clientIp"))
        .sizes(
            number("requestBytes") as u64,
            number("responseBytes") as u64,
        )
        .host(text("host"))
        .scheme(text("scheme"))
}

/// One top-level value, decoded without an intermediate tree when it is a
/// scalar (the common case).
struct Field<'a, 'k> {
    fields: &'a mut Fields,
    keys: &'a mut Interner,
    key: &'k str,
}

impl<'de> DeserializeSeed<'de> for Field<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Field<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        put(self.fields, self.keys.get(self.key), Value::Bool(v));
        Ok(())
    }
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        put(self.fields, self.keys.get(self.key), Value::I64(v));
        Ok(())
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        put(self.fields, self.keys.get(self.key), int(v));
        Ok(())
    }
    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        put(self.fields, self.keys.get(self.key), Value::F64(v));
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        put(self.fields, self.keys.get(self.key), text(v));
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let value =
            serde_json::Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                .map_err(serde::de::Error::custom)?;
        Nested {
            fields: self.fields,
            prefix: self.key.to_owned(),
        }
        .json_value(value);
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        let value =
            serde_json::Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                .map_err(serde::de::Error::custom)?;
        put(
            self.fields,
            self.keys.get(self.key),
            Value::Str(value.to_string().into()),
        );
        Ok(())
    }
}

use serde::Deserialize as _;

/// A JSON integer: signed when it fits, which every JS safe integer does.
fn int(v: u64) -> Value {
    match i64::try_from(v) {
        Ok(v) => Value::I64(v),
        Err(_) => Value::U64(v),
    }
}

/// A JSON string, decoding the [`MARKER`] forms.
fn text(v: &str) -> Value {
    if let Some(rest) = v.strip_prefix(MARKER) {
        // An application's own string that begins as the marker does.
        if let Some(text) = rest.strip_prefix("string:") {
            return Value::Str(text.to_owned().into());
        }
        if let Some(digits) = rest.strip_prefix("bigint:") {
            if let Ok(n) = digits.parse::<i64>() {
                return Value::I64(n);
            }
            if let Ok(n) = digits.parse::<u64>() {
                return Value::U64(n);
            }
            return Value::Str(digits.to_owned().into());
        }
        if let Some(float) = rest.strip_prefix("float:") {
            match float {
                "NaN" => return Value::F64(f64::NAN),
                "Infinity" => return Value::F64(f64::INFINITY),
                "-Infinity" => return Value::F64(f64::NEG_INFINITY),
                _ => {}
            }
        }
    }
    Value::Str(v.to_owned().into())
}

/// A nested value, flattened under `prefix`.
struct Nested<'a> {
    fields: &'a mut Fields,
    prefix: String,
}

impl Nested<'_> {
    fn json_value(self, value: serde_json::Value) {
        flatten(self.fields, self.prefix, value);
    }
}

fn flatten(fields: &mut Fields, key: String, value: serde_json::Value) {
    use serde_json::Value as J;
    match value {
        J::Null => {}
        J::Bool(v) => put(fields, key.into(), Value::Bool(v)),
        J::Number(n) => {
            let value = match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => int(u),
                (None, Some(i), _) => Value::I64(i),
                (_, _, Some(f)) => Value::F64(f),
                _ => Value::Str(n.to_string().into()),
            };
            put(fields, key.into(), value);
        }
        J::String(s) => put(fields, key.into(), text(&s)),
        J::Array(_) => put(fields, key.into(), Value::Str(value.to_string().into())),
        J::Object(map) => {
            for (k, v) in map {
                flatten(fields, format!("{key}.{k}"), v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aires_core::{Event, Level};

    fn decoded(json: &str) -> (Event, Fields) {
        let mut out = Decoded::default();
        decode(json, &mut out, &mut Interner::keys()).unwrap();
        let fields = out.attributes.clone();
        let mut builder = Event::builder(Level::Info, "m");
        out.apply(&mut builder);
        (builder.build(), fields)
    }

    fn value<'a>(fields: &'a Fields, key: &str) -> &'a Value {
        &fields.iter().find(|a| a.key == key).unwrap().value
    }

    #[test]
    fn scalars_keep_their_types_and_later_keys_win() {
        let (_, fields) = decoded(
            r#"{"i":-3,"u":18446744073709551615,"f":2.5,"b":true,"s":"zürich","n":null,"i":4}"#,
        );
        assert_eq!(value(&fields, "i"), &Value::I64(4));
        assert_eq!(value(&fields, "u"), &Value::U64(u64::MAX));
        assert_eq!(value(&fields, "f"), &Value::F64(2.5));
        assert_eq!(value(&fields, "b"), &Value::Bool(true));
        assert_eq!(value(&fields, "s"), &Value::Str("zürich".into()));
        assert_eq!(fields.len(), 5, "null skipped, the repeated key once");
    }

    #[test]
    fn markers_nesting_and_arrays() {
        // As JSON.stringify writes the marker: escaped control characters.
        let json = r#"{"big":"\u0000\u0001aires:bigint:-9223372036854775808","huge":"\u0000\u0001aires:bigint:123456789012345678901234","nan":"\u0000\u0001aires:float:NaN","user":{"id":7,"tags":["a"]},"list":[1,"x"]}"#;
        let (_, fields) = decoded(json);
        assert_eq!(value(&fields, "big"), &Value::I64(i64::MIN));
        assert_eq!(
            value(&fields, "huge"),
            &Value::Str("123456789012345678901234".into())
        );
        assert!(matches!(value(&fields, "nan"), Value::F64(f) if f.is_nan()));
        assert_eq!(value(&fields, "user.id"), &Value::I64(7));
        assert_eq!(value(&fields, "user.tags"), &Value::Str(r#"["a"]"#.into()));
        assert_eq!(value(&fields, "list"), &Value::Str(r#"[1,"x"]"#.into()));
    }

    #[test]
    fn reserved_keys_fill_columns_only_with_the_right_shape() {
        let (event, fields) = decoded(
            r#"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"bad","sessionId":"s","tags":["t"],"http":{"method":"GET","route":"/r","status":200,"durationMs":1.5}}"#,
        );
        assert_eq!(
            event.trace_id().unwrap().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(event.span_id(), None);
        assert_eq!(value(&fields, "spanId"), &Value::Str("bad".into()));
        assert_eq!(event.session_id(), Some("s"));
        assert_eq!(event.tags(), ["t"]);
        let http = event.http().unwrap();
        assert_eq!((&*http.method, http.status), ("GET", 200));
        assert_eq!(http.duration, Duration::from_micros(1500));
    }

    #[test]
    fn lone_surrogates_become_the_replacement_character() {
        let (_, fields) =
            decoded(r#"{"a":"x\ud800y","b":"\ud83d\ude80","c":"\\ud800","d":"\udc00"}"#);
        assert_eq!(value(&fields, "a"), &Value::Str("x\u{fffd}y".into()));
        assert_eq!(value(&fields, "b"), &Value::Str("🚀".into()));
        assert_eq!(
            value(&fields, "c"),
            &Value::Str("\\ud800".into()),
            "an escaped backslash"
        );
        assert_eq!(value(&fields, "d"), &Value::Str("\u{fffd}".into()));
    }

    #[test]
    fn an_http_duration_past_what_a_duration_holds_is_unknown() {
        let (event, _) = decoded(r#"{"http":{"method":"GET","durationMs":1e23}}"#);
        assert_eq!(event.http().unwrap().duration, Duration::ZERO);
    }

    #[test]
    fn malformed_text_is_an_error() {
        let mut out = Decoded::default();
        let mut keys = Interner::keys();
        assert!(decode("[1]", &mut out, &mut keys).is_err());
        assert!(decode("{\"a\":1} trailing", &mut out, &mut keys).is_err());
    }
}
