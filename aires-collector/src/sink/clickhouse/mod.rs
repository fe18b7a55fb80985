//! The ClickHouse sink: one `INSERT` per pipeline batch over ClickHouse's
//! HTTP interface, through the official `clickhouse` crate (pooled
//! keep-alive connections, LZ4-compressed `RowBinaryWithNamesAndTypes`,
//! the row type checked against the table's schema).
//!
//! - Each insert carries `insert_deduplication_token` = the batch's token
//!   (the same on every retry of the batch) and
//!   `deduplicate_blocks_in_dependent_materialized_views = 1`; with the
//!   tables' `non_replicated_deduplication_window`, a retried insert is
//!   stored once in `events` and counted once in the views.
//! - Failures are classified in [`errors`]: connection refused, timeouts,
//!   5xx, "too many parts" and the like are transient (the pipeline
//!   retries, clients wait); a schema mismatch, a wrong password, an
//!   unknown table are permanent.
//! - No SQL is built from event data: rows travel as RowBinary, and only
//!   the configured database, table and TTL reach SQL text.
//! - Every insert also fills the `batches` ledger (a materialized view
//!   over the same insert, so a batch's rows and its ledger entry are
//!   stored and deduplicated together): one row per received batch, keyed
//!   by its digest. [`Sink::stored_batches`] looks retries up there.
//! - Migrations run at startup unless disabled (see [`migrations`]).

mod errors;
pub mod migrations;

use std::time::Duration;

use clickhouse::Client;

use super::{LookupFuture, RowBatch, Sink, SinkError, SinkFuture};
use crate::identity::Digest;
use crate::row::Row;

pub use errors::classify;

/// Where and how to store rows.
#[derive(Clone, Debug)]
pub struct ClickHouseConfig {
    /// `http://host:8123` of the ClickHouse HTTP interface.
    pub url: String,
    pub database: String,
    /// The table inserts go to: `events`, or a Distributed table in front of
    /// it (see `sql/cluster/`).
    pub table: String,
    /// The ledger of stored batches retries are looked up in: `batches`,
    /// or a Distributed table in front of it.
    pub ledger_table: String,
    pub user: String,
    pub password: String,
    /// Days events are kept (the tables' TTL, set by migrations).
    pub ttl_days: u32,
    /// Whether to apply `sql/migrations` at startup.
    pub migrate: bool,
    /// Time allowed for one insert to be sent and answered.
    pub timeout: Duration,
}

/// Stores row batches in ClickHouse.
#[derive(Clone)]
pub struct ClickHouseSink {
    client: Client,
    table: String,
    ledger_table: String,
    timeout: Duration,
}

impl std::fmt::Debug for ClickHouseSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseSink")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl ClickHouseSink {
    /// Connects (lazily: the pool opens connections as needed) and, if
    /// configured, applies the migrations. A transient failure (ClickHouse
    /// still starting, say) is retried with backoff for up to
    /// `startup_wait`; a permanent one (a wrong password) fails at once.
    pub async fn start_waiting(
        config: &ClickHouseConfig,
        startup_wait: Duration,
    ) -> Result<Self, SinkError> {
        let deadline = tokio::time::Instant::now() + startup_wait;
        let mut backoff = Duration::from_millis(200);
        loop {
            match Self::start(config).await {
                Err(error)
                    if error.kind == super::SinkErrorKind::Transient
                        && tokio::time::Instant::now() + backoff < deadline =>
                {
                    tracing::warn!("ClickHouse not ready ({error}); retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                result => return result,
            }
        }
    }

    /// Connects and, if configured, applies the migrations, once.
    pub async fn start(config: &ClickHouseConfig) -> Result<Self, SinkError> {
        let server = Client::default()
            .with_url(&config.url)
            .with_user(&config.user)
            .with_password(&config.password)
            .with_compression(clickhouse::Compression::Lz4);
        // The ledger's name reaches SQL text.
        migrations::check_identifier(&config.ledger_table)?;
        if config.migrate {
            // Without a default database: the first migration creates it.
            migrations::apply(&server, &config.database, config.ttl_days).await?;
        }
        Ok(ClickHouseSink {
            client: server.with_database(&config.database),
            table: config.table.clone(),
            ledger_table: config.ledger_table.clone(),
            timeout: config.timeout,
        })
    }

    async fn insert(&self, batch: &RowBatch) -> Result<(), clickhouse::error::Error> {
        // A server that hangs without refusing the connection must not
        // stall the pipeline: past the timeout, the write fails as
        // transient. The first insert (and the first after a schema
        // change) looks the table's schema up, a query the insert's own
        // timeouts do not cover.
        let insert = tokio::time::timeout(self.timeout, self.client.insert::<Row>(&self.table))
            .await
            .map_err(|_| clickhouse::error::Error::TimedOut)??;
        let mut insert = insert
            .with_timeouts(Some(self.timeout), Some(self.timeout))
            .with_setting("insert_deduplication_token", batch.token())
            .with_setting("deduplicate_blocks_in_dependent_materialized_views", "1")
            // Events may span many days (the transform accepts any time
            // since 2000); the default limit of 100 partitions per insert
            // would fail such a batch on every retry and stall the rest.
            .with_setting("max_partitions_per_insert_block", "0");
        for row in batch.rows() {
            insert.write(row).await?;
        }
        insert.end().await
    }

    async fn lookup(&self, digests: &[Digest]) -> Result<Vec<Digest>, clickhouse::error::Error> {
        if digests.is_empty() {
            return Ok(Vec::new());
        }
        // Digests are the collector's own numbers, never client text.
        let list = digests
            .iter()
            .map(|d| format!("toUInt128('{}')", d.as_u128()))
            .collect::<Vec<_>>()
            .join(", ");
        let found: Vec<String> = self
            .client
            .query(&format!(
                "SELECT DISTINCT toString(batch_digest) FROM {} \
                 WHERE batch_digest IN ({list})",
                self.ledger_table
            ))
            .with_setting(
                "max_execution_time",
                self.timeout.as_secs().max(1).to_string(),
            )
            .fetch_all()
            .await?;
        Ok(found
            .iter()
            .filter_map(|text| text.parse::<u128>().ok())
            .map(|n| Digest(n.to_le_bytes()))
            .collect())
    }
}

impl Sink for ClickHouseSink {
    fn write<'a>(&'a self, batch: &'a RowBatch) -> SinkFuture<'a> {
        Box::pin(async move {
            match self.insert(batch).await {
                Ok(()) => Ok(()),
                Err(error) => {
                    if matches!(error, clickhouse::error::Error::SchemaMismatch(_)) {
                        // The table may have changed; look it up afresh next time.
                        self.client.clear_cached_metadata().await;
                    }
                    Err(classify(&error))
                }
            }
        })
    }

    fn stored_batches<'a>(&'a self, digests: &'a [Digest]) -> LookupFuture<'a> {
        Box::pin(async move {
            let lookup = self.lookup(digests);
            match tokio::time::timeout(self.timeout, lookup).await {
                Ok(result) => result.map_err(|error| classify(&error)),
                Err(_) => Err(SinkError::transient(format!(
                    "the ledger look-up took longer than {:?}",
                    self.timeout
                ))),
            }
        })
    }

    fn name(&self) -> &'static str {
        "clickhouse"
    }
}
