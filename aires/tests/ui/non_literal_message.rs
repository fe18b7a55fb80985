fn main() {
    let message = "computed";
    aires::info!(message, id = 1);
}
