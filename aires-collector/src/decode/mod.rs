//! Decoding an encoded `aires.v1.EventBatch` straight into [`Row`]s.
//!
//! Why not prost's structs: decoding into them allocated, copied and
//! UTF-8-checked every string of every event (the message, each attribute
//! key, the call site) and the transform then moved them into rows. This
//! reads the wire format once and fills each row where it stays. Text that
//! repeats within a batch (attribute keys, call sites, services, HTTP names,
//! repeated messages and values) is checked and allocated once per batch
//! and shared by its rows, and a row's attributes are its parts of lists
//! the batch's rows share. The rules and the rejections are those of
//! [`crate::transform`], which stays as the reference the tests compare
//! this decoder with.
//!
//! As with prost, malformed input (bad framing, a known field with the wrong
//! wire type, text that is not UTF-8) fails the whole batch; unknown fields
//! are skipped; a repeated scalar field keeps its last value and a repeated
//! nested message is merged.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use arcstr::ArcStr;

use aires_proto::v1 as proto;
use bytes::Bytes;

use crate::row::{Attributes, Row};
use crate::transform::{
    check_len, http_status, normalise_timestamp, severity_name, BatchContext, Transformed,
    ORIGINAL_TIMESTAMP_KEY,
};

/// A request as the server takes it: the encoded batch, with its top level
/// read. The events are decoded later, by a pipeline processor.
#[derive(Clone, Debug, Default)]
pub struct EncodedBatch {
    /// The whole encoded `EventBatch`.
    pub encoded: Bytes,
    /// Its `batch_id`, as sent (any length).
    pub batch_id: Bytes,
    /// How many events it holds.
    pub events: usize,
    layout: Layout,
}

impl EncodedBatch {
    /// Reads the top level of `encoded` (checking its framing and its
    /// batch-level text) for the batch id and where each event is.
    pub fn scan(encoded: Bytes) -> Result<Self, DecodeError> {
        let layout = Layout::read(&encoded)?;
        Ok(EncodedBatch {
            batch_id: encoded.slice(layout.batch_id.clone()),
            events: layout.events.len(),
            layout,
            encoded,
        })
    }

    /// Decodes every event into a row, or rejects it (see [`decode_batch`]).
    pub fn decode(&self, received_ns: i64) -> Result<Transformed, DecodeError> {
        decode_events(&self.encoded, &self.layout, received_ns)
    }
}

/// Why a batch does not decode. Names the field, as prost does.
#[derive(Clone, Debug, PartialEq, Eq)]
// Boxed to be one pointer wide: results on the hot path fit in registers.
#[allow(clippy::box_collection)]
pub struct DecodeError(Box<String>);

impl DecodeError {
    #[cold]
    fn new(description: impl Into<String>) -> Self {
        DecodeError(Box::new(description.into()))
    }

