//! Collector configuration: command-line flags, each also settable from an
//! `AIRES_COLLECTOR_*` environment variable and from an optional TOML file
//! (`--config`). A flag wins over its variable, which wins over the file,
//! which wins over the default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, ValueEnum};
use serde::Deserialize;

use crate::pipeline::journal::{FsyncPolicy, JournalConfig};
use crate::pipeline::{AckMode, PipelineConfig};

/// Which sink stores the rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    /// ClickHouse, over its HTTP interface (the --clickhouse-* options).
    Clickhouse,
    /// JSON lines on standard output.
    Stdout,
    /// Discard (benchmarks).
    Null,
}

/// aires-collector: receives Aires event batches over gRPC and stores them.
#[derive(Clone, Debug, Parser)]
#[command(name = "aires-collector", version, about, long_about = None)]
pub struct CollectorConfig {
    /// A TOML file with any of the options below (snake_case keys, for
    /// example `listen = "0.0.0.0:4317"`).
    #[arg(long, env = "AIRES_COLLECTOR_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address of the gRPC server (Ingest, IngestStream, grpc.health.v1).
    #[arg(long, env = "AIRES_COLLECTOR_LISTEN", default_value = "0.0.0.0:4317")]
    pub listen: SocketAddr,

    /// Address of the Prometheus `/metrics` endpoint.
    #[arg(
        long,
        env = "AIRES_COLLECTOR_METRICS_LISTEN",
        default_value = "0.0.0.0:9464"
    )]
    pub metrics_listen: SocketAddr,

    /// Address of the OTLP/HTTP receiver (`POST /v1/logs`, 4318 by
    /// convention). Off unless set. OTLP/gRPC is always served on
    /// --listen, beside the Aires service.
    #[arg(long, env = "AIRES_COLLECTOR_OTLP_HTTP_LISTEN", value_name = "ADDR")]
    pub otlp_http_listen: Option<SocketAddr>,

    /// PEM certificate chain for TLS. With --tls-key, the server speaks TLS only.
    #[arg(
        long,
        env = "AIRES_COLLECTOR_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for TLS.
    #[arg(
        long,
        env = "AIRES_COLLECTOR_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,

    /// Accepted API keys (repeat the flag, or comma-separate in the
    /// variable). When any is set, calls without a valid `x-api-key` are
    /// refused with UNAUTHENTICATED.
    #[arg(
        long = "api-key",
        env = "AIRES_COLLECTOR_API_KEYS",
        value_delimiter = ','
    )]
    pub api_keys: Vec<String>,

    /// Largest accepted gRPC message, in bytes (after decompression).
    #[arg(long, env = "AIRES_COLLECTOR_MAX_MESSAGE_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_message_bytes: usize,

    /// Rows per sink write when the sink keeps up.
    #[arg(long, env = "AIRES_COLLECTOR_BATCH_SIZE", default_value_t = 1000)]
    pub batch_size: usize,

    /// Milliseconds after its first row that a partial batch is written.
    #[arg(long, env = "AIRES_COLLECTOR_BATCH_TIMEOUT_MS", default_value_t = 500)]
    pub batch_timeout_ms: u64,

    /// While a write is in flight the next batch keeps growing; it stops
    /// taking rows once it holds this many (it may exceed it by the rows of
    /// the last request taken).
    #[arg(
        long,
        env = "AIRES_COLLECTOR_MAX_BATCH_ROWS",
        default_value_t = 100_000
    )]
    pub max_batch_rows: usize,

    /// Threads decoding batches into rows (default: the number of CPUs).
    #[arg(long, env = "AIRES_COLLECTOR_PROCESSORS")]
    pub processors: Option<usize>,

    /// Unary calls in progress at once across all connections, until
    /// answered; more wait, unread. With --max-message-bytes this bounds
    /// the memory of requests being read and not yet in the pipeline.
    /// Health checks are not counted.
    #[arg(
        long,
        env = "AIRES_COLLECTOR_MAX_CONCURRENT_REQUESTS",
        default_value_t = 128
    )]
    pub max_concurrent_requests: usize,

    /// Memory held by batches accepted and not yet answered, at most, in
    /// bytes: each is charged an upper bound of what it holds when taken,
    /// then what its rows hold once decoded, until its answer is handed to
    /// the connection. Beyond it, clients wait (backpressure); a single
    /// batch that could never fit is refused.
    #[arg(
        long,
        env = "AIRES_COLLECTOR_MAX_PENDING_BYTES",
        default_value_t = 256 << 20
    )]
    pub max_pending_bytes: usize,

    /// Streams open at once across all connections; a stream over the
    /// limit is refused with UNAVAILABLE (clients retry).
    #[arg(long, env = "AIRES_COLLECTOR_MAX_OPEN_STREAMS", default_value_t = 128)]
    pub max_open_streams: usize,

    /// Seconds a stream may go without sending a batch before the
    /// collector ends it (UNAVAILABLE; the SDK reconnects when it has
    /// batches again), so idle streams do not keep their slots.
    #[arg(
        long,
        env = "AIRES_COLLECTOR_STREAM_IDLE_TIMEOUT_SECS",
        default_value_t = 60
    )]
    pub stream_idle_timeout_secs: u64,

    /// Seconds a unary call (`Ingest`, an OTLP export over gRPC or HTTP)
    /// has, from taking its place among the calls in progress, to send its
    /// whole message. A slower one is answered DEADLINE_EXCEEDED (HTTP 503)
    /// and gives its place back, so clients that stall mid-message cannot
    /// hold every place.
    #[arg(
        long,
        env = "AIRES_COLLECTOR_REQUEST_READ_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub request_read_timeout_secs: u64,

    /// TCP connections served at once; further connections wait in the
    /// listen queue. Each connection may buffer up to 1 MiB of request
    /// data (its HTTP/2 window).
    #[arg(long, env = "AIRES_COLLECTOR_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,

    /// Batches one stream may have read and not yet had answered; past it
    /// the stream is not read until acks are taken (HTTP/2 flow control).
    #[arg(
        long,
        env = "AIRES_COLLECTOR_MAX_STREAM_PENDING_BATCHES",
        default_value_t = 64
    )]
    pub max_stream_pending_batches: usize,

    /// Events accepted and not yet stored, at most; beyond it, clients wait
    /// (backpressure).
    #[arg(
        long,
        env = "AIRES_COLLECTOR_QUEUE_CAPACITY",
        default_value_t = 100_000
    )]
    pub queue_capacity: usize,

    /// Where rows go.
    #[arg(
        long,
        env = "AIRES_COLLECTOR_SINK",
        value_enum,
        default_value = "stdout"
    )]
    pub sink: SinkKind,

    /// ClickHouse HTTP interface URL.
    #[arg(
        long,
        env = "AIRES_CLICKHOUSE_URL",
        default_value = "http://127.0.0.1:8123"
    )]
    pub clickhouse_url: String,

    /// ClickHouse database (created by the migrations).
    #[arg(long, env = "AIRES_CLICKHOUSE_DATABASE", default_value = "aires")]
    pub clickhouse_database: String,

    /// Table the rows are inserted into: `events`, or a Distributed table in
    /// front of it (see sql/cluster/).
    #[arg(long, env = "AIRES_CLICKHOUSE_TABLE", default_value = "events")]
    pub clickhouse_table: String,

    /// The ledger of stored batches, where retries from before a restart or
    /// from another collector are looked up: `batches`, or a Distributed
    /// table in front of it (see sql/cluster/).
    #[arg(long, env = "AIRES_CLICKHOUSE_LEDGER_TABLE", default_value = "batches")]
    pub clickhouse_ledger_table: String,

    /// The ClickHouse user the collector inserts and migrates as.
    #[arg(long, env = "AIRES_CLICKHOUSE_USER", default_value = "default")]
    pub clickhouse_user: String,

    /// That user's password (never shown in `--help`).
    #[arg(
        long,
        env = "AIRES_CLICKHOUSE_PASSWORD",
        default_value = "",
        hide_env_values = true
    )]
    pub clickhouse_password: String,

    /// Days events are kept (the TTL the migrations give the tables).
    #[arg(long, env = "AIRES_CLICKHOUSE_TTL_DAYS", default_value_t = 30)]
    pub clickhouse_ttl_days: u32,

    /// Do not apply the schema migrations at startup (you manage the schema).
    #[arg(long, env = "AIRES_CLICKHOUSE_NO_MIGRATE")]
    pub no_migrate: bool,

    /// A directory for the write-ahead log. With it, every batch taken is
    /// logged before it is processed, and a collector killed at any moment
    /// stores it exactly once after its restart. Without it, a collector
    /// killed before storing a batch relies on its client's retry.
    #[arg(long, env = "AIRES_COLLECTOR_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// What an answer to a batch means: `stored` (in ClickHouse) or
    /// `persisted` (in the write-ahead log; needs --data-dir).
    #[arg(
        long,
        env = "AIRES_COLLECTOR_ACK",
        value_enum,
        default_value = "stored"
    )]
    pub ack: AckMode,

    /// When the write-ahead log is synced to disk: `always` (before each
    /// batch is processed), `interval` (every --wal-fsync-interval-ms) or
    /// `off` (left to the kernel).
    #[arg(
        long,
        env = "AIRES_COLLECTOR_WAL_FSYNC",
        value_enum,
        default_value = "interval"
    )]
    pub wal_fsync: FsyncPolicy,

    /// Milliseconds between syncs with `--wal-fsync interval`.
    #[arg(
        long,
        env = "AIRES_COLLECTOR_WAL_FSYNC_INTERVAL_MS",
        default_value_t = 100
    )]
    pub wal_fsync_interval_ms: u64,

    /// Bytes the write-ahead log may hold on disk; when full, new batches
    /// wait (backpressure), nothing is dropped.
    #[arg(
        long,
        env = "AIRES_COLLECTOR_WAL_MAX_BYTES",
        default_value_t = 1 << 30
    )]
    pub wal_max_bytes: u64,

    /// Seconds to drain and flush at shutdown before giving up.
    #[arg(
        long,
        env = "AIRES_COLLECTOR_SHUTDOWN_TIMEOUT_SECS",
        default_value_t = 30
    )]
    pub shutdown_timeout_secs: u64,

    /// Log filter (tracing EnvFilter syntax, for example `info` or
    /// `aires_collector=debug`).
    #[arg(long, env = "AIRES_COLLECTOR_LOG", default_value = "info")]
    pub log: String,
}

