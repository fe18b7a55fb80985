//! Procedural macros behind `aires::trace!` .. `aires::fatal!`.
//!
//! Use them through the `aires` crate, whose `macro_rules!` wrappers pass
//! their own `$crate` path in, so the expansion works whatever name the
//! application gives the dependency.

// Every public item is documented (checked by clippy with -D warnings).
#![warn(missing_docs)]

mod expand;
mod parse;

use proc_macro::TokenStream;

/// `event!($crate, Level, "message", format args.., key = value..)`:
/// the implementation of the level macros. Not meant to be called directly.
#[proc_macro]
pub fn event(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as parse::EventInput);
    expand::expand(input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
