//! From `tracing`'s fields to an Aires event: typed attributes, the message,
//! the error, and the field names reserved for Aires' columns.

use std::borrow::Cow;
use std::error::Error;
use std::fmt::{self, Write as _};
use std::time::Duration;

use aires_core::{EventBuilder, HttpInfo, SpanId, Str, TraceId, Value};
use tracing_core::field::{Field, Visit};

/// One field's value as `tracing` hands it over.
#[derive(Clone, Copy)]
pub(crate) enum FieldValue<'a> {
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    F64(f64),
    Bool(bool),
    Str(&'a str),
    Debug(&'a dyn fmt::Debug),
}

impl FieldValue<'_> {
    /// The typed Aires value: integers keep their signedness, integers
    /// beyond 64 bits become their decimal text, `?x` / `%x` their text.
    #[inline(always)]
    pub(crate) fn to_value(self) -> Value {
        self.to_value_at(usize::MAX)
    }

    /// [`FieldValue::to_value`] for the `position`-th field of an event
    /// (where its text is looked up first). Inlined: for a value of a
    /// known kind only its own arm remains.
    #[inline(always)]
    pub(crate) fn to_value_at(self, position: usize) -> Value {
        match self {
            FieldValue::I64(v) => Value::I64(v),
            FieldValue::U64(v) => Value::U64(v),
            FieldValue::I128(v) => match (i64::try_from(v), u64::try_from(v)) {
                (Ok(v), _) => Value::I64(v),
                (_, Ok(v)) => Value::U64(v),
                _ => Value::Str(Cow::Owned(v.to_string())),
            },
            FieldValue::U128(v) => match u64::try_from(v) {
                Ok(v) => Value::U64(v),
                Err(_) => Value::Str(Cow::Owned(v.to_string())),
            },
            FieldValue::F64(v) => Value::F64(v),
            FieldValue::Bool(v) => Value::Bool(v),
            FieldValue::Str(v) => Value::Str(texts::value(position, v)),
            FieldValue::Debug(v) => Value::Str(texts::debug(position, v)),
        }
    }

    /// The value as a non-negative integer, if it is one.
    fn to_u128(self) -> Option<u128> {
        match self {
            FieldValue::I64(v) => u128::try_from(v).ok(),
            FieldValue::U64(v) => Some(v.into()),
            FieldValue::I128(v) => u128::try_from(v).ok(),
            FieldValue::U128(v) => Some(v),
            _ => None,
        }
    }

    /// The value as text, for the reserved names that hold text.
    fn to_text(self) -> Option<String> {
        match self {
            FieldValue::Str(v) => Some(v.to_owned()),
            FieldValue::Debug(v) => Some(debug_text(v)),
            _ => None,
        }
    }

    /// Runs `f` with the value's text, without allocating when it is short
    /// (ids are parsed from it).
    fn with_short_text<T>(self, f: impl FnOnce(&str) -> Option<T>) -> Option<T> {
        match self {
            FieldValue::Str(v) => f(v),
            FieldValue::Debug(v) => {
                let mut buffer = ShortText::default();
                write!(buffer, "{v:?}").ok()?;
                f(buffer.as_str())
            }
            _ => None,
        }
    }
}

/// The `Debug` text of a value (a `%x` field's `Display` text). An error
/// from the value's formatting keeps what was written before it.
/// Text of events, interned per thread: a `tracing` event's message and
/// its string fields reach a layer as borrowed text (`tracing` erases the
/// `'static` of a literal), and would otherwise be copied into every event.
/// The same message and the same short values come back event after event,
/// so each is copied once, into a bounded process-wide table
/// (`aires_core`'s interner, as the language bindings use), and then shared.
pub(crate) mod texts {
    use std::borrow::Cow;
    use std::cell::RefCell;
    use std::fmt::{self, Write as _};

    use aires_core::sdk::intern::{same_bytes, Interner};
    use aires_core::Str;

