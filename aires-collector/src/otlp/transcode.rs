//! OTLP bytes straight into `aires.v1` bytes: the production path.
//!
//! The reference translation (`translate.rs`, over prost's structs) says
//! what each OTLP field becomes; this module does the same in one pass
//! over the request's bytes, borrowing its text and writing the batches' bytes
//! directly, without building either side's structs (prost's decoding of
//! an OTLP request alone cost more than the whole `aires.v1` path). The
//! tests check that both give the same events for any request, so the
//! field numbers written here are checked against prost's.
//!
//! A value that is neither text, a number, a bool nor bytes (an array, a
//! map) is rare: it is decoded with prost and rendered by [`mapping`].

use std::borrow::Cow;
use std::collections::HashMap;

use aires_proto::v1::fields as out;
use base64::Engine as _;
use opentelemetry_proto::tonic::common::v1::AnyValue;
use prost::Message as _;

use super::mapping::{self, key};
use crate::decode::wire::{self, FIXED64, LENGTH_DELIMITED, RECURSION_LIMIT, VARINT};
use crate::decode::DecodeError;

/// Field numbers of the OTLP messages read here.
mod otlp {
    pub const REQUEST_RESOURCE_LOGS: u32 = 1;
    pub const RESOURCE_LOGS_RESOURCE: u32 = 1;
    pub const RESOURCE_LOGS_SCOPE_LOGS: u32 = 2;
    pub const RESOURCE_ATTRIBUTES: u32 = 1;
    pub const SCOPE_LOGS_SCOPE: u32 = 1;
    pub const SCOPE_LOGS_LOG_RECORDS: u32 = 2;
    pub const SCOPE_NAME: u32 = 1;
    pub const SCOPE_ATTRIBUTES: u32 = 3;
    pub const RECORD_TIME: u32 = 1;
    pub const RECORD_SEVERITY_NUMBER: u32 = 2;
    pub const RECORD_SEVERITY_TEXT: u32 = 3;
    pub const RECORD_BODY: u32 = 5;
    pub const RECORD_ATTRIBUTES: u32 = 6;
    pub const RECORD_TRACE_ID: u32 = 9;
    pub const RECORD_SPAN_ID: u32 = 10;
    pub const RECORD_OBSERVED_TIME: u32 = 11;
    pub const RECORD_EVENT_NAME: u32 = 12;
    pub const KEY_VALUE_KEY: u32 = 1;
    pub const KEY_VALUE_VALUE: u32 = 2;
    pub const ANY_STRING: u32 = 1;
    pub const ANY_BOOL: u32 = 2;
    pub const ANY_INT: u32 = 3;
    pub const ANY_DOUBLE: u32 = 4;
    pub const ANY_BYTES: u32 = 7;
}

/// One `aires.v1` batch: its encoded bytes and how many records it holds.
#[derive(Debug)]
pub struct Batch {
    pub encoded: Vec<u8>,
    pub records: usize,
}

/// How large the output may grow.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// A batch is cut once its encoded size reaches this (as the SDKs cut
    /// theirs at `max_batch_bytes`), so each fits the memory budget.
    pub batch_bytes: usize,
    /// A batch is cut once it holds this many records.
    pub batch_records: usize,
    /// The batches of one call of [`transcode`] together, about: a
    /// resource's attributes are copied into each of its records, so a
    /// small request can become a huge output. It is taken a part at a
    /// time (see [`Part`]), each stored before the next is made.
    pub part_bytes: usize,
    /// All the parts of one request, about: the records past it are
    /// refused (counted in the answer's partial success), so a request of
    /// a few megabytes cannot become gigabytes of events.
    pub total_bytes: usize,
}

impl Limits {
    /// The limits for requests of at most `max_message_bytes`: a part is
    /// about one message's size, a request at most 64 messages' worth of
    /// events (256 MiB at the default 4 MiB).
    pub fn for_messages_of(max_message_bytes: usize) -> Self {
        Limits {
            batch_bytes: 1 << 20,
            batch_records: 4096,
            part_bytes: max_message_bytes.max(1 << 20),
            total_bytes: max_message_bytes.saturating_mul(64).max(64 << 20),
        }
    }
}

/// Why a request was not transcoded (then nothing of it is taken).
#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    /// The request does not decode.
    #[error("malformed protobuf ExportLogsServiceRequest: {0}")]
    Malformed(#[from] DecodeError),
}

/// Where a part of a request starts, and what the first pass learnt of
/// the whole request. `Part::default()` is the first part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Part {
    /// Its first record, counted across the whole request in order.
    pub record: usize,
    /// Its first batch's place in the request.
    pub batch: u64,
    /// Bytes of events in the parts before it.
    pub written: usize,
    /// Records in the whole request.
    pub records: usize,
    /// What the request's batch ids are made from.
    pub ids: u128,
}

/// The batches of one part of a request, where the next part starts
/// (`None`: this was the last), and the records refused past
/// [`Limits::total_bytes`] (counted once, with the last part).
#[derive(Debug)]
pub struct Transcoded {
    pub batches: Vec<Batch>,
    pub next: Option<Part>,
    pub refused: usize,
}

