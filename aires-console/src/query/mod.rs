//! The query line: what a person types into the console's search box or
//! after `aires search`, parsed into terms that [`sql`] turns into a
//! parameterised `WHERE` clause.
//!
//! # Syntax
//!
//! Terms are separated by spaces and must all match (AND). A term is
//!
//! - a word, `timeout`: the message contains that word (whole token, case
//!   sensitive, served by the message's token index);
//! - a phrase, `"card gateway"`: the message contains the phrase (each of
//!   its words through the index, then the exact text);
//! - a field filter, `field:value`, with an optional comparison on ordered
//!   fields: `level:>=warn`, `http.status:>=500`, `duration:<250`;
//!   `route:/orders*` matches a prefix, `field:*` any non-empty value, and
//!   `field:"two words"` a quoted value;
//! - any of these after `-`, which negates it: `-"health check"`,
//!   `-service:checkout`.
//!
//! Fields (short names and the dotted ones are the same field):
//!
//! | field | column | |
//! |---|---|---|
//! | `service`, `env` (`environment`) | `service`, `environment` | |
//! | `level` (`severity`) | `severity` | ordered: trace < debug < info < warn < error < fatal |
//! | `trace` (`trace_id`), `span` (`span_id`), `session` (`session_id`), `id` | ids | |
//! | `method`, `route`, `path`, `host` (`http.method`, ...) | HTTP columns | |
//! | `status` (`http.status`, `http.status_code`) | `http_status` | ordered |
//! | `duration` (`http.duration_ms`), in milliseconds | `http_duration_ns` | ordered |
//! | `error` (`error.type`), `error.message` | error columns | |
//! | `file`, `module`, `function`, `sdk` | the call site, the SDK | |
//! | `message` (`msg`) | the message, as a word or phrase | |
//! | anything else, `order_id:123` | the event's attributes: the string value, or the integer, float or boolean value when the text is one | ordered for numbers |
//!
//! Nothing typed here ever becomes SQL text: every value (and every
//! attribute name) is a query parameter, and the SQL around it comes from
//! a fixed set of fragments ([`sql`]'s property tests check it).

pub mod sql;

use std::fmt;

/// The longest query line accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 4096;
/// The most terms in one query line.
pub const MAX_TERMS: usize = 32;

/// A parsed query line: every term must match.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    pub terms: Vec<Term>,
}

/// One term, possibly negated.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    pub negated: bool,
    pub filter: Filter,
}

/// What a term matches.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Words or a phrase in the message.
    Text(String),
    /// A field compared with a value.
    Field { field: Field, op: Op, value: Value },
}

/// A field of the query syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Service,
    Environment,
    Level,
    TraceId,
    SpanId,
    SessionId,
    Id,
    HttpMethod,
    HttpRoute,
    HttpPath,
    HttpHost,
    HttpStatus,
    /// In milliseconds.
    HttpDuration,
    ErrorType,
    ErrorMessage,
    File,
    Module,
    Function,
    Sdk,
    Message,
    /// An attribute of the event, by name.
    Attribute(String),
}

impl Field {
    fn from_name(name: &str) -> Field {
        match name {
            "service" => Field::Service,
            "env" | "environment" => Field::Environment,
            "level" | "severity" => Field::Level,
            "trace" | "trace_id" => Field::TraceId,
            "span" | "span_id" => Field::SpanId,
            "session" | "session_id" => Field::SessionId,
            "id" => Field::Id,
            "method" | "http.method" | "http.request.method" => Field::HttpMethod,
            "route" | "http.route" => Field::HttpRoute,
            "path" | "http.path" => Field::HttpPath,
            "host" | "http.host" => Field::HttpHost,
            "status" | "http.status" | "http.status_code" | "http.response.status_code" => {
                Field::HttpStatus
            }
            "duration" | "http.duration_ms" => Field::HttpDuration,
            "error" | "error.type" => Field::ErrorType,
            "error.message" => Field::ErrorMessage,
            "file" => Field::File,
            "module" => Field::Module,
            "function" => Field::Function,
            "sdk" => Field::Sdk,
            "message" | "msg" => Field::Message,
            other => Field::Attribute(other.to_owned()),
        }
    }

