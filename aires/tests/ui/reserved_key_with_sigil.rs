fn main() {
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    aires::info!("m", trace_id = %trace);
}
