//! The rules that turn one event of a batch into a [`Row`], or refuse it
//! with a reason. The decoder ([`crate::decode`]) applies them while it
//! reads a batch; the tests' reference path (prost's structs, then
//! `reference::transform_batch`) applies the same functions, so both
//! agree by construction on everything but the wire format.
//!
//! - **One event at a time.** Any fault inside an event (its framing, text
//!   that is not UTF-8, a value out of range, a rule below) refuses that
//!   event alone, with a reason; its neighbours are stored. Only a batch
//!   whose top level does not decode is refused whole.
//! - **Ids**: `id` is 16 bytes or empty; an empty id gets a UUID v7 made
//!   from the receive time and the batch's digest, so a batch replayed
//!   from the collector's log gets the same ids. `trace_id` is 16 bytes or
//!   empty; `span_id` 8 bytes or empty. Any other length refuses the
//!   event. Ids are stored as lower-case hex (`id` and `batch_id` as
//!   hyphenated UUIDs).
//! - **Severity**: 1..=6 becomes `trace`..`fatal`; 0 (unspecified) or any
//!   other number refuses the event.
//! - **Integers** are checked against the field's declared type: a value
//!   too large for a `uint32` field (`call_site.line`, `http.status_code`)
//!   refuses the event instead of being cut to its low bits, and an HTTP
//!   status must be at most 65535.
//! - **Timestamps**: 0 means "unknown" and becomes the receive time. A
//!   timestamp more than [`MAX_FUTURE_SKEW_NS`] after the receive time, or
//!   before 2000-01-01, is out of range: it is replaced by the receive time
//!   and the value sent is kept in the attribute
//!   [`ORIGINAL_TIMESTAMP_KEY`] (an int, or decimal text for a value past
//!   `i64::MAX`, as for `uint` attributes).
//! - **Service, environment**: the event's own, else the batch's, else
//!   [`UNKNOWN_SERVICE`] / empty.
//! - **Attributes**: split by type into string, int, float and bool maps.
//!   A `uint` value that fits `i64` goes to the int map; a larger one to the
//!   string map as decimal text. An attribute with an empty key or no value
//!   refuses the event.
//! - Nested HTTP, error and call-site messages become columns.

use arcstr::ArcStr;

use aires_proto::v1 as proto;
use uuid::Uuid;

use crate::identity::Digest;
use crate::row::Row;

/// How far in the future (relative to the receive time) a timestamp may be.
pub const MAX_FUTURE_SKEW_NS: i64 = 3_600 * 1_000_000_000;
/// 2000-01-01T00:00:00Z: earlier timestamps are out of range.
pub const MIN_TIMESTAMP_NS: i64 = 946_684_800 * 1_000_000_000;
/// Service name for events that name none.
pub const UNKNOWN_SERVICE: &str = "unknown_service";
/// Attribute that keeps an out-of-range timestamp.
pub const ORIGINAL_TIMESTAMP_KEY: &str = "aires.original_timestamp_ns";

/// The rows and the rejections of one batch.
#[derive(Debug, Default)]
pub struct Transformed {
    pub rows: Vec<Row>,
    pub rejections: Vec<proto::Rejection>,
    /// Bytes of text and attribute lists that the rows share, for the
    /// pipeline's memory accounting (rows count what they own themselves:
    /// [`Row::heap_bytes`]).
    pub shared_bytes: usize,
}

/// What every row of a batch shares.
#[derive(Debug)]
pub(crate) struct BatchContext {
    pub(crate) batch_id: Uuid,
    pub(crate) sdk_name: ArcStr,
    pub(crate) sdk_version: ArcStr,
    /// The batch's service, or [`UNKNOWN_SERVICE`].
    pub(crate) service: ArcStr,
    pub(crate) environment: ArcStr,
    pub(crate) received_ns: i64,
    /// The batch's digest: the seed of the ids made for events without one.
    pub(crate) digest: Digest,
}

impl BatchContext {
    pub(crate) fn new(
        batch_id: &[u8],
        sdk_name: ArcStr,
        sdk_version: ArcStr,
        service: &str,
        environment: ArcStr,
        received_ns: i64,
        digest: Digest,
    ) -> Self {
        BatchContext {
            // The server checks the length; a nil id stands in otherwise.
            batch_id: Uuid::from_slice(batch_id).unwrap_or_default(),
            sdk_name,
            sdk_version,
            service: if service.is_empty() {
                UNKNOWN_SERVICE.into()
            } else {
                service.into()
            },
            environment,
            received_ns,
            digest,
        }
    }

