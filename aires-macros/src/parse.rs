//! Parsing of the macro input: `$crate, Level, "message" [, fmt args] [, key = value]*`.

use proc_macro2::{Span, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, Ident, LitStr, Token};

/// Everything between the parentheses of `aires::info!(...)`, plus the two
/// tokens the facade's `macro_rules!` wrapper puts in front.
pub(crate) struct EventInput {
    /// `$crate` of the facade, so the expansion works under any crate name.
    pub(crate) krate: TokenTree,
    pub(crate) level: Ident,
    pub(crate) message: LitStr,
    pub(crate) format_args: Vec<Expr>,
    pub(crate) fields: Vec<Field>,
}

/// One `key = value` pair.
pub(crate) struct Field {
    pub(crate) key: Key,
    pub(crate) value: FieldValue,
}

/// A field name: `name`, `a.b.c`, or `"any text"`.
pub(crate) struct Key {
    pub(crate) text: String,
    /// Set for a plain identifier key, which a `{name}` placeholder in the
    /// message may refer to, and which may be one of the reserved names.
    pub(crate) ident: Option<Ident>,
    pub(crate) span: Span,
}

pub(crate) enum FieldValue {
    /// `key = expr`: the value's own type decides how it is stored.
    Plain(Expr),
    /// `key = %expr`: stored as its `Display` text.
    Display(Expr),
    /// `key = ?expr`: stored as its `Debug` text.
    Debug(Expr),
}

impl Parse for EventInput {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let krate: TokenTree = input.parse()?;
        input.parse::<Token![,]>()?;
        let level: Ident = input.parse()?;
        input.parse::<Token![,]>()?;
        if input.is_empty() {
            return Err(input.error(
                "expected a message: a string literal, optionally followed by format arguments and `key = value` fields",
            ));
        }
        let message: LitStr = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected a string literal as the message, like `info!(\"order placed\", id = 7)`; \
                 to log a computed string write `info!(\"{}\", text)`",
            )
        })?;
        let mut format_args = Vec::new();
        let mut fields: Vec<Field> = Vec::new();
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            if starts_field(input) {
                fields.push(input.parse()?);
            } else {
                let expr: Expr = input.parse()?;
                if let Some(first) = fields.first() {
                    let mut err = syn::Error::new_spanned(
                        &expr,
                        "format arguments must come before the `key = value` fields",
                    );
                    err.combine(syn::Error::new(first.key.span, "the first field is here"));
                    return Err(err);
                }
                format_args.push(expr);
            }
        }
        Ok(EventInput {
            krate,
            level,
            message,
            format_args,
            fields,
        })
    }
}

/// Whether the input continues with `key =` (and not `key ==`).
fn starts_field(input: ParseStream<'_>) -> bool {
    let fork = input.fork();
    if fork.peek(LitStr) {
        let _ = fork.parse::<LitStr>();
    } else if fork.peek(Ident::peek_any) {
        let _ = fork.call(Ident::parse_any);
        while fork.peek(Token![.]) {
            let _ = fork.parse::<Token![.]>();
            if fork.call(Ident::parse_any).is_err() {
                // `a. = 1` is a broken key: let Key::parse report it.
                return true;
            }
        }
    } else {
        return fork.peek(Token![=]) && !fork.peek(Token![==]);
    }
    fork.peek(Token![=]) && !fork.peek(Token![==]) && !fork.peek(Token![=>])
}

impl Parse for Field {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let key: Key = input.parse()?;
        input.parse::<Token![=]>()?;
        if input.is_empty() || input.peek(Token![,]) {
            return Err(syn::Error::new(
                key.span,
                format!("field `{}` has no value after `=`", key.text),
            ));
        }
        let value = if input.peek(Token![%]) {
            input.parse::<Token![%]>()?;
            FieldValue::Display(input.parse()?)
        } else if input.peek(Token![?]) {
            input.parse::<Token![?]>()?;
            FieldValue::Debug(input.parse()?)
        } else {
            FieldValue::Plain(input.parse()?)
        };
        Ok(Field { key, value })
    }
}

impl Parse for Key {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            if lit.value().is_empty() {
                return Err(syn::Error::new(lit.span(), "a field key cannot be empty"));
            }
            return Ok(Key {
                text: lit.value(),
                ident: None,
                span: lit.span(),
            });
        }
        if !input.peek(Ident::peek_any) {
            return Err(input.error(
                "expected a field key: an identifier, a dotted path like `user.id`, or a string literal",
            ));
        }
        let first = input.call(Ident::parse_any)?;
        let mut text = first.unraw().to_string();
        let mut dotted = false;
        while input.peek(Token![.]) {
            input.parse::<Token![.]>()?;
            let part = input.call(Ident::parse_any).map_err(|e| {
                syn::Error::new(e.span(), "expected an identifier after `.` in a field key")
            })?;
            text.push('.');
            text.push_str(&part.unraw().to_string());
            dotted = true;
        }
        Ok(Key {
            text,
            span: first.span(),
            ident: (!dotted).then_some(first),
        })
    }
}

/// The names of `{name}` and `{name:spec}` placeholders in a format string.
pub(crate) fn placeholder_names(format: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '{' {
            if chars.peek() == Some(&'{') {
                chars.next();
                continue;
            }
            let mut name = String::new();
            for c in chars.by_ref() {
                if c == '}' || c == ':' {
                    break;
                }
                name.push(c);
            }
            let name = name.trim();
            let is_ident = name
                .chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_alphanumeric() || c == '_');
            if is_ident && !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_named_placeholders_only() {
        assert_eq!(
            placeholder_names("order {order_id} for {user:>8} {} {0} {{literal}}"),
            vec!["order_id".to_string(), "user".to_string()]
        );
    }

    #[test]
    fn parses_fields_after_format_arguments() {
        let input: EventInput = syn::parse_str(
            r#"krate, Info, "x {} {}", a, b + 1, user.id = 5, "the key" = %name, dbg = ?v, r#type = 1"#,
        )
        .unwrap();
        assert_eq!(input.format_args.len(), 2);
        let keys: Vec<_> = input.fields.iter().map(|f| f.key.text.as_str()).collect();
        assert_eq!(keys, ["user.id", "the key", "dbg", "type"]);
        assert!(matches!(input.fields[1].value, FieldValue::Display(_)));
        assert!(matches!(input.fields[2].value, FieldValue::Debug(_)));
        assert!(input.fields[0].key.ident.is_none());
    }

    #[test]
    fn comparisons_stay_format_arguments() {
        let input: EventInput = syn::parse_str(r#"k, Info, "{}", a == b"#).unwrap();
        assert_eq!(input.format_args.len(), 1);
        assert!(input.fields.is_empty());
    }

    #[test]
    fn rejects_positional_after_fields() {
        let err = syn::parse_str::<EventInput>(r#"k, Info, "m", a = 1, 2"#)
            .err()
            .unwrap();
        assert!(err.to_string().contains("must come before"), "{err}");
    }
}
