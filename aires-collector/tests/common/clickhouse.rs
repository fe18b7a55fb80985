//! A real ClickHouse engine for tests: the server named by
//! `AIRES_CLICKHOUSE_URL`, or else a private tools/clickhouse-dev server
//! (chDB behind ClickHouse's HTTP interface) started for the test.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// A ClickHouse to test against, with a database of the test's own.
pub struct TestClickHouse {
    pub url: String,
    pub database: String,
    pub user: String,
    pub password: String,
    server: Option<Child>,
    data: Option<PathBuf>,
    port: u16,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl TestClickHouse {
    pub fn start() -> Self {
        Self::start_with_login("default", "")
    }

    /// A server that accepts only `user` / `password` (dev server only).
    pub fn start_with_login(user: &str, password: &str) -> Self {
        let database = format!(
            "aires_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        if let Ok(url) = std::env::var("AIRES_CLICKHOUSE_URL") {
            return TestClickHouse {
                url,
                database,
                user: std::env::var("AIRES_CLICKHOUSE_USER").unwrap_or_else(|_| "default".into()),
                password: std::env::var("AIRES_CLICKHOUSE_PASSWORD").unwrap_or_default(),
                server: None,
                data: None,
                port: 0,
            };
        }
        let data = std::env::temp_dir().join(&database);
        let mut clickhouse = TestClickHouse {
            url: String::new(),
            database,
            user: user.into(),
            password: password.into(),
            server: None,
            data: Some(data),
            port: 0,
        };
        clickhouse.spawn();
        clickhouse
    }

    fn spawn(&mut self) {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let python = root.join("tools/clickhouse-dev/.venv/bin/python");
        assert!(
            python.exists(),
            "the ClickHouse dev server's venv is missing: run `scripts/clickhouse-dev setup` \
             (scripts/test does), or set AIRES_CLICKHOUSE_URL to a ClickHouse server"
        );
        let mut server = Command::new(python)
            .arg(root.join("tools/clickhouse-dev/server.py"))
            .args(["--port", &self.port.to_string(), "--data"])
            .arg(
                self.data
                    .as_ref()
                    .expect("a dev server has a data directory"),
            )
            .args(["--user", &self.user, "--password", &self.password])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the ClickHouse dev server");
        let mut line = String::new();
        BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split_whitespace()
            .last()
            .filter(|u| u.starts_with("http://"))
            .unwrap_or_else(|| panic!("unexpected first line from the dev server: {line:?}"))
            .to_owned();
        self.port = url.rsplit(':').next().unwrap().parse().unwrap();
        self.url = url;
        self.server = Some(server);
    }

    /// A client of the server, with no default database.
    pub fn server_client(&self) -> clickhouse::Client {
        clickhouse::Client::default()
            .with_url(&self.url)
            .with_user(&self.user)
            .with_password(&self.password)
    }

    /// A client on the test's database.
    pub fn client(&self) -> clickhouse::Client {
        self.server_client().with_database(&self.database)
    }

    /// The result of `sql` as JSON objects, one per row.
    pub async fn rows(&self, sql: &str) -> Vec<serde_json::Value> {
        let bytes = self
            .client()
            .query(sql)
            .fetch_bytes("JSONEachRow")
            .unwrap()
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        String::from_utf8(bytes.to_vec())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Runs one of `sql/queries/*.sql` with ClickHouse query parameters
    /// (`{name:Type}` placeholders, sent as `param_name=value`), as a
    /// dashboard would; returns the rows as JSON objects.
    pub fn query_file(&self, file: &str, params: &[(&str, &str)]) -> Vec<serde_json::Value> {
        use std::io::{Read, Write};
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let sql = std::fs::read_to_string(root.join("sql/queries").join(file)).unwrap();
        let mut target = format!("/?database={}&default_format=JSONEachRow", self.database);
        for (name, value) in params {
            target.push_str(&format!("&param_{name}={}", percent_encode(value)));
        }
        let host = self.url.trim_start_matches("http://").trim_end_matches('/');
        let mut stream = std::net::TcpStream::connect(host).unwrap();
        write!(
            stream,
            "POST {target} HTTP/1.1\r\nHost: {host}\r\nX-ClickHouse-User: {}\r\nX-ClickHouse-Key: {}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{sql}",
            self.user,
            self.password,
            sql.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{file}: {head}\n{body}");
        body.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The server's address, for a proxy in front of it.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.url
            .trim_start_matches("http://")
            .parse()
            .expect("the server's URL is http://host:port")
    }

    /// The collector's ClickHouse options, reaching this server through a
    /// proxy at `proxy`.
    pub fn sink_config_via(
        &self,
        proxy: std::net::SocketAddr,
    ) -> aires_collector::sink::ClickHouseConfig {
        aires_collector::sink::ClickHouseConfig {
            url: format!("http://{proxy}"),
            ..self.sink_config()
        }
    }

    /// The collector's ClickHouse options for this database.
    pub fn sink_config(&self) -> aires_collector::sink::ClickHouseConfig {
        aires_collector::sink::ClickHouseConfig {
            url: self.url.clone(),
            database: self.database.clone(),
            table: "events".into(),
            ledger_table: "batches".into(),
            user: self.user.clone(),
            password: self.password.clone(),
            ttl_days: 30,
            migrate: true,
            timeout: std::time::Duration::from_secs(30),
        }
    }
}

impl Drop for TestClickHouse {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
        if let Some(data) = self.data.take() {
            let _ = std::fs::remove_dir_all(data);
        }
    }
}

fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A JSON integer, whether ClickHouse quoted it (64-bit) or not.
pub fn int(value: &serde_json::Value) -> i128 {
    match value {
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or(n.as_u64().map(i128::from))
            .unwrap(),
        serde_json::Value::String(s) => s.parse().unwrap(),
        other => panic!("not an integer: {other}"),
    }
}
