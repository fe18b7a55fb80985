//! Decoding an encoded `aires.v1.EventBatch` straight into [`Row`](crate::row::Row)s.
//!
//! Why not prost's structs: decoding into them allocated, copied and
//! UTF-8-checked every string of every event (the message, each attribute
//! key, the call site) and the transform then moved them into rows. This
//! reads the wire format once and fills each row where it stays. Text that
//! repeats within a batch (attribute keys, call sites, services, HTTP names,
//! repeated messages and values) is checked and allocated once per batch
//! and shared by its rows ([`interner`]), and a row's attributes are its
//! parts of lists the batch's rows share ([`event`]). The rules and the
//! rejections are those of [`crate::rules`]; the tests compare this decoder
//! with the reference path (prost's structs, then the same rules).
//!
//! - The batch's top level (its framing, and its batch-level text) is read
//!   when the request arrives ([`EncodedBatch::scan`]); a fault there
//!   refuses the whole batch.
//! - Each event is decoded on its own: a fault inside it (bad framing, a
//!   known field with the wrong wire type, text that is not UTF-8, a value
//!   that does not fit its field) refuses that event alone, with a reason.
//! - As with prost, unknown fields are skipped, a repeated scalar field
//!   keeps its last value, and a repeated nested message is merged.

mod event;
mod interner;
pub(crate) mod wire;

use std::fmt;
use std::ops::Range;

use aires_proto::v1::fields as field;
use bytes::Bytes;

use crate::identity::{Digest, Scope};
use crate::rules::{BatchContext, Transformed};
use event::Decoder;
use wire::{bytes_field, key, skip, string_field, utf8, varint_field, RECURSION_LIMIT};

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
    /// Which delivery attempt the client says this is (0 or 1: the first).
    pub attempt: u32,
    layout: Layout,
}

impl EncodedBatch {
    /// Reads the top level of `encoded` (checking its framing and its
    /// batch-level text) for the batch id and where each event is.
    pub fn scan(encoded: Bytes) -> Result<Self, DecodeError> {
        let layout = Layout::read(&encoded)?;
        Ok(EncodedBatch {
            batch_id: encoded.slice(layout.batch_id.clone()),
            events: layout.events,
            attempt: layout.attempt,
            layout,
            encoded,
        })
    }

    /// The batch's [`Digest`] as sent by a client of `scope`: every byte
    /// but the `attempt` field, which a retry changes.
    pub fn digest(&self, scope: Scope) -> Digest {
        if !self.layout.has_attempt {
            return Digest::of(scope, &self.encoded);
        }
        Digest::of_parts(scope, without_attempt(&self.encoded))
    }

    /// Decodes every event into a row, or refuses it with a reason. The
    /// batch's `digest` seeds the ids made for events without one.
    pub fn decode(&self, received_ns: i64, digest: Digest) -> Transformed {
        decode_events(&self.encoded, &self.layout, received_ns, digest)
    }
}

/// Why a batch does not decode. Names the field, as prost does.
#[derive(Clone, Debug, PartialEq, Eq)]
// Boxed to be one pointer wide: results on the hot path fit in registers.
#[allow(clippy::box_collection)]
pub struct DecodeError(Box<String>);

