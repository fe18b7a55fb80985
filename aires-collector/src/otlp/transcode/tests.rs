//! The one-pass transcoder against the reference translation over prost's
//! structs: the same events for any request (ids aside, which are fresh).

use aires_proto::v1 as proto;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value::Value as V, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use proptest::prelude::*;
use prost::Message as _;

use super::{transcode, Batch, Limits, Part, TranscodeError};
use crate::otlp::translate::translate;

/// Every batch of `request`, taken part after part.
fn whole(request: &[u8], limits: Limits) -> Result<Vec<Batch>, TranscodeError> {
    let mut batches = Vec::new();
    let mut part = Some(Part::default());
    while let Some(from) = part {
        let transcoded = transcode(request, limits, from)?;
        batches.extend(transcoded.batches);
        part = transcoded.next;
    }
    Ok(batches)
}

/// Keys that fill columns, and ordinary ones, some repeated.
const KEYS: &[&str] = &[
    "service.name",
    "deployment.environment.name",
    "deployment.environment",
    "telemetry.sdk.language",
    "telemetry.sdk.version",
    "session.id",
    "exception.type",
    "exception.message",
    "exception.stacktrace",
    "code.file.path",
    "code.filepath",
    "code.line.number",
    "code.lineno",
    "code.function.name",
    "code.namespace",
    "http.request.method",
    "http.method",
    "http.route",
    "url.path",
    "http.response.status_code",
    "http.status_code",
    "user_agent.original",
    "client.address",
    "server.address",
    "url.scheme",
    "http.request.body.size",
    "http.response.body.size",
    "http.duration_ms",
    "http.server.request.duration",
    "severity_text",
    "event.name",
    "a",
    "b",
    "user.id",
    "ü",
];

const TEXTS: &[&str] = &["", "200", "-1", "12.5", "abc", "GET", "ünï", "99999", "NaN"];

fn scalar() -> impl Strategy<Value = Option<V>> {
    prop_oneof![
        Just(None),
        prop::sample::select(TEXTS).prop_map(|s| Some(V::StringValue(s.into()))),
        any::<bool>().prop_map(|b| Some(V::BoolValue(b))),
        prop_oneof![Just(0i64), Just(-5), Just(404), Just(70_000), any::<i64>()]
            .prop_map(|i| Some(V::IntValue(i))),
        prop_oneof![
            Just(0.0f64),
            Just(1.5),
            Just(-2.0),
            Just(f64::NAN),
            Just(f64::INFINITY),
            any::<f64>()
        ]
        .prop_map(|d| Some(V::DoubleValue(d))),
        prop::collection::vec(any::<u8>(), 0..6).prop_map(|b| Some(V::BytesValue(b))),
    ]
}

fn any_value() -> impl Strategy<Value = AnyValue> {
    scalar()
        .prop_map(|value| AnyValue { value })
        .prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(|values| AnyValue {
                    value: Some(V::ArrayValue(ArrayValue { values }))
                }),
                prop::collection::vec((prop::sample::select(KEYS), inner), 0..3).prop_map(|kvs| {
                    AnyValue {
                        value: Some(V::KvlistValue(KeyValueList {
                            values: kvs
                                .into_iter()
                                .map(|(k, v)| KeyValue {
                                    key: k.into(),
                                    value: Some(v),
                                    ..Default::default()
                                })
                                .collect(),
                        })),
                    }
                }),
            ]
        })
}

fn key_value() -> impl Strategy<Value = KeyValue> {
    (
        prop::sample::select(KEYS),
        prop::option::weighted(0.9, any_value()),
    )
        .prop_map(|(key, value)| KeyValue {
            key: key.into(),
            value,
            ..Default::default()
        })
}

fn record() -> impl Strategy<Value = LogRecord> {
    (
        (
            prop_oneof![Just(0u64), any::<u64>()],
            prop_oneof![Just(0u64), any::<u64>()],
        ),
        (
            -2i32..30,
            prop::sample::select(&["", "W", "WARNING", "error", "Info", "crit"][..]),
        ),
        prop::option::of(any_value()),
        prop::collection::vec(key_value(), 0..8),
        prop::sample::select(&[0usize, 5, 8, 16][..]),
        prop::sample::select(&[0usize, 3, 8, 16][..]),
        prop::sample::select(&["", "payment.failed"][..]),
    )
        .prop_map(
            |((time, observed), (number, text), body, attributes, trace, span, name)| LogRecord {
                time_unix_nano: time,
                observed_time_unix_nano: observed,
                severity_number: number,
                severity_text: text.into(),
                body,
                attributes,
                trace_id: vec![0xab; trace],
                span_id: vec![0xcd; span],
                event_name: name.into(),
                flags: 1,
                dropped_attributes_count: 2,
            },
        )
}

