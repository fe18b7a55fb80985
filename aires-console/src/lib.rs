//! The Aires console and command line: read what Aires stored in
//! ClickHouse.
//!
//! - [`query`]: the query line people type (`service:checkout
//!   level:>=warn -"health check"`), parsed and turned into parameterised
//!   SQL;
//! - [`range`]: time ranges (`15m`, `now-1h`, RFC 3339);
//! - [`store`]: every query the console runs against the `events` table
//!   and its materialized views, each with a time and row limit;
//! - [`api`]: the JSON API the page and the CLI both use;
//! - [`server`]: the HTTP server (page, assets, API, auth);
//! - [`client`]: the API from the command line, in process or over HTTP.

pub mod api;
mod assets;
pub mod cli;
pub mod client;
pub mod query;
pub mod range;
pub mod server;
pub mod store;

pub use assets::first_load_bytes;