impl DecodeError {
    #[cold]
    pub(crate) fn new(description: impl Into<String>) -> Self {
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
/// by the rules of [`crate::rules`]. Fails only when the batch's top level
/// does not decode.
pub fn decode_batch(
    encoded: &[u8],
    received_ns: i64,
    digest: Digest,
) -> Result<Transformed, DecodeError> {
    Ok(decode_events(
        encoded,
        &Layout::read(encoded)?,
        received_ns,
        digest,
    ))
}

fn decode_events(encoded: &[u8], layout: &Layout, received_ns: i64, digest: Digest) -> Transformed {
    // Checked by `Layout::read`.
    let text = |range: &Range<usize>| {
        utf8(&encoded[range.clone()]).expect("batch-level text is checked by the scan")
    };
    let batch = BatchContext::new(
        &encoded[layout.batch_id.clone()],
        text(&layout.sdk_name).into(),
        text(&layout.sdk_version).into(),
        text(&layout.service),
        text(&layout.environment).into(),
        received_ns,
        digest,
    );
    let mut decoder = Decoder::new(batch, reserved(layout.events));
    let mut out = Transformed {
        rows: Vec::with_capacity(reserved(layout.events)),
        ..Default::default()
    };
    for (index, body) in event_bodies(encoded).enumerate() {
        decoder.push(index, body, &mut out);
    }
    out.shared_bytes = decoder.share_attributes(&mut out.rows);
    // Rows wait in the batcher until stored: do not keep room sized for
    // events that were refused.
    if out.rows.capacity() > 2 * out.rows.len() + 16 {
        out.rows.shrink_to_fit();
    }
    out
}

/// Room reserved up front for a batch of `events` (SDK batches are a few
/// hundred events): a request of millions of two-byte events is sized as
/// it is decoded and refused, not at the count it claims.
fn reserved(events: usize) -> usize {
    events.min(MAX_RESERVED_EVENTS)
}

/// Events a batch's containers are sized for at most before decoding.
const MAX_RESERVED_EVENTS: usize = 4096;

/// Field number of `EventBatch.events`.
const BATCH_EVENTS: u32 = field::event_batch::EVENTS;

/// Field number of `EventBatch.attempt`.
const BATCH_ATTEMPT: u32 = field::event_batch::ATTEMPT;

/// Where the batch-level fields of an encoded `EventBatch` are (the last
/// of each, as protobuf has it), and how many events it holds. Batch-level
/// fields may come after the events, so they are all found before any
/// event is decoded. Where each event is is not kept: a request of a
/// million two-byte events would hold an index larger than itself before
/// it is admitted; [`event_bodies`] walks the top level again instead.
#[derive(Clone, Debug, Default)]
struct Layout {
    batch_id: Range<usize>,
    sdk_name: Range<usize>,
    sdk_version: Range<usize>,
    service: Range<usize>,
    environment: Range<usize>,
    events: usize,
    attempt: u32,
    /// Whether `attempt` appears at all (then the digest skips it).
    has_attempt: bool,
}

impl Layout {
    fn read(encoded: &[u8]) -> Result<Self, DecodeError> {
        const NAMES: &[&str] = &field::event_batch::NAMES;
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
                field::event_batch::BATCH_ID => {
                    bytes_field(wire, b).map(|v| layout.batch_id = range(v))
                }
                field::event_batch::SDK_NAME => {
                    string_field(wire, b).map(|v| layout.sdk_name = range(v.as_bytes()))
                }
                field::event_batch::SDK_VERSION => {
                    string_field(wire, b).map(|v| layout.sdk_version = range(v.as_bytes()))
                }
                BATCH_EVENTS => bytes_field(wire, b).map(|_| layout.events += 1),
                field::event_batch::SERVICE => {
                    string_field(wire, b).map(|v| layout.service = range(v.as_bytes()))
                }
                field::event_batch::ENVIRONMENT => {
                    string_field(wire, b).map(|v| layout.environment = range(v.as_bytes()))
                }
                _ => varint_field(wire, b).map(|v| {
                    // A uint32 past 2^32 is cut as protobuf does.
                    layout.attempt = v as u32;
                    layout.has_attempt = true;
                }),
            }
            .map_err(|e| e.within("EventBatch", name))?;
        }
        Ok(layout)
    }
}

/// The encoded batch in pieces, leaving out every `attempt` field (key and
/// value), for a batch whose top level `Layout::read` accepted.
fn without_attempt(encoded: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut buf = encoded;
    let mut run_start = 0;
    let offset = move |rest: &[u8]| encoded.len() - rest.len();
    std::iter::from_fn(move || {
        while !buf.is_empty() {
            let field_start = offset(buf);
            let (tag, wire) = key(&mut buf).ok()?;
            skip(wire, tag, &mut buf, RECURSION_LIMIT).ok()?;
            if tag == BATCH_ATTEMPT {
                let piece = &encoded[run_start..field_start];
                run_start = offset(buf);
                return Some(piece);
            }
        }
        let rest = &encoded[run_start..];
        run_start = encoded.len();
        (!rest.is_empty()).then_some(rest)
    })
}

/// The encoded events of a batch whose top level `Layout::read` accepted,
/// in order.
fn event_bodies(encoded: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut buf = encoded;
    std::iter::from_fn(move || {
        while !buf.is_empty() {
            // The framing was checked by the scan; a fault here (there is
            // none) would end the walk, never panic.
            let (tag, wire) = key(&mut buf).ok()?;
            if tag == BATCH_EVENTS {
                return bytes_field(wire, &mut buf).ok();
            }
            skip(wire, tag, &mut buf, RECURSION_LIMIT).ok()?;
        }
        None
    })
}

#[cfg(test)]
mod tests;
