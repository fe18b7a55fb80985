//! Reading the ClickHouse store: every query the console runs, each built
//! from fixed SQL plus the query line's parameterised condition, with a
//! time limit and a row limit on every request.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::query::sql::{push_query, Param, Sql};
use crate::query::Query;
use crate::range::TimeRange;

/// Where the store is and how much one request may cost it.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub url: String,
    pub database: String,
    pub user: Option<String>,
    pub password: Option<String>,
    /// ClickHouse's `max_execution_time` for every query.
    pub max_execution_time: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: "http://127.0.0.1:8123".into(),
            database: "aires".into(),
            user: None,
            password: None,
            max_execution_time: Duration::from_secs(10),
        }
    }
}

/// The most rows any one query returns.
pub const MAX_RESULT_ROWS: u64 = 10_000;
/// The most events a search page holds.
pub const MAX_PAGE: u32 = 500;
/// The most events of one trace shown.
pub const MAX_TRACE_EVENTS: u32 = 5_000;
/// The most new events one tail poll returns; past it, the answer says how
/// many matched and the rest are skipped (shown as a rate).
pub const MAX_TAIL: u32 = 200;
/// How far back a tail poll looks before its cursor: an insert may become
/// visible a little after a later one was received.
pub const TAIL_OVERLAP_NS: i64 = 5_000_000_000;
/// The most events re-read from that overlap per poll.
pub const MAX_TAIL_OVERLAP: u32 = 1_000;

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store stopped the query at `max_execution_time`.
    #[error("the query took longer than {0:?}; narrow the time range or the query")]
    Timeout(Duration),
    /// The answer would be longer than [`MAX_RESULT_ROWS`].
    #[error("the answer would hold more than {MAX_RESULT_ROWS} rows; narrow the time range or the query")]
    TooLarge,
    /// The store answered with an error.
    #[error("ClickHouse refused the query: {0}")]
    Refused(String),
    /// The store could not be reached.
    #[error("ClickHouse is unreachable: {0}")]
    Unreachable(String),
    /// The store's answer was not what the query asks for.
    #[error("ClickHouse's answer could not be read: {0}")]
    Unreadable(String),
}

/// The columns of an event in a list (the detail has all of them). The id
/// is listed as text, and listings order by that text (which the page
/// cursor follows), because the alias `id` then stands for it in the rest
/// of the query too.
const LIST_COLUMNS: &str = "toString(toUnixTimestamp64Nano(timestamp)) AS ts, toString(id) AS id, \
     service, environment, severity, message, trace_id, span_id, session_id, http_method, \
     http_route, http_path, http_status, round(http_duration_ns / 1e6, 3) AS duration_ms, \
     error_type, error_message, error_chain";

/// A page of search results, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct SearchPage {
    pub events: Vec<Value>,
    /// Pass as `before` for the next page; absent on the last one.
    pub next: Option<String>,
}

/// Event counts over time per level, as columns (the shape charts take).
#[derive(Debug, Clone, Serialize)]
pub struct Histogram {
    pub step_seconds: i64,
    /// Bucket starts, in Unix seconds.
    pub times: Vec<i64>,
    /// Per level, one count per bucket.
    pub levels: Map<String, Value>,
}

/// What a tail poll found.
#[derive(Debug, Clone, Serialize)]
pub struct TailPage {
    /// New events and the overlap's, oldest first (the client skips ids
    /// it has shown).
    pub events: Vec<Value>,
    /// The cursor for the next poll: the newest `received_at` seen (ns).
    pub cursor: String,
    /// How many were received after the cursor, when more than
    /// [`MAX_TAIL`] (only the newest of them are in `events`).
    pub matched: Option<u64>,
}

/// A series per name over shared bucket times.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub step_seconds: i64,
    pub times: Vec<i64>,
    pub series: Map<String, Value>,
}

/// A position in a newest-first listing: (timestamp in ns, id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub ts: i64,
    pub id: uuid::Uuid,
}

impl Cursor {
    /// Reads `<ns>,<uuid>` as [`Cursor::encode`] writes it.
    pub fn decode(text: &str) -> Option<Cursor> {
        let (ts, id) = text.split_once(',')?;
        Some(Cursor {
            ts: ts.parse().ok()?,
            id: id.parse().ok()?,
        })
    }

