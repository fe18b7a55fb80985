//! Protobuf encoding of a batch of [`Event`]s as `aires.v1.EventBatch`.
//!
//! Written against the `.proto` by hand with prost's wire primitives instead
//! of building the generated structs: the generated types own their strings,
//! so going through them would copy every static message and key. Here each
//! event is written straight into one reused buffer, in one pass (see
//! [`Writer`]). Tests decode the output with the generated types, and check
//! it is byte for byte what prost writes, to keep the two in step.
//!
//! Size limits are applied here, on the worker thread, so the caller's thread
//! never pays for them.

use aires_proto::v1::fields as field;
use prost::encoding::{encoded_len_varint, WireType};

use crate::callsite::CallSite;
use crate::config::{Limits, TRUNCATION_MARKER};
use crate::event::Event;
use crate::uuid7::Uuid7;
use crate::value::{Attribute, Value};

/// Causes of an error kept; deeper ones are dropped and counted.
pub(crate) const MAX_ERROR_CHAIN: usize = 32;

/// The SDK name written into every batch.
pub(crate) const SDK_NAME: &str = "aires-rust";
/// The SDK version written into every batch.
pub(crate) const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Encodes batches for one pipeline.
#[derive(Debug, Clone)]
pub struct BatchEncoder {
    service: String,
    environment: String,
    sdk_name: String,
    sdk_version: String,
    limits: Limits,
    /// Values cut at a limit, across every batch encoded so far.
    truncated: u64,
}

/// A string as it will be written: maybe cut, then marked.
#[derive(Clone, Copy)]
struct Text<'a> {
    head: &'a str,
    cut: bool,
}

impl<'a> Text<'a> {
    #[inline]
    fn new(s: &'a str, max: usize) -> Self {
        if s.len() <= max {
            return Text {
                head: s,
                cut: false,
            };
        }
        let mut end = max.saturating_sub(TRUNCATION_MARKER.len());
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        Text {
            head: &s[..end],
            cut: true,
        }
    }

    #[inline]
    fn len(self) -> usize {
        self.head.len() + if self.cut { TRUNCATION_MARKER.len() } else { 0 }
    }
}

/// A message body, written field by field.
trait Encode {
    fn encode(&self, out: &mut Writer<'_>, limits: &Limits);
}

/// Appends a varint (inlined: prost's is a call per value).
#[inline(always)]
fn put_varint(buf: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        buf.push(value as u8 | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

/// Writes a field key; constant tags fold to one byte.
#[inline(always)]
fn put_key(buf: &mut Vec<u8>, tag: u32, wire_type: WireType) {
    put_varint(buf, u64::from(tag << 3 | wire_type as u32));
}

/// Writes an encoding into a buffer in one pass, counting cut values.
///
/// A nested message's length comes before its body, and is only known
/// after it. Instead of measuring each message first (a second walk of
/// every attribute), the writer leaves room for the length the message
/// most likely needs, writes the body, then writes the length; when the
/// guess was wrong it moves the body by the difference. The output is
/// canonical protobuf either way (minimal varints), as prost writes it.
struct Writer<'b> {
    buf: &'b mut Vec<u8>,
    truncated: u64,
}

impl Writer<'_> {
    #[inline]
    fn header(&mut self, tag: u32, len: usize) {
        put_key(self.buf, tag, WireType::LengthDelimited);
        put_varint(self.buf, len as u64);
    }

    /// A string field with implicit presence: skipped when empty.
    #[inline]
    fn text(&mut self, tag: u32, text: Text<'_>) {
        if text.len() > 0 {
            self.text_always(tag, text);
        }
    }

    /// A string field written even when empty (a oneof member).
    #[inline(always)]
    fn text_always(&mut self, tag: u32, text: Text<'_>) {
        self.header(tag, text.len());
        self.buf.extend_from_slice(text.head.as_bytes());
        if text.cut {
            self.buf.extend_from_slice(TRUNCATION_MARKER.as_bytes());
            self.truncated += 1;
        }
    }

    /// A bytes field, skipped when empty.
    #[inline]
    fn bytes(&mut self, tag: u32, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.header(tag, bytes.len());
            self.buf.extend_from_slice(bytes);
        }
    }

