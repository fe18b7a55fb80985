//! OTLP/JSON as the proto3 JSON mapping allows it to be written, made into
//! the form `opentelemetry-proto`'s serde types read. OTLP/JSON is that
//! mapping (with hex ids and integer enums); the SDKs that write it differ
//! where the mapping gives a choice, and one value the types cannot read
//! would otherwise refuse the whole request:
//!
//! - `null` for any field: the field's default (it is left out);
//! - a double as a string: `"1.5"`, and `"NaN"`, `"Infinity"`, `"-Infinity"`
//!   (Go's and Java's encoders write these); a non-finite double has no
//!   JSON number, so it is kept as its text (a string value);
//! - bytes in standard or URL-safe base64, with or without padding.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use serde_json::Value;

/// Reads an OTLP/JSON `ExportLogsServiceRequest`.
pub fn request(body: &[u8]) -> Result<ExportLogsServiceRequest, String> {
    let mut value: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if !value.is_object() {
        return Err("the body is not a JSON object".into());
    }
    normalise(&mut value);
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// Rewrites, throughout `value`, what the proto3 JSON mapping allows and
/// the serde types do not read.
fn normalise(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            fields.retain(|_, field| !field.is_null());
            if let Some(Value::String(text)) = fields.get("doubleValue") {
                let text = text.clone();
                fields.remove("doubleValue");
                match text.trim().parse::<f64>() {
                    Ok(number) if number.is_finite() => {
                        fields.insert("doubleValue".into(), number.into());
                    }
                    // "NaN", "Infinity", "-Infinity" (f64's parser takes
                    // these too): no JSON number says them.
                    Ok(_) => {
                        fields.insert("stringValue".into(), Value::String(text));
                    }
                    // Not a number: left for the types to refuse.
                    Err(_) => {
                        fields.insert("doubleValue".into(), Value::String(text));
                    }
                }
            }
            if let Some(Value::String(text)) = fields.get_mut("bytesValue") {
                if let Some(bytes) = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
                    .iter()
                    .find_map(|engine| engine.decode(text.as_bytes()).ok())
                {
                    *text = STANDARD.encode(bytes);
                }
            }
            for field in fields.values_mut() {
                normalise(field);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalise),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as V;

    fn body_of(record: &str) -> Option<V> {
        let json =
            format!(r#"{{"resourceLogs": [{{"scopeLogs": [{{"logRecords": [{record}]}}]}}]}}"#);
        let request = request(json.as_bytes()).expect("reads");
        request.resource_logs[0].scope_logs[0].log_records[0]
            .body
            .clone()
            .and_then(|body| body.value)
    }

    #[test]
    fn doubles_as_strings_bytes_in_any_base64_and_nulls_are_read() {
        assert_eq!(
            body_of(r#"{"body": {"doubleValue": 1.5}}"#),
            Some(V::DoubleValue(1.5))
        );
        assert_eq!(
            body_of(r#"{"body": {"doubleValue": "1.5"}}"#),
            Some(V::DoubleValue(1.5))
        );
        for text in ["NaN", "Infinity", "-Infinity"] {
            let record = format!(r#"{{"body": {{"doubleValue": "{text}"}}}}"#);
            assert_eq!(body_of(&record), Some(V::StringValue(text.into())));
        }
        for encoded in ["AAEC/w==", "AAEC/w", "AAEC_w==", "AAEC_w"] {
            let record = format!(r#"{{"body": {{"bytesValue": "{encoded}"}}}}"#);
            assert_eq!(
                body_of(&record),
                Some(V::BytesValue(vec![0, 1, 2, 255])),
                "{encoded}"
            );
        }
        assert_eq!(body_of(r#"{"body": {"doubleValue": null}}"#), None);
        assert_eq!(
            body_of(r#"{"traceId": null, "spanId": null, "body": {"stringValue": "x"}}"#),
            Some(V::StringValue("x".into()))
        );
    }

    #[test]
    fn what_is_not_otlp_json_is_still_refused() {
        let record = |r: &str| {
            request(
                format!(r#"{{"resourceLogs": [{{"scopeLogs": [{{"logRecords": [{r}]}}]}}]}}"#)
                    .as_bytes(),
            )
        };
        assert!(record(r#"{"body": {"doubleValue": "one and a half"}}"#).is_err());
        assert!(record(r#"{"severityNumber": "SEVERITY_NUMBER_INFO"}"#).is_err());
        assert!(request(b"[]").is_err());
        assert!(request(b"{\"resourceLogs\": 7}").is_err());
    }
}
