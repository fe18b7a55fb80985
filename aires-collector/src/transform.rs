//! Transform: a decoded `aires.v1.EventBatch` into flat [`Row`]s, event by
//! event. An invalid event is rejected with a reason; the others are kept.
//!
//! The collector decodes requests straight into rows with
//! [`crate::decode`], which follows these rules; this transform of prost's
//! structs is their reference (the decoder's tests compare the two).
//!
//! Rules:
//! - **Ids**: `id` is 16 bytes or empty (then the collector assigns a UUID
//!   v7); `trace_id` is 16 bytes or empty; `span_id` 8 bytes or empty. Any
//!   other length rejects the event. Ids are stored as lower-case hex
//!   (`id` and `batch_id` as hyphenated UUIDs).
//! - **Severity**: 1..=6 becomes `trace`..`fatal`; 0 (unspecified) or an
//!   unknown number rejects the event.
//! - **Timestamps**: 0 means "unknown" and becomes the receive time. A
//!   timestamp more than [`MAX_FUTURE_SKEW_NS`] after the receive time, or
//!   before 2000-01-01, is out of range: it is replaced by the receive time
//!   and the original is kept in the int attribute
//!   `aires.original_timestamp_ns`.
//! - **Service, environment**: the event's own, else the batch's, else
//!   `unknown_service` / empty.
//! - **Attributes**: split by type into string, int, float and bool maps.
//!   A `uint` value that fits `i64` goes to the int map; a larger one to the
//!   string map as decimal text. An attribute with an empty key or no value
//!   rejects the event.
//! - Nested HTTP, error and call-site messages become columns.

use arcstr::ArcStr;

use aires_proto::v1 as proto;
use uuid::Uuid;

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
}

/// Transforms every event of `batch`, received at `received_ns`.
pub fn transform_batch(batch: proto::EventBatch, received_ns: i64) -> Transformed {
    let context = BatchContext::new(
        &batch.batch_id,
        batch.sdk_name.into(),
        batch.sdk_version.into(),
        &batch.service,
        batch.environment.into(),
        received_ns,
    );
    let mut out = Transformed {
        rows: Vec::with_capacity(batch.events.len()),
        rejections: Vec::new(),
    };
    for (index, event) in batch.events.into_iter().enumerate() {
        let event_id = event.id.clone();
        // Each row is filled where it stays (a row is several hundred
        // bytes; building it aside and pushing it would copy it).
        out.rows.push(Row::default());
        let row = out.rows.last_mut().expect("just pushed");
        if let Err(reason) = fill_row(row, event, &context) {
            out.rows.pop();
            out.rejections.push(proto::Rejection {
                index: index as u32,
                event_id,
                reason,
            });
        }
    }
    // Rows wait in the batcher until stored: do not keep room sized for
    // events that were refused.
    if out.rows.capacity() > 2 * out.rows.len() + 16 {
        out.rows.shrink_to_fit();
    }
    out
}

/// What every row of a batch shares. The decoder into rows uses it too.
pub(crate) struct BatchContext {
    pub(crate) batch_id: Uuid,
    pub(crate) sdk_name: ArcStr,
    pub(crate) sdk_version: ArcStr,
    /// The batch's service, or [`UNKNOWN_SERVICE`].
    pub(crate) service: ArcStr,
    pub(crate) environment: ArcStr,
    pub(crate) received_ns: i64,
}

impl BatchContext {
    pub(crate) fn new(
        batch_id: &[u8],
        sdk_name: ArcStr,
        sdk_version: ArcStr,
        service: &str,
        environment: ArcStr,
        received_ns: i64,
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
        }
    }

    /// The event's id: its own (16 bytes), or a new one when it has none.
    pub(crate) fn event_id(&self, id: &[u8]) -> Result<Uuid, String> {
        match id.len() {
            16 => Ok(Uuid::from_slice(id).expect("length checked")),
            0 => Ok(Uuid::from_bytes(new_uuid_v7(self.received_ns))),
            n => Err(format!("id must be 16 bytes (a UUID), got {n}")),
        }
    }

    /// Fills the columns every row of the batch has alike.
    pub(crate) fn fill_batch_columns(&self, row: &mut Row) {
        row.received_ns = self.received_ns;
        row.sdk_name = self.sdk_name.clone();
        row.sdk_version = self.sdk_version.clone();
        row.batch_id = self.batch_id;
    }
}

/// An HTTP status code from the wire's `u32`.
pub(crate) fn http_status(status: u32) -> Result<u16, String> {
    u16::try_from(status).map_err(|_| format!("http status {status} is not a status code"))
}