/// How a pass over the request stops before its end.
enum Halt {
    Error(TranscodeError),
    /// The part is full, and the rest was checked by the first pass.
    Full,
}

/// What a pass does with a record.
enum Take {
    Write,
    /// Past the first part: read and checked, not written.
    Check,
    /// Before this part: written by an earlier pass.
    Skip,
}

impl From<DecodeError> for Halt {
    fn from(error: DecodeError) -> Self {
        Halt::Error(error.into())
    }
}

/// The batches of an encoded `ExportLogsServiceRequest`, from `from` on:
/// each resource's records in one or more batches (none for a resource
/// without records), in request order, until about
/// [`Limits::part_bytes`] of them; [`Transcoded::next`] says where the
/// next part starts. The first pass reads and checks the whole request,
/// so that a malformed record refuses it before any part is stored; later
/// passes stop at the end of their part.
///
/// The output is a function of the request's bytes alone: a batch's id is
/// made from a hash of the whole request and the batch's place in it, its
/// events carry no ids (the collector makes them from the batch's digest)
/// and a record without a time has none (the collector gives it the time
/// received). So an export retried with the same bytes becomes the same
/// batches, which the collector recognises as retries
/// (`pipeline::recent_batches`) rather than storing them twice. A request
/// with a record that has neither time nor observed time is the exception:
/// its batches get fresh ids, since two such requests with the same bytes
/// (a heartbeat sent by hand, say) may well be two events.
pub fn transcode(request: &[u8], limits: Limits, from: Part) -> Result<Transcoded, TranscodeError> {
    let mut output = Output {
        limits,
        from: from.record,
        ..Output::default()
    };
    let mut scratch = Scratch::default();
    let mut buf = request;
    let walked = (|| -> Result<(), Halt> {
        while !buf.is_empty() {
            let (tag, wire_type) = wire::key(&mut buf)?;
            if tag == otlp::REQUEST_RESOURCE_LOGS && wire_type == LENGTH_DELIMITED {
                let resource_logs = wire::length_delimited(&mut buf)?;
                resource_batches(resource_logs, &mut output, &mut scratch)?;
            } else {
                wire::skip(wire_type, tag, &mut buf, RECURSION_LIMIT)?;
            }
        }
        Ok(())
    })();
    if let Err(Halt::Error(error)) = walked {
        return Err(error);
    }
    // The first pass read the whole request.
    let first = from.record == 0;
    let records = if first { output.seen } else { from.records };
    let ids = if !first {
        from.ids
    } else if scratch.untimed {
        uuid::Uuid::now_v7().as_u128()
    } else {
        xxhash_rust::xxh3::xxh3_128_with_seed(request, 0x07_1b)
    };
    let mut batches = output.batches;
    for (place, batch) in (from.batch..).zip(&mut batches) {
        let id = ids ^ u128::from(place);
        put_bytes(
            &mut batch.encoded,
            out::event_batch::BATCH_ID,
            &id.to_be_bytes(),
        );
    }
    let written = from.written + output.total;
    let mut next = output
        .full_at
        .filter(|&record| record < records)
        .map(|record| Part {
            record,
            batch: from.batch + batches.len() as u64,
            written,
            records,
            ids,
        });
    let mut refused = 0;
    if let Some(part) = next.filter(|_| written >= limits.total_bytes) {
        refused = records - part.record;
        next = None;
    }
    Ok(Transcoded {
        batches,
        next,
        refused,
    })
}

/// The batches written so far, and the one being written.
#[derive(Default)]
struct Output {
    limits: Limits,
    batches: Vec<Batch>,
    total: usize,
    current: Vec<u8>,
    records: usize,
    /// The current resource's batch-level fields.
    fields: BatchFields,
    /// Records seen so far in the request.
    seen: usize,
    /// The first record of this part: those before it are not written.
    from: usize,
    /// The part is full: the next starts at this record.
    full_at: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits::for_messages_of(4 << 20)
    }
}

#[derive(Default)]
struct BatchFields {
    sdk_name: String,
    sdk_version: String,
    service: String,
    environment: String,
}

impl Output {
    /// What this pass does with the next record.
    fn take_next(&mut self) -> Result<Take, Halt> {
        self.seen += 1;
        if self.seen <= self.from {
            return Ok(Take::Skip);
        }
        match self.full_at {
            None => Ok(Take::Write),
            Some(_) if self.from == 0 => Ok(Take::Check),
            Some(_) => Err(Halt::Full),
        }
    }

    /// One more event was written into `current`: cuts the batch at the
    /// limits, and ends the part once its batches come to `part_bytes`.
    fn written(&mut self) {
        self.records += 1;
        let full = self.total + self.current.len() >= self.limits.part_bytes;
        if full
            || self.current.len() >= self.limits.batch_bytes
            || self.records >= self.limits.batch_records
        {
            self.finish();
        }
        if full {
            self.full_at = Some(self.seen);
        }
    }