    pub fn encode(&self) -> String {
        format!("{},{}", self.ts, self.id)
    }
}

/// The store, over ClickHouse's HTTP interface.
#[derive(Clone)]
pub struct Store {
    client: clickhouse::Client,
    max_execution_time: Duration,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("max_execution_time", &self.max_execution_time)
            .finish_non_exhaustive()
    }
}

impl Store {
    pub fn new(config: &StoreConfig) -> Store {
        let mut client = clickhouse::Client::default()
            .with_url(&config.url)
            .with_database(&config.database);
        if let Some(user) = &config.user {
            client = client.with_user(user);
        }
        if let Some(password) = &config.password {
            client = client.with_password(password);
        }
        Store {
            client,
            max_execution_time: config.max_execution_time,
        }
    }

    /// Runs a statement as the console does (same settings and limits),
    /// returning its rows: what the benchmarks time as the direct query.
    pub async fn run(&self, statement: &Sql) -> Result<Vec<Value>, StoreError> {
        self.rows(&statement.text, &statement.params).await
    }

    /// Runs `sql` with `params`, returning its rows as JSON objects.
    async fn rows(&self, sql: &str, params: &[(String, Param)]) -> Result<Vec<Value>, StoreError> {
        let mut query = self
            .client
            .query(sql)
            .with_setting(
                "max_execution_time",
                self.max_execution_time.as_secs().max(1).to_string(),
            )
            .with_setting("max_result_rows", MAX_RESULT_ROWS.to_string())
            // An answer cut short would look whole: refuse it instead.
            .with_setting("result_overflow_mode", "throw");
        for (name, value) in params {
            query = query.param(name, value);
        }
        let bytes = query
            .fetch_bytes("JSONEachRow")
            .map_err(|e| self.error(e))?
            .collect()
            .await
            .map_err(|e| self.error(e))?;
        let text =
            std::str::from_utf8(&bytes).map_err(|e| StoreError::Unreadable(e.to_string()))?;
        text.lines()
            .filter(|line| !line.is_empty())
            .map(|line| {
                serde_json::from_str(line).map_err(|e| StoreError::Unreadable(e.to_string()))
            })
            .collect()
    }

    fn error(&self, error: clickhouse::error::Error) -> StoreError {
        use clickhouse::error::Error;
        match error {
            Error::BadResponse(text)
                if text.contains("Code: 159") || text.contains("TIMEOUT_EXCEEDED") =>
            {
                StoreError::Timeout(self.max_execution_time)
            }
            Error::BadResponse(text)
                if text.contains("Code: 396") || text.contains("TOO_MANY_ROWS_OR_BYTES") =>
            {
                StoreError::TooLarge
            }
            Error::BadResponse(text) => StoreError::Refused(text),
            Error::Network(e) => StoreError::Unreachable(e.to_string()),
            Error::TimedOut => StoreError::Timeout(self.max_execution_time),
            other => StoreError::Unreadable(other.to_string()),
        }
    }

    /// The condition for `query` within `range`.
    fn condition(query: &Query, range: &TimeRange) -> Sql {
        let mut sql = Sql::default();
        let from = sql.param(Param::Int(range.from_ns));
        let to = sql.param(Param::Int(range.to_ns));
        sql.and(&format!(
            "timestamp >= fromUnixTimestamp64Nano({from}) AND timestamp < fromUnixTimestamp64Nano({to})"
        ));
        push_query(query, &mut sql);
        sql
    }

    /// The statement behind [`Store::search`] (one row more than `limit`,
    /// to know whether a next page exists).
    pub fn search_sql(
        query: &Query,
        range: &TimeRange,
        limit: u32,
        before: Option<&Cursor>,
    ) -> Sql {
        let mut sql = Self::condition(query, range);
        if let Some(cursor) = before {
            let ts = sql.param(Param::Int(cursor.ts));
            let id = sql.param(Param::Str(cursor.id.to_string()));
            sql.and(&format!(
                "(timestamp, toString(id)) < (fromUnixTimestamp64Nano({ts}), {id})"
            ));
        }
        let rows = sql.param(Param::Int(i64::from(limit) + 1));
        sql.text = format!(
            "SELECT {LIST_COLUMNS} FROM events WHERE {} ORDER BY timestamp DESC, toString(id) DESC LIMIT {rows}",
            sql.text
        );
        sql
    }

