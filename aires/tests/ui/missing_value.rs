fn main() {
    aires::info!("m", order_id = , other = 2);
}