    /// Ends the current batch, if it holds any record: the batch's own
    /// fields after its events (protobuf fields may come in any order; its
    /// id is added once the whole request is known).
    fn finish(&mut self) {
        if self.records == 0 {
            return;
        }
        let mut encoded = std::mem::take(&mut self.current);
        let fields = &self.fields;
        put_str(&mut encoded, out::event_batch::SDK_NAME, &fields.sdk_name);
        put_str(
            &mut encoded,
            out::event_batch::SDK_VERSION,
            &fields.sdk_version,
        );
        put_str(&mut encoded, out::event_batch::SERVICE, &fields.service);
        put_str(
            &mut encoded,
            out::event_batch::ENVIRONMENT,
            &fields.environment,
        );
        self.total += encoded.len();
        self.batches.push(Batch {
            encoded,
            records: std::mem::take(&mut self.records),
        });
    }
}

/// Buffers reused from record to record: for the messages of an event
/// written before their length is known, and its attributes.
#[derive(Default)]
struct Scratch<'a> {
    /// A record had neither time nor observed time.
    untimed: bool,
    inner: Vec<u8>,
    record_attributes: Vec<KeyValue<'a>>,
    attributes: Attributes<'a>,
    /// A record's own attributes, while the merged list is built.
    own: Vec<(&'a str, Value<'a>)>,
}

/// Bytes kept for an event's length, written as a varint padded to this
/// width (protobuf readers accept the redundant bytes); an event longer
/// than it can say is moved along.
const LENGTH_ROOM: usize = 3;

/// Writes the length of what follows `start` into the `LENGTH_ROOM` bytes
/// before it.
fn set_length(buf: &mut Vec<u8>, start: usize) {
    let len = buf.len() - start;
    if len < 1 << (7 * LENGTH_ROOM) {
        let mut value = len;
        for i in 0..LENGTH_ROOM {
            let more = if i + 1 < LENGTH_ROOM { 0x80 } else { 0 };
            buf[start - LENGTH_ROOM + i] = (value & 0x7f) as u8 | more;
            value >>= 7;
        }
    } else {
        let mut prefix = Vec::with_capacity(10);
        put_varint(&mut prefix, len as u64);
        buf.splice(start - LENGTH_ROOM..start, prefix);
    }
}

/// The bytes of a length-delimited field of `len` bytes with a one-byte key.
fn field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

fn varint_len(value: u64) -> usize {
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// A guess of an event's size, to reserve once.
fn buf_len_hint(attributes: &[(&str, Value<'_>)]) -> usize {
    64 + attributes.len() * 24
}

/// A value as read from an `AnyValue`, borrowing the request's bytes.
#[derive(Clone, Copy, Debug)]
enum Value<'a> {
    /// The `AnyValue` holds nothing.
    Empty,
    Str(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(&'a [u8]),
    /// An array, a map, or a value with fields this reader does not know:
    /// the `AnyValue`'s own bytes, for prost to read.
    Other(&'a [u8]),
}

impl<'a> Value<'a> {
    /// As [`mapping::text_of`], borrowing the request's text.
    fn into_text(self) -> Cow<'a, str> {
        match self {
            Value::Str(s) => Cow::Borrowed(s),
            other => Cow::Owned(other.text().into_owned()),
        }
    }

    /// As [`mapping::text_of`].
    fn text(&self) -> Cow<'_, str> {
        match *self {
            Value::Str(s) => s.into(),
            Value::Empty => "".into(),
            Value::Bytes(b) => base64::engine::general_purpose::STANDARD.encode(b).into(),
            Value::Bool(b) => if b { "true" } else { "false" }.into(),
            Value::Int(i) => i.to_string().into(),
            Value::Double(d) => mapping::text_of(&AnyValue {
                value: Some(
                    opentelemetry_proto::tonic::common::v1::any_value::Value::DoubleValue(d),
                ),
            })
            .into(),
            Value::Other(raw) => mapping::text_of(&decoded(raw)).into(),
        }
    }

    fn unsigned(&self) -> Option<u64> {
        match *self {
            Value::Int(i) => u64::try_from(i).ok(),
            Value::Str(s) => s.trim().parse().ok(),
            Value::Other(raw) => mapping::unsigned(&decoded(raw)),
            _ => None,
        }
    }

    fn number(&self) -> Option<f64> {
        match *self {
            Value::Int(i) => Some(i as f64),
            Value::Double(d) => Some(d),
            Value::Str(s) => s.trim().parse().ok(),
            Value::Other(raw) => mapping::number(&decoded(raw)),
            _ => None,
        }
    }
}

/// An `AnyValue` [`any_value`] has checked already.
fn decoded(raw: &[u8]) -> AnyValue {
    AnyValue::decode(raw).unwrap_or_default()
}

/// A key and, when the `KeyValue` has its `value` field, its value.
type KeyValue<'a> = (&'a str, Option<Value<'a>>);

fn any_value(mut buf: &[u8]) -> Result<Value<'_>, DecodeError> {
    let whole = buf;
    let mut value = Value::Empty;
    while !buf.is_empty() {
        let (tag, wire_type) = wire::key(&mut buf)?;
        value = match (tag, wire_type) {
            (otlp::ANY_STRING, LENGTH_DELIMITED) => {
                Value::Str(wire::utf8(wire::length_delimited(&mut buf)?)?)
            }
            (otlp::ANY_BOOL, VARINT) => Value::Bool(wire::varint(&mut buf)? != 0),
            (otlp::ANY_INT, VARINT) => Value::Int(wire::varint(&mut buf)? as i64),
            (otlp::ANY_DOUBLE, FIXED64) => Value::Double(f64::from_bits(wire::fixed64(&mut buf)?)),
            (otlp::ANY_BYTES, LENGTH_DELIMITED) => Value::Bytes(wire::length_delimited(&mut buf)?),
            _ => {
                // Arrays, maps, string-table indexes, unknown fields: let
                // prost read (and check) the whole value.
                let value = AnyValue::decode(whole).map_err(|e| DecodeError::new(e.to_string()))?;
                return Ok(match value.value {
                    None => Value::Empty,
                    Some(_) => Value::Other(whole),
                });
            }
        };
    }
    Ok(value)
}

fn key_value(mut buf: &[u8]) -> Result<KeyValue<'_>, DecodeError> {
    let mut key = "";
    let mut value = None;
    while !buf.is_empty() {
        let (tag, wire_type) = wire::key(&mut buf)?;
        match (tag, wire_type) {
            (otlp::KEY_VALUE_KEY, LENGTH_DELIMITED) => {
                key = wire::utf8(wire::length_delimited(&mut buf)?)?
            }
            (otlp::KEY_VALUE_VALUE, LENGTH_DELIMITED) => {
                value = Some(any_value(wire::length_delimited(&mut buf)?)?)
            }
            _ => wire::skip(wire_type, tag, &mut buf, RECURSION_LIMIT)?,
        }
    }
    Ok((key, value))
}

/// Every `KeyValue` in the repeated field `field` of `message`.
fn key_values(mut message: &[u8], field: u32) -> Result<Vec<KeyValue<'_>>, DecodeError> {
    let mut all = Vec::new();
    while !message.is_empty() {
        let (tag, wire_type) = wire::key(&mut message)?;
        if tag == field && wire_type == LENGTH_DELIMITED {
            all.push(key_value(wire::length_delimited(&mut message)?)?);
        } else {
            wire::skip(wire_type, tag, &mut message, RECURSION_LIMIT)?;
        }
    }
    Ok(all)
}