/// The same options as the file spells them; every one optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    metrics_listen: Option<SocketAddr>,
    otlp_http_listen: Option<SocketAddr>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    api_keys: Option<Vec<String>>,
    max_message_bytes: Option<usize>,
    max_concurrent_requests: Option<usize>,
    max_pending_bytes: Option<usize>,
    max_stream_pending_batches: Option<usize>,
    max_open_streams: Option<usize>,
    stream_idle_timeout_secs: Option<u64>,
    request_read_timeout_secs: Option<u64>,
    max_connections: Option<usize>,
    batch_size: Option<usize>,
    batch_timeout_ms: Option<u64>,
    max_batch_rows: Option<usize>,
    processors: Option<usize>,
    queue_capacity: Option<usize>,
    sink: Option<SinkKind>,
    clickhouse_url: Option<String>,
    clickhouse_database: Option<String>,
    clickhouse_table: Option<String>,
    clickhouse_ledger_table: Option<String>,
    clickhouse_user: Option<String>,
    clickhouse_password: Option<String>,
    clickhouse_ttl_days: Option<u32>,
    no_migrate: Option<bool>,
    data_dir: Option<PathBuf>,
    ack: Option<AckMode>,
    wal_fsync: Option<FsyncPolicy>,
    wal_fsync_interval_ms: Option<u64>,
    wal_max_bytes: Option<u64>,
    shutdown_timeout_secs: Option<u64>,
    log: Option<String>,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The flags or variables do not parse.
    #[error(transparent)]
    Cli(#[from] clap::Error),
    /// The file cannot be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML for these options.
    #[error("invalid config file {path}: {source}")]
    Toml {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    /// An option is out of range.
    #[error("{option} must be {requirement}, got {value}")]
    OutOfRange {
        option: &'static str,
        requirement: &'static str,
        value: String,
    },
}

impl CollectorConfig {
    /// Parses flags (with environment fallbacks), then fills what neither
    /// gave from the `--config` file, then validates.
    pub fn load_from<I, T>(args: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = Self::command().try_get_matches_from(args)?;
        let mut config = Self::from_arg_matches(&matches)?;
        if let Some(path) = config.config.clone() {
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            let file: FileConfig = toml::from_str(&text).map_err(|source| ConfigError::Toml {
                path: path.clone(),
                source: Box::new(source),
            })?;
            config.fill_from(file, &matches);
        }
        config.validate()?;
        Ok(config)
    }

    /// Defaults for tests and embedding: loopback on ephemeral ports.
    pub fn for_tests() -> Self {
        let mut config = Self::load_from(["aires-collector"]).expect("defaults are valid");
        config.listen = "127.0.0.1:0".parse().expect("valid address");
        config.metrics_listen = "127.0.0.1:0".parse().expect("valid address");
        config
    }

    fn fill_from(&mut self, file: FileConfig, matches: &ArgMatches) {
        let from_default = |id: &str| {
            matches!(
                matches.value_source(id),
                None | Some(ValueSource::DefaultValue)
            )
        };
        macro_rules! fill {
            ($($field:ident),*) => {$(
                if from_default(stringify!($field)) {
                    if let Some(value) = file.$field {
                        self.$field = value.into();
                    }
                }
            )*};
        }
        fill!(
            listen,
            metrics_listen,
            otlp_http_listen,
            tls_cert,
            tls_key,
            api_keys,
            max_message_bytes,
            max_concurrent_requests,
            max_pending_bytes,
            max_stream_pending_batches,
            max_open_streams,
            stream_idle_timeout_secs,
            request_read_timeout_secs,
            max_connections,
            batch_size,
            batch_timeout_ms,
            max_batch_rows,
            processors,
            queue_capacity,
            sink,
            clickhouse_url,
            clickhouse_database,
            clickhouse_table,
            clickhouse_ledger_table,
            clickhouse_user,
            clickhouse_password,
            clickhouse_ttl_days,
            no_migrate,
            data_dir,
            ack,
            wal_fsync,
            wal_fsync_interval_ms,
            wal_max_bytes,
            shutdown_timeout_secs,
            log
        );
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let positive = |option: &'static str, value: u64| {
            if value == 0 {
                Err(ConfigError::OutOfRange {
                    option,
                    requirement: "greater than 0",
                    value: "0".into(),
                })
            } else {
                Ok(())
            }
        };
        positive("max_message_bytes", self.max_message_bytes as u64)?;
        positive(
            "max_concurrent_requests",
            self.max_concurrent_requests as u64,
        )?;
        positive("max_pending_bytes", self.max_pending_bytes as u64)?;
        positive(
            "max_stream_pending_batches",
            self.max_stream_pending_batches as u64,
        )?;
        positive("max_open_streams", self.max_open_streams as u64)?;
        positive("stream_idle_timeout_secs", self.stream_idle_timeout_secs)?;
        positive("request_read_timeout_secs", self.request_read_timeout_secs)?;
        positive("max_connections", self.max_connections as u64)?;
        positive("batch_size", self.batch_size as u64)?;
        positive("batch_timeout_ms", self.batch_timeout_ms)?;
        positive("max_batch_rows", self.max_batch_rows as u64)?;
        positive("queue_capacity", self.queue_capacity as u64)?;
        positive("shutdown_timeout_secs", self.shutdown_timeout_secs)?;
        if let Some(processors) = self.processors {
            positive("processors", processors as u64)?;
        }
        for (option, value, max, requirement) in [
            (
                "batch_timeout_ms",
                self.batch_timeout_ms,
                3_600_000,
                "at most 3600000 (one hour)",
            ),
            (
                "request_read_timeout_secs",
                self.request_read_timeout_secs,
                3_600,
                "at most 3600 (one hour)",
            ),
            (
                "queue_capacity",
                self.queue_capacity as u64,
                1 << 30,
                "at most 1073741824",
            ),
            (
                "batch_size",
                self.batch_size as u64,
                1 << 24,
                "at most 16777216",
            ),
            (
                "max_batch_rows",
                self.max_batch_rows as u64,
                1 << 24,
                "at most 16777216",
            ),
        ] {
            if value > max {
                return Err(ConfigError::OutOfRange {
                    option,
                    requirement,
                    value: value.to_string(),
                });
            }
        }
        let largest = crate::pipeline::budget::admission_bytes(self.max_message_bytes, 0);
        if self.max_pending_bytes < largest {
            return Err(ConfigError::OutOfRange {
                option: "max_pending_bytes",
                requirement: "at least 32 x max_message_bytes (the charge of a largest \
                              message before it is decoded; its events add about 1 KiB each)",
                value: self.max_pending_bytes.to_string(),
            });
        }
        if self.max_batch_rows < self.batch_size {
            return Err(ConfigError::OutOfRange {
                option: "max_batch_rows",
                requirement: "at least batch_size",
                value: self.max_batch_rows.to_string(),
            });
        }
        if self.ack == AckMode::Persisted && self.data_dir.is_none() {
            return Err(ConfigError::OutOfRange {
                option: "ack",
                requirement: "`stored` unless --data-dir is given (`persisted` means in the \
                              write-ahead log)",
                value: "persisted".into(),
            });
        }
        positive("wal_fsync_interval_ms", self.wal_fsync_interval_ms)?;
        positive("wal_max_bytes", self.wal_max_bytes)?;
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::OutOfRange {
                option: "tls_cert / tls_key",
                requirement: "given together",
                value: "only one".into(),
            });
        }
        Ok(())
    }

    /// The write-ahead log's options (used with `data_dir`).
    pub fn journal(&self) -> JournalConfig {
        JournalConfig {
            fsync: self.wal_fsync,
            fsync_interval: Duration::from_millis(self.wal_fsync_interval_ms),
            max_bytes: self.wal_max_bytes,
            segment_bytes: 16 << 20,
        }
    }

    /// The pipeline part of the options.
    pub fn pipeline(&self) -> PipelineConfig {
        PipelineConfig {
            batch_size: self.batch_size,
            batch_timeout: Duration::from_millis(self.batch_timeout_ms),
            processors: self
                .processors
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
            queue_capacity: self.queue_capacity,
            max_pending_bytes: self.max_pending_bytes,
            max_batch_rows: self.max_batch_rows,
            ack: self.ack,
            ..PipelineConfig::default()
        }
    }

    /// The ClickHouse sink's options.
    pub fn clickhouse(&self) -> crate::sink::ClickHouseConfig {
        crate::sink::ClickHouseConfig {
            url: self.clickhouse_url.clone(),
            database: self.clickhouse_database.clone(),
            table: self.clickhouse_table.clone(),
            ledger_table: self.clickhouse_ledger_table.clone(),
            user: self.clickhouse_user.clone(),
            password: self.clickhouse_password.clone(),
            ttl_days: self.clickhouse_ttl_days,
            migrate: !self.no_migrate,
            timeout: Duration::from_secs(30),
        }
    }

    /// The shutdown deadline.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_secs)
    }

    /// How long a unary call may take to send its message.
    pub fn request_read_timeout(&self) -> Duration {
        Duration::from_secs(self.request_read_timeout_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn defaults_match_the_documentation() {
        let config = CollectorConfig::load_from(["aires-collector"]).unwrap();
        assert_eq!(config.listen.port(), 4317);
        assert_eq!(config.max_message_bytes, 4 * 1024 * 1024);
        assert_eq!(config.batch_size, 1000);
        assert_eq!(config.batch_timeout_ms, 500);
        assert_eq!(config.sink, SinkKind::Stdout);
        assert_eq!(config.max_concurrent_requests, 128);
        assert_eq!(config.max_pending_bytes, 256 << 20);
        assert_eq!(config.max_stream_pending_batches, 64);
        assert_eq!(config.max_open_streams, 128);
        assert_eq!(config.stream_idle_timeout_secs, 60);
        assert_eq!(config.max_connections, 1024);
    }

    #[test]
    fn the_file_fills_what_flags_do_not_set() {
        let mut file = tempfile();
        writeln!(
            file.1,
            "batch_size = 50\nsink = \"null\"\napi_keys = [\"a\", \"b\"]"
        )
        .unwrap();
        let path = file.0.to_str().unwrap().to_owned();
        let config =
            CollectorConfig::load_from(["aires-collector", "--config", &path, "--sink", "stdout"])
                .unwrap();
        assert_eq!(config.batch_size, 50, "from the file");
        assert_eq!(config.sink, SinkKind::Stdout, "the flag wins");
        assert_eq!(config.api_keys, ["a", "b"]);
        std::fs::remove_file(&file.0).unwrap();
    }

    #[test]
    fn bad_values_are_clear_errors() {
        let err = CollectorConfig::load_from(["aires-collector", "--batch-size", "0"]).unwrap_err();
        assert_eq!(err.to_string(), "batch_size must be greater than 0, got 0");
        let err = CollectorConfig::load_from([
            "aires-collector",
            "--max-message-bytes",
            "8388608",
            "--max-pending-bytes",
            "100000000",
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "max_pending_bytes must be at least 32 x max_message_bytes (the charge of a \
             largest message before it is decoded; its events add about 1 KiB each), got 100000000"
        );
        let err =
            CollectorConfig::load_from(["aires-collector", "--listen", "nowhere"]).unwrap_err();
        assert!(err.to_string().contains("nowhere"), "{err}");
        let mut file = tempfile();
        writeln!(file.1, "batch_sise = 5").unwrap();
        let path = file.0.to_str().unwrap().to_owned();
        let err = CollectorConfig::load_from(["aires-collector", "--config", &path]).unwrap_err();
        assert!(err.to_string().contains("batch_sise"), "{err}");
        std::fs::remove_file(&file.0).unwrap();
    }

    #[test]
    fn help_documents_every_option_with_its_variable_and_default() {
        let command = CollectorConfig::command();
        let help = command.clone().render_long_help().to_string();
        let mut checked = 0;
        for arg in command.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if matches!(long, "help" | "version") {
                continue;
            }
            let flag = format!("--{long}");
            // The flag's own paragraph: from its line to the next flag's.
            let start = help
                .find(&format!("      {flag}"))
                .unwrap_or_else(|| panic!("{flag} missing from --help"));
            // A flag's line starts `  -x, --` or, long only, `      --`.
            let rest = &help[start + 1..];
            let end = ["\n  -", "\n      --"]
                .iter()
                .filter_map(|next| rest.find(next))
                .min()
                .map_or(help.len(), |i| start + 1 + i);
            let paragraph = &help[start..end];
            let text = arg
                .get_long_help()
                .or(arg.get_help())
                .map(|h| h.to_string());
            assert!(
                text.is_some_and(|t| t.split_whitespace().count() >= 3),
                "{flag} has no description"
            );
            let env = arg
                .get_env()
                .unwrap_or_else(|| panic!("{flag} has no variable"));
            let env = env.to_string_lossy();
            assert!(env.starts_with("AIRES_"), "{flag}: {env}");
            assert!(
                paragraph.contains(&format!("[env: {env}")),
                "{flag}: {paragraph}"
            );
            for default in arg.get_default_values() {
                let default = default.to_string_lossy();
                if default.is_empty() {
                    continue; // clap shows no empty default
                }
                assert!(
                    paragraph.contains(&format!("[default: {default}]")),
                    "{flag}: default {default} not shown in {paragraph}"
                );
            }
            checked += 1;
        }
        assert!(checked >= 30, "only {checked} options");
    }

    fn tempfile() -> (PathBuf, std::fs::File) {
        let path = std::env::temp_dir().join(format!(
            "aires-collector-test-{}-{:?}.toml",
            std::process::id(),
            std::thread::current().id()
        ));
        let file = std::fs::File::create(&path).unwrap();
        (path, file)
    }
}