    /// The same error, inside field `field` of message `message`.
    #[cold]
    fn within(mut self, message: &str, field: &str) -> Self {
        *self.0 = format!("{message}.{field}: {}", self.0);
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

/// Decodes `encoded`, received at `received_ns`, into rows and rejections,
/// by the rules of [`crate::transform`].
pub fn decode_batch(encoded: &[u8], received_ns: i64) -> Result<Transformed, DecodeError> {
    decode_events(encoded, &Layout::read(encoded)?, received_ns)
}

fn decode_events(
    encoded: &[u8],
    layout: &Layout,
    received_ns: i64,
) -> Result<Transformed, DecodeError> {
    // Checked by `Layout::read`; checked again (the batch-level text only)
    // rather than trusted.
    let text = |range: &Range<usize>| utf8(&encoded[range.clone()]);
    let mut decoder = Decoder {
        batch: BatchContext::new(
            &encoded[layout.batch_id.clone()],
            text(&layout.sdk_name)?.into(),
            text(&layout.sdk_version)?.into(),
            text(&layout.service)?,
            text(&layout.environment)?.into(),
            received_ns,
        ),
        text: Interner::default(),
        attributes: Lists::with_capacity(reserved(layout.events.len())),
    };
    // Where each kept row's attributes are in the batch's lists.
    let mut parts = Vec::with_capacity(reserved(layout.events.len()));
    let mut out = Transformed {
        rows: Vec::with_capacity(reserved(layout.events.len())),
        rejections: Vec::new(),
    };
    for (index, body) in layout.events.iter().enumerate() {
        // Each row is filled where it stays (a row is several hundred
        // bytes; building it aside and pushing it would copy it).
        out.rows.push(Row::default());
        let row = out.rows.last_mut().expect("just pushed");
        let start = decoder.attributes.marks();
        let event = decoder
            .event(&encoded[body.clone()], row)
            .map_err(|e| e.within("EventBatch", "events"))?;
        match decoder.finish(row, &event, start) {
            Ok(()) => parts.push((start, decoder.attributes.marks())),
            Err(reason) => {
                out.rows.pop();
                decoder.attributes.truncate(start);
                out.rejections.push(proto::Rejection {
                    index: index as u32,
                    event_id: Bytes::copy_from_slice(event.id),
                    reason,
                });
            }
        }
    }
    decoder.attributes.share(&mut out.rows, &parts);
    // Rows wait in the batcher until stored: do not keep room sized for
    // events that were refused.
    if out.rows.capacity() > 2 * out.rows.len() + 16 {
        out.rows.shrink_to_fit();
    }
    Ok(out)
}

/// Room reserved up front for a batch of `events` (SDK batches are a few
/// hundred events): a request of millions of two-byte events is sized as
/// it is decoded and refused, not at the count it claims.
fn reserved(events: usize) -> usize {
    events.min(MAX_RESERVED_EVENTS)
}

/// Events a batch's containers are sized for at most before decoding.
const MAX_RESERVED_EVENTS: usize = 4096;

/// prost's limit on nested messages (and groups), kept so that both accept
/// the same input.
const RECURSION_LIMIT: u32 = 100;

/// Field number of `EventBatch.events`.
const BATCH_EVENTS: u32 = 4;

// Wire types.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LENGTH_DELIMITED: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;
const FIXED32: u8 = 5;

/// Where the batch-level fields of an encoded `EventBatch` are (the last
/// of each, as protobuf has it) and where each event is. Batch-level fields
/// may come after the events, so they are all found before any event is
/// decoded.
#[derive(Clone, Debug, Default)]
struct Layout {
    batch_id: Range<usize>,
    sdk_name: Range<usize>,
    sdk_version: Range<usize>,
    service: Range<usize>,
    environment: Range<usize>,
    events: Vec<Range<usize>>,
}

impl Layout {
    fn read(encoded: &[u8]) -> Result<Self, DecodeError> {
        const NAMES: [&str; 7] = [
            "",
            "batch_id",
            "sdk_name",
            "sdk_version",
            "events",
            "service",
            "environment",
        ];
        let mut layout = Layout::default();
        let mut buf = encoded;
        let range = |value: &[u8]| {
            let start = value.as_ptr() as usize - encoded.as_ptr() as usize;
            start..start + value.len()
        };
        while !buf.is_empty() {
            let (tag, wire) = key(&mut buf)?;
            let Some(name) = NAMES.get(tag as usize).copied() else {
                skip(wire, tag, &mut buf, RECURSION_LIMIT)?;
                continue;
            };
            let b = &mut buf;
            // Every occurrence of a text field is checked, as prost does.
            match tag {
                1 => bytes_field(wire, b).map(|v| layout.batch_id = range(v)),
                2 => string_field(wire, b).map(|v| layout.sdk_name = range(v.as_bytes())),
                3 => string_field(wire, b).map(|v| layout.sdk_version = range(v.as_bytes())),
                BATCH_EVENTS => bytes_field(wire, b).map(|v| layout.events.push(range(v))),
                5 => string_field(wire, b).map(|v| layout.service = range(v.as_bytes())),
                _ => string_field(wire, b).map(|v| layout.environment = range(v.as_bytes())),
            }
            .map_err(|e| e.within("EventBatch", name))?;
        }
        Ok(layout)
    }
}

/// What an event says that decides whether it is kept, and where its row
/// takes text from.
#[derive(Default)]
struct EventFields<'a> {
    id: &'a [u8],
    timestamp: u64,
    severity: i32,
    service: &'a str,
    environment: &'a str,
    trace_id: &'a [u8],
    span_id: &'a [u8],
    /// Set when the event has an HTTP part.
    http_status: Option<u32>,
    /// Why the first refused attribute is refused.
    attribute_error: Option<String>,
}

/// Decodes the events of one batch.
struct Decoder<'a> {
    batch: BatchContext,
    text: Interner<'a>,
    attributes: Lists,
}