fn request() -> impl Strategy<Value = ExportLogsServiceRequest> {
    let scope = (
        prop::sample::select(&["", "shop.pay", "ü"][..]),
        prop::collection::vec(key_value(), 0..3),
        prop::collection::vec(record(), 0..4),
    )
        .prop_map(|(name, attributes, log_records)| ScopeLogs {
            scope: Some(InstrumentationScope {
                name: name.into(),
                version: "1.0".into(),
                attributes,
                ..Default::default()
            }),
            log_records,
            schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
        });
    let resource = (
        prop::option::of(prop::collection::vec(key_value(), 0..6)),
        prop::collection::vec(scope, 0..3),
    )
        .prop_map(|(attributes, scope_logs)| ResourceLogs {
            resource: attributes.map(|attributes| Resource {
                attributes,
                ..Default::default()
            }),
            scope_logs,
            schema_url: String::new(),
        });
    prop::collection::vec(resource, 0..3)
        .prop_map(|resource_logs| ExportLogsServiceRequest { resource_logs })
}

/// A batch as prost reads it, with its id and the reference's fresh event
/// ids cleared (the transcoder leaves events without ids), re-encoded (so
/// that NaN compares by its bits).
fn canonical(mut batch: proto::EventBatch) -> Vec<u8> {
    batch.batch_id = Default::default();
    for event in &mut batch.events {
        event.id = Default::default();
    }
    batch.encode_to_vec()
}

fn check(request: &ExportLogsServiceRequest) {
    let expected: Vec<Vec<u8>> = translate(request)
        .into_iter()
        .filter(|b| !b.events.is_empty())
        .map(canonical)
        .collect();
    let fast =
        whole(&request.encode_to_vec(), Limits::default()).expect("a valid request transcodes");
    let records: Vec<usize> = fast.iter().map(|b| b.records).collect();
    let got: Vec<Vec<u8>> = fast
        .into_iter()
        .map(|b| {
            canonical(proto::EventBatch::decode(b.encoded.as_slice()).expect("valid aires.v1"))
        })
        .collect();
    if got != expected {
        let show = |batches: &[Vec<u8>]| -> Vec<proto::EventBatch> {
            batches
                .iter()
                .map(|b| proto::EventBatch::decode(b.as_slice()).unwrap())
                .collect()
        };
        panic!(
            "transcoded:\n{:#?}\nreference:\n{:#?}",
            show(&got),
            show(&expected)
        );
    }
    let expected_records: Vec<usize> = translate(request)
        .iter()
        .map(|b| b.events.len())
        .filter(|&n| n > 0)
        .collect();
    assert_eq!(records, expected_records);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_transcoder_gives_the_reference_translation(request in request()) {
        check(&request);
    }
}

#[test]
fn an_empty_request_is_no_batch_and_a_malformed_one_an_error() {
    assert!(whole(&[], Limits::default()).unwrap().is_empty());
    assert!(
        whole(b"\x0a\xff\xff\xff", Limits::default()).is_err(),
        "a length past the end"
    );
    let bad_utf8 = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    severity_text: "MARK".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let mut bytes = bad_utf8.encode_to_vec();
    let at = bytes.windows(4).position(|w| w == b"MARK").unwrap();
    bytes[at] = 0xff;
    assert!(
        whole(&bytes, Limits::default()).is_err(),
        "text that is not UTF-8"
    );
}

#[test]
fn an_event_longer_than_its_length_room_is_moved_along_and_still_reads() {
    let long = "x".repeat(3 << 20);
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    LogRecord {
                        body: Some(AnyValue {
                            value: Some(V::StringValue(long.clone())),
                        }),
                        ..Default::default()
                    },
                    LogRecord::default(),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let batches = whole(&request.encode_to_vec(), Limits::default()).unwrap();
    // The long event passes the batch's byte limit: the next starts a batch.
    let events: Vec<proto::Event> = batches
        .iter()
        .flat_map(|b| {
            proto::EventBatch::decode(b.encoded.as_slice())
                .unwrap()
                .events
        })
        .collect();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].message.len(), long.len());
}

#[test]
fn lengths_are_padded_varints_that_every_reader_accepts() {
    for len in [0usize, 1, 127, 128, 16_383, 16_384, (1 << 21) - 1] {
        let mut buf = vec![0xaa; 3];
        let start = buf.len();
        buf.extend(std::iter::repeat_n(7u8, len));
        super::set_length(&mut buf, start);
        let mut at = &buf[..];
        // Ours, as the collector's decoder reads it, and prost's.
        assert_eq!(crate::decode::wire::varint(&mut at).unwrap(), len as u64);
        assert_eq!(at.len(), len);
        let mut at = &buf[..];
        assert_eq!(prost::encoding::decode_varint(&mut at).unwrap(), len as u64);
    }
}

