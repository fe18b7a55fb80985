fn main() {
    let started = std::time::Instant::now();
    aires::info!("m", started = started);
}
