//! The decoder against the reference path (prost's decode, then the same
//! rules): the same rows, the same rejections, the same inputs refused.

use super::interner::cache_slot;
use super::*;
use crate::pipeline::budget;
use crate::reference::tests::batch;
use crate::reference::transform_batch;
use crate::rules::{MAX_FUTURE_SKEW_NS, ORIGINAL_TIMESTAMP_KEY, UNKNOWN_SERVICE};
use aires_proto::v1 as proto;
use arcstr::ArcStr;
use prost::encoding::{encode_key, encode_varint, WireType};
use prost::Message;
use proto::attribute::Value as V;
use uuid::Uuid;

const NOW: i64 = 1_780_000_000_000_000_000;
const DIGEST: Digest = Digest([0x5a; 16]);

fn decode(encoded: &[u8]) -> Result<Transformed, DecodeError> {
    decode_batch(encoded, NOW, DIGEST)
}

/// What the reference path makes of `encoded`: rows and rejections, or
/// that it does not decode.
fn reference(encoded: &[u8]) -> Option<Transformed> {
    transform_batch(encoded, NOW, DIGEST)
}

/// The rejections, with the wording of decoding errors left out (prost
/// names nested fields in another order): only that they are malformed.
fn reasons(out: &Transformed) -> Vec<proto::Rejection> {
    let mut rejections = out.rejections.clone();
    for r in &mut rejections {
        if r.reason.starts_with("malformed event: ") {
            r.reason = "malformed event".into();
        }
    }
    rejections
}

/// Asserts that the decoder and the reference path agree on `encoded`,
/// and that the decoded rows hold no more memory than their admission
/// charge.
fn assert_same(encoded: &[u8]) {
    let expected = reference(encoded);
    let actual = decode(encoded);
    match (expected, actual) {
        (None, Err(_)) => {}
        (Some(expected), Ok(actual)) => {
            assert_eq!(actual.rows.len(), expected.rows.len(), "row count");
            assert_eq!(actual.rows, expected.rows);
            assert_eq!(reasons(&actual), reasons(&expected));
            assert_within_charge(encoded, &actual);
        }
        (expected, actual) => panic!(
            "prost {} but the decoder {} ({encoded:02x?})",
            match expected {
                Some(_) => "decodes".to_string(),
                None => format!(
                    "refuses: {}",
                    proto::wide::EventBatch::decode(encoded).unwrap_err()
                ),
            },
            match actual {
                Ok(_) => "decodes".to_string(),
                Err(e) => format!("refuses: {e}"),
            }
        ),
    }
}

/// The memory a decoded batch holds is within what admitting it charged.
fn assert_within_charge(encoded: &[u8], out: &Transformed) {
    let events = Layout::read(encoded).map_or(0, |layout| layout.events);
    let charged = budget::admission_bytes(encoded.len(), events);
    let held = budget::decoded_bytes(out);
    assert!(
        held <= charged,
        "{held} bytes decoded from {} bytes and {events} events, charged {charged}",
        encoded.len()
    );
}

fn attribute(key: &str, value: V) -> proto::Attribute {
    proto::Attribute {
        key: key.into(),
        value: Some(value),
    }
}

fn event(n: u8) -> proto::Event {
    proto::Event {
        id: vec![n; 16].into(),
        timestamp_unix_nano: (NOW - i64::from(n)) as u64,
        severity: proto::Severity::Info as i32,
        message: format!("event {n}"),
        attributes: vec![attribute("n", V::IntValue(i64::from(n)))],
        ..Default::default()
    }
}