    /// Matching events, newest first, `limit` at a time, after `before`.
    pub async fn search(
        &self,
        query: &Query,
        range: &TimeRange,
        limit: u32,
        before: Option<&Cursor>,
    ) -> Result<SearchPage, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let statement = Self::search_sql(query, range, limit, before);
        let mut events = self.rows(&statement.text, &statement.params).await?;
        let next = if events.len() > limit as usize {
            events.truncate(limit as usize);
            events.last().and_then(cursor_of).map(|c| c.encode())
        } else {
            None
        };
        Ok(SearchPage { events, next })
    }

    /// The statement behind [`Store::histogram`], in buckets of `step`
    /// seconds.
    pub fn histogram_sql(query: &Query, range: &TimeRange, step: i64) -> Sql {
        let mut sql = Self::condition(query, range);
        let step_p = sql.param(Param::Int(step));
        sql.text = format!(
            "SELECT toUnixTimestamp(toStartOfInterval(timestamp, toIntervalSecond({step_p}))) AS t, \
             severity, count() AS n FROM events WHERE {} GROUP BY t, severity ORDER BY t",
            sql.text,
        );
        sql
    }

    /// Counts of matching events per level over `range`, in about
    /// `buckets` buckets of a round size.
    pub async fn histogram(
        &self,
        query: &Query,
        range: &TimeRange,
        buckets: u32,
    ) -> Result<Histogram, StoreError> {
        let step = range.step_seconds(buckets);
        let statement = Self::histogram_sql(query, range, step);
        let rows = self.rows(&statement.text, &statement.params).await?;
        let times = range.bucket_starts(step);
        let mut levels = Map::new();
        for row in rows {
            let (Some(t), Some(level), Some(n)) = (
                as_i64(&row["t"]),
                row["severity"].as_str(),
                as_i64(&row["n"]),
            ) else {
                continue;
            };
            let Ok(i) = times.binary_search(&t) else {
                continue;
            };
            let column = levels
                .entry(level.to_owned())
                .or_insert_with(|| Value::Array(vec![Value::from(0); times.len()]));
            column[i] = Value::from(n);
        }
        Ok(Histogram {
            step_seconds: step,
            times,
            levels,
        })
    }

    /// One event with every column, by id (`ts_ns`, when known, lets the
    /// store skip other days' parts). Integers wider than a double's 53
    /// bits come as text (ClickHouse quotes the 64-bit ones itself), so
    /// the page shows them exactly.
    pub async fn event(
        &self,
        id: uuid::Uuid,
        ts_ns: Option<i64>,
    ) -> Result<Option<Value>, StoreError> {
        let mut sql = Sql::default();
        let id = sql.param(Param::Str(id.to_string()));
        sql.and(&format!("id = toUUID({id})"));
        if let Some(ts) = ts_ns {
            let ts = sql.param(Param::Int(ts));
            sql.and(&format!("timestamp = fromUnixTimestamp64Nano({ts})"));
        }
        let text = format!(
            "SELECT toString(toUnixTimestamp64Nano(timestamp)) AS ts, \
             toString(toUnixTimestamp64Nano(received_at)) AS received_ns, \
             * EXCEPT (timestamp, received_at, batch_digest), toString(batch_digest) AS batch_digest \
             FROM events WHERE {} LIMIT 1",
            sql.text
        );
        Ok(self.rows(&text, &sql.params).await?.into_iter().next())
    }

    /// Every event of a trace, oldest first, up to [`MAX_TRACE_EVENTS`].
    pub async fn trace(&self, trace_id: &str) -> Result<Vec<Value>, StoreError> {
        let statement = Self::trace_sql(trace_id);
        self.rows(&statement.text, &statement.params).await
    }

    /// The statement behind [`Store::trace`].
    pub fn trace_sql(trace_id: &str) -> Sql {
        let mut sql = Sql::default();
        let id = sql.param(Param::Str(trace_id.to_ascii_lowercase()));
        let rows = sql.param(Param::Int(i64::from(MAX_TRACE_EVENTS)));
        sql.text = format!(
            "SELECT {LIST_COLUMNS} FROM events WHERE trace_id = {id} \
             ORDER BY timestamp, id LIMIT {rows}"
        );
        sql
    }

    /// Events received after `cursor_ns` (the last minute without one):
    /// the newest [`MAX_TAIL`] of them, and those received in the
    /// [`TAIL_OVERLAP_NS`] before the cursor (newest [`MAX_TAIL_OVERLAP`]),
    /// which an insert may have made visible only since the last poll. All
    /// oldest first; the client skips ids it has shown.
    pub async fn tail(
        &self,
        query: &Query,
        cursor_ns: Option<i64>,
    ) -> Result<TailPage, StoreError> {
        let after = cursor_ns.unwrap_or_else(|| crate::range::now_ns() - 60_000_000_000);
        let overlap_from = after.saturating_sub(TAIL_OVERLAP_NS);
        let received = |sql: &mut Sql, from: i64, to: Option<i64>| {
            let from = sql.param(Param::Int(from));
            sql.and(&format!("received_at > fromUnixTimestamp64Nano({from})"));
            if let Some(to) = to {
                let to = sql.param(Param::Int(to));
                sql.and(&format!("received_at <= fromUnixTimestamp64Nano({to})"));
            }
            push_query(query, sql);
        };
        let select = |sql: &mut Sql, limit: u32| {
            let rows = sql.param(Param::Int(i64::from(limit)));
            format!(
                "SELECT {LIST_COLUMNS}, toString(toUnixTimestamp64Nano(received_at)) AS received_ns \
                 FROM events WHERE {} ORDER BY received_at DESC, id DESC LIMIT {rows}",
                sql.text
            )
        };
        let mut fresh = Sql::default();
        received(&mut fresh, after, None);
        let condition = fresh.clone();
        let text = select(&mut fresh, MAX_TAIL + 1);
        let mut events = self.rows(&text, &fresh.params).await?;
        let cursor = events
            .first()
            .and_then(|e| e["received_ns"].as_str())
            .and_then(|ns| ns.parse::<i64>().ok())
            .unwrap_or(after)
            .max(after);
        let matched = if events.len() > MAX_TAIL as usize {
            events.truncate(MAX_TAIL as usize);
            let count = format!("SELECT count() AS n FROM events WHERE {}", condition.text);
            let rows = self.rows(&count, &condition.params).await?;
            rows.first().and_then(|r| as_i64(&r["n"])).map(|n| n as u64)
        } else {
            None
        };
        if cursor_ns.is_some() {
            let mut late = Sql::default();
            received(&mut late, overlap_from, Some(after));
            let text = select(&mut late, MAX_TAIL_OVERLAP);
            events.extend(self.rows(&text, &late.params).await?);
        }
        events.reverse();
        Ok(TailPage {
            events,
            cursor: cursor.to_string(),
            matched,
        })
    }

    /// Events and errors per service over time, from the
    /// `error_rate_per_minute` view.
    pub async fn error_rate(&self, range: &TimeRange, buckets: u32) -> Result<Series, StoreError> {
        let step = range.step_seconds(buckets).max(60);
        let mut sql = Sql::default();
        let text = format!(
            "SELECT service, toUnixTimestamp(toStartOfInterval(minute, toIntervalSecond({step}))) AS t, \
             sum(total) AS total, sum(errors) AS errors FROM error_rate_per_minute \
             WHERE minute >= toDateTime(intDiv({from}, 1000000000)) AND minute < toDateTime(intDiv({to}, 1000000000)) \
             GROUP BY service, t ORDER BY t",
            step = sql.param(Param::Int(step)),
            from = sql.param(Param::Int(range.from_ns)),
            to = sql.param(Param::Int(range.to_ns)),
        );
        let rows = self.rows(&text, &sql.params).await?;
        let times = range.bucket_starts(step);
        let mut series = Map::new();
        for row in rows {
            let (Some(service), Some(t), Some(total), Some(errors)) = (
                row["service"].as_str(),
                as_i64(&row["t"]),
                as_i64(&row["total"]),
                as_i64(&row["errors"]),
            ) else {
                continue;
            };
            let Ok(i) = times.binary_search(&t) else {
                continue;
            };
            let entry = series.entry(service.to_owned()).or_insert_with(|| {
                serde_json::json!({
                    "total": vec![0; times.len()],
                    "errors": vec![0; times.len()],
                    "rate": vec![Value::Null; times.len()],
                })
            });
            entry["total"][i] = Value::from(total);
            entry["errors"][i] = Value::from(errors);
            if total > 0 {
                entry["rate"][i] = Value::from(errors as f64 / total as f64);
            }
        }
        Ok(Series {
            step_seconds: step,
            times,
            series,
        })
    }

    /// p50/p95/p99 request latency (ms) per route over time, from the
    /// `http_latency_per_minute` view, for one service or all.
    pub async fn latency(
        &self,
        range: &TimeRange,
        buckets: u32,
        service: Option<&str>,
    ) -> Result<Series, StoreError> {
        let step = range.step_seconds(buckets).max(60);
        let mut sql = Sql::default();
        let step_p = sql.param(Param::Int(step));
        let from = sql.param(Param::Int(range.from_ns));
        let to = sql.param(Param::Int(range.to_ns));
        sql.and(&format!(
            "minute >= toDateTime(intDiv({from}, 1000000000)) AND minute < toDateTime(intDiv({to}, 1000000000))"
        ));
        if let Some(service) = service {
            let s = sql.param(Param::Str(service.to_owned()));
            sql.and(&format!("service = {s}"));
        }
        let text = format!(
            "SELECT route, toUnixTimestamp(toStartOfInterval(minute, toIntervalSecond({step_p}))) AS t, \
             sum(requests) AS requests, quantilesMerge(0.5, 0.95, 0.99)(duration_ms) AS q \
             FROM http_latency_per_minute WHERE {} GROUP BY route, t ORDER BY t",
            sql.text
        );
        let rows = self.rows(&text, &sql.params).await?;
        let times = range.bucket_starts(step);
        let mut series = Map::new();
        for row in rows {
            let (Some(route), Some(t), Some(q)) = (
                row["route"].as_str(),
                as_i64(&row["t"]),
                row["q"].as_array(),
            ) else {
                continue;
            };
            let Ok(i) = times.binary_search(&t) else {
                continue;
            };
            let entry = series.entry(route.to_owned()).or_insert_with(|| {
                let empty = vec![Value::Null; times.len()];
                serde_json::json!({
                    "requests": vec![0; times.len()],
                    "p50": empty, "p95": empty, "p99": empty,
                })
            });
            entry["requests"][i] = row["requests"].clone();
            for (k, name) in ["p50", "p95", "p99"].iter().enumerate() {
                entry[*name][i] = q.get(k).cloned().unwrap_or(Value::Null);
            }
        }
        Ok(Series {
            step_seconds: step,
            times,
            series,
        })
    }
}