    /// Whether `<`, `>` and the like make sense.
    fn is_ordered(&self) -> bool {
        matches!(
            self,
            Field::Level | Field::HttpStatus | Field::HttpDuration | Field::Attribute(_)
        )
    }
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

/// The value of a field filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Exactly this text.
    Exact(String),
    /// Starts with this text (`route:/orders*`).
    Prefix(String),
    /// Any non-empty value (`error:*`).
    Present,
}

/// A query line that cannot be parsed, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    #[error("the query is {0} bytes long; at most {MAX_QUERY_BYTES} are accepted")]
    TooLong(usize),
    #[error("the query has more than {MAX_TERMS} terms")]
    TooManyTerms,
    #[error("a quote opened at byte {0} is never closed")]
    UnclosedQuote(usize),
    #[error("`{0}:` needs a value")]
    MissingValue(String),
    #[error("`:` needs a field name before it (byte {0})")]
    MissingField(usize),
    #[error("`{field}` is not ordered: `{op}` cannot compare it")]
    NotOrdered { field: String, op: String },
    #[error("`{0}` is not a level (trace, debug, info, warn, error, fatal)")]
    UnknownLevel(String),
    #[error("`{field}:{op}` needs a number, not `{value}`")]
    NotANumber {
        field: String,
        op: String,
        value: String,
    },
    #[error("a lone `-` negates nothing")]
    EmptyNegation,
    #[error("`{0}` is a number of milliseconds: compare it (`{0}:>250`), it takes no prefix")]
    NoPrefix(String),
    #[error("the query contains a control character")]
    ControlCharacter,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Eq => "=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        })
    }
}

/// The levels, least severe first, as the `severity` column spells them.
pub const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "fatal"];

/// The position of a level in [`LEVELS`], accepting `warning` and any case.
pub fn level_rank(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let lower = if lower == "warning" { "warn" } else { &lower };
    LEVELS.iter().position(|l| *l == lower)
}

/// Parses a query line. An empty line is the query that matches every event.
pub fn parse(line: &str) -> Result<Query, ParseError> {
    if line.len() > MAX_QUERY_BYTES {
        return Err(ParseError::TooLong(line.len()));
    }
    if line.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return Err(ParseError::ControlCharacter);
    }
    let mut terms = Vec::new();
    let mut lexer = Lexer { line, at: 0 };
    while let Some(term) = lexer.term()? {
        if terms.len() == MAX_TERMS {
            return Err(ParseError::TooManyTerms);
        }
        terms.push(term);
    }
    Ok(Query { terms })
}

struct Lexer<'a> {
    line: &'a str,
    at: usize,
}

