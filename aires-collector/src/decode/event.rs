//! Decoding one event of a batch into its row.

use std::sync::Arc;

use arcstr::ArcStr;

use aires_proto::v1 as proto;
use aires_proto::v1::fields as field;
use bytes::Bytes;

use super::interner::Interner;
use super::wire::{
    bytes_field, expect, fixed64, key, skip, string_field, varint_field, FIXED64, RECURSION_LIMIT,
};
use super::DecodeError;
use crate::row::{Attributes, Row};
use crate::rules::{
    check_len, http_status, malformed, no_value, normalise_timestamp, rejected_id, severity_name,
    uint32, BatchContext, Transformed, ORIGINAL_TIMESTAMP_KEY,
};

/// What an event says that decides whether it is kept, and where its row
/// takes text from.
#[derive(Default)]
struct EventFields<'a> {
    id: &'a [u8],
    timestamp: u64,
    severity: u64,
    service: &'a str,
    environment: &'a str,
    trace_id: &'a [u8],
    span_id: &'a [u8],
    /// Set when the event has an HTTP part: its status code as sent.
    http_status: Option<u64>,
    /// Set when the event has a call site: its line as sent.
    line: Option<u64>,
    /// Why the first refused attribute is refused.
    attribute_error: Option<String>,
}

/// Decodes the events of one batch.
pub(super) struct Decoder<'a> {
    batch: BatchContext,
    text: Interner<'a>,
    attributes: Lists,
    /// Where each kept row's attributes are in the batch's lists.
    parts: Vec<(Marks, Marks)>,
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

    /// Bytes the lists hold.
    fn bytes(&self) -> usize {
        self.strings.capacity() * std::mem::size_of::<(ArcStr, ArcStr)>()
            + self.ints.capacity() * std::mem::size_of::<(ArcStr, i64)>()
            + self.floats.capacity() * std::mem::size_of::<(ArcStr, f64)>()
            + self.bools.capacity() * std::mem::size_of::<(ArcStr, bool)>()
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
    /// A decoder of the events of a batch of `events` events.
    pub(super) fn new(batch: BatchContext, events: usize) -> Self {
        Decoder {
            batch,
            text: Interner::default(),
            attributes: Lists::with_capacity(events),
            parts: Vec::with_capacity(events),
        }
    }

    /// Decodes event `index`, encoded as `body`, into a row added to
    /// `out.rows`, or refuses it with a reason in `out.rejections`: a fault
    /// anywhere in the event refuses that event alone.
    pub(super) fn push(&mut self, index: usize, body: &'a [u8], out: &mut Transformed) {
        // Each row is filled where it stays (a row is several hundred
        // bytes; building it aside and pushing it would copy it).
        out.rows.push(Row::default());
        let row = out.rows.last_mut().expect("just pushed");
        let start = self.attributes.marks();
        let (event_id, reason) = match self.event(body, row) {
            Ok(event) => match self.finish(row, &event, start, index) {
                Ok(()) => {
                    self.parts.push((start, self.attributes.marks()));
                    return;
                }
                Err(reason) => (rejected_id(event.id), reason),
            },
            Err(error) => (Bytes::new(), malformed(&error.to_string())),
        };
        out.rows.pop();
        self.attributes.truncate(start);
        out.rejections.push(proto::Rejection {
            index: index as u32,
            event_id,
            reason,
        });
    }

    /// Gives the rows their parts of the batch's attribute lists, and says
    /// how many bytes the rows share: those lists and the batch's text.
    pub(super) fn share_attributes(self, rows: &mut [Row]) -> usize {
        let shared = self.attributes.bytes()
            + self.parts.capacity() * std::mem::size_of::<(Marks, Marks)>()
            + self.text.allocated();
        self.attributes.share(rows, &self.parts);
        shared
    }

    /// Decodes one `Event` into `row` (a default row), except what
    /// [`Decoder::finish`] fills once the whole event is read.
    fn event(&mut self, mut buf: &'a [u8], row: &mut Row) -> Result<EventFields<'a>, DecodeError> {
        const NAMES: &[&str] = &field::event::NAMES;
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
            field::event::ID => fields.id = bytes_field(wire, buf)?,
            field::event::TIMESTAMP_UNIX_NANO => {
                expect(wire, FIXED64)?;
                fields.timestamp = fixed64(buf)?;
            }
            field::event::SEVERITY => fields.severity = varint_field(wire, buf)?,
            field::event::MESSAGE => row.message = self.text.value(bytes_field(wire, buf)?)?,
            field::event::SERVICE => fields.service = string_field(wire, buf)?,
            field::event::ENVIRONMENT => fields.environment = string_field(wire, buf)?,
            field::event::TRACE_ID => fields.trace_id = bytes_field(wire, buf)?,
            field::event::SPAN_ID => fields.span_id = bytes_field(wire, buf)?,
            field::event::SESSION_ID => row.session_id = string_field(wire, buf)?.to_owned(),
            field::event::ATTRIBUTES => self.attribute(bytes_field(wire, buf)?, fields)?,
            field::event::TAGS => row.tags.push(string_field(wire, buf)?.to_owned()),
            field::event::HTTP => self.http(
                bytes_field(wire, buf)?,
                row,
                fields.http_status.get_or_insert(0),
            )?,
            field::event::ERROR => error(bytes_field(wire, buf)?, row)?,
            field::event::CALL_SITE => {
                self.call_site(bytes_field(wire, buf)?, row, fields.line.get_or_insert(0))?
            }
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
        const NAMES: &[&str] = &field::attribute::NAMES;
        while !buf.is_empty() {
            let (tag, wire) = key(&mut buf)?;
            let b = &mut buf;
            match tag {
                field::attribute::KEY => self.text_field(wire, b).map(|v| name = Some(v)),
                field::attribute::STRING_VALUE => bytes_field(wire, b)
                    .and_then(|v| self.text.value(v))
                    .map(|v| value = Value::String(v)),
                field::attribute::INT_VALUE => {
                    varint_field(wire, b).map(|v| value = Value::Int(v as i64))
                }
                field::attribute::UINT_VALUE => {
                    varint_field(wire, b).map(|v| value = Value::Uint(v))
                }
                field::attribute::DOUBLE_VALUE => expect(wire, FIXED64)
                    .and_then(|()| fixed64(b))
                    .map(|v| value = Value::Double(f64::from_bits(v))),
                field::attribute::BOOL_VALUE => {
                    varint_field(wire, b).map(|v| value = Value::Bool(v != 0))
                }
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
                Err(_) => lists.strings.push((name, self.text.owned(&v.to_string()))),
            },
            Value::Double(v) => lists.floats.push((name, v)),
            Value::Bool(v) => lists.bools.push((name, v)),
            Value::None => {
                fields.attribute_error = Some(no_value(&name));
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
        status: &mut u64,
    ) -> Result<(), DecodeError> {
        const NAMES: &[&str] = &field::http_info::NAMES;
        while !buf.is_empty() {
            let (tag, wire) = key(&mut buf)?;
            let b = &mut buf;
            match tag {
                field::http_info::METHOD => self.text_field(wire, b).map(|v| row.http_method = v),
                field::http_info::ROUTE => self.text_field(wire, b).map(|v| row.http_route = v),
                field::http_info::PATH => {
                    string_field(wire, b).map(|v| row.http_path = v.to_owned())
                }
                field::http_info::STATUS_CODE => varint_field(wire, b).map(|v| *status = v),
                field::http_info::DURATION_NANOS => {
                    varint_field(wire, b).map(|v| row.http_duration_ns = v)
                }
                field::http_info::USER_AGENT => {
                    string_field(wire, b).map(|v| row.http_user_agent = v.to_owned())
                }
                field::http_info::CLIENT_IP => {
                    string_field(wire, b).map(|v| row.http_client_ip = v.to_owned())
                }
                field::http_info::REQUEST_BYTES => {
                    varint_field(wire, b).map(|v| row.http_request_bytes = v)
                }
                field::http_info::RESPONSE_BYTES => {
                    varint_field(wire, b).map(|v| row.http_response_bytes = v)
                }
                field::http_info::HOST => self.text_field(wire, b).map(|v| row.http_host = v),
                field::http_info::SCHEME => self.text_field(wire, b).map(|v| row.http_scheme = v),
                _ => skip(wire, tag, b, RECURSION_LIMIT - 2),
            }
            .map_err(|e| e.within("HttpInfo", NAMES.get(tag as usize).unwrap_or(&"?")))?;
        }
        Ok(())
    }

    fn call_site(
        &mut self,
        mut buf: &'a [u8],
        row: &mut Row,
        line: &mut u64,
    ) -> Result<(), DecodeError> {
        const NAMES: &[&str] = &field::call_site::NAMES;
        while !buf.is_empty() {
            let (tag, wire) = key(&mut buf)?;
            let b = &mut buf;
            match tag {
                field::call_site::FILE => self.text_field(wire, b).map(|v| row.file = v),
                field::call_site::LINE => varint_field(wire, b).map(|v| *line = v),
                field::call_site::MODULE => self.text_field(wire, b).map(|v| row.module = v),
                field::call_site::FUNCTION => self.text_field(wire, b).map(|v| row.function = v),
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
    /// The checks come in the reference path's order, so the reason is the
    /// same. `marks` is where the event's attributes start.
    fn finish(
        &mut self,
        row: &mut Row,
        event: &EventFields<'a>,
        marks: Marks,
        index: usize,
    ) -> Result<(), String> {
        let id = self.batch.event_id(event.id, index)?;
        let trace_id = check_len(event.trace_id, 16, "trace_id")?;
        let span_id = check_len(event.span_id, 8, "span_id")?;
        let severity = severity_name(event.severity)?;
        if let Some(reason) = &event.attribute_error {
            return Err(reason.clone());
        }
        if let Some(status) = event.http_status {
            row.http_status = http_status(status)?;
        }
        if let Some(line) = event.line {
            row.line = uint32(line, "call_site.line")?;
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
            // First, as the reference path has it.
            let key = self.text.str(ORIGINAL_TIMESTAMP_KEY);
            match i64::try_from(original) {
                Ok(original) => self.attributes.ints.insert(marks.0[1], (key, original)),
                Err(_) => {
                    let text = self.text.owned(&original.to_string());
                    self.attributes.strings.insert(marks.0[0], (key, text));
                }
            }
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
    const NAMES: &[&str] = &field::error_info::NAMES;
    while !buf.is_empty() {
        let (tag, wire) = key(&mut buf)?;
        let b = &mut buf;
        match tag {
            field::error_info::TYPE => string_field(wire, b).map(|v| row.error_type = v.to_owned()),
            field::error_info::MESSAGE => {
                string_field(wire, b).map(|v| row.error_message = v.to_owned())
            }
            field::error_info::CHAIN => {
                string_field(wire, b).map(|v| row.error_chain.push(v.to_owned()))
            }
            field::error_info::BACKTRACE => {
                string_field(wire, b).map(|v| row.error_backtrace = v.to_owned())
            }
            _ => skip(wire, tag, b, RECURSION_LIMIT - 2),
        }
        .map_err(|e| e.within("ErrorInfo", NAMES.get(tag as usize).unwrap_or(&"?")))?;
    }
    Ok(())
}
