fn main() {
    aires::info!("m", user. = 1);
}