    /// A varint field; skipped when zero unless `always`.
    #[inline]
    fn varint(&mut self, tag: u32, value: u64, always: bool) {
        if value != 0 || always {
            put_key(self.buf, tag, WireType::Varint);
            put_varint(self.buf, value);
        }
    }

    /// A fixed64 field, skipped when zero.
    #[inline]
    fn fixed64(&mut self, tag: u32, value: u64) {
        if value != 0 {
            put_key(self.buf, tag, WireType::SixtyFourBit);
            self.buf.extend_from_slice(&value.to_le_bytes());
        }
    }

    /// A double field, always written (a oneof member).
    #[inline]
    fn double(&mut self, tag: u32, value: f64) {
        put_key(self.buf, tag, WireType::SixtyFourBit);
        self.buf.extend_from_slice(&value.to_le_bytes());
    }

    /// A nested message whose length most likely takes `guess` bytes (1
    /// for up to 127 bytes of body, 2 for up to 16383).
    #[inline(always)]
    fn message<M: Encode>(&mut self, tag: u32, message: &M, limits: &Limits, guess: usize) {
        put_key(self.buf, tag, WireType::LengthDelimited);
        let at = self.buf.len();
        for _ in 0..guess {
            self.buf.push(0);
        }
        message.encode(self, limits);
        let len = self.buf.len() - at - guess;
        let needed = encoded_len_varint(len as u64);
        if needed > guess {
            self.buf.resize(at + needed + len, 0);
        }
        if needed != guess {
            self.buf
                .copy_within(at + guess..at + guess + len, at + needed);
            self.buf.truncate(at + needed + len);
        }
        let mut value = len;
        for byte in &mut self.buf[at..at + needed - 1] {
            *byte = value as u8 | 0x80;
            value >>= 7;
        }
        self.buf[at + needed - 1] = value as u8;
    }

    /// Records values dropped outright (not cut), for the truncation count.
    fn note_dropped(&mut self, count: u64) {
        self.truncated += count;
    }
}

/// Bytes of the length of an attribute or call site: one (bodies up to
/// 127 bytes) unless a long value makes it more.
const SHORT: usize = 1;
/// Bytes of the length of an event: two (bodies of 128 to 16383 bytes).
const EVENT: usize = 2;

/// `aires.v1.Event`.
impl Encode for Event {
    fn encode(&self, out: &mut Writer<'_>, limits: &Limits) {
        let value_limit = limits.max_value_bytes;
        out.bytes(field::event::ID, &self.id.to_bytes());
        out.fixed64(field::event::TIMESTAMP_UNIX_NANO, self.timestamp_unix_nanos);
        out.varint(field::event::SEVERITY, self.level.as_proto() as u64, false);
        out.text(
            field::event::MESSAGE,
            Text::new(&self.message, limits.max_message_bytes),
        );
        // service and environment: left empty, the batch carries them.
        if let Some(trace_id) = self.trace_id {
            out.bytes(field::event::TRACE_ID, &trace_id.to_bytes());
        }
        if let Some(span_id) = self.span_id {
            out.bytes(field::event::SPAN_ID, &span_id.to_bytes());
        }
        if let Some(session_id) = self.extras.as_ref().and_then(|e| e.session_id.as_deref()) {
            out.text(field::event::SESSION_ID, Text::new(session_id, value_limit));
        }
        let kept = self.attributes.len().min(limits.max_attributes);
        for attribute in &self.attributes[..kept] {
            attribute.encode(out, limits);
        }
        if kept < self.attributes.len() {
            let dropped = (self.attributes.len() - kept) as u64;
            out.message(
                field::event::ATTRIBUTES,
                &DroppedAttributes(dropped),
                limits,
                SHORT,
            );
            out.note_dropped(dropped);
        }
        if let Some(extras) = &self.extras {
            let tags = extras.tags.len().min(limits.max_attributes);
            for tag in &extras.tags[..tags] {
                out.text_always(field::event::TAGS, Text::new(tag, value_limit));
            }
            out.note_dropped((extras.tags.len() - tags) as u64);
            if let Some(http) = &extras.http {
                out.message(field::event::HTTP, http, limits, SHORT);
            }
            if let Some(error) = &extras.error {
                out.message(field::event::ERROR, error, limits, EVENT);
            }
        }
        if let Some(site) = self.call_site.as_deref() {
            out.message(field::event::CALL_SITE, site, limits, SHORT);
        }
    }
}

