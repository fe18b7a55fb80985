fn main() {
    aires::info!();
}
