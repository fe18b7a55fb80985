//! The reference path: prost's structs (`aires_proto::v1::wide`), then
//! the rules of [`crate::rules`], event by event. The collector does not
//! use it: its processors decode batches straight into rows
//! ([`crate::decode`]). Tests, fuzz targets and benchmarks compare the
//! decoder with it (feature `reference`).

use aires_proto::v1 as proto;
use aires_proto::v1::wide;
use arcstr::ArcStr;
use prost::Message;

use crate::identity::Digest;
use crate::row::Row;
use crate::rules::{
    check_len, http_status, malformed, no_value, normalise_timestamp, rejected_id, severity_name,
    uint32, BatchContext, Transformed, ORIGINAL_TIMESTAMP_KEY,
};

/// Transforms every event of the encoded batch `encoded`, received at
/// `received_ns`, whose digest is `digest`. `None` when the batch's top
/// level does not decode; an event that does not decode is refused alone.
pub fn transform_batch(encoded: &[u8], received_ns: i64, digest: Digest) -> Option<Transformed> {
    let batch = wide::EventBatch::decode(encoded).ok()?;
    let context = BatchContext::new(
        &batch.batch_id,
        batch.sdk_name.into(),
        batch.sdk_version.into(),
        &batch.service,
        batch.environment.into(),
        received_ns,
        digest,
    );
    let mut out = Transformed {
        rows: Vec::with_capacity(batch.events.len()),
        ..Default::default()
    };
    for (index, encoded) in batch.events.into_iter().enumerate() {
        let (event_id, result) = match wide::Event::decode(encoded) {
            Ok(event) => {
                let mut row = Row::default();
                (
                    rejected_id(&event.id),
                    fill_row(&mut row, event, &context, index).map(|()| row),
                )
            }
            Err(e) => (Default::default(), Err(malformed(&e.to_string()))),
        };
        match result {
            Ok(row) => out.rows.push(row),
            Err(reason) => out.rejections.push(proto::Rejection {
                index: index as u32,
                event_id,
                reason,
            }),
        }
    }
    Some(out)
}

/// Fills `row` (a default row) from `event`, or says why the event is
/// refused. The checks come in the decoder's order, so the reason is the
/// same.
fn fill_row(
    row: &mut Row,
    event: wide::Event,
    context: &BatchContext,
    index: usize,
) -> Result<(), String> {
    let id = context.event_id(&event.id, index)?;
    let trace_id = check_len(&event.trace_id, 16, "trace_id")?;
    let span_id = check_len(&event.span_id, 8, "span_id")?;
    let severity = severity_name(event.severity)?;
    let (mut strings, mut ints, mut floats, mut bools) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (timestamp_ns, original) =
        normalise_timestamp(event.timestamp_unix_nano, context.received_ns);
    match original.map(i64::try_from) {
        Some(Ok(original)) => ints.push((ORIGINAL_TIMESTAMP_KEY.into(), original)),
        Some(Err(_)) => strings.push((
            ORIGINAL_TIMESTAMP_KEY.into(),
            event.timestamp_unix_nano.to_string().into(),
        )),
        None => {}
    }
    for attribute in event.attributes {
        if attribute.key.is_empty() {
            return Err("an attribute has an empty key".into());
        }
        use wide::attribute::Value;
        let key: ArcStr = attribute.key.as_str().into();
        match attribute.value {
            Some(Value::StringValue(v)) => strings.push((key, v.into())),
            Some(Value::IntValue(v)) => ints.push((key, v)),
            Some(Value::UintValue(v)) => match i64::try_from(v) {
                Ok(v) => ints.push((key, v)),
                Err(_) => strings.push((key, v.to_string().into())),
            },
            Some(Value::DoubleValue(v)) => floats.push((key, v)),
            Some(Value::BoolValue(v)) => bools.push((key, v)),
            None => return Err(no_value(&attribute.key)),
        }
    }
    if let Some(http) = event.http {
        row.http_status = http_status(http.status_code)?;
        row.http_method = http.method.into();
        row.http_route = http.route.into();
        row.http_path = http.path;
        row.http_duration_ns = http.duration_nanos;
        row.http_user_agent = http.user_agent;
        row.http_client_ip = http.client_ip;
        row.http_request_bytes = http.request_bytes;
        row.http_response_bytes = http.response_bytes;
        row.http_host = http.host.into();
        row.http_scheme = http.scheme.into();
    }
    if let Some(site) = event.call_site {
        row.line = uint32(site.line, "call_site.line")?;
        row.file = site.file.into();
        row.module = site.module.into();
        row.function = site.function.into();
    }
    row.id = id;
    context.fill_batch_columns(row);
    row.severity = severity;
    row.message = event.message.into();
    row.trace_id = trace_id;
    row.span_id = span_id;
    row.session_id = event.session_id;
    row.tags = event.tags;
    row.service = own_or(event.service, &context.service);
    row.environment = own_or(event.environment, &context.environment);
    row.timestamp_ns = timestamp_ns;
    row.attributes_string = strings.into();
    row.attributes_int = ints.into();
    row.attributes_float = floats.into();
    row.attributes_bool = bools.into();
    if let Some(error) = event.error {
        row.error_type = error.r#type;
        row.error_message = error.message;
        row.error_chain = error.chain;
        row.error_backtrace = error.backtrace;
    }
    Ok(())
}