/// The attributes of a batch's events, by type, in order: each row takes
/// its part of each list once the batch is decoded.
struct Lists {
    strings: Vec<(ArcStr, ArcStr)>,
    ints: Vec<(ArcStr, i64)>,
    floats: Vec<(ArcStr, f64)>,
    bools: Vec<(ArcStr, bool)>,
}

/// Where one event's attributes start in each of the [`Lists`].
#[derive(Clone, Copy)]
struct Marks([usize; 4]);

impl Lists {
    /// Room for `n` attributes of each type: most events have a few, and
    /// growing the lists from empty would copy them several times.
    fn with_capacity(n: usize) -> Self {
        Lists {
            strings: Vec::with_capacity(n),
            ints: Vec::with_capacity(n),
            floats: Vec::with_capacity(n),
            bools: Vec::with_capacity(n),
        }
    }

    fn marks(&self) -> Marks {
        Marks([
            self.strings.len(),
            self.ints.len(),
            self.floats.len(),
            self.bools.len(),
        ])
    }

    /// Drops the attributes after `marks` (those of a refused event).
    fn truncate(&mut self, marks: Marks) {
        let [strings, ints, floats, bools] = marks.0;
        self.strings.truncate(strings);
        self.ints.truncate(ints);
        self.floats.truncate(floats);
        self.bools.truncate(bools);
    }

    /// Gives each row its parts of the lists, from `start` to `end`.
    fn share(self, rows: &mut [Row], parts: &[(Marks, Marks)]) {
        let strings = Arc::new(self.strings);
        let ints = Arc::new(self.ints);
        let floats = Arc::new(self.floats);
        let bools = Arc::new(self.bools);
        for (row, (Marks(start), Marks(end))) in rows.iter_mut().zip(parts) {
            // Rows without attributes of a type keep the empty default.
            if start[0] < end[0] {
                row.attributes_string = Attributes::shared(&strings, start[0]..end[0]);
            }
            if start[1] < end[1] {
                row.attributes_int = Attributes::shared(&ints, start[1]..end[1]);
            }
            if start[2] < end[2] {
                row.attributes_float = Attributes::shared(&floats, start[2]..end[2]);
            }
            if start[3] < end[3] {
                row.attributes_bool = Attributes::shared(&bools, start[3]..end[3]);
            }
        }
    }
}

