//! JSON rendering of decoded events for the stdout transport.

use aires_proto::v1 as proto;
use serde_json::{json, Map, Value as Json};

/// One event as a JSON object. Ids are hex, the timestamp is RFC 3339 with
/// nanoseconds, and attributes keep their JSON type. JSON has no NaN or
/// infinity, so those floats are written as proto3's JSON mapping writes
/// them: `"NaN"`, `"Infinity"`, `"-Infinity"`.
pub(crate) fn event_to_json(batch: &proto::EventBatch, event: &proto::Event) -> Json {
    let mut out = Map::new();
    out.insert("ts".into(), rfc3339_nanos(event.timestamp_unix_nano).into());
    out.insert("level".into(), severity_name(event.severity).into());
    out.insert("message".into(), event.message.clone().into());
    let service = if event.service.is_empty() {
        &batch.service
    } else {
        &event.service
    };
    out.insert("service".into(), service.clone().into());
    let environment = if event.environment.is_empty() {
        &batch.environment
    } else {
        &event.environment
    };
    out.insert("environment".into(), environment.clone().into());
    out.insert("id".into(), uuid_text(&event.id).into());
    for (key, bytes) in [("trace_id", &event.trace_id), ("span_id", &event.span_id)] {
        if !bytes.is_empty() {
            out.insert(key.into(), hex(bytes).into());
        }
    }
    if !event.session_id.is_empty() {
        out.insert("session_id".into(), event.session_id.clone().into());
    }
    if !event.attributes.is_empty() {
        let fields: Map<String, Json> = event
            .attributes
            .iter()
            .map(|a| (a.key.clone(), attribute_json(a)))
            .collect();
        out.insert("fields".into(), fields.into());
    }
    if !event.tags.is_empty() {
        out.insert("tags".into(), event.tags.clone().into());
    }
    if let Some(http) = &event.http {
        let mut h = Map::new();
        for (key, text) in [
            ("method", &http.method),
            ("route", &http.route),
            ("path", &http.path),
            ("user_agent", &http.user_agent),
            ("client_ip", &http.client_ip),
            ("host", &http.host),
            ("scheme", &http.scheme),
        ] {
            if !text.is_empty() {
                h.insert(key.into(), text.clone().into());
            }
        }
        for (key, number) in [
            ("status", u64::from(http.status_code)),
            ("request_bytes", http.request_bytes),
            ("response_bytes", http.response_bytes),
        ] {
            if number != 0 {
                h.insert(key.into(), number.into());
            }
        }
        if http.duration_nanos != 0 {
            h.insert(
                "duration_ms".into(),
                (http.duration_nanos as f64 / 1e6).into(),
            );
        }
        out.insert("http".into(), h.into());
    }
    if let Some(error) = &event.error {
        let mut e = json!({ "type": error.r#type, "message": error.message, "chain": error.chain });
        if !error.backtrace.is_empty() {
            e["backtrace"] = error.backtrace.clone().into();
        }
        out.insert("error".into(), e);
    }
    if let Some(site) = &event.call_site {
        out.insert("file".into(), site.file.clone().into());
        out.insert("line".into(), site.line.into());
        out.insert("module".into(), site.module.clone().into());
    }
    Json::Object(out)
}

fn attribute_json(attribute: &proto::Attribute) -> Json {
    use proto::attribute::Value;
    match &attribute.value {
        Some(Value::StringValue(s)) => s.clone().into(),
        Some(Value::IntValue(v)) => (*v).into(),
        Some(Value::UintValue(v)) => (*v).into(),
        Some(Value::DoubleValue(v)) => serde_json::Number::from_f64(*v)
            .map(Json::Number)
            .unwrap_or_else(|| non_finite_text(*v).into()),
        Some(Value::BoolValue(v)) => (*v).into(),
        None => Json::Null,
    }
}

fn non_finite_text(v: f64) -> &'static str {
    if v.is_nan() {
        "NaN"
    } else if v > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

pub(crate) fn severity_name(severity: i32) -> &'static str {
    match proto::Severity::try_from(severity) {
        Ok(proto::Severity::Trace) => "trace",
        Ok(proto::Severity::Debug) => "debug",
        Ok(proto::Severity::Info) => "info",
        Ok(proto::Severity::Warn) => "warn",
        Ok(proto::Severity::Error) => "error",
        Ok(proto::Severity::Fatal) => "fatal",
        _ => "unspecified",
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn uuid_text(bytes: &[u8]) -> String {
    match <[u8; 16]>::try_from(bytes) {
        Ok(b) => crate::Uuid7::from_bytes(b).to_string(),
        Err(_) => hex(bytes),
    }
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` for nanoseconds since the Unix epoch.
pub(crate) fn rfc3339_nanos(unix_nanos: u64) -> String {
    let secs = unix_nanos / 1_000_000_000;
    let nanos = unix_nanos % 1_000_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_timestamps_as_rfc3339() {
        assert_eq!(rfc3339_nanos(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339_nanos(1_709_251_199_123_456_789),
            "2024-02-29T23:59:59.123456789Z"
        );
        assert_eq!(
            rfc3339_nanos(951_782_400_000_000_001),
            "2000-02-29T00:00:00.000000001Z"
        );
    }

    #[test]
    fn renders_typed_fields() {
        let event = proto::Event {
            severity: proto::Severity::Warn as i32,
            message: "slow".into(),
            attributes: vec![
                proto::Attribute {
                    key: "ms".into(),
                    value: Some(proto::attribute::Value::IntValue(812)),
                },
                proto::Attribute {
                    key: "ratio".into(),
                    value: Some(proto::attribute::Value::DoubleValue(f64::NAN)),
                },
                proto::Attribute {
                    key: "up".into(),
                    value: Some(proto::attribute::Value::DoubleValue(f64::INFINITY)),
                },
                proto::Attribute {
                    key: "down".into(),
                    value: Some(proto::attribute::Value::DoubleValue(f64::NEG_INFINITY)),
                },
            ],
            ..Default::default()
        };
        let batch = proto::EventBatch {
            service: "api".into(),
            ..Default::default()
        };
        let json = event_to_json(&batch, &event);
        assert_eq!(json["level"], "warn");
        assert_eq!(json["service"], "api");
        assert_eq!(json["fields"]["ms"], 812);
        assert_eq!(json["fields"]["ratio"], "NaN");
        assert_eq!(json["fields"]["up"], "Infinity");
        assert_eq!(json["fields"]["down"], "-Infinity");
    }
}