/// The `aires.dropped_attributes` attribute added when `max_attributes` cut
/// an event's attributes.
struct DroppedAttributes(u64);

impl Encode for DroppedAttributes {
    fn encode(&self, out: &mut Writer<'_>, _limits: &Limits) {
        out.text(
            field::attribute::KEY,
            Text::new("aires.dropped_attributes", usize::MAX),
        );
        out.varint(field::attribute::UINT_VALUE, self.0, true);
    }
}

/// `aires.v1.Attribute`: the most frequent message, so its length is
/// worked out with arithmetic (its fields are all known) rather than by
/// [`Writer::message`]'s guess and fix-up.
impl Attribute {
    fn encode(&self, out: &mut Writer<'_>, limits: &Limits) {
        let key = Text::new(&self.key, limits.max_value_bytes);
        let text = match &self.value {
            Value::Str(s) => Text::new(s, limits.max_value_bytes),
            _ => Text::new("", 0),
        };
        let key_len = if key.len() > 0 {
            delimited_len(key.len())
        } else {
            0
        };
        let value_len = match &self.value {
            Value::Str(_) => delimited_len(text.len()),
            Value::I64(v) => 1 + encoded_len_varint(*v as u64),
            Value::U64(v) => 1 + encoded_len_varint(*v),
            Value::F64(_) => 9,
            Value::Bool(_) => 2,
        };
        out.header(field::event::ATTRIBUTES, key_len + value_len);
        out.text(field::attribute::KEY, key);
        match &self.value {
            Value::Str(_) => out.text_always(field::attribute::STRING_VALUE, text),
            Value::I64(v) => out.varint(field::attribute::INT_VALUE, *v as u64, true),
            Value::U64(v) => out.varint(field::attribute::UINT_VALUE, *v, true),
            Value::F64(v) => out.double(field::attribute::DOUBLE_VALUE, *v),
            Value::Bool(v) => out.varint(field::attribute::BOOL_VALUE, *v as u64, true),
        }
    }
}

/// Bytes of a length-delimited field with a one-byte tag.
#[inline(always)]
fn delimited_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

/// `aires.v1.HttpInfo`.
impl Encode for crate::http::HttpInfo {
    fn encode(&self, out: &mut Writer<'_>, limits: &Limits) {
        let max = limits.max_value_bytes;
        out.text(field::http_info::METHOD, Text::new(&self.method, max));
        out.text(field::http_info::ROUTE, Text::new(&self.route, max));
        out.text(field::http_info::PATH, Text::new(&self.path, max));
        out.varint(field::http_info::STATUS_CODE, u64::from(self.status), false);
        out.varint(
            field::http_info::DURATION_NANOS,
            self.duration.as_nanos().min(u64::MAX as u128) as u64,
            false,
        );
        out.text(
            field::http_info::USER_AGENT,
            Text::new(&self.user_agent, max),
        );
        out.text(field::http_info::CLIENT_IP, Text::new(&self.client_ip, max));
        out.varint(field::http_info::REQUEST_BYTES, self.request_bytes, false);
        out.varint(field::http_info::RESPONSE_BYTES, self.response_bytes, false);
        out.text(field::http_info::HOST, Text::new(&self.host, max));
        out.text(field::http_info::SCHEME, Text::new(&self.scheme, max));
    }
}

