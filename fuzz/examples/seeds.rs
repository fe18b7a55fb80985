//! Writes the seed corpus of the fuzz targets into fuzz/seeds/<target>/:
//! realistic batches, encoded with prost, in the shapes the decoder's tests
//! use (aires-collector/src/decode/tests.rs: `full_event`, `edge_events`,
//! merged and concatenated messages, unknown fields, wide integers), and
//! for `grpc_frames` the same batches in gRPC frames, some compressed.
//!
//!     cd fuzz && cargo run --example seeds

use std::io::Write;
use std::path::Path;

use aires_proto::v1 as proto;
use prost::encoding::{encode_key, encode_varint, WireType};
use prost::Message;
use proto::attribute::Value as V;

const NOW: i64 = 1_780_000_000_000_000_000;
const MAX_FUTURE_SKEW_NS: i64 = 3_600 * 1_000_000_000;

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

fn batch(events: Vec<proto::Event>) -> proto::EventBatch {
    proto::EventBatch {
        // Seeds carry a retry's attempt number, so the fuzzer starts from
        // batches with the field the digest skips.
        attempt: 2,
        batch_id: vec![1; 16].into(),
        sdk_name: "aires-rust".into(),
        sdk_version: "0.1.0".into(),
        service: "checkout".into(),
        environment: "prod".into(),
        events,
    }
}

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
        e.http = Some(Box::new(proto::HttpInfo {
            status_code: 70_000,
            ..Default::default()
        }))
    });
    push(&|e| e.http = Some(Box::default()));
    push(&|e| e.error = Some(Box::default()));
    push(&|e| e.call_site = Some(Default::default()));
    push(&|e| {
        e.attributes
            .push(attribute("nan", V::DoubleValue(f64::NAN)))
    });
    events
}

fn length_delimited_field(tag: u32, body: &[u8], out: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(body.len() as u64, out);
    out.extend(body);
}

/// `known` with an unknown field of every wire type before and after it.
fn with_unknown_fields(known: &[u8]) -> Vec<u8> {
    let mut unknown = Vec::new();
    encode_key(90, WireType::Varint, &mut unknown);
    encode_varint(u64::MAX, &mut unknown);
    encode_key(91, WireType::SixtyFourBit, &mut unknown);
    unknown.extend([0xff; 8]);
    encode_key(92, WireType::LengthDelimited, &mut unknown);
    encode_varint(3, &mut unknown);
    unknown.extend([0xff, 0xfe, 0xfd]);
    encode_key(93, WireType::ThirtyTwoBit, &mut unknown);
    unknown.extend([1; 4]);
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

/// Encoded batches, by name.
fn batches() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = vec![
        ("full_event", batch(vec![full_event()]).encode_to_vec()),
        ("edge_events", batch(edge_events()).encode_to_vec()),
        (
            "three_events",
            batch(vec![event(1), event(2), event(3)]).encode_to_vec(),
        ),
    ];

    let mut anonymous = batch(vec![event(1), full_event()]);
    anonymous.service.clear();
    anonymous.environment.clear();
    anonymous.sdk_name.clear();
    anonymous.batch_id = vec![1; 3].into();
    out.push(("anonymous", anonymous.encode_to_vec()));

    // Batch-level fields after the events.
    let events = batch(vec![event(1), event(2)]);
    let mut encoded = proto::EventBatch {
        events: events.events.clone(),
        ..Default::default()
    }
    .encode_to_vec();
    encoded.extend(
        proto::EventBatch {
            events: Vec::new(),
            ..events
        }
        .encode_to_vec(),
    );
    out.push(("header_last", encoded));

    // One event as two concatenated halves (prost merges them), and an
    // attribute whose oneof is set twice.
    let mut second = event(3);
    second.http = Some(Box::new(proto::HttpInfo {
        route: "/second".into(),
        ..Default::default()
    }));
    second.call_site = Some(proto::CallSite {
        line: 7,
        ..Default::default()
    });
    let mut merged = full_event().encode_to_vec();
    merged.extend(second.encode_to_vec());
    let mut oneof_twice = Vec::new();
    for (key, value) in [(1, "k"), (2, "text")] {
        length_delimited_field(key, value.as_bytes(), &mut oneof_twice);
    }
    encode_key(3, WireType::Varint, &mut oneof_twice);
    encode_varint(5, &mut oneof_twice);
    length_delimited_field(10, &oneof_twice, &mut merged);
    let mut encoded = Vec::new();
    length_delimited_field(4, &merged, &mut encoded);
    out.push(("merged_event", encoded));

    // Unknown fields at every level.
    let e = full_event();
    let mut event_bytes = proto::Event {
        attributes: Vec::new(),
        http: None,
        call_site: None,
        error: None,
        ..e.clone()
    }
    .encode_to_vec();
    for attribute in &e.attributes {
        length_delimited_field(
            10,
            &with_unknown_fields(&attribute.encode_to_vec()),
            &mut event_bytes,
        );
    }
    let http = with_unknown_fields(&e.http.as_ref().unwrap().encode_to_vec());
    length_delimited_field(12, &http, &mut event_bytes);
    let error = with_unknown_fields(&e.error.as_ref().unwrap().encode_to_vec());
    length_delimited_field(13, &error, &mut event_bytes);
    let site = with_unknown_fields(&e.call_site.as_ref().unwrap().encode_to_vec());
    length_delimited_field(14, &site, &mut event_bytes);
    let mut encoded = with_unknown_fields(&batch(Vec::new()).encode_to_vec());
    length_delimited_field(4, &with_unknown_fields(&event_bytes), &mut encoded);
    out.push(("unknown_fields", encoded));

    // Integers too wide for their field (the wide types).
    let wide = |e: proto::Event| proto::wide::Event::decode(e.encode_to_vec().as_slice()).unwrap();
    let mut long_line = wide(event(1));
    long_line.call_site = Some(proto::wide::CallSite {
        file: "f.rs".into(),
        line: 1 << 40,
        ..Default::default()
    });
    let mut long_status = wide(event(2));
    long_status.http = Some(proto::wide::HttpInfo {
        method: "GET".into(),
        status_code: (1 << 32) + 200,
        ..Default::default()
    });
    let mut long_severity = wide(event(3));
    long_severity.severity = (1 << 32) + 3;
    let header = batch(Vec::new());
    let encoded = proto::wide::EventBatch {
        attempt: header.attempt.into(),
        batch_id: header.batch_id,
        sdk_name: header.sdk_name,
        sdk_version: header.sdk_version,
        service: header.service,
        environment: header.environment,
        events: [wide(event(0)), long_line, long_status, long_severity]
            .iter()
            .map(|e| e.encode_to_vec().into())
            .collect(),
    }
    .encode_to_vec();
    out.push(("wide_values", encoded));

    // Text that is not UTF-8 in one event.
    let mut encoded = batch((0..4).map(event).collect()).encode_to_vec();
    let at = encoded.windows(7).position(|w| w == b"event 2").unwrap();
    encoded[at] = 0xff;
    out.push(("bad_utf8", encoded));

    // Text in the smallest pieces, and many tiny events.
    let mut tiny = event(1);
    tiny.message = String::new();
    tiny.tags = (0..100)
        .map(|n| {
            if n % 2 == 0 {
                String::new()
            } else {
                "t".into()
            }
        })
        .collect();
    tiny.error = Some(Box::new(proto::ErrorInfo {
        chain: (0..100).map(|_| "c".into()).collect(),
        ..Default::default()
    }));
    tiny.attributes = (0..100)
        .map(|n| attribute(&format!("{}", n % 10), V::BoolValue(true)))
        .collect();
    out.push(("tiny_pieces", batch(vec![tiny]).encode_to_vec()));
    let small = (0..200)
        .map(|_| proto::Event {
            severity: 3,
            ..Default::default()
        })
        .collect();
    out.push(("small_events", batch(small).encode_to_vec()));
    out
}