/// An event with every part set.
fn full_event() -> proto::Event {
    proto::Event {
        id: vec![9; 16].into(),
        timestamp_unix_nano: (NOW - 1_000) as u64,
        severity: proto::Severity::Error as i32,
        message: "payment failed: ünïcödé ✓".into(),
        service: "billing".into(),
        environment: "staging".into(),
        trace_id: vec![0xab; 16].into(),
        span_id: vec![0xcd; 8].into(),
        session_id: "session-1".into(),
        attributes: vec![
            attribute("s", V::StringValue("x".into())),
            attribute("i", V::IntValue(-7)),
            attribute("u", V::UintValue(5)),
            attribute("big", V::UintValue(u64::MAX)),
            attribute("edge", V::UintValue(i64::MAX as u64 + 1)),
            attribute("f", V::DoubleValue(-0.25)),
            attribute("b", V::BoolValue(true)),
            attribute("off", V::BoolValue(false)),
            attribute("s", V::StringValue(String::new())),
        ],
        tags: vec!["a".into(), "b".into()],
        http: Some(Box::new(proto::HttpInfo {
            method: "POST".into(),
            route: "/pay/:id".into(),
            path: "/pay/7".into(),
            status_code: 502,
            duration_nanos: 1_830_000,
            user_agent: "curl/8".into(),
            client_ip: "::1".into(),
            request_bytes: 100,
            response_bytes: 1 << 40,
            host: "api".into(),
            scheme: "https".into(),
        })),
        error: Some(Box::new(proto::ErrorInfo {
            r#type: "std::io::Error".into(),
            message: "timed out".into(),
            chain: vec!["cause 1".into(), "cause 2".into()],
            backtrace: "0: main".into(),
        })),
        call_site: Some(proto::CallSite {
            file: "src/pay.rs".into(),
            line: 42,
            module: "shop::pay".into(),
            function: "charge".into(),
        }),
    }
}

/// Events the transform refuses, each for another reason, and edge cases
/// it keeps.
fn edge_events() -> Vec<proto::Event> {
    let mut events = Vec::new();
    let mut push = |change: &dyn Fn(&mut proto::Event)| {
        let mut e = event(events.len() as u8);
        change(&mut e);
        events.push(e);
    };
    push(&|e| e.id = Default::default());
    push(&|e| e.id = vec![1; 3].into());
    push(&|e| e.trace_id = vec![1; 5].into());
    push(&|e| e.span_id = vec![1; 16].into());
    push(&|e| e.severity = 0);
    push(&|e| e.severity = 7);
    push(&|e| e.severity = -1);
    push(&|e| e.severity = proto::Severity::Fatal as i32);
    push(&|e| e.severity = proto::Severity::Trace as i32);
    push(&|e| e.timestamp_unix_nano = 0);
    push(&|e| e.timestamp_unix_nano = 1);
    push(&|e| e.timestamp_unix_nano = u64::MAX);
    push(&|e| e.timestamp_unix_nano = (NOW + 2 * MAX_FUTURE_SKEW_NS) as u64);
    push(&|e| e.timestamp_unix_nano = (NOW + MAX_FUTURE_SKEW_NS) as u64);
    push(&|e| e.attributes.push(attribute("", V::IntValue(1))));
    push(&|e| {
        e.attributes.push(proto::Attribute {
            key: "none".into(),
            value: None,
        })
    });
    push(&|e| {
        // Both refused: the first reason is given.
        e.attributes.insert(
            0,
            proto::Attribute {
                key: "first".into(),
                value: None,
            },
        );
        e.attributes.push(attribute("", V::IntValue(1)));
    });
    push(&|e| {
        e.http = Some(Box::new(proto::HttpInfo {
            status_code: 70_000,
            ..Default::default()
        }))
    });
    push(&|e| e.http = Some(Box::default()));
    push(&|e| e.error = Some(Box::default()));
    push(&|e| e.call_site = Some(Default::default()));
    push(&|e| {
        // Refused for its id, though its HTTP status is bad too.
        e.id = vec![1].into();
        e.http = Some(Box::new(proto::HttpInfo {
            status_code: 70_000,
            ..Default::default()
        }));
    });
    push(&|e| e.timestamp_unix_nano = 1);
    events
}

#[test]
fn every_part_decodes_as_the_reference_has_it() {
    let encoded = batch(vec![full_event()]).encode_to_vec();
    assert_same(&encoded);
    let out = decode(&encoded).unwrap();
    let row = &out.rows[0];
    assert_eq!(&*row.service, "billing");
    assert_eq!(&*row.file, "src/pay.rs");
    assert_eq!(
        row.attributes_string[1],
        ("big".into(), u64::MAX.to_string().into())
    );
    assert_eq!(row.http_status, 502);
}

