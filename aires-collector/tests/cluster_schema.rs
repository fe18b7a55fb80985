//! The cluster schema (`sql/cluster/events_replicated.sql`) restates the
//! migrations by hand; this test keeps the two from drifting. Both are
//! applied to a real ClickHouse engine, and the engine's own catalogue
//! (columns with types, codecs and defaults; skipping indexes; sorting,
//! partition and primary keys; TTLs; the views' queries) must be the same.
//!
//! What one engine cannot check: `ON CLUSTER` (it needs a cluster), the
//! Replicated engines (they need ClickHouse Keeper), and the Distributed
//! tables (they need a cluster definition). The cluster file is applied
//! without `ON CLUSTER`, with each `Replicated*MergeTree(path, replica)` as
//! the plain engine, and its Distributed tables are checked by name only:
//! each stands in front of a table the migrations create.

#[path = "common/clickhouse.rs"]
mod clickhouse_server;

use std::collections::BTreeSet;
use std::path::PathBuf;

use aires_collector::sink::clickhouse::migrations;
use clickhouse_server::TestClickHouse;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `ReplicatedFooMergeTree('/path', '{replica}')` -> `FooMergeTree`.
fn unreplicated(statement: &str) -> String {
    let Some(at) = statement.find("ENGINE = Replicated") else {
        return statement.to_owned();
    };
    let engine_start = at + "ENGINE = ".len();
    let name_start = engine_start + "Replicated".len();
    let open = statement[name_start..].find('(').unwrap() + name_start;
    let close = statement[open..].find(')').unwrap() + open;
    format!(
        "{}{}{}",
        &statement[..engine_start],
        &statement[name_start..open],
        &statement[close + 1..]
    )
}

/// The catalogue of `database`, with its name replaced by `{db}`, so two
/// databases compare equal when their schemas are.
async fn catalogue(clickhouse: &TestClickHouse, database: &str) -> Vec<Value> {
    let queries = [
        "SELECT table, name, position, type, compression_codec, default_kind, default_expression \
         FROM system.columns WHERE database = '{db}' ORDER BY table, position",
        "SELECT table, name, type_full, expr, granularity \
         FROM system.data_skipping_indices WHERE database = '{db}' ORDER BY table, name",
        "SELECT name, engine, sorting_key, partition_key, primary_key, as_select, \
         extract(create_table_query, 'TTL .*') AS ttl \
         FROM system.tables WHERE database = '{db}' ORDER BY name",
    ];
    let mut rows = Vec::new();
    for query in queries {
        for mut row in clickhouse.rows(&query.replace("{db}", database)).await {
            // Settings may differ (replicated tables deduplicate by their
            // own setting); the TTL ends where they start.
            if let Some(Value::String(ttl)) = row.get_mut("ttl") {
                if let Some(at) = ttl.find(" SETTINGS") {
                    ttl.truncate(at);
                }
            }
            let text = row.to_string().replace(database, "{db}");
            rows.push(serde_json::from_str(&text).unwrap());
        }
    }
    rows
}

#[tokio::test]
async fn the_cluster_schema_has_the_columns_indexes_keys_and_views_of_the_migrations() {
    let clickhouse = TestClickHouse::start();
    let client = clickhouse.server_client();
    let single = format!("{}_single", clickhouse.database);
    let cluster = format!("{}_cluster", clickhouse.database);

    // `rows` queries in the test's own database.
    let own = format!("CREATE DATABASE IF NOT EXISTS {}", clickhouse.database);
    client.query(&own).execute().await.unwrap();
    migrations::apply(&client, &single, 30).await.unwrap();

    let sql = std::fs::read_to_string(root().join("sql/cluster/events_replicated.sql")).unwrap();
    let mut distributed = BTreeSet::new();
    // Split as the migrations are.
    for statement in migrations::statements(&sql) {
        let statement = unreplicated(&statement)
            .replace(" ON CLUSTER {cluster}", "")
            .replace("{database}", &cluster)
            .replace("{ttl_days}", "30");
        if let Some(at) = statement.find("ENGINE = Distributed(") {
            // `Distributed(cluster, database, table, ...)`: the local table.
            let args = &statement[at + "ENGINE = Distributed(".len()..];
            let table = args.split(',').nth(2).unwrap().trim().trim_end_matches(')');
            distributed.insert(table.to_owned());
            continue;
        }
        client
            .query(&statement)
            .execute()
            .await
            .unwrap_or_else(|e| panic!("the cluster schema does not apply: {e}\n{statement}"));
    }

    let want = catalogue(&clickhouse, &single).await;
    let got = catalogue(&clickhouse, &cluster).await;
    // The migrations' own bookkeeping table is not part of the schema.
    let want: Vec<Value> = want
        .into_iter()
        .filter(|row| row["table"] != "aires_migrations" && row["name"] != "aires_migrations")
        .collect();
    assert!(want.len() > 50, "the catalogue looks empty: {want:?}");
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(w, g, "the cluster schema differs from the migrations");
    }
    assert_eq!(
        want.len(),
        got.len(),
        "the cluster schema has more or fewer items"
    );

    let tables: BTreeSet<String> = clickhouse
        .rows(&format!(
            "SELECT name FROM system.tables WHERE database = '{single}' AND engine LIKE '%MergeTree'"
        ))
        .await
        .iter()
        .map(|row| row["name"].as_str().unwrap().to_owned())
        .filter(|name| name != "aires_migrations")
        .collect();
    assert_eq!(
        distributed, tables,
        "every table has a Distributed table in front of it"
    );
}