    struct Texts {
        messages: Interner,
        values: Interner,
        /// Where `Debug` text is written before it is looked up.
        buf: String,
    }

    thread_local! {
        static TEXTS: RefCell<Texts> = RefCell::new(Texts {
            messages: Interner::messages(),
            values: Interner::values(),
            buf: String::new(),
        });
    }

    /// Runs `f` with this thread's texts, or `None` if they are in use
    /// (a `Debug` impl that logs while it is being formatted) or gone.
    fn with<R>(f: impl FnOnce(&mut Texts) -> R) -> Option<R> {
        TEXTS
            .try_with(|texts| texts.try_borrow_mut().ok().map(|mut t| f(&mut t)))
            .ok()
            .flatten()
    }

    // Look-ups go by the field's position in its call site first: the
    // events of one call site repeat their texts in the same places, so
    // that usually costs one comparison and no hashing.

    /// A string field's value, the `position`-th field of its event.
    #[inline]
    pub(crate) fn value(position: usize, text: &str) -> Str {
        with(|t| t.values.at(position, text)).unwrap_or_else(|| text.to_owned().into())
    }

    /// A message given as text.
    #[inline]
    pub(crate) fn message(text: &str) -> Str {
        with(|t| t.messages.at(0, text)).unwrap_or_else(|| text.to_owned().into())
    }

    /// A message given as format arguments (what `tracing`'s macros make
    /// of one). It is compared with this thread's last message (the one
    /// its table would compare it with first) while it is written, and
    /// copied only once it differs, so a repeated message is neither copied
    /// nor looked up.
    pub(crate) fn message_args(args: &dyn fmt::Debug) -> Str {
        with(|t| {
            t.buf.clear();
            let last = t.messages.recent(0).unwrap_or("");
            let mut text = Compared {
                last,
                matched: 0,
                differs: false,
                buf: &mut t.buf,
            };
            // An error from a `Debug` impl keeps what was written before it.
            let _ = write!(text, "{args:?}");
            match (text.differs, text.matched) {
                (false, matched) if matched == last.len() => return Cow::Borrowed(last),
                // The start of the last message, and no more.
                (false, matched) => t.buf.push_str(&last[..matched]),
                (true, _) => {}
            }
            let message = t.messages.at(0, &t.buf);
            shrink(&mut t.buf);
            message
        })
        .unwrap_or_else(|| super::debug_text(args).into())
    }

    /// Text written after `last` for as long as it matches it, then into
    /// `buf` (the matched part first).
    struct Compared<'a> {
        last: &'static str,
        /// Bytes of `last` matched so far: a sum of whole `str`s' lengths,
        /// so always at a character boundary.
        matched: usize,
        differs: bool,
        buf: &'a mut String,
    }

    impl fmt::Write for Compared<'_> {
        #[inline]
        fn write_str(&mut self, s: &str) -> fmt::Result {
            if !self.differs {
                let rest = &self.last.as_bytes()[self.matched..];
                if rest.len() >= s.len() && same_bytes(&rest[..s.len()], s.as_bytes()) {
                    self.matched += s.len();
                    return Ok(());
                }
                self.differs = true;
                self.buf.push_str(&self.last[..self.matched]);
            }
            self.buf.push_str(s);
            Ok(())
        }
    }

    /// The `Debug` text of a field (`?x`, `%x`), interned as a value.
    pub(crate) fn debug(position: usize, value: &dyn fmt::Debug) -> Str {
        with(|t| {
            t.buf.clear();
            let _ = write!(t.buf, "{value:?}");
            let text = t.values.at(position, &t.buf);
            shrink(&mut t.buf);
            text
        })
        .unwrap_or_else(|| super::debug_text(value).into())
    }

    /// One huge `Debug` text must not hold its memory for the life of the
    /// thread.
    fn shrink(buf: &mut String) {
        if buf.capacity() > 64 << 10 {
            *buf = String::new();
        }
    }
}