#[test]
fn every_name_that_fills_a_column_passes_the_quick_check() {
    use crate::otlp::mapping::key;
    let mut names = vec![
        key::SESSION,
        key::EXCEPTION_TYPE,
        key::EXCEPTION_MESSAGE,
        key::EXCEPTION_STACKTRACE,
        key::CODE_NAMESPACE,
        key::HTTP_ROUTE,
        key::HTTP_DURATION_MS,
        key::HTTP_DURATION_S,
    ];
    for group in [
        key::CODE_FILE,
        key::CODE_LINE,
        key::CODE_FUNCTION,
        key::HTTP_METHOD,
        key::HTTP_PATH,
        key::HTTP_STATUS,
        key::HTTP_USER_AGENT,
        key::HTTP_CLIENT_IP,
        key::HTTP_HOST,
        key::HTTP_SCHEME,
        key::HTTP_REQUEST_BYTES,
        key::HTTP_RESPONSE_BYTES,
    ] {
        names.extend(group);
    }
    for name in names {
        let mut columns = super::Columns::default();
        assert!(
            columns.take(name, super::Value::Str("7")),
            "{name} fills a column"
        );
    }
}

#[test]
fn the_same_request_gives_the_same_batches_and_another_request_other_ids() {
    let record = |body: &str, time: u64, observed: u64| LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: observed,
        body: Some(AnyValue {
            value: Some(V::StringValue(body.into())),
        }),
        ..Default::default()
    };
    let limits = Limits {
        batch_records: 2,
        ..Limits::default()
    };
    let ids_and_bytes = |request: &ExportLogsServiceRequest| -> Vec<(Vec<u8>, Vec<u8>)> {
        whole(&request.encode_to_vec(), limits)
            .unwrap()
            .into_iter()
            .map(|b| {
                let batch = proto::EventBatch::decode(b.encoded.as_slice()).unwrap();
                (batch.batch_id.to_vec(), b.encoded)
            })
            .collect()
    };
    let request = one_resource(
        vec![],
        vec![record("a", 1, 0), record("b", 0, 2), record("c", 3, 0)],
    );
    let first = ids_and_bytes(&request);
    assert_eq!(
        first,
        ids_and_bytes(&request),
        "a function of the bytes alone"
    );
    assert_eq!(first.len(), 2);
    assert_ne!(first[0].0, first[1].0);
    for (_, encoded) in &first {
        let batch = proto::EventBatch::decode(encoded.as_slice()).unwrap();
        assert!(batch.events.iter().all(|e| e.id.is_empty()));
    }
    let other = one_resource(
        vec![],
        vec![record("a", 1, 0), record("b", 0, 2), record("d", 3, 0)],
    );
    assert_ne!(
        ids_and_bytes(&other)[0].0,
        first[0].0,
        "the id names the whole request, not the batch's content alone"
    );

    // A record with neither time: none is written (the collector gives it
    // the time received), and the request's batches get fresh ids, since
    // the same bytes again may be another event.
    let untimed = one_resource(vec![], vec![record("heartbeat", 0, 0)]);
    let once = ids_and_bytes(&untimed);
    let decoded = proto::EventBatch::decode(once[0].1.as_slice()).unwrap();
    assert_eq!(decoded.events[0].timestamp_unix_nano, 0);
    assert_ne!(once[0].0, ids_and_bytes(&untimed)[0].0);
}

#[test]
fn records_past_the_limit_on_a_requests_events_are_refused_and_counted() {
    let resource = vec![text_kv("k8s.pod.labels", &"l".repeat(20 << 10))];
    let request = one_resource(resource, vec![LogRecord::default(); 200]).encode_to_vec();
    let limits = Limits {
        part_bytes: 1 << 20,
        total_bytes: 2 << 20,
        ..Limits::default()
    };
    let (mut written, mut refused, mut part) = (0, 0, Some(Part::default()));
    while let Some(from) = part {
        let transcoded = transcode(&request, limits, from).unwrap();
        written += transcoded.batches.iter().map(|b| b.records).sum::<usize>();
        refused += transcoded.refused;
        part = transcoded.next;
    }
    assert!(
        refused > 0 && written > 0,
        "{written} written, {refused} refused"
    );
    assert_eq!(written + refused, 200);
    assert!(
        written * (20 << 10) < (2 << 20) + (40 << 10),
        "{written} written"
    );
}