fn first<'a>(attributes: &[KeyValue<'a>], name: &str) -> Option<Value<'a>> {
    attributes
        .iter()
        .find(|(key, _)| *key == name)
        .and_then(|(_, value)| *value)
}

fn resource_batches<'a>(
    mut buf: &'a [u8],
    output: &mut Output,
    scratch: &mut Scratch<'a>,
) -> Result<(), Halt> {
    // The aires.v1 form is about as long as the OTLP one.
    output.current =
        Vec::with_capacity((buf.len() + buf.len() / 4 + 64).min(output.limits.batch_bytes + 4096));
    let mut resource: Vec<KeyValue<'a>> = Vec::new();
    let mut scope_logs: Vec<&[u8]> = Vec::new();
    while !buf.is_empty() {
        let (tag, wire_type) = wire::key(&mut buf)?;
        match (tag, wire_type) {
            (otlp::RESOURCE_LOGS_RESOURCE, LENGTH_DELIMITED) => resource.extend(key_values(
                wire::length_delimited(&mut buf)?,
                otlp::RESOURCE_ATTRIBUTES,
            )?),
            (otlp::RESOURCE_LOGS_SCOPE_LOGS, LENGTH_DELIMITED) => {
                scope_logs.push(wire::length_delimited(&mut buf)?)
            }
            _ => wire::skip(wire_type, tag, &mut buf, RECURSION_LIMIT)?,
        }
    }
    let text = |name: &str| first(&resource, name).map(|v| v.text().into_owned());
    let environment = key::ENVIRONMENT
        .iter()
        .find_map(|name| first(&resource, name))
        .map(|v| v.text().into_owned())
        .unwrap_or_default();
    let language = text(key::SDK_LANGUAGE).unwrap_or_default();
    let sdk_name = if language.is_empty() {
        mapping::SDK_NAME.to_owned()
    } else {
        format!("{}-{language}", mapping::SDK_NAME)
    };
    let shared: Vec<KeyValue<'a>> = resource
        .iter()
        .copied()
        .filter(|(k, _)| *k != key::SERVICE && !key::ENVIRONMENT.contains(k))
        .collect();

    output.fields = BatchFields {
        sdk_name,
        sdk_version: text(key::SDK_VERSION).unwrap_or_default(),
        service: text(key::SERVICE).unwrap_or_default(),
        environment,
    };
    for scope in scope_logs {
        scope_records(scope, &shared, output, scratch)?;
    }
    output.finish();
    Ok(())
}

