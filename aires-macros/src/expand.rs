//! Code generation: the level check first, then (only when enabled) the
//! static call site, the fields, the message, and the hand-off.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::parse::{placeholder_names, EventInput, FieldValue};

/// Keys with a meaning of their own. A string-literal key with the same
/// text is a plain attribute.
const RESERVED: [&str; 6] = ["trace_id", "span_id", "session_id", "tags", "http", "error"];

pub(crate) fn expand(input: EventInput) -> syn::Result<TokenStream> {
    let EventInput {
        krate,
        level,
        message,
        format_args,
        fields,
    } = input;

    let mut bindings = Vec::new();
    let mut calls = Vec::new();
    let mut pushes = Vec::new();
    let mut seen_reserved: Vec<&str> = Vec::new();
    let mut named_format_args = Vec::new();
    let placeholders = placeholder_names(&message.value());

    for (index, field) in fields.iter().enumerate() {
        let binding = format_ident!("__aires_field_{}", index);
        let span = field.key.span;
        let reserved = field
            .key
            .ident
            .as_ref()
            .and_then(|_| RESERVED.iter().copied().find(|r| *r == field.key.text));
        if let Some(name) = reserved {
            if seen_reserved.contains(&name) {
                return Err(syn::Error::new(span, format!("`{name}` is given twice")));
            }
            seen_reserved.push(name);
            let expr = match &field.value {
                FieldValue::Plain(expr) => expr,
                FieldValue::Display(_) | FieldValue::Debug(_) => {
                    return Err(syn::Error::new(
                        span,
                        format!(
                            "`{name}` takes a value, not a `%` or `?` formatted one; \
                             write `\"{name}\" = ...` for a plain attribute named {name}"
                        ),
                    ))
                }
            };
            let setter = match name {
                "trace_id" => "set_trace_id",
                "span_id" => "set_span_id",
                "session_id" => "set_session_id",
                "tags" => "extend_tags",
                "http" => "set_http",
                _ => "set_error",
            };
            let method = format_ident!("{}", setter, span = span);
            bindings.push(quote!(let #binding = #expr;));
            calls.push(quote!(__aires_builder.#method(#binding);));
            continue;
        }
        let key = &field.key.text;
        if let FieldValue::Plain(syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(lit),
            ..
        })) = &field.value
        {
            // A string literal stays borrowed (no allocation) and is written
            // into the slot as a constant: it has nothing to evaluate early,
            // and a value made before the claim is copied in, not written.
            if let Some(ident) = &field.key.ident {
                if placeholders.contains(&field.key.text) {
                    named_format_args.push(quote!(#ident = #lit));
                }
            }
            pushes.push(quote!(
                __aires_fields.push(#key, #krate::__private::Value::from_static(#lit));
            ));
            continue;
        }
        let value = match &field.value {
            FieldValue::Plain(expr) => quote!(#expr),
            FieldValue::Display(expr) => quote!(::std::string::ToString::to_string(&#expr)),
            FieldValue::Debug(expr) => quote!(::std::format!("{:?}", #expr)),
        };
        // Spanned at the value, so an unsupported type is reported there.
        let value_span = match &field.value {
            FieldValue::Plain(expr) | FieldValue::Display(expr) | FieldValue::Debug(expr) => {
                syn::spanned::Spanned::span(expr)
            }
        };
        let binding = syn::Ident::new(&binding.to_string(), value_span);
        bindings.push(quote!(let #binding = #value;));
        if let Some(ident) = &field.key.ident {
            if placeholders.contains(&field.key.text) {
                named_format_args.push(quote!(#ident = #binding));
            }
        }
        pushes.push(quote!(
            __aires_fields.push(#key, #binding);
        ));
    }

    // The fields after the reserved keys (which set other parts of the
    // event): the order among the fields is kept.
    let fields = if pushes.is_empty() {
        quote!()
    } else {
        quote!(
            let mut __aires_fields = __aires_builder.attribute_writer();
            #(#pushes)*
        )
    };

    let text = message.value();
    let message_expr = if format_args.is_empty() && !text.contains('{') && !text.contains('}') {
        // A plain literal: borrowed, so building the event allocates nothing.
        quote!(#krate::__private::Str::Borrowed(#message))
    } else {
        quote!(#krate::__private::Str::Owned(::std::format!(#message #(, #format_args)* #(, #named_format_args)*)))
    };

    Ok(quote! {{
        const __AIRES_LEVEL: #krate::Level = #krate::Level::#level;
        if #krate::__private::enabled(__AIRES_LEVEL) {
            static __AIRES_CALLSITE: #krate::__private::CallSite =
                #krate::__private::CallSite::new_static(::std::file!(), ::std::line!(), ::std::module_path!());
            // Every field is evaluated here, in order, before the event
            // takes its queue slot; the closure only moves them in, so the
            // event is built where the batch worker reads it. A panic in a
            // value (a `Display` impl, a format argument) is counted as an
            // abandoned event.
            let __aires_unwind = #krate::__private::AbandonOnUnwind::arm();
            #(#bindings)*
            let __aires_message = #message_expr;
            __aires_unwind.disarm();
            #krate::__private::dispatch_with(
                __AIRES_LEVEL,
                __aires_message,
                move |__aires_builder: &mut #krate::__private::EventBuilder| {
                    __aires_builder.set_call_site(&__AIRES_CALLSITE);
                    #(#calls)*
                    #fields
                },
            );
        } else if #krate::__private::STATIC_MAX_LEVEL.allows(__AIRES_LEVEL) {
            #krate::__private::count_filtered();
        }
    }})
}
