//! Schema migrations, applied at startup: the files of `sql/migrations`,
//! embedded in the binary, run in order.
//!
//! Applied versions are recorded in `aires_migrations` (a
//! ReplacingMergeTree keyed by version). Every statement is idempotent
//! (`IF NOT EXISTS`), so collectors starting at once may both run a
//! migration: the outcome is the same, and the duplicate record collapses.
//! `{database}` and `{ttl_days}` in the files are replaced by the
//! configured values; nothing else is substituted, and no event data ever
//! reaches SQL text.

use clickhouse::Client;

use crate::sink::SinkError;

use super::classify;

/// The migrations, in order: (version, name, SQL).
pub const MIGRATIONS: &[(u32, &str, &str)] = &[
    (
        1,
        "events",
        include_str!("../../../../sql/migrations/0001_events.sql"),
    ),
    (
        2,
        "error_rate",
        include_str!("../../../../sql/migrations/0002_error_rate.sql"),
    ),
    (
        3,
        "http_latency",
        include_str!("../../../../sql/migrations/0003_http_latency.sql"),
    ),
    (
        4,
        "batches",
        include_str!("../../../../sql/migrations/0004_batches.sql"),
    ),
    (
        5,
        "events_kept_from_receipt",
        include_str!("../../../../sql/migrations/0005_events_kept_from_receipt.sql"),
    ),
];

/// Applies every migration not yet recorded, returning the versions applied.
pub async fn apply(client: &Client, database: &str, ttl_days: u32) -> Result<Vec<u32>, SinkError> {
    check_identifier(database)?;
    let run = |sql: String| {
        let client = client.clone();
        async move { client.query(&sql).execute().await.map_err(|e| classify(&e)) }
    };
    run(format!("CREATE DATABASE IF NOT EXISTS {database}")).await?;
    run(format!(
        "CREATE TABLE IF NOT EXISTS {database}.aires_migrations \
         (version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) \
         ENGINE = ReplacingMergeTree ORDER BY version"
    ))
    .await?;
    let applied: Vec<u32> = client
        .query(&format!(
            "SELECT version FROM {database}.aires_migrations FINAL"
        ))
        .fetch_all()
        .await
        .map_err(|e| classify(&e))?;
    let mut done = Vec::new();
    for (version, name, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        for statement in statements(sql) {
            let statement = statement
                .replace("{database}", database)
                .replace("{ttl_days}", &ttl_days.to_string());
            run(statement).await.map_err(|e| SinkError {
                kind: e.kind,
                message: format!("migration {version} ({name}) failed: {}", e.message),
            })?;
        }
        run(format!(
            "INSERT INTO {database}.aires_migrations (version, name) VALUES ({version}, '{name}')"
        ))
        .await?;
        tracing::info!(version, name, "applied migration");
        done.push(*version);
    }
    Ok(done)
}

/// The statements of a migration file: `;`-separated, comments dropped.
pub fn statements(sql: &str) -> Vec<String> {
    let without_comments: Vec<&str> = sql
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect();
    without_comments
        .join("\n")
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Database names reach SQL text, so only plain identifiers are accepted.
pub(crate) fn check_identifier(name: &str) -> Result<(), SinkError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if valid {
        Ok(())
    } else {
        Err(SinkError::permanent(format!(
            "name {name:?} must be letters, digits and underscores"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_at_semicolons_and_whole_line_comments_go() {
        let sql = "-- a comment; with a semicolon\n\
                   CREATE TABLE IF NOT EXISTS a (x UInt8);\n\n  \
                   -- an indented one\n\
                   CREATE VIEW IF NOT EXISTS b\nAS SELECT 1;\n";
        assert_eq!(
            statements(sql),
            [
                "CREATE TABLE IF NOT EXISTS a (x UInt8)",
                "CREATE VIEW IF NOT EXISTS b\nAS SELECT 1"
            ]
        );
    }

    #[test]
    fn every_migration_statement_is_one_whole_idempotent_definition() {
        for (version, _, sql) in MIGRATIONS {
            let statements = statements(sql);
            assert!(!statements.is_empty(), "migration {version} is empty");
            for statement in statements {
                // One definition per statement: a `;` lost inside one
                // would join two, or cut one short.
                let starts = ["CREATE TABLE", "CREATE MATERIALIZED VIEW", "ALTER TABLE"];
                assert!(
                    starts.iter().any(|s| statement.starts_with(s)),
                    "migration {version}: {statement}"
                );
                assert_eq!(
                    statement.matches("CREATE ").count(),
                    statement.starts_with("CREATE") as usize
                );
                let depth = statement.chars().try_fold(0i32, |depth, c| {
                    let depth = depth + i32::from(c == '(') - i32::from(c == ')');
                    (depth >= 0).then_some(depth)
                });
                assert_eq!(depth, Some(0), "unbalanced: {statement}");
                // Comments are whole lines (the splitter drops those only).
                assert!(!statement.contains("--"), "a comment inside: {statement}");
                // Every statement may run twice (collectors starting at
                // once): guarded, or idempotent by nature (setting a TTL).
                assert!(
                    statement.contains("IF NOT EXISTS") || statement.contains("MODIFY TTL"),
                    "{statement}"
                );
            }
        }
    }

    #[test]
    fn only_plain_database_names_are_accepted() {
        assert!(check_identifier("aires_prod").is_ok());
        for bad in ["", "a-b", "x; DROP TABLE events", "1db"] {
            assert!(check_identifier(bad).is_err(), "{bad}");
        }
    }
}
