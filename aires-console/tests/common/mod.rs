//! A real store with known events for the console's tests: a dev
//! ClickHouse, the collector writing into it, and two SDK pipelines
//! (services `checkout` and `search`) sending a fixed set of events over
//! gRPC. Each test knows every event it sent ([`Sent`]), so what the
//! console answers is checked against that, not against the console's
//! own SQL.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aires::grpc::{GrpcConfig, GrpcTransport};
use aires::{Event, HttpInfo, Level, LevelFilter, SpanId, TraceId};
use aires_collector::sink::ClickHouseSink;
use aires_collector::CollectorConfig;
use aires_core::Pipeline;

#[path = "../../../aires-collector/tests/common/clickhouse.rs"]
pub mod clickhouse_server;

pub use clickhouse_server::TestClickHouse;

pub const DEADLINE: Duration = Duration::from_secs(30);
pub const EVENTS: usize = 40;

/// What one sent event holds, as the test built it.
#[derive(Debug, Clone)]
pub struct Sent {
    pub n: i64,
    pub service: &'static str,
    pub level: &'static str,
    pub message: &'static str,
    pub trace: String,
    pub span: String,
    pub session: Option<&'static str>,
    /// (method, route, status, duration in ms)
    pub http: Option<(&'static str, &'static str, u16, u64)>,
    pub error: bool,
    pub user: String,
    pub ok: bool,
    pub ratio: f64,
}

#[derive(Debug)]
pub struct Declined {
    cause: std::io::Error,
}

impl std::fmt::Display for Declined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("payment declined")
    }
}

impl std::error::Error for Declined {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.cause)
    }
}

pub const CAUSE: &str = "card gateway timed out after 30s";

const LEVELS: [(&str, Level); 5] = [
    ("info", Level::Info),
    ("info", Level::Info),
    ("warn", Level::Warn),
    ("error", Level::Error),
    ("debug", Level::Debug),
];
const MESSAGES: [&str; 4] = [
    "request served",
    "health check ok",
    "card gateway timed out",
    "cache miss for /api/orders",
];
const ROUTES: [&str; 3] = ["/pay", "/orders/:id", "/search"];
const STATUSES: [u16; 4] = [200, 404, 500, 502];

pub fn trace_hex(i: i64) -> String {
    format!(
        "{:032x}",
        0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4700_u128 + i as u128
    )
}

/// The fixed events, in the order they are sent.
pub fn dataset() -> Vec<Sent> {
    (0..EVENTS as i64)
        .map(|n| {
            let (level, _) = LEVELS[(n % 5) as usize];
            Sent {
                n,
                service: if n % 3 == 0 { "search" } else { "checkout" },
                level,
                message: MESSAGES[(n % 4) as usize],
                trace: trace_hex(n % 4),
                span: format!("{:016x}", 0x00f0_67aa_0ba9_0200_u64 + (n % 8) as u64),
                session: (n % 2 == 0).then_some("sess-even"),
                http: (n % 2 == 1).then(|| {
                    (
                        if n % 4 == 1 { "GET" } else { "POST" },
                        ROUTES[(n % 3) as usize],
                        STATUSES[((n / 2) % 4) as usize],
                        (n * 10) as u64,
                    )
                }),
                error: level == "error",
                user: format!("u{}", n % 5),
                ok: n % 2 == 0,
                ratio: n as f64 / 4.0,
            }
        })
        .collect()
}

fn event_of(sent: &Sent) -> Event {
    let level = LEVELS[(sent.n % 5) as usize].1;
    let mut b = Event::builder(level, sent.message)
        .attr("n", sent.n)
        .attr("order_id", 100 + sent.n)
        .attr("user", sent.user.clone())
        .attr("ok", sent.ok)
        .attr("ratio", sent.ratio)
        .trace_id(sent.trace.parse::<TraceId>().unwrap())
        .span_id(sent.span.parse::<SpanId>().unwrap());
    if let Some(session) = sent.session {
        b = b.session_id(session);
    }
    if let Some((method, route, status, ms)) = sent.http {
        b = b.http(
            HttpInfo::new(method, route)
                .path(route.replace(":id", &sent.n.to_string()))
                .status(status)
                .duration(Duration::from_millis(ms)),
        );
    }
    if sent.error {
        b = b.error(&Declined {
            cause: std::io::Error::new(std::io::ErrorKind::TimedOut, CAUSE),
        });
    }
    b.build()
}