pub(crate) fn debug_text(value: &dyn fmt::Debug) -> String {
    let mut text = String::new();
    let _ = write!(text, "{value:?}");
    text
}

/// Up to 64 bytes of text on the stack; longer text fails to write.
struct ShortText {
    bytes: [u8; 64],
    len: usize,
}

impl Default for ShortText {
    fn default() -> Self {
        ShortText {
            bytes: [0; 64],
            len: 0,
        }
    }
}

impl ShortText {
    fn as_str(&self) -> &str {
        // Only whole `str`s are copied in, so this is UTF-8.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl fmt::Write for ShortText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > self.bytes.len() {
            return Err(fmt::Error);
        }
        self.bytes[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// A field name that fills one of Aires' columns instead of an attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reserved {
    TraceId,
    SpanId,
    SessionId,
    Http(HttpPart),
}

/// The part of [`HttpInfo`] a reserved `http.*` name fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HttpPart {
    Method,
    Route,
    Path,
    Status,
    DurationMs,
    UserAgent,
    ClientIp,
    Host,
    Scheme,
    RequestBytes,
    ResponseBytes,
}

impl Reserved {
    /// The column `name` fills, if any. Both the short `http.*` names and
    /// OpenTelemetry's semantic-convention names are understood.
    #[inline]
    pub(crate) fn of(name: &str) -> Option<Reserved> {
        use HttpPart::*;
        if !Reserved::may_be(name) {
            return None;
        }
        Some(match name {
            "trace_id" => Reserved::TraceId,
            "span_id" => Reserved::SpanId,
            "session_id" => Reserved::SessionId,
            "http.method" | "http.request.method" => Reserved::Http(Method),
            "http.route" => Reserved::Http(Route),
            "http.path" | "url.path" => Reserved::Http(Path),
            "http.status_code" | "http.response.status_code" => Reserved::Http(Status),
            "http.duration_ms" => Reserved::Http(DurationMs),
            "http.user_agent" | "user_agent.original" => Reserved::Http(UserAgent),
            "http.client_ip" | "client.address" => Reserved::Http(ClientIp),
            "http.host" | "server.address" => Reserved::Http(Host),
            "http.scheme" | "url.scheme" => Reserved::Http(Scheme),
            "http.request.body.size" => Reserved::Http(RequestBytes),
            "http.response.body.size" => Reserved::Http(ResponseBytes),
            _ => return None,
        })
    }

    /// False for most names that are not reserved, decided on their first
    /// byte and length, or a prefix, before any full comparison.
    #[inline(always)]
    fn may_be(name: &str) -> bool {
        match name.as_bytes().first() {
            Some(b't') => name.len() == 8,
            Some(b's') => matches!(name.len(), 7 | 10 | 14),
            Some(b'h') => name.starts_with("http."),
            Some(b'u') => name.starts_with("url.") || name.len() == 19,
            Some(b'c') => name.len() == 14,
            _ => false,
        }
    }
}

/// A trace id from 32 hex digits or a non-zero integer.
pub(crate) fn parse_trace_id(value: FieldValue<'_>) -> Option<TraceId> {
    match value.to_u128() {
        Some(v) => TraceId::from_int(v),
        None => value.with_short_text(|text| TraceId::from_hex(text).ok()),
    }
}

/// A span id from 16 hex digits or a non-zero integer of up to 64 bits.
pub(crate) fn parse_span_id(value: FieldValue<'_>) -> Option<SpanId> {
    match value.to_u128() {
        Some(v) => SpanId::from_int(u64::try_from(v).ok()?),
        None => value.with_short_text(|text| SpanId::from_hex(text).ok()),
    }
}