    /// The id of event `index`: its own (16 bytes), or one made for it when
    /// it has none.
    pub(crate) fn event_id(&self, id: &[u8], index: usize) -> Result<Uuid, String> {
        match id.len() {
            16 => Ok(Uuid::from_slice(id).expect("length checked")),
            0 => Ok(Uuid::from_bytes(made_up_id(
                self.received_ns,
                &self.digest,
                index,
            ))),
            n => Err(format!("id must be 16 bytes (a UUID), got {n}")),
        }
    }

    /// Fills the columns every row of the batch has alike.
    pub(crate) fn fill_batch_columns(&self, row: &mut Row) {
        row.received_ns = self.received_ns;
        row.sdk_name = self.sdk_name.clone();
        row.sdk_version = self.sdk_version.clone();
        row.batch_id = self.batch_id;
        row.batch_digest = self.digest.as_u128();
    }
}

/// The id a rejection names: the event's own when it is a 16-byte id,
/// else none (a rejection never carries more of the client's bytes than
/// that).
pub(crate) fn rejected_id(id: &[u8]) -> bytes::Bytes {
    if id.len() == 16 {
        bytes::Bytes::copy_from_slice(id)
    } else {
        bytes::Bytes::new()
    }
}

/// Why an attribute is refused for having no value. A reason names at most
/// the first [`MAX_NAMED_KEY`] bytes of the key: answers and the memory of
/// recent batches stay small whatever a client sends.
pub(crate) fn no_value(key: &str) -> String {
    let mut end = key.len().min(MAX_NAMED_KEY);
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    let more = if end < key.len() { "…" } else { "" };
    format!("attribute {:?}{more} has no value", &key[..end])
}

/// Bytes of a key that a reason names, at most.
pub const MAX_NAMED_KEY: usize = 64;

/// The reason given for an event that does not decode.
pub(crate) fn malformed(error: &str) -> String {
    // prost's wording, as the reference path gets it.
    let error = error
        .strip_prefix("failed to decode Protobuf message: ")
        .unwrap_or(error);
    format!("malformed event: {error}")
}

/// An HTTP status code from the wire's varint.
pub(crate) fn http_status(status: u64) -> Result<u16, String> {
    u16::try_from(status).map_err(|_| format!("http status {status} is not a status code"))
}

/// A `uint32` field from the wire's varint: larger values refuse the event
/// rather than being cut to their low 32 bits.
pub(crate) fn uint32(value: u64, field: &str) -> Result<u32, String> {
    u32::try_from(value).map_err(|_| format!("{field} {value} does not fit uint32"))
}

/// The timestamp to store for `timestamp` received at `received_ns`, and
/// the value sent when it was out of range.
pub(crate) fn normalise_timestamp(timestamp: u64, received_ns: i64) -> (i64, Option<u64>) {
    if timestamp == 0 {
        return (received_ns, None);
    }
    match i64::try_from(timestamp) {
        Ok(ts)
            if ts >= MIN_TIMESTAMP_NS && ts <= received_ns.saturating_add(MAX_FUTURE_SKEW_NS) =>
        {
            (ts, None)
        }
        _ => (received_ns, Some(timestamp)),
    }
}

/// An id of the expected length as lower-case hex; empty stays empty.
pub(crate) fn check_len(bytes: &[u8], expected: usize, name: &str) -> Result<String, String> {
    match bytes.len() {
        0 => Ok(String::new()),
        n if n == expected => Ok(hex(bytes)),
        n => Err(format!("{name} must be {expected} bytes, got {n}")),
    }
}

/// The stored name of a severity from the wire's varint.
pub(crate) fn severity_name(severity: u64) -> Result<&'static str, String> {
    Ok(match severity {
        1 => "trace",
        2 => "debug",
        3 => "info",
        4 => "warn",
        5 => "error",
        6 => "fatal",
        0 => return Err("severity is unspecified".into()),
        // An enum is an int32 on the wire: show negative values as such.
        other => return Err(format!("unknown severity {}", other as i64)),
    })
}

/// The two lower-case hex digits of every byte.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        pairs[b] = [DIGITS[b >> 4], DIGITS[b & 15]];
        b += 1;
    }
    pairs
};

/// Lower-case hex of `bytes`, two digits per byte from a table: `String::push`
/// per digit (a capacity check and a char's encoding each) cost about 600
/// instructions per event for its trace and span ids.
fn hex(bytes: &[u8]) -> String {
    let mut out = vec![0u8; bytes.len() * 2];
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(*b)]);
    }
    // SAFETY: every byte is one of the ASCII digits of HEX_PAIRS.
    unsafe { String::from_utf8_unchecked(out) }
}