/// The event's own value, else the batch's (shared, not copied).
fn own_or(own: String, batch: &ArcStr) -> ArcStr {
    if own.is_empty() {
        batch.clone()
    } else {
        own.into()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rules::{MAX_FUTURE_SKEW_NS, UNKNOWN_SERVICE};
    use proto::attribute::Value as V;

    const NOW: i64 = 1_780_000_000_000_000_000;

    fn event() -> proto::Event {
        proto::Event {
            id: vec![7; 16].into(),
            timestamp_unix_nano: (NOW - 5) as u64,
            severity: proto::Severity::Warn as i32,
            message: "slow".into(),
            ..Default::default()
        }
    }

    /// The reference path on `batch`, encoded.
    fn transform(batch: proto::EventBatch) -> Transformed {
        transform_batch(&batch.encode_to_vec(), NOW, Digest::default()).expect("the batch decodes")
    }

    /// A batch of `events` with every batch-level field set (the decoder's
    /// tests use it too).
    pub(crate) fn batch(events: Vec<proto::Event>) -> proto::EventBatch {
        proto::EventBatch {
            attempt: 0,
            batch_id: vec![1; 16].into(),
            sdk_name: "aires-rust".into(),
            sdk_version: "0.1.0".into(),
            service: "checkout".into(),
            environment: "prod".into(),
            events,
        }
    }

    #[test]
    fn flattens_every_part() {
        let mut e = event();
        e.trace_id = vec![0xab; 16].into();
        e.span_id = vec![0x01; 8].into();
        e.attributes = vec![
            proto::Attribute {
                key: "s".into(),
                value: Some(V::StringValue("x".into())),
            },
            proto::Attribute {
                key: "i".into(),
                value: Some(V::IntValue(-1)),
            },
            proto::Attribute {
                key: "u".into(),
                value: Some(V::UintValue(5)),
            },
            proto::Attribute {
                key: "big".into(),
                value: Some(V::UintValue(u64::MAX)),
            },
            proto::Attribute {
                key: "f".into(),
                value: Some(V::DoubleValue(0.5)),
            },
            proto::Attribute {
                key: "b".into(),
                value: Some(V::BoolValue(true)),
            },
        ];
        e.http = Some(Box::new(proto::HttpInfo {
            method: "GET".into(),
            route: "/r".into(),
            status_code: 404,
            duration_nanos: 9,
            ..Default::default()
        }));
        e.error = Some(Box::new(proto::ErrorInfo {
            r#type: "E".into(),
            message: "m".into(),
            chain: vec!["c".into()],
            backtrace: "bt".into(),
        }));
        e.call_site = Some(proto::CallSite {
            file: "f.rs".into(),
            line: 3,
            module: "m".into(),
            function: "fun".into(),
        });
        let out = transform(batch(vec![e]));
        assert!(out.rejections.is_empty());
        let row = &out.rows[0];
        assert_eq!(row.id.to_string(), "07070707-0707-0707-0707-070707070707");
        assert_eq!(
            row.batch_id.to_string(),
            "01010101-0101-0101-0101-010101010101"
        );
        assert_eq!(row.timestamp_ns, NOW - 5);
        assert_eq!(row.severity, "warn");
        assert_eq!((&*row.service, &*row.environment), ("checkout", "prod"));
        assert_eq!(row.trace_id, "ab".repeat(16));
        assert_eq!(row.span_id, "0101010101010101");
        assert_eq!(
            row.attributes_string,
            vec![
                ("s".into(), "x".into()),
                ("big".into(), u64::MAX.to_string().into())
            ]
        );
        assert_eq!(row.attributes_int, vec![("i".into(), -1), ("u".into(), 5)]);
        assert_eq!(row.attributes_float, vec![("f".into(), 0.5)]);
        assert_eq!(row.attributes_bool, vec![("b".into(), true)]);
        assert_eq!(
            (&*row.http_method, row.http_status, row.http_duration_ns),
            ("GET", 404, 9)
        );
        assert_eq!((row.error_type.as_str(), row.error_chain.len()), ("E", 1));
        assert_eq!((&*row.file, row.line, &*row.function), ("f.rs", 3, "fun"));
    }

    #[test]
    fn rejects_bad_events_and_keeps_the_rest() {
        let mut short_trace = event();
        short_trace.trace_id = vec![1; 5].into();
        let mut no_severity = event();
        no_severity.severity = 0;
        let mut bad_id = event();
        bad_id.id = vec![1; 3].into();
        let mut empty_attribute = event();
        empty_attribute.attributes = vec![proto::Attribute {
            key: "k".into(),
            value: None,
        }];
        let out = transform(batch(vec![
            event(),
            short_trace,
            no_severity,
            bad_id,
            empty_attribute,
            event(),
        ]));
        assert_eq!(out.rows.len(), 2);
        let reasons: Vec<(u32, &str)> = out
            .rejections
            .iter()
            .map(|r| (r.index, r.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            vec![
                (1, "trace_id must be 16 bytes, got 5"),
                (2, "severity is unspecified"),
                (3, "id must be 16 bytes (a UUID), got 3"),
                (4, "attribute \"k\" has no value"),
            ]
        );
        assert_eq!(out.rejections[0].event_id.len(), 16);
    }

    #[test]
    fn normalises_timestamps() {
        let mut missing = event();
        missing.timestamp_unix_nano = 0;
        let mut future = event();
        future.timestamp_unix_nano = (NOW + 2 * MAX_FUTURE_SKEW_NS) as u64;
        let mut ancient = event();
        ancient.timestamp_unix_nano = 1;
        let mut huge = event();
        huge.timestamp_unix_nano = u64::MAX;
        let out = transform(batch(vec![missing, future, ancient, huge]));
        assert!(out.rows.iter().all(|r| r.timestamp_ns == NOW));
        assert!(out.rows[0].attributes_int.is_empty());
        assert_eq!(
            out.rows[1].attributes_int,
            vec![(ORIGINAL_TIMESTAMP_KEY.into(), NOW + 2 * MAX_FUTURE_SKEW_NS)]
        );
        assert_eq!(out.rows[2].attributes_int[0].1, 1);
        // Past i64::MAX (year 2262): the value sent, as decimal text.
        assert!(out.rows[3].attributes_int.is_empty());
        assert_eq!(
            out.rows[3].attributes_string,
            vec![(ORIGINAL_TIMESTAMP_KEY.into(), u64::MAX.to_string().into())]
        );
    }

    #[test]
    fn fills_ids_and_services_that_are_missing() {
        let mut anonymous = event();
        anonymous.id = Default::default();
        let mut own_service = event();
        own_service.service = "billing".into();
        let mut b = batch(vec![anonymous, own_service]);
        b.service.clear();
        let out = transform(b);
        assert_eq!(out.rows[0].id.get_version_num(), 7);
        assert_eq!(&*out.rows[0].service, UNKNOWN_SERVICE);
        assert_eq!(&*out.rows[1].service, "billing");
    }
}