impl<'a> Decoder<'a> {
    /// Decodes one `Event` into `row` (a default row), except what
    /// [`Decoder::finish`] fills once the whole event is read.
    fn event(&mut self, mut buf: &'a [u8], row: &mut Row) -> Result<EventFields<'a>, DecodeError> {
        const NAMES: [&str; 15] = [
            "",
            "id",
            "timestamp_unix_nano",
            "severity",
            "message",
            "service",
            "environment",
            "trace_id",
            "span_id",
            "session_id",
            "attributes",
            "tags",
            "http",
            "error",
            "call_site",
        ];
        let mut fields = EventFields::default();
        while !buf.is_empty() {
            let (tag, wire) = key(&mut buf)?;
            self.event_field(tag, wire, &mut buf, row, &mut fields)
                .map_err(|e| e.within("Event", NAMES.get(tag as usize).unwrap_or(&"?")))?;
        }
        Ok(fields)
    }

    // Inlined into the loop over an event's fields: a call per field cost
    // more than the field.
    #[inline(always)]
    fn event_field(
        &mut self,
        tag: u32,
        wire: u8,
        buf: &mut &'a [u8],
        row: &mut Row,
        fields: &mut EventFields<'a>,
    ) -> Result<(), DecodeError> {
        match tag {
            1 => fields.id = bytes_field(wire, buf)?,
            2 => {
                expect(wire, FIXED64)?;
                fields.timestamp = fixed64(buf)?;
            }
            3 => fields.severity = varint_field(wire, buf)? as i32,
            4 => row.message = self.text.value(bytes_field(wire, buf)?)?,
            5 => fields.service = string_field(wire, buf)?,
            6 => fields.environment = string_field(wire, buf)?,
            7 => fields.trace_id = bytes_field(wire, buf)?,
            8 => fields.span_id = bytes_field(wire, buf)?,
            9 => row.session_id = string_field(wire, buf)?.to_owned(),
            10 => self.attribute(bytes_field(wire, buf)?, fields)?,
            11 => row.tags.push(string_field(wire, buf)?.to_owned()),
            12 => self.http(
                bytes_field(wire, buf)?,
                row,
                fields.http_status.get_or_insert(0),
            )?,
            13 => error(bytes_field(wire, buf)?, row)?,
            14 => self.call_site(bytes_field(wire, buf)?, row)?,
            _ => skip(wire, tag, buf, RECURSION_LIMIT - 1)?,
        }
        Ok(())
    }

    /// Decodes one `Attribute` into the batch's typed lists.
    fn attribute(
        &mut self,
        mut buf: &'a [u8],
        fields: &mut EventFields<'a>,
    ) -> Result<(), DecodeError> {
        enum Value {
            None,
            String(ArcStr),
            Int(i64),
            Uint(u64),
            Double(f64),
            Bool(bool),
        }
        let mut name: Option<ArcStr> = None;
        let mut value = Value::None;
        const NAMES: [&str; 7] = [
            "",
            "key",
            "string_value",
            "int_value",
            "uint_value",
            "double_value",
            "bool_value",
        ];
        while !buf.is_empty() {
            let (tag, wire) = key(&mut buf)?;
            let b = &mut buf;
            match tag {
                1 => self.text_field(wire, b).map(|v| name = Some(v)),
                2 => bytes_field(wire, b)
                    .and_then(|v| self.text.value(v))
                    .map(|v| value = Value::String(v)),
                3 => varint_field(wire, b).map(|v| value = Value::Int(v as i64)),
                4 => varint_field(wire, b).map(|v| value = Value::Uint(v)),
                5 => expect(wire, FIXED64)
                    .and_then(|()| fixed64(b))
                    .map(|v| value = Value::Double(f64::from_bits(v))),
                6 => varint_field(wire, b).map(|v| value = Value::Bool(v != 0)),
                _ => skip(wire, tag, b, RECURSION_LIMIT - 2),
            }
            .map_err(|e| e.within("Attribute", NAMES.get(tag as usize).unwrap_or(&"?")))?;
        }
        if fields.attribute_error.is_some() {
            // The event is refused already; its attributes are dropped.
            return Ok(());
        }
        let name = match name {
            Some(name) if !name.is_empty() => name,
            _ => {
                fields.attribute_error = Some("an attribute has an empty key".into());
                return Ok(());
            }
        };
        let lists = &mut self.attributes;
        match value {
            Value::String(v) => lists.strings.push((name, v)),
            Value::Int(v) => lists.ints.push((name, v)),
            Value::Uint(v) => match i64::try_from(v) {
                Ok(v) => lists.ints.push((name, v)),
                Err(_) => lists.strings.push((name, v.to_string().into())),
            },
            Value::Double(v) => lists.floats.push((name, v)),
            Value::Bool(v) => lists.bools.push((name, v)),
            Value::None => {
                fields.attribute_error = Some(format!("attribute {:?} has no value", &*name));
            }
        }
        Ok(())
    }

    /// Decodes one `HttpInfo` into the row's HTTP columns; the status code is
    /// checked once the event is read.
    fn http(
        &mut self,
        mut buf: &'a [u8],
        row: &mut Row,
        status: &mut u32,
    ) -> Result<(), DecodeError> {
        const NAMES: [&str; 12] = [
            "",
            "method",
            "route",
            "path",
            "status_code",
            "duration_nanos",
            "user_agent",
            "client_ip",
            "request_bytes",
            "response_bytes",
            "host",
            "scheme",
        ];
        while !buf.is_empty() {
            let (tag, wire) = key(&mut buf)?;
            let b = &mut buf;
            match tag {
                1 => self.text_field(wire, b).map(|v| row.http_method = v),
                2 => self.text_field(wire, b).map(|v| row.http_route = v),
                3 => string_field(wire, b).map(|v| row.http_path = v.to_owned()),
                4 => varint_field(wire, b).map(|v| *status = v as u32),
                5 => varint_field(wire, b).map(|v| row.http_duration_ns = v),
                6 => string_field(wire, b).map(|v| row.http_user_agent = v.to_owned()),
                7 => string_field(wire, b).map(|v| row.http_client_ip = v.to_owned()),
                8 => varint_field(wire, b).map(|v| row.http_request_bytes = v),
                9 => varint_field(wire, b).map(|v| row.http_response_bytes = v),
                10 => self.text_field(wire, b).map(|v| row.http_host = v),
                11 => self.text_field(wire, b).map(|v| row.http_scheme = v),
                _ => skip(wire, tag, b, RECURSION_LIMIT - 2),
            }
            .map_err(|e| e.within("HttpInfo", NAMES.get(tag as usize).unwrap_or(&"?")))?;
        }
        Ok(())
    }

    fn call_site(&mut self, mut buf: &'a [u8], row: &mut Row) -> Result<(), DecodeError> {
        const NAMES: [&str; 5] = ["", "file", "line", "module", "function"];
        while !buf.is_empty() {
            let (tag, wire) = key(&mut buf)?;
            let b = &mut buf;
            match tag {
                1 => self.text_field(wire, b).map(|v| row.file = v),
                2 => varint_field(wire, b).map(|v| row.line = v as u32),
                3 => self.text_field(wire, b).map(|v| row.module = v),
                4 => self.text_field(wire, b).map(|v| row.function = v),
                _ => skip(wire, tag, b, RECURSION_LIMIT - 2),
            }
            .map_err(|e| e.within("CallSite", NAMES.get(tag as usize).unwrap_or(&"?")))?;
        }
        Ok(())
    }

    /// A string field as shared text.
    #[inline(always)]
    fn text_field(&mut self, wire: u8, buf: &mut &'a [u8]) -> Result<ArcStr, DecodeError> {
        bytes_field(wire, buf).and_then(|v| self.text.bytes(v))
    }

    /// Fills what depends on the whole event, or says why it is refused.
    /// The checks come in the transform's order, so the reason is the
    /// same.
    /// `marks` is where the event's attributes start.
    fn finish(
        &mut self,
        row: &mut Row,
        event: &EventFields<'a>,
        marks: Marks,
    ) -> Result<(), String> {
        let id = self.batch.event_id(event.id)?;
        let trace_id = check_len(event.trace_id, 16, "trace_id")?;
        let span_id = check_len(event.span_id, 8, "span_id")?;
        let severity = severity_name(event.severity)?;
        if let Some(reason) = &event.attribute_error {
            return Err(reason.clone());
        }
        if let Some(status) = event.http_status {
            row.http_status = http_status(status)?;
        }
        row.id = id;
        self.batch.fill_batch_columns(row);
        row.severity = severity;
        row.trace_id = trace_id;
        row.span_id = span_id;
        row.service = self.own_or(event.service, Which::Service);
        row.environment = self.own_or(event.environment, Which::Environment);
        let (timestamp_ns, original) = normalise_timestamp(event.timestamp, self.batch.received_ns);
        row.timestamp_ns = timestamp_ns;
        if let Some(original) = original {
            // First, as the transform has it.
            let key = self.text.str(ORIGINAL_TIMESTAMP_KEY);
            self.attributes.ints.insert(marks.0[1], (key, original));
        }
        Ok(())
    }

    /// The event's own service or environment, else the batch's.
    fn own_or(&mut self, own: &'a str, which: Which) -> ArcStr {
        match (own.is_empty(), which) {
            (false, _) => self.text.str(own),
            (true, Which::Service) => self.batch.service.clone(),
            (true, Which::Environment) => self.batch.environment.clone(),
        }
    }
}

#[derive(Clone, Copy)]
enum Which {
    Service,
    Environment,
}

/// Decodes one `ErrorInfo` into the row's error columns.
fn error(mut buf: &[u8], row: &mut Row) -> Result<(), DecodeError> {
    const NAMES: [&str; 5] = ["", "type", "message", "chain", "backtrace"];
    while !buf.is_empty() {
        let (tag, wire) = key(&mut buf)?;
        let b = &mut buf;
        match tag {
            1 => string_field(wire, b).map(|v| row.error_type = v.to_owned()),
            2 => string_field(wire, b).map(|v| row.error_message = v.to_owned()),
            3 => string_field(wire, b).map(|v| row.error_chain.push(v.to_owned())),
            4 => string_field(wire, b).map(|v| row.error_backtrace = v.to_owned()),
            _ => skip(wire, tag, b, RECURSION_LIMIT - 2),
        }
        .map_err(|e| e.within("ErrorInfo", NAMES.get(tag as usize).unwrap_or(&"?")))?;
    }
    Ok(())
}

/// Text of one batch that many rows share, allocated (and checked to be
/// UTF-8) once: attribute keys, call sites, services, HTTP methods and
/// routes through a map, messages and attribute values through a cache.
///
/// A small direct-mapped cache, indexed by a cheap hash of the text, answers
/// most look-ups (a batch has few distinct keys and call sites); the map
/// behind it, with the standard library's keyed hash, keeps text that
/// collides in the cache, whatever a client sends, from costing more than a
/// map look-up.
struct Interner<'a> {
    cache: Box<[CacheSlot<'a>; Interner::CACHE_SLOTS]>,
    known: HashMap<&'a [u8], ArcStr>,
    /// For text that may or may not repeat (messages, attribute values):
    /// the cache alone, so that unique text costs no map entry.
    values: Box<[CacheSlot<'a>; Interner::CACHE_SLOTS]>,
}

/// Text and its shared copy.
type CacheSlot<'a> = Option<(&'a [u8], ArcStr)>;

impl Default for Interner<'_> {
    fn default() -> Self {
        Interner {
            cache: Box::new(std::array::from_fn(|_| None)),
            known: HashMap::new(),
            values: Box::new(std::array::from_fn(|_| None)),
        }
    }
}