/// A store holding the dataset, with the collector still running (so a
/// test can send more).
pub struct Stack {
    pub clickhouse: TestClickHouse,
    pub collector: aires_collector::RunningCollector,
    pub sent: Vec<Sent>,
    /// Event id (as ClickHouse prints it) -> n.
    pub ids: HashMap<String, i64>,
    pipelines: HashMap<&'static str, Pipeline>,
}

impl Stack {
    pub async fn start() -> Stack {
        let clickhouse = TestClickHouse::start();
        let sink = ClickHouseSink::start(&clickhouse.sink_config())
            .await
            .expect("migrations apply");
        let mut config = CollectorConfig::for_tests();
        config.batch_timeout_ms = 50;
        let collector = aires_collector::start(config, Arc::new(sink))
            .await
            .expect("collector starts");
        let endpoint = format!("http://{}", collector.grpc_addr());
        let mut pipelines = HashMap::new();
        for service in ["checkout", "search"] {
            let endpoint = endpoint.clone();
            let pipeline = tokio::task::spawn_blocking(move || {
                Pipeline::start(
                    aires::Config::new(service)
                        .environment("test")
                        .env_overrides(false)
                        .level(LevelFilter::TRACE)
                        .batch_timeout(Duration::from_millis(20))
                        .transport(GrpcTransport::new(GrpcConfig::new(endpoint)).unwrap()),
                )
            })
            .await
            .unwrap()
            .expect("pipeline starts");
            pipelines.insert(service, pipeline);
        }
        let sent = dataset();
        for event in &sent {
            pipelines[event.service].emit(event_of(event));
        }
        let mut stack = Stack {
            clickhouse,
            collector,
            sent,
            ids: HashMap::new(),
            pipelines,
        };
        stack.flush().await;
        let rows = stack
            .clickhouse
            .rows("SELECT toString(id) AS id, attributes_int['n'] AS n FROM events")
            .await;
        assert_eq!(rows.len(), EVENTS, "every event stored once");
        for row in rows {
            stack.ids.insert(
                row["id"].as_str().unwrap().to_owned(),
                clickhouse_server::int(&row["n"]) as i64,
            );
        }
        stack
    }

    /// Sends one more event of `service` and waits until it is stored.
    pub async fn send(&self, service: &'static str, event: Event) {
        self.send_all(service, [event]).await;
    }

    /// Sends events of `service` and waits until they are stored.
    pub async fn send_all(&self, service: &'static str, events: impl IntoIterator<Item = Event>) {
        for event in events {
            self.pipelines[service].emit(event);
        }
        self.flush().await;
    }

    async fn flush(&self) {
        for pipeline in self.pipelines.values() {
            let pipeline = pipeline.clone();
            tokio::task::spawn_blocking(move || pipeline.flush(DEADLINE))
                .await
                .unwrap()
                .expect("stored");
        }
    }

    pub fn store_config(&self) -> aires_console::store::StoreConfig {
        aires_console::store::StoreConfig {
            url: self.clickhouse.url.clone(),
            database: self.clickhouse.database.clone(),
            user: Some(self.clickhouse.user.clone()),
            password: Some(self.clickhouse.password.clone()),
            max_execution_time: Duration::from_secs(10),
        }
    }

    pub fn client(&self) -> aires_console::client::Client {
        aires_console::client::Client::InProcess(aires_console::api::router(
            aires_console::store::Store::new(&self.store_config()),
        ))
    }

    /// The n of each event in `events` (an API answer's list).
    pub fn ns(&self, events: &serde_json::Value) -> Vec<i64> {
        events
            .as_array()
            .expect("a list of events")
            .iter()
            .map(|e| self.ids[e["id"].as_str().expect("an id")])
            .collect()
    }
}

/// Waits for `condition`, up to [`DEADLINE`].
pub async fn wait_for<F, Fut>(mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + DEADLINE;
    while Instant::now() < until {
        if condition().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