/// Writes the events of one `ScopeLogs`; returns how many.
fn scope_records<'a>(
    mut buf: &'a [u8],
    resource: &[KeyValue<'a>],
    output: &mut Output,
    scratch: &mut Scratch<'a>,
) -> Result<(), Halt> {
    let mut scope_name = "";
    let mut scope_attributes = Vec::new();
    let mut records = Vec::new();
    while !buf.is_empty() {
        let (tag, wire_type) = wire::key(&mut buf)?;
        match (tag, wire_type) {
            (otlp::SCOPE_LOGS_SCOPE, LENGTH_DELIMITED) => {
                let mut scope = wire::length_delimited(&mut buf)?;
                while !scope.is_empty() {
                    let (tag, wire_type) = wire::key(&mut scope)?;
                    match (tag, wire_type) {
                        (otlp::SCOPE_NAME, LENGTH_DELIMITED) => {
                            scope_name = wire::utf8(wire::length_delimited(&mut scope)?)?
                        }
                        (otlp::SCOPE_ATTRIBUTES, LENGTH_DELIMITED) => {
                            scope_attributes.push(key_value(wire::length_delimited(&mut scope)?)?)
                        }
                        _ => wire::skip(wire_type, tag, &mut scope, RECURSION_LIMIT)?,
                    }
                }
            }
            (otlp::SCOPE_LOGS_LOG_RECORDS, LENGTH_DELIMITED) => {
                records.push(wire::length_delimited(&mut buf)?)
            }
            _ => wire::skip(wire_type, tag, &mut buf, RECURSION_LIMIT)?,
        }
    }
    // The attributes every record of the scope starts with (resource, then
    // scope; a repeated key keeps its last value in its first place),
    // encoded once: a record whose own attributes repeat none of their keys
    // copies these bytes instead of writing them again. Built for the
    // scope's first record written, not before: a scope whose records are
    // only checked or skipped (or that has none) costs its own bytes alone.
    let mut shared: Option<(Attributes<'a>, Vec<u8>)> = None;
    let mut checked = Vec::new();
    let nothing_shared = Attributes::default();
    for record in &records {
        match output.take_next()? {
            Take::Skip => {}
            Take::Check => {
                // Read and checked on its own: the shared attributes are
                // neither copied nor merged, so checking costs what the
                // record's own bytes do.
                let context = Context {
                    shared: &nothing_shared,
                    shared_encoded: &[],
                    scope_name,
                };
                checked.clear();
                event(record, &context, &mut checked, scratch)?;
            }
            Take::Write => {
                let (shared, shared_encoded) = shared.get_or_insert_with(|| {
                    let mut list = Attributes::default();
                    for &(key, value) in resource.iter().chain(&scope_attributes) {
                        if let Some(value) = value.filter(|v| !matches!(v, Value::Empty)) {
                            list.push(key, value);
                        }
                    }
                    let mut encoded = Vec::new();
                    put_attributes(&mut encoded, &mut scratch.inner, &list.list);
                    (list, encoded)
                });
                let context = Context {
                    shared,
                    shared_encoded,
                    scope_name,
                };
                // The event is written in place, after room for its length.
                let encoded = &mut output.current;
                put_key(encoded, out::event_batch::EVENTS, LENGTH_DELIMITED);
                let start = encoded.len() + LENGTH_ROOM;
                encoded.extend_from_slice(&[0; LENGTH_ROOM]);
                event(record, &context, encoded, scratch)?;
                set_length(encoded, start);
                output.written();
            }
        }
    }
    Ok(())
}

/// What every record of a scope shares.
struct Context<'c, 'a> {
    /// The resource's and the scope's attributes, merged.
    shared: &'c Attributes<'a>,
    /// `shared` as the event's attribute fields.
    shared_encoded: &'c [u8],
    scope_name: &'a str,
}

/// The parts of a record's attributes that fill columns (see
/// `translate::Columns`).
#[derive(Default)]
struct Columns<'a> {
    session_id: Option<Value<'a>>,
    error_type: Option<Value<'a>>,
    error_message: Option<Value<'a>>,
    error_backtrace: Option<Value<'a>>,
    namespace: Option<Value<'a>>,
    file: Option<Value<'a>>,
    function: Option<Value<'a>>,
    line: Option<u32>,
    http: Http<'a>,
}

#[derive(Default)]
struct Http<'a> {
    any: bool,
    method: Option<Value<'a>>,
    route: Option<Value<'a>>,
    path: Option<Value<'a>>,
    user_agent: Option<Value<'a>>,
    client_ip: Option<Value<'a>>,
    host: Option<Value<'a>>,
    scheme: Option<Value<'a>>,
    status: u32,
    request_bytes: u64,
    response_bytes: u64,
    duration_nanos: u64,
}