/// Sets `part` of `http` from `value`; false (nothing set) when the value
/// does not fit it.
fn set_http_part(http: &mut HttpInfo, part: HttpPart, value: FieldValue<'_>) -> bool {
    let text = |value: FieldValue<'_>| value.to_text().map(Str::Owned);
    match part {
        HttpPart::Method => text(value).map(|v| http.method = v).is_some(),
        HttpPart::Route => text(value).map(|v| http.route = v).is_some(),
        HttpPart::Path => text(value).map(|v| http.path = v).is_some(),
        HttpPart::UserAgent => text(value).map(|v| http.user_agent = v).is_some(),
        HttpPart::ClientIp => text(value).map(|v| http.client_ip = v).is_some(),
        HttpPart::Host => text(value).map(|v| http.host = v).is_some(),
        HttpPart::Scheme => text(value).map(|v| http.scheme = v).is_some(),
        HttpPart::Status => {
            let status = match value {
                FieldValue::Str(v) => v.trim().parse::<u16>().ok(),
                other => other.to_u128().and_then(|v| u16::try_from(v).ok()),
            };
            status.map(|v| http.status = v).is_some()
        }
        HttpPart::DurationMs => {
            let duration = match value {
                FieldValue::F64(ms) => Duration::try_from_secs_f64(ms / 1000.0).ok(),
                other => other
                    .to_u128()
                    .and_then(|ms| u64::try_from(ms).ok())
                    .map(Duration::from_millis),
            };
            duration.map(|v| http.duration = v).is_some()
        }
        HttpPart::RequestBytes | HttpPart::ResponseBytes => {
            let Some(bytes) = value.to_u128().and_then(|v| u64::try_from(v).ok()) else {
                return false;
            };
            if part == HttpPart::RequestBytes {
                http.request_bytes = bytes;
            } else {
                http.response_bytes = bytes;
            }
            true
        }
    }
}

/// The `Visit` methods of a visitor that handles every kind of value in
/// one `field(&Field, FieldValue)` method (errors are handled apart).
macro_rules! record_each_kind_through_field {
    () => {
        fn record_f64(&mut self, field: &Field, value: f64) {
            self.field(field, FieldValue::F64(value));
        }

        fn record_i64(&mut self, field: &Field, value: i64) {
            self.field(field, FieldValue::I64(value));
        }

        fn record_u64(&mut self, field: &Field, value: u64) {
            self.field(field, FieldValue::U64(value));
        }

        fn record_i128(&mut self, field: &Field, value: i128) {
            self.field(field, FieldValue::I128(value));
        }

        fn record_u128(&mut self, field: &Field, value: u128) {
            self.field(field, FieldValue::U128(value));
        }

        fn record_bool(&mut self, field: &Field, value: bool) {
            self.field(field, FieldValue::Bool(value));
        }

        fn record_str(&mut self, field: &Field, value: &str) {
            self.field(field, FieldValue::Str(value));
        }

        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            self.field(field, FieldValue::Debug(value));
        }
    };
}

/// Writes an event's fields into its builder, in the queue slot: the
/// message, typed attributes, the reserved names' columns, the error.
pub(crate) struct EventVisitor<'b> {
    pub(crate) builder: &'b mut EventBuilder,
    /// Skip `log.*`: the fields `tracing-log` carries a log record's
    /// metadata in (read from the normalized metadata instead).
    pub(crate) skip_log_fields: bool,
    pub(crate) http: Option<HttpInfo>,
    pub(crate) has_error: bool,
    pub(crate) trace_id: Option<TraceId>,
    pub(crate) span_id: Option<SpanId>,
    /// A `session_id` field filled the session column.
    pub(crate) session_set: bool,
    /// Text values seen so far: their positions, for the look-up.
    texts: usize,
}

impl<'b> EventVisitor<'b> {
    pub(crate) fn new(builder: &'b mut EventBuilder, skip_log_fields: bool) -> Self {
        EventVisitor {
            builder,
            skip_log_fields,
            http: None,
            has_error: false,
            trace_id: None,
            span_id: None,
            session_set: false,
            texts: 0,
        }
    }