fn one_resource(resource: Vec<KeyValue>, records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn text_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(V::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

#[test]
fn a_large_resource_is_cut_into_batches_that_keep_every_record_in_order() {
    let records: Vec<LogRecord> = (0..10_000)
        .map(|i| LogRecord {
            body: Some(AnyValue {
                value: Some(V::StringValue(format!("record {i}"))),
            }),
            ..Default::default()
        })
        .collect();
    let request = one_resource(vec![text_kv("service.name", "big")], records);
    let batches = whole(&request.encode_to_vec(), Limits::default()).unwrap();
    let counts: Vec<usize> = batches.iter().map(|b| b.records).collect();
    assert_eq!(counts, [4096, 4096, 1808]);
    let mut messages = Vec::new();
    for batch in &batches {
        let decoded = proto::EventBatch::decode(batch.encoded.as_slice()).unwrap();
        assert_eq!(decoded.service, "big", "every batch names the resource");
        assert_eq!(decoded.batch_id.len(), 16);
        messages.extend(decoded.events.into_iter().map(|e| e.message));
    }
    let expected: Vec<String> = (0..10_000).map(|i| format!("record {i}")).collect();
    assert_eq!(messages, expected);
}

#[test]
fn a_batch_is_also_cut_at_its_byte_limit() {
    let records = vec![
        LogRecord {
            body: Some(AnyValue {
                value: Some(V::StringValue("x".repeat(700))),
            }),
            ..Default::default()
        };
        10
    ];
    let limits = Limits {
        batch_bytes: 2_000,
        ..Limits::default()
    };
    let batches = whole(&one_resource(vec![], records).encode_to_vec(), limits).unwrap();
    assert!(batches.len() >= 4, "{} batches", batches.len());
    assert!(batches.iter().all(|b| b.encoded.len() < 2_000 + 800));
    assert_eq!(batches.iter().map(|b| b.records).sum::<usize>(), 10);
}

#[test]
fn a_request_whose_resource_copies_are_huge_is_taken_a_part_at_a_time() {
    // 20 KiB of resource attributes, copied into each of 200 records:
    // 4 MB of events from a request of 20 KiB.
    let resource = vec![text_kv("k8s.pod.labels", &"l".repeat(20 << 10))];
    let request = one_resource(resource.clone(), vec![LogRecord::default(); 200]).encode_to_vec();
    let limits = Limits {
        part_bytes: 1 << 20,
        ..Limits::default()
    };
    let mut part = Some(Part::default());
    let (mut parts, mut records, mut ids) = (0, 0, std::collections::HashSet::new());
    while let Some(from) = part {
        let transcoded = transcode(&request, limits, from).unwrap();
        let bytes: usize = transcoded.batches.iter().map(|b| b.encoded.len()).sum();
        assert!(bytes < (1 << 20) + (21 << 10), "a part of {bytes} bytes");
        for batch in &transcoded.batches {
            records += batch.records;
            let id = proto::EventBatch::decode(batch.encoded.as_slice())
                .unwrap()
                .batch_id;
            assert!(ids.insert(id), "a batch id repeated across parts");
        }
        parts += 1;
        part = transcoded.next;
    }
    assert!(parts >= 4, "{parts} parts");
    assert_eq!(records, 200, "every record once");

    // A malformed record past the first part refuses the request before
    // any part is taken.
    let mut bad = one_resource(resource, vec![LogRecord::default(); 200]).encode_to_vec();
    bad.extend_from_slice(b"\x0a\x05\x12\x03\x2a\xff\xff");
    assert!(transcode(&bad, limits, Part::default()).is_err());
}

#[test]
fn thousands_of_attributes_on_one_record_are_kept_as_the_reference_keeps_them() {
    let mut attributes: Vec<KeyValue> = (0..5_000)
        .map(|i| text_kv(&format!("k{i}"), "first"))
        .collect();
    // Repeats, late: the last value wins, in the first place.
    attributes.extend(
        (0..5_000)
            .step_by(7)
            .map(|i| text_kv(&format!("k{i}"), "last")),
    );
    let request = one_resource(
        vec![text_kv("k3", "resource")],
        vec![LogRecord {
            attributes,
            ..Default::default()
        }],
    );
    check(&request);
}

#[test]
fn a_large_resource_is_written_once_per_scope_and_a_record_repeating_its_keys_still_wins() {
    // Past the scan limit on both sides: the shared keys are found through
    // their index, and a record that repeats one takes the merged path.
    let resource: Vec<KeyValue> = (0..40)
        .map(|i| text_kv(&format!("r{i}"), "resource"))
        .collect();
    let own = |repeat: Option<&str>| LogRecord {
        attributes: (0..40)
            .map(|i| text_kv(&format!("own{i}"), "record"))
            .chain(repeat.map(|key| text_kv(key, "record wins")))
            .collect(),
        ..Default::default()
    };
    let request = one_resource(
        resource,
        vec![own(None), own(Some("r37")), own(None), own(Some("r0"))],
    );
    check(&request);
}