#[test]
fn refusals_and_edge_cases_match_the_reference() {
    let encoded = batch(edge_events()).encode_to_vec();
    assert_same(&encoded);
    let out = decode(&encoded).unwrap();
    let reasons: Vec<(u32, &str)> = out
        .rejections
        .iter()
        .map(|r| (r.index, r.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (1, "id must be 16 bytes (a UUID), got 3"),
            (2, "trace_id must be 16 bytes, got 5"),
            (3, "span_id must be 8 bytes, got 16"),
            (4, "severity is unspecified"),
            (5, "unknown severity 7"),
            (6, "unknown severity -1"),
            (14, "an attribute has an empty key"),
            (15, "attribute \"none\" has no value"),
            (16, "attribute \"first\" has no value"),
            (17, "http status 70000 is not a status code"),
            (21, "id must be 16 bytes (a UUID), got 1"),
        ]
    );
    // The neighbours of refused events are kept.
    assert_eq!(out.rows.len(), edge_events().len() - reasons.len());
    // A rejection names the event's id only when it is a 16-byte id.
    assert!(out.rejections[0].event_id.is_empty());
    assert_eq!(out.rejections[1].event_id, vec![2; 16]);
}

#[test]
fn batch_level_defaults_and_fallbacks_match_the_reference() {
    let mut anonymous = batch(vec![event(1), full_event()]);
    anonymous.service.clear();
    anonymous.environment.clear();
    anonymous.sdk_name.clear();
    anonymous.batch_id = vec![1; 3].into();
    assert_same(&anonymous.encode_to_vec());
    let out = decode(&anonymous.encode_to_vec()).unwrap();
    assert_eq!(&*out.rows[0].service, UNKNOWN_SERVICE);
    assert_eq!(out.rows[0].batch_id, Uuid::nil());
    assert_same(&proto::EventBatch::default().encode_to_vec());
    assert_same(&[]);
}

#[test]
fn batch_level_fields_after_the_events_apply_to_them() {
    let events = batch(vec![event(1), event(2)]);
    let only_events = proto::EventBatch {
        events: events.events.clone(),
        ..Default::default()
    };
    let only_header = proto::EventBatch {
        events: Vec::new(),
        ..events.clone()
    };
    // Concatenated messages merge: events first, then the batch's fields.
    let mut encoded = only_events.encode_to_vec();
    encoded.extend(only_header.encode_to_vec());
    assert_same(&encoded);
    let out = decode(&encoded).unwrap();
    assert_eq!(out.rows.len(), 2);
    assert!(out
        .rows
        .iter()
        .all(|r| &*r.service == "checkout" && &*r.environment == "prod"));
    assert!(out.rows.iter().all(|r| &*r.sdk_name == "aires-rust"));
    assert_eq!(out.rows[0].batch_id, Uuid::from_bytes([1; 16]));
}

#[test]
fn repeated_fields_keep_the_last_value_and_nested_messages_merge() {
    let mut first = full_event();
    first.message = "first".into();
    let mut second = event(3);
    second.http = Some(Box::new(proto::HttpInfo {
        route: "/second".into(),
        ..Default::default()
    }));
    second.call_site = Some(proto::CallSite {
        line: 7,
        ..Default::default()
    });
    second.attributes.push(attribute("k", V::IntValue(1)));
    // One event encoded as two concatenated halves: prost merges them.
    let mut merged = first.encode_to_vec();
    merged.extend(second.encode_to_vec());
    let mut encoded = Vec::new();
    encode_key(4, WireType::LengthDelimited, &mut encoded);
    encode_varint(merged.len() as u64, &mut encoded);
    encoded.extend(&merged);
    assert_same(&encoded);
    let out = decode(&encoded).unwrap();
    let row = &out.rows[0];
    assert_eq!(&*row.message, "event 3");
    assert_eq!((&*row.http_method, &*row.http_route), ("POST", "/second"));
    assert_eq!((&*row.file, row.line), ("src/pay.rs", 7));
    assert_eq!(row.error_chain.len(), 2);

    // A oneof set twice keeps the last value, whatever its type.
    let mut attribute = Vec::new();
    for (key, value) in [(1, "k"), (2, "text")] {
        encode_key(key, WireType::LengthDelimited, &mut attribute);
        encode_varint(value.len() as u64, &mut attribute);
        attribute.extend(value.as_bytes());
    }
    encode_key(3, WireType::Varint, &mut attribute);
    encode_varint(5, &mut attribute);
    let mut event_bytes = event(4).encode_to_vec();
    encode_key(10, WireType::LengthDelimited, &mut event_bytes);
    encode_varint(attribute.len() as u64, &mut event_bytes);
    event_bytes.extend(&attribute);
    let mut encoded = Vec::new();
    encode_key(4, WireType::LengthDelimited, &mut encoded);
    encode_varint(event_bytes.len() as u64, &mut encoded);
    encoded.extend(&event_bytes);
    assert_same(&encoded);
    let out = decode(&encoded).unwrap();
    assert_eq!(out.rows[0].attributes_int[1], ("k".into(), 5));
    assert!(out.rows[0].attributes_string.is_empty());
}