    #[inline(always)]
    fn is_plain(&self, name: &str) -> bool {
        is_plain(name, self.skip_log_fields)
    }

    /// The position of the next text value among the event's, for the
    /// look-up of its text.
    #[inline(always)]
    fn next_text(&mut self) -> usize {
        self.texts += 1;
        self.texts - 1
    }

    /// A field of any kind and name: the message, a reserved name, or an
    /// ordinary attribute. The `Visit` methods take the short way for
    /// ordinary names ([`Self::is_plain`]) and come here for the rest.
    #[inline(never)]
    fn field(&mut self, field: &Field, value: FieldValue<'_>) {
        let name = field.name();
        if is_message(name) {
            self.builder.set_message(match value {
                FieldValue::Str(text) => texts::message(text),
                FieldValue::Debug(args) => texts::message_args(args),
                other => match other.to_value() {
                    Value::Str(text) => text,
                    value => value.to_string().into(),
                },
            });
            return;
        }
        if self.skip_log_fields && name.starts_with("log.") {
            return;
        }
        if let Some(reserved) = Reserved::of(name) {
            if self.reserved(reserved, value) {
                return;
            }
        }
        // Field names are `'static`: the key is borrowed, not copied.
        let value = self.attribute_value(value);
        self.builder.push_attr(name, value);
    }

    /// An ordinary attribute's value; text is looked up by its position
    /// among the event's text values.
    #[inline(always)]
    fn attribute_value(&mut self, value: FieldValue<'_>) -> Value {
        match value {
            FieldValue::Str(_) | FieldValue::Debug(_) => value.to_value_at(self.next_text()),
            other => other.to_value(),
        }
    }

    /// Fills the column of `reserved`; false when the value does not fit
    /// it (it is then kept as an ordinary attribute).
    fn reserved(&mut self, reserved: Reserved, value: FieldValue<'_>) -> bool {
        match reserved {
            Reserved::TraceId => parse_trace_id(value)
                .map(|id| self.trace_id = Some(id))
                .is_some(),
            Reserved::SpanId => parse_span_id(value)
                .map(|id| self.span_id = Some(id))
                .is_some(),
            Reserved::SessionId => match session_text(value) {
                Some(session) => {
                    self.builder.set_session_id(session);
                    self.session_set = true;
                    true
                }
                None => false,
            },
            Reserved::Http(part) => {
                // A value that does not fit leaves no empty HTTP record.
                let mut http = self.http.take().unwrap_or_default();
                let set = set_http_part(&mut http, part, value);
                if set || http != HttpInfo::default() {
                    self.http = Some(http);
                }
                set
            }
        }
    }
}

/// A session id's text: text as it is, a non-negative integer as its
/// decimal text; `None` (an ordinary attribute) for anything else.
fn session_text(value: FieldValue<'_>) -> Option<String> {
    match value {
        FieldValue::Str(_) | FieldValue::Debug(_) => value.to_text(),
        other => other.to_u128().map(|n| n.to_string()),
    }
}

/// Whether `name` is an ordinary attribute: not the message, not
/// reserved, not a `log.*` field to skip. Most names are decided on their
/// first byte and length; `EventVisitor::field` makes the exact test.
#[inline(always)]
fn is_plain(name: &str, skip_log_fields: bool) -> bool {
    match name.as_bytes().first() {
        Some(b'm') => !is_message(name),
        Some(b'l') => !(skip_log_fields && name.starts_with("log.")),
        _ => !Reserved::may_be(name),
    }
}

/// `name == "message"`, by two overlapping 4-byte loads instead of a call
/// to `memcmp`: every event's message field passes this test.
#[inline(always)]
fn is_message(name: &str) -> bool {
    let word = |bytes: &[u8]| u32::from_ne_bytes(bytes.try_into().expect("4 bytes"));
    let bytes = name.as_bytes();
    bytes.len() == 7 && word(&bytes[..4]) == word(b"mess") && word(&bytes[3..]) == word(b"sage")
}