/// `aires.v1.ErrorInfo`.
impl Encode for crate::error_info::ErrorInfo {
    fn encode(&self, out: &mut Writer<'_>, limits: &Limits) {
        out.text(
            field::error_info::TYPE,
            Text::new(&self.type_name, limits.max_value_bytes),
        );
        out.text(
            field::error_info::MESSAGE,
            Text::new(&self.message, limits.max_message_bytes),
        );
        let causes = self.chain.len().min(MAX_ERROR_CHAIN);
        for cause in &self.chain[..causes] {
            out.text_always(
                field::error_info::CHAIN,
                Text::new(cause, limits.max_message_bytes),
            );
        }
        out.note_dropped((self.chain.len() - causes) as u64);
        if let Some(backtrace) = &self.backtrace {
            out.text(
                field::error_info::BACKTRACE,
                Text::new(backtrace, limits.max_message_bytes),
            );
        }
    }
}

/// `aires.v1.CallSite`.
impl Encode for CallSite {
    fn encode(&self, out: &mut Writer<'_>, limits: &Limits) {
        let max = limits.max_value_bytes;
        out.text(field::call_site::FILE, Text::new(&self.file, max));
        out.varint(field::call_site::LINE, u64::from(self.line), false);
        out.text(field::call_site::MODULE, Text::new(&self.module, max));
        out.text(field::call_site::FUNCTION, Text::new(&self.function, max));
    }
}

impl BatchEncoder {
    /// An encoder stamping every batch with `service` and `environment`.
    pub fn new(service: &str, environment: &str, limits: Limits) -> Self {
        BatchEncoder {
            service: service.to_owned(),
            environment: environment.to_owned(),
            sdk_name: SDK_NAME.to_owned(),
            sdk_version: SDK_VERSION.to_owned(),
            limits,
            truncated: 0,
        }
    }

    /// Names another SDK (a binding) in the batches.
    pub fn with_sdk(mut self, name: &str, version: &str) -> Self {
        self.sdk_name = name.to_owned();
        self.sdk_version = version.to_owned();
        self
    }

    /// How many values were cut at a size limit so far.
    pub fn truncated(&self) -> u64 {
        self.truncated
    }

    /// Appends the encoded `EventBatch` to `buf`.
    pub fn encode(&mut self, batch_id: Uuid7, events: &[Event], buf: &mut Vec<u8>) {
        self.begin(batch_id, buf);
        for event in events {
            self.push(event, buf);
        }
    }

    /// Starts a batch in `buf`: writes its header fields. Events follow
    /// with [`BatchEncoder::push`]; protobuf allows the repeated `events`
    /// field to come after the others, so a batch can be encoded as its
    /// events arrive, without holding them.
    pub fn begin(&mut self, batch_id: Uuid7, buf: &mut Vec<u8>) {
        let limits = self.limits;
        let mut out = Writer { buf, truncated: 0 };
        out.bytes(field::event_batch::BATCH_ID, &batch_id.to_bytes());
        out.text(
            field::event_batch::SDK_NAME,
            Text::new(&self.sdk_name, usize::MAX),
        );
        out.text(
            field::event_batch::SDK_VERSION,
            Text::new(&self.sdk_version, usize::MAX),
        );
        out.text(
            field::event_batch::SERVICE,
            Text::new(&self.service, limits.max_value_bytes),
        );
        out.text(
            field::event_batch::ENVIRONMENT,
            Text::new(&self.environment, limits.max_value_bytes),
        );
        self.truncated += out.truncated;
    }

    /// Appends one event to the batch begun in `buf`.
    #[inline]
    pub fn push(&mut self, event: &Event, buf: &mut Vec<u8>) {
        let limits = self.limits;
        let mut out = Writer { buf, truncated: 0 };
        out.message(field::event_batch::EVENTS, event, &limits, EVENT);
        self.truncated += out.truncated;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CallSite, HttpInfo, Level, SpanId, TraceId};
    use aires_proto::v1 as proto;
    use prost::Message;
    use std::time::Duration;