impl<'a> Interner<'a> {
    const CACHE_BITS: u32 = 8;
    const CACHE_SLOTS: usize = 1 << Self::CACHE_BITS;
    /// Bounds the map whatever a batch holds; text past it is not shared.
    const MAX_ENTRIES: usize = 4096;

    /// The text in `cache` equal to `bytes`, or the slot it belongs in.
    #[inline(always)]
    fn cached(cache: &[CacheSlot<'a>], bytes: &[u8]) -> Result<ArcStr, usize> {
        let slot = cache_slot(bytes, Self::CACHE_BITS);
        match &cache[slot] {
            Some((cached, text)) if same_text(cached, bytes) => Ok(text.clone()),
            _ => Err(slot),
        }
    }

    /// The shared text for `bytes`, which must be UTF-8.
    #[inline(always)]
    fn bytes(&mut self, bytes: &'a [u8]) -> Result<ArcStr, DecodeError> {
        Self::cached(&self.cache[..], bytes).or_else(|slot| self.bytes_missed(bytes, slot))
    }

    /// [`Interner::bytes`] for text not in its cache slot.
    #[inline(never)]
    fn bytes_missed(&mut self, bytes: &'a [u8], slot: usize) -> Result<ArcStr, DecodeError> {
        let text = match self.known.get(bytes) {
            Some(text) => text.clone(),
            None => {
                let text: ArcStr = utf8(bytes)?.into();
                if self.known.len() < Self::MAX_ENTRIES {
                    self.known.insert(bytes, text.clone());
                }
                text
            }
        };
        self.cache[slot] = Some((bytes, text.clone()));
        Ok(text)
    }

    /// The text of `bytes` (which must be UTF-8), shared with the last text
    /// equal to it that took the same cache slot.
    #[inline(always)]
    fn value(&mut self, bytes: &'a [u8]) -> Result<ArcStr, DecodeError> {
        Self::cached(&self.values[..], bytes).or_else(|slot| self.value_missed(bytes, slot))
    }

    /// [`Interner::value`] for text not in its cache slot.
    #[inline(never)]
    fn value_missed(&mut self, bytes: &'a [u8], slot: usize) -> Result<ArcStr, DecodeError> {
        let text: ArcStr = utf8(bytes)?.into();
        self.values[slot] = Some((bytes, text.clone()));
        Ok(text)
    }

    /// The shared text for `text`.
    fn str(&mut self, text: &'a str) -> ArcStr {
        self.bytes(text.as_bytes()).expect("a str is UTF-8")
    }
}

/// `a == b`, without a call for text of up to 16 bytes.
#[inline(always)]
fn same_text(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"));
    let half = |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().expect("4 bytes"));
    match n {
        0..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        _ => a == b,
    }
}