/// Fills `row` (a default row) from `event`, or says why the event is
/// refused.
fn fill_row(row: &mut Row, event: proto::Event, context: &BatchContext) -> Result<(), String> {
    let id = context.event_id(&event.id)?;
    let trace_id = check_len(&event.trace_id, 16, "trace_id")?;
    let span_id = check_len(&event.span_id, 8, "span_id")?;
    let severity = severity_name(event.severity)?;

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
    let (timestamp_ns, original) =
        normalise_timestamp(event.timestamp_unix_nano, context.received_ns);
    row.timestamp_ns = timestamp_ns;
    let (mut strings, mut ints, mut floats, mut bools) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    if let Some(original) = original {
        ints.push((ORIGINAL_TIMESTAMP_KEY.into(), original));
    }
    for attribute in event.attributes {
        if attribute.key.is_empty() {
            return Err("an attribute has an empty key".into());
        }
        use proto::attribute::Value;
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
            None => return Err(format!("attribute {:?} has no value", attribute.key)),
        }
    }
    row.attributes_string = strings.into();
    row.attributes_int = ints.into();
    row.attributes_float = floats.into();
    row.attributes_bool = bools.into();
    if let Some(http) = event.http {
        row.http_method = http.method.into();
        row.http_route = http.route.into();
        row.http_path = http.path;
        row.http_status = http_status(http.status_code)?;
        row.http_duration_ns = http.duration_nanos;
        row.http_user_agent = http.user_agent;
        row.http_client_ip = http.client_ip;
        row.http_request_bytes = http.request_bytes;
        row.http_response_bytes = http.response_bytes;
        row.http_host = http.host.into();
        row.http_scheme = http.scheme.into();
    }
    if let Some(error) = event.error {
        row.error_type = error.r#type;
        row.error_message = error.message;
        row.error_chain = error.chain;
        row.error_backtrace = error.backtrace;
    }
    if let Some(site) = event.call_site {
        row.file = site.file.into();
        row.line = site.line;
        row.module = site.module.into();
        row.function = site.function.into();
    }
    Ok(())
}

/// The timestamp to store for `timestamp` received at `received_ns`, and
/// the original when it was out of range.
pub(crate) fn normalise_timestamp(timestamp: u64, received_ns: i64) -> (i64, Option<i64>) {
    if timestamp == 0 {
        return (received_ns, None);
    }
    match i64::try_from(timestamp) {
        Ok(ts)
            if ts >= MIN_TIMESTAMP_NS && ts <= received_ns.saturating_add(MAX_FUTURE_SKEW_NS) =>
        {
            (ts, None)
        }
        _ => (
            received_ns,
            Some(i64::try_from(timestamp).unwrap_or(i64::MAX)),
        ),
    }
}

/// The event's own value, else the batch's (shared, not copied).
fn own_or(own: String, batch: &ArcStr) -> ArcStr {
    if own.is_empty() {
        batch.clone()
    } else {
        own.into()
    }
}

pub(crate) fn check_len(bytes: &[u8], expected: usize, name: &str) -> Result<String, String> {
    match bytes.len() {
        0 => Ok(String::new()),
        n if n == expected => Ok(hex(bytes)),
        n => Err(format!("{name} must be {expected} bytes, got {n}")),
    }
}

pub(crate) fn severity_name(severity: i32) -> Result<&'static str, String> {
    Ok(match proto::Severity::try_from(severity) {
        Ok(proto::Severity::Trace) => "trace",
        Ok(proto::Severity::Debug) => "debug",
        Ok(proto::Severity::Info) => "info",
        Ok(proto::Severity::Warn) => "warn",
        Ok(proto::Severity::Error) => "error",
        Ok(proto::Severity::Fatal) => "fatal",
        Ok(proto::Severity::Unspecified) => return Err("severity is unspecified".into()),
        Err(_) => return Err(format!("unknown severity {severity}")),
    })
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
    out
}

/// A UUID v7 for events that came without an id (random bits from the
/// standard library's hasher keys, which are seeded from the OS).
pub(crate) fn new_uuid_v7(unix_nanos: i64) -> [u8; 16] {
    use std::hash::{BuildHasher, Hasher};
    let random = |salt: u64| {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(salt);
        hasher.finish()
    };
    let millis = (unix_nanos.max(0) / 1_000_000) as u128;
    let value = (millis << 80)
        | (0x7_u128 << 76)
        | (u128::from(random(1) & 0xfff) << 64)
        | (0b10_u128 << 62)
        | u128::from(random(2) & ((1 << 62) - 1));
    value.to_be_bytes()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
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

    /// A batch of `events` with every batch-level field set (the decoder's
    /// tests use it too).
    pub(crate) fn batch(events: Vec<proto::Event>) -> proto::EventBatch {
        proto::EventBatch {
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
        let out = transform_batch(batch(vec![e]), NOW);
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
        let out = transform_batch(
            batch(vec![
                event(),
                short_trace,
                no_severity,
                bad_id,
                empty_attribute,
                event(),
            ]),
            NOW,
        );
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
        let out = transform_batch(batch(vec![missing, future, ancient, huge]), NOW);
        assert!(out.rows.iter().all(|r| r.timestamp_ns == NOW));
        assert!(out.rows[0].attributes_int.is_empty());
        assert_eq!(
            out.rows[1].attributes_int,
            vec![(ORIGINAL_TIMESTAMP_KEY.into(), NOW + 2 * MAX_FUTURE_SKEW_NS)]
        );
        assert_eq!(out.rows[3].attributes_int[0].1, i64::MAX);
    }

    #[test]
    fn fills_ids_and_services_that_are_missing() {
        let mut anonymous = event();
        anonymous.id = Default::default();
        let mut own_service = event();
        own_service.service = "billing".into();
        let mut b = batch(vec![anonymous, own_service]);
        b.service.clear();
        let out = transform_batch(b, NOW);
        assert_eq!(out.rows[0].id.get_version_num(), 7);
        assert_eq!(&*out.rows[0].service, UNKNOWN_SERVICE);
        assert_eq!(&*out.rows[1].service, "billing");
    }
}