/// An event's `Visit` method for one kind of value: an ordinary name is
/// pushed as its typed value at once, any other goes through `field`.
macro_rules! record_plain_or_through_field {
    ($($method:ident($ty:ty) => $kind:ident;)*) => {$(
        #[inline]
        fn $method(&mut self, field: &Field, value: $ty) {
            let name = field.name();
            if self.is_plain(name) {
                let value = self.attribute_value(FieldValue::$kind(value));
                self.builder.push_attr(name, value);
            } else {
                self.field(field, FieldValue::$kind(value));
            }
        }
    )*};
}

impl Visit for EventVisitor<'_> {
    record_plain_or_through_field! {
        record_f64(f64) => F64;
        record_i64(i64) => I64;
        record_u64(u64) => U64;
        record_i128(i128) => I128;
        record_u128(u128) => U128;
        record_bool(bool) => Bool;
        record_str(&str) => Str;
    }

    /// The message comes here (as format arguments), and goes straight to
    /// its look-up: through `field`'s general test it cost about 50
    /// instructions more per event (callgrind, `emit-profile
    /// tracing-aires`).
    #[inline]
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = field.name();
        if is_message(name) {
            self.builder.set_message(texts::message_args(value));
        } else if self.is_plain(name) {
            let value = self.attribute_value(FieldValue::Debug(value));
            self.builder.push_attr(name, value);
        } else {
            self.field(field, FieldValue::Debug(value));
        }
    }

    /// The first error fills the error columns, with its `source()` chain;
    /// a second one is kept as its text.
    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        if is_message(field.name()) {
            self.builder.set_message(value.to_string());
            return;
        }
        if self.has_error {
            self.builder
                .push_attr(field.name(), Value::Str(Cow::Owned(value.to_string())));
        } else {
            // Behind `&dyn Error` the concrete type is not known: the
            // error's type is left empty.
            self.builder.set_error(value);
            self.has_error = true;
        }
    }
}

/// A span's fields as recorded (when it is created and on `record`), kept
/// in the span's extensions. A name recorded again replaces its value.
#[derive(Default)]
pub(crate) struct SpanFieldVisitor<'f> {
    pub(crate) fields: Option<&'f mut Vec<(&'static str, Value)>>,
    /// A valid `trace_id` field: the span's trace, not an attribute.
    pub(crate) trace_id: Option<TraceId>,
}

impl SpanFieldVisitor<'_> {
    fn field(&mut self, field: &Field, value: FieldValue<'_>) {
        let name = field.name();
        if name == "trace_id" {
            if let Some(id) = parse_trace_id(value) {
                self.trace_id = Some(id);
                return;
            }
        }
        if name == "session_id" {
            // Kept as its text, which fills each event's session column.
            if let Some(session) = session_text(value) {
                self.store(name, Value::Str(Cow::Owned(session)));
                return;
            }
        }
        self.store(name, value.to_value());
    }

    fn store(&mut self, name: &'static str, value: Value) {
        let Some(fields) = self.fields.as_deref_mut() else {
            return;
        };
        match fields.iter_mut().find(|(key, _)| *key == name) {
            Some((_, held)) => *held = value,
            None => fields.push((name, value)),
        }
    }
}