/// A cache slot for `bytes`: a multiplicative hash of its length and of up
/// to its first and last eight bytes.
#[inline]
fn cache_slot(bytes: &[u8], bits: u32) -> usize {
    let n = bytes.len();
    let (head, tail) = if n >= 8 {
        let head = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
        let tail = u64::from_le_bytes(bytes[n - 8..].try_into().expect("8 bytes"));
        (head, tail)
    } else if n >= 4 {
        let head = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"));
        let tail = u32::from_le_bytes(bytes[n - 4..].try_into().expect("4 bytes"));
        (u64::from(head), u64::from(tail))
    } else if n > 0 {
        let head = u64::from(bytes[0]) | u64::from(bytes[n / 2]) << 8;
        (head, u64::from(bytes[n - 1]))
    } else {
        (0, 0)
    };
    let mixed = (head ^ tail.rotate_left(29) ^ n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (mixed >> (64 - bits)) as usize
}

/// `bytes` as text, or the error prost gives for text that is not UTF-8.
/// Short ASCII text (most of it here) is recognised without a call.
#[inline(always)]
fn utf8(bytes: &[u8]) -> Result<&str, DecodeError> {
    if short_ascii(bytes) {
        // SAFETY: ASCII is valid UTF-8.
        return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes)
        .map_err(|_| DecodeError::new("invalid string value: data is not UTF-8 encoded"))
}

/// Whether `bytes` is at most 16 bytes of ASCII, checked a word at a time
/// (two overlapping loads cover any length from 8 to 16, or from 4 to 8).
#[inline(always)]
fn short_ascii(bytes: &[u8]) -> bool {
    let n = bytes.len();
    let high = if n >= 8 {
        if n > 16 {
            return false;
        }
        let head = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
        let tail = u64::from_le_bytes(bytes[n - 8..].try_into().expect("8 bytes"));
        (head | tail) & 0x8080_8080_8080_8080
    } else if n >= 4 {
        let head = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"));
        let tail = u32::from_le_bytes(bytes[n - 4..].try_into().expect("4 bytes"));
        u64::from((head | tail) & 0x8080_8080)
    } else {
        bytes.iter().fold(0, |high, &b| high | u64::from(b & 0x80))
    };
    high == 0
}

/// Reads a varint, as prost does (at most ten bytes).
#[inline(always)]
fn varint(buf: &mut &[u8]) -> Result<u64, DecodeError> {
    match *buf {
        [byte, ref rest @ ..] if *byte < 0x80 => {
            *buf = rest;
            Ok(u64::from(*byte))
        }
        [low, high, ref rest @ ..] if *high < 0x80 => {
            *buf = rest;
            Ok(u64::from(low & 0x7f) | u64::from(*high) << 7)
        }
        _ => long_varint(buf),
    }
}

#[cold]
fn long_varint(buf: &mut &[u8]) -> Result<u64, DecodeError> {
    let mut value = 0u64;
    for (i, &byte) in buf.iter().take(10).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            if i == 9 && byte > 1 {
                break;
            }
            *buf = &buf[i + 1..];
            return Ok(value);
        }
    }
    Err(DecodeError::new("invalid varint"))
}