/// A UUID v7 for event `index` of a batch that came without an id: the
/// receive time's milliseconds, and bits from the batch digest and the
/// index, so the same batch received at the same time gets the same ids.
fn made_up_id(unix_nanos: i64, digest: &Digest, index: usize) -> [u8; 16] {
    let random = xxhash_rust::xxh3::xxh3_128_with_seed(&digest.0, index as u64);
    let millis = (unix_nanos.max(0) / 1_000_000) as u128;
    let value = (millis << 80)
        | (0x7_u128 << 76)
        | ((random & 0xfff) << 64)
        | (0b10_u128 << 62)
        | ((random >> 12) & ((1 << 62) - 1));
    value.to_be_bytes()
}

#[cfg(test)]
mod severity_tests {
    /// The names are the wire format's: checked against the enum prost
    /// generates from `event.proto`.
    #[test]
    fn each_severity_number_has_the_name_of_the_proto() {
        use aires_proto::v1::Severity;
        for number in 1..=6 {
            let severity = Severity::try_from(number as i32).expect("in event.proto");
            let proto_name = severity.as_str_name().strip_prefix("SEVERITY_").unwrap();
            assert_eq!(
                super::severity_name(number).unwrap(),
                proto_name.to_ascii_lowercase()
            );
        }
        assert!(Severity::try_from(7).is_err(), "no seventh level to map");
        assert!(super::severity_name(0).is_err() && super::severity_name(7).is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_lower_case_hex_of_their_bytes_or_refused_by_length() {
        let bytes: Vec<u8> = (0..=255u8).step_by(17).chain([0, 0xff, 0x0f]).collect();
        let id = &bytes[..16];
        let expected: String = id.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(check_len(id, 16, "trace_id").unwrap(), expected);
        assert_eq!(check_len(&[], 16, "trace_id").unwrap(), "");
        assert_eq!(
            check_len(&bytes[..8], 16, "trace_id").unwrap_err(),
            "trace_id must be 16 bytes, got 8"
        );
    }

    #[test]
    fn made_up_ids_are_v7_and_the_same_for_the_same_batch_and_time() {
        let context = |digest| {
            let received_ns = 5_000_000_000;
            BatchContext::new(
                &[1; 16],
                "".into(),
                "".into(),
                "",
                "".into(),
                received_ns,
                Digest(digest),
            )
        };
        let a = context([1; 16]).event_id(&[], 0).unwrap();
        assert_eq!(a.get_version_num(), 7);
        assert_eq!(a, context([1; 16]).event_id(&[], 0).unwrap());
        assert_ne!(a, context([1; 16]).event_id(&[], 1).unwrap());
        assert_ne!(a, context([2; 16]).event_id(&[], 0).unwrap());
        let (seconds, _) = a.get_timestamp().unwrap().to_unix();
        assert_eq!(seconds, 5);
    }

    #[test]
    fn values_too_large_for_their_field_are_refused_not_cut() {
        assert_eq!(uint32(7, "call_site.line"), Ok(7));
        assert_eq!(
            uint32(1 << 40, "call_site.line").unwrap_err(),
            "call_site.line 1099511627776 does not fit uint32"
        );
        assert_eq!(http_status(404), Ok(404));
        assert!(http_status((1 << 32) + 200).is_err());
        assert_eq!(severity_name(3), Ok("info"));
        assert_eq!(
            severity_name((1 << 32) + 3).unwrap_err(),
            "unknown severity 4294967299"
        );
        assert_eq!(severity_name(u64::MAX).unwrap_err(), "unknown severity -1");
    }

    #[test]
    fn a_reason_names_a_long_key_in_part() {
        assert_eq!(no_value("k"), "attribute \"k\" has no value");
        let long = "é".repeat(100);
        let reason = no_value(&long);
        assert!(reason.len() < MAX_NAMED_KEY + 40, "{reason}");
        assert!(reason.ends_with("\"… has no value"), "{reason}");
    }

    #[test]
    fn an_out_of_range_timestamp_keeps_the_value_sent() {
        let now = 1_780_000_000_000_000_000;
        assert_eq!(normalise_timestamp(0, now), (now, None));
        assert_eq!(normalise_timestamp(now as u64 - 1, now), (now - 1, None));
        assert_eq!(normalise_timestamp(1, now), (now, Some(1)));
        assert_eq!(normalise_timestamp(u64::MAX, now), (now, Some(u64::MAX)));
    }
}