impl<'a> Columns<'a> {
    /// Takes an attribute into a column; false if it stays an attribute.
    fn take(&mut self, name: &str, value: Value<'a>) -> bool {
        // Every name that fills a column starts with one of these and has
        // a dot: most other names are passed over at once.
        let candidate = matches!(
            name.as_bytes().first(),
            Some(b's' | b'e' | b'c' | b'h' | b'u')
        ) && name.len() >= 8
            && name.contains('.');
        if !candidate {
            return false;
        }
        let is = |names: &[&str]| names.contains(&name);
        let http = &mut self.http;
        match name {
            key::SESSION => self.session_id = Some(value),
            key::EXCEPTION_TYPE => self.error_type = Some(value),
            key::EXCEPTION_MESSAGE => self.error_message = Some(value),
            key::EXCEPTION_STACKTRACE => self.error_backtrace = Some(value),
            key::CODE_NAMESPACE => self.namespace = Some(value),
            _ if is(&key::CODE_FILE) => self.file = Some(value),
            _ if is(&key::CODE_FUNCTION) => self.function = Some(value),
            _ if is(&key::CODE_LINE) => match value.unsigned() {
                Some(line) => self.line = Some(line.min(u64::from(u32::MAX)) as u32),
                None => return false,
            },
            _ if is(&key::HTTP_METHOD) => (http.any, http.method) = (true, Some(value)),
            key::HTTP_ROUTE => (http.any, http.route) = (true, Some(value)),
            _ if is(&key::HTTP_PATH) => (http.any, http.path) = (true, Some(value)),
            _ if is(&key::HTTP_USER_AGENT) => (http.any, http.user_agent) = (true, Some(value)),
            _ if is(&key::HTTP_CLIENT_IP) => (http.any, http.client_ip) = (true, Some(value)),
            _ if is(&key::HTTP_HOST) => (http.any, http.host) = (true, Some(value)),
            _ if is(&key::HTTP_SCHEME) => (http.any, http.scheme) = (true, Some(value)),
            _ if is(&key::HTTP_STATUS) => match value.unsigned() {
                Some(status) if status <= u64::from(u16::MAX) => {
                    (http.any, http.status) = (true, status as u32)
                }
                _ => return false,
            },
            _ if is(&key::HTTP_REQUEST_BYTES) => match value.unsigned() {
                Some(bytes) => (http.any, http.request_bytes) = (true, bytes),
                None => return false,
            },
            _ if is(&key::HTTP_RESPONSE_BYTES) => match value.unsigned() {
                Some(bytes) => (http.any, http.response_bytes) = (true, bytes),
                None => return false,
            },
            key::HTTP_DURATION_MS | key::HTTP_DURATION_S => {
                let scale = if name == key::HTTP_DURATION_MS {
                    1e6
                } else {
                    1e9
                };
                match value.number() {
                    Some(n) if n.is_finite() && n >= 0.0 => {
                        (http.any, http.duration_nanos) =
                            (true, (n * scale).min(u64::MAX as f64) as u64)
                    }
                    _ => return false,
                }
            }
            _ => return false,
        }
        true
    }
}