/// `message` with an unknown field of every wire type inserted before and
/// after `known` (the encoding of known fields).
fn with_unknown_fields(known: &[u8]) -> Vec<u8> {
    let mut unknown = Vec::new();
    encode_key(90, WireType::Varint, &mut unknown);
    encode_varint(u64::MAX, &mut unknown);
    encode_key(91, WireType::SixtyFourBit, &mut unknown);
    unknown.extend([0xff; 8]);
    encode_key(92, WireType::LengthDelimited, &mut unknown);
    encode_varint(3, &mut unknown);
    unknown.extend([0xff, 0xfe, 0xfd]); // not UTF-8: never looked at
    encode_key(93, WireType::ThirtyTwoBit, &mut unknown);
    unknown.extend([1; 4]);
    // A group holding a field and a nested group.
    encode_key(94, WireType::StartGroup, &mut unknown);
    encode_key(1, WireType::Varint, &mut unknown);
    encode_varint(300, &mut unknown);
    encode_key(2, WireType::StartGroup, &mut unknown);
    encode_key(2, WireType::EndGroup, &mut unknown);
    encode_key(94, WireType::EndGroup, &mut unknown);
    let mut out = unknown.clone();
    out.extend(known);
    out.extend(&unknown);
    out
}

fn length_delimited_field(tag: u32, body: &[u8], out: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(body.len() as u64, out);
    out.extend(body);
}

#[test]
fn unknown_fields_are_skipped_at_every_level() {
    let e = full_event();
    let plain = batch(vec![e.clone()]).encode_to_vec();
    // Rebuild the event with unknown fields in it and in each nested part.
    let mut event_bytes = proto::Event {
        attributes: Vec::new(),
        http: None,
        call_site: None,
        error: None,
        ..e.clone()
    }
    .encode_to_vec();
    for attribute in &e.attributes {
        let body = with_unknown_fields(&attribute.encode_to_vec());
        length_delimited_field(10, &body, &mut event_bytes);
    }
    let http = with_unknown_fields(&e.http.as_ref().unwrap().encode_to_vec());
    length_delimited_field(12, &http, &mut event_bytes);
    let error = with_unknown_fields(&e.error.as_ref().unwrap().encode_to_vec());
    length_delimited_field(13, &error, &mut event_bytes);
    let site = with_unknown_fields(&e.call_site.as_ref().unwrap().encode_to_vec());
    length_delimited_field(14, &site, &mut event_bytes);
    let mut events = Vec::new();
    length_delimited_field(4, &with_unknown_fields(&event_bytes), &mut events);
    let header = batch(Vec::new()).encode_to_vec();
    let mut encoded = with_unknown_fields(&header);
    encoded.extend(&events);
    assert_same(&encoded);
    let out = decode(&encoded).unwrap();
    let mut expected = decode(&plain).unwrap();
    assert_eq!(out.rows, std::mem::take(&mut expected.rows));
}

