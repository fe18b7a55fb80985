//! The flat row an event becomes: one column per field, as stored.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use arcstr::ArcStr;

use serde::{Serialize, Serializer};
use uuid::Uuid;

/// One stored event. Nested HTTP, error and call-site messages are
/// flattened into columns; attributes are split into one map per type.
/// Text that rows of a batch share (its service, SDK, attribute keys, call
/// sites, and repeated messages and values) is reference-counted, not
/// copied; `ArcStr` serializes as a plain string. `ArcStr` rather than
/// `Arc<str>`: its empty default is a static with no reference count, while
/// `Arc<str>::default()` shares one process-wide counter that every
/// processor thread would update for each empty column of each row.
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
    pub service: ArcStr,
    pub environment: ArcStr,
    /// `trace`, `debug`, `info`, `warn`, `error` or `fatal`.
    pub severity: &'static str,
    pub message: ArcStr,
    /// Lower-case hex, or empty.
    pub trace_id: String,
    /// Lower-case hex, or empty.
    pub span_id: String,
    pub session_id: String,
    pub attributes_string: Attributes<ArcStr>,
    pub attributes_int: Attributes<i64>,
    pub attributes_float: Attributes<f64>,
    pub attributes_bool: Attributes<bool>,
    pub tags: Vec<String>,
    pub http_method: ArcStr,
    pub http_route: ArcStr,
    pub http_path: String,
    pub http_status: u16,
    pub http_duration_ns: u64,
    pub http_user_agent: String,
    pub http_client_ip: String,
    pub http_request_bytes: u64,
    pub http_response_bytes: u64,
    pub http_host: ArcStr,
    pub http_scheme: ArcStr,
    pub error_type: String,
    pub error_message: String,
    pub error_chain: Vec<String>,
    pub error_backtrace: String,
    pub file: ArcStr,
    pub line: u32,
    pub module: ArcStr,
    pub function: ArcStr,
    pub sdk_name: ArcStr,
    pub sdk_version: ArcStr,
    /// The batch's UUID.
    #[serde(with = "clickhouse::serde::uuid")]
    pub batch_id: Uuid,
    /// The received batch's digest (see [`crate::identity::Digest`]): what
    /// the `batches` ledger is keyed by, so retries are recognised.
    pub batch_digest: u128,
}

impl Row {
    /// Bytes this row owns on the heap, with the allocator's overhead
    /// (text it shares with other rows is counted once per batch by the
    /// decoder instead).
    pub fn heap_bytes(&self) -> usize {
        let text = |s: &String| allocation(s.capacity());
        let strings = |list: &Vec<String>| {
            allocation(list.capacity() * std::mem::size_of::<String>())
                + list.iter().map(text).sum::<usize>()
        };
        text(&self.trace_id)
            + text(&self.span_id)
            + text(&self.session_id)
            + strings(&self.tags)
            + text(&self.http_path)
            + text(&self.http_user_agent)
            + text(&self.http_client_ip)
            + text(&self.error_type)
            + text(&self.error_message)
            + strings(&self.error_chain)
            + text(&self.error_backtrace)
    }
}

/// What an allocation of `bytes` costs: nothing when empty, else the bytes
/// rounded up to 16 plus 16 of the allocator's own.
pub fn allocation(bytes: usize) -> usize {
    if bytes == 0 {
        0
    } else {
        bytes.next_multiple_of(16) + 16
    }
}

/// Key-value pairs of one attribute type.
pub type AttributeList<T> = Vec<(ArcStr, T)>;

/// One row's attributes of one type, in order: a part of a list that the
/// rows of a batch share (one allocation per batch and type instead of one
/// per row), or a list of its own. Reads as a slice; serializes as a
/// sequence of key-value pairs, as a `Vec` of them would.
#[derive(Clone)]
pub struct Attributes<T> {
    /// `None` when empty (no allocation, no reference count).
    list: Option<Arc<AttributeList<T>>>,
    start: u32,
    end: u32,
}

impl<T> Attributes<T> {
    /// Entries `range` of `list`, which rows share.
    ///
    /// # Panics
    /// If `range` is not within `list`.
    pub fn shared(list: &Arc<AttributeList<T>>, range: std::ops::Range<usize>) -> Self {
        assert!(range.start <= range.end && range.end <= list.len());
        Attributes {
            list: Some(list.clone()),
            start: range.start as u32,
            end: range.end as u32,
        }
    }
}

impl<T> Default for Attributes<T> {
    fn default() -> Self {
        Attributes {
            list: None,
            start: 0,
            end: 0,
        }
    }
}

impl<T> From<AttributeList<T>> for Attributes<T> {
    fn from(list: AttributeList<T>) -> Self {
        let end = list.len() as u32;
        Attributes {
            list: (end > 0).then(|| Arc::new(list)),
            start: 0,
            end,
        }
    }
}

impl<T> Deref for Attributes<T> {
    type Target = [(ArcStr, T)];

    fn deref(&self) -> &Self::Target {
        match &self.list {
            Some(list) => &list[self.start as usize..self.end as usize],
            None => &[],
        }
    }
}

impl<T: PartialEq> PartialEq for Attributes<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: PartialEq> PartialEq<AttributeList<T>> for Attributes<T> {
    fn eq(&self, other: &AttributeList<T>) -> bool {
        **self == **other
    }
}

impl<T: fmt::Debug> fmt::Debug for Attributes<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: Serialize> Serialize for Attributes<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_attributes_read_and_serialize_as_their_part_of_the_list() {
        let list = Arc::new(vec![("a".into(), 1), ("b".into(), 2), ("c".into(), 3)]);
        let part = Attributes::shared(&list, 1..3);
        assert_eq!(part, vec![("b".into(), 2), ("c".into(), 3)]);
        let own = Attributes::from(vec![("b".into(), 2), ("c".into(), 3)]);
        assert_eq!(part, own);
        assert_eq!(
            serde_json::to_string(&part).unwrap(),
            serde_json::to_string(&vec![("b", 2), ("c", 3)]).unwrap()
        );
        assert!(Attributes::<bool>::default().is_empty());
    }
}