/// ClickHouse writes 64-bit integers as JSON strings.
fn as_i64(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

fn cursor_of(event: &Value) -> Option<Cursor> {
    Some(Cursor {
        ts: event["ts"].as_str()?.parse().ok()?,
        id: event["id"].as_str()?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stores_refusals_are_told_apart() {
        use clickhouse::error::Error;
        let store = Store::new(&StoreConfig::default());
        let said = |text: &str| store.error(Error::BadResponse(text.into()));
        assert!(matches!(
            said("Code: 159. DB::Exception: Timeout exceeded: elapsed 10.2 seconds. (TIMEOUT_EXCEEDED)"),
            StoreError::Timeout(_)
        ));
        assert!(matches!(
            said("Code: 396. DB::Exception: Limit for result exceeded, max rows: 10.00 thousand. (TOO_MANY_ROWS_OR_BYTES)"),
            StoreError::TooLarge
        ));
        assert!(matches!(
            said("Code: 60. DB::Exception: Unknown table expression identifier 'events'. (UNKNOWN_TABLE)"),
            StoreError::Refused(_)
        ));
    }

    #[test]
    fn a_cursor_reads_back_what_it_wrote_and_refuses_the_rest() {
        let cursor = Cursor {
            ts: 1_765_000_000_123_456_789,
            id: uuid::Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0001),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        for bad in ["", "1", "x,y", "1,not-a-uuid", "1;2"] {
            assert_eq!(Cursor::decode(bad), None, "{bad:?}");
        }
    }
}