#[test]
fn malformed_input_is_an_error_not_a_panic() {
    let encoded = batch(vec![full_event(), event(1)]).encode_to_vec();
    // Every truncation.
    for end in 0..encoded.len() {
        assert_same(&encoded[..end]);
    }
    let refused = |bytes: &[u8]| decode(bytes).unwrap_err().to_string();
    // A length past the end.
    assert!(refused(&[0x22, 0xc8, 0x01, 1, 2, 3]).contains("buffer underflow"));
    // A known field with another wire type.
    let mut wrong_type = Vec::new();
    encode_key(4, WireType::Varint, &mut wrong_type);
    encode_varint(1, &mut wrong_type);
    assert!(refused(&wrong_type).contains("EventBatch.events: invalid wire type"));
    // Text that is not UTF-8, deep down: named by its field.
    let mut bad_text = event(1);
    bad_text.call_site = Some(proto::CallSite {
        file: "FILE".into(),
        ..Default::default()
    });
    let mut encoded = batch(vec![bad_text]).encode_to_vec();
    let at = encoded.windows(4).position(|w| w == b"FILE").unwrap();
    encoded[at] = 0xff;
    // Inside an event: that event alone is refused, naming the field.
    let out = decode(&encoded).unwrap();
    assert_eq!(out.rows.len(), 0);
    assert_eq!(
        out.rejections[0].reason,
        "malformed event: Event.call_site: CallSite.file: \
         invalid string value: data is not UTF-8 encoded"
    );
    assert_same(&encoded);
    // Field number 0, an end-group without a start, an overlong varint.
    assert_same(&[0x00]);
    assert_same(&[0x0c]);
    assert_same(&[
        0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
    ]);
    assert_same(&[0x38; 11]);
}

/// xorshift64*: a fixed seed keeps failures reproducible.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn random_batches_and_mutations_decode_as_the_reference_path_does() {
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let mut pool = edge_events();
    pool.push(full_event());
    for _ in 0..1000 {
        let count = (random.next() % 12) as usize;
        let events = (0..count)
            .map(|_| pool[(random.next() % pool.len() as u64) as usize].clone())
            .collect();
        let mut encoded = batch(events).encode_to_vec();
        assert_same(&encoded);
        if encoded.is_empty() {
            continue;
        }
        // Flip a few bits: both paths must refuse, or agree on the result.
        for _ in 0..1 + random.next() % 3 {
            let at = (random.next() as usize) % encoded.len();
            encoded[at] ^= 1 << (random.next() % 8);
        }
        assert_same(&encoded);
    }
}

#[test]
fn the_scan_reads_the_batch_id_and_counts_events() {
    let encoded = batch(vec![event(1), event(2), event(3)]).encode_to_vec();
    let scanned = EncodedBatch::scan(encoded.clone().into()).unwrap();
    assert_eq!(
        (scanned.batch_id.as_ref(), scanned.events),
        (&[1u8; 16][..], 3)
    );
    let out = scanned.decode(NOW, DIGEST);
    assert_eq!(out.rows.len(), 3);
    assert!(EncodedBatch::scan(Bytes::from_static(&[0x22, 0x7f, 0x01])).is_err());
}

#[test]
fn interned_text_is_shared_between_rows() {
    let mut a = full_event();
    let b = full_event();
    a.id = vec![8; 16].into();
    let out = decode(&batch(vec![a, b]).encode_to_vec()).unwrap();
    let (first, second) = (&out.rows[0], &out.rows[1]);
    assert!(ArcStr::ptr_eq(&first.file, &second.file));
    assert!(ArcStr::ptr_eq(
        &first.attributes_int[0].0,
        &second.attributes_int[0].0
    ));
    assert!(ArcStr::ptr_eq(&first.service, &second.service));
}

#[test]
fn the_cache_slot_of_any_text_is_in_range() {
    for len in 0..40 {
        let text = vec![0xa5u8; len];
        assert!(cache_slot(&text, 8) < 256);
    }
}

/// `events`, encoded with the wide types (integers at full width), in a
/// batch with every batch-level field set.
fn wide_batch(events: Vec<proto::wide::Event>) -> Vec<u8> {
    let header = batch(Vec::new());
    proto::wide::EventBatch {
        attempt: 0,
        batch_id: header.batch_id,
        sdk_name: header.sdk_name,
        sdk_version: header.sdk_version,
        service: header.service,
        environment: header.environment,
        events: events.iter().map(|e| e.encode_to_vec().into()).collect(),
    }
    .encode_to_vec()
}

fn wide_event(n: u8) -> proto::wide::Event {
    proto::wide::Event::decode(event(n).encode_to_vec().as_slice()).unwrap()
}

#[test]
fn one_event_with_text_that_is_not_utf8_is_refused_alone() {
    let events: Vec<_> = (0..10).map(event).collect();
    let mut encoded = batch(events).encode_to_vec();
    let at = encoded.windows(7).position(|w| w == b"event 4").unwrap();
    encoded[at] = 0xff;
    let out = decode(&encoded).unwrap();
    assert_eq!(out.rows.len(), 9);
    assert_eq!(out.rejections.len(), 1);
    assert_eq!(out.rejections[0].index, 4);
    assert_eq!(
        out.rejections[0].reason,
        "malformed event: Event.message: invalid string value: data is not UTF-8 encoded"
    );
    assert!(out.rows.iter().all(|r| &*r.message != "event 4"));
    assert_same(&encoded);
}

