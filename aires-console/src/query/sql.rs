//! Turns a parsed [`Query`] into a `WHERE` condition over the `events`
//! table. The SQL text is assembled only from the fixed fragments below;
//! every value and attribute name goes in a server-side query parameter
//! (`{p0:String}`, sent as `param_p0`), so nothing a user types is ever
//! parsed as SQL.

use serde::Serialize;

use super::{level_rank, Field, Filter, Op, Query, Term, Value, LEVELS};

/// A value for a `{name:Type}` placeholder.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Param {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Strs(Vec<String>),
}

/// A SQL condition and the parameters its placeholders name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sql {
    pub text: String,
    pub params: Vec<(String, Param)>,
}

impl Sql {
    /// Adds a parameter; returns its placeholder.
    pub fn param(&mut self, value: Param) -> String {
        let ty = match &value {
            Param::Str(_) => "String",
            Param::Int(_) => "Int64",
            Param::Float(_) => "Float64",
            Param::Bool(_) => "Bool",
            Param::Strs(_) => "Array(String)",
        };
        let name = format!("p{}", self.params.len());
        let placeholder = format!("{{{name}:{ty}}}");
        self.params.push((name, value));
        placeholder
    }

    /// Appends ` AND condition`.
    pub fn and(&mut self, condition: &str) {
        if self.text.is_empty() {
            self.text.push_str(condition);
        } else {
            self.text.push_str(" AND ");
            self.text.push_str(condition);
        }
    }
}

/// Adds the query's conditions to `sql` (nothing for an empty query).
pub fn push_query(query: &Query, sql: &mut Sql) {
    for term in &query.terms {
        let condition = term_sql(term, sql);
        sql.and(&condition);
    }
}

fn term_sql(term: &Term, sql: &mut Sql) -> String {
    let condition = match &term.filter {
        Filter::Text(text) => text_sql(text, sql),
        Filter::Field { field, op, value } => field_sql(field, *op, value, sql),
    };
    if term.negated {
        format!("NOT ({condition})")
    } else {
        format!("({condition})")
    }
}

/// ClickHouse's token index splits on ASCII characters that are not
/// letters or digits (bytes above 0x7f count as letters).
fn tokens(text: &str) -> Vec<&str> {
    text.split(|c: char| c.is_ascii() && !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .collect()
}

/// A word or phrase in the message: each token through `hasToken` (which
/// the `tokenbf_v1` index serves), then the exact text when it is more
/// than one token.
fn text_sql(text: &str, sql: &mut Sql) -> String {
    let words = tokens(text);
    let mut parts: Vec<String> = words
        .iter()
        .map(|word| {
            format!(
                "hasToken(message, {})",
                sql.param(Param::Str((*word).into()))
            )
        })
        .collect();
    if words.len() != 1 || words[0] != text {
        parts.push(format!(
            "position(message, {}) > 0",
            sql.param(Param::Str(text.into()))
        ));
    }
    parts.join(" AND ")
}

fn comparison(op: Op) -> &'static str {
    match op {
        Op::Eq => "=",
        Op::Lt => "<",
        Op::Le => "<=",
        Op::Gt => ">",
        Op::Ge => ">=",
    }
}

/// A string column: equal, starts with, or non-empty.
fn string_sql(column: &str, value: &Value, sql: &mut Sql) -> String {
    match value {
        Value::Exact(v) => format!("{column} = {}", sql.param(Param::Str(v.clone()))),
        Value::Prefix(v) => format!("startsWith({column}, {})", sql.param(Param::Str(v.clone()))),
        Value::Present => format!("{column} != ''"),
    }
}

/// A number column compared with a number (`scale` converts the typed unit
/// to the column's), or matched by the prefix of its digits.
fn number_sql(column: &str, op: Op, value: &Value, scale: f64, sql: &mut Sql) -> String {
    match value {
        Value::Exact(v) => {
            let number = v.parse::<f64>().unwrap_or(f64::NAN) * scale;
            format!(
                "{column} {} {}",
                comparison(op),
                sql.param(Param::Float(number))
            )
        }
        Value::Prefix(v) => format!(
            "startsWith(toString({column}), {})",
            sql.param(Param::Str(v.clone()))
        ),
        Value::Present => format!("{column} != 0"),
    }
}