/// Appends one record as an `aires.v1` event's fields to `event`.
fn event<'a>(
    mut buf: &'a [u8],
    context: &Context<'_, 'a>,
    event: &mut Vec<u8>,
    scratch: &mut Scratch<'a>,
) -> Result<(), DecodeError> {
    let mut time = 0;
    let mut observed = 0;
    let mut severity_number = 0i32;
    let mut severity_text = "";
    let mut body = None;
    let mut trace_id: &[u8] = &[];
    let mut span_id: &[u8] = &[];
    let mut event_name = "";
    let mut record_attributes = std::mem::take(&mut scratch.record_attributes);
    record_attributes.clear();
    while !buf.is_empty() {
        let (tag, wire_type) = wire::key(&mut buf)?;
        match (tag, wire_type) {
            (otlp::RECORD_TIME, FIXED64) => time = wire::fixed64(&mut buf)?,
            (otlp::RECORD_OBSERVED_TIME, FIXED64) => observed = wire::fixed64(&mut buf)?,
            (otlp::RECORD_SEVERITY_NUMBER, VARINT) => {
                severity_number = wire::varint(&mut buf)? as i32
            }
            (otlp::RECORD_SEVERITY_TEXT, LENGTH_DELIMITED) => {
                severity_text = wire::utf8(wire::length_delimited(&mut buf)?)?
            }
            (otlp::RECORD_BODY, LENGTH_DELIMITED) => {
                body = Some(any_value(wire::length_delimited(&mut buf)?)?)
            }
            (otlp::RECORD_ATTRIBUTES, LENGTH_DELIMITED) => {
                record_attributes.push(key_value(wire::length_delimited(&mut buf)?)?)
            }
            (otlp::RECORD_TRACE_ID, LENGTH_DELIMITED) => {
                trace_id = wire::length_delimited(&mut buf)?
            }
            (otlp::RECORD_SPAN_ID, LENGTH_DELIMITED) => span_id = wire::length_delimited(&mut buf)?,
            (otlp::RECORD_EVENT_NAME, LENGTH_DELIMITED) => {
                event_name = wire::utf8(wire::length_delimited(&mut buf)?)?
            }
            _ => wire::skip(wire_type, tag, &mut buf, RECURSION_LIMIT)?,
        }
    }

    // Attributes, lowest precedence first; a repeated key keeps its last
    // value in its first place. The record's own first, then (below) the
    // scope's shared ones before them.
    let mut columns = Columns::default();
    let mut attributes = std::mem::take(&mut scratch.attributes);
    attributes.clear();
    if !severity_text.is_empty() {
        attributes.push(key::SEVERITY_TEXT, Value::Str(severity_text));
    }
    if !event_name.is_empty() {
        attributes.push(key::EVENT_NAME, Value::Str(event_name));
    }
    for &(key, value) in &record_attributes {
        let Some(value) = value else { continue };
        if !columns.take(key, value) && !matches!(value, Value::Empty) {
            attributes.push(key, value);
        }
    }

    // Where the record repeats a shared key, the merged list is built as
    // the precedence says; otherwise the shared bytes are copied as they
    // are, ahead of the record's own.
    let repeats_shared = attributes
        .list
        .iter()
        .any(|(key, _)| context.shared.contains(key));
    let shared_encoded = if repeats_shared {
        let own = &mut scratch.own;
        own.clear();
        own.extend_from_slice(&attributes.list);
        attributes.clear();
        for &(key, value) in context.shared.list.iter().chain(own.iter()) {
            attributes.push(key, value);
        }
        &[][..]
    } else {
        context.shared_encoded
    };

    event.reserve(shared_encoded.len() + buf_len_hint(&attributes.list));
    // No id (the collector makes one from the batch's digest), and no
    // time for a record without one (the collector gives it the time
    // received): the batch stays a function of the request's bytes.
    match [time, observed].into_iter().find(|&t| t != 0) {
        Some(timestamp) => {
            put_key(event, out::event::TIMESTAMP_UNIX_NANO, FIXED64);
            event.extend_from_slice(&timestamp.to_le_bytes());
        }
        None => scratch.untimed = true,
    }
    let severity = mapping::severity(severity_number, severity_text) as u64;
    put_varint_field(event, out::event::SEVERITY, severity);
    if let Some(body) = body {
        put_str(event, out::event::MESSAGE, &body.text());
    }
    put_bytes(event, out::event::TRACE_ID, trace_id);
    put_bytes(event, out::event::SPAN_ID, span_id);
    if let Some(session) = columns.session_id {
        put_str(event, out::event::SESSION_ID, &session.text());
    }
    let inner = &mut scratch.inner;
    event.extend_from_slice(shared_encoded);
    put_attributes(event, inner, &attributes.list);
    let http = &columns.http;
    if http.any {
        inner.clear();
        let text = |v: &Option<Value<'a>>| -> Cow<'a, str> {
            v.map_or(Cow::Borrowed(""), |v| v.into_text())
        };
        put_str(inner, out::http_info::METHOD, &text(&http.method));
        put_str(inner, out::http_info::ROUTE, &text(&http.route));
        put_str(inner, out::http_info::PATH, &text(&http.path));
        put_varint_field(inner, out::http_info::STATUS_CODE, u64::from(http.status));
        put_varint_field(inner, out::http_info::DURATION_NANOS, http.duration_nanos);
        put_str(inner, out::http_info::USER_AGENT, &text(&http.user_agent));
        put_str(inner, out::http_info::CLIENT_IP, &text(&http.client_ip));
        put_varint_field(inner, out::http_info::REQUEST_BYTES, http.request_bytes);
        put_varint_field(inner, out::http_info::RESPONSE_BYTES, http.response_bytes);
        put_str(inner, out::http_info::HOST, &text(&http.host));
        put_str(inner, out::http_info::SCHEME, &text(&http.scheme));
        put_bytes_always(event, out::event::HTTP, inner);
    }
    if columns.error_type.is_some()
        || columns.error_message.is_some()
        || columns.error_backtrace.is_some()
    {
        inner.clear();
        let text = |v: &Option<Value<'a>>| -> Cow<'a, str> {
            v.map_or(Cow::Borrowed(""), |v| v.into_text())
        };
        put_str(inner, out::error_info::TYPE, &text(&columns.error_type));
        put_str(
            inner,
            out::error_info::MESSAGE,
            &text(&columns.error_message),
        );
        put_str(
            inner,
            out::error_info::BACKTRACE,
            &text(&columns.error_backtrace),
        );
        put_bytes_always(event, out::event::ERROR, inner);
    }
    let module = match columns.namespace {
        Some(namespace) => namespace.into_text(),
        None => Cow::Borrowed(context.scope_name),
    };
    let file = columns.file.map_or(Cow::Borrowed(""), |v| v.into_text());
    let function = columns
        .function
        .map_or(Cow::Borrowed(""), |v| v.into_text());
    let line = columns.line.unwrap_or(0);
    if !(module.is_empty() && file.is_empty() && function.is_empty() && line == 0) {
        inner.clear();
        put_str(inner, out::call_site::FILE, &file);
        put_varint_field(inner, out::call_site::LINE, u64::from(line));
        put_str(inner, out::call_site::MODULE, &module);
        put_str(inner, out::call_site::FUNCTION, &function);
        put_bytes_always(event, out::event::CALL_SITE, inner);
    }
    scratch.record_attributes = record_attributes;
    scratch.attributes = attributes;
    Ok(())
}