#[test]
fn values_too_large_for_their_field_refuse_the_event_instead_of_being_cut() {
    let mut long_line = wide_event(1);
    long_line.call_site = Some(proto::wide::CallSite {
        file: "f.rs".into(),
        line: 1 << 40,
        ..Default::default()
    });
    let mut long_status = wide_event(2);
    long_status.http = Some(proto::wide::HttpInfo {
        method: "GET".into(),
        status_code: (1 << 32) + 200,
        ..Default::default()
    });
    let mut long_severity = wide_event(3);
    long_severity.severity = (1 << 32) + 3;
    let encoded = wide_batch(vec![wide_event(0), long_line, long_status, long_severity]);
    let out = decode(&encoded).unwrap();
    assert_eq!(out.rows.len(), 1);
    let reasons: Vec<(u32, &str)> = out
        .rejections
        .iter()
        .map(|r| (r.index, r.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (1, "call_site.line 1099511627776 does not fit uint32"),
            (2, "http status 4294967496 is not a status code"),
            (3, "unknown severity 4294967299"),
        ]
    );
    assert_same(&encoded);
}

#[test]
fn a_timestamp_past_2262_keeps_the_value_sent() {
    let mut far = event(1);
    far.timestamp_unix_nano = u64::MAX - 7;
    let encoded = batch(vec![far]).encode_to_vec();
    let out = decode(&encoded).unwrap();
    let row = &out.rows[0];
    assert_eq!(row.timestamp_ns, NOW);
    assert_eq!(
        row.attributes_string[0],
        (
            ORIGINAL_TIMESTAMP_KEY.into(),
            (u64::MAX - 7).to_string().into()
        )
    );
    assert_same(&encoded);
}

#[test]
fn ids_made_up_for_events_without_one_are_the_same_on_every_decode() {
    let mut anonymous = event(1);
    anonymous.id = Default::default();
    let encoded = batch(vec![anonymous.clone(), anonymous]).encode_to_vec();
    let first = decode(&encoded).unwrap();
    let again = decode(&encoded).unwrap();
    assert_eq!(first.rows[0].id, again.rows[0].id);
    assert_ne!(first.rows[0].id, first.rows[1].id, "one per event");
    let other = decode_batch(&encoded, NOW, Digest([1; 16])).unwrap();
    assert_ne!(
        first.rows[0].id, other.rows[0].id,
        "another batch, other ids"
    );
}

#[test]
fn decoded_memory_stays_within_the_admission_charge_for_the_worst_shapes() {
    // Text in the smallest pieces the wire allows: empty and one-byte
    // tags and causes, one-byte keys, and many of them.
    let mut tiny = event(1);
    tiny.message = String::new();
    tiny.tags = (0..2000)
        .map(|n| {
            if n % 2 == 0 {
                String::new()
            } else {
                "t".into()
            }
        })
        .collect();
    let mut empty_tags = event(2);
    empty_tags.tags = vec![String::new(); 4097];
    let mut one_byte_causes = event(3);
    one_byte_causes.error = Some(Box::new(proto::ErrorInfo {
        chain: vec!["c".into(); 4097],
        ..Default::default()
    }));
    tiny.error = Some(Box::new(proto::ErrorInfo {
        chain: (0..2000).map(|_| "c".into()).collect(),
        ..Default::default()
    }));
    tiny.attributes = (0..2000)
        .map(|n| attribute(&format!("{}", n % 10), V::BoolValue(true)))
        .collect();
    // Many events of a few bytes each.
    let small: Vec<_> = (0..3000)
        .map(|_| proto::Event {
            severity: 3,
            ..Default::default()
        })
        .collect();
    for events in [vec![tiny], vec![empty_tags], vec![one_byte_causes], small] {
        let encoded = batch(events).encode_to_vec();
        let out = decode(&encoded).unwrap();
        assert!(!out.rows.is_empty());
        assert_within_charge(&encoded, &out);
    }
}