    fn decode(encoder: &mut BatchEncoder, events: &[Event]) -> proto::EventBatch {
        let mut buf = Vec::new();
        let id = Uuid7::now();
        encoder.encode(id, events, &mut buf);
        let batch = proto::EventBatch::decode(&buf[..]).expect("valid protobuf");
        assert_eq!(batch.batch_id.as_ref(), id.to_bytes());
        batch
    }

    #[test]
    fn every_field_survives_a_round_trip() {
        static SITE: CallSite = CallSite::new_static("src/pay.rs", 42, "shop::pay");
        let io = std::io::Error::other("card declined");
        let event = Event::builder(Level::Error, "payment failed")
            .attr("amount", 9.99)
            .attr("order_id", -123i64)
            .attr("big", u64::MAX)
            .attr("ok", false)
            .attr("currency", "EUR")
            .attr("empty", "")
            .trace_id(TraceId::from_int(0x0102_0304).unwrap())
            .span_id(SpanId::from_int(0x0a0b).unwrap())
            .session_id("sess-9")
            .tags(["checkout", ""])
            .http(
                HttpInfo::new("POST", "/pay/:id")
                    .path("/pay/7")
                    .status(502)
                    .duration(Duration::from_nanos(31_500_000))
                    .sizes(10, 20),
            )
            .error(&io)
            .call_site(&SITE)
            .build();
        let mut encoder = BatchEncoder::new("shop", "prod", Limits::default());
        let batch = decode(&mut encoder, std::slice::from_ref(&event));
        assert_eq!(batch.service, "shop");
        assert_eq!(batch.environment, "prod");
        assert_eq!(batch.sdk_name, SDK_NAME);
        let e = &batch.events[0];
        assert_eq!(e.id.as_ref(), event.id().to_bytes());
        assert_eq!(e.timestamp_unix_nano, event.timestamp_unix_nanos());
        assert_eq!(e.severity, proto::Severity::Error as i32);
        assert_eq!(e.message, "payment failed");
        assert_eq!(e.trace_id.len(), 16);
        assert_eq!(e.trace_id[15], 0x04);
        assert_eq!(e.span_id.as_ref(), [0, 0, 0, 0, 0, 0, 0x0a, 0x0b]);
        assert_eq!(e.session_id, "sess-9");
        use proto::attribute::Value as V;
        let values: Vec<_> = e
            .attributes
            .iter()
            .map(|a| (a.key.as_str(), a.value.clone().unwrap()))
            .collect();
        assert_eq!(
            values,
            vec![
                ("amount", V::DoubleValue(9.99)),
                ("order_id", V::IntValue(-123)),
                ("big", V::UintValue(u64::MAX)),
                ("ok", V::BoolValue(false)),
                ("currency", V::StringValue("EUR".into())),
                ("empty", V::StringValue(String::new())),
            ]
        );
        assert_eq!(e.tags, vec!["checkout".to_string(), String::new()]);
        let http = e.http.as_ref().unwrap();
        assert_eq!(
            (
                http.method.as_str(),
                http.route.as_str(),
                http.path.as_str()
            ),
            ("POST", "/pay/:id", "/pay/7")
        );
        assert_eq!((http.status_code, http.duration_nanos), (502, 31_500_000));
        assert_eq!((http.request_bytes, http.response_bytes), (10, 20));
        let error = e.error.as_ref().unwrap();
        assert_eq!(error.message, "card declined");
        assert!(error.r#type.contains("io"), "{}", error.r#type);
        let site = e.call_site.as_ref().unwrap();
        assert_eq!(
            (site.file.as_str(), site.line, site.module.as_str()),
            ("src/pay.rs", 42, "shop::pay")
        );
        assert_eq!(encoder.truncated(), 0);
    }

    /// Events whose lengths take one, two and three bytes, and attributes,
    /// HTTP parts and errors of one and two: every guess of the one-pass
    /// writer, right and wrong.
    fn events_of_every_length() -> Vec<Event> {
        static SITE: CallSite = CallSite::new_static("src/a.rs", 7, "a");
        let io = std::io::Error::other("x".repeat(300));
        vec![
            Event::builder(Level::Info, "").build(),
            Event::builder(Level::Info, "short").attr("k", 1).build(),
            Event::builder(Level::Warn, "m".repeat(150))
                .attr("long", "v".repeat(200))
                .attr("f", 0.5)
                .call_site(&SITE)
                .build(),
            Event::builder(Level::Error, "e")
                .http(HttpInfo::new("GET", "r".repeat(130)).status(200))
                .error(&io)
                .tags(["t"])
                .session_id("s")
                .build(),
            Event::builder(Level::Info, "m".repeat(20_000))
                .attr("big", "b".repeat(20_000))
                .build(),
        ]
    }

    #[test]
    fn each_event_is_byte_for_byte_what_prost_writes() {
        let limits = Limits {
            max_message_bytes: 1 << 20,
            max_value_bytes: 1 << 20,
            max_attributes: 128,
        };
        let mut encoder = BatchEncoder::new("s", "e", limits);
        for event in events_of_every_length() {
            let mut buf = Vec::new();
            encoder.begin(Uuid7::now(), &mut buf);
            let header = buf.len();
            encoder.push(&event, &mut buf);
            let ours = &buf[header..];
            let decoded = proto::EventBatch::decode(&buf[..])
                .expect("valid protobuf")
                .events
                .remove(0);
            let mut theirs = Vec::new();
            prost::encoding::message::encode(field::event_batch::EVENTS, &decoded, &mut theirs);
            assert_eq!(
                ours,
                &theirs[..],
                "message of {} bytes",
                event.message().len()
            );
        }
    }

    #[test]
    fn zero_values_of_a_oneof_are_kept() {
        let event = Event::builder(Level::Info, "")
            .attr("i", 0i64)
            .attr("u", 0u64)
            .attr("f", 0.0)
            .attr("b", false)
            .build();
        let batch = decode(
            &mut BatchEncoder::new("s", "e", Limits::default()),
            &[event],
        );
        assert!(batch.events[0].attributes.iter().all(|a| a.value.is_some()));
        assert_eq!(batch.events[0].message, "");
    }

    #[test]
    fn long_values_are_cut_at_a_char_boundary_and_marked() {
        let limits = Limits {
            max_message_bytes: 40,
            max_value_bytes: 20,
            max_attributes: 2,
        };
        let message = "é".repeat(100);
        let event = Event::builder(Level::Info, message)
            .attr("k", "x".repeat(50))
            .attr("short", "ok")
            .attr("third", 3)
            .attr("fourth", 4)
            .build();
        let mut encoder = BatchEncoder::new("s", "e", limits);
        let batch = decode(&mut encoder, &[event]);
        let e = &batch.events[0];
        assert!(e.message.len() <= 40, "{}", e.message.len());
        assert!(e.message.ends_with(TRUNCATION_MARKER));
        assert!(e.message.starts_with("éé"));
        let first = match &e.attributes[0].value {
            Some(proto::attribute::Value::StringValue(s)) => s.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            first,
            format!(
                "{}{TRUNCATION_MARKER}",
                "x".repeat(20 - TRUNCATION_MARKER.len())
            )
        );
        assert_eq!(e.attributes.len(), 3);
        assert_eq!(e.attributes[2].key, "aires.dropped_attributes");
        assert_eq!(
            e.attributes[2].value,
            Some(proto::attribute::Value::UintValue(2))
        );
        // message + first value cut, two attributes dropped.
        assert_eq!(encoder.truncated(), 4);
    }

    #[test]
    fn encodes_many_events_in_order() {
        let events: Vec<Event> = (0..300)
            .map(|i| Event::builder(Level::Debug, "tick").attr("i", i).build())
            .collect();
        let batch = decode(&mut BatchEncoder::new("s", "e", Limits::default()), &events);
        assert_eq!(batch.events.len(), 300);
        for (i, e) in batch.events.iter().enumerate() {
            assert_eq!(
                e.attributes[0].value,
                Some(proto::attribute::Value::IntValue(i as i64))
            );
        }
    }
}