impl Visit for SpanFieldVisitor<'_> {
    record_each_kind_through_field!();

    /// A span outlives the borrow of its error: it keeps the text.
    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        self.store(field.name(), Value::Str(Cow::Owned(value.to_string())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_integers_become_text_only_when_they_do_not_fit() {
        assert_eq!(FieldValue::I128(-5).to_value(), Value::I64(-5));
        assert_eq!(
            FieldValue::I128(u64::MAX.into()).to_value(),
            Value::U64(u64::MAX)
        );
        assert_eq!(
            FieldValue::I128(i128::MIN).to_value(),
            Value::Str(i128::MIN.to_string().into())
        );
        assert_eq!(FieldValue::U128(7).to_value(), Value::U64(7));
        assert_eq!(
            FieldValue::U128(u128::MAX).to_value(),
            Value::Str(u128::MAX.to_string().into())
        );
    }

    #[test]
    fn ids_parse_from_text_debug_text_and_integers() {
        let hex = "4bf92f3577b34da6a3ce929d0e0e4736";
        let id = TraceId::from_hex(hex).unwrap();
        assert_eq!(parse_trace_id(FieldValue::Str(hex)), Some(id));
        let display = tracing_core::field::display(hex);
        assert_eq!(parse_trace_id(FieldValue::Debug(&display)), Some(id));
        assert_eq!(parse_trace_id(FieldValue::U64(0)), None);
        assert_eq!(parse_trace_id(FieldValue::Str("nope")), None);
        assert_eq!(parse_trace_id(FieldValue::Str(&"f".repeat(100))), None);
        assert_eq!(parse_span_id(FieldValue::I64(-1)), None);
        assert_eq!(parse_span_id(FieldValue::U128(u128::MAX)), None);
        assert_eq!(parse_span_id(FieldValue::U64(9)), SpanId::from_int(9));
    }

    #[test]
    fn http_parts_refuse_values_that_do_not_fit() {
        let mut http = HttpInfo::default();
        assert!(set_http_part(
            &mut http,
            HttpPart::Status,
            FieldValue::U64(404)
        ));
        assert!(!set_http_part(
            &mut http,
            HttpPart::Status,
            FieldValue::U64(70_000)
        ));
        assert!(set_http_part(
            &mut http,
            HttpPart::Status,
            FieldValue::Str("201")
        ));
        assert!(!set_http_part(
            &mut http,
            HttpPart::DurationMs,
            FieldValue::F64(f64::NAN)
        ));
        assert!(!set_http_part(
            &mut http,
            HttpPart::DurationMs,
            FieldValue::F64(-1.0)
        ));
        assert!(!set_http_part(
            &mut http,
            HttpPart::DurationMs,
            FieldValue::F64(f64::INFINITY)
        ));
        assert!(set_http_part(
            &mut http,
            HttpPart::DurationMs,
            FieldValue::F64(1.5)
        ));
        assert!(!set_http_part(
            &mut http,
            HttpPart::Method,
            FieldValue::I64(1)
        ));
        assert_eq!(http.status, 201);
        assert_eq!(http.duration, Duration::from_micros(1500));
    }
}

#[cfg(test)]
mod reserved_tests {
    use super::{is_message, is_plain, texts, Reserved, Str};
    use std::borrow::Cow;

    /// Every name reserved for a column.
    const RESERVED: [&str; 21] = [
        "trace_id",
        "span_id",
        "session_id",
        "http.method",
        "http.request.method",
        "http.route",
        "http.path",
        "url.path",
        "http.status_code",
        "http.response.status_code",
        "http.duration_ms",
        "http.user_agent",
        "user_agent.original",
        "http.client_ip",
        "client.address",
        "http.host",
        "server.address",
        "http.scheme",
        "url.scheme",
        "http.request.body.size",
        "http.response.body.size",
    ];

    #[test]
    fn the_quick_check_lets_every_reserved_name_through() {
        for name in RESERVED {
            assert!(Reserved::of(name).is_some(), "{name}");
        }
        for name in [
            "order_id", "customer", "currency", "trace", "span", "http", "client",
        ] {
            assert!(Reserved::of(name).is_none(), "{name}");
        }
    }

    /// A name the short way (`is_plain`) takes as ordinary must be one:
    /// a reserved name or the message taken as an attribute would lose its
    /// column. (It may send an ordinary name the long way.)
    #[test]
    fn the_short_way_for_ordinary_names_agrees_with_the_full_test() {
        let long_way = |name: &str, skip_log: bool| {
            name != "message"
                && !(skip_log && name.starts_with("log."))
                && Reserved::of(name).is_none()
        };
        let mut names = vec![
            "",
            "m",
            "message",
            "messages",
            "Message",
            "mes",
            "log",
            "log.",
            "log.target",
            "log.module_path",
            "logger",
            "latency_ms",
            "user_id",
            "path",
            "status",
            "ok",
            "trace",
            "trace_ix",
            "span_ix",
            "sessionid",
            "http",
            "http_",
            "url",
            "url.x",
            "client",
            "client_address",
            "server_address",
            "user_agent_original",
            "error",
        ];
        names.extend(RESERVED);
        // Every name of the same first byte and length as a reserved one.
        let near: Vec<String> = RESERVED
            .iter()
            .map(|name| format!("{}{}", &name[..1], "x".repeat(name.len() - 1)))
            .collect();
        names.extend(near.iter().map(String::as_str));
        for name in names {
            for skip_log in [false, true] {
                assert!(
                    !is_plain(name, skip_log) || long_way(name, skip_log),
                    "{name:?}, skip_log {skip_log}"
                );
            }
        }
        for name in RESERVED.iter().chain(&["message"]) {
            assert!(!is_plain(name, false), "{name}");
        }
        assert!(!is_plain("log.target", true));
        // The headline event's names all take the short way.
        for name in ["user_id", "path", "status", "latency_ms", "ok", "log.x"] {
            assert!(is_plain(name, false), "{name}");
        }
    }

    #[test]
    fn is_message_is_the_exact_test() {
        for name in [
            "message", "messagf", "nessage", "messag", "messages", "MESSAGE", "", "m",
        ] {
            assert_eq!(is_message(name), name == "message", "{name}");
        }
    }

    /// The message is compared with the thread's last one while written:
    /// whatever it has in common with that one, it comes out whole.
    #[test]
    fn a_message_comes_out_whole_whatever_it_shares_with_the_last() {
        let user = "ann";
        let cases: Vec<(String, Str)> = vec![
            (
                "request handled".into(),
                texts::message_args(&format_args!("request handled")),
            ),
            // The same again: the interned text itself.
            (
                "request handled".into(),
                texts::message_args(&format_args!("request handled")),
            ),
            // Its start only, then more than it, then a change in the middle.
            (
                "request".into(),
                texts::message_args(&format_args!("request")),
            ),
            (
                "request handled twice".into(),
                texts::message_args(&format_args!("request handled twice")),
            ),
            (
                "request mishandled".into(),
                texts::message_args(&format_args!("request mishandled")),
            ),
            // Pieces and arguments: the first piece matches, the rest not.
            (
                "request by ann, 3 times".into(),
                texts::message_args(&format_args!("request by {user}, {} times", 3)),
            ),
            (
                "request by ann, 4 times".into(),
                texts::message_args(&format_args!("request by {user}, {} times", 4)),
            ),
            ("".into(), texts::message_args(&format_args!(""))),
            ("é – ü".into(), texts::message_args(&format_args!("é – ü"))),
            (
                "é – x".into(),
                texts::message_args(&format_args!("é – {}", "x")),
            ),
            (
                "a long message that spans more than three words!".into(),
                texts::message_args(&format_args!(
                    "a long message that spans more than three words!"
                )),
            ),
            (
                "a long message that spans more than three words?".into(),
                texts::message_args(&format_args!(
                    "a long message that spans more than three words?"
                )),
            ),
        ];
        for (expected, got) in &cases {
            assert_eq!(got, expected);
        }
        // A repeated message is the one interned copy, not a new one.
        let (Cow::Borrowed(first), Cow::Borrowed(second)) = (&cases[0].1, &cases[1].1) else {
            panic!("a short message is interned")
        };
        assert!(std::ptr::eq(*first, *second));
    }
}
