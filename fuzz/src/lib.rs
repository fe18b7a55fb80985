//! What the fuzz targets share: the receive time and digest every input is
//! decoded with, and the checks of a decoded batch.

use aires_collector::decode::{decode_batch, EncodedBatch};
use aires_collector::identity::Digest;
use aires_collector::pipeline::budget::{admission_bytes, decoded_bytes};
use aires_collector::row::Row;
use aires_collector::rules::{Transformed, MAX_FUTURE_SKEW_NS, MIN_TIMESTAMP_NS};
use aires_proto::v1 as proto;
use bytes::Bytes;

/// When every input is received (as in the decoder's tests).
pub const NOW: i64 = 1_780_000_000_000_000_000;
/// The digest every input is decoded with (as in the decoder's tests).
pub const DIGEST: Digest = Digest([0x5a; 16]);

/// Decodes `encoded` both ways the collector can (`decode_batch`, and
/// `EncodedBatch::scan` then `decode`), checks that they agree and that the
/// result holds its invariants, and returns it.
pub fn decode_and_check(encoded: &[u8]) -> Option<Transformed> {
    let direct = decode_batch(encoded, NOW, DIGEST);
    let scanned = EncodedBatch::scan(Bytes::copy_from_slice(encoded));
    match (direct, scanned) {
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "decode_batch and scan refuse for other reasons");
            None
        }
        (Ok(out), Ok(batch)) => {
            let again = batch.decode(NOW, DIGEST);
            assert!(
                same_rows(&out.rows, &again.rows),
                "decode_batch and scan+decode disagree on the rows"
            );
            assert_eq!(out.rejections, again.rejections);
            check_decoded(encoded, batch.events, &out);
            check_decoded(encoded, batch.events, &again);
            Some(out)
        }
        (direct, scanned) => panic!(
            "decode_batch {} but scan {}",
            if direct.is_ok() { "decodes" } else { "refuses" },
            if scanned.is_ok() {
                "decodes"
            } else {
                "refuses"
            },
        ),
    }
}

/// The invariants of `out`, decoded from `encoded` of `events` events.
pub fn check_decoded(encoded: &[u8], events: usize, out: &Transformed) {
    assert_eq!(
        out.rows.len() + out.rejections.len(),
        events,
        "every event gives a row or a rejection"
    );
    let mut previous = None;
    for rejection in &out.rejections {
        let index = rejection.index as usize;
        assert!(index < events, "rejection index {index} of {events} events");
        assert!(
            previous.is_none_or(|p| p < index),
            "rejection indexes are not strictly increasing: {:?}",
            out.rejections.iter().map(|r| r.index).collect::<Vec<_>>()
        );
        previous = Some(index);
        assert!(!rejection.reason.is_empty(), "a rejection without a reason");
    }
    for row in &out.rows {
        check_row(row);
    }
    let charged = admission_bytes(encoded.len(), events);
    let held = decoded_bytes(out);
    assert!(
        held <= charged,
        "{held} bytes decoded from {} bytes and {events} events, charged {charged}",
        encoded.len()
    );
}

/// What every row holds, whatever was sent.
pub fn check_row(row: &Row) {
    assert_eq!(row.received_ns, NOW);
    assert!(
        row.timestamp_ns == NOW
            || (MIN_TIMESTAMP_NS..=NOW + MAX_FUTURE_SKEW_NS).contains(&row.timestamp_ns),
        "timestamp {} out of range",
        row.timestamp_ns
    );
    assert!(
        ["trace", "debug", "info", "warn", "error", "fatal"].contains(&row.severity),
        "severity {:?}",
        row.severity
    );
    let hex = |text: &str, len: usize| {
        text.is_empty()
            || (text.len() == len && text.bytes().all(|b| b"0123456789abcdef".contains(&b)))
    };
    assert!(hex(&row.trace_id, 32), "trace_id {:?}", row.trace_id);
    assert!(hex(&row.span_id, 16), "span_id {:?}", row.span_id);
    assert!(!row.service.is_empty(), "a row without a service");
    let keys = row
        .attributes_string
        .iter()
        .map(|(k, _)| k)
        .chain(row.attributes_int.iter().map(|(k, _)| k))
        .chain(row.attributes_float.iter().map(|(k, _)| k))
        .chain(row.attributes_bool.iter().map(|(k, _)| k));
    for key in keys {
        assert!(!key.is_empty(), "an attribute with an empty key");
    }
}

/// `a == b` as `Row`'s `PartialEq` has it, except that float attributes are
/// compared by their bits: a NaN that both paths decode alike is the same
/// value (`PartialEq` would call every row holding a NaN unequal to itself).
pub fn same_rows(a: &[Row], b: &[Row]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(a, b)| {
            let bits = |row: &Row| {
                row.attributes_float
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_bits()))
                    .collect::<Vec<_>>()
            };
            if bits(a) != bits(b) {
                return false;
            }
            let without_floats = |row: &Row| Row {
                attributes_float: Default::default(),
                ..row.clone()
            };
            without_floats(a) == without_floats(b)
        })
}

/// The rejections, with the wording of decoding errors left out (prost
/// names nested fields in another order): only that they are malformed.
/// As `reasons()` in aires-collector/src/decode/tests.rs.
pub fn reasons(out: &Transformed) -> Vec<proto::Rejection> {
    let mut rejections = out.rejections.clone();
    for r in &mut rejections {
        if r.reason.starts_with("malformed event: ") {
            r.reason = "malformed event".into();
        }
    }
    rejections
}
