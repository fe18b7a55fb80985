//! The `aires` command line: `tail`, `search`, `trace`, `errors` and
//! `console`, all through the console's JSON API (in process by default,
//! or a running console's with `--console`).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::Value;

use crate::client::{Client, ClientError};
use crate::server::{self, Auth};
use crate::store::{Store, StoreConfig};

/// Read what Aires stored: search, tail, traces and errors in the
/// terminal, or the console in a browser.
#[derive(Debug, Parser)]
#[command(name = "aires", version, after_help = QUERY_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub source: Source,
    /// When to colour the output.
    #[arg(long, value_enum, default_value_t = Color::Auto, global = true)]
    pub color: Color,
    #[command(subcommand)]
    pub command: Command,
}

const QUERY_HELP: &str = "\
QUERY syntax (all terms must match):
  timeout                 a word in the message (whole token)
  \"card gateway\"          a phrase in the message
  service:checkout        a field; also env, level, trace, span, session, id,
                          method, route, path, host, status, duration (ms),
                          error, error.message, file, module, function, sdk
  level:>=warn status:>=500 duration:>250      comparisons on ordered fields
  route:/orders*  error:*                      a prefix; any value
  order_id:123            any other name is an attribute of the event
  -\"health check\"         a leading - negates a term";

/// Where the data comes from.
#[derive(Debug, Args)]
pub struct Source {
    /// A running console to ask (its JSON API), instead of ClickHouse
    /// directly.
    #[arg(long, env = "AIRES_CONSOLE_URL", global = true)]
    pub console: Option<String>,
    /// The console's API key, if it needs one.
    #[arg(
        long,
        env = "AIRES_CONSOLE_API_KEY",
        global = true,
        hide_env_values = true
    )]
    pub api_key: Option<String>,
    /// ClickHouse's HTTP interface.
    #[arg(
        long,
        env = "AIRES_CLICKHOUSE_URL",
        default_value = "http://127.0.0.1:8123",
        global = true
    )]
    pub clickhouse_url: String,
    #[arg(
        long,
        env = "AIRES_CLICKHOUSE_DATABASE",
        default_value = "aires",
        global = true
    )]
    pub database: String,
    /// A ClickHouse user; a read-only one is enough (see the README).
    #[arg(long, env = "AIRES_CLICKHOUSE_USER", global = true)]
    pub user: Option<String>,
    #[arg(
        long,
        env = "AIRES_CLICKHOUSE_PASSWORD",
        global = true,
        hide_env_values = true
    )]
    pub password: Option<String>,
    /// The longest any one query may run, in seconds.
    #[arg(long, default_value_t = 10, global = true)]
    pub max_execution_time: u64,
}

impl Source {
    fn store_config(&self) -> StoreConfig {
        StoreConfig {
            url: self.clickhouse_url.clone(),
            database: self.database.clone(),
            user: self.user.clone(),
            password: self.password.clone(),
            max_execution_time: Duration::from_secs(self.max_execution_time.max(1)),
        }
    }

    pub fn client(&self) -> Client {
        match &self.console {
            Some(base) => Client::Remote {
                http: reqwest::Client::new(),
                base: base.clone(),
                api_key: self.api_key.clone(),
            },
            None => Client::InProcess(crate::api::router(Store::new(&self.store_config()))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args)]
pub struct Range {
    /// How far back, like 15m, 1h, 7d.
    #[arg(long, default_value = "1h")]
    pub since: String,
    /// From this time instead (now-2h, RFC 3339, Unix ms).
    #[arg(long, conflicts_with = "since")]
    pub from: Option<String>,
    /// Up to this time (default now).
    #[arg(long)]
    pub to: Option<String>,
}

impl Range {
    fn params(&self) -> Vec<(&'static str, String)> {
        match &self.from {
            Some(from) => vec![
                ("from", from.clone()),
                ("to", self.to.clone().unwrap_or_default()),
            ],
            None => vec![
                ("since", self.since.clone()),
                ("to", self.to.clone().unwrap_or_default()),
            ],
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The latest matching events, oldest first; with -f, new ones as
    /// they are stored.
    Tail {
        /// Keep printing events as they are stored.
        #[arg(short, long)]
        follow: bool,
        /// How many of the latest events to print first.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: u32,
        /// One JSON object per line, for pipes.
        #[arg(long)]
        json: bool,
        /// Query (see below).
        query: Vec<String>,
    },
    /// Matching events, newest first.
    Search {
        /// Query (see below).
        query: Vec<String>,
        #[command(flatten)]
        range: Range,
        /// The most events to print.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Every event of a trace, in time order.
    Trace {
        /// The trace id (32 hex digits).
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// The latest errors, with their causes.
    Errors {
        /// Narrow them (see below).
        query: Vec<String>,
        #[command(flatten)]
        range: Range,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Serve the console (the web page and its API).
    Console {
        /// Where to listen (loopback by default).
        #[arg(long, env = "AIRES_CONSOLE_LISTEN", default_value = server::DEFAULT_LISTEN)]
        listen: SocketAddr,
        /// Require one of these API keys for the API.
        #[arg(
            long = "api-key-required",
            env = "AIRES_CONSOLE_API_KEYS",
            value_delimiter = ',',
            hide_env_values = true
        )]
        api_keys: Vec<String>,
        /// Require HTTP basic auth, as user:password.
        #[arg(
            long,
            env = "AIRES_CONSOLE_BASIC_AUTH",
            hide_env_values = true,
            conflicts_with = "api_keys"
        )]
        basic_auth: Option<String>,
    },
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
}

/// Runs the command; the process's exit code.
pub async fn run(cli: Cli) -> i32 {
    let color = match cli.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let out = Printer { color };
    let result = match cli.command {
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "aires", &mut std::io::stdout());
            Ok(())
        }
        Command::Console {
            listen,
            api_keys,
            basic_auth,
        } => console(&cli.source, listen, api_keys, basic_auth).await,
        command => {
            let client = cli.source.client();
            match command {
                Command::Tail {
                    follow,
                    lines,
                    json,
                    query,
                } => tail(&client, &query.join(" "), lines, follow, json, &out).await,
                Command::Search {
                    query,
                    range,
                    limit,
                    json,
                } => search(&client, &query.join(" "), &range, limit, json, &out).await,
                Command::Trace { id, json } => trace(&client, &id, json, &out).await,
                Command::Errors {
                    query,
                    range,
                    limit,
                    json,
                } => {
                    let query = format!("level:>=error {}", query.join(" "));
                    errors(&client, &query, &range, limit, json, &out).await
                }
                Command::Console { .. } | Command::Completions { .. } => unreachable!(),
            }
        }
    };
    match result {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("aires: {error}");
            match error.status() {
                Some(400..=499) => 2,
                _ => 1,
            }
        }
    }
}