/// Reads a field key: the field number and the wire type.
#[inline(always)]
fn key(buf: &mut &[u8]) -> Result<(u32, u8), DecodeError> {
    let key = varint(buf)?;
    if key > u64::from(u32::MAX) {
        return Err(DecodeError::new(format!("invalid key value: {key}")));
    }
    let wire = (key & 7) as u8;
    if wire > FIXED32 {
        return Err(DecodeError::new(format!("invalid wire type value: {wire}")));
    }
    let tag = (key >> 3) as u32;
    if tag == 0 {
        return Err(DecodeError::new("invalid tag value: 0"));
    }
    Ok((tag, wire))
}

#[inline(always)]
fn expect(wire: u8, expected: u8) -> Result<(), DecodeError> {
    if wire == expected {
        Ok(())
    } else {
        Err(DecodeError::new(format!(
            "invalid wire type: {wire} (expected {expected})"
        )))
    }
}

#[inline(always)]
fn length_delimited<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], DecodeError> {
    let len = varint(buf)?;
    if len > buf.len() as u64 {
        return Err(DecodeError::new("buffer underflow"));
    }
    let (value, rest) = buf.split_at(len as usize);
    *buf = rest;
    Ok(value)
}

#[inline(always)]
fn fixed64(buf: &mut &[u8]) -> Result<u64, DecodeError> {
    let Some((value, rest)) = buf.split_first_chunk::<8>() else {
        return Err(DecodeError::new("buffer underflow"));
    };
    *buf = rest;
    Ok(u64::from_le_bytes(*value))
}

