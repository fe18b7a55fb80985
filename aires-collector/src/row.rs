//! The flat row an event becomes: one column per field, as stored.

use std::sync::Arc;

use serde::Serialize;
use uuid::Uuid;

/// One stored event. Nested HTTP, error and call-site messages are
/// flattened into columns; attributes are split into one map per type.
/// Text that rows of a batch share (its service, SDK, attribute keys, call
/// sites, and repeated messages and values) is reference-counted, not
/// copied; `Arc<str>` serializes as a plain string.
///
/// Field names are the columns of `sql/migrations/0001_events.sql`; the
/// ClickHouse sink writes this type as `RowBinaryWithNamesAndTypes`, and the
/// client checks it against the table's schema.
#[derive(Clone, Debug, Default, PartialEq, Serialize, clickhouse::Row)]
pub struct Row {
    /// Nanoseconds since the Unix epoch (after normalisation, see
    /// `transform`); `DateTime64(9)`.
    #[serde(rename = "timestamp")]
    pub timestamp_ns: i64,
    /// When the collector received the batch, nanoseconds since the epoch.
    #[serde(rename = "received_at")]
    pub received_ns: i64,
    /// The event's UUID v7.
    #[serde(with = "clickhouse::serde::uuid")]
    pub id: Uuid,
    /// Shared by the rows of one batch unless an event names its own.
    pub service: Arc<str>,
    pub environment: Arc<str>,
    /// `trace`, `debug`, `info`, `warn`, `error` or `fatal`.
    pub severity: &'static str,
    pub message: Arc<str>,
    /// Lower-case hex, or empty.
    pub trace_id: String,
    /// Lower-case hex, or empty.
    pub span_id: String,
    pub session_id: String,
    pub attributes_string: Vec<(Arc<str>, Arc<str>)>,
    pub attributes_int: Vec<(Arc<str>, i64)>,
    pub attributes_float: Vec<(Arc<str>, f64)>,
    pub attributes_bool: Vec<(Arc<str>, bool)>,
    pub tags: Vec<String>,
    pub http_method: Arc<str>,
    pub http_route: Arc<str>,
    pub http_path: String,
    pub http_status: u16,
    pub http_duration_ns: u64,
    pub http_user_agent: String,
    pub http_client_ip: String,
    pub http_request_bytes: u64,
    pub http_response_bytes: u64,
    pub http_host: Arc<str>,
    pub http_scheme: Arc<str>,
    pub error_type: String,
    pub error_message: String,
    pub error_chain: Vec<String>,
    pub error_backtrace: String,
    pub file: Arc<str>,
    pub line: u32,
    pub module: Arc<str>,
    pub function: Arc<str>,
    pub sdk_name: Arc<str>,
    pub sdk_version: Arc<str>,
    /// The batch's UUID.
    #[serde(with = "clickhouse::serde::uuid")]
    pub batch_id: Uuid,
}