fn field_sql(field: &Field, op: Op, value: &Value, sql: &mut Sql) -> String {
    match field {
        Field::Service => string_sql("service", value, sql),
        Field::Environment => string_sql("environment", value, sql),
        Field::TraceId => string_sql("trace_id", &lower(value), sql),
        Field::SpanId => string_sql("span_id", &lower(value), sql),
        Field::SessionId => string_sql("session_id", value, sql),
        Field::HttpMethod => string_sql("http_method", &upper(value), sql),
        Field::HttpRoute => string_sql("http_route", value, sql),
        Field::HttpPath => string_sql("http_path", value, sql),
        Field::HttpHost => string_sql("http_host", value, sql),
        Field::ErrorType => string_sql("error_type", value, sql),
        Field::File => string_sql("file", value, sql),
        Field::Module => string_sql("module", value, sql),
        Field::Function => string_sql("function", value, sql),
        Field::Sdk => string_sql("sdk_name", value, sql),
        Field::ErrorMessage => match value {
            Value::Exact(v) => format!(
                "position(error_message, {}) > 0",
                sql.param(Param::Str(v.clone()))
            ),
            other => string_sql("error_message", other, sql),
        },
        Field::Message => match value {
            Value::Exact(v) => text_sql(v, sql),
            other => string_sql("message", other, sql),
        },
        // As text: listings alias `id` to its text (see `store`).
        Field::Id => match value {
            Value::Exact(v) => format!(
                "toString(id) = {}",
                sql.param(Param::Str(v.to_ascii_lowercase()))
            ),
            Value::Prefix(v) => format!(
                "startsWith(toString(id), {})",
                sql.param(Param::Str(v.to_ascii_lowercase()))
            ),
            Value::Present => "1".into(),
        },
        Field::Level => match value {
            Value::Exact(v) => {
                let rank = level_rank(v).unwrap_or(usize::MAX);
                let levels: Vec<String> = LEVELS
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| match op {
                        Op::Eq => *i == rank,
                        Op::Lt => *i < rank,
                        Op::Le => *i <= rank,
                        Op::Gt => *i > rank,
                        Op::Ge => *i >= rank,
                    })
                    .map(|(_, l)| (*l).to_owned())
                    .collect();
                format!("severity IN {}", sql.param(Param::Strs(levels)))
            }
            other => string_sql("severity", other, sql),
        },
        Field::HttpStatus => number_sql("http_status", op, value, 1.0, sql),
        Field::HttpDuration => number_sql("http_duration_ns", op, value, 1e6, sql),
        Field::Attribute(name) => attribute_sql(name, op, value, sql),
    }
}

/// An attribute, in whichever of the four typed maps holds it.
fn attribute_sql(name: &str, op: Op, value: &Value, sql: &mut Sql) -> String {
    let key = sql.param(Param::Str(name.to_owned()));
    let has = |map: &str| format!("mapContains({map}, {key})");
    match value {
        Value::Present => [
            "attributes_string",
            "attributes_int",
            "attributes_float",
            "attributes_bool",
        ]
        .iter()
        .map(|m| has(m))
        .collect::<Vec<_>>()
        .join(" OR "),
        Value::Prefix(v) => format!(
            "{} AND startsWith(attributes_string[{key}], {})",
            has("attributes_string"),
            sql.param(Param::Str(v.clone()))
        ),
        Value::Exact(v) if op == Op::Eq => {
            let mut parts = vec![format!(
                "{} AND attributes_string[{key}] = {}",
                has("attributes_string"),
                sql.param(Param::Str(v.clone()))
            )];
            if let Ok(int) = v.parse::<i64>() {
                parts.push(format!(
                    "{} AND attributes_int[{key}] = {}",
                    has("attributes_int"),
                    sql.param(Param::Int(int))
                ));
            }
            if let Ok(float) = v.parse::<f64>() {
                parts.push(format!(
                    "{} AND attributes_float[{key}] = {}",
                    has("attributes_float"),
                    sql.param(Param::Float(float))
                ));
            }
            if let Ok(boolean) = v.parse::<bool>() {
                parts.push(format!(
                    "{} AND attributes_bool[{key}] = {}",
                    has("attributes_bool"),
                    sql.param(Param::Bool(boolean))
                ));
            }
            parts.join(" OR ")
        }
        Value::Exact(v) => {
            let number = sql.param(Param::Float(v.parse::<f64>().unwrap_or(f64::NAN)));
            let cmp = comparison(op);
            format!(
                "{} AND attributes_int[{key}] {cmp} {number} OR {} AND attributes_float[{key}] {cmp} {number}",
                has("attributes_int"),
                has("attributes_float"),
            )
        }
    }
}

fn lower(value: &Value) -> Value {
    match value {
        Value::Exact(v) => Value::Exact(v.to_ascii_lowercase()),
        Value::Prefix(v) => Value::Prefix(v.to_ascii_lowercase()),
        Value::Present => Value::Present,
    }
}