impl Lexer<'_> {
    fn rest(&self) -> &str {
        &self.line[self.at..]
    }

    fn skip_spaces(&mut self) {
        let trimmed = self.rest().trim_start();
        self.at = self.line.len() - trimmed.len();
    }

    fn term(&mut self) -> Result<Option<Term>, ParseError> {
        self.skip_spaces();
        if self.rest().is_empty() {
            return Ok(None);
        }
        let negated = self.rest().starts_with('-');
        if negated {
            self.at += 1;
            if self.rest().is_empty() || self.rest().starts_with(char::is_whitespace) {
                return Err(ParseError::EmptyNegation);
            }
        }
        if self.rest().starts_with('"') {
            let phrase = self.quoted()?;
            return Ok(Some(Term {
                negated,
                filter: Filter::Text(phrase),
            }));
        }
        let start = self.at;
        let word = self.bare().to_owned();
        let Some(colon) = word.find(':') else {
            return Ok(Some(Term {
                negated,
                filter: Filter::Text(word),
            }));
        };
        // `field:value`: the value is what follows the colon, bare or quoted.
        let name = &word[..colon];
        if name.is_empty() {
            return Err(ParseError::MissingField(start));
        }
        let field = Field::from_name(&name.to_ascii_lowercase());
        let field = match field {
            // Attribute names keep their case.
            Field::Attribute(_) => Field::Attribute(name.to_owned()),
            known => known,
        };
        self.at = start + colon + 1;
        let (op, raw, quoted) = self.value()?;
        if raw.is_empty() && !quoted {
            return Err(ParseError::MissingValue(name.to_owned()));
        }
        let value = if quoted {
            Value::Exact(raw)
        } else if raw == "*" {
            Value::Present
        } else if let Some(prefix) = raw.strip_suffix('*') {
            Value::Prefix(prefix.to_owned())
        } else {
            Value::Exact(raw)
        };
        check(&field, name, op, &value)?;
        Ok(Some(Term {
            negated,
            filter: Filter::Field { field, op, value },
        }))
    }

    /// A bare word, up to the next space.
    fn bare(&mut self) -> &str {
        let rest = self.rest();
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let start = self.at;
        self.at += end;
        &self.line[start..start + end]
    }

    /// A comparison, then a bare or quoted value.
    fn value(&mut self) -> Result<(Op, String, bool), ParseError> {
        let op = [
            (">=", Op::Ge),
            ("<=", Op::Le),
            (">", Op::Gt),
            ("<", Op::Lt),
            ("=", Op::Eq),
        ]
        .into_iter()
        .find(|(text, _)| self.rest().starts_with(text));
        let op = match op {
            Some((text, op)) => {
                self.at += text.len();
                op
            }
            None => Op::Eq,
        };
        if self.rest().starts_with('"') {
            return Ok((op, self.quoted()?, true));
        }
        Ok((op, self.bare().to_owned(), false))
    }

    /// A quoted string starting here; `\"` and `\\` escape.
    fn quoted(&mut self) -> Result<String, ParseError> {
        let open = self.at;
        let mut out = String::new();
        let mut chars = self.rest().char_indices().skip(1);
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.at = open + i + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, escaped)) => out.push(escaped),
                    None => break,
                },
                c => out.push(c),
            }
        }
        Err(ParseError::UnclosedQuote(open))
    }
}