async fn console(
    source: &Source,
    listen: SocketAddr,
    api_keys: Vec<String>,
    basic_auth: Option<String>,
) -> Result<(), ClientError> {
    let auth = match (api_keys.is_empty(), basic_auth) {
        (_, Some(pair)) => {
            let (user, password) = pair
                .split_once(':')
                .ok_or_else(|| ClientError::Transport("--basic-auth takes user:password".into()))?;
            Auth::Basic {
                user: user.into(),
                password: password.into(),
            }
        }
        (false, None) => Auth::ApiKeys(api_keys),
        (true, None) => Auth::Open,
    };
    let listener = server::bind(listen)
        .await
        .map_err(|e| ClientError::Transport(format!("cannot listen on {listen}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| ClientError::Transport(e.to_string()))?;
    println!(
        "aires console: http://{local}/  (ClickHouse {})",
        source.clickhouse_url
    );
    let _ = std::io::stdout().flush();
    let app = server::app(
        Store::new(&source.store_config()),
        auth,
        server::Hosts::for_listener(local),
    );
    server::serve(listener, app, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .map_err(|e| ClientError::Transport(e.to_string()))
}

async fn search(
    client: &Client,
    query: &str,
    range: &Range,
    limit: u32,
    json: bool,
    out: &Printer,
) -> Result<(), ClientError> {
    let mut printed = 0;
    let mut before = String::new();
    while printed < limit {
        let mut params = range.params();
        params.push(("q", query.to_owned()));
        params.push(("limit", (limit - printed).min(500).to_string()));
        params.push(("before", before.clone()));
        let page = client.get("/api/search", &params).await?;
        for event in page["events"].as_array().into_iter().flatten() {
            out.event(event, json);
            printed += 1;
        }
        match page["next"].as_str() {
            Some(next) => before = next.to_owned(),
            None => break,
        }
    }
    Ok(())
}

async fn errors(
    client: &Client,
    query: &str,
    range: &Range,
    limit: u32,
    json: bool,
    out: &Printer,
) -> Result<(), ClientError> {
    let mut params = range.params();
    params.push(("q", query.to_owned()));
    params.push(("limit", limit.to_string()));
    let page = client.get("/api/search", &params).await?;
    for event in page["events"].as_array().into_iter().flatten() {
        out.event(event, json);
        if !json {
            out.error_chain(event);
        }
    }
    Ok(())
}

async fn trace(client: &Client, id: &str, json: bool, out: &Printer) -> Result<(), ClientError> {
    let answer = client
        .get(&format!("/api/traces/{}", urlencode(id)), &[])
        .await?;
    for event in answer["events"].as_array().into_iter().flatten() {
        out.event(event, json);
        if !json {
            out.error_chain(event);
        }
    }
    Ok(())
}

async fn tail(
    client: &Client,
    query: &str,
    lines: u32,
    follow: bool,
    json: bool,
    out: &Printer,
) -> Result<(), ClientError> {
    // Received (ns) of each event printed or passed over, to print each once.
    let mut seen: HashMap<String, i64> = HashMap::new();
    let poll = |cursor: String| async move {
        client
            .get("/api/tail", &[("q", query.to_owned()), ("cursor", cursor)])
            .await
    };
    // Following starts where the store is now: what it holds is the past,
    // printed below only as far as asked.
    let mut cursor = String::new();
    if follow {
        let page = poll(cursor.clone()).await?;
        remember(&mut seen, &page);
        cursor = page["cursor"].as_str().unwrap_or_default().to_owned();
    }
    // The latest `lines` events, oldest first, as `tail` prints them.
    if lines > 0 {
        let page = client
            .get(
                "/api/search",
                &[
                    ("q", query.to_owned()),
                    ("since", "24h".into()),
                    ("limit", lines.to_string()),
                ],
            )
            .await?;
        for event in page["events"].as_array().into_iter().flatten().rev() {
            if let Some(id) = event["id"].as_str() {
                seen.insert(id.to_owned(), i64::MAX);
            }
            out.event(event, json);
        }
    }
    if !follow {
        return Ok(());
    }
    let _ = std::io::stdout().flush();
    eprintln!("aires: following new events (Ctrl-C stops)");
    loop {
        let started = std::time::Instant::now();
        let page = poll(cursor.clone()).await?;
        for event in page["events"].as_array().into_iter().flatten() {
            let (Some(id), received) = (event["id"].as_str(), received_ns(event)) else {
                continue;
            };
            if seen.insert(id.to_owned(), received).is_none() {
                out.event(event, json);
            }
        }
        if let Some(matched) = page["matched"].as_u64() {
            eprintln!(
                "aires: {matched} new events since the last poll; only the newest 200 were printed"
            );
        }
        if let Some(next) = page["cursor"].as_str() {
            cursor = next.to_owned();
            let horizon = next.parse::<i64>().unwrap_or(0) - 2 * crate::store::TAIL_OVERLAP_NS;
            seen.retain(|_, received| *received >= horizon);
        }
        let _ = std::io::stdout().flush();
        tokio::time::sleep(Duration::from_secs(1).saturating_sub(started.elapsed())).await;
    }
}

fn received_ns(event: &Value) -> i64 {
    event["received_ns"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Marks a tail page's events as seen without printing them.
fn remember(seen: &mut HashMap<String, i64>, page: &Value) {
    for event in page["events"].as_array().into_iter().flatten() {
        if let Some(id) = event["id"].as_str() {
            seen.insert(id.to_owned(), received_ns(event));
        }
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Prints events for people (coloured by level) or as JSON lines.
struct Printer {
    color: bool,
}

impl Printer {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn event(&self, event: &Value, json: bool) {
        let mut stdout = std::io::stdout().lock();
        if json {
            let _ = writeln!(stdout, "{event}");
            return;
        }
        let level = event["severity"].as_str().unwrap_or("");
        let code = match level {
            "trace" => "2",
            "debug" => "34",
            "info" => "32",
            "warn" => "33",
            "error" => "31",
            "fatal" => "35;1",
            _ => "0",
        };
        let mut line = format!(
            "{} {} {} {}",
            event["ts"].as_str().map(format_ns).unwrap_or_default(),
            self.paint(code, &format!("{:<5}", level.to_uppercase())),
            self.paint("36", event["service"].as_str().unwrap_or("")),
            event["message"].as_str().unwrap_or(""),
        );
        let http: Vec<String> = ["http_method", "http_route", "http_status"]
            .iter()
            .filter_map(|k| match &event[*k] {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Number(n) if n.as_u64() != Some(0) => Some(n.to_string()),
                _ => None,
            })
            .collect();
        if !http.is_empty() {
            line.push_str(&format!("  {}", http.join(" ")));
        }
        if let Some(ms) = event["duration_ms"].as_f64().filter(|ms| *ms > 0.0) {
            line.push_str(&format!(" {ms:.1}ms"));
        }
        if let Some(error) = event["error_type"].as_str().filter(|s| !s.is_empty()) {
            let message = event["error_message"].as_str().unwrap_or("");
            line.push_str(&format!(
                "  {}",
                self.paint("31", &format!("{error}: {message}"))
            ));
        }
        if let Some(trace) = event["trace_id"].as_str().filter(|s| !s.is_empty()) {
            line.push_str(&self.paint("2", &format!("  trace={trace}")));
        }
        let _ = writeln!(stdout, "{line}");
    }

    fn error_chain(&self, event: &Value) {
        let mut stdout = std::io::stdout().lock();
        for cause in event["error_chain"].as_array().into_iter().flatten() {
            if let Some(cause) = cause.as_str() {
                let _ = writeln!(stdout, "    {} {cause}", self.paint("2", "caused by:"));
            }
        }
    }
}

/// `2026-12-06 17:55:01.123456` (UTC) from nanoseconds as text.
fn format_ns(ns: &str) -> String {
    let Ok(ns) = ns.parse::<i128>() else {
        return ns.to_owned();
    };
    time::OffsetDateTime::from_unix_timestamp_nanos(ns)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:6]"
            ))
            .ok()
        })
        .unwrap_or_else(|| ns.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn times_print_in_utc_to_the_microsecond() {
        assert_eq!(
            format_ns("1765043701123456789"),
            "2025-12-06 17:55:01.123456"
        );
        assert_eq!(format_ns("x"), "x");
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(urlencode("ab/../c d"), "ab%2F..%2Fc%20d");
    }
}