fn upper(value: &Value) -> Value {
    match value {
        Value::Exact(v) => Value::Exact(v.to_ascii_uppercase()),
        Value::Prefix(v) => Value::Prefix(v.to_ascii_uppercase()),
        Value::Present => Value::Present,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parse;
    use proptest::prelude::*;

    fn build(line: &str) -> Sql {
        let mut sql = Sql::default();
        push_query(&parse(line).unwrap(), &mut sql);
        sql
    }

    #[test]
    fn a_word_uses_the_token_index_and_a_phrase_adds_the_exact_text() {
        let sql = build("timeout");
        assert_eq!(sql.text, "(hasToken(message, {p0:String}))");
        assert_eq!(
            sql.params,
            vec![("p0".into(), Param::Str("timeout".into()))]
        );
        let sql = build(r#"-"health check""#);
        assert_eq!(
            sql.text,
            "NOT (hasToken(message, {p0:String}) AND hasToken(message, {p1:String}) \
             AND position(message, {p2:String}) > 0)"
        );
        assert_eq!(sql.params[2].1, Param::Str("health check".into()));
    }

    #[test]
    fn levels_become_the_set_of_levels_the_comparison_selects() {
        let sql = build("level:>=warn");
        assert_eq!(sql.text, "(severity IN {p0:Array(String)})");
        assert_eq!(
            sql.params[0].1,
            Param::Strs(vec!["warn".into(), "error".into(), "fatal".into()])
        );
    }

    #[test]
    fn durations_are_typed_in_milliseconds_and_stored_in_nanoseconds() {
        let sql = build("duration:>250");
        assert_eq!(sql.text, "(http_duration_ns > {p0:Float64})");
        assert_eq!(sql.params[0].1, Param::Float(250e6));
    }

    #[test]
    fn an_attribute_matches_whichever_typed_map_holds_it() {
        let sql = build("order_id:123");
        assert!(sql
            .text
            .contains("attributes_string[{p0:String}] = {p1:String}"));
        assert!(sql
            .text
            .contains("attributes_int[{p0:String}] = {p2:Int64}"));
        assert!(sql
            .text
            .contains("attributes_float[{p0:String}] = {p3:Float64}"));
        assert!(!sql.text.contains("attributes_bool["));
        assert_eq!(sql.params[0].1, Param::Str("order_id".into()));
    }

    /// Identifiers and keywords the fragments above may write.
    const VOCABULARY: &[&str] = &[
        "AND",
        "NOT",
        "OR",
        "IN",
        "hasToken",
        "message",
        "position",
        "startsWith",
        "toString",
        "mapContains",
        "attributes_string",
        "attributes_int",
        "attributes_float",
        "attributes_bool",
        "severity",
        "service",
        "environment",
        "trace_id",
        "span_id",
        "session_id",
        "http_method",
        "http_route",
        "http_path",
        "http_host",
        "http_status",
        "http_duration_ns",
        "error_type",
        "error_message",
        "file",
        "module",
        "function",
        "sdk_name",
        "id",
        "0",
        "1",
    ];

    /// Checks that `text` is made of the vocabulary, operators and
    /// well-formed placeholders only.
    fn only_fixed_sql(sql: &Sql) -> Result<(), String> {
        let placeholder =
            regex::Regex::new(r"\{p[0-9]+:(String|Int64|Float64|Bool|Array\(String\))\}").unwrap();
        let stripped = placeholder.replace_all(&sql.text, " ");
        let mut word = String::new();
        for c in stripped.chars().chain([' ']) {
            if c.is_ascii_alphanumeric() || c == '_' {
                word.push(c);
                continue;
            }
            if !word.is_empty() && !VOCABULARY.contains(&word.as_str()) {
                return Err(format!("`{word}` in {:?}", sql.text));
            }
            word.clear();
            if !"()[]<>=!, '".contains(c) {
                return Err(format!("`{c}` in {:?}", sql.text));
            }
        }
        // The only quotes are the empty literal of `!= ''`.
        if stripped.replace("''", "").contains('\'') {
            return Err(format!("a quote in {:?}", sql.text));
        }
        // Each placeholder names a parameter, and each parameter is used.
        let names: std::collections::HashSet<&str> = placeholder
            .find_iter(&sql.text)
            .map(|m| &m.as_str()[1..m.as_str().find(':').unwrap()])
            .collect();
        let params: std::collections::HashSet<&str> =
            sql.params.iter().map(|(n, _)| n.as_str()).collect();
        if names != params {
            return Err(format!("placeholders {names:?} for params {params:?}"));
        }
        Ok(())
    }

    #[test]
    fn the_fixed_sql_check_catches_user_text() {
        let mut sql = build("service:x");
        assert!(only_fixed_sql(&sql).is_ok());
        sql.text.push_str(" OR 1=1; DROP TABLE events");
        assert!(only_fixed_sql(&sql).is_err());
    }

    /// Pieces a hostile or careless user might type.
    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9_./*-]{0,12}",
            Just("'".to_owned()),
            Just("\"".to_owned()),
            Just("\\".to_owned()),
            Just(":".to_owned()),
            Just(">=".to_owned()),
            Just("<".to_owned()),
            Just("-".to_owned()),
            Just(" ".to_owned()),
            Just("*".to_owned()),
            Just("; DROP TABLE events --".to_owned()),
            Just("') OR 1=1 --".to_owned()),
            Just("{p0:String}".to_owned()),
            Just("level".to_owned()),
            Just("status".to_owned()),
            Just("order_id".to_owned()),
            Just("é漢字".to_owned()),
            "\\PC{0,4}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn nothing_typed_reaches_the_sql_text(pieces in prop::collection::vec(piece(), 0..12)) {
            let line = pieces.concat();
            if let Ok(query) = parse(&line) {
                let mut sql = Sql::default();
                push_query(&query, &mut sql);
                prop_assert!(only_fixed_sql(&sql).is_ok(), "{:?}: {:?}", line, only_fixed_sql(&sql));
            }
        }

        #[test]
        fn parsing_never_panics(line in "\\PC{0,200}") {
            let _ = parse(&line);
        }
    }
}