/// Rejects comparisons a field cannot take.
fn check(field: &Field, name: &str, op: Op, value: &Value) -> Result<(), ParseError> {
    if op != Op::Eq && (!field.is_ordered() || !matches!(value, Value::Exact(_))) {
        return Err(ParseError::NotOrdered {
            field: name.to_owned(),
            op: op.to_string(),
        });
    }
    if let (Field::HttpDuration, Value::Prefix(_)) = (field, value) {
        return Err(ParseError::NoPrefix(name.to_owned()));
    }
    let Value::Exact(text) = value else {
        return Ok(());
    };
    match field {
        Field::Level if level_rank(text).is_none() => Err(ParseError::UnknownLevel(text.clone())),
        Field::HttpStatus | Field::HttpDuration if text.parse::<f64>().is_err() => {
            Err(ParseError::NotANumber {
                field: name.to_owned(),
                op: op.to_string(),
                value: text.clone(),
            })
        }
        Field::Attribute(_) if op != Op::Eq && text.parse::<f64>().is_err() => {
            Err(ParseError::NotANumber {
                field: name.to_owned(),
                op: op.to_string(),
                value: text.clone(),
            })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(negated: bool, field: Field, op: Op, value: Value) -> Term {
        Term {
            negated,
            filter: Filter::Field { field, op, value },
        }
    }

    fn text(negated: bool, text: &str) -> Term {
        Term {
            negated,
            filter: Filter::Text(text.into()),
        }
    }

    #[test]
    fn the_documented_example_parses_term_by_term() {
        let query = parse(
            r#"service:checkout level:>=warn http.status:>=500 route:/pay order_id:123 trace:4bf92f3577b34da6a3ce929d0e0e4736 -"health check" timeout"#,
        )
        .unwrap();
        assert_eq!(
            query.terms,
            vec![
                field(
                    false,
                    Field::Service,
                    Op::Eq,
                    Value::Exact("checkout".into())
                ),
                field(false, Field::Level, Op::Ge, Value::Exact("warn".into())),
                field(false, Field::HttpStatus, Op::Ge, Value::Exact("500".into())),
                field(false, Field::HttpRoute, Op::Eq, Value::Exact("/pay".into())),
                field(
                    false,
                    Field::Attribute("order_id".into()),
                    Op::Eq,
                    Value::Exact("123".into())
                ),
                field(
                    false,
                    Field::TraceId,
                    Op::Eq,
                    Value::Exact("4bf92f3577b34da6a3ce929d0e0e4736".into())
                ),
                text(true, "health check"),
                text(false, "timeout"),
            ]
        );
    }

    #[test]
    fn quoted_values_prefixes_presence_and_escapes() {
        let query =
            parse(r#"error.message:"card \"gateway\"" route:/orders* error:* msg:"a b""#).unwrap();
        assert_eq!(
            query.terms,
            vec![
                field(
                    false,
                    Field::ErrorMessage,
                    Op::Eq,
                    Value::Exact(r#"card "gateway""#.into())
                ),
                field(
                    false,
                    Field::HttpRoute,
                    Op::Eq,
                    Value::Prefix("/orders".into())
                ),
                field(false, Field::ErrorType, Op::Eq, Value::Present),
                field(false, Field::Message, Op::Eq, Value::Exact("a b".into())),
            ]
        );
    }

    #[test]
    fn an_empty_line_matches_everything() {
        assert_eq!(parse("   ").unwrap(), Query::default());
    }

    #[test]
    fn attribute_names_keep_their_case_and_known_fields_ignore_it() {
        let query = parse("Order_ID:7 LEVEL:error").unwrap();
        assert_eq!(
            query.terms[0],
            field(
                false,
                Field::Attribute("Order_ID".into()),
                Op::Eq,
                Value::Exact("7".into())
            )
        );
        assert!(matches!(
            query.terms[1].filter,
            Filter::Field {
                field: Field::Level,
                ..
            }
        ));
    }

    #[test]
    fn mistakes_are_named() {
        for (line, error) in [
            ("\"open", ParseError::UnclosedQuote(0)),
            ("service:", ParseError::MissingValue("service".into())),
            (":x", ParseError::MissingField(0)),
            (
                "service:>a",
                ParseError::NotOrdered {
                    field: "service".into(),
                    op: ">".into(),
                },
            ),
            ("level:>=loud", ParseError::UnknownLevel("loud".into())),
            (
                "status:>=abc",
                ParseError::NotANumber {
                    field: "status".into(),
                    op: ">=".into(),
                    value: "abc".into(),
                },
            ),
            ("a - b", ParseError::EmptyNegation),
            ("duration:25*", ParseError::NoPrefix("duration".into())),
            ("a\u{0}b", ParseError::ControlCharacter),
        ] {
            assert_eq!(parse(line), Err(error), "{line:?}");
        }
        let long = "x".repeat(MAX_QUERY_BYTES + 1);
        assert_eq!(parse(&long), Err(ParseError::TooLong(long.len())));
        let many = "a ".repeat(MAX_TERMS + 1);
        assert_eq!(parse(&many), Err(ParseError::TooManyTerms));
    }

    #[test]
    fn levels_are_ranked_and_warning_is_warn() {
        assert_eq!(level_rank("WARNING"), level_rank("warn"));
        assert!(level_rank("error") > level_rank("info"));
        assert_eq!(level_rank("loud"), None);
    }
}