/// Writes `attributes` as an event's attribute fields (`inner` is scratch
/// space for the values not written in place).
fn put_attributes(event: &mut Vec<u8>, inner: &mut Vec<u8>, attributes: &[(&str, Value<'_>)]) {
    for &(key, value) in attributes {
        // The common values are written in place: their length is known.
        let key_len = if key.is_empty() {
            0
        } else {
            field_len(key.len())
        };
        match value {
            Value::Str(s) => {
                put_key(event, out::event::ATTRIBUTES, LENGTH_DELIMITED);
                put_varint(event, (key_len + field_len(s.len())) as u64);
                put_str(event, out::attribute::KEY, key);
                put_str_always(event, out::attribute::STRING_VALUE, s);
                continue;
            }
            Value::Int(i) => {
                put_key(event, out::event::ATTRIBUTES, LENGTH_DELIMITED);
                put_varint(event, (key_len + 1 + varint_len(i as u64)) as u64);
                put_str(event, out::attribute::KEY, key);
                put_varint_field_always(event, out::attribute::INT_VALUE, i as u64);
                continue;
            }
            _ => {}
        }
        inner.clear();
        put_str(inner, out::attribute::KEY, key);
        match value {
            Value::Str(s) => put_str_always(inner, out::attribute::STRING_VALUE, s),
            Value::Bool(b) => put_varint_field_always(inner, out::attribute::BOOL_VALUE, b as u64),
            Value::Int(i) => put_varint_field_always(inner, out::attribute::INT_VALUE, i as u64),
            Value::Double(d) => put_double(inner, out::attribute::DOUBLE_VALUE, d),
            Value::Other(raw) => {
                use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
                match decoded(raw).value {
                    Some(V::StringValue(s)) => {
                        put_str_always(inner, out::attribute::STRING_VALUE, &s)
                    }
                    Some(V::BoolValue(b)) => {
                        put_varint_field_always(inner, out::attribute::BOOL_VALUE, b as u64)
                    }
                    Some(V::IntValue(i)) => {
                        put_varint_field_always(inner, out::attribute::INT_VALUE, i as u64)
                    }
                    Some(V::DoubleValue(d)) => put_double(inner, out::attribute::DOUBLE_VALUE, d),
                    _ => put_str_always(inner, out::attribute::STRING_VALUE, &value.text()),
                }
            }
            other => put_str_always(inner, out::attribute::STRING_VALUE, &other.text()),
        }
        put_bytes_always(event, out::event::ATTRIBUTES, inner);
    }
}

#[inline]
fn put_double(buf: &mut Vec<u8>, field: u32, value: f64) {
    put_key(buf, field, FIXED64);
    buf.extend_from_slice(&value.to_bits().to_le_bytes());
}

/// An event's attributes as they are gathered: a repeated key keeps its
/// last value in its first place. Found by a scan while short (a record
/// has a dozen), through an index once long, so a request with thousands
/// of attributes per record costs linear time, not quadratic.
#[derive(Default)]
struct Attributes<'a> {
    list: Vec<(&'a str, Value<'a>)>,
    index: HashMap<&'a str, usize>,
}

/// Past this many attributes, keys are found through the index.
const SCAN_UP_TO: usize = 32;

impl<'a> Attributes<'a> {
    fn clear(&mut self) {
        self.list.clear();
        self.index.clear();
    }

    /// Whether `key` is in the list (a scan while it is short, else the
    /// index `push` built).
    fn contains(&self, key: &str) -> bool {
        if self.index.is_empty() {
            self.list.iter().any(|(k, _)| *k == key)
        } else {
            self.index.contains_key(key)
        }
    }

    fn push(&mut self, key: &'a str, value: Value<'a>) {
        if self.list.len() < SCAN_UP_TO {
            match self.list.iter().position(|(k, _)| *k == key) {
                Some(at) => self.list[at] = (key, value),
                None => self.list.push((key, value)),
            }
            return;
        }
        if self.index.is_empty() {
            for (at, (k, _)) in self.list.iter().enumerate() {
                self.index.entry(k).or_insert(at);
            }
        }
        match self.index.get(key) {
            Some(&at) => self.list[at] = (key, value),
            None => {
                self.index.insert(key, self.list.len());
                self.list.push((key, value));
            }
        }
    }
}

#[inline]
fn put_varint(buf: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        buf.push(value as u8 | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

#[inline]
fn put_key(buf: &mut Vec<u8>, field: u32, wire_type: u8) {
    put_varint(buf, u64::from(field) << 3 | u64::from(wire_type));
}

/// A varint field, left out at its default (zero), as proto3 does.
#[inline]
fn put_varint_field(buf: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        put_varint_field_always(buf, field, value);
    }
}

#[inline]
fn put_varint_field_always(buf: &mut Vec<u8>, field: u32, value: u64) {
    put_key(buf, field, VARINT);
    put_varint(buf, value);
}

/// A length-delimited field, left out when empty, as proto3 does.
#[inline]
fn put_bytes(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    if !bytes.is_empty() {
        put_bytes_always(buf, field, bytes);
    }
}

/// A length-delimited field even when empty (a message, or a value of a
/// `oneof`, whose presence matters).
#[inline]
fn put_bytes_always(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(buf, field, LENGTH_DELIMITED);
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

#[inline]
fn put_str(buf: &mut Vec<u8>, field: u32, text: &str) {
    put_bytes(buf, field, text.as_bytes());
}

#[inline]
fn put_str_always(buf: &mut Vec<u8>, field: u32, text: &str) {
    put_bytes_always(buf, field, text.as_bytes());
}

#[cfg(test)]
mod tests;
