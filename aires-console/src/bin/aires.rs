//! `aires`: search, tail and trace what Aires stored, or serve the console.

use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = aires_console::cli::Cli::parse();
    std::process::exit(aires_console::cli::run(cli).await);
}