#[inline(always)]
fn bytes_field<'a>(wire: u8, buf: &mut &'a [u8]) -> Result<&'a [u8], DecodeError> {
    expect(wire, LENGTH_DELIMITED)?;
    length_delimited(buf)
}

#[inline(always)]
fn string_field<'a>(wire: u8, buf: &mut &'a [u8]) -> Result<&'a str, DecodeError> {
    utf8(bytes_field(wire, buf)?)
}

#[inline(always)]
fn varint_field(wire: u8, buf: &mut &[u8]) -> Result<u64, DecodeError> {
    expect(wire, VARINT)?;
    varint(buf)
}

/// Skips a field this decoder does not know, as prost does (`depth` is
/// what is left of [`RECURSION_LIMIT`]).
fn skip(wire: u8, tag: u32, buf: &mut &[u8], depth: u32) -> Result<(), DecodeError> {
    if depth == 0 {
        return Err(DecodeError::new("recursion limit reached"));
    }
    let len = match wire {
        VARINT => varint(buf).map(|_| 0)?,
        FIXED64 => 8,
        LENGTH_DELIMITED => varint(buf)?,
        START_GROUP => loop {
            let (inner_tag, inner_wire) = key(buf)?;
            if inner_wire == END_GROUP {
                if inner_tag != tag {
                    return Err(DecodeError::new("unexpected end group tag"));
                }
                break 0;
            }
            skip(inner_wire, inner_tag, buf, depth - 1)?;
        },
        END_GROUP => return Err(DecodeError::new("unexpected end group tag")),
        _ => 4,
    };
    if len > buf.len() as u64 {
        return Err(DecodeError::new("buffer underflow"));
    }
    *buf = &buf[len as usize..];
    Ok(())
}

#[cfg(test)]
mod tests;