/// A gRPC frame: compressed flag, big-endian length, message.
fn frame(compressed: bool, message: &[u8]) -> Vec<u8> {
    let mut out = vec![u8::from(compressed)];
    out.extend((message.len() as u32).to_be_bytes());
    out.extend(message);
    out
}

fn gzip(message: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(message).unwrap();
    encoder.finish().unwrap()
}

/// Inputs of `grpc_frames`: the settings byte (see the target), then the
/// body.
fn grpc_inputs(batches: &[(&str, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    const UNARY: u8 = 1;
    const GZIP: u8 = 1 << 1;
    const ZSTD: u8 = 2 << 1;
    const SMALL: u8 = 1 << 3;
    let chunks = |n: u8| n << 4;
    let get = |name: &str| &batches.iter().find(|(n, _)| *n == name).unwrap().1;
    let input = |settings: u8, frames: &[Vec<u8>]| {
        let mut out = vec![settings];
        for f in frames {
            out.extend(f);
        }
        out
    };
    let mut out = Vec::new();
    for (name, encoded) in batches {
        out.push((
            format!("unary_{name}"),
            input(UNARY, &[frame(false, encoded)]),
        ));
    }
    let (full, three, edge) = (get("full_event"), get("three_events"), get("edge_events"));
    out.push((
        "stream_three".into(),
        input(
            0,
            &[frame(false, full), frame(false, three), frame(false, edge)],
        ),
    ));
    out.push((
        "unary_two_messages".into(),
        input(UNARY, &[frame(false, three), frame(false, three)]),
    ));
    out.push((
        "stream_gzip".into(),
        input(GZIP, &[frame(true, &gzip(edge)), frame(false, three)]),
    ));
    out.push((
        "unary_zstd".into(),
        input(
            UNARY | ZSTD,
            &[frame(true, &zstd::encode_all(full.as_slice(), 3).unwrap())],
        ),
    ));
    out.push((
        "stream_chunked".into(),
        input(chunks(7), &[frame(false, three), frame(false, full)]),
    ));
    out.push((
        "unary_too_large".into(),
        input(UNARY | SMALL, &[frame(false, full)]),
    ));
    out.push((
        "stream_truncated".into(),
        input(0, &[frame(false, three)[..20].to_vec()]),
    ));
    out
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    let batches = batches();
    for target in ["decode_batch", "reference_transform", "differential"] {
        for (name, encoded) in &batches {
            write(target, name, encoded);
        }
    }
    for (name, input) in grpc_inputs(&batches) {
        write("grpc_frames", &name, &input);
    }
    println!("seeds written to {}", root.display());
}
